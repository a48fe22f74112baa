// Package secrets seals secret values with envelope encryption and keeps the
// master keys that protect them.
//
// # Envelope
//
// Every value is encrypted with AES-256-GCM under its own random 32-byte data
// key (DEK). The DEK is then encrypted ("wrapped") with AES-256-GCM under a
// master key (KEK) from the Keyring. The result is a Sealed record: the master
// key ID, the wrapped DEK, both nonces, the value ciphertext and a format
// byte. Sealed.Marshal gives its compact binary form for the store to persist;
// Unmarshal reads it back and rejects truncated or malformed input.
//
// Because each value has its own DEK, rotating a master key never needs the
// plaintext: Keyring.Rewrap decrypts only the 32-byte DEK with the old master
// key and wraps it again with the active one; the value ciphertext is kept
// byte for byte.
//
// # Binding to a place
//
// Both GCM operations authenticate an AAD (workspace, scope, key, version)
// encoded with length prefixes, so a ciphertext copied to another row — another
// scope, key, version or workspace — fails to open with ErrDecrypt instead of
// yielding the other row's value.
//
// # Master keys
//
// A Keyring holds one active master key, used for every new Seal and Rewrap,
// and any number of older keys that still open records naming them. It is
// loaded from a key file (OpenKeyFile, created on first use) or from the
// FLAGOPS_MASTER_KEY environment variable (FromEnv); Load picks between them.
// Keys are written as "id:base64" entries; the last master entry is active.
//
// # Fingerprints
//
// Values never enter the change log, events, webhooks or CLI output. What
// those show instead is Keyring.Fingerprint: a keyed HMAC-SHA256 that tells
// "changed" from "unchanged" without letting anyone who lacks the key test
// guesses against it.
//
// # Hygiene
//
// Nothing in this package logs. Types that hold key material format as
// "[redacted]" under every fmt verb and in JSON; errors name key IDs, never
// keys or values.
package secrets
