package secrets_test

import (
	"bytes"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"

	"github.com/flagops/flagops/internal/errs"
	"github.com/flagops/flagops/internal/secrets"
)

var place = secrets.AAD{Workspace: "default", Scope: "project/shop@prod", Key: "DATABASE_URL", Version: 3}

func newKeyring(t testing.TB) *secrets.Keyring {
	t.Helper()
	kr, err := secrets.NewEphemeral()
	if err != nil {
		t.Fatal(err)
	}
	return kr
}

func TestSealOpenRoundTrip(t *testing.T) {
	kr := newKeyring(t)
	tests := []struct {
		name  string
		aad   secrets.AAD
		value []byte
	}{
		{"typical", place, []byte("postgres://u:p@db/shop")},
		{"empty value", place, []byte{}},
		{"nil value", place, nil},
		{"binary value", place, []byte{0, 1, 2, 0xff, 0}},
		{"large value", place, bytes.Repeat([]byte("x"), 1<<20)},
		{"zero AAD", secrets.AAD{}, []byte("v")},
		{"unicode AAD", secrets.AAD{Workspace: "wß", Scope: "target/ü", Key: "ключ", Version: -1}, []byte("v")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := kr.Seal(tt.aad, tt.value)
			if err != nil {
				t.Fatal(err)
			}
			if bytes.Contains(s.Ciphertext, []byte("postgres")) {
				t.Fatal("ciphertext contains the plaintext")
			}
			// Through the binary encoding, as the store will do.
			b, err := s.Marshal()
			if err != nil {
				t.Fatal(err)
			}
			s2, err := secrets.Unmarshal(b)
			if err != nil {
				t.Fatal(err)
			}
			got, err := kr.Open(tt.aad, s2)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got, tt.value) {
				t.Fatalf("Open = %q, want %q", got, tt.value)
			}
		})
	}
}

func TestSealIsRandomized(t *testing.T) {
	kr := newKeyring(t)
	a, _ := kr.Seal(place, []byte("same"))
	b, _ := kr.Seal(place, []byte("same"))
	if bytes.Equal(a.Ciphertext, b.Ciphertext) || bytes.Equal(a.WrappedDEK, b.WrappedDEK) {
		t.Fatal("two seals of the same value are identical; DEKs or nonces are reused")
	}
}

func flip(b []byte, i int) []byte {
	c := bytes.Clone(b)
	c[i] ^= 0x01
	return c
}

func TestOpenRejects(t *testing.T) {
	kr := newKeyring(t)
	other := newKeyring(t)
	s, err := kr.Seal(place, []byte("hunter2"))
	if err != nil {
		t.Fatal(err)
	}
	moved := func(f func(*secrets.AAD)) secrets.AAD { a := place; f(&a); return a }
	withSealed := func(f func(*secrets.Sealed)) secrets.Sealed { c := s; f(&c); return c }

	tests := []struct {
		name string
		kr   *secrets.Keyring
		aad  secrets.AAD
		s    secrets.Sealed
		want error
	}{
		{"moved to another scope", kr, moved(func(a *secrets.AAD) { a.Scope = "project/shop@staging" }), s, secrets.ErrDecrypt},
		{"moved to another key", kr, moved(func(a *secrets.AAD) { a.Key = "API_TOKEN" }), s, secrets.ErrDecrypt},
		{"moved to another version", kr, moved(func(a *secrets.AAD) { a.Version = 4 }), s, secrets.ErrDecrypt},
		{"moved to another workspace", kr, moved(func(a *secrets.AAD) { a.Workspace = "other" }), s, secrets.ErrDecrypt},
		{"boundary shift between fields", kr, moved(func(a *secrets.AAD) {
			a.Scope, a.Key = place.Scope+"D", strings.TrimPrefix(place.Key, "D")
		}), s, secrets.ErrDecrypt},
		{"wrong master key with the same ID", sameIDKeyring(t, s.KeyID), place, s, secrets.ErrDecrypt},
		{"unknown key ID", other, place, s, secrets.ErrUnknownKey},
		{"bit flipped in ciphertext", kr, place, withSealed(func(c *secrets.Sealed) { c.Ciphertext = flip(c.Ciphertext, 0) }), secrets.ErrDecrypt},
		{"bit flipped in tag", kr, place, withSealed(func(c *secrets.Sealed) { c.Ciphertext = flip(c.Ciphertext, len(c.Ciphertext)-1) }), secrets.ErrDecrypt},
		{"bit flipped in wrapped DEK", kr, place, withSealed(func(c *secrets.Sealed) { c.WrappedDEK = flip(c.WrappedDEK, 5) }), secrets.ErrDecrypt},
		{"bit flipped in value nonce", kr, place, withSealed(func(c *secrets.Sealed) { c.Nonce = flip(c.Nonce, 0) }), secrets.ErrDecrypt},
		{"bit flipped in DEK nonce", kr, place, withSealed(func(c *secrets.Sealed) { c.DEKNonce = flip(c.DEKNonce, 11) }), secrets.ErrDecrypt},
		{"truncated ciphertext", kr, place, withSealed(func(c *secrets.Sealed) { c.Ciphertext = c.Ciphertext[:len(c.Ciphertext)-1] }), secrets.ErrDecrypt},
		{"ciphertext shorter than a tag", kr, place, withSealed(func(c *secrets.Sealed) { c.Ciphertext = c.Ciphertext[:3] }), secrets.ErrMalformed},
		{"short nonce (would panic in GCM)", kr, place, withSealed(func(c *secrets.Sealed) { c.Nonce = c.Nonce[:8] }), secrets.ErrMalformed},
		{"short wrapped DEK", kr, place, withSealed(func(c *secrets.Sealed) { c.WrappedDEK = c.WrappedDEK[:40] }), secrets.ErrMalformed},
		{"unknown format", kr, place, withSealed(func(c *secrets.Sealed) { c.FormatVersion = 9 }), secrets.ErrMalformed},
		{"zero value", kr, place, secrets.Sealed{}, secrets.ErrMalformed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := tt.kr.Open(tt.aad, tt.s)
			if !errors.Is(err, tt.want) {
				t.Fatalf("Open error = %v, want %v", err, tt.want)
			}
			if got != nil {
				t.Fatalf("Open returned %q alongside an error", got)
			}
			if strings.Contains(err.Error(), "hunter2") {
				t.Fatal("error contains the plaintext")
			}
			if errors.Is(tt.want, secrets.ErrUnknownKey) && !strings.Contains(err.Error(), s.KeyID) {
				t.Fatalf("unknown key error %q does not name the ID %s", err, s.KeyID)
			}
		})
	}
}

