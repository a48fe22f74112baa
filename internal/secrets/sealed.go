package secrets

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
)

// FormatV1 is the only format so far: AES-256-GCM for the value under a
// random 32-byte DEK, AES-256-GCM for the DEK under the master key, 12-byte
// random nonces for both. A new algorithm gets a new format byte so records
// written before it stay readable.
const FormatV1 byte = 1

// Sizes of the parts of a FormatV1 record.
const (
	keySize        = 32 // AES-256 keys, for both DEKs and master keys
	nonceSize      = 12 // the standard GCM nonce
	tagSize        = 16 // the GCM tag
	wrappedDEKSize = keySize + tagSize
	maxKeyIDLen    = 64    // so the length fits one byte with room to spare
	headerSize     = 1 + 1 // format byte, key ID length
	fixedSize      = headerSize + nonceSize + wrappedDEKSize + nonceSize + tagSize
)

// ErrDecrypt reports that a Sealed record did not open: the master key is not
// the one that sealed it, the record was altered, or it was moved to another
// place (another workspace, scope, key or version) than the AAD it was sealed
// for. It never says which, because GCM cannot tell, and it never carries key
// material or plaintext.
var ErrDecrypt = errors.New("secret does not decrypt: wrong master key, tampered or moved ciphertext")

// ErrMalformed reports a Sealed record or encoding that is not structurally
// valid (truncated, a wrong size, an unknown format). Such errors also match
// ErrDecrypt, so a caller that only asks "did it open?" needs one check.
var ErrMalformed = errors.New("malformed sealed secret")

// ErrUnknownKey reports a record sealed with a master key ID the keyring does
// not hold (retired, or from another installation). The error message names
// the ID.
var ErrUnknownKey = errors.New("unknown master key")

// malformedError carries a description of what is wrong with an encoding and
// matches both ErrMalformed and ErrDecrypt.
type malformedError struct{ what string }

func (e *malformedError) Error() string { return ErrMalformed.Error() + ": " + e.what }

func (e *malformedError) Is(target error) bool {
	return target == ErrMalformed || target == ErrDecrypt
}

func malformed(format string, args ...any) error {
	return &malformedError{what: fmt.Sprintf(format, args...)}
}

// AAD names the place a secret value belongs to. It is authenticated (not
// encrypted) with both the value and its wrapped DEK, so a record opens only
// for the AAD it was sealed for. Scope is the scope as users write it
// ("project/shop@prod"); Version is the secret's version number.
type AAD struct {
	Workspace string
	Scope     string
	Key       string
	Version   int64
}

// The purpose labels keep the value AAD and the DEK AAD distinct, so bytes
// authenticated for one role can never be taken for the other.
const (
	purposeValue = "flagops/secret/value"
	purposeDEK   = "flagops/secret/dek"
)

// encode returns the AAD bytes for one purpose. Every string is preceded by
// its uvarint length, so ("a", "bc") and ("ab", "c") encode differently; the
// version is a fixed 8 bytes. The format byte and, for the DEK, the master key
// ID are bound too, so neither can be swapped without failing authentication.
func (a AAD) encode(purpose string, format byte, keyID string) []byte {
	n := 5*binary.MaxVarintLen64 + len(purpose) + len(keyID) + len(a.Workspace) + len(a.Scope) + len(a.Key) + 1 + 8
	b := make([]byte, 0, n)
	for _, s := range []string{purpose, keyID, a.Workspace, a.Scope, a.Key} {
		b = binary.AppendUvarint(b, uint64(len(s)))
		b = append(b, s...)
	}
	b = append(b, format)
	return binary.BigEndian.AppendUint64(b, uint64(a.Version))
}

// Sealed is one encrypted secret value as the store persists it. It holds no
// plaintext and no usable key material, yet it formats without its bytes
// (see String) so ciphertext never spreads into logs or the change log, where
// it would outlive the retirement of its master key.
type Sealed struct {
	// FormatVersion is the algorithm and layout version; FormatV1 today.
	FormatVersion byte
	// KeyID names the master key that wrapped the DEK. The store may index it
	// to find records still using a key before Retire.
	KeyID string
	// DEKNonce is the GCM nonce used to wrap the DEK.
	DEKNonce []byte
	// WrappedDEK is the data key encrypted under the master key, with its tag.
	WrappedDEK []byte
	// Nonce is the GCM nonce used to encrypt the value.
	Nonce []byte
	// Ciphertext is the value encrypted under the DEK, with its tag.
	Ciphertext []byte
}

