// Package manifest reads flagops manifests: multi-document YAML in which every
// document has a kind (Workspace, Environment, Target, EnvironmentSet,
// Project, Facts, Segment, Flag, Release, PromotionPolicy) and describes one
// object in domain terms. It is pure: it
// reads bytes and returns domain values, validated, so that a caller can
// refuse a whole set of files before it changes anything.
//
// A new kind plugs in with one entry in the kinds table: its rank in the
// dependency order, the fields it accepts and a decoder.
package manifest

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"

	"go.yaml.in/yaml/v3"

	"github.com/flagops/flagops/internal/domain"
	"github.com/flagops/flagops/internal/errs"
	"github.com/flagops/flagops/internal/flag"
)

// The document kinds, as written in the kind: field.
const (
	KindWorkspace      = "Workspace"
	KindEnvironment    = "Environment"
	KindEnvironmentSet = "EnvironmentSet"
	KindTarget         = "Target"
	KindProject        = "Project"
	KindFacts          = "Facts"
	// KindRelease and KindPromotionPolicy come after the catalog they
	// refer to; see versions.go.
	KindRelease         = "Release"
	KindPromotionPolicy = "PromotionPolicy"
)

// Facts is the object of a Facts document: values attached to one scope.
// Values are compact JSON.
type Facts struct {
	Scope  domain.Scope               `json:"scope"`
	Values map[string]json.RawMessage `json:"values"`
}

// MarshalJSON writes the scope the way users write it.
func (f Facts) MarshalJSON() ([]byte, error) {
	return json.Marshal(struct {
		Scope  string                     `json:"scope"`
		Values map[string]json.RawMessage `json:"values"`
	}{f.Scope.String(), f.Values})
}

// Document is one parsed document. Object is a domain.Workspace,
// domain.Environment, domain.Target, domain.EnvironmentSet, domain.Project,
// a Facts, a flag.Segment or a flag.Flag, by Kind. Workspace is the workspace the document names, or ""
// when it names none and the caller's default applies. Source and Index
// (from 1) say where the document came from, for messages.
type Document struct {
	Source    string `json:"source"`
	Index     int    `json:"index"`
	Kind      string `json:"kind"`
	Workspace string `json:"workspace,omitempty"`
	Object    any    `json:"object"`
}

// Name returns how the document's object is shown to users:
// "environment/prod", "facts deployment/shop@eu-1".
func (d Document) Name() string {
	switch o := d.Object.(type) {
	case domain.Workspace:
		return "workspace/" + o.Name
	case domain.Environment:
		return "environment/" + o.Name
	case domain.Target:
		return "target/" + o.Name
	case domain.EnvironmentSet:
		return "environmentset/" + o.Name
	case domain.Project:
		return "project/" + o.Name
	case Facts:
		return "facts " + o.Scope.String()
	case flag.Flag:
		return "flag/" + o.Project + "/" + o.Key
	case flag.Segment:
		return "segment/" + o.Project + "/" + o.Key
	case domain.Release:
		return "release/" + o.Project + "@" + o.Version
	case domain.PromotionPolicy:
		return "promotionpolicy/" + o.Project + ":" + o.From + "->" + o.To
	}
	return strings.ToLower(d.Kind)
}

// Where returns "SOURCE: document N (Kind)", the prefix of every error about
// the document.
func (d Document) Where() string {
	return fmt.Sprintf("%s: document %d (%s)", d.Source, d.Index, d.Kind)
}

// kind describes one document kind.
type kind struct {
	// rank orders kinds so that what others refer to is applied first.
	rank int
	// fields are the top-level keys the kind accepts besides kind.
	fields []string
	// readOnly are the keys the server fills in (revision, times, derived
	// lists) that get prints: they are accepted and ignored, so that what
	// get prints applies unchanged.
	readOnly []string
	// decode reads the document; n is its mapping node.
	decode func(n *yaml.Node) (workspace string, obj any, err error)
}

var metaFields = []string{"workspace", "name", "description", "labels"}

var (
	metaReadOnly    = []string{"revision", "createdAt", "updatedAt"}
	projectReadOnly = append(slices.Clone(metaReadOnly), "effectiveEnvironments")
)

