package argocd

import (
	"encoding/json"
	"fmt"
	"strings"

	"github.com/flagops/flagops/internal/errs"
)

// VersionField says which field of an Application holds a deployment's
// version. Parse it from "targetRevision", "helm:PARAM" or
// "kustomize:IMAGE" with ParseVersionField.
type VersionField struct {
	// Kind is "targetRevision", "helm" or "kustomize".
	Kind string
	// Name is the Helm parameter name, or the Kustomize image name whose
	// tag (newTag) is the version.
	Name string
}

// The kinds of VersionField.
const (
	FieldTargetRevision = "targetRevision"
	FieldHelm           = "helm"
	FieldKustomize      = "kustomize"
)

// ParseVersionField reads "targetRevision", "helm:PARAM" or
// "kustomize:IMAGE".
func ParseVersionField(s string) (VersionField, error) {
	kind, name, _ := strings.Cut(s, ":")
	switch {
	case kind == FieldTargetRevision && name == "":
		return VersionField{Kind: kind}, nil
	case (kind == FieldHelm || kind == FieldKustomize) && name != "":
		return VersionField{Kind: kind, Name: name}, nil
	}
	return VersionField{}, errs.Field("version-field", "%q: want targetRevision, helm:PARAMETER or kustomize:IMAGE", s)
}

func (f VersionField) String() string {
	if f.Kind == FieldTargetRevision {
		return f.Kind
	}
	return f.Kind + ":" + f.Name
}

// Get returns the version the Application's spec.source holds in f, or ""
// when the field is not set.
func (f VersionField) Get(app *Application) string {
	src := app.Spec.Source
	if src == nil {
		return ""
	}
	switch f.Kind {
	case FieldTargetRevision:
		return src.TargetRevision
	case FieldHelm:
		if src.Helm != nil {
			for _, p := range src.Helm.Parameters {
				if p.Name == f.Name {
					return p.Value
				}
			}
		}
	case FieldKustomize:
		if src.Kustomize != nil {
			for _, img := range src.Kustomize.Images {
				if name, tag := splitImage(img); name == f.Name {
					return tag
				}
			}
		}
	}
	return ""
}

// Set returns a copy of app whose spec.source holds version in f. It edits
// the Raw JSON, so that every other field, known here or not, is written
// back as it was read.
func (f VersionField) Set(app *Application, version string) (*Application, error) {
	var obj map[string]any
	if err := json.Unmarshal(app.Raw, &obj); err != nil {
		return nil, fmt.Errorf("decode application %s: %w", app.Metadata.Name, err)
	}
	spec, _ := obj["spec"].(map[string]any)
	src, _ := spec["source"].(map[string]any)
	if src == nil {
		// Multi-source Applications (spec.sources) have no single field.
		return nil, errs.New(errs.FailedPrecondition, "application %s has no spec.source to set %s in", app.Metadata.Name, f)
	}
	switch f.Kind {
	case FieldTargetRevision:
		src["targetRevision"] = version
	case FieldHelm:
		helm := child(src, "helm")
		params, _ := helm["parameters"].([]any)
		found := false
		for _, p := range params {
			if pm, ok := p.(map[string]any); ok && pm["name"] == f.Name {
				pm["value"], found = version, true
			}
		}
		if !found {
			params = append(params, map[string]any{"name": f.Name, "value": version})
		}
		helm["parameters"] = params
	case FieldKustomize:
		k := child(src, "kustomize")
		images, _ := k["images"].([]any)
		found := false
		for i, img := range images {
			s, _ := img.(string)
			if name, _ := splitImage(s); name == f.Name {
				images[i], found = withTag(s, version), true
			}
		}
		if !found {
			images = append(images, f.Name+":"+version)
		}
		k["images"] = images
	default:
		return nil, errs.New(errs.Invalid, "unknown version field %q", f.Kind)
	}
	raw, err := json.Marshal(obj)
	if err != nil {
		return nil, fmt.Errorf("encode application %s: %w", app.Metadata.Name, err)
	}
	return decodeApp(raw)
}

func child(m map[string]any, key string) map[string]any {
	c, ok := m[key].(map[string]any)
	if !ok {
		c = map[string]any{}
		m[key] = c
	}
	return c
}

// splitImage reads an Argo CD Kustomize image override,
// "[OLD=]NAME[:TAG][@DIGEST]", and returns the image it applies to (OLD
// when given, else NAME) and its tag. A registry port ("host:5000/app") is
// not a tag: the tag is after the last ':' that follows the last '/'.
func splitImage(s string) (name, tag string) {
	old, repl, hasOld := strings.Cut(s, "=")
	if !hasOld {
		repl = s
	}
	repl, _, _ = strings.Cut(repl, "@")
	base := repl
	if i := strings.LastIndex(repl, ":"); i > strings.LastIndex(repl, "/") {
		base, tag = repl[:i], repl[i+1:]
	}
	if hasOld {
		return old, tag
	}
	return base, tag
}

// withTag returns the override s with its tag set to tag (and any digest
// dropped, as a digest would pin another version).
func withTag(s, tag string) string {
	prefix, repl := "", s
	if old, r, ok := strings.Cut(s, "="); ok {
		prefix, repl = old+"=", r
	}
	repl, _, _ = strings.Cut(repl, "@")
	if i := strings.LastIndex(repl, ":"); i > strings.LastIndex(repl, "/") {
		repl = repl[:i]
	}
	return prefix + repl + ":" + tag
}
