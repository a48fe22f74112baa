package adversarial_test

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"connectrpc.com/connect"

	flagopsv1 "github.com/flagops/flagops/gen/flagops/v1"
	"github.com/flagops/flagops/internal/server"
	"github.com/flagops/flagops/internal/server/servertest"
)

// inputSecretPieces returns every 8-byte piece of the canary's plain,
// upper- and lower-case, hex and base64 forms: none may appear where the
// secret must not.
func inputSecretPieces(canary string) []string {
	var forms []string
	for _, f := range []string{canary, strings.ToUpper(canary), strings.ToLower(canary), hex.EncodeToString([]byte(canary))} {
		forms = append(forms, f)
	}
	for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.URLEncoding, base64.RawStdEncoding} {
		forms = append(forms, enc.EncodeToString([]byte(canary)))
	}
	var pieces []string
	for _, f := range forms {
		for i := 0; i+8 <= len(f); i++ {
			pieces = append(pieces, f[i:i+8])
		}
	}
	return pieces
}

// inputRenderDir writes one template into a fresh source directory.
func inputRenderDir(t *testing.T, tmpl string) string {
	t.Helper()
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "app.yaml.tmpl"), []byte(tmpl), 0o600); err != nil {
		t.Fatal(err)
	}
	return dir
}

// TestInputRenderErrorsHoldNoSecret keeps issue 9.5 fixed: failing
// templates that pass a secret to fail (as is, in base64, hex or upper
// case, inside a longer message), to YAML (an anchor, a parse error near
// it), to index as a key, to range, or to functions that quote their
// arguments make render fail with FILE:LINE:COL and the action on stderr,
// and stderr holds neither the secret nor an encoding of it nor any 8-byte
// piece of those. Argo CD shows a plugin's stderr in its UI.
func TestInputRenderErrorsHoldNoSecret(t *testing.T) {
	servertest.Backends(t, func(t *testing.T, cfg server.Config) {
		ctx := context.Background()
		s := servertest.Start(t, cfg)
		c := servertest.NewClients(servertest.HTTP1Client(), s.URL())
		inputEstate(t, c)
		canary := "Canary-" + rand.Text() + "-sEcReT"
		if _, err := c.Secrets.PutSecret(ctx, connect.NewRequest(&flagopsv1.PutSecretRequest{Scope: "deployment/shop@eu-1", Key: "db", Value: []byte(canary)})); err != nil {
			t.Fatal(err)
		}
		env := []string{"FLAGOPS_SERVER=" + s.URL(), "FLAGOPS_TOKEN=" + servertest.AdminToken(s.URL())}
		pieces := inputSecretPieces(canary)

		if code, out, errOut := inputCLI(t, env, "render", "--project", "shop", "--target", "eu-1", "--dir",
			inputRenderDir(t, "password: {{ secret \"db\" }}\n")); code != 0 || !strings.Contains(out, canary) {
			t.Fatalf("the authorised render: exit %d %s", code, errOut)
		}
		for _, tc := range []struct{ name, tmpl, want string }{
			{"fail with the secret", `{{ fail (secret "db") }}`, "app.yaml.tmpl:1:"},
			{"fail with the secret in base64", `{{ fail (secret "db" | b64enc) }}`, "app.yaml.tmpl:1:"},
			{"fail with the secret in hex", `{{ fail (printf "%x" (secret "db")) }}`, "app.yaml.tmpl:1:"},
			{"fail with the secret upper-cased", `{{ fail (secret "db" | upper) }}`, "app.yaml.tmpl:1:"},
			{"fail with most of the secret", `{{ fail (printf "weak: %s" (secret "db" | trunc 20)) }}`, "app.yaml.tmpl:1:"},
			{"required with the secret", `{{ required (secret "db") "" }}`, "app.yaml.tmpl:1:"},
			{"YAML anchor of the secret", "a: *{{ secret \"db\" }}\n", "not YAML"},
			{"YAML parse error around the secret", "a: {{ secret \"db\" }}\n b: c\n", "not YAML"},
			{"YAML alias of a secret", "a: &x 1\nb: *{{ secret \"db\" | b64enc }}\n", "not YAML"},
			{"missing key from the secret", `{{ index .Facts (secret "db") }}`, "app.yaml.tmpl:1:"},
			{"missing fact named by the secret", `{{ fact (secret "db") }}`, "app.yaml.tmpl:1:"},
			{"range over the secret", `{{ range (secret "db") }}{{ end }}`, "app.yaml.tmpl:1:"},
			{"type error on the secret", `{{ (secret "db").Field }}`, "app.yaml.tmpl:1:"},
			{"semver of the secret", `{{ semverCompare ">1.0" (secret "db") }}`, "app.yaml.tmpl:1:"},
			{"regex of the secret", `{{ mustRegexMatch (printf "(%s" (secret "db")) "x" }}`, "app.yaml.tmpl:1:"},
			{"JSON of the secret", `{{ mustFromJson (secret "db") }}`, "app.yaml.tmpl:1:"},
		} {
			t.Run(tc.name, func(t *testing.T) {
				code, out, errOut := inputCLI(t, env, "render", "--project", "shop", "--target", "eu-1", "--dir", inputRenderDir(t, tc.tmpl))
				if code == 0 {
					t.Fatalf("render succeeded: %s", out)
				}
				if out != "" {
					t.Errorf("render wrote output on failure: %q", out)
				}
				if !strings.Contains(errOut, tc.want) {
					t.Errorf("stderr does not say %q: %s", tc.want, errOut)
				}
				for _, p := range pieces {
					if strings.Contains(errOut, p) {
						t.Fatalf("stderr holds %q, a piece of the secret or of an encoding of it: %s", p, errOut)
					}
				}
			})
		}
	})
}

