package render_test

import (
	"slices"
	"strings"
	"testing"

	"github.com/flagops/flagops/internal/render"
)

func TestSecretKeys(t *testing.T) {
	for _, tc := range []struct {
		name, text string
		want       []string
		err        string
	}{
		{"none", "a: {{ .Facts.x }}", nil, ""},
		{"field", "a: {{ .Secrets.db }}\nb: {{ $.Secrets.api }}", []string{"api", "db"}, ""},
		{"function and index", `a: {{ secret "db.pass" }} {{ index .Secrets "x-y" }}`, []string{"db.pass", "x-y"}, ""},
		{"inside blocks", "{{ if .Facts.on }}{{ .Secrets.a }}{{ else }}{{ with .Facts.x }}{{ $.Secrets.b }}{{ end }}{{ end }}", []string{"a", "b"}, ""},
		{"in a pipeline", "{{ .Secrets.a | b64enc | quote }} {{ printf \"%s\" .Secrets.b }}", []string{"a", "b"}, ""},
		{"whole map", "{{ range $k, $v := .Secrets }}{{ $k }}{{ end }}", nil, "t.yaml.tmpl:1:19: .Secrets is used whole"},
		{"computed key", "{{ secret .Facts.name }}", nil, "secret takes a quoted key"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := render.SecretKeys([]render.File{{Path: "t.yaml.tmpl", Template: true, Text: tc.text}, {Path: "x.yaml", Text: "{{ .Secrets.nope }}"}})
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Errorf("error %v, want %q", err, tc.err)
				}
				return
			}
			if err != nil || !slices.Equal(got, tc.want) {
				t.Errorf("got %v, %v; want %v", got, err, tc.want)
			}
		})
	}
}

func TestChoose(t *testing.T) {
	for _, tc := range []struct {
		name     string
		explicit render.Target
		environ  []string
		cfg      render.Config
		want     render.Target
		err      string
	}{
		{"app name", render.Target{}, []string{"ARGOCD_APP_NAME=shop--eu-1"}, render.Config{}, render.Target{"default", "shop", "eu-1"}, ""},
		{"app name with two separators", render.Target{}, []string{"ARGOCD_APP_NAME=a--b--c"}, render.Config{}, render.Target{}, "no deployment to render"},
		{"explicit wins", render.Target{Project: "p", Target: "t"}, []string{"ARGOCD_ENV_FLAGOPS_PROJECT=q", "ARGOCD_APP_NAME=shop--eu-1"}, render.Config{Project: "r"}, render.Target{"default", "p", "t"}, ""},
		{"plugin env over parameters", render.Target{}, []string{"ARGOCD_ENV_FLAGOPS_PROJECT=q", `ARGOCD_APP_PARAMETERS=[{"name":"project","string":"r"},{"name":"target","string":"t"}]`}, render.Config{}, render.Target{"default", "q", "t"}, ""},
		{"parameters over flagops.yaml", render.Target{}, []string{`ARGOCD_APP_PARAMETERS=[{"name":"target","string":"t"}]`}, render.Config{Workspace: "w", Project: "p", Target: "u"}, render.Target{"w", "p", "t"}, ""},
		{"PARAM_ variables without the JSON", render.Target{}, []string{"PARAM_PROJECT=p", "PARAM_TARGET=t"}, render.Config{}, render.Target{"default", "p", "t"}, ""},
		{"flagops.yaml and app name", render.Target{}, []string{"ARGOCD_APP_NAME=x--eu-2"}, render.Config{Project: "p"}, render.Target{"default", "p", "eu-2"}, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			argo, err := render.ParseArgoEnv(tc.environ)
			if err != nil {
				t.Fatal(err)
			}
			got, err := render.Choose(tc.explicit, argo, tc.cfg)
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Errorf("error %v, want %q", err, tc.err)
				}
				return
			}
			if err != nil || got != tc.want {
				t.Errorf("got %+v, %v; want %+v", got, err, tc.want)
			}
		})
	}
}

func TestParseArgoEnv(t *testing.T) {
	a, err := render.ParseArgoEnv([]string{"ARGOCD_ENV_FLAGOPS_TOKEN=x", "ARGOCD_ENV_TEAM=a", "FLAGOPS_TOKEN=y", "HOME=/root",
		`ARGOCD_APP_PARAMETERS=[{"name":"m","map":{"k":"v"}},{"name":"l","array":["1"]}]`})
	if err != nil {
		t.Fatal(err)
	}
	if len(a.Env) != 1 || a.Env["TEAM"] != "a" {
		t.Errorf("env %v: want only TEAM, never a token or other variables", a.Env)
	}
	if m, _ := a.Parameters["m"].(map[string]string); m["k"] != "v" {
		t.Errorf("map parameter %v", a.Parameters["m"])
	}
	if l, _ := a.Parameters["l"].([]string); len(l) != 1 {
		t.Errorf("array parameter %v", a.Parameters["l"])
	}
	if _, err := render.ParseArgoEnv([]string{"ARGOCD_APP_PARAMETERS={"}); err == nil {
		t.Error("a malformed ARGOCD_APP_PARAMETERS was accepted")
	}
}
