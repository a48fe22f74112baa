package argocd

import (
	"strconv"
	"strings"

	"github.com/flagops/flagops/internal/errs"
)

// VersionField says which field of an Application holds a deployment's
// version. Parse it from "targetRevision", "helm:PARAM",
// "kustomize:IMAGE" or "plugin:PARAM" with ParseVersionField.
type VersionField struct {
	// Kind is "targetRevision", "helm", "kustomize" or "plugin".
	Kind string
	// Name is the Helm parameter, the Kustomize image whose tag (newTag)
	// is the version, or the plugin parameter (a string parameter).
	Name string
	// Source picks, in a multi-source Application, the source that holds
	// the field: the source's name, chart or repoURL. Empty: the one
	// source the field can be in.
	Source string
}

// The kinds of VersionField.
const (
	FieldTargetRevision = "targetRevision"
	FieldHelm           = "helm"
	FieldKustomize      = "kustomize"
	FieldPlugin         = "plugin"
)

// ParseVersionField reads "targetRevision", "helm:PARAM",
// "kustomize:IMAGE" or "plugin:PARAM".
func ParseVersionField(s string) (VersionField, error) {
	kind, name, _ := strings.Cut(s, ":")
	switch {
	case kind == FieldTargetRevision && name == "":
		return VersionField{Kind: kind}, nil
	case (kind == FieldHelm || kind == FieldKustomize || kind == FieldPlugin) && name != "":
		return VersionField{Kind: kind, Name: name}, nil
	}
	return VersionField{}, errs.Field("version-field", "%q: want targetRevision, helm:PARAMETER, kustomize:IMAGE or plugin:PARAMETER", s)
}

func (f VersionField) String() string {
	if f.Kind == FieldTargetRevision {
		return f.Kind
	}
	return f.Kind + ":" + f.Name
}

// Get returns the version the Application's spec holds in f, or "" when
// the field is not set (or not found).
func (f VersionField) Get(app *Application) string {
	obj, err := rawObject(app)
	if err != nil {
		return ""
	}
	i, err := f.locate(obj, app.Key())
	if err != nil {
		return ""
	}
	v, _ := f.value(specSources(obj)[i].obj)
	return v
}

// Deployed returns the version Argo CD reports as synced: f read from
// status.sync.comparedTo, the source the controller last compared, when
// status.sync.status is Synced. Right after a write the controller has not
// compared the new spec yet and still says Synced for the old source, so
// spec alone would claim a version that is not running. It returns "" when
// the Application is not Synced or its comparedTo lacks the field.
func (f VersionField) Deployed(app *Application) string {
	if app.Status.Sync.Status != "Synced" {
		return ""
	}
	obj, err := rawObject(app)
	if err != nil {
		return ""
	}
	i, err := f.locate(obj, app.Key())
	if err != nil {
		return ""
	}
	cmp := comparedSources(obj, len(app.Spec.Sources) > 0)
	if i >= len(cmp) || cmp[i] == nil {
		return ""
	}
	v, _ := f.value(cmp[i])
	return v
}

