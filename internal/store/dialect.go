package store

import (
	"errors"
	"strconv"
	"strings"

	"github.com/jackc/pgx/v5/pgconn"
	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"
)

// dialect holds everything that differs between SQLite and PostgreSQL, so the
// rest of the package writes one SQL with '?' placeholders.
type dialect struct {
	name string
	// jsonType is the column type of JSON documents. PostgreSQL's json (not
	// jsonb) keeps the text byte for byte, so values read back compare equal
	// to what was written.
	jsonType string
}

var (
	sqliteDialect   = dialect{name: "sqlite", jsonType: "TEXT"}
	postgresDialect = dialect{name: "postgres", jsonType: "JSON"}
)

func (d dialect) postgres() bool { return d.name == "postgres" }

// nowMillis is an SQL expression of the database's clock in Unix
// milliseconds. Leases are timed by it so that instances whose own clocks
// disagree still agree on when a lease expires.
func (d dialect) nowMillis() string {
	if d.postgres() {
		return "CAST(EXTRACT(EPOCH FROM clock_timestamp()) * 1000 AS BIGINT)"
	}
	return "CAST(unixepoch('subsec') * 1000 AS INTEGER)"
}

// forShare is the clause that keeps a row read in a transaction from being
// changed until the transaction ends. SQLite needs none: a write
// transaction holds the whole database.
func (d dialect) forShare() string {
	if d.postgres() {
		return " FOR SHARE"
	}
	return ""
}

// rebind rewrites '?' placeholders as $1, $2… for PostgreSQL. The package's
// queries never contain '?' inside string literals, so a plain scan is enough.
func (d dialect) rebind(q string) string {
	if !d.postgres() || !strings.Contains(q, "?") {
		return q
	}
	var b strings.Builder
	b.Grow(len(q) + 16)
	n := 0
	for i := 0; i < len(q); i++ {
		if q[i] == '?' {
			n++
			b.WriteByte('$')
			b.WriteString(strconv.Itoa(n))
			continue
		}
		b.WriteByte(q[i])
	}
	return b.String()
}

// schema replaces the dialect tokens of a migration statement.
func (d dialect) schema(stmt string) string {
	return strings.ReplaceAll(stmt, "{{json}}", d.jsonType)
}

// isRetryable reports whether a transaction failed only because of another
// writer (SQLite BUSY/LOCKED, PostgreSQL serialization failure or deadlock)
// and may succeed when run again.
func (d dialect) isRetryable(err error) bool {
	var se *sqlite.Error
	if errors.As(err, &se) {
		c := se.Code() & 0xff
		return c == sqlite3.SQLITE_BUSY || c == sqlite3.SQLITE_LOCKED
	}
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		return pe.Code == "40001" || pe.Code == "40P01"
	}
	return false
}

// isUnique reports a unique or primary key violation.
func (d dialect) isUnique(err error) bool {
	var se *sqlite.Error
	if errors.As(err, &se) {
		return se.Code() == sqlite3.SQLITE_CONSTRAINT_UNIQUE || se.Code() == sqlite3.SQLITE_CONSTRAINT_PRIMARYKEY
	}
	var pe *pgconn.PgError
	return errors.As(err, &pe) && pe.Code == "23505"
}

// isForeignKey reports a foreign key violation.
func (d dialect) isForeignKey(err error) bool {
	var se *sqlite.Error
	if errors.As(err, &se) {
		return se.Code() == sqlite3.SQLITE_CONSTRAINT_FOREIGNKEY
	}
	var pe *pgconn.PgError
	return errors.As(err, &pe) && pe.Code == "23503"
}
