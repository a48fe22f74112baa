package secrets

import (
	"encoding/json"
	"fmt"
	"strings"
)

// redacted is what every type holding key material prints instead of it.
const redacted = "[redacted]"

// String describes the keyring by its key IDs only; key material is never
// printed.
func (kr *Keyring) String() string {
	if kr == nil {
		return "secrets.Keyring(nil)"
	}
	return fmt.Sprintf("secrets.Keyring{active:%s keys:[%s] %s}", kr.ActiveID(), strings.Join(kr.KeyIDs(), " "), redacted)
}

// GoString makes %#v print the same redacted description as String, instead
// of the struct's fields.
func (kr *Keyring) GoString() string { return kr.String() }

// Format makes every fmt verb, %x and %+v included, print the redacted
// description.
func (kr *Keyring) Format(f fmt.State, verb rune) { _, _ = f.Write([]byte(kr.String())) }

// MarshalJSON writes the key IDs and "[redacted]" in place of key material.
func (kr *Keyring) MarshalJSON() ([]byte, error) {
	if kr == nil {
		return []byte("null"), nil
	}
	return json.Marshal(struct {
		Active      string   `json:"active_key_id"`
		KeyIDs      []string `json:"key_ids"`
		KeyMaterial string   `json:"key_material"`
	}{kr.ActiveID(), kr.KeyIDs(), redacted})
}

// The unexported key types redact too, so that no future debugging print of
// a key set can leak a key.

func (k *masterKey) String() string                { return "masterKey{" + k.id + " " + redacted + "}" }
func (k *masterKey) GoString() string              { return k.String() }
func (k *masterKey) Format(f fmt.State, verb rune) { _, _ = f.Write([]byte(k.String())) }
func (s *keySet) String() string                   { return "keySet{" + redacted + "}" }
func (s *keySet) Format(f fmt.State, verb rune)    { _, _ = f.Write([]byte(s.String())) }
