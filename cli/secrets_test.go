package cli

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestSecretsAndKeys runs the secrets, keys and whoami commands against a
// real server: values go in through stdin or a file and come out only from
// "secrets get"; a created key's token works until it is revoked.
func TestSecretsAndKeys(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end test starts a server")
	}
	url, dataDir := startServer(t)
	env := map[string]string{"FLAGOPS_SERVER": url, "FLAGOPS_DATA_DIR": dataDir}
	run := func(t *testing.T, stdin string, args ...string) string {
		t.Helper()
		code, out, stderr := runCLI(t, env, stdin, args...)
		if code != 0 {
			t.Fatalf("flagops %s: exit %d: %s", strings.Join(args, " "), code, stderr)
		}
		return out
	}
	file := filepath.Join(t.TempDir(), "catalog.yaml")
	if err := os.WriteFile(file, []byte(exampleManifest), 0o644); err != nil {
		t.Fatal(err)
	}
	run(t, "", "apply", "-f", file)

	const dep, value = "deployment/shop@eu-1", "s3cr3t-value"
	out := run(t, value+"\n", "secrets", "put", dep, "dbPassword")
	if !strings.Contains(out, "version 1, hmac-sha256:") || strings.Contains(out, value) {
		t.Fatalf("put: %q", out)
	}
	pem := filepath.Join(t.TempDir(), "key.pem")
	if err := os.WriteFile(pem, []byte("line1\nline2\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	run(t, "", "secrets", "put", "project/shop", "tlsKey", "--from-file", pem)
	if got := run(t, "", "secrets", "get", "project/shop", "tlsKey", "--no-newline"); got != "line1\nline2\n" {
		t.Fatalf("a file's bytes are kept exactly: %q", got)
	}
	if got := run(t, "", "secrets", "get", dep, "dbPassword"); got != value+"\n" {
		t.Fatalf("get: %q", got)
	}
	if code, _, stderr := runCLI(t, env, "other\n", "secrets", "put", dep, "dbPassword", "--cas", "0"); code != 1 || !strings.Contains(stderr, "version 1") {
		t.Fatalf("cas: %d %s", code, stderr)
	}
	if code, _, _ := runCLI(t, env, "", "secrets", "put", dep, "empty"); code != 2 {
		t.Fatalf("an empty value is a usage error, got exit %d", code)
	}
	for _, args := range [][]string{
		{"secrets", "list"}, {"secrets", "list", dep, "-o", "json"}, {"secrets", "versions", dep, "dbPassword"},
		{"secrets", "audit", "-o", "yaml"}, {"history", "--kind", "secret", "-o", "json"},
	} {
		if out := run(t, "", args...); strings.Contains(out, value) {
			t.Fatalf("flagops %s shows the value:\n%s", strings.Join(args, " "), out)
		}
	}
	if out := run(t, "", "secrets", "audit", dep, "dbPassword"); !strings.Contains(out, "key/admin") || strings.Count(out, "\n") != 2 {
		t.Fatalf("audit:\n%s", out)
	}
	run(t, "", "secrets", "delete", dep, "dbPassword")
	if code, _, _ := runCLI(t, env, "", "secrets", "get", dep, "dbPassword"); code != 1 {
		t.Fatal("a deleted secret is readable")
	}
	run(t, "", "secrets", "restore", dep, "dbPassword")
	run(t, "", "secrets", "destroy", dep, "dbPassword", "--version", "1")
	if out := run(t, "", "secrets", "versions", dep, "dbPassword"); !strings.Contains(out, "true") {
		t.Fatalf("versions after destroy:\n%s", out)
	}
	if out := run(t, "", "secrets", "rotate-master-key"); !strings.Contains(out, "retired: [") {
		t.Fatalf("rotate: %s", out)
	}

	token := strings.TrimSpace(run(t, "", "keys", "create", "reader", "--role", "viewer", "--role", "secret-reader@project/shop"))
	if !strings.HasPrefix(token, "fo_") {
		t.Fatalf("create printed %q", token)
	}
	if out := run(t, "", "keys", "list"); strings.Contains(out, token) || !strings.Contains(out, "reader") {
		t.Fatalf("keys list:\n%s", out)
	}
	as := map[string]string{"FLAGOPS_SERVER": url, "FLAGOPS_TOKEN": token}
	if code, out, _ := runCLI(t, as, "", "whoami"); code != 0 || !strings.Contains(out, "key/reader") {
		t.Fatalf("whoami: %d %s", code, out)
	}
	run(t, "region-secret", "secrets", "put", "environment/prod", "apiKey")
	if code, _, stderr := runCLI(t, as, "", "secrets", "get", "environment/prod", "apiKey"); code != 1 || !strings.Contains(stderr, "permission_denied") {
		t.Fatalf("a project/shop reader reads an environment's secret: %d %s", code, stderr)
	}
	if code, out, _ := runCLI(t, as, "", "secrets", "get", "project/shop", "tlsKey"); code != 0 || !strings.Contains(out, "line1") {
		t.Fatalf("reader: %d %s", code, out)
	}
	run(t, "", "keys", "revoke", "reader")
	if code, _, stderr := runCLI(t, as, "", "whoami"); code != 1 || !strings.Contains(stderr, "revoked") {
		t.Fatalf("revoked key: %d %s", code, stderr)
	}
}
