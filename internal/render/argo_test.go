package render_test

import (
	"slices"
	"strings"
	"testing"
	"testing/fstest"

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
		// Issue 17.8: outside Argo CD's namespace ARGOCD_APP_NAME is
		// NAMESPACE_NAME (util/argo AppInstanceName); the namespace is not
		// part of the project.
		{"app name of an Application in another namespace", render.Target{}, []string{"ARGOCD_APP_NAME=team-a_shop--eu-1"}, render.Config{}, render.Target{"default", "shop", "eu-1"}, ""},
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

// TestParseArgoEnvBuildVariables: issue 17.8. The build environment Argo CD
// gives a plugin (reposerver/repository/repository.go, newEnv and
// getPluginEnvs) reaches .Argo whole: the Application's name split from
// its namespace, the destination namespace, the project, and the cluster's
// API versions.
func TestParseArgoEnvBuildVariables(t *testing.T) {
	a, err := render.ParseArgoEnv([]string{"ARGOCD_APP_NAME=team-a_shop", "ARGOCD_APP_NAMESPACE=shop-prod",
		"ARGOCD_APP_PROJECT_NAME=payments", "KUBE_VERSION=1.31.0", "KUBE_API_VERSIONS=v1,apps/v1,apps/v1/Deployment"})
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name      string
		got, want any
	}{
		{"app name as given", a.AppName, "team-a_shop"},
		{"application", a.Application, "shop"},
		{"application namespace", a.ApplicationNamespace, "team-a"},
		{"destination namespace", a.AppNamespace, "shop-prod"},
		{"project", a.ProjectName, "payments"},
		{"api versions", strings.Join(a.KubeAPIVersions, " "), "v1 apps/v1 apps/v1/Deployment"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if tc.got != tc.want {
				t.Errorf("%v, want %v", tc.got, tc.want)
			}
		})
	}
	if ctx := a.Context()["argocd"].(map[string]any); ctx["projectName"] != "payments" || ctx["application"] != "shop" {
		t.Errorf("flag context %v: want the project and application", ctx)
	}
}

// TestDiscover: issue 17.8. Argo CD asks plugins before its own Helm and
// Kustomize detection (util/app/discovery, Discover), so discovery must not
// claim a chart or a kustomization for a stray *.tmpl; flagops.yaml opts
// such a directory in.
func TestDiscover(t *testing.T) {
	for _, tc := range []struct {
		name  string
		files fstest.MapFS
		want  string
	}{
		{"templates", fstest.MapFS{"a/app.yaml.tmpl": {}, "plain.yaml": {}}, "a/app.yaml.tmpl"},
		{"flagops.yaml", fstest.MapFS{"flagops.yaml": {}, "x.yaml": {}}, "flagops.yaml"},
		{"nothing", fstest.MapFS{"x.yaml": {}}, ""},
		{"a helm chart with a template", fstest.MapFS{"Chart.yaml": {}, "templates/notes.tmpl": {}}, ""},
		{"a kustomization with a template", fstest.MapFS{"kustomization.yaml": {}, "patch.yaml.tmpl": {}}, ""},
		{"kustomization.yml", fstest.MapFS{"kustomization.yml": {}, "patch.yaml.tmpl": {}}, ""},
		{"Kustomization", fstest.MapFS{"Kustomization": {}, "patch.yaml.tmpl": {}}, ""},
		{"a chart opted in", fstest.MapFS{"Chart.yaml": {}, "flagops.yaml": {}, "values.yaml.tmpl": {}}, "flagops.yaml"},
		{"a chart in a subdirectory does not stop it", fstest.MapFS{"vendor/Chart.yaml": {}, "app.yaml.tmpl": {}}, "app.yaml.tmpl"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := render.Discover(tc.files)
			if err != nil || got != tc.want {
				t.Errorf("Discover = %q, %v; want %q", got, err, tc.want)
			}
		})
	}
}