// TestInputRenderIsBounded keeps issue 9.11 fixed: a template that would
// allocate without bound ({{range until 1000000000}}), write without bound
// or run without end stops quickly with an error naming the limit, and
// renders nothing.
func TestInputRenderIsBounded(t *testing.T) {
	servertest.Backends(t, func(t *testing.T, cfg server.Config) {
		s := servertest.Start(t, cfg)
		c := servertest.NewClients(servertest.HTTP1Client(), s.URL())
		inputEstate(t, c)
		env := []string{"FLAGOPS_SERVER=" + s.URL(), "FLAGOPS_TOKEN=" + servertest.AdminToken(s.URL())}
		for _, tc := range []struct {
			name, tmpl string
			flags      []string
			want       string
		}{
			{"until a billion", "{{ range until 1000000000 }}x{{ end }}", nil, "until would make a value over the size limit"},
			{"repeat a billion", `{{ repeat 1000000000 "x" }}`, nil, "repeat would make a value over the size limit"},
			{"output past --max-output", "{{ range until 6000 }}01234567890123456789{{ end }}", []string{"--max-output", "100000"}, "the rendered output exceeds the size limit of 100000 bytes"},
			{"a string doubled", `{{ $s := "x" }}{{ range until 60 }}{{ $s = print $s $s }}{{ end }}{{ $s }}`, nil, "would make a value over the size limit"},
			{"loops past --render-timeout", "{{ range until 100000 }}{{ range until 100000 }}{{ end }}{{ end }}", []string{"--render-timeout", "300ms"}, "rendering took longer than the time limit of 300ms"},
		} {
			t.Run(tc.name, func(t *testing.T) {
				start := time.Now()
				args := append([]string{"render", "--project", "shop", "--target", "eu-1", "--dir", inputRenderDir(t, tc.tmpl)}, tc.flags...)
				code, out, errOut := inputCLI(t, env, args...)
				if code == 0 || out != "" {
					t.Fatalf("render: exit %d, %d bytes of output", code, len(out))
				}
				if !strings.Contains(errOut, tc.want) || !strings.Contains(errOut, "app.yaml.tmpl") {
					t.Errorf("stderr does not name the file and say %q: %s", tc.want, errOut)
				}
				if d := time.Since(start); d > 5*time.Second {
					t.Errorf("render took %s to fail", d)
				}
			})
		}
	})
}
