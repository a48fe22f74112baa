package store

import (
	"context"
	"database/sql"
	"encoding/base64"
	"fmt"
	"strconv"
	"strings"

	"github.com/flagops/flagops/internal/domain"
	"github.com/flagops/flagops/internal/errs"
)

// Limits of list and history queries.
const (
	defaultLimit = 100
	maxLimit     = 1000
)

func clampLimit(n int) int {
	switch {
	case n <= 0:
		return defaultLimit
	case n > maxLimit:
		return maxLimit
	}
	return n
}

const changeSelect = "SELECT revision, seq, time, actor, request_id, workspace, kind, key, op, before, after FROM changes"

func scanChanges(rows *sql.Rows) ([]domain.Change, error) {
	defer rows.Close()
	var out []domain.Change
	for rows.Next() {
		var c domain.Change
		var t int64
		var op string
		var before, after []byte
		if err := rows.Scan(&c.Revision, &c.Seq, &t, &c.Actor, &c.RequestID, &c.Workspace, &c.Kind, &c.Key, &op, &before, &after); err != nil {
			return nil, fmt.Errorf("scan change: %w", err)
		}
		c.Time, c.Op = fromNanos(t), domain.Op(op)
		if before != nil {
			c.Before = append([]byte(nil), before...)
		}
		if after != nil {
			c.After = append([]byte(nil), after...)
		}
		out = append(out, c)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("read changes: %w", err)
	}
	return out, nil
}

// CompactedRevision returns the highest revision removed by Compact (0 if
// none): ChangesSince(after) with after < CompactedRevision fails with
// errs.Compacted.
func (s *Store) CompactedRevision(ctx context.Context) (int64, error) {
	var rev int64
	if err := s.queryRow(ctx, "SELECT value FROM meta WHERE name = 'compacted_revision'").Scan(&rev); err != nil {
		return 0, fmt.Errorf("read compacted revision: %w", err)
	}
	return rev, nil
}

// Compact removes change entries with revision <= through. through is capped
// at the current revision, and the compacted revision never moves back.
func (s *Store) Compact(ctx context.Context, through int64) error {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("compact: begin: %w", err)
	}
	defer tx.Rollback()
	var cur, compacted int64
	if err := tx.QueryRowContext(ctx, "SELECT rev FROM revision_counter WHERE id = 1").Scan(&cur); err != nil {
		return fmt.Errorf("compact: %w", err)
	}
	if err := tx.QueryRowContext(ctx, "SELECT value FROM meta WHERE name = 'compacted_revision'").Scan(&compacted); err != nil {
		return fmt.Errorf("compact: %w", err)
	}
	through = min(through, cur)
	if through <= compacted {
		return nil
	}
	if _, err := tx.ExecContext(ctx, s.d.rebind("DELETE FROM changes WHERE revision <= ?"), through); err != nil {
		return fmt.Errorf("compact through %d: %w", through, err)
	}
	if _, err := tx.ExecContext(ctx, s.d.rebind("UPDATE meta SET value = ? WHERE name = 'compacted_revision'"), through); err != nil {
		return fmt.Errorf("compact through %d: %w", through, err)
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("compact through %d: commit: %w", through, err)
	}
	return nil
}

func (s *Store) checkCompacted(ctx context.Context, after int64) error {
	compacted, err := s.CompactedRevision(ctx)
	if err != nil {
		return err
	}
	if after < compacted {
		return errs.New(errs.Compacted, "revision %d is compacted; the oldest retained revision is %d", after, compacted+1)
	}
	return nil
}

