package server_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/flagops/flagops/cli"
	"github.com/flagops/flagops/internal/server"
	"github.com/flagops/flagops/internal/server/servertest"
)

// canaryInputPlaces is the part of TestSecretCanary about input errors
// (issue 9.5 and 9.6): render's stderr for templates that fail with the
// secret in hand, and the errors PutSecret answers for bad values. key is
// a secret of deployment shop@eu-1 whose value is the canary; look records
// a place and fails the test if it holds the canary in any form.
func canaryInputPlaces(t *testing.T, s *server.Server, key, canary string, look func(what string, b []byte)) {
	t.Helper()
	env := []string{"FLAGOPS_SERVER=" + s.URL(), "FLAGOPS_TOKEN=" + servertest.AdminToken(s.URL())}
	ref := `(secret "` + key + `")`
	for name, tmpl := range map[string]string{
		"fail":               `{{ fail ` + ref + ` }}`,
		"fail in base64":     `{{ fail (` + ref + ` | b64enc) }}`,
		"fail in hex":        `{{ fail (printf "%x" ` + ref + `) }}`,
		"fail inside text":   `{{ fail (printf "the password %s is weak" ` + ref + `) }}`,
		"a YAML anchor":      "a: *{{ secret \"" + key + "\" }}\n",
		"a YAML parse error": "a: {{ secret \"" + key + "\" }}\n b: c\n",
		"a missing key":      `{{ index .Facts ` + ref + ` }}`,
		"a type error":       `{{ range ` + ref + ` }}{{ end }}`,
		"a function error":   `{{ semverCompare ">1" ` + ref + ` }}`,
	} {
		dir := t.TempDir()
		if err := os.WriteFile(filepath.Join(dir, "app.yaml.tmpl"), []byte(tmpl), 0o600); err != nil {
			t.Fatal(err)
		}
		code, stderr := runCLIStderr(t, env, "render", "--project", "shop", "--target", "eu-1", "--dir", dir)
		if code == 0 || !strings.Contains(stderr, "app.yaml.tmpl") {
			t.Fatalf("render of %s: exit %d: %s", name, code, stderr)
		}
		look("render stderr for "+name, []byte(stderr))
	}

	// PutSecret with values Connect JSON cannot carry (bytes are base64),
	// and with a good value for a bad key or scope.
	for name, body := range map[string]map[string]string{
		"a value that is not base64":   {"scope": "deployment/shop@eu-1", "key": key, "value": canary + "!"},
		"a value with a bad key":       {"scope": "deployment/shop@eu-1", "key": "1 bad", "value": canaryB64(canary)},
		"a value for an unknown scope": {"scope": "deployment/shop@nowhere", "key": key, "value": canaryB64(canary)},
	} {
		raw, _ := json.Marshal(body)
		req, _ := http.NewRequest(http.MethodPost, s.URL()+"/flagops.v1.SecretService/PutSecret", bytes.NewReader(raw))
		req.Header.Set("Content-Type", "application/json")
		resp, err := servertest.HTTP1Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		answer, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode < 400 {
			t.Fatalf("PutSecret with %s: %d %s", name, resp.StatusCode, answer)
		}
		look("PutSecret error for "+name, answer)
	}
}

func canaryB64(s string) string { return base64.StdEncoding.EncodeToString([]byte(s)) }

// runCLIStderr runs the command line in-process with env set and returns
// its exit code and stderr.
func runCLIStderr(t *testing.T, env []string, args ...string) (int, string) {
	t.Helper()
	for _, kv := range env {
		k, v, _ := strings.Cut(kv, "=")
		t.Setenv(k, v)
	}
	var stderr bytes.Buffer
	code := cli.Main(context.Background(), args, strings.NewReader(""), io.Discard, &stderr)
	return code, stderr.String()
}