// Patch returns the JSON patch that sets the Application's field to
// version. Every change is preceded by "test" operations on what it was
// computed from (the old value, the entries of a list it appends to, the
// absence of a block it adds), so that Argo CD refuses the patch
// (errs.Conflict from Client.Patch) when someone changed them since the
// Application was read, instead of overwriting their change.
//
// A Helm or Kustomize field is refused on a source of another type (a
// plugin source, say): Argo CD refuses a source with two types ("multiple
// application sources defined", ApplicationSource.ExplicitType).
func (f VersionField) Patch(app *Application, version string) ([]PatchOp, error) {
	obj, err := rawObject(app)
	if err != nil {
		return nil, err
	}
	i, err := f.locate(obj, app.Key())
	if err != nil {
		return nil, err
	}
	src := specSources(obj)[i]
	if err := f.compatible(src, app.Key()); err != nil {
		return nil, err
	}
	p := src.path
	switch f.Kind {
	case FieldTargetRevision:
		return setScalar(p+"/targetRevision", src.obj["targetRevision"], version), nil
	case FieldHelm:
		return f.patchList(src.obj, p, "helm", "parameters", version,
			func(e any) bool { m, _ := e.(map[string]any); return m["name"] == f.Name },
			func(e any, at string) ([]PatchOp, error) {
				return setScalar(at+"/value", e.(map[string]any)["value"], version), nil
			},
			map[string]any{"name": f.Name, "value": version})
	case FieldKustomize:
		return f.patchList(src.obj, p, "kustomize", "images", version,
			func(e any) bool { s, _ := e.(string); name, _ := splitImage(s); return name == f.Name },
			func(e any, at string) ([]PatchOp, error) {
				s := e.(string)
				return []PatchOp{{Op: "test", Path: at, Value: s}, {Op: "replace", Path: at, Value: withTag(s, version)}}, nil
			},
			f.Name+":"+version)
	case FieldPlugin:
		return f.patchList(src.obj, p, "plugin", "parameters", version,
			func(e any) bool { m, _ := e.(map[string]any); return m["name"] == f.Name },
			func(e any, at string) ([]PatchOp, error) {
				old, ok := e.(map[string]any)["string"].(string)
				if !ok {
					return nil, errs.New(errs.Invalid, "application %s: plugin parameter %q is not a string parameter", app.Key(), f.Name)
				}
				return []PatchOp{{Op: "test", Path: at + "/string", Value: old}, {Op: "replace", Path: at + "/string", Value: version}}, nil
			},
			map[string]any{"name": f.Name, "string": version})
	}
	return nil, errs.New(errs.Invalid, "unknown version field %q", f.Kind)
}

// patchList builds the patch of a list field (block.list) of a source: the
// matching entry is changed in place; without one a new entry is appended,
// after tests that the entries are still those read; a missing list or
// block is added after a test that it is still missing (Argo CD's JSON
// patch library takes a missing member as equal to null).
func (f VersionField) patchList(src map[string]any, p, block, list, version string,
	match func(any) bool, change func(e any, at string) ([]PatchOp, error), entry any) ([]PatchOp, error) {
	b, ok := src[block].(map[string]any)
	if !ok {
		return []PatchOp{{Op: "test", Path: p + "/" + block, Value: nil},
			{Op: "add", Path: p + "/" + block, Value: map[string]any{list: []any{entry}}}}, nil
	}
	entries, ok := b[list].([]any)
	at := p + "/" + block + "/" + list
	if !ok {
		return []PatchOp{{Op: "test", Path: at, Value: nil}, {Op: "add", Path: at, Value: []any{entry}}}, nil
	}
	var ops []PatchOp
	for i, e := range entries {
		ep := at + "/" + strconv.Itoa(i)
		if match(e) {
			// Changed in place: the entry must still be this one.
			var ops []PatchOp
			if m, ok := e.(map[string]any); ok {
				ops = append(ops, PatchOp{Op: "test", Path: ep + "/name", Value: m["name"]})
			}
			more, err := change(e, ep)
			if err != nil {
				return nil, err
			}
			return append(ops, more...), nil
		}
		// The entries before the new one must still be those read.
		if m, ok := e.(map[string]any); ok {
			ops = append(ops, PatchOp{Op: "test", Path: ep + "/name", Value: m["name"]})
		} else {
			ops = append(ops, PatchOp{Op: "test", Path: ep, Value: e})
		}
	}
	return append(ops, PatchOp{Op: "add", Path: at + "/-", Value: entry}), nil
}

// setScalar sets a string field that may be absent. Argo CD marshals
// these with omitempty, so "" reads back as absent: it is tested as null.
func setScalar(path string, old any, v string) []PatchOp {
	if s, ok := old.(string); ok && s != "" {
		return []PatchOp{{Op: "test", Path: path, Value: s}, {Op: "replace", Path: path, Value: v}}
	}
	return []PatchOp{{Op: "test", Path: path, Value: nil}, {Op: "add", Path: path, Value: v}}
}

// value returns f's value in one source, and whether the field is there.
func (f VersionField) value(src map[string]any) (string, bool) {
	switch f.Kind {
	case FieldTargetRevision:
		v, ok := src["targetRevision"].(string)
		return v, ok && v != ""
	case FieldHelm:
		if e, ok := findEntry(src, "helm", "parameters", func(m map[string]any) bool { return m["name"] == f.Name }); ok {
			v, _ := e["value"].(string)
			return v, true
		}
	case FieldPlugin:
		if e, ok := findEntry(src, "plugin", "parameters", func(m map[string]any) bool { return m["name"] == f.Name }); ok {
			v, ok := e["string"].(string)
			return v, ok
		}
	case FieldKustomize:
		k, _ := src["kustomize"].(map[string]any)
		images, _ := k["images"].([]any)
		for _, img := range images {
			s, _ := img.(string)
			if name, tag := splitImage(s); name == f.Name {
				return tag, true
			}
		}
	}
	return "", false
}

