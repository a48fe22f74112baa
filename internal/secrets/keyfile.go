package secrets

import (
	"crypto/hkdf"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"strings"

	"github.com/flagops/flagops/internal/errs"
)

// EnvVar is the environment variable Load reads master keys from. Its value
// is either the base64 of one 32-byte key, or comma-separated "id:base64"
// entries, oldest first, the last master entry active. An entry with the ID
// "fingerprint" sets the fingerprint key (see FromEnv).
const EnvVar = "FLAGOPS_MASTER_KEY"

// KeyFileName is the name of the key file inside the data directory.
const KeyFileName = "master.key"

// fingerprintID is the reserved entry ID for the fingerprint root key.
const fingerprintID = "fingerprint"

// maxKeyFileSize bounds what OpenKeyFile reads; a real file is a few hundred
// bytes per key.
const maxKeyFileSize = 1 << 20

// ErrInsecureKeyFile reports a key file that group or others may read or
// write. The keyring refuses it rather than run with exposed keys.
var ErrInsecureKeyFile = errors.New("key file is accessible by group or others")

// validKeyID reports whether id may name a master key: 1 to 64 bytes of
// [A-Za-z0-9._-], so it is safe in error messages, file lines and env values.
func validKeyID(id string) bool {
	if id == "" || len(id) > maxKeyIDLen {
		return false
	}
	for i := 0; i < len(id); i++ {
		c := id[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '.' || c == '_' || c == '-') {
			return false
		}
	}
	return true
}

// derivedKeyID names a key given without an ID (a bare base64 env value): it
// must be stable across restarts, so it comes from a hash of the key. 32 bits
// of a SHA-256 of a 256-bit random key reveal nothing usable about it.
func derivedKeyID(raw []byte) string {
	h := sha256.New()
	h.Write([]byte("flagops/master-key-id/v1"))
	h.Write(raw)
	return "mk-" + hex.EncodeToString(h.Sum(nil)[:4])
}

// parseKeys reads "id:base64" (or bare "base64") entries, oldest first.
// where(i) names entry i in errors; errors never contain key material.
func parseKeys(entries []string, where func(i int) string) (*Keyring, error) {
	var keys []*masterKey
	var fpRoot []byte
	seen := map[string]bool{}
	for i, e := range entries {
		e = strings.TrimSpace(e)
		if e == "" || strings.HasPrefix(e, "#") {
			continue
		}
		id, b64, hasID := strings.Cut(e, ":")
		if !hasID {
			id, b64 = "", e
		}
		raw, err := base64.StdEncoding.DecodeString(strings.TrimSpace(b64))
		if err != nil || len(raw) != keySize {
			return nil, errs.New(errs.Invalid, "%s: key is not the base64 of %d bytes", where(i), keySize)
		}
		id = strings.TrimSpace(id)
		if !hasID {
			id = derivedKeyID(raw)
		}
		if !validKeyID(id) {
			return nil, errs.New(errs.Invalid, "%s: key ID must be 1 to %d characters of [A-Za-z0-9._-]", where(i), maxKeyIDLen)
		}
		if seen[id] {
			return nil, errs.New(errs.Invalid, "%s: key ID %q appears twice", where(i), id)
		}
		seen[id] = true
		if id == fingerprintID {
			fpRoot = raw
			continue
		}
		k, err := newMasterKey(id, raw)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", where(i), err)
		}
		keys = append(keys, k)
	}
	if len(keys) == 0 {
		return nil, errs.New(errs.Invalid, "%s: no master key", where(-1))
	}
	if fpRoot == nil {
		// Without a dedicated fingerprint key, derive one from the oldest
		// master key. Fingerprints then stay stable across rotations as long
		// as that key is listed; add a "fingerprint:" entry before retiring it.
		// A key file gets the derived key written out as its "fingerprint:"
		// line at its next Rotate or Retire, which makes it stable for good.
		var err error
		fpRoot, err = hkdf.Key(sha256.New, keys[0].raw, nil, "flagops/secret/fingerprint-root/v1", keySize)
		if err != nil {
			return nil, fmt.Errorf("derive fingerprint root: %w", err)
		}
	}
	return newKeyring(keys, fpRoot)
}

// FromEnv builds a keyring from the value of FLAGOPS_MASTER_KEY (see EnvVar
// for the syntax). A bare key gets an ID derived from its hash. Without a
// "fingerprint:base64" entry the fingerprint key is derived from the first
// (oldest) master key, so keep that key listed or add the entry.
//
// The result is read-only: Rotate and Retire fail with FailedPrecondition,
// because a key that exists only in memory would make what it seals
// unreadable after a restart. Rotate by appending a new entry to the variable
// and restarting, then Rewrap.
func FromEnv(value string) (*Keyring, error) {
	kr, err := parseKeys(strings.Split(value, ","), func(i int) string {
		if i < 0 {
			return EnvVar
		}
		return fmt.Sprintf("%s entry %d", EnvVar, i+1)
	})
	if err != nil {
		return nil, err
	}
	kr.readOnly = "the keyring comes from " + EnvVar + "; change the variable instead"
	return kr, nil
}

