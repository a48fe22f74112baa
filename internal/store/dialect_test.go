package store

import (
	"strings"
	"testing"
)

func TestRebind(t *testing.T) {
	cases := []struct{ in, sqlite, postgres string }{
		{"SELECT 1", "SELECT 1", "SELECT 1"},
		{"a = ? AND b IN (?, ?)", "a = ? AND b IN (?, ?)", "a = $1 AND b IN ($2, $3)"},
	}
	for _, c := range cases {
		if got := sqliteDialect.rebind(c.in); got != c.sqlite {
			t.Errorf("sqlite rebind(%q) = %q", c.in, got)
		}
		if got := postgresDialect.rebind(c.in); got != c.postgres {
			t.Errorf("postgres rebind(%q) = %q", c.in, got)
		}
	}
}

// TestMigrationParity checks that both dialects get the same statements with
// every dialect token replaced, so the schemas cannot drift apart.
func TestMigrationParity(t *testing.T) {
	ms, err := migrations()
	if err != nil {
		t.Fatal(err)
	}
	// Versions strictly increase. They need not be contiguous on one
	// branch: parallel branches reserve their numbers (0002, 0003, 0004), and
	// Migrate applies any version not yet recorded, whatever its place.
	for i, m := range ms {
		// Versions are unique and increasing. They need not be contiguous:
		// numbers are handed out to branches developed in parallel (0002
		// flags, 0003 access and secrets, 0004 versions), so a branch may
		// lack a number another one holds until they are merged. Each
		// version is applied on its own, so a gap filled later still applies.
		if m.version < 1 || (i > 0 && m.version <= ms[i-1].version) {
			t.Fatalf("migration %s has version %d after %d; versions must be unique and increasing", m.name, m.version, ms[max(i-1, 0)].version)
		}
		for j, st := range m.statements {
			a, b := sqliteDialect.schema(st), postgresDialect.schema(st)
			if strings.Contains(a, "{{") || strings.Contains(b, "{{") {
				t.Errorf("%s statement %d keeps an unknown token", m.name, j+1)
			}
			if strings.Count(a, "\n") != strings.Count(b, "\n") {
				t.Errorf("%s statement %d differs in shape between dialects", m.name, j+1)
			}
		}
	}
}
