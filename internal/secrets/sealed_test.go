package secrets_test

import (
	"bytes"
	"errors"
	"reflect"
	"testing"

	"github.com/flagops/flagops/internal/secrets"
)

func TestMarshalRoundTrip(t *testing.T) {
	kr := newKeyring(t)
	s, err := kr.Seal(place, []byte("value"))
	if err != nil {
		t.Fatal(err)
	}
	b, err := s.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	if want := 1 + 1 + len(s.KeyID) + 12 + 48 + 12 + len("value") + 16; len(b) != want {
		t.Fatalf("encoding is %d bytes, want %d", len(b), want)
	}
	got, err := secrets.Unmarshal(b)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, s) {
		t.Fatalf("Unmarshal(Marshal(s)) = %v, want %v", got, s)
	}
	// The result must not alias the input buffer the caller may reuse.
	clear(b)
	if _, err := kr.Open(place, got); err != nil {
		t.Fatalf("Unmarshal result aliases its input: %v", err)
	}
}

func TestUnmarshalRejects(t *testing.T) {
	kr := newKeyring(t)
	s, _ := kr.Seal(place, []byte("value"))
	good, _ := s.Marshal()
	with := func(f func([]byte) []byte) []byte { return f(bytes.Clone(good)) }

	tests := []struct {
		name string
		in   []byte
	}{
		{"nil", nil},
		{"one byte", []byte{secrets.FormatV1}},
		{"header only", good[:2]},
		{"truncated in the key ID", good[:5]},
		{"truncated in the wrapped DEK", good[:40]},
		{"truncated in the tag", good[:len(good)-len("value")-1]},
		{"unknown format", with(func(b []byte) []byte { b[0] = 2; return b })},
		{"format zero", with(func(b []byte) []byte { b[0] = 0; return b })},
		{"zero-length key ID", with(func(b []byte) []byte { b[1] = 0; return b })},
		{"key ID length past the end", with(func(b []byte) []byte { b[1] = 255; return b })},
		{"key ID with a newline", with(func(b []byte) []byte { b[3] = '\n'; return b })},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := secrets.Unmarshal(tt.in)
			if !errors.Is(err, secrets.ErrMalformed) || !errors.Is(err, secrets.ErrDecrypt) {
				t.Fatalf("Unmarshal error = %v, want ErrMalformed (and ErrDecrypt)", err)
			}
		})
	}
	t.Run("truncated ciphertext decodes but does not open", func(t *testing.T) {
		s, err := secrets.Unmarshal(good[:len(good)-1])
		if err != nil {
			t.Fatal(err)
		}
		if _, err := kr.Open(place, s); !errors.Is(err, secrets.ErrDecrypt) {
			t.Fatalf("Open = %v, want ErrDecrypt", err)
		}
	})
	t.Run("Marshal refuses a malformed record", func(t *testing.T) {
		if _, err := (secrets.Sealed{FormatVersion: secrets.FormatV1, KeyID: "mk-1"}).Marshal(); !errors.Is(err, secrets.ErrMalformed) {
			t.Fatalf("Marshal = %v, want ErrMalformed", err)
		}
	})
}

// FuzzUnmarshal checks that no input makes Unmarshal or Open panic, that what
// decodes re-encodes to the same bytes, and that a mutated record never opens.
func FuzzUnmarshal(f *testing.F) {
	kr := newKeyring(f)
	for _, v := range []string{"", "value", "a longer secret value with some bytes"} {
		s, _ := kr.Seal(place, []byte(v))
		b, _ := s.Marshal()
		f.Add(b)
	}
	f.Add([]byte{})
	f.Add([]byte{1, 64})
	f.Fuzz(func(t *testing.T, b []byte) {
		s, err := secrets.Unmarshal(b)
		if err != nil {
			if !errors.Is(err, secrets.ErrMalformed) {
				t.Fatalf("Unmarshal error %v is not ErrMalformed", err)
			}
			return
		}
		again, err := s.Marshal()
		if err != nil {
			t.Fatalf("decoded record does not re-encode: %v", err)
		}
		if !bytes.Equal(again, b) {
			t.Fatalf("re-encoding differs:\n got %x\nwant %x", again, b)
		}
		// Seeds open; anything the fuzzer invents must not.
		if _, err := kr.Open(place, s); err != nil && !errors.Is(err, secrets.ErrDecrypt) && !errors.Is(err, secrets.ErrUnknownKey) {
			t.Fatalf("Open error %v is neither ErrDecrypt nor ErrUnknownKey", err)
		}
	})
}
