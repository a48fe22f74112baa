package secrets

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/hkdf"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"

	"github.com/flagops/flagops/internal/errs"
)

// fingerprintInfo is the HKDF context for the fingerprint HMAC key. Changing
// it changes every fingerprint, so it carries a version.
const fingerprintInfo = "flagops/secret/fingerprint/v1"

// Keyring holds the master keys: one active key that seals, any number of
// older keys that still open what they sealed, and the fingerprint key.
//
// A Keyring is safe for concurrent use. Seal, Open, Rewrap and Fingerprint
// take no lock: they read an immutable key set behind an atomic pointer, so
// they never wait for a rotation, and a rotation never loses a key a
// concurrent call is using (keys are only removed by Retire). Rotate and
// Retire are serialised by a mutex that also covers the key file write they
// make; the new key set is published only after the file is durable.
//
// Create a Keyring with OpenKeyFile, FromEnv, Load or NewEphemeral; the zero
// value is not usable.
type Keyring struct {
	// mu serialises Rotate and Retire (and their key file writes). It is
	// never taken by the read paths.
	mu   sync.Mutex
	keys atomic.Pointer[keySet]

	// fpKey is the HMAC key for Fingerprint, derived once with HKDF from
	// fpRoot. Both are immutable after construction.
	fpKey  []byte
	fpRoot []byte

	// path is the key file this keyring persists to, "" when it has none.
	path string
	// readOnly, when set, is why Rotate and Retire are refused (a keyring
	// from the environment cannot persist a change).
	readOnly string
}

// keySet is an immutable snapshot of the master keys, oldest first; the last
// one is active.
type keySet struct {
	order []*masterKey
	byID  map[string]*masterKey
}

func (s *keySet) active() *masterKey { return s.order[len(s.order)-1] }

func newKeySet(order []*masterKey) *keySet {
	s := &keySet{order: order, byID: make(map[string]*masterKey, len(order))}
	for _, k := range order {
		s.byID[k.id] = k
	}
	return s
}

// masterKey is one master key with its AEAD built once, so Seal and Open do
// not rebuild the AES key schedule on every call.
type masterKey struct {
	id   string
	raw  []byte // kept to write the key file; never printed
	aead cipher.AEAD
}

func newMasterKey(id string, raw []byte) (*masterKey, error) {
	aead, err := newGCM(raw)
	if err != nil {
		return nil, err
	}
	return &masterKey{id: id, raw: raw, aead: aead}, nil
}

func newGCM(key []byte) (cipher.AEAD, error) {
	if len(key) != keySize {
		return nil, fmt.Errorf("key of %d bytes, want %d", len(key), keySize)
	}
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, err
	}
	return cipher.NewGCM(block)
}

// newKeyring builds a keyring from master keys (oldest first, the last
// active) and a fingerprint root.
func newKeyring(keys []*masterKey, fpRoot []byte) (*Keyring, error) {
	if len(keys) == 0 {
		return nil, errs.New(errs.Invalid, "keyring has no master key")
	}
	fpKey, err := hkdf.Key(sha256.New, fpRoot, nil, fingerprintInfo, keySize)
	if err != nil {
		return nil, fmt.Errorf("derive fingerprint key: %w", err)
	}
	kr := &Keyring{fpKey: fpKey, fpRoot: fpRoot}
	kr.keys.Store(newKeySet(keys))
	return kr, nil
}

// NewEphemeral returns a keyring with a fresh random master key that lives
// only in memory: whatever it seals is lost with the process. It is meant for
// tests of code that stores secrets. Rotate and Retire work in memory.
func NewEphemeral() (*Keyring, error) {
	k, err := generateKey()
	if err != nil {
		return nil, err
	}
	return newKeyring([]*masterKey{k}, randomBytes(keySize))
}

// generateKey makes a master key with a random ID. The ID is random rather
// than derived from the key so that it reveals nothing about it.
func generateKey() (*masterKey, error) {
	return newMasterKey("mk-"+hex.EncodeToString(randomBytes(4)), randomBytes(keySize))
}

// randomBytes returns n bytes from crypto/rand, which never fails on the
// platforms Go supports (it crashes the program rather than return weak
// randomness).
func randomBytes(n int) []byte {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return b
}

