package api

import (
	"fmt"
	"regexp"

	"github.com/flagops/flagops/internal/errs"
)

// protojson's decoding errors quote the offending token ("invalid value for
// bytes field value: \"…\""), which for PutSecret is the secret value itself
// and for any field may be megabytes of the request; strictJSON answers with
// describeJSONError instead, which keeps the position and the schema's field
// name and never a value from the request.

var (
	// jsonPosRE finds protojson's position, "(line 1:40)".
	jsonPosRE = regexp.MustCompile(`\(line (\d+):(\d+)\)`)
	// jsonInvalidRE matches "invalid value for KIND field NAME: TOKEN"; the
	// kind and name come from the schema, the token from the request.
	jsonInvalidRE = regexp.MustCompile(`invalid value for ([a-z0-9]+) field ([A-Za-z0-9_.]+)`)
	// jsonUnknownRE matches `unknown field "NAME"`, whose name is the
	// caller's.
	jsonUnknownRE = regexp.MustCompile(`unknown field "(.*)"`)
	// jsonDupRE matches `duplicate field "NAME"` and the like.
	jsonDupRE = regexp.MustCompile(`duplicate (field|oneof field|map key) `)
)

// describeJSONError rewrites a protojson decoding error without the values
// it quotes: the position, then what was wrong and with which field of the
// schema.
func describeJSONError(err error) string {
	msg := err.Error()
	pos := "the request body"
	if m := jsonPosRE.FindStringSubmatch(msg); m != nil {
		pos = "line " + m[1] + ", column " + m[2]
	}
	switch {
	case jsonInvalidRE.MatchString(msg):
		m := jsonInvalidRE.FindStringSubmatch(msg)
		return fmt.Sprintf("%s: invalid value for %s field %s (the value is not shown)", pos, m[1], m[2])
	case jsonUnknownRE.MatchString(msg):
		m := jsonUnknownRE.FindStringSubmatch(msg)
		return fmt.Sprintf("%s: unknown field %s", pos, errs.Quote(m[1]))
	case jsonDupRE.MatchString(msg):
		return fmt.Sprintf("%s: a field or map key is repeated", pos)
	}
	return pos + ": not valid JSON for this request"
}