// validate checks the shape of s before any cipher sees it: crypto/cipher
// panics on a nonce of the wrong size, and this package never panics on input.
func (s Sealed) validate() error {
	switch {
	case s.FormatVersion != FormatV1:
		return malformed("unsupported format %d", s.FormatVersion)
	case s.KeyID == "" || len(s.KeyID) > maxKeyIDLen:
		return malformed("master key ID of %d bytes (want 1 to %d)", len(s.KeyID), maxKeyIDLen)
	case len(s.DEKNonce) != nonceSize:
		return malformed("DEK nonce of %d bytes (want %d)", len(s.DEKNonce), nonceSize)
	case len(s.WrappedDEK) != wrappedDEKSize:
		return malformed("wrapped DEK of %d bytes (want %d)", len(s.WrappedDEK), wrappedDEKSize)
	case len(s.Nonce) != nonceSize:
		return malformed("value nonce of %d bytes (want %d)", len(s.Nonce), nonceSize)
	case len(s.Ciphertext) < tagSize:
		return malformed("ciphertext of %d bytes (want at least %d)", len(s.Ciphertext), tagSize)
	}
	return nil
}

// Marshal returns the compact binary form of s:
//
//	format(1) | len(keyID)(1) | keyID | DEK nonce(12) | wrapped DEK(48) | nonce(12) | ciphertext(≥16)
//
// Every part but the ciphertext has a known size, so the ciphertext simply
// runs to the end. It fails only when s is not well formed.
func (s Sealed) Marshal() ([]byte, error) {
	if err := s.validate(); err != nil {
		return nil, err
	}
	b := make([]byte, 0, fixedSize-tagSize+len(s.KeyID)+len(s.Ciphertext))
	b = append(b, s.FormatVersion, byte(len(s.KeyID)))
	b = append(b, s.KeyID...)
	b = append(b, s.DEKNonce...)
	b = append(b, s.WrappedDEK...)
	b = append(b, s.Nonce...)
	b = append(b, s.Ciphertext...)
	return b, nil
}

// Unmarshal reads what Marshal wrote. Truncated, oversized-header or
// unknown-format input returns an error matching ErrMalformed (and
// ErrDecrypt); it never panics. The result does not alias b.
func Unmarshal(b []byte) (Sealed, error) {
	if len(b) < headerSize {
		return Sealed{}, malformed("%d bytes is shorter than the header", len(b))
	}
	if b[0] != FormatV1 {
		return Sealed{}, malformed("unsupported format %d", b[0])
	}
	idLen := int(b[1])
	if idLen == 0 || idLen > maxKeyIDLen {
		return Sealed{}, malformed("master key ID of %d bytes (want 1 to %d)", idLen, maxKeyIDLen)
	}
	if len(b) < fixedSize+idLen {
		return Sealed{}, malformed("%d bytes is shorter than the %d a record needs", len(b), fixedSize+idLen)
	}
	c := append([]byte(nil), b...) // one copy, then slices into it
	s := Sealed{FormatVersion: c[0]}
	rest := c[headerSize:]
	s.KeyID, rest = string(rest[:idLen]), rest[idLen:]
	s.DEKNonce, rest = rest[:nonceSize:nonceSize], rest[nonceSize:]
	s.WrappedDEK, rest = rest[:wrappedDEKSize:wrappedDEKSize], rest[wrappedDEKSize:]
	s.Nonce, rest = rest[:nonceSize:nonceSize], rest[nonceSize:]
	s.Ciphertext = rest
	if !validKeyID(s.KeyID) {
		return Sealed{}, malformed("master key ID has characters outside [A-Za-z0-9._-]")
	}
	return s, nil
}

// String describes s without its bytes: the format, the master key ID and
// the ciphertext length. See the Sealed doc comment for why.
func (s Sealed) String() string {
	return fmt.Sprintf("secrets.Sealed{format:%d key:%s ciphertext:%d bytes [redacted]}", s.FormatVersion, s.KeyID, len(s.Ciphertext))
}

// GoString makes %#v print the same redacted description as String.
func (s Sealed) GoString() string { return s.String() }

// Format makes every fmt verb (%x and %q included) print the redacted
// description, so no verb reaches the byte fields.
func (s Sealed) Format(f fmt.State, verb rune) { _, _ = f.Write([]byte(s.String())) }

// MarshalJSON writes a redacted summary, never the ciphertext: persist a
// Sealed with Marshal, not JSON.
func (s Sealed) MarshalJSON() ([]byte, error) {
	return json.Marshal(struct {
		Format     byte   `json:"format"`
		KeyID      string `json:"key_id"`
		Ciphertext string `json:"ciphertext"`
	}{s.FormatVersion, s.KeyID, "[redacted]"})
}
