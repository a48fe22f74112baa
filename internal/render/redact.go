package render

import (
	"encoding/base64"
	"encoding/hex"
	"errors"
	"strings"

	"github.com/flagops/flagops/internal/errs"
)

// minRedactRun is the shortest piece of a secret, or of an encoding of one,
// that Redact removes from a message. A shorter secret is removed only
// whole.
const minRedactRun = 8

// Redact returns err with every secret value of secrets, every piece of one
// at least minRedactRun bytes long, and the same of its hex and base64
// (standard and URL, at any alignment) encodings replaced by "[redacted]",
// keeping the error's kind. Plain and hex forms match in any letter case.
// Rendering's errors are built not to hold template data in the first
// place; this is the second line, for a message that quotes a value anyway.
func Redact(err error, secrets map[string]string) error {
	if err == nil || len(secrets) == 0 {
		return err
	}
	msg := err.Error()
	clean := redactText(msg, secrets)
	if clean == msg {
		return err
	}
	kind := errs.KindOf(err)
	if kind == nil {
		return errors.New(clean)
	}
	return &kindError{msg: clean, kind: kind}
}

func redactText(msg string, secrets map[string]string) string {
	lower := asciiLower(msg)
	mark := make([]bool, len(msg))
	hit := false
	for _, s := range secrets {
		if s == "" {
			continue
		}
		for _, f := range secretForms(s) {
			hay := msg
			if f.foldCase {
				hay = lower
			}
			hit = markForm(hay, f.text, mark) || hit
		}
	}
	if !hit {
		return msg
	}
	var b strings.Builder
	for i := 0; i < len(msg); {
		if !mark[i] {
			b.WriteByte(msg[i])
			i++
			continue
		}
		b.WriteString("[redacted]")
		for i < len(msg) && mark[i] {
			i++
		}
	}
	return b.String()
}

type secretForm struct {
	text     string
	foldCase bool
}

// secretForms returns the texts a secret may appear as in a message.
func secretForms(s string) []secretForm {
	forms := []secretForm{{asciiLower(s), true}, {hex.EncodeToString([]byte(s)), true}}
	for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.URLEncoding} {
		for pad := range 3 {
			// With pad bytes before it, the secret's bits start pad*8 bits
			// into the encoding; keep only the characters made of its bits
			// alone, which any text holding it at that alignment contains.
			b := append(make([]byte, pad), s...)
			e := enc.EncodeToString(b)
			from, to := (pad*8+5)/6, len(b)*8/6
			// A piece too short to be told from other text is left out:
			// the secret's plain and hex forms still match whole.
			if to-from >= minRedactRun {
				forms = append(forms, secretForm{e[from:to], false})
			}
		}
	}
	return forms
}

// markForm marks in mark every place hay holds form, or, for a form of at
// least minRedactRun bytes, any minRedactRun-byte piece of it. It reports
// whether it marked anything.
func markForm(hay, form string, mark []bool) bool {
	found := false
	markAll := func(piece string) {
		for from := 0; ; {
			i := strings.Index(hay[from:], piece)
			if i < 0 {
				return
			}
			for j := from + i; j < from+i+len(piece); j++ {
				mark[j] = true
			}
			found = true
			from += i + 1
		}
	}
	if len(form) < minRedactRun {
		markAll(form)
		return found
	}
	for i := 0; i+minRedactRun <= len(form); i++ {
		markAll(form[i : i+minRedactRun])
	}
	return found
}

// asciiLower lowers ASCII letters only, so that byte offsets stay those of
// the original.
func asciiLower(s string) string {
	b := []byte(s)
	for i, c := range b {
		if 'A' <= c && c <= 'Z' {
			b[i] = c + 'a' - 'A'
		}
	}
	return string(b)
}
