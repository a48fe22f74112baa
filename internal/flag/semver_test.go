package flag

import "testing"

func TestParseSemver(t *testing.T) {
	good := map[string]Semver{
		"0.0.0":                  {},
		"1.2.3":                  {Major: 1, Minor: 2, Patch: 3},
		"10.20.30-rc.1+build.5":  {Major: 10, Minor: 20, Patch: 30, Pre: "rc.1", Build: "build.5"},
		"1.0.0-alpha-a.b-c":      {Major: 1, Pre: "alpha-a.b-c"},
		"1.0.0+001":              {Major: 1, Build: "001"},
		"1.0.0-0A.is.legal":      {Major: 1, Pre: "0A.is.legal"},
		"999999999.0.0-x.7.z.92": {Major: 999999999, Pre: "x.7.z.92"},
	}
	for in, want := range good {
		t.Run(in, func(t *testing.T) {
			got, err := ParseSemver(in)
			if err != nil || got != want {
				t.Fatalf("ParseSemver = %+v, %v; want %+v", got, err, want)
			}
		})
	}
	for _, in := range []string{"", "1", "1.2", "v1.2.3", "01.2.3", "1.02.3", "1.2.03", "1.2.3-", "1.2.3+", "1.2.3-01",
		"1.2.3-a..b", "1.2.3-a.", "1.2.3-a_b", "1.2.3+a..b", " 1.2.3", "1.2.3 ", "1.2.3.4", "-1.2.3", "1.2.x",
		"99999999999999999999.0.0"} {
		t.Run("bad "+in, func(t *testing.T) {
			if v, err := ParseSemver(in); err == nil {
				t.Fatalf("ParseSemver(%q) = %+v, want error", in, v)
			}
		})
	}
}

func TestSemverCompare(t *testing.T) {
	// The precedence example of SemVer 2.0 §11, in increasing order.
	order := []string{"1.0.0-alpha", "1.0.0-alpha.1", "1.0.0-alpha.beta", "1.0.0-beta", "1.0.0-beta.2",
		"1.0.0-beta.11", "1.0.0-rc.1", "1.0.0", "1.0.1", "1.1.0", "2.0.0", "10.0.0"}
	for i := range order {
		for j := range order {
			a, _ := ParseSemver(order[i])
			b, _ := ParseSemver(order[j])
			want := 0
			if i < j {
				want = -1
			} else if i > j {
				want = 1
			}
			if got := a.Compare(b); got != want {
				t.Errorf("Compare(%s, %s) = %d, want %d", order[i], order[j], got, want)
			}
		}
	}
	a, _ := ParseSemver("1.0.0+a")
	b, _ := ParseSemver("1.0.0+b")
	if a.Compare(b) != 0 {
		t.Error("build metadata must not affect precedence")
	}
}
