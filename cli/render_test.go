package cli

import (
	"bytes"
	"context"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// runRender runs the command line with environ as its whole environment,
// as the Argo CD sidecar runs it.
func runRender(t *testing.T, environ []string, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	env := map[string]string{}
	for _, kv := range environ {
		k, v, _ := strings.Cut(kv, "=")
		env[k] = v
	}
	var out, errOut bytes.Buffer
	a := &app{stdin: strings.NewReader(""), stdout: &out, stderr: &errOut,
		lookupEnv: func(k string) (string, bool) { v, ok := env[k]; return v, ok },
		environ:   func() []string { return environ }, now: time.Now}
	code = a.run(context.Background(), args)
	return code, out.String(), errOut.String()
}

func writeFiles(t *testing.T, files map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	for name, text := range files {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// TestRender runs flagops render as Argo CD's plugin would, against a real
// server: the output only when everything rendered, else a clear error on
// stderr and exit 1, and never the token.
func TestRender(t *testing.T) {
	url, dataDir := startServer(t)
	setup := []string{"FLAGOPS_SERVER=" + url, "FLAGOPS_DATA_DIR=" + dataDir}
	for _, args := range [][]string{
		{"apply", "-f", "-"},
	} {
		code, _, stderr := runCLIWithStdin(t, setup, "kind: Environment\nname: prod\n---\nkind: Target\nname: eu-1\nenvironment: prod\n---\nkind: Project\nname: shop\nenvironments: [prod]\n---\nkind: Facts\nscope: deployment/shop@eu-1\nvalues: {tier: enterprise}\n", args...)
		if code != 0 {
			t.Fatalf("setup: %s", stderr)
		}
	}
	// The sidecar's key is an agent key, made as an operator would.
	code, out, stderr := runCLIWithStdin(t, setup, "", "keys", "create", "argocd-plugin", "--role", "agent")
	if code != 0 {
		t.Fatalf("create key: %s", stderr)
	}
	token := strings.TrimSpace(out)
	good := writeFiles(t, map[string]string{
		"app.yaml.tmpl": "kind: Deployment\nspec:\n  replicas: {{ get (dict \"free\" 1 \"pro\" 3 \"enterprise\" 5) .Facts.tier }}\n",
		"flagops.yaml":  "project: shop\n",
	})
	bad := writeFiles(t, map[string]string{
		"a.yaml.tmpl": "kind: ConfigMap\n",
		"b.yaml.tmpl": "data:\n  x: {{ .Facts.nope }}\n",
	})
	argoEnv := []string{"ARGOCD_APP_NAME=shop--eu-1", "ARGOCD_APP_NAMESPACE=argocd", "FLAGOPS_TOKEN=" + token}
	for _, tc := range []struct {
		name    string
		environ []string
		args    []string
		code    int
		stdout  string
		stderr  string
	}{
		{"by hand", setup, []string{"render", "--project", "shop", "--target", "eu-1", "--dir", good}, 0,
			"---\n# Source: app.yaml.tmpl\nkind: Deployment\nspec:\n  replicas: 5\n", ""},
		{"in argo cd", append([]string{"FLAGOPS_SERVER=" + url}, argoEnv...), []string{"render", "--dir", good}, 0,
			"---\n# Source: app.yaml.tmpl\nkind: Deployment\nspec:\n  replicas: 5\n", ""},
		{"target from parameters", []string{"FLAGOPS_SERVER=" + url, "FLAGOPS_TOKEN=" + token, `ARGOCD_APP_PARAMETERS=[{"name":"target","string":"eu-1"}]`}, []string{"render", "--dir", good}, 0,
			"---\n# Source: app.yaml.tmpl\nkind: Deployment\nspec:\n  replicas: 5\n", ""},
		{"unknown fact", append([]string{"FLAGOPS_SERVER=" + url}, argoEnv...), []string{"render", "--dir", bad}, 1,
			"", `b.yaml.tmpl:2:14: unknown fact "nope"`},
		{"missing deployment", append([]string{"FLAGOPS_SERVER=" + url}, argoEnv...), []string{"render", "--dir", good, "--target", "us-9"}, 1,
			"", `deployment "shop@us-9"`},
		{"no deployment named", []string{"FLAGOPS_SERVER=" + url, "ARGOCD_APP_NAME=shop"}, []string{"render", "--dir", bad}, 1,
			"", "no deployment to render"},
		{"discover", nil, []string{"render", "--discover", "--dir", bad}, 0, "a.yaml.tmpl\n", ""},
		{"discover nothing", nil, []string{"render", "--discover", "--dir", t.TempDir()}, 0, "", ""},
		{"server unreachable", append([]string{"FLAGOPS_SERVER=http://127.0.0.1:1"}, argoEnv...), []string{"render", "--dir", good}, 1,
			"", "server unreachable"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, stdout, stderr := runRender(t, tc.environ, tc.args...)
			if code != tc.code || stdout != tc.stdout || !strings.Contains(stderr, tc.stderr) {
				t.Errorf("exit %d, stdout %q, stderr %q; want %d, %q, stderr containing %q", code, stdout, stderr, tc.code, tc.stdout, tc.stderr)
			}
			if strings.Contains(stderr+stdout, token) {
				t.Error("the token was printed")
			}
		})
	}
}

// TestRenderServerOnlyFromSidecar: issue 17.4. Whoever can edit an
// Application sets its plugin env, which reaches the plugin as
// ARGOCD_ENV_* (Argo CD's cmp-server appends it to the sidecar's own
// environment: cmpserver/plugin/plugin.go, GenerateManifest). An
// Application's FLAGOPS_SERVER must never receive the sidecar's token,
// whether or not the sidecar sets its own server.
func TestRenderServerOnlyFromSidecar(t *testing.T) {
	url, dataDir := startServer(t)
	setup := []string{"FLAGOPS_SERVER=" + url, "FLAGOPS_DATA_DIR=" + dataDir}
	if code, _, stderr := runCLIWithStdin(t, setup, "kind: Environment\nname: prod\n---\nkind: Target\nname: eu-1\nenvironment: prod\n---\nkind: Project\nname: shop\nenvironments: [prod]\n", "apply", "-f", "-"); code != 0 {
		t.Fatalf("setup: %s", stderr)
	}
	code, out, stderr := runCLIWithStdin(t, setup, "", "keys", "create", "argocd-plugin", "--role", "agent")
	if code != 0 {
		t.Fatalf("create key: %s", stderr)
	}
	token := strings.TrimSpace(out)
	var mu sync.Mutex
	var stolen []string
	evil := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		stolen = append(stolen, r.Header.Get("Authorization"))
		mu.Unlock()
		http.Error(w, "no", http.StatusTeapot)
	}))
	defer evil.Close()
	dir := writeFiles(t, map[string]string{"app.yaml.tmpl": "kind: ConfigMap\ndata:\n  p: {{ .Facts.project }}\n"})
	appEnv := []string{"ARGOCD_APP_NAME=shop--eu-1", "ARGOCD_ENV_FLAGOPS_SERVER=" + evil.URL, "FLAGOPS_TOKEN=" + token}
	for _, tc := range []struct {
		name    string
		environ []string
		wantOut bool
	}{
		{"the sidecar sets its server", append([]string{"FLAGOPS_SERVER=" + url}, appEnv...), true},
		// The sidecar's default server (127.0.0.1:8080) may or may not
		// answer here; only where the token went matters.
		{"the sidecar sets no server", appEnv, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, stdout, stderr := runRender(t, tc.environ, "render", "--dir", dir)
			if tc.wantOut && (code != 0 || !strings.Contains(stdout, "p: shop")) {
				t.Errorf("exit %d, stdout %q, stderr %q; want the manifests from the sidecar's server", code, stdout, stderr)
			}
			mu.Lock()
			defer mu.Unlock()
			if len(stolen) != 0 {
				t.Fatalf("the Application's FLAGOPS_SERVER got %d requests, %d of them with a token", len(stolen), nonEmpty(stolen))
			}
		})
	}
}