// sameIDKeyring returns a keyring whose only key has the given ID but other
// key bytes: the "restored the wrong backup" case.
func sameIDKeyring(t *testing.T, id string) *secrets.Keyring {
	t.Helper()
	kr, err := secrets.FromEnv(id + ":" + b64(bytes.Repeat([]byte{7}, 32)))
	if err != nil {
		t.Fatal(err)
	}
	return kr
}

func TestRotateRewrapRetire(t *testing.T) {
	kr := newKeyring(t)
	first := kr.ActiveID()
	old, _ := kr.Seal(place, []byte("v1"))

	id, err := kr.Rotate()
	if err != nil {
		t.Fatal(err)
	}
	if id == first || kr.ActiveID() != id || !strings.HasPrefix(id, "mk-") || len(id) != len("mk-")+8 {
		t.Fatalf("Rotate = %q, active %q, first %q", id, kr.ActiveID(), first)
	}
	if got := kr.KeyIDs(); len(got) != 2 || got[0] != first || got[1] != id {
		t.Fatalf("KeyIDs = %v", got)
	}
	fresh, _ := kr.Seal(place, []byte("v2"))
	if fresh.KeyID != id {
		t.Fatalf("new seal uses %s, want the active %s", fresh.KeyID, id)
	}
	if got, err := kr.Open(place, old); err != nil || string(got) != "v1" {
		t.Fatalf("old record after rotation: %q, %v", got, err)
	}

	// Retiring a key still in use would strand records; the keyring cannot
	// know, but it refuses the active one.
	if err := kr.Retire(id); !errors.Is(err, errs.FailedPrecondition) {
		t.Fatalf("Retire(active) = %v, want FailedPrecondition", err)
	}
	if err := kr.Retire("mk-nothere"); !errors.Is(err, errs.NotFound) {
		t.Fatalf("Retire(unknown) = %v, want NotFound", err)
	}

	moved, changed, err := kr.Rewrap(place, old)
	if err != nil || !changed {
		t.Fatalf("Rewrap = changed %v, %v", changed, err)
	}
	if moved.KeyID != id || !bytes.Equal(moved.Ciphertext, old.Ciphertext) || !bytes.Equal(moved.Nonce, old.Nonce) {
		t.Fatal("Rewrap must change the key ID and keep the value ciphertext and nonce")
	}
	if bytes.Equal(moved.WrappedDEK, old.WrappedDEK) {
		t.Fatal("Rewrap kept the old wrapped DEK")
	}
	if same, changed, err := kr.Rewrap(place, moved); err != nil || changed || same.KeyID != id {
		t.Fatalf("Rewrap of a current record = changed %v, %v", changed, err)
	}
	if _, _, err := kr.Rewrap(secrets.AAD{Key: "elsewhere"}, old); !errors.Is(err, secrets.ErrDecrypt) {
		t.Fatalf("Rewrap with the wrong AAD = %v, want ErrDecrypt", err)
	}

	if err := kr.Retire(first); err != nil {
		t.Fatal(err)
	}
	if got, err := kr.Open(place, moved); err != nil || string(got) != "v1" {
		t.Fatalf("rewrapped record after retire: %q, %v", got, err)
	}
	if _, err := kr.Open(place, old); !errors.Is(err, secrets.ErrUnknownKey) || !strings.Contains(err.Error(), first) {
		t.Fatalf("record on a retired key = %v, want ErrUnknownKey naming %s", err, first)
	}
}

