package auth

import (
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"math/big"
	"strings"
)

// TokenPrefix starts every API token, so that a leaked one is recognisable
// (secret scanners, logs) and a caller's mistake is easy to tell apart.
const TokenPrefix = "fo_"

// tokenChars is the base62 alphabet; 43 characters carry 256 bits.
const (
	tokenChars = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
	tokenLen   = 43
)

// NewToken returns a fresh random token: "fo_" and 43 base62 characters.
func NewToken() string {
	var b strings.Builder
	b.WriteString(TokenPrefix)
	max := big.NewInt(int64(len(tokenChars)))
	for range tokenLen {
		n, err := rand.Int(rand.Reader, max)
		if err != nil {
			panic("auth: crypto/rand failed: " + err.Error())
		}
		b.WriteByte(tokenChars[n.Int64()])
	}
	return b.String()
}

// NewKeyID returns a short random public ID for a key ("k" and 12 hex).
func NewKeyID() string {
	var b [6]byte
	_, _ = rand.Read(b[:])
	return "k" + hex.EncodeToString(b[:])
}

// HashToken returns the hex SHA-256 of a token, the only form the store
// keeps. A plain hash suffices: tokens carry 256 random bits, so there is
// nothing to brute-force that a slow hash would protect.
func HashToken(token string) string {
	sum := sha256.Sum256([]byte(token))
	return hex.EncodeToString(sum[:])
}

// WellFormed reports whether s has the format of the tokens NewToken
// returns, for tokens supplied from outside (a bootstrap token file).
func WellFormed(s string) bool { return wellFormed(s) }

// wellFormed reports whether s looks like a token, before any lookup.
func wellFormed(s string) bool {
	if len(s) != len(TokenPrefix)+tokenLen || !strings.HasPrefix(s, TokenPrefix) {
		return false
	}
	for _, c := range s[len(TokenPrefix):] {
		if !strings.ContainsRune(tokenChars, c) {
			return false
		}
	}
	return true
}

// hashesEqual compares two hex hashes in constant time.
func hashesEqual(a, b string) bool {
	return subtle.ConstantTimeCompare([]byte(a), []byte(b)) == 1
}
