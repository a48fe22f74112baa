package render_test

import (
	"slices"
	"strings"
	"testing"

	"github.com/flagops/flagops/internal/render"
)

// FuzzParseTemplates parses any template text the way the plugin does
// before it fetches a bundle (templates come from users' git repositories):
// Parse and SecretKeys must not panic, and SecretKeys reports each key
// once, in order. Execution is not
// fuzzed here: a template may loop or allocate without bound by design of
// text/template and sprig, which render's own limits handle.
func FuzzParseTemplates(f *testing.F) {
	for _, s := range []string{
		"replicas: {{ .Facts.replicas }}\n",
		"password: {{ .Secrets.db }}\n",
		`token: {{ secret "api.key" | b64enc }}`,
		`{{ index .Secrets "a" }}{{ range .Secrets }}{{ . }}{{ end }}`,
		`{{ define "x" }}{{ .Secrets.y }}{{ end }}{{ template "x" . }}`,
		`{{ with $s := .Secrets }}{{ $s.k }}{{ end }}`,
		`{{ if flag "beta" }}on: true{{ else }}on: false{{ end }}`,
		`{{ .Facts.a | toYaml | indent 2 }}`, "{{", "{{ end }}", `{{ secret }}`, `{{ secret 1 }}`,
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, text string) {
		files := []render.File{{Path: "t.yaml.tmpl", Template: true, Text: text}}
		if _, err := render.Parse(files, &render.Data{}); err != nil {
			return
		}
		keys, err := render.SecretKeys(files)
		if err != nil {
			return
		}
		if !slices.IsSorted(keys) || len(slices.Compact(slices.Clone(keys))) != len(keys) {
			t.Fatalf("SecretKeys(%q) = %q: not sorted and unique", text, keys)
		}
		if len(keys) > 0 && !strings.Contains(text, "ecret") {
			t.Fatalf("SecretKeys(%q) = %q from a text that names no secret", text, keys)
		}
	})
}