func findEntry(src map[string]any, block, list string, match func(map[string]any) bool) (map[string]any, bool) {
	b, _ := src[block].(map[string]any)
	entries, _ := b[list].([]any)
	for _, e := range entries {
		if m, ok := e.(map[string]any); ok && match(m) {
			return m, true
		}
	}
	return nil, false
}

// sourceTypes are the blocks that give a source its type; Argo CD allows
// at most one (ApplicationSource.ExplicitType).
var sourceTypes = []string{"helm", "kustomize", "directory", "plugin"}

// typed reports whether src has the block of kind.
func typed(src map[string]any, kind string) bool {
	v, ok := src[kind]
	return ok && v != nil
}

// compatible refuses a field whose block Argo CD would refuse next to the
// source's own type.
func (f VersionField) compatible(src source, key AppKey) error {
	switch f.Kind {
	case FieldHelm, FieldKustomize:
		for _, t := range sourceTypes {
			if t != f.Kind && typed(src.obj, t) {
				return errs.New(errs.FailedPrecondition, "application %s: %s is a %s source; Argo CD refuses a %s block next to it "+
					"(multiple application sources defined): use --version-field plugin:PARAMETER or targetRevision", key, src.path, t, f.Kind)
			}
		}
	case FieldPlugin:
		if !typed(src.obj, "plugin") {
			return errs.New(errs.FailedPrecondition, "application %s: %s is not a plugin source, so it has no plugin parameters", key, src.path)
		}
	}
	return nil
}

// locate returns the index, among specSources, of the source f is in.
// With one source it is that one. With several (spec.sources), the
// candidates are those f.Source names (by name, chart or repoURL), and
// among them the one source that holds the field, else the one source of
// the field's type (a helm block or a chart for Helm, a kustomize block,
// a plugin block; for targetRevision, any source but a bare ref source).
// Anything else is ambiguous and refused, naming --version-source.
func (f VersionField) locate(obj map[string]any, key AppKey) (int, error) {
	srcs := specSources(obj)
	switch {
	case len(srcs) == 0:
		return 0, errs.New(errs.FailedPrecondition, "application %s has neither spec.source nor spec.sources", key)
	case !multiSource(obj):
		return 0, nil
	}
	var cand []int
	for i, s := range srcs {
		if f.Source == "" || s.obj["name"] == f.Source || s.obj["chart"] == f.Source || s.obj["repoURL"] == f.Source {
			cand = append(cand, i)
		}
	}
	if len(cand) == 0 {
		return 0, errs.Field("version-source", "application %s has no source whose name, chart or repoURL is %q", key, f.Source)
	}
	pick := func(keep func(source) bool) []int {
		var out []int
		for _, i := range cand {
			if keep(srcs[i]) {
				out = append(out, i)
			}
		}
		return out
	}
	var found []int
	if f.Kind == FieldTargetRevision {
		found = pick(func(s source) bool {
			return !typed(s.obj, "ref") || s.obj["path"] != nil || s.obj["chart"] != nil
		})
	} else {
		found = pick(func(s source) bool { _, ok := f.value(s.obj); return ok })
		if len(found) == 0 {
			found = pick(func(s source) bool { return typed(s.obj, f.Kind) || (f.Kind == FieldHelm && s.obj["chart"] != nil) })
		}
	}
	switch len(found) {
	case 1:
		return found[0], nil
	case 0:
		return 0, errs.New(errs.FailedPrecondition, "application %s: none of its %d sources can hold %s", key, len(srcs), f)
	}
	return 0, errs.New(errs.FailedPrecondition, "application %s: %d of its sources can hold %s; choose one with --version-source NAME|CHART|REPO-URL",
		key, len(found), f)
}

func multiSource(obj map[string]any) bool {
	spec, _ := obj["spec"].(map[string]any)
	list, _ := spec["sources"].([]any)
	return len(list) > 0
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
