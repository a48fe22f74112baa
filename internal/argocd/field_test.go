package argocd

import (
	"encoding/json"
	"testing"
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

func TestVersionField(t *testing.T) {
	raw := []byte(`{"metadata":{"name":"a"},"spec":{"source":{"repoURL":"r","targetRevision":"v1","x-unknown":1}}}`)
	app, err := decodeApp(raw)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		field  string
		before string
		ok     bool
	}{
		{"targetRevision", "v1", true},
		{"helm:image.tag", "", true},
		{"kustomize:shop", "", true},
		{"helm", "", false},
		{"other:x", "", false},
	} {
		t.Run(tc.field, func(t *testing.T) {
			f, err := ParseVersionField(tc.field)
			if (err == nil) != tc.ok {
				t.Fatalf("parse error %v, want ok=%v", err, tc.ok)
			}
			if !tc.ok {
				return
			}
			if got := f.Get(app); got != tc.before {
				t.Errorf("before: %q, want %q", got, tc.before)
			}
			next, err := f.Set(app, "v2")
			if err != nil {
				t.Fatal(err)
			}
			if got := f.Get(next); got != "v2" {
				t.Errorf("after: %q, want v2", got)
			}
			var m map[string]any
			_ = json.Unmarshal(next.Raw, &m)
			if m["spec"].(map[string]any)["source"].(map[string]any)["x-unknown"] != 1.0 {
				t.Error("an unknown field was lost")
			}
		})
	}
}
