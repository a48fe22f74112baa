package store

import (
	"context"

	"github.com/flagops/flagops/internal/domain"
)

// SeedDeployedForBench writes deployed-version rows directly, without change
// entries, so that benchmarks can build 100,000 deployments in seconds.
// Tests of behaviour use ReportDeployed. It then refreshes the planner's
// statistics, as autovacuum (PostgreSQL) or a periodic ANALYZE (SQLite)
// would on a live system; without them PostgreSQL plans the drift query for
// empty tables and runs it as nested loops (seconds instead of milliseconds).
func (s *Store) SeedDeployedForBench(ctx context.Context, ws string, rows []domain.DeployedVersion) error {
	defer s.db.ExecContext(ctx, "ANALYZE")
	_, err := s.write(ctx, func(t *wtx) error {
		vals := make([][]any, len(rows))
		for i, r := range rows {
			vals[i] = []any{ws, r.Project, r.Target, r.Version, r.Status, "", t.rev, t.now.UnixNano(), t.now.UnixNano()}
		}
		if err := t.insertRows(ctx, "deployed_versions", []string{"workspace", "project", "target", "version", "status", "message", "revision", "since", "reported_at"}, vals, ""); err != nil {
			return err
		}
		return t.record(ws, domain.KindDeployedVersion, "bench", domain.OpCreate, nil, map[string]int{"rows": len(rows)})
	})
	return err
}

// ExecRaw runs one statement outside the store's rules, for tests that
// tamper with stored rows.
func (s *Store) ExecRaw(ctx context.Context, q string, args ...any) error {
	_, err := s.db.ExecContext(ctx, s.d.rebind(q), args...)
	return err
}

// QueryString reads one string column of one row, for tampering tests.
func (s *Store) QueryString(ctx context.Context, q string, args ...any) (string, error) {
	var v string
	err := s.db.QueryRowContext(ctx, s.d.rebind(q), args...).Scan(&v)
	return v, err
}
