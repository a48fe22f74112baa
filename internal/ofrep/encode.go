package ofrep

import (
	"encoding/json"
	"slices"
	"strconv"
	"unicode/utf8"

	"github.com/flagops/flagops/internal/eval"
)

// The response encoders append OFREP JSON by hand: the value is the
// snapshot's pre-encoded bytes, the rest are short strings. encoding/json
// would reflect over every result.

// appendResult appends an evaluationSuccess or, for an error result, an
// evaluationFailure ({"key","errorCode","errorDetails"}).
func appendResult(b []byte, r *eval.Result) []byte {
	b = append(b, `{"key":`...)
	b = appendString(b, r.FlagKey)
	if r.ErrorCode != "" {
		b = append(b, `,"errorCode":`...)
		b = appendString(b, string(r.ErrorCode))
		if r.ErrorMessage != "" {
			b = append(b, `,"errorDetails":`...)
			b = appendString(b, r.ErrorMessage)
		}
		return append(b, '}')
	}
	// A result without a value (a disabled flag without an off variation)
	// omits "value": the client uses its code default (OFREP ADR-0006).
	if len(r.JSON) > 0 {
		b = append(b, `,"value":`...)
		b = append(b, r.JSON...)
	}
	b = append(b, `,"reason":`...)
	b = appendString(b, string(r.Reason))
	if r.Variant != "" {
		b = append(b, `,"variant":`...)
		b = appendString(b, r.Variant)
	}
	if len(r.Metadata) > 0 {
		b = append(b, `,"metadata":`...)
		b = appendMetadata(b, r.Metadata)
	}
	return append(b, '}')
}

// appendFailure appends an OFREP error body: with the flag key for the
// single-flag endpoint, without for bulk, and only errorDetails for a 500
// (generalErrorResponse).
func appendFailure(b []byte, key string, f *failure) []byte {
	b = append(b, '{')
	sep := false
	if key != "" {
		b = append(b, `"key":`...)
		b = appendString(b, key)
		sep = true
	}
	if f.code != "" {
		if sep {
			b = append(b, ',')
		}
		b = append(b, `"errorCode":`...)
		b = appendString(b, string(f.code))
		sep = true
	}
	if f.details != "" {
		if sep {
			b = append(b, ',')
		}
		b = append(b, `"errorDetails":`...)
		b = appendString(b, f.details)
	}
	return append(b, '}')
}

// appendMetadata appends metadata with sorted keys; OFREP metadata values
// are booleans, strings and numbers.
func appendMetadata(b []byte, m map[string]any) []byte {
	var stack [8]string
	keys := stack[:0]
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	b = append(b, '{')
	for i, k := range keys {
		if i > 0 {
			b = append(b, ',')
		}
		b = appendString(b, k)
		b = append(b, ':')
		switch v := m[k].(type) {
		case string:
			b = appendString(b, v)
		case bool:
			b = strconv.AppendBool(b, v)
		case float64:
			b = strconv.AppendFloat(b, v, 'g', -1, 64)
		case int:
			b = strconv.AppendInt(b, int64(v), 10)
		case int64:
			b = strconv.AppendInt(b, v, 10)
		default:
			j, err := json.Marshal(v)
			if err != nil {
				j = []byte("null")
			}
			b = append(b, j...)
		}
	}
	return append(b, '}')
}

const hexDigits = "0123456789abcdef"

// plain marks the bytes a JSON string holds unescaped: printable ASCII but
// the quote and the backslash.
var plain = func() (t [256]bool) {
	for c := 0x20; c < 0x80; c++ {
		t[c] = c != '"' && c != '\\'
	}
	return t
}()

// appendString appends s as a JSON string, escaping quotes, backslashes,
// control characters and invalid UTF-8 (as U+FFFD).
func appendString(b []byte, s string) []byte {
	b = append(b, '"')
	// Fast path: keys, variants and reasons are plain ASCII.
	i := 0
	for i < len(s) && plain[s[i]] {
		i++
	}
	if i == len(s) {
		b = append(b, s...)
		return append(b, '"')
	}
	start := 0
	for i < len(s) {
		c := s[i]
		if c < utf8.RuneSelf {
			if c >= 0x20 && c != '"' && c != '\\' {
				i++
				continue
			}
			b = append(b, s[start:i]...)
			switch c {
			case '"', '\\':
				b = append(b, '\\', c)
			case '\n':
				b = append(b, '\\', 'n')
			case '\r':
				b = append(b, '\\', 'r')
			case '\t':
				b = append(b, '\\', 't')
			default:
				b = append(b, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			b = append(b, s[start:i]...)
			b = append(b, `\ufffd`...)
			i++
			start = i
			continue
		}
		i += size
	}
	b = append(b, s[start:]...)
	return append(b, '"')
}
