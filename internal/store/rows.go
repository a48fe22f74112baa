package store

import (
	"context"
	"database/sql"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"github.com/flagops/flagops/internal/domain"
	"github.com/flagops/flagops/internal/errs"
)

// sqlQuerier is what reads need from *sql.DB and *sql.Tx alike.
type sqlQuerier interface {
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

// reader runs '?' queries on a database or inside a transaction.
type reader struct {
	d dialect
	x sqlQuerier
}

func (r reader) query(ctx context.Context, q string, args ...any) (*sql.Rows, error) {
	return r.x.QueryContext(ctx, r.d.rebind(q), args...)
}

func (r reader) queryRow(ctx context.Context, q string, args ...any) *sql.Row {
	return r.x.QueryRowContext(ctx, r.d.rebind(q), args...)
}

func (s *Store) r() reader { return reader{d: s.d, x: s.db} }
func (t *wtx) r() reader   { return reader{d: t.d, x: t.tx} }

// strings queries one column of strings.
func (r reader) strings(ctx context.Context, q string, args ...any) ([]string, error) {
	rows, err := r.query(ctx, q, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var v string
		if err := rows.Scan(&v); err != nil {
			return nil, err
		}
		out = append(out, v)
	}
	return out, rows.Err()
}

// metaCols are the columns every catalog table shares, in scanMeta order.
const metaCols = "name, description, labels, revision, created_at, updated_at"

type scanner interface{ Scan(dest ...any) error }

// scanMeta scans metaCols followed by extra destinations.
func scanMeta(sc scanner, m *domain.Meta, extra ...any) error {
	var labels []byte
	var created, updated int64
	dest := append([]any{&m.Name, &m.Description, &labels, &m.Revision, &created, &updated}, extra...)
	if err := sc.Scan(dest...); err != nil {
		return err
	}
	m.CreatedAt, m.UpdatedAt = fromNanos(created), fromNanos(updated)
	m.Labels = nil
	if len(labels) > 0 && string(labels) != "{}" {
		if err := json.Unmarshal(labels, &m.Labels); err != nil {
			return fmt.Errorf("labels of %s: %w", errs.Quote(m.Name), err)
		}
	}
	return nil
}

func labelsJSON(l map[string]string) (string, error) {
	if len(l) == 0 {
		return "{}", nil
	}
	b, err := json.Marshal(l)
	return string(b), err
}

// loadMeta reads one catalog row; ok is false when it does not exist.
// Workspaces have no workspace column: pass table "workspaces" and ws "".
func loadMeta(ctx context.Context, r reader, table, ws, name, extraCols string, extra ...any) (m domain.Meta, ok bool, err error) {
	cols := metaCols
	if extraCols != "" {
		cols += ", " + extraCols
	}
	var row *sql.Row
	if table == "workspaces" {
		row = r.queryRow(ctx, "SELECT "+cols+" FROM workspaces WHERE name = ?", name)
	} else {
		row = r.queryRow(ctx, "SELECT "+cols+" FROM "+table+" WHERE workspace = ? AND name = ?", ws, name)
		m.Workspace = ws
	}
	if err := scanMeta(row, &m, extra...); err != nil {
		if errors.Is(err, sql.ErrNoRows) {
			return domain.Meta{}, false, nil
		}
		return domain.Meta{}, false, err
	}
	return m, true, nil
}

// saveMeta inserts (create) or updates a catalog row with extra columns.
func (t *wtx) saveMeta(ctx context.Context, table string, m *domain.Meta, create bool, extraCols []string, extraVals ...any) error {
	labels, err := labelsJSON(m.Labels)
	if err != nil {
		return err
	}
	if create {
		cols := []string{"name", "description", "labels", "revision", "created_at", "updated_at"}
		vals := []any{m.Name, m.Description, labels, m.Revision, m.CreatedAt.UnixNano(), m.UpdatedAt.UnixNano()}
		if table != "workspaces" {
			cols, vals = append(cols, "workspace"), append(vals, m.Workspace)
		}
		cols, vals = append(cols, extraCols...), append(vals, extraVals...)
		return t.insertRows(ctx, table, cols, [][]any{vals}, "")
	}
	set := "description = ?, labels = ?, revision = ?, updated_at = ?"
	vals := []any{m.Description, labels, m.Revision, m.UpdatedAt.UnixNano()}
	for i, c := range extraCols {
		set += ", " + c + " = ?"
		vals = append(vals, extraVals[i])
	}
	where := " WHERE name = ?"
	vals = append(vals, m.Name)
	if table != "workspaces" {
		where += " AND workspace = ?"
		vals = append(vals, m.Workspace)
	}
	if _, err := t.exec(ctx, "UPDATE "+table+" SET "+set+where, vals...); err != nil {
		return fmt.Errorf("update %s: %w", table, err)
	}
	return nil
}

// pageOf reads a page request: its size and the name to continue after.
func pageOf(p domain.Page) (size int, after string, err error) {
	if p.Token != "" {
		raw, err := base64.RawURLEncoding.DecodeString(p.Token)
		if err != nil {
			return 0, "", errs.Field("page.token", "is not a page token of this list")
		}
		after = string(raw)
	}
	return clampLimit(p.Size), after, nil
}

func pageToken(last string) string { return base64.RawURLEncoding.EncodeToString([]byte(last)) }

// inList returns "(?, ?, …)" for n values.
func inList(n int) string {
	return "(" + strings.TrimSuffix(strings.Repeat("?, ", n), ", ") + ")"
}

func anys(ss []string) []any {
	out := make([]any, len(ss))
	for i, s := range ss {
		out[i] = s
	}
	return out
}