// ChangesSince returns up to limit change entries with revision > after, in
// (revision, seq) order; it never splits a revision's entries across calls
// unless one revision alone exceeds limit.
//
// When one revision alone has more than limit entries, all of them are
// returned, so that a follower can always continue from the last revision it
// saw. limit defaults to 100 and is capped at 1000 (except for that case).
func (s *Store) ChangesSince(ctx context.Context, after int64, limit int) ([]domain.Change, error) {
	limit = clampLimit(limit)
	rows, err := s.query(ctx, changeSelect+" WHERE revision > ? ORDER BY revision, seq LIMIT ?", after, limit+1)
	if err != nil {
		return nil, fmt.Errorf("changes since %d: %w", after, err)
	}
	out, err := scanChanges(rows)
	if err != nil {
		return nil, fmt.Errorf("changes since %d: %w", after, err)
	}
	// Check compaction after reading: a Compact that ran before the read
	// (and may have removed entries it should have returned) is seen here.
	if err := s.checkCompacted(ctx, after); err != nil {
		return nil, err
	}
	if len(out) <= limit {
		return out, nil
	}
	last := out[limit-1].Revision
	if out[limit].Revision != last {
		return out[:limit], nil
	}
	// The page would split revision last: drop it, unless it is all there is.
	i := limit - 1
	for i >= 0 && out[i].Revision == last {
		i--
	}
	if i >= 0 {
		return out[:i+1], nil
	}
	rows, err = s.query(ctx, changeSelect+" WHERE revision = ? ORDER BY seq", last)
	if err != nil {
		return nil, fmt.Errorf("changes of revision %d: %w", last, err)
	}
	return scanChanges(rows)
}

// ListChanges answers history queries. The page token is opaque; it encodes
// the (revision, seq) of the last entry returned.
func (s *Store) ListChanges(ctx context.Context, q domain.ChangeQuery) ([]domain.Change, string, error) {
	var where []string
	var args []any
	add := func(cond string, a ...any) { where = append(where, cond); args = append(args, a...) }
	if q.Workspace != "" {
		add("workspace = ?", q.Workspace)
	}
	if q.Actor != "" {
		add("actor = ?", q.Actor)
	}
	if q.Kind != "" {
		add("kind = ?", q.Kind)
	}
	if q.Key != "" {
		add("key = ?", q.Key)
	}
	if q.KeyPrefix != "" {
		// substr rather than LIKE, so that '%' and '_' in a prefix mean
		// themselves whatever the collation.
		add("substr(key, 1, ?) = ?", len([]rune(q.KeyPrefix)), q.KeyPrefix)
	}
	if q.FromRevision > 0 {
		add("revision > ?", q.FromRevision)
	}
	if q.ToRevision > 0 {
		add("revision <= ?", q.ToRevision)
	}
	if !q.Since.IsZero() {
		add("time >= ?", q.Since.UnixNano())
	}
	if !q.Until.IsZero() {
		add("time < ?", q.Until.UnixNano())
	}
	if q.PageToken != "" {
		rev, seq, err := decodeChangeToken(q.PageToken)
		if err != nil {
			return nil, "", err
		}
		add("(revision > ? OR (revision = ? AND seq > ?))", rev, rev, seq)
	}
	limit := clampLimit(q.Limit)
	stmt := changeSelect
	if len(where) > 0 {
		stmt += " WHERE " + strings.Join(where, " AND ")
	}
	stmt += " ORDER BY revision, seq LIMIT ?"
	args = append(args, limit+1)
	rows, err := s.query(ctx, stmt, args...)
	if err != nil {
		return nil, "", fmt.Errorf("list changes: %w", err)
	}
	out, err := scanChanges(rows)
	if err != nil {
		return nil, "", fmt.Errorf("list changes: %w", err)
	}
	next := ""
	if len(out) > limit {
		out = out[:limit]
		last := out[limit-1]
		next = base64.RawURLEncoding.EncodeToString([]byte(strconv.FormatInt(last.Revision, 10) + ":" + strconv.Itoa(last.Seq)))
	}
	return out, next, nil
}

func decodeChangeToken(tok string) (int64, int, error) {
	bad := errs.Field("pageToken", "is not a page token of this query")
	raw, err := base64.RawURLEncoding.DecodeString(tok)
	if err != nil {
		return 0, 0, bad
	}
	r, sq, ok := strings.Cut(string(raw), ":")
	rev, err1 := strconv.ParseInt(r, 10, 64)
	seq, err2 := strconv.Atoi(sq)
	if !ok || err1 != nil || err2 != nil {
		return 0, 0, bad
	}
	return rev, seq, nil
}
