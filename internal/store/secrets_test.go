package store_test

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"strings"
	"testing"

	"github.com/flagops/flagops/internal/domain"
	"github.com/flagops/flagops/internal/errs"
	"github.com/flagops/flagops/internal/secrets"
	"github.com/flagops/flagops/internal/store"
)

// TestSecretTampering changes stored ciphertexts behind the store's back and
// checks that each read fails with a clear error of kind FailedPrecondition:
// never another row's value, never garbage, never a panic.
func TestSecretTampering(t *testing.T) {
	backends := map[string]func(t testing.TB) *store.Store{"sqlite": openSQLite, "postgres": openPostgres}
	for _, name := range []string{"sqlite", "postgres"} {
		t.Run(name, func(t *testing.T) {
			testTampering(t, backends[name])
		})
	}
}

func testTampering(t *testing.T, open func(t testing.TB) *store.Store) {
	const sealedOf = "SELECT sealed FROM secret_versions WHERE scope = ? AND key = ? AND version = 1"
	const setSealed = "UPDATE secret_versions SET sealed = ? WHERE scope = ? AND key = ? AND version = 1"
	ws := domain.DefaultWorkspace
	sc := domain.WorkspaceScope()
	scope := sc.String()
	tests := []struct {
		name string
		// tamper changes the stored row of key "victim" (or the keyring);
		// it returns the keyring to read with.
		tamper func(t *testing.T, s *store.Store, kr *secrets.Keyring) *secrets.Keyring
		want   string
	}{
		{"ciphertext copied from another secret", func(t *testing.T, s *store.Store, kr *secrets.Keyring) *secrets.Keyring {
			other, err := s.QueryString(context.Background(), sealedOf, scope, "other")
			if err != nil {
				t.Fatal(err)
			}
			if err := s.ExecRaw(context.Background(), setSealed, other, scope, "victim"); err != nil {
				t.Fatal(err)
			}
			return kr
		}, "does not decrypt"},
		{"wrong master key with the same ID", func(t *testing.T, s *store.Store, kr *secrets.Keyring) *secrets.Keyring {
			key := make([]byte, 32)
			_, _ = rand.Read(key)
			wrong, err := secrets.FromEnv(kr.ActiveID() + ":" + base64.StdEncoding.EncodeToString(key))
			if err != nil {
				t.Fatal(err)
			}
			return wrong
		}, "does not decrypt"},
		{"another server's master key", func(t *testing.T, s *store.Store, kr *secrets.Keyring) *secrets.Keyring {
			other, err := secrets.NewEphemeral()
			if err != nil {
				t.Fatal(err)
			}
			return other
		}, "does not hold"},
		{"truncated ciphertext", func(t *testing.T, s *store.Store, kr *secrets.Keyring) *secrets.Keyring {
			text, err := s.QueryString(context.Background(), sealedOf, scope, "victim")
			if err != nil {
				t.Fatal(err)
			}
			raw, _ := base64.StdEncoding.DecodeString(text)
			for _, n := range []int{len(raw) - 1, len(raw) / 2, 3, 0} {
				cut := base64.StdEncoding.EncodeToString(raw[:n])
				if err := s.ExecRaw(context.Background(), setSealed, cut, scope, "victim"); err != nil {
					t.Fatal(err)
				}
				if _, _, err := s.ReadSecret(context.Background(), kr, ws, sc, "victim", 1); !errors.Is(err, errs.FailedPrecondition) {
					t.Fatalf("truncated to %d bytes: %v", n, err)
				}
			}
			return kr
		}, "malformed or truncated"},
		{"a flipped bit", func(t *testing.T, s *store.Store, kr *secrets.Keyring) *secrets.Keyring {
			text, _ := s.QueryString(context.Background(), sealedOf, scope, "victim")
			raw, _ := base64.StdEncoding.DecodeString(text)
			raw[len(raw)-1] ^= 1
			if err := s.ExecRaw(context.Background(), setSealed, base64.StdEncoding.EncodeToString(raw), scope, "victim"); err != nil {
				t.Fatal(err)
			}
			return kr
		}, "does not decrypt"},
		{"not base64", func(t *testing.T, s *store.Store, kr *secrets.Keyring) *secrets.Keyring {
			if err := s.ExecRaw(context.Background(), setSealed, "%%%", scope, "victim"); err != nil {
				t.Fatal(err)
			}
			return kr
		}, "not valid base64"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := open(t)
			ctx := context.Background()
			if _, err := s.Migrate(ctx); err != nil {
				t.Fatal(err)
			}
			kr, err := secrets.NewEphemeral()
			if err != nil {
				t.Fatal(err)
			}
			for key, v := range map[string]string{"victim": "victim-value", "other": "other-value"} {
				if _, err := s.PutSecret(ctx, kr, ws, sc, key, []byte(v), nil); err != nil {
					t.Fatal(err)
				}
			}
			readWith := tt.tamper(t, s, kr)
			v, _, err := s.ReadSecret(ctx, readWith, ws, sc, "victim", 1)
			if !errors.Is(err, errs.FailedPrecondition) || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("got %q, %v; want a FailedPrecondition error saying %q", v, err, tt.want)
			}
			if v != nil || strings.Contains(err.Error(), "value\"") || strings.Contains(err.Error(), "other-value") {
				t.Fatalf("a tampered read leaked a value: %q %v", v, err)
			}
			reads, err := s.SecretReads(ctx, store.SecretReadQuery{Key: "victim"})
			if err != nil || len(reads) != 0 {
				t.Fatalf("a failed read was audited as a read: %v %v", reads, err)
			}
		})
	}
}
