package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/flagops/flagops/internal/domain"
	"github.com/flagops/flagops/internal/errs"
)

// Leases are the persistence of internal/leader: one row per lease, taken
// and renewed by single statements timed by the database's clock, and the
// fence that every write made under a domain.Fence checks inside its own
// transaction. The store decides nothing about leadership; it only makes
// each of these steps atomic.

// Lease is the stored state of one lease.
type Lease struct {
	Name    string
	Holder  string
	Term    int64
	Expires time.Time // by the database's clock; zero when given up
}

// AcquireLease takes the lease name for holder for ttl when it is free (never
// taken, given up, or expired by the database's clock), and returns the new
// term, one more than the last. ok is false, with no error, while another
// holder's lease runs.
func (s *Store) AcquireLease(ctx context.Context, name, holder string, ttl time.Duration) (term int64, ok bool, err error) {
	now := s.d.nowMillis()
	err = s.queryRow(ctx, `INSERT INTO leader_leases (name, holder, term, expires_ms, acquired_ms)
		VALUES (?, ?, 1, `+now+` + ?, `+now+`)
		ON CONFLICT (name) DO UPDATE SET holder = excluded.holder, term = leader_leases.term + 1,
			expires_ms = excluded.expires_ms, acquired_ms = excluded.acquired_ms
		WHERE leader_leases.expires_ms <= `+now+`
		RETURNING term`, name, holder, ttl.Milliseconds()).Scan(&term)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, false, nil
	}
	if err != nil {
		return 0, false, fmt.Errorf("acquire lease %s: %w", name, err)
	}
	return term, true, nil
}

// RenewLease extends holder's lease at term to ttl from now, and reports
// false when the lease is no longer holder's at that term (another instance
// took it). A lease that expired but that nobody took is renewed: no other
// instance acted under a newer term meanwhile.
func (s *Store) RenewLease(ctx context.Context, name, holder string, term int64, ttl time.Duration) (bool, error) {
	res, err := s.db.ExecContext(ctx, s.d.rebind("UPDATE leader_leases SET expires_ms = "+s.d.nowMillis()+" + ? WHERE name = ? AND holder = ? AND term = ?"),
		ttl.Milliseconds(), name, holder, term)
	if err != nil {
		return false, fmt.Errorf("renew lease %s: %w", name, err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return false, fmt.Errorf("renew lease %s: %w", name, err)
	}
	return n == 1, nil
}

// ReleaseLease gives up holder's lease at term, so that another instance
// takes it at its next try instead of after the expiry. A lease no longer
// holder's is left alone.
func (s *Store) ReleaseLease(ctx context.Context, name, holder string, term int64) error {
	if _, err := s.db.ExecContext(ctx, s.d.rebind("UPDATE leader_leases SET expires_ms = 0 WHERE name = ? AND holder = ? AND term = ?"),
		name, holder, term); err != nil {
		return fmt.Errorf("release lease %s: %w", name, err)
	}
	return nil
}

// GetLease returns the stored state of a lease; ok is false when it was
// never taken.
func (s *Store) GetLease(ctx context.Context, name string) (l Lease, ok bool, err error) {
	var expires int64
	err = s.queryRow(ctx, "SELECT name, holder, term, expires_ms FROM leader_leases WHERE name = ?", name).Scan(&l.Name, &l.Holder, &l.Term, &expires)
	if errors.Is(err, sql.ErrNoRows) {
		return l, false, nil
	}
	if err != nil {
		return l, false, fmt.Errorf("read lease %s: %w", name, err)
	}
	if expires > 0 {
		l.Expires = time.UnixMilli(expires).UTC()
	}
	return l, true, nil
}

// CheckFence checks, in a transaction of its own, that the term of the
// fence ctx carries is still its lease's: a leader calls it before an action
// the store cannot fence itself (a webhook POST, a git push). Without a
// fence it returns nil.
func (s *Store) CheckFence(ctx context.Context) error {
	_, err := s.fenced(ctx, func(sqlExecQuerier) (int64, error) { return 0, nil })
	return err
}

// sqlExecQuerier is what fenced writes need from *sql.DB and *sql.Tx alike.
type sqlExecQuerier interface {
	sqlQuerier
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
}

// fenced runs fn, a write outside the change log (a cursor, a delivery
// record): directly on the database when ctx carries no fence, else in a
// transaction that first checks the fence. It returns what fn returns.
func (s *Store) fenced(ctx context.Context, fn func(x sqlExecQuerier) (int64, error)) (int64, error) {
	f, ok := domain.FenceFrom(ctx)
	if !ok {
		return fn(s.db)
	}
	if err := f.Wait(ctx); err != nil {
		return 0, err
	}
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return 0, fmt.Errorf("begin: %w", err)
	}
	defer tx.Rollback()
	if err := checkFence(ctx, reader{d: s.d, x: tx}, f); err != nil {
		return 0, err
	}
	n, err := fn(tx)
	if err != nil {
		return 0, err
	}
	if err := tx.Commit(); err != nil {
		return 0, fmt.Errorf("commit: %w", err)
	}
	return n, nil
}

// checkFence refuses, with domain.ErrStaleTerm, a transaction whose fence's
// term is no longer its lease's. On PostgreSQL the lease row stays share
// locked until the transaction ends, so no other instance can take the lease
// between this check and the commit: every fenced write commits while its
// term is current. On SQLite the write transaction holds the database.
func checkFence(ctx context.Context, r reader, f domain.Fence) error {
	name, term := f.Term()
	var cur int64
	err := r.queryRow(ctx, "SELECT term FROM leader_leases WHERE name = ?"+r.d.forShare(), name).Scan(&cur)
	if err != nil && !errors.Is(err, sql.ErrNoRows) {
		return fmt.Errorf("check lease %s: %w", name, err)
	}
	if cur != term {
		f.Refused()
		return fmt.Errorf("%w: lease %s is at term %d, this instance acts on term %d: %w",
			domain.ErrStaleTerm, name, cur, term, errs.FailedPrecondition)
	}
	return nil
}