// TestConcurrentRotation seals and opens from many goroutines while keys
// rotate, and checks that every record sealed during the storm still opens
// afterwards. Run it with -race.
func TestConcurrentRotation(t *testing.T) {
	kr := newKeyring(t)
	const workers, perWorker, rotations = 8, 200, 20
	type rec struct {
		aad   secrets.AAD
		s     secrets.Sealed
		value string
	}
	results := make([][]rec, workers)
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			for i := range perWorker {
				aad := secrets.AAD{Workspace: "default", Scope: fmt.Sprintf("target/t%d", w), Key: "K", Version: int64(i)}
				value := fmt.Sprintf("value-%d-%d", w, i)
				s, err := kr.Seal(aad, []byte(value))
				if err != nil {
					t.Error(err)
					return
				}
				if got, err := kr.Open(aad, s); err != nil || string(got) != value {
					t.Errorf("open during rotation: %q, %v", got, err)
					return
				}
				if _, _, err := kr.Rewrap(aad, s); err != nil {
					t.Errorf("rewrap during rotation: %v", err)
					return
				}
				results[w] = append(results[w], rec{aad, s, value})
			}
		})
	}
	wg.Go(func() {
		for range rotations {
			if _, err := kr.Rotate(); err != nil {
				t.Error(err)
				return
			}
			_ = kr.Fingerprint("default", "workspace", "K", []byte("x"))
		}
	})
	wg.Wait()
	if n := len(kr.KeyIDs()); n != rotations+1 {
		t.Fatalf("%d keys after %d rotations, want %d", n, rotations, rotations+1)
	}
	for _, rs := range results {
		for _, r := range rs {
			if got, err := kr.Open(r.aad, r.s); err != nil || string(got) != r.value {
				t.Fatalf("record sealed during rotation with %s: %q, %v", r.s.KeyID, got, err)
			}
		}
	}
}

func TestFingerprint(t *testing.T) {
	kr := newKeyring(t)
	fp := kr.Fingerprint("default", "project/shop", "TOKEN", []byte("abc"))
	if !strings.HasPrefix(fp, "hmac-sha256:") || len(fp) != len("hmac-sha256:")+16 {
		t.Fatalf("Fingerprint = %q, want hmac-sha256:<16 hex>", fp)
	}
	if _, err := kr.Rotate(); err != nil {
		t.Fatal(err)
	}
	if got := kr.Fingerprint("default", "project/shop", "TOKEN", []byte("abc")); got != fp {
		t.Fatalf("fingerprint changed across rotation: %s then %s", fp, got)
	}
	differs := []struct {
		name                  string
		workspace, scope, key string
		value                 string
	}{
		{"other value", "default", "project/shop", "TOKEN", "abd"},
		{"other key", "default", "project/shop", "TOKEN2", "abc"},
		{"other scope", "default", "project/shop@prod", "TOKEN", "abc"},
		{"other workspace", "w2", "project/shop", "TOKEN", "abc"},
		{"boundary shift", "default", "project/shopT", "OKEN", "abc"},
	}
	for _, tt := range differs {
		t.Run(tt.name, func(t *testing.T) {
			if got := kr.Fingerprint(tt.workspace, tt.scope, tt.key, []byte(tt.value)); got == fp {
				t.Fatalf("fingerprint %s is the same for a different input", got)
			}
		})
	}
	t.Run("other keyring", func(t *testing.T) {
		if got := newKeyring(t).Fingerprint("default", "project/shop", "TOKEN", []byte("abc")); got == fp {
			t.Fatal("fingerprint is not keyed: another keyring gives the same")
		}
	})
}

func BenchmarkSeal(b *testing.B) {
	kr := newKeyring(b)
	value := bytes.Repeat([]byte("s"), 256)
	b.SetBytes(int64(len(value)))
	for b.Loop() {
		if _, err := kr.Seal(place, value); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkOpen(b *testing.B) {
	kr := newKeyring(b)
	value := bytes.Repeat([]byte("s"), 256)
	s, _ := kr.Seal(place, value)
	b.SetBytes(int64(len(value)))
	for b.Loop() {
		if _, err := kr.Open(place, s); err != nil {
			b.Fatal(err)
		}
	}
}