// kinds is the registry of document kinds.
var kinds = map[string]kind{
	KindWorkspace: {rank: 0, fields: []string{"name", "description", "labels"}, readOnly: metaReadOnly, decode: decodeWorkspace},
	KindEnvironment: {rank: 1, fields: metaFields, readOnly: metaReadOnly, decode: func(n *yaml.Node) (string, any, error) {
		var e domain.Environment
		ws, err := decodeMeta(n, &e.Meta, nil)
		if err != nil {
			return "", nil, err
		}
		return ws, e, e.Meta.Validate()
	}},
	KindEnvironmentSet: {rank: 2, fields: append(slices.Clone(metaFields), "environments"), readOnly: metaReadOnly, decode: func(n *yaml.Node) (string, any, error) {
		var s domain.EnvironmentSet
		var extra struct {
			Environments []string `yaml:"environments"`
		}
		ws, err := decodeMeta(n, &s.Meta, &extra)
		if err != nil {
			return "", nil, err
		}
		s.Environments = extra.Environments
		s.Normalize()
		return ws, s, s.Validate()
	}},
	KindTarget: {rank: 3, fields: append(slices.Clone(metaFields), "environment"), readOnly: metaReadOnly, decode: func(n *yaml.Node) (string, any, error) {
		var t domain.Target
		var extra struct {
			Environment string `yaml:"environment"`
		}
		ws, err := decodeMeta(n, &t.Meta, &extra)
		if err != nil {
			return "", nil, err
		}
		t.Environment = extra.Environment
		return ws, t, t.Validate()
	}},
	KindProject: {rank: 4, fields: append(slices.Clone(metaFields), "environments", "environmentSets"), readOnly: projectReadOnly, decode: func(n *yaml.Node) (string, any, error) {
		var p domain.Project
		var extra struct {
			Environments    []string `yaml:"environments"`
			EnvironmentSets []string `yaml:"environmentSets"`
		}
		ws, err := decodeMeta(n, &p.Meta, &extra)
		if err != nil {
			return "", nil, err
		}
		p.Environments, p.EnvironmentSets = extra.Environments, extra.EnvironmentSets
		if err := p.Validate(); err != nil {
			return "", nil, err
		}
		p.Normalize()
		return ws, p, nil
	}},
	KindFacts: {rank: 5, fields: []string{"workspace", "scope", "values"}, readOnly: []string{"revision"}, decode: decodeFacts},
	// Segments before flags, since flag rules refer to segments.
	KindSegment: {rank: 6, fields: []string{"workspace", "project", "key", "name", "description", "include", "exclude", "rules"},
		readOnly: []string{"revision"}, decode: decodeSegment},
	KindFlag: {rank: 7, fields: []string{"workspace", "project", "key", "name", "description", "tags", "type", "salt", "variations", "environments"},
		readOnly: []string{"revision"}, decode: decodeFlag},
	KindRelease:         {rank: 8, fields: releaseFields, readOnly: []string{"actor", "revision", "createdAt"}, decode: decodeRelease},
	KindPromotionPolicy: {rank: 9, fields: policyFields, readOnly: []string{"revision", "updatedAt"}, decode: decodePolicy},
}

// Kinds returns the known kinds in dependency order.
func Kinds() []string {
	out := make([]string, 0, len(kinds))
	for k := range kinds {
		out = append(out, k)
	}
	slices.SortFunc(out, func(a, b string) int { return kinds[a].rank - kinds[b].rank })
	return out
}

// Parse reads every document of one source (a file name, or "-" for stdin).
// It returns every document it could read and, joined, the error of every
// document it could not (each a *DocError), so that a user sees all
// mistakes at once. Empty documents (a trailing ---) are skipped. A
// document that is a list (what "get -o json" prints for several objects)
// holds one document per item, numbered on from the list's own number.
func Parse(source string, data []byte) ([]Document, error) {
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var docs []Document
	var problems []error
	add := func(index int, n *yaml.Node) {
		doc, err := parseDocument(source, index, n)
		if err != nil {
			problems = append(problems, err)
		} else if doc.Kind != "" {
			docs = append(docs, doc)
		}
	}
	for index := 1; ; index++ {
		var n yaml.Node
		err := dec.Decode(&n)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			// The YAML stream itself is broken: later documents cannot be found.
			problems = append(problems, &DocError{Source: source, Index: index, Err: fmt.Errorf("%w: %w", errs.Invalid, err)})
			break
		}
		root := &n
		if root.Kind == yaml.DocumentNode && len(root.Content) == 1 {
			root = root.Content[0]
		}
		if root.Kind != yaml.SequenceNode {
			add(index, root)
			continue
		}
		for i, item := range root.Content {
			if i > 0 {
				index++
			}
			add(index, item)
		}
	}
	return docs, errors.Join(problems...)
}

// DocError is what is wrong with one document, and where it is. Its message
// is "SOURCE: document N (Kind): problem" (without the kind when the
// document has none that can be read); Err is the problem, of kind
// errs.Invalid, a *errs.FieldError naming the field when there is one.
type DocError struct {
	Source string
	Index  int
	Kind   string
	Err    error
}

func (e *DocError) Error() string {
	if e.Kind == "" {
		return fmt.Sprintf("%s: document %d: %v", e.Source, e.Index, e.Err)
	}
	return fmt.Sprintf("%s: document %d (%s): %v", e.Source, e.Index, e.Kind, e.Err)
}

func (e *DocError) Unwrap() error { return e.Err }

// invalid marks a problem without a field as invalid input.
type invalid string

func (e invalid) Error() string        { return string(e) }
func (e invalid) Is(target error) bool { return target == errs.Invalid }

