package domain

import (
	"strconv"

	"github.com/flagops/flagops/internal/errs"
)

// MaxJSONDepth is the deepest nesting of objects and arrays a stored JSON
// value (a fact, a flag variation's value) may have. Protobuf clients read
// such values as google.protobuf.Value, two message levels per JSON level,
// under a recursion limit (10,000 in Go): a value nested about 5,000 deep,
// once stored, would make every read, evaluation and watch past its revision
// fail for every Go client. 64 is far deeper than any configuration needs.
const MaxJSONDepth = 64

// MaxJSONValue is the largest stored JSON value, in bytes, compacted.
const MaxJSONValue = 64 << 10

// JSONDepthRule is the human wording of the depth limit.
var JSONDepthRule = "value nests objects and arrays deeper than " + strconv.Itoa(MaxJSONDepth) + " levels"

// CheckJSONDepth returns a field error when raw nests objects and arrays
// more than MaxJSONDepth levels deep. It scans the bytes once without
// recursion, so it is safe on any input; it does not check that raw is
// valid JSON.
func CheckJSONDepth(field string, raw []byte) error {
	depth := 0
	inString, escaped := false, false
	for _, c := range raw {
		switch {
		case inString:
			switch {
			case escaped:
				escaped = false
			case c == '\\':
				escaped = true
			case c == '"':
				inString = false
			}
		case c == '"':
			inString = true
		case c == '[' || c == '{':
			depth++
			if depth > MaxJSONDepth {
				return errs.Field(field, "%s", JSONDepthRule)
			}
		case c == ']' || c == '}':
			depth--
		}
	}
	return nil
}
