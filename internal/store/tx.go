package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/flagops/flagops/internal/domain"
	"github.com/flagops/flagops/internal/errs"
)

// wtx is one write transaction: it holds the revision taken from the counter
// and the change entries the write appends, flushed just before commit.
type wtx struct {
	d       dialect
	tx      *sql.Tx
	rev     int64
	now     time.Time
	origin  domain.Origin
	changes []domain.Change
}

func (t *wtx) exec(ctx context.Context, q string, args ...any) (sql.Result, error) {
	return t.tx.ExecContext(ctx, t.d.rebind(q), args...)
}

func (t *wtx) query(ctx context.Context, q string, args ...any) (*sql.Rows, error) {
	return t.tx.QueryContext(ctx, t.d.rebind(q), args...)
}

func (t *wtx) queryRow(ctx context.Context, q string, args ...any) *sql.Row {
	return t.tx.QueryRowContext(ctx, t.d.rebind(q), args...)
}

// record appends a change entry; before and after are marshalled with
// encoding/json, nil meaning the object did not exist on that side.
func (t *wtx) record(ws, kind, key string, op domain.Op, before, after any) error {
	b, err := marshalOrNil(before)
	if err != nil {
		return err
	}
	a, err := marshalOrNil(after)
	if err != nil {
		return err
	}
	t.recordRaw(ws, kind, key, op, b, a)
	return nil
}

func (t *wtx) recordRaw(ws, kind, key string, op domain.Op, before, after json.RawMessage) {
	t.changes = append(t.changes, domain.Change{
		Revision: t.rev, Seq: len(t.changes), Time: t.now,
		Actor: t.origin.Actor, RequestID: t.origin.RequestID,
		Workspace: ws, Kind: kind, Key: key, Op: op, Before: before, After: after,
	})
}

func marshalOrNil(v any) (json.RawMessage, error) {
	if v == nil {
		return nil, nil
	}
	if raw, ok := v.(json.RawMessage); ok {
		return raw, nil
	}
	b, err := json.Marshal(v)
	if err != nil {
		return nil, fmt.Errorf("marshal change: %w", err)
	}
	return b, nil
}

// maxTxAttempts bounds the retries of a write that lost a race with another
// writer (SQLite BUSY after the busy timeout, PostgreSQL 40001/40P01).
const maxTxAttempts = 5

// write runs fn in one write transaction. It returns the committed revision,
// or 0 when fn recorded no change (the transaction is then rolled back, so
// the counter does not move and nothing is appended).
//
// When ctx carries a domain.Fence, the transaction checks it right after
// taking the revision and fails with domain.ErrStaleTerm when the lease has
// moved on: a leader's writes commit only while its term is current.
func (s *Store) write(ctx context.Context, fn func(t *wtx) error) (int64, error) {
	return s.run(ctx, fn, false)
}

// run runs fn in one write transaction, retrying it when it lost a race with
// another writer; with dry set it always rolls back.
func (s *Store) run(ctx context.Context, fn func(t *wtx) error, dry bool) (int64, error) {
	if fence, fenced := domain.FenceFrom(ctx); fenced {
		if err := fence.Wait(ctx); err != nil {
			return 0, err
		}
	}
	var err error
	for attempt := 1; attempt <= maxTxAttempts; attempt++ {
		var rev int64
		rev, err = s.writeOnce(ctx, fn, dry)
		if err == nil {
			if rev > 0 {
				s.committed(rev)
			}
			return rev, nil
		}
		if !s.d.isRetryable(err) || ctx.Err() != nil {
			return 0, err
		}
		time.Sleep(time.Duration(attempt*attempt) * 5 * time.Millisecond)
	}
	return 0, fmt.Errorf("write gave up after %d attempts: %w", maxTxAttempts, err)
}

func (s *Store) writeOnce(ctx context.Context, fn func(t *wtx) error, dry bool) (rev int64, err error) {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return 0, fmt.Errorf("begin: %w", err)
	}
	defer func() {
		if err != nil || rev == 0 {
			tx.Rollback()
		}
	}()
	t := &wtx{d: s.d, tx: tx, now: now(), origin: domain.OriginFrom(ctx)}
	// Taking the revision first locks the counter row for the whole
	// transaction: every read fn makes afterwards sees all earlier commits,
	// and commits happen in revision order.
	if err := t.queryRow(ctx, "UPDATE revision_counter SET rev = rev + 1 WHERE id = 1 RETURNING rev").Scan(&t.rev); err != nil {
		return 0, fmt.Errorf("take revision: %w", err)
	}
	if f, ok := domain.FenceFrom(ctx); ok {
		if err := checkFence(ctx, t.r(), f); err != nil {
			return 0, err
		}
	}
	if err := fn(t); err != nil {
		return 0, err
	}
	if dry || len(t.changes) == 0 {
		return 0, nil
	}
	if err := t.flushChanges(ctx); err != nil {
		return 0, err
	}
	if s.d.postgres() {
		if _, err := t.exec(ctx, "SELECT pg_notify(?, ?)", notifyChannel, strconv.FormatInt(t.rev, 10)); err != nil {
			return 0, fmt.Errorf("notify: %w", err)
		}
	}
	if err := tx.Commit(); err != nil {
		return 0, fmt.Errorf("commit: %w", err)
	}
	return t.rev, nil
}

