package flag

import (
	"errors"
	"strings"
)

// Semver is a strict SemVer 2.0.0 version (https://semver.org): MAJOR.MINOR.PATCH
// with optional -prerelease and +build, no "v" prefix, no leading zeros in
// numeric parts. Pre and Build are sub-strings of the parsed text, so parsing
// does not allocate.
type Semver struct {
	Major, Minor, Patch uint64
	Pre                 string // dot-separated prerelease identifiers, "" if none
	Build               string // build metadata, ignored by Compare
}

var errSemver = errors.New("not a SemVer 2.0 version (MAJOR.MINOR.PATCH[-prerelease][+build])")

// ParseSemver parses s strictly.
func ParseSemver(s string) (Semver, error) {
	var v Semver
	var ok bool
	rest := s
	if v.Major, rest, ok = semverNum(rest); !ok || !strings.HasPrefix(rest, ".") {
		return Semver{}, errSemver
	}
	if v.Minor, rest, ok = semverNum(rest[1:]); !ok || !strings.HasPrefix(rest, ".") {
		return Semver{}, errSemver
	}
	if v.Patch, rest, ok = semverNum(rest[1:]); !ok {
		return Semver{}, errSemver
	}
	if strings.HasPrefix(rest, "-") {
		end := strings.IndexByte(rest, '+')
		if end < 0 {
			end = len(rest)
		}
		v.Pre = rest[1:end]
		if !semverIdents(v.Pre, true) {
			return Semver{}, errSemver
		}
		rest = rest[end:]
	}
	if strings.HasPrefix(rest, "+") {
		v.Build = rest[1:]
		if !semverIdents(v.Build, false) {
			return Semver{}, errSemver
		}
		rest = ""
	}
	if rest != "" {
		return Semver{}, errSemver
	}
	return v, nil
}

// semverNum reads a numeric identifier without leading zeros.
func semverNum(s string) (uint64, string, bool) {
	i := 0
	var n uint64
	for i < len(s) && s[i] >= '0' && s[i] <= '9' {
		if n > (1<<63)/10 {
			return 0, s, false
		}
		n = n*10 + uint64(s[i]-'0')
		i++
	}
	if i == 0 || (i > 1 && s[0] == '0') {
		return 0, s, false
	}
	return n, s[i:], true
}

// semverIdents checks dot-separated identifiers of [0-9A-Za-z-]; numeric
// prerelease identifiers must not have leading zeros.
func semverIdents(s string, pre bool) bool {
	if s == "" {
		return false
	}
	for s != "" {
		id := s
		if i := strings.IndexByte(s, '.'); i >= 0 {
			id, s = s[:i], s[i+1:]
			if s == "" {
				return false
			}
		} else {
			s = ""
		}
		if id == "" {
			return false
		}
		numeric := true
		for j := 0; j < len(id); j++ {
			c := id[j]
			switch {
			case c >= '0' && c <= '9':
			case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c == '-':
				numeric = false
			default:
				return false
			}
		}
		if pre && numeric && len(id) > 1 && id[0] == '0' {
			return false
		}
	}
	return true
}

// Compare returns -1, 0 or +1 as v has lower, equal or higher precedence
// than w. Build metadata is ignored.
func (v Semver) Compare(w Semver) int {
	if c := cmpU(v.Major, w.Major); c != 0 {
		return c
	}
	if c := cmpU(v.Minor, w.Minor); c != 0 {
		return c
	}
	if c := cmpU(v.Patch, w.Patch); c != 0 {
		return c
	}
	switch {
	case v.Pre == w.Pre:
		return 0
	case v.Pre == "":
		return 1
	case w.Pre == "":
		return -1
	}
	a, b := v.Pre, w.Pre
	for {
		if a == "" && b == "" {
			return 0
		}
		if a == "" {
			return -1
		}
		if b == "" {
			return 1
		}
		var x, y string
		x, a = nextIdent(a)
		y, b = nextIdent(b)
		if c := cmpIdent(x, y); c != 0 {
			return c
		}
	}
}

func nextIdent(s string) (string, string) {
	if i := strings.IndexByte(s, '.'); i >= 0 {
		return s[:i], s[i+1:]
	}
	return s, ""
}

// cmpIdent orders prerelease identifiers: numeric ones numerically and below
// alphanumeric ones, which compare in ASCII order.
func cmpIdent(x, y string) int {
	xn, yn := isDigits(x), isDigits(y)
	switch {
	case xn && yn:
		if len(x) != len(y) { // no leading zeros, so longer is larger
			if len(x) < len(y) {
				return -1
			}
			return 1
		}
		return strings.Compare(x, y)
	case xn:
		return -1
	case yn:
		return 1
	}
	return strings.Compare(x, y)
}

func isDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return s != ""
}

func cmpU(a, b uint64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}
