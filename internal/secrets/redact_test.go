package secrets_test

import (
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/flagops/flagops/internal/secrets"
)

// TestNothingPrintsKeyMaterial formats a keyring and a sealed record every
// way a log line or an API response might, and checks that neither the key
// bytes (raw, hex or base64) nor the plaintext nor the ciphertext appear.
func TestNothingPrintsKeyMaterial(t *testing.T) {
	dir := t.TempDir()
	kr, err := secrets.OpenKeyFile(dir)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := kr.Rotate(); err != nil {
		t.Fatal(err)
	}
	const plaintext = "correct horse battery staple"
	s, err := kr.Seal(place, []byte(plaintext))
	if err != nil {
		t.Fatal(err)
	}

	// Collect every secret the file holds, in every encoding a print could use.
	file, err := os.ReadFile(filepath.Join(dir, secrets.KeyFileName))
	if err != nil {
		t.Fatal(err)
	}
	forbidden := []string{plaintext, hex.EncodeToString(s.Ciphertext), string(s.Ciphertext), base64.StdEncoding.EncodeToString(s.Ciphertext)}
	for _, line := range strings.Split(string(file), "\n") {
		_, b64, ok := strings.Cut(line, ":")
		if !ok || strings.HasPrefix(line, "#") {
			continue
		}
		raw, err := base64.StdEncoding.DecodeString(b64)
		if err != nil {
			t.Fatal(err)
		}
		forbidden = append(forbidden, b64, string(raw), hex.EncodeToString(raw), fmt.Sprint(raw)[1:20])
	}

	values := map[string]any{"keyring": kr, "sealed": s, "sealed pointer": &s}
	for name, v := range values {
		outs := map[string]string{}
		for _, verb := range []string{"%v", "%+v", "%#v", "%s", "%x", "%X", "%q", "%d"} {
			outs[verb] = fmt.Sprintf(verb, v)
		}
		outs["Sprint of a slice"] = fmt.Sprint([]any{v})
		j, err := json.Marshal(v)
		if err != nil {
			t.Fatalf("%s: json: %v", name, err)
		}
		outs["json"] = string(j)
		for how, out := range outs {
			for _, f := range forbidden {
				if f != "" && strings.Contains(out, f) {
					t.Errorf("%s printed with %s leaks secret material: %s", name, how, out)
				}
			}
			if how == "%v" && !strings.Contains(out, "[redacted]") {
				t.Errorf("%s printed with %s does not say [redacted]: %s", name, how, out)
			}
		}
	}
	if got := kr.String(); !strings.Contains(got, kr.ActiveID()) {
		t.Errorf("Keyring.String() = %q, want it to name the active key ID", got)
	}
}