// now returns the current time in the precision and location the store
// reads back (nanoseconds, UTC), so written and read objects compare equal.
func now() time.Time { return time.Unix(0, time.Now().UnixNano()).UTC() }

func fromNanos(n int64) time.Time { return time.Unix(0, n).UTC() }

// chunkRows is how many rows one multi-row INSERT carries; it keeps the
// parameter count well under SQLite's and PostgreSQL's limits.
const chunkRows = 500

// insertRows inserts rows (each len(cols) values) with multi-row INSERT
// statements of up to chunkRows rows; suffix follows the VALUES list (an
// ON CONFLICT clause, for example).
func (t *wtx) insertRows(ctx context.Context, table string, cols []string, rows [][]any, suffix string) error {
	for len(rows) > 0 {
		n := min(len(rows), chunkRows)
		var b strings.Builder
		b.WriteString("INSERT INTO " + table + " (" + strings.Join(cols, ", ") + ") VALUES ")
		tuple := "(" + strings.TrimSuffix(strings.Repeat("?, ", len(cols)), ", ") + ")"
		args := make([]any, 0, n*len(cols))
		for i, r := range rows[:n] {
			if i > 0 {
				b.WriteString(", ")
			}
			b.WriteString(tuple)
			args = append(args, r...)
		}
		b.WriteString(" " + suffix)
		if _, err := t.exec(ctx, b.String(), args...); err != nil {
			return fmt.Errorf("insert into %s: %w", table, err)
		}
		rows = rows[n:]
	}
	return nil
}

var changeCols = []string{"revision", "seq", "time", "actor", "request_id", "workspace", "kind", "key", "op", "before", "after"}

func (t *wtx) flushChanges(ctx context.Context) error {
	rows := make([][]any, len(t.changes))
	for i, c := range t.changes {
		rows[i] = []any{c.Revision, c.Seq, c.Time.UnixNano(), c.Actor, c.RequestID, c.Workspace,
			c.Kind, c.Key, string(c.Op), jsonArg(c.Before), jsonArg(c.After)}
	}
	if err := t.insertRows(ctx, "changes", changeCols, rows, ""); err != nil {
		return fmt.Errorf("append changes: %w", err)
	}
	return nil
}

// jsonArg passes a JSON document as text, or NULL when absent.
func jsonArg(b json.RawMessage) any {
	if b == nil {
		return nil
	}
	return string(b)
}

// checkExpected applies the expected-revision rule of every write: nil
// passes, 0 requires absence (current == 0), anything else equality.
func checkExpected(what string, expected *int64, current int64) error {
	if expected == nil || *expected == current {
		return nil
	}
	if *expected == 0 {
		return errs.New(errs.Conflict, "%s already exists at revision %d", what, current)
	}
	if current == 0 {
		return errs.New(errs.Conflict, "%s does not exist (expected revision %d)", what, *expected)
	}
	return errs.New(errs.Conflict, "%s is at revision %d, not the expected %d", what, current, *expected)
}

// mapConstraint turns a constraint violation the checks before it did not
// catch (a concurrent change, a rule enforced only by the schema) into an
// error of the right kind, keeping the driver error in the chain.
func (s *Store) mapConstraint(err error, what string) error { return mapConstraint(s.d, err, what) }

func (t *wtx) mapConstraint(err error, what string) error { return mapConstraint(t.d, err, what) }

func mapConstraint(d dialect, err error, what string) error {
	switch {
	case err == nil:
		return nil
	case d.isUnique(err):
		return fmt.Errorf("%s: %w", what, errors.Join(errs.New(errs.AlreadyExists, "%s", what), err))
	case d.isForeignKey(err):
		return fmt.Errorf("%s: %w", what, errors.Join(errs.New(errs.FailedPrecondition, "%s refers to a missing object or is still referred to", what), err))
	}
	return fmt.Errorf("%s: %w", what, err)
}
