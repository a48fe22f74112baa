package secrets_test

import (
	"bytes"
	"encoding/base64"
	"errors"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/flagops/flagops/internal/errs"
	"github.com/flagops/flagops/internal/secrets"
)

func b64(b []byte) string { return base64.StdEncoding.EncodeToString(b) }

func TestKeyFileCreatedPrivateAndReloaded(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data")
	kr, err := secrets.OpenKeyFile(dir)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, secrets.KeyFileName)
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if runtime.GOOS != "windows" && fi.Mode().Perm() != 0o600 {
		t.Fatalf("key file mode %04o, want 0600", fi.Mode().Perm())
	}
	s, _ := kr.Seal(place, []byte("v1"))
	fp := kr.Fingerprint("default", "workspace", "K", []byte("v"))

	newID, err := kr.Rotate()
	if err != nil {
		t.Fatal(err)
	}
	if fi, _ := os.Stat(path); runtime.GOOS != "windows" && fi.Mode().Perm() != 0o600 {
		t.Fatalf("rotated key file mode %04o, want 0600", fi.Mode().Perm())
	}
	if leftovers, _ := filepath.Glob(filepath.Join(dir, ".*tmp*")); len(leftovers) > 0 {
		t.Fatalf("temporary files left behind: %v", leftovers)
	}

	// A restart: the file must hold both keys, the new one active, and the
	// same fingerprint key.
	again, err := secrets.OpenKeyFile(dir)
	if err != nil {
		t.Fatal(err)
	}
	if again.ActiveID() != newID || len(again.KeyIDs()) != 2 {
		t.Fatalf("reloaded keyring %v, want active %s and 2 keys", again, newID)
	}
	if got, err := again.Open(place, s); err != nil || string(got) != "v1" {
		t.Fatalf("open after reload: %q, %v", got, err)
	}
	if got := again.Fingerprint("default", "workspace", "K", []byte("v")); got != fp {
		t.Fatalf("fingerprint changed across restart and rotation: %s then %s", fp, got)
	}

	moved, _, _ := again.Rewrap(place, s)
	if err := again.Retire(s.KeyID); err != nil {
		t.Fatal(err)
	}
	third, err := secrets.OpenKeyFile(dir)
	if err != nil {
		t.Fatal(err)
	}
	if ids := third.KeyIDs(); len(ids) != 1 || ids[0] != newID {
		t.Fatalf("after retire the file holds %v, want [%s]", ids, newID)
	}
	if _, err := third.Open(place, moved); err != nil {
		t.Fatal(err)
	}
}

func TestKeyFileRefusedWhenShared(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("no Unix permission bits")
	}
	for _, mode := range []os.FileMode{0o644, 0o640, 0o604, 0o660} {
		t.Run(mode.String(), func(t *testing.T) {
			dir := t.TempDir()
			if _, err := secrets.OpenKeyFile(dir); err != nil {
				t.Fatal(err)
			}
			path := filepath.Join(dir, secrets.KeyFileName)
			if err := os.Chmod(path, mode); err != nil {
				t.Fatal(err)
			}
			_, err := secrets.OpenKeyFile(dir)
			if !errors.Is(err, secrets.ErrInsecureKeyFile) || !strings.Contains(err.Error(), "chmod 600") {
				t.Fatalf("OpenKeyFile on a %04o file = %v, want ErrInsecureKeyFile with advice", mode, err)
			}
		})
	}
}

func TestKeyFileMalformed(t *testing.T) {
	tests := []struct{ name, content string }{
		{"empty", ""},
		{"only a fingerprint", "fingerprint:" + b64(make([]byte, 32)) + "\n"},
		{"short key", "mk-1:" + b64(make([]byte, 16)) + "\n"},
		{"not base64", "mk-1:not*base64\n"},
		{"duplicate ID", "mk-1:" + b64(make([]byte, 32)) + "\nmk-1:" + b64(make([]byte, 32)) + "\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			if err := os.WriteFile(filepath.Join(dir, secrets.KeyFileName), []byte(tt.content), 0o600); err != nil {
				t.Fatal(err)
			}
			if _, err := secrets.OpenKeyFile(dir); !errors.Is(err, errs.Invalid) {
				t.Fatalf("OpenKeyFile = %v, want Invalid", err)
			}
		})
	}
}