// ActiveID returns the ID of the master key new records are sealed with.
func (kr *Keyring) ActiveID() string { return kr.keys.Load().active().id }

// KeyIDs returns the IDs of all master keys, oldest first; the last is active.
func (kr *Keyring) KeyIDs() []string {
	set := kr.keys.Load()
	ids := make([]string, len(set.order))
	for i, k := range set.order {
		ids[i] = k.id
	}
	return ids
}

// Seal encrypts plaintext for the place aad names, under a fresh data key
// wrapped by the active master key. The caller keeps ownership of plaintext;
// Seal neither retains nor modifies it.
func (kr *Keyring) Seal(aad AAD, plaintext []byte) (Sealed, error) {
	mk := kr.keys.Load().active()
	dek := randomBytes(keySize)
	defer clear(dek)
	valueAEAD, err := newGCM(dek)
	if err != nil {
		return Sealed{}, fmt.Errorf("seal secret: %w", err)
	}
	s := Sealed{FormatVersion: FormatV1, KeyID: mk.id, Nonce: randomBytes(nonceSize)}
	s.Ciphertext = valueAEAD.Seal(nil, s.Nonce, plaintext, aad.encode(purposeValue, s.FormatVersion, ""))
	s.DEKNonce, s.WrappedDEK = wrapDEK(mk, aad, s.FormatVersion, dek)
	return s, nil
}

func wrapDEK(mk *masterKey, aad AAD, format byte, dek []byte) (nonce, wrapped []byte) {
	nonce = randomBytes(nonceSize)
	return nonce, mk.aead.Seal(nil, nonce, dek, aad.encode(purposeDEK, format, mk.id))
}

// unwrapDEK validates s, finds its master key and decrypts its DEK. The
// caller must clear the returned DEK.
func (kr *Keyring) unwrapDEK(aad AAD, s Sealed) ([]byte, error) {
	if err := s.validate(); err != nil {
		return nil, err
	}
	mk, ok := kr.keys.Load().byID[s.KeyID]
	if !ok {
		return nil, fmt.Errorf("master key %q: %w", s.KeyID, ErrUnknownKey)
	}
	dek, err := mk.aead.Open(nil, s.DEKNonce, s.WrappedDEK, aad.encode(purposeDEK, s.FormatVersion, s.KeyID))
	if err != nil {
		// The GCM error says nothing more useful; ErrDecrypt says it all.
		return nil, ErrDecrypt
	}
	return dek, nil
}

// Open decrypts s, which must have been sealed for exactly aad. It fails with
// ErrUnknownKey (naming the ID) when the keyring lacks s's master key,
// ErrMalformed when s is not well formed, and ErrDecrypt when the key is
// wrong, s was altered or aad is not its place. The returned slice is the
// caller's.
func (kr *Keyring) Open(aad AAD, s Sealed) ([]byte, error) {
	dek, err := kr.unwrapDEK(aad, s)
	if err != nil {
		return nil, fmt.Errorf("open secret: %w", err)
	}
	defer clear(dek)
	valueAEAD, err := newGCM(dek)
	if err != nil {
		return nil, fmt.Errorf("open secret: %w", ErrDecrypt)
	}
	plain, err := valueAEAD.Open(nil, s.Nonce, s.Ciphertext, aad.encode(purposeValue, s.FormatVersion, ""))
	if err != nil {
		return nil, fmt.Errorf("open secret: %w", ErrDecrypt)
	}
	return plain, nil
}

// Rewrap moves s to the active master key: it decrypts only the DEK and wraps
// it again; the value's nonce and ciphertext are kept as they are, and the
// plaintext is never seen. aad must be the place s was sealed for, since the
// DEK is bound to it too; a moved record therefore fails here as in Open.
// When s already uses the active key, Rewrap checks only its shape and
// returns it as is with changed false: no cryptography is done, so that is
// not a proof that s opens.
//
// Rewrap is how a store moves old records off a key before Retire.
func (kr *Keyring) Rewrap(aad AAD, s Sealed) (_ Sealed, changed bool, _ error) {
	mk := kr.keys.Load().active()
	if s.KeyID == mk.id {
		if err := s.validate(); err != nil {
			return Sealed{}, false, fmt.Errorf("rewrap secret: %w", err)
		}
		return s, false, nil
	}
	dek, err := kr.unwrapDEK(aad, s)
	if err != nil {
		return Sealed{}, false, fmt.Errorf("rewrap secret: %w", err)
	}
	defer clear(dek)
	out := s
	out.KeyID = mk.id
	out.DEKNonce, out.WrappedDEK = wrapDEK(mk, aad, s.FormatVersion, dek)
	return out, true, nil
}