func nonEmpty(ss []string) (n int) {
	for _, s := range ss {
		if s != "" {
			n++
		}
	}
	return n
}

func runCLIWithStdin(t *testing.T, environ []string, stdin string, args ...string) (int, string, string) {
	t.Helper()
	env := map[string]string{}
	for _, kv := range environ {
		k, v, _ := strings.Cut(kv, "=")
		env[k] = v
	}
	return runCLI(t, env, stdin, args...)
}

// TestAgentUsage: the agent refuses to start without what it needs.
func TestAgentUsage(t *testing.T) {
	for _, tc := range []struct {
		name string
		args []string
		want string
	}{
		{"no target", []string{"agent", "argocd", "--argocd-server", "http://127.0.0.1:1"}, "--target is required"},
		{"no argo cd", []string{"agent", "argocd", "--target", "eu-1"}, "--argocd-server is required"},
		{"bad version field", []string{"agent", "argocd", "--target", "eu-1", "--argocd-server", "http://x", "--version-field", "image"}, "want targetRevision"},
		{"version source without field", []string{"agent", "argocd", "--target", "eu-1", "--argocd-server", "http://x", "--version-source", "shop"}, "--version-source needs --version-field"},
		{"apps file entry without a project", []string{"agent", "argocd", "--target", "eu-1", "--argocd-server", "http://x", "--apps-file", writeFiles(t, map[string]string{"a.yaml": "applications:\n  team-a/: shop\n"}) + "/a.yaml"}, "applications.team-a/"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, _, stderr := runRender(t, nil, tc.args...)
			if code != 2 || !strings.Contains(stderr, tc.want) {
				t.Errorf("exit %d, stderr %q; want 2 and %q", code, stderr, tc.want)
			}
		})
	}
}
