package manifest

import (
	"bytes"
	"encoding/json"

	"go.yaml.in/yaml/v3"

	"github.com/flagops/flagops/internal/errs"
	"github.com/flagops/flagops/internal/flag"
)

// The flag kinds. Their documents are the internal/flag JSON shape written
// as YAML, plus workspace:
//
//	kind: Flag
//	project: shop
//	key: replicas
//	type: number
//	variations: [{key: free, value: 1}, {key: pro, value: 3}]
//	environments:
//	  prod: {enabled: true, fallthrough: {variation: free}}
const (
	KindSegment = "Segment"
	KindFlag    = "Flag"
)

// decodeSegment reads a Segment document.
func decodeSegment(n *yaml.Node) (string, any, error) {
	var s flag.Segment
	ws, err := decodeJSONShape(n, &s)
	if err != nil {
		return "", nil, err
	}
	if s.Project == "" {
		return "", nil, errs.Field("project", "is required")
	}
	return ws, s, s.Validate()
}

// decodeFlag reads a Flag document, defaults applied (flag.Flag.Default).
func decodeFlag(n *yaml.Node) (string, any, error) {
	var f flag.Flag
	ws, err := decodeJSONShape(n, &f)
	if err != nil {
		return "", nil, err
	}
	if f.Project == "" {
		return "", nil, errs.Field("project", "is required")
	}
	f.Default()
	return ws, f, f.Validate()
}

// decodeJSONShape decodes a document written in an internal/flag type's
// JSON shape: YAML to generic values, then JSON into out, refusing unknown
// fields at any depth. It returns the document's workspace.
func decodeJSONShape(n *yaml.Node, out any) (string, error) {
	var generic map[string]any
	if err := n.Decode(&generic); err != nil {
		return "", yamlFieldError(err)
	}
	ws, _ := generic["workspace"].(string)
	delete(generic, "workspace")
	delete(generic, "kind")
	b, err := json.Marshal(generic)
	if err != nil {
		return "", errs.Field("", "cannot be written as JSON (maps need string keys): %v", err)
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(out); err != nil {
		return "", errs.Field("", "%v", err)
	}
	return ws, nil
}