func TestFromEnv(t *testing.T) {
	k1, k2, fpk := bytes.Repeat([]byte{1}, 32), bytes.Repeat([]byte{2}, 32), bytes.Repeat([]byte{3}, 32)
	tests := []struct {
		name    string
		value   string
		active  string
		keys    int
		wantErr error
	}{
		{"bare key", b64(k1), "", 1, nil},
		{"bare key with spaces", "  " + b64(k1) + "\n", "", 1, nil},
		{"one id:key", "prod-1:" + b64(k1), "prod-1", 1, nil},
		{"two keys, last active", "prod-1:" + b64(k1) + ",prod-2:" + b64(k2), "prod-2", 2, nil},
		{"with fingerprint key", "fingerprint:" + b64(fpk) + ", prod-1:" + b64(k1), "prod-1", 1, nil},
		{"empty", "", "", 0, errs.Invalid},
		{"short key", b64(k1[:31]), "", 0, errs.Invalid},
		{"bad id", "a b:" + b64(k1), "", 0, errs.Invalid},
		{"duplicate id", "x:" + b64(k1) + ",x:" + b64(k2), "", 0, errs.Invalid},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			kr, err := secrets.FromEnv(tt.value)
			if tt.wantErr != nil {
				if !errors.Is(err, tt.wantErr) {
					t.Fatalf("FromEnv = %v, want %v", err, tt.wantErr)
				}
				if strings.Contains(err.Error(), b64(k1)[:12]) {
					t.Fatalf("error %q contains key material", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if tt.active != "" && kr.ActiveID() != tt.active {
				t.Fatalf("active = %s, want %s", kr.ActiveID(), tt.active)
			}
			if !strings.HasPrefix(kr.ActiveID(), "mk-") && tt.active == "" {
				t.Fatalf("derived ID %q, want mk-<hex>", kr.ActiveID())
			}
			if len(kr.KeyIDs()) != tt.keys {
				t.Fatalf("%d keys, want %d", len(kr.KeyIDs()), tt.keys)
			}
			s, err := kr.Seal(place, []byte("v"))
			if err != nil {
				t.Fatal(err)
			}
			if got, err := kr.Open(place, s); err != nil || string(got) != "v" {
				t.Fatalf("round trip: %q, %v", got, err)
			}
			if _, err := kr.Rotate(); !errors.Is(err, errs.FailedPrecondition) {
				t.Fatalf("Rotate on an env keyring = %v, want FailedPrecondition", err)
			}
		})
	}

	t.Run("same value, same IDs and fingerprints across restarts", func(t *testing.T) {
		a, _ := secrets.FromEnv(b64(k1))
		b, _ := secrets.FromEnv(b64(k1))
		if a.ActiveID() != b.ActiveID() || a.Fingerprint("w", "s", "k", []byte("v")) != b.Fingerprint("w", "s", "k", []byte("v")) {
			t.Fatal("a bare env key must give a stable ID and fingerprint")
		}
	})
	t.Run("fingerprint stable when a key is appended", func(t *testing.T) {
		a, _ := secrets.FromEnv("fingerprint:" + b64(fpk) + ",a:" + b64(k1))
		b, _ := secrets.FromEnv("fingerprint:" + b64(fpk) + ",a:" + b64(k1) + ",b:" + b64(k2))
		if a.Fingerprint("w", "s", "k", []byte("v")) != b.Fingerprint("w", "s", "k", []byte("v")) {
			t.Fatal("fingerprint changed when a master key was added")
		}
	})
	t.Run("records move between env rotations", func(t *testing.T) {
		before, _ := secrets.FromEnv("a:" + b64(k1))
		s, _ := before.Seal(place, []byte("v"))
		after, _ := secrets.FromEnv("a:" + b64(k1) + ",b:" + b64(k2))
		moved, changed, err := after.Rewrap(place, s)
		if err != nil || !changed || moved.KeyID != "b" {
			t.Fatalf("Rewrap = %v, %v, %v", moved, changed, err)
		}
	})
}

func TestLoadPrefersEnv(t *testing.T) {
	t.Setenv(secrets.EnvVar, "env-1:"+b64(bytes.Repeat([]byte{9}, 32)))
	dir := t.TempDir()
	kr, err := secrets.Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	if kr.ActiveID() != "env-1" {
		t.Fatalf("Load used %s, want the env key", kr.ActiveID())
	}
	if _, err := os.Stat(filepath.Join(dir, secrets.KeyFileName)); !errors.Is(err, os.ErrNotExist) {
		t.Fatal("Load created a key file although the env var was set")
	}
	t.Setenv(secrets.EnvVar, "")
	if kr, err = secrets.Load(dir); err != nil || !strings.HasPrefix(kr.ActiveID(), "mk-") {
		t.Fatalf("Load without env = %v, %v", kr, err)
	}
}