func parseDocument(source string, index int, n *yaml.Node) (Document, error) {
	doc := Document{Source: source, Index: index}
	fail := func(err error) (Document, error) {
		return doc, &DocError{Source: source, Index: index, Kind: doc.Kind, Err: err}
	}
	if n.Kind == 0 || (n.Kind == yaml.ScalarNode && n.Tag == "!!null") {
		return doc, nil // an empty document
	}
	if n.Kind != yaml.MappingNode {
		return fail(invalid("must be a mapping with a kind field"))
	}
	kindNode := mappingValue(n, "kind")
	if kindNode == nil || kindNode.Value == "" {
		return fail(invalid("kind is required (known kinds: " + strings.Join(Kinds(), ", ") + ")"))
	}
	k, ok := kinds[kindNode.Value]
	if !ok {
		return fail(invalid(fmt.Sprintf("unknown kind %q (known kinds: %s)", kindNode.Value, strings.Join(Kinds(), ", "))))
	}
	doc.Kind = kindNode.Value
	for i := 0; i+1 < len(n.Content); i += 2 {
		key := n.Content[i].Value
		if key != "kind" && !slices.Contains(k.fields, key) && !slices.Contains(k.readOnly, key) {
			return fail(errs.Field(key, "unknown field (%s accepts %s)", doc.Kind, strings.Join(k.fields, ", ")))
		}
	}
	ws, obj, err := k.decode(n)
	if err != nil {
		return fail(err)
	}
	if ws != "" {
		if err := domain.ValidateName("workspace", ws); err != nil {
			return fail(err)
		}
	}
	doc.Workspace, doc.Object = ws, obj
	return doc, nil
}

// Sort orders documents for applying: by kind in dependency order
// (workspaces, environments, environment sets, targets, projects, facts),
// keeping the given order within a kind.
func Sort(docs []Document) {
	slices.SortStableFunc(docs, func(a, b Document) int { return kinds[a.Kind].rank - kinds[b.Kind].rank })
}

func mappingValue(n *yaml.Node, key string) *yaml.Node {
	for i := 0; i+1 < len(n.Content); i += 2 {
		if n.Content[i].Value == key {
			return n.Content[i+1]
		}
	}
	return nil
}

// yamlMeta is the part of a document every catalog kind shares.
type yamlMeta struct {
	Workspace   string            `yaml:"workspace"`
	Name        string            `yaml:"name"`
	Description string            `yaml:"description"`
	Labels      map[string]string `yaml:"labels"`
}

// decodeMeta decodes the shared fields into m and the kind's own fields into
// extra (when not nil); it returns the document's workspace.
func decodeMeta(n *yaml.Node, m *domain.Meta, extra any) (string, error) {
	var ym yamlMeta
	if err := n.Decode(&ym); err != nil {
		return "", yamlFieldError(err)
	}
	if extra != nil {
		if err := n.Decode(extra); err != nil {
			return "", yamlFieldError(err)
		}
	}
	m.Name, m.Description, m.Labels = ym.Name, ym.Description, ym.Labels
	// The workspace of a catalog object is filled in by the caller, who knows
	// the default; the object itself is validated without it.
	return ym.Workspace, nil
}

func decodeWorkspace(n *yaml.Node) (string, any, error) {
	var w domain.Workspace
	if _, err := decodeMeta(n, &w.Meta, nil); err != nil {
		return "", nil, err
	}
	return "", w, w.Meta.Validate()
}

func decodeFacts(n *yaml.Node) (string, any, error) {
	var y struct {
		Workspace string         `yaml:"workspace"`
		Scope     string         `yaml:"scope"`
		Values    map[string]any `yaml:"values"`
	}
	if err := n.Decode(&y); err != nil {
		return "", nil, yamlFieldError(err)
	}
	if y.Scope == "" {
		return "", nil, errs.Field("scope", "is required: %s", domain.ScopeSyntax)
	}
	sc, err := domain.ParseScope(y.Scope)
	if err != nil {
		return "", nil, err
	}
	if len(y.Values) == 0 {
		return "", nil, errs.Field("values", "at least one value is required")
	}
	f := Facts{Scope: sc, Values: make(map[string]json.RawMessage, len(y.Values))}
	for key, v := range y.Values {
		field := "values." + key
		if err := domain.ValidateFactKey(field, key); err != nil {
			return "", nil, err
		}
		raw, err := json.Marshal(v)
		if err != nil {
			return "", nil, errs.Field(field, "value cannot be written as JSON (maps need string keys): %v", err)
		}
		norm, err := domain.NormalizeFactValue(field, raw)
		if err != nil {
			return "", nil, err
		}
		f.Values[key] = norm
	}
	return y.Workspace, f, nil
}

// yamlFieldError marks a YAML type error (a list where a string belongs) as
// invalid input.
func yamlFieldError(err error) error {
	return fmt.Errorf("%w: %w", errs.Invalid, err)
}
