package gitwrite

import (
	"strings"
	"testing"
)

func TestFieldSet(t *testing.T) {
	const kustomization = `# Shop in prod.
apiVersion: kustomize.config.k8s.io/v1beta1
kind: Kustomization
resources:
  - deployment.yaml # the app
images:
  - name: shop
    newName: registry.example/shop
    newTag: "1.0" # bumped by flagops
  - name: sidecar
    newTag: "9"
`
	const values = `# Helm values.
replicas: 2
image:
  repository: registry.example/shop # where
  tag: "1.0"
`
	tests := []struct {
		name        string
		field       Field
		doc, value  string
		wantChanged bool
		want        []string // substrings of the result, in order
	}{
		{"kustomize tag replaced, comments kept", Field{KustomizeImage: "shop"}, kustomization, "1.10", true,
			[]string{"# Shop in prod.", "- deployment.yaml # the app", "name: shop", "newTag: \"1.10\" # bumped by flagops", "name: sidecar", "newTag: \"9\""}},
		{"kustomize unchanged", Field{KustomizeImage: "shop"}, kustomization, "1.0", false, nil},
		{"kustomize new image appended", Field{KustomizeImage: "api"}, kustomization, "2.0", true,
			[]string{"name: sidecar", "name: api", "newTag: \"2.0\""}},
		{"helm path replaced", Field{ValuesPath: "image.tag"}, values, "1.1", true,
			[]string{"# Helm values.", "replicas: 2", "repository: registry.example/shop # where", "tag: \"1.1\""}},
		{"helm path created", Field{ValuesPath: "canary.image.tag"}, values, "2.0", true,
			[]string{"tag: \"1.0\"", "canary:", "image:", "tag: \"2.0\""}},
		{"empty file", Field{ValuesPath: "image.tag"}, "", "3", true, []string{"image:", "tag: \"3\""}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			out, changed, err := tc.field.Set([]byte(tc.doc), tc.value)
			if err != nil {
				t.Fatal(err)
			}
			if changed != tc.wantChanged {
				t.Fatalf("changed = %v, want %v:\n%s", changed, tc.wantChanged, out)
			}
			s := string(out)
			for _, w := range tc.want {
				i := strings.Index(s, w)
				if i < 0 {
					t.Fatalf("result lacks %q (or has it out of order):\n%s", w, out)
				}
				s = s[i+len(w):]
			}
		})
	}
}

func TestFieldSetErrors(t *testing.T) {
	tests := []struct {
		name  string
		field Field
		doc   string
	}{
		{"not a mapping", Field{ValuesPath: "a"}, "- 1\n- 2\n"},
		{"path through a scalar", Field{ValuesPath: "replicas.x"}, "replicas: 2\n"},
		{"images not a list", Field{KustomizeImage: "shop"}, "images: 3\n"},
		{"bad YAML", Field{ValuesPath: "a"}, "a: [\n"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if _, _, err := tc.field.Set([]byte(tc.doc), "1"); err == nil {
				t.Fatal("no error")
			}
		})
	}
	for _, f := range []Field{{}, {KustomizeImage: "a", ValuesPath: "b"}, {ValuesPath: "a..b"}} {
		if f.Validate() == nil {
			t.Errorf("Validate(%+v) = nil", f)
		}
	}
}
