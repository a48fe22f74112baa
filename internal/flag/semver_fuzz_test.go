package flag

import (
	"strconv"
	"testing"
)

// FuzzParseSemver checks that ParseSemver never panics on any text (a flag
// rule's operand and a context's version attribute come from outside), that
// what it accepts prints back as the same text, and that Compare is a total
// order on what it accepts.
func FuzzParseSemver(f *testing.F) {
	for _, s := range []string{"1.2.3", "0.0.0", "1.2.3-rc.1+build.5", "1.0.0-alpha.beta.1", "10.20.30-0a.1-b",
		"v1.2.3", "01.2.3", "1.2", "1.2.3-", "1.2.3+", "1.2.3-01", "18446744073709551616.0.0", "1.2.3-rc.1", "1.2.3-rc.10"} {
		f.Add(s, "1.2.3-rc.2")
	}
	f.Fuzz(func(t *testing.T, a, b string) {
		va, errA := ParseSemver(a)
		vb, errB := ParseSemver(b)
		if errA == nil {
			if got := format(va); got != a {
				t.Fatalf("ParseSemver(%q) prints back as %q", a, got)
			}
			if va.Compare(va) != 0 {
				t.Fatalf("%q does not equal itself", a)
			}
		}
		if errA == nil && errB == nil {
			if ab, ba := va.Compare(vb), vb.Compare(va); ab != -ba {
				t.Fatalf("Compare(%q, %q) = %d but Compare(%q, %q) = %d", a, b, ab, b, a, ba)
			}
		}
	})
}

func format(v Semver) string {
	s := strconv.FormatUint(v.Major, 10) + "." + strconv.FormatUint(v.Minor, 10) + "." + strconv.FormatUint(v.Patch, 10)
	if v.Pre != "" {
		s += "-" + v.Pre
	}
	if v.Build != "" {
		s += "+" + v.Build
	}
	return s
}
