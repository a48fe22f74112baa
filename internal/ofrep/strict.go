package ofrep

import (
	"encoding/json"
	"strconv"
)

// maxKeyEcho bounds how much of a client's unknown key an answer quotes.
const maxKeyEcho = 64

// unknownKey returns the first top-level key of the JSON object b other
// than "context", quoted and cut to maxKeyEcho bytes. b must be valid JSON
// (json.Unmarshal accepted it): the scan does not validate, it only skips
// values. It allocates nothing unless it finds a key to report, so the
// evaluation path stays allocation-free.
func unknownKey(b []byte) (string, bool) {
	i := skipSpace(b, 0)
	if i >= len(b) || b[i] != '{' {
		return "", false
	}
	i++
	for {
		i = skipSpace(b, i)
		if i >= len(b) || b[i] != '"' {
			return "", false // '}' or the end: no other key
		}
		start := i
		i = skipString(b, i)
		if raw := b[start:i]; string(raw) != `"context"` {
			var key string
			if json.Unmarshal(raw, &key) != nil || key != "context" {
				if len(key) > maxKeyEcho {
					key = key[:maxKeyEcho]
				}
				return strconv.Quote(key), true
			}
		}
		i = skipSpace(b, i)
		if i >= len(b) || b[i] != ':' {
			return "", false
		}
		i = skipValue(b, skipSpace(b, i+1))
		i = skipSpace(b, i)
		if i >= len(b) || b[i] != ',' {
			return "", false
		}
		i++
	}
}

func skipSpace(b []byte, i int) int {
	for i < len(b) && (b[i] == ' ' || b[i] == '\t' || b[i] == '\n' || b[i] == '\r') {
		i++
	}
	return i
}

// skipString returns the index after the string that starts at b[i] ('"').
func skipString(b []byte, i int) int {
	for i++; i < len(b); i++ {
		switch b[i] {
		case '\\':
			i++
		case '"':
			return i + 1
		}
	}
	return len(b)
}

// skipValue returns the index after the value that starts at b[i].
func skipValue(b []byte, i int) int {
	if i >= len(b) {
		return i
	}
	switch b[i] {
	case '"':
		return skipString(b, i)
	case '{', '[':
		depth := 0
		for ; i < len(b); i++ {
			switch b[i] {
			case '"':
				i = skipString(b, i) - 1
			case '{', '[':
				depth++
			case '}', ']':
				depth--
				if depth == 0 {
					return i + 1
				}
			}
		}
		return len(b)
	}
	for i < len(b) && b[i] != ',' && b[i] != '}' && b[i] != ']' && b[i] != ' ' &&
		b[i] != '\t' && b[i] != '\n' && b[i] != '\r' {
		i++
	}
	return i
}