// Load returns the keyring from FLAGOPS_MASTER_KEY when it is set, and from
// the key file in dataDir (created on first use) otherwise.
func Load(dataDir string) (*Keyring, error) {
	if v := os.Getenv(EnvVar); v != "" {
		return FromEnv(v)
	}
	return OpenKeyFile(dataDir)
}

// OpenKeyFile loads the keyring from dir/master.key, creating dir (0700) and
// the file (0600) with a new master key and fingerprint key if it does not
// exist. It refuses a file that group or others can access
// (ErrInsecureKeyFile). The keyring persists Rotate and Retire to the file;
// one process should own a key file at a time (instances sharing a database
// should share keys through FLAGOPS_MASTER_KEY instead).
//
// The file holds "id:base64" lines, oldest first, the last master key active,
// plus a "fingerprint:" line; '#' starts a comment. Back it up: without it no
// secret can be read.
func OpenKeyFile(dir string) (*Keyring, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("open key file: %w", err)
	}
	path := filepath.Join(dir, KeyFileName)
	data, err := readKeyFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		data, err = createKeyFile(path)
	}
	if err != nil {
		return nil, fmt.Errorf("open key file: %w", err)
	}
	kr, err := parseKeys(strings.Split(string(data), "\n"), func(i int) string {
		if i < 0 {
			return path
		}
		return fmt.Sprintf("%s line %d", path, i+1)
	})
	if err != nil {
		return nil, fmt.Errorf("open key file: %w", err)
	}
	kr.path = path
	return kr, nil
}

// readKeyFile reads the key file after checking, on the open file itself (no
// race with a chmod between check and read), that it is private.
func readKeyFile(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, err
	}
	if !fi.Mode().IsRegular() {
		return nil, errs.New(errs.FailedPrecondition, "%s is not a regular file", path)
	}
	// Windows has no Unix permission bits; its ACLs are the operator's job.
	if perm := fi.Mode().Perm(); runtime.GOOS != "windows" && perm&0o077 != 0 {
		return nil, fmt.Errorf("%s has mode %04o (run chmod 600 %s): %w", path, perm, path, ErrInsecureKeyFile)
	}
	data, err := io.ReadAll(io.LimitReader(f, maxKeyFileSize+1))
	if err != nil {
		return nil, err
	}
	if len(data) > maxKeyFileSize {
		return nil, errs.New(errs.TooLarge, "%s is over %d bytes", path, maxKeyFileSize)
	}
	return data, nil
}

// createKeyFile writes a new key file with one master key and a fingerprint
// key. It links the finished temporary file into place, which fails if the
// file appeared meanwhile: two processes starting at once must never each
// create a key file, one overwriting the other's key. The loser reads the
// winner's file.
func createKeyFile(path string) ([]byte, error) {
	k, err := generateKey()
	if err != nil {
		return nil, err
	}
	data := encodeKeyFile([]*masterKey{k}, randomBytes(keySize))
	tmp, err := writeTemp(path, data)
	if err != nil {
		return nil, err
	}
	defer os.Remove(tmp)
	if err := os.Link(tmp, path); errors.Is(err, fs.ErrExist) {
		return readKeyFile(path)
	} else if err != nil {
		return nil, err
	}
	return data, syncDir(filepath.Dir(path))
}

// writeKeyFile replaces the key file atomically: readers see the old file or
// the new one, never a part, and after a crash the file is one or the other.
func writeKeyFile(path string, data []byte) error {
	tmp, err := writeTemp(path, data)
	if err != nil {
		return err
	}
	if err := os.Rename(tmp, path); err != nil {
		os.Remove(tmp)
		return err
	}
	return syncDir(filepath.Dir(path))
}

// writeTemp writes data to a new 0600 file beside path and fsyncs it.
func writeTemp(path string, data []byte) (string, error) {
	f, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		return "", err
	}
	_, err = f.Write(data)
	if err == nil {
		err = f.Chmod(0o600) // CreateTemp uses 0600 already; be explicit
	}
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.Remove(f.Name())
		return "", err
	}
	return f.Name(), nil
}

// syncDir makes a rename or link in dir durable.
func syncDir(dir string) error {
	if runtime.GOOS == "windows" {
		return nil // directories cannot be fsynced there
	}
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}

// encodeKeyFile writes the key file text: the fingerprint key, then the
// master keys oldest first so the last is active.
func encodeKeyFile(keys []*masterKey, fpRoot []byte) []byte {
	var b strings.Builder
	b.WriteString("# flagops master keys. Keep this file private (mode 0600) and backed up:\n")
	b.WriteString("# without it no secret can be read. The last master key is the active one.\n")
	fmt.Fprintf(&b, "%s:%s\n", fingerprintID, base64.StdEncoding.EncodeToString(fpRoot))
	for _, k := range keys {
		fmt.Fprintf(&b, "%s:%s\n", k.id, base64.StdEncoding.EncodeToString(k.raw))
	}
	return []byte(b.String())
}
