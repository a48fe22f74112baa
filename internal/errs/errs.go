// Package errs holds the kinds of error flagops returns. Every layer wraps
// errors with context (fmt.Errorf("set facts of %s: %w", scope, err)) and
// checks them with errors.Is / errors.As; internal/api maps a kind to a wire
// code in exactly one function.
package errs

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"unicode/utf8"
)

// The kinds. Compare with errors.Is(err, errs.NotFound).
var (
	// Invalid: the request is malformed or breaks a rule. Usually carried by a
	// *FieldError that names the field and the rule.
	Invalid = errors.New("invalid argument")
	// NotFound: a named resource does not exist.
	NotFound = errors.New("not found")
	// AlreadyExists: a create found the resource already there.
	AlreadyExists = errors.New("already exists")
	// Conflict: an expected revision did not match the resource's current one.
	Conflict = errors.New("revision conflict")
	// FailedPrecondition: the state of other resources refuses the change
	// (deleting an environment that projects still use, for example).
	FailedPrecondition = errors.New("failed precondition")
	// Compacted: a revision older than the retained change log was asked for.
	Compacted = errors.New("revision compacted")
	// Unauthenticated: no credentials, or credentials that are not valid.
	Unauthenticated = errors.New("unauthenticated")
	// Denied: valid credentials that do not allow the operation.
	Denied = errors.New("permission denied")
	// TooLarge: a request or value exceeds a size limit.
	TooLarge = errors.New("too large")
	// Unavailable: a dependency (the database) cannot be reached right now.
	Unavailable = errors.New("unavailable")
	// RateLimited: the caller sent too much; retry later.
	RateLimited = errors.New("rate limited")
)

// kinds lists every kind, most specific first, for KindOf.
var kinds = []error{Invalid, NotFound, AlreadyExists, Conflict, FailedPrecondition,
	Compacted, Unauthenticated, Denied, TooLarge, Unavailable, RateLimited}

// KindOf returns the kind err carries, or nil when it carries none (an
// internal error).
func KindOf(err error) error {
	for _, k := range kinds {
		if errors.Is(err, k) {
			return k
		}
	}
	return nil
}

// FieldError says which field of a request broke which rule. Field is a path
// such as "facts.tier" or "documents[2].environments[0]". It is of kind
// Invalid unless Kind says otherwise (TooLarge, for example).
type FieldError struct {
	Field string
	Rule  string
	Kind  error
}

func (e *FieldError) Error() string {
	if e.Field == "" {
		return e.Rule
	}
	return e.Field + ": " + e.Rule
}

// Is makes errors.Is(err, errs.Invalid) (or the error's own Kind) true.
func (e *FieldError) Is(target error) bool {
	if e.Kind != nil {
		return target == e.Kind
	}
	return target == Invalid
}

// Field returns an Invalid error for field breaking the rule given by format.
// The field path is clipped (ClipPath): it may hold keys from the request.
func Field(field, format string, args ...any) error {
	return &FieldError{Field: ClipPath(field), Rule: fmt.Sprintf(format, args...)}
}

// ClipPath returns a field path with every name in it (the parts between
// '.', '[' and ']') cut to MaxQuoted bytes and marked "…", since a path
// such as "labels.KEY" or "values.KEY" names a key of the request, which
// may be a megabyte long.
func ClipPath(path string) string {
	if len(path) <= MaxQuoted {
		return path
	}
	var b strings.Builder
	run, cut := 0, false
	for _, r := range path {
		if r == '.' || r == '[' || r == ']' {
			run, cut = 0, false
			b.WriteRune(r)
			continue
		}
		if cut {
			continue
		}
		if run += utf8.RuneLen(r); run > MaxQuoted {
			cut = true
			b.WriteString("…")
			continue
		}
		b.WriteRune(r)
	}
	return b.String()
}

// Prefix returns err with its field path prefixed by parent (when err is a
// *FieldError), so nested validators can report "targets[3].environment".
func Prefix(parent string, err error) error {
	var fe *FieldError
	if parent == "" || !errors.As(err, &fe) {
		return err
	}
	cp := *fe
	switch {
	case cp.Field == "":
		cp.Field = parent
	case cp.Field[0] == '[':
		cp.Field = parent + cp.Field
	default:
		cp.Field = parent + "." + cp.Field
	}
	cp.Field = ClipPath(cp.Field)
	return &cp
}

// FieldOf returns the field path of the first *FieldError in err's chain, or "".
func FieldOf(err error) string {
	var fe *FieldError
	if errors.As(err, &fe) {
		return fe.Field
	}
	return ""
}

// New returns an error of the given kind with a message, for errors that
// name no field: errs.New(errs.NotFound, "environment %q", name).
func New(kind error, format string, args ...any) error {
	return &kindError{kind: kind, msg: fmt.Sprintf(format, args...)}
}

type kindError struct {
	kind error
	msg  string
}

func (e *kindError) Error() string        { return e.msg + ": " + e.kind.Error() }
func (e *kindError) Is(target error) bool { return target == e.kind }

// MaxQuoted is the longest prefix of an input value that an error message
// quotes. It fits every valid name (63 bytes) and variation key (64), so a
// well-formed value is always shown whole.
const MaxQuoted = 64

// Quote returns s quoted as %q does, for an error message that names an
// input value. A value longer than MaxQuoted is cut at a rune boundary and
// marked with its length, so that an oversized input (a megabyte-long name)
// is never echoed back whole, however many layers quote it. Never pass a
// secret value: even a prefix of one must not reach an error.
func Quote[S ~string](s S) string {
	if len(s) <= MaxQuoted {
		return strconv.Quote(string(s))
	}
	cut := MaxQuoted
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return strconv.Quote(string(s[:cut])+"…") + " (" + strconv.Itoa(len(s)) + " bytes)"
}
