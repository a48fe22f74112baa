package argocd

import (
	"encoding/json"
	"errors"
	"fmt"
	"testing"

	"github.com/flagops/flagops/internal/errs"
)

func TestKustomizeImages(t *testing.T) {
	for _, tc := range []struct {
		in, name, tag, set string
	}{
		{"nginx:1.2", "nginx", "1.2", "nginx:9"},
		{"nginx", "nginx", "", "nginx:9"},
		{"registry:5000/app:1.0", "registry:5000/app", "1.0", "registry:5000/app:9"},
		{"registry:5000/app", "registry:5000/app", "", "registry:5000/app:9"},
		{"old=new/app:1.0", "old", "1.0", "old=new/app:9"},
		{"app:1.0@sha256:abc", "app", "1.0", "app:9"},
	} {
		t.Run(tc.in, func(t *testing.T) {
			name, tag := splitImage(tc.in)
			if name != tc.name || tag != tc.tag {
				t.Errorf("splitImage = %q, %q; want %q, %q", name, tag, tc.name, tc.tag)
			}
			if got := withTag(tc.in, "9"); got != tc.set {
				t.Errorf("withTag = %q, want %q", got, tc.set)
			}
		})
	}
}

// TestVersionFieldPatch checks the JSON patches, test operations first,
// that set each kind of field, and the fields refused.
func TestVersionFieldPatch(t *testing.T) {
	single := `{"metadata":{"name":"a","namespace":"team-a"},"spec":{"source":%s}}`
	for _, tc := range []struct {
		name, field, source string
		want                string // the patch, as JSON
		err                 error
	}{
		{"targetRevision", "targetRevision", `{"repoURL":"r","targetRevision":"v1","x-unknown":1}`,
			`[{"op":"test","path":"/spec/source/targetRevision","value":"v1"},{"op":"replace","path":"/spec/source/targetRevision","value":"v2"}]`, nil},
		{"no targetRevision yet", "targetRevision", `{"repoURL":"r"}`,
			`[{"op":"test","path":"/spec/source/targetRevision","value":null},{"op":"add","path":"/spec/source/targetRevision","value":"v2"}]`, nil},
		{"helm parameter", "helm:image.tag", `{"repoURL":"r","helm":{"parameters":[{"name":"replicas","value":"2"},{"name":"image.tag","value":"v1"}]}}`,
			`[{"op":"test","path":"/spec/source/helm/parameters/1/name","value":"image.tag"},{"op":"test","path":"/spec/source/helm/parameters/1/value","value":"v1"},{"op":"replace","path":"/spec/source/helm/parameters/1/value","value":"v2"}]`, nil},
		{"new helm parameter", "helm:image.tag", `{"repoURL":"r","helm":{"parameters":[{"name":"replicas","value":"2"}]}}`,
			`[{"op":"test","path":"/spec/source/helm/parameters/0/name","value":"replicas"},{"op":"add","path":"/spec/source/helm/parameters/-","value":{"name":"image.tag","value":"v2"}}]`, nil},
		{"no helm block yet", "helm:image.tag", `{"repoURL":"r"}`,
			`[{"op":"test","path":"/spec/source/helm","value":null},{"op":"add","path":"/spec/source/helm","value":{"parameters":[{"name":"image.tag","value":"v2"}]}}]`, nil},
		{"kustomize image", "kustomize:shop", `{"repoURL":"r","kustomize":{"images":["shop:v1"]}}`,
			`[{"op":"test","path":"/spec/source/kustomize/images/0","value":"shop:v1"},{"op":"replace","path":"/spec/source/kustomize/images/0","value":"shop:v2"}]`, nil},
		{"plugin parameter", "plugin:version", `{"repoURL":"r","plugin":{"name":"flagops-v1","parameters":[{"name":"version","string":"v1"}]}}`,
			`[{"op":"test","path":"/spec/source/plugin/parameters/0/name","value":"version"},{"op":"test","path":"/spec/source/plugin/parameters/0/string","value":"v1"},{"op":"replace","path":"/spec/source/plugin/parameters/0/string","value":"v2"}]`, nil},
		{"new plugin parameter", "plugin:version", `{"repoURL":"r","plugin":{"name":"flagops-v1"}}`,
			`[{"op":"test","path":"/spec/source/plugin/parameters","value":null},{"op":"add","path":"/spec/source/plugin/parameters","value":[{"name":"version","string":"v2"}]}]`, nil},
		{"helm on a plugin source", "helm:image.tag", `{"repoURL":"r","plugin":{"name":"flagops-v1"}}`, "", errs.FailedPrecondition},
		{"kustomize on a helm source", "kustomize:shop", `{"repoURL":"r","helm":{}}`, "", errs.FailedPrecondition},
		{"plugin on a directory source", "plugin:version", `{"repoURL":"r"}`, "", errs.FailedPrecondition},
		{"array plugin parameter", "plugin:version", `{"repoURL":"r","plugin":{"parameters":[{"name":"version","array":["a"]}]}}`, "", errs.Invalid},
	} {
		t.Run(tc.name, func(t *testing.T) {
			app, err := decodeApp([]byte(fmt.Sprintf(single, tc.source)))
			if err != nil {
				t.Fatal(err)
			}
			f, err := ParseVersionField(tc.field)
			if err != nil {
				t.Fatal(err)
			}
			ops, err := f.Patch(app, "v2")
			if tc.err != nil {
				if !errors.Is(err, tc.err) {
					t.Fatalf("error %v, want %v", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got, _ := json.Marshal(ops); string(got) != tc.want {
				t.Errorf("patch\n%s\nwant\n%s", got, tc.want)
			}
		})
	}
}

// TestVersionFieldSources: in a multi-source Application the field lives
// in the one source that can hold it; an ambiguity is refused unless
// --version-source names the source.
func TestVersionFieldSources(t *testing.T) {
	raw := `{"metadata":{"name":"a"},"spec":{"sources":[
	  {"repoURL":"https://charts.example.com","chart":"shop","targetRevision":"1.0.0","helm":{"parameters":[{"name":"image.tag","value":"v1"}]}},
	  {"repoURL":"https://git.example.com/values.git","targetRevision":"main","ref":"values"},
	  {"repoURL":"https://charts.example.com","chart":"worker","name":"worker","targetRevision":"2.0.0","helm":{"parameters":[{"name":"image.tag","value":"w1"}]}}]}}`
	app, err := decodeApp([]byte(raw))
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name, field, source string
		path                string // the field's path, or "" for an error
	}{
		{"ambiguous helm parameter", "helm:image.tag", "", ""},
		{"chosen by name", "helm:image.tag", "worker", "/spec/sources/2/helm/parameters/0/value"},
		{"chosen by chart", "helm:image.tag", "shop", "/spec/sources/0/helm/parameters/0/value"},
		{"targetRevision of the chart named", "targetRevision", "shop", "/spec/sources/0/targetRevision"},
		{"ambiguous targetRevision", "targetRevision", "", ""},
		{"no such source", "targetRevision", "nope", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f, _ := ParseVersionField(tc.field)
			f.Source = tc.source
			ops, err := f.Patch(app, "v2")
			if tc.path == "" {
				if err == nil {
					t.Fatalf("patch %v, want an error", ops)
				}
				return
			}
			if err != nil || ops[len(ops)-1].Path != tc.path {
				t.Fatalf("patch %v, %v; want one ending at %s", ops, err, tc.path)
			}
		})
	}
}

func TestParseVersionField(t *testing.T) {
	for _, tc := range []struct {
		in string
		ok bool
	}{
		{"targetRevision", true}, {"helm:image.tag", true}, {"kustomize:shop", true}, {"plugin:version", true},
		{"helm", false}, {"plugin", false}, {"targetRevision:x", false}, {"other:x", false},
	} {
		t.Run(tc.in, func(t *testing.T) {
			if _, err := ParseVersionField(tc.in); (err == nil) != tc.ok {
				t.Fatalf("error %v, want ok=%v", err, tc.ok)
			}
		})
	}
}
