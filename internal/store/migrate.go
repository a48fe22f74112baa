package store

import (
	"context"
	"database/sql"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"sort"
	"strconv"
	"strings"

	"github.com/flagops/flagops/internal/domain"
	"github.com/flagops/flagops/internal/errs"
)

// migrationFiles holds the migrations, named NNNN_description.sql. One file
// serves both dialects: dialect tokens such as {{json}} are replaced by
// dialect.schema, so the two schemas cannot drift apart.
//
//go:embed migrations/*.sql
var migrationFiles embed.FS

type migration struct {
	version    int
	name       string
	statements []string
}

// migrations returns the embedded migrations in version order.
func migrations() ([]migration, error) {
	entries, err := fs.ReadDir(migrationFiles, "migrations")
	if err != nil {
		return nil, fmt.Errorf("read migrations: %w", err)
	}
	var out []migration
	for _, e := range entries {
		num, _, ok := strings.Cut(e.Name(), "_")
		v, err := strconv.Atoi(num)
		if !ok || err != nil {
			return nil, fmt.Errorf("migration %s: name must start with a version number", e.Name())
		}
		body, err := migrationFiles.ReadFile("migrations/" + e.Name())
		if err != nil {
			return nil, fmt.Errorf("read migration %s: %w", e.Name(), err)
		}
		out = append(out, migration{version: v, name: e.Name(), statements: splitStatements(string(body))})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].version < out[j].version })
	for i := 1; i < len(out); i++ {
		// Two files of one version (branches that each added the next
		// migration) would make Migrate skip the second one silently.
		if out[i].version == out[i-1].version {
			return nil, fmt.Errorf("migrations %s and %s have the same version %d: renumber one", out[i-1].name, out[i].name, out[i].version)
		}
	}
	return out, nil
}

// splitStatements splits a migration at semicolons that end a line and drops
// comment-only lines; migrations keep one statement per semicolon.
func splitStatements(body string) []string {
	var out []string
	var cur strings.Builder
	for _, line := range strings.Split(body, "\n") {
		if strings.HasPrefix(strings.TrimSpace(line), "--") {
			continue
		}
		cur.WriteString(line + "\n")
		if strings.HasSuffix(strings.TrimSpace(line), ";") {
			if st := strings.TrimSpace(cur.String()); st != ";" {
				out = append(out, strings.TrimSuffix(st, ";"))
			}
			cur.Reset()
		}
	}
	if st := strings.TrimSpace(cur.String()); st != "" {
		out = append(out, st)
	}
	return out
}

// migrateLockID is the PostgreSQL advisory lock key that serialises Migrate
// across instances starting together.
const migrateLockID = 7_361_523_001

const createMigrationsTable = `CREATE TABLE IF NOT EXISTS schema_migrations (
	version    INTEGER PRIMARY KEY,
	name       TEXT NOT NULL,
	applied_at BIGINT NOT NULL
)`

// Migrate applies every pending embedded migration and ensures the default
// workspace exists. It returns how many migrations it applied.
func (s *Store) Migrate(ctx context.Context) (int, error) {
	all, err := migrations()
	if err != nil {
		return 0, err
	}
	conn, err := s.db.Conn(ctx)
	if err != nil {
		return 0, fmt.Errorf("migrate: %w", err)
	}
	defer conn.Close()
	if s.d.postgres() {
		if _, err := conn.ExecContext(ctx, "SELECT pg_advisory_lock($1)", int64(migrateLockID)); err != nil {
			return 0, fmt.Errorf("migrate: take advisory lock: %w", err)
		}
		defer conn.ExecContext(context.WithoutCancel(ctx), "SELECT pg_advisory_unlock($1)", int64(migrateLockID))
	}
	if _, err := conn.ExecContext(ctx, createMigrationsTable); err != nil {
		return 0, fmt.Errorf("migrate: create schema_migrations: %w", err)
	}
	applied := 0
	for _, m := range all {
		done, err := s.applyMigration(ctx, conn, m)
		if err != nil {
			return applied, err
		}
		if done {
			applied++
		}
	}
	if err := s.ensureDefaultWorkspace(ctx); err != nil {
		return applied, err
	}
	return applied, nil
}

// applyMigration runs m in its own transaction unless it is already applied
// (checked inside the transaction, so a racing SQLite process is harmless).
func (s *Store) applyMigration(ctx context.Context, conn *sql.Conn, m migration) (bool, error) {
	tx, err := conn.BeginTx(ctx, nil)
	if err != nil {
		return false, fmt.Errorf("migration %s: begin: %w", m.name, err)
	}
	defer tx.Rollback()
	var n int
	if err := tx.QueryRowContext(ctx, s.d.rebind("SELECT COUNT(*) FROM schema_migrations WHERE version = ?"), m.version).Scan(&n); err != nil {
		return false, fmt.Errorf("migration %s: %w", m.name, err)
	}
	if n > 0 {
		return false, nil
	}
	for i, st := range m.statements {
		if _, err := tx.ExecContext(ctx, s.d.schema(st)); err != nil {
			return false, fmt.Errorf("migration %s statement %d: %w", m.name, i+1, err)
		}
	}
	if _, err := tx.ExecContext(ctx, s.d.rebind("INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)"),
		m.version, m.name, now().UnixNano()); err != nil {
		return false, fmt.Errorf("migration %s: record: %w", m.name, err)
	}
	if err := tx.Commit(); err != nil {
		return false, fmt.Errorf("migration %s: commit: %w", m.name, err)
	}
	s.log.Info("store: applied migration", "dialect", s.d.name, "migration", m.name)
	return true, nil
}

func (s *Store) ensureDefaultWorkspace(ctx context.Context) error {
	zero := int64(0)
	_, _, err := s.PutWorkspace(ctx, domain.Workspace{Meta: domain.Meta{Name: domain.DefaultWorkspace}}, &zero)
	if err != nil && !errors.Is(err, errs.Conflict) {
		return fmt.Errorf("migrate: ensure workspace %s: %w", errs.Quote(domain.DefaultWorkspace), err)
	}
	return nil
}

// MigrationStatus returns the applied and the latest known migration versions.
func (s *Store) MigrationStatus(ctx context.Context) (applied, latest int, err error) {
	all, err := migrations()
	if err != nil {
		return 0, 0, err
	}
	if len(all) > 0 {
		latest = all[len(all)-1].version
	}
	if _, err := s.db.ExecContext(ctx, createMigrationsTable); err != nil {
		return 0, latest, fmt.Errorf("migration status: %w", err)
	}
	var v sql.NullInt64
	if err := s.queryRow(ctx, "SELECT MAX(version) FROM schema_migrations").Scan(&v); err != nil {
		return 0, latest, fmt.Errorf("migration status: %w", err)
	}
	return int(v.Int64), latest, nil
}