// Rotate generates a new master key and makes it active; older keys stay and
// keep opening what they sealed. On a file-backed keyring the key file is
// replaced atomically (temporary file, fsync, rename) before the new key is
// used, so nothing is ever sealed with a key that is not on disk. It returns
// the new key's ID.
func (kr *Keyring) Rotate() (string, error) {
	kr.mu.Lock()
	defer kr.mu.Unlock()
	if kr.readOnly != "" {
		return "", errs.New(errs.FailedPrecondition, "rotate master key: %s", kr.readOnly)
	}
	old := kr.keys.Load()
	var k *masterKey
	for {
		var err error
		if k, err = generateKey(); err != nil {
			return "", fmt.Errorf("rotate master key: %w", err)
		}
		if _, taken := old.byID[k.id]; !taken {
			break
		}
	}
	next := newKeySet(append(slices.Clip(old.order), k))
	if err := kr.persist(next); err != nil {
		return "", fmt.Errorf("rotate master key: %w", err)
	}
	kr.keys.Store(next)
	return k.id, nil
}

// Retire removes the master key id. It refuses the active key. The keyring
// cannot know which records still name a key: the caller must first Rewrap
// every record and check (in the store, in the same transaction that guards
// new writes) that none still uses id, because after Retire those records
// fail to open with ErrUnknownKey. On a file-backed keyring the key file is
// rewritten atomically first.
func (kr *Keyring) Retire(id string) error {
	kr.mu.Lock()
	defer kr.mu.Unlock()
	if kr.readOnly != "" {
		return errs.New(errs.FailedPrecondition, "retire master key %q: %s", id, kr.readOnly)
	}
	old := kr.keys.Load()
	if _, ok := old.byID[id]; !ok {
		return errs.New(errs.NotFound, "retire master key %q", id)
	}
	if old.active().id == id {
		return errs.New(errs.FailedPrecondition, "retire master key %q: it is the active key; rotate first", id)
	}
	next := newKeySet(slices.DeleteFunc(slices.Clone(old.order), func(k *masterKey) bool { return k.id == id }))
	if err := kr.persist(next); err != nil {
		return fmt.Errorf("retire master key %q: %w", id, err)
	}
	kr.keys.Store(next)
	return nil
}

// persist writes set to the key file, if the keyring has one. Callers hold mu.
func (kr *Keyring) persist(set *keySet) error {
	if kr.path == "" {
		return nil
	}
	return writeKeyFile(kr.path, encodeKeyFile(set.order, kr.fpRoot))
}

// Fingerprint returns a keyed digest of a secret value at a place, such as
// "hmac-sha256:3f2a9c0d11e4b7a8", for the change log, events, webhooks and
// the CLI to show instead of the value.
//
// It is HMAC-SHA256 under a key derived (HKDF) from the keyring's dedicated
// fingerprint key, not from a master key: master keys rotate, and a
// fingerprint must stay the same across rotations so "unchanged" still reads
// as unchanged. It is keyed so that a reader of the log cannot confirm a
// guessed value; it covers workspace, scope and key (length-prefixed) so equal
// values in different places cannot be correlated, but not the version, so
// re-setting the same value shows the same fingerprint. 64 bits are shown:
// enough to tell changes apart, too few to be worth attacking.
func (kr *Keyring) Fingerprint(workspace, scope, key string, plaintext []byte) string {
	m := hmac.New(sha256.New, kr.fpKey)
	var b []byte
	for _, s := range []string{workspace, scope, key} {
		b = binary.AppendUvarint(b[:0], uint64(len(s)))
		m.Write(b)
		m.Write([]byte(s))
	}
	m.Write(plaintext)
	return "hmac-sha256:" + hex.EncodeToString(m.Sum(nil)[:8])
}
