package store

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"

	"github.com/flagops/flagops/internal/domain"
	"github.com/flagops/flagops/internal/errs"
)

var factCols = []string{"workspace", "scope", "key", "value", "revision", "updated_at"}

const factUpsert = "ON CONFLICT (workspace, scope, key) DO UPDATE SET value = excluded.value, revision = excluded.revision, updated_at = excluded.updated_at"

// normalizeValues validates keys and compacts values; field paths start with prefix.
func normalizeValues(prefix string, values map[string]json.RawMessage) (map[string]json.RawMessage, error) {
	out := make(map[string]json.RawMessage, len(values))
	for _, k := range slices.Sorted(maps.Keys(values)) {
		field := prefix + "facts." + k
		if err := domain.ValidateFactKey(field, k); err != nil {
			return nil, err
		}
		v, err := domain.NormalizeFactValue(field, values[k])
		if err != nil {
			return nil, err
		}
		out[k] = v
	}
	return out, nil
}

func (r reader) scopeRevision(ctx context.Context, ws, scope string) (int64, error) {
	var rev int64
	err := r.queryRow(ctx, "SELECT revision FROM fact_scopes WHERE workspace = ? AND scope = ?", ws, scope).Scan(&rev)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("read facts revision of %s: %w", scope, err)
	}
	return rev, nil
}

// checkScope verifies the workspace and the objects of one scope.
func checkScope(ctx context.Context, r reader, ws string, sc domain.Scope) error {
	if err := requireWorkspace(ctx, r, ws); err != nil {
		return err
	}
	c, err := loadCatalog(ctx, r, ws, &sc)
	if err != nil {
		return err
	}
	return c.scopeError(sc)
}

// SetFacts sets keys of one scope (values already validated and compact). The
// scope's objects must exist (a deployment scope needs the deployment).
// expected compares with the scope's facts revision (see GetFacts). It
// returns the new revision, or the current one when nothing changed.
//
// A project-environment scope needs the environment to be one of the
// project's, as a deployment scope needs the deployment.
// "The current one" is the scope's facts revision, the value GetFacts
// returns and expected compares with. Values are validated and compacted
// again here, so a value equal to the stored one up to whitespace is no change.
func (s *Store) SetFacts(ctx context.Context, ws string, sc domain.Scope, values map[string]json.RawMessage, expected *int64) (int64, error) {
	var result int64
	_, err := s.Write(ctx, func(t *Tx) error {
		var err error
		result, err = t.SetFacts(ctx, ws, sc, values, expected)
		return err
	})
	return result, err
}

// SetFacts is Store.SetFacts inside t.
func (t *Tx) SetFacts(ctx context.Context, ws string, sc domain.Scope, values map[string]json.RawMessage, expected *int64) (int64, error) {
	if err := sc.Validate(); err != nil {
		return 0, err
	}
	values, err := normalizeValues("", values)
	if err != nil {
		return 0, err
	}
	result, err := t.w.setFacts(ctx, ws, sc, values, expected)
	if err != nil {
		return 0, fmt.Errorf("set facts of %s: %w", sc.String(), err)
	}
	return result, nil
}

func (t *wtx) setFacts(ctx context.Context, ws string, sc domain.Scope, values map[string]json.RawMessage, expected *int64) (int64, error) {
	scope := sc.String()
	var result int64
	r := t.r()
	if err := checkScope(ctx, r, ws, sc); err != nil {
		return 0, err
	}
	rev, err := r.scopeRevision(ctx, ws, scope)
	if err != nil {
		return 0, err
	}
	if err := checkExpected("facts of "+scope, expected, rev); err != nil {
		return 0, err
	}
	result = rev
	keys := slices.Sorted(maps.Keys(values))
	existing, err := r.factValues(ctx, ws, []string{scope}, keys)
	if err != nil {
		return 0, err
	}
	var rows [][]any
	for _, k := range keys {
		old, had := existing[scope][k]
		if had && bytes.Equal(old, values[k]) {
			continue
		}
		rows = append(rows, []any{ws, scope, k, string(values[k]), t.rev, t.now.UnixNano()})
		op, before := domain.OpCreate, json.RawMessage(nil)
		if had {
			op, before = domain.OpUpdate, old
		}
		t.recordRaw(ws, domain.KindFact, domain.FactChangeKey(sc, k), op, before, values[k])
	}
	if len(rows) == 0 {
		return result, nil
	}
	if err := t.insertRows(ctx, "facts", factCols, rows, factUpsert); err != nil {
		return 0, err
	}
	result = t.rev
	return result, t.bumpScopes(ctx, ws, []string{scope})
}

// factValues reads the stored values of scopes (and of keys, when given)
// as scope → key → value.
//
// A few scopes are read with an IN list. Many scopes (a bulk write) are read
// with one scan of the workspace's facts filtered here: long IN lists of
// parameters are compared row by row on PostgreSQL whenever the planner
// picks a sequential scan (as it does on freshly written tables), which made
// a 10,000-scope read take seconds.
func (r reader) factValues(ctx context.Context, ws string, scopes, keys []string) (map[string]map[string]json.RawMessage, error) {
	out := map[string]map[string]json.RawMessage{}
	var want map[string]bool
	chunks := [][]string{}
	if len(scopes) > chunkRows {
		want = make(map[string]bool, len(scopes))
		for _, sc := range scopes {
			want[sc] = true
		}
		chunks = append(chunks, nil)
	} else if len(scopes) > 0 {
		chunks = append(chunks, scopes)
	}
	for _, chunk := range chunks {
		q := "SELECT scope, key, value FROM facts WHERE workspace = ?"
		args := []any{ws}
		if chunk != nil {
			q += " AND scope IN " + inList(len(chunk))
			args = append(args, anys(chunk)...)
		}
		if len(keys) > 0 {
			q += " AND key IN " + inList(len(keys))
			args = append(args, anys(keys)...)
		}
		rows, err := r.query(ctx, q, args...)
		if err != nil {
			return nil, fmt.Errorf("read facts: %w", err)
		}
		for rows.Next() {
			var sc, k string
			var v []byte
			if err := rows.Scan(&sc, &k, &v); err != nil {
				rows.Close()
				return nil, fmt.Errorf("read facts: %w", err)
			}
			if want != nil && !want[sc] {
				continue
			}
			if out[sc] == nil {
				out[sc] = map[string]json.RawMessage{}
			}
			out[sc][k] = append(json.RawMessage(nil), v...)
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return nil, fmt.Errorf("read facts: %w", err)
		}
	}
	return out, nil
}

// UnsetFacts removes keys of a scope; keys that are not set are ignored. It
// returns the new revision, or the scope's facts revision when none was set.
func (s *Store) UnsetFacts(ctx context.Context, ws string, sc domain.Scope, keys []string, expected *int64) (int64, error) {
	var result int64
	_, err := s.Write(ctx, func(t *Tx) error {
		var err error
		result, err = t.UnsetFacts(ctx, ws, sc, keys, expected)
		return err
	})
	return result, err
}

// UnsetFacts is Store.UnsetFacts inside t.
func (t *Tx) UnsetFacts(ctx context.Context, ws string, sc domain.Scope, keys []string, expected *int64) (int64, error) {
	if err := sc.Validate(); err != nil {
		return 0, err
	}
	result, err := t.w.unsetFacts(ctx, ws, sc, sortedUnique(slices.Clone(keys)), expected)
	if err != nil {
		return 0, fmt.Errorf("unset facts of %s: %w", sc.String(), err)
	}
	return result, nil
}

func (t *wtx) unsetFacts(ctx context.Context, ws string, sc domain.Scope, keys []string, expected *int64) (int64, error) {
	scope := sc.String()
	var result int64
	r := t.r()
	if err := requireWorkspace(ctx, r, ws); err != nil {
		return 0, err
	}
	rev, err := r.scopeRevision(ctx, ws, scope)
	if err != nil {
		return 0, err
	}
	if err := checkExpected("facts of "+scope, expected, rev); err != nil {
		return 0, err
	}
	result = rev
	if len(keys) == 0 {
		return result, nil
	}
	existing, err := r.factValues(ctx, ws, []string{scope}, keys)
	if err != nil {
		return 0, err
	}
	var gone []string
	for _, k := range keys {
		if old, had := existing[scope][k]; had {
			gone = append(gone, k)
			t.recordRaw(ws, domain.KindFact, domain.FactChangeKey(sc, k), domain.OpDelete, old, nil)
		}
	}
	if len(gone) == 0 {
		return result, nil
	}
	if _, err := t.exec(ctx, "DELETE FROM facts WHERE workspace = ? AND scope = ? AND key IN "+inList(len(gone)),
		append([]any{ws, scope}, anys(gone)...)...); err != nil {
		return 0, fmt.Errorf("delete facts: %w", err)
	}
	result = t.rev
	return result, t.bumpScopes(ctx, ws, []string{scope})
}

// GetFacts is Store.GetFacts inside t: it sees the writes made through t.
func (t *Tx) GetFacts(ctx context.Context, ws string, sc domain.Scope) ([]domain.Fact, int64, error) {
	return getFacts(ctx, t.w.r(), ws, sc)
}

// GetFacts returns a scope's facts sorted by key and the scope's facts
// revision (the last revision that set or unset any of its keys).
func (s *Store) GetFacts(ctx context.Context, ws string, sc domain.Scope) ([]domain.Fact, int64, error) {
	return getFacts(ctx, s.r(), ws, sc)
}

func getFacts(ctx context.Context, r reader, ws string, sc domain.Scope) ([]domain.Fact, int64, error) {
	if err := sc.Validate(); err != nil {
		return nil, 0, err
	}
	scope := sc.String()
	rows, err := r.query(ctx, "SELECT key, value, revision, updated_at FROM facts WHERE workspace = ? AND scope = ? ORDER BY key", ws, scope)
	if err != nil {
		return nil, 0, fmt.Errorf("get facts of %s: %w", scope, err)
	}
	defer rows.Close()
	var out []domain.Fact
	for rows.Next() {
		f := domain.Fact{Scope: sc}
		var v []byte
		var updated int64
		if err := rows.Scan(&f.Key, &v, &f.Revision, &updated); err != nil {
			return nil, 0, fmt.Errorf("get facts of %s: %w", scope, err)
		}
		f.Value, f.UpdatedAt = append(json.RawMessage(nil), v...), fromNanos(updated)
		out = append(out, f)
	}
	if err := rows.Err(); err != nil {
		return nil, 0, fmt.Errorf("get facts of %s: %w", scope, err)
	}
	rev, err := r.scopeRevision(ctx, ws, scope)
	if err != nil {
		return nil, 0, err
	}
	return out, rev, nil
}

// BulkSetFacts sets the facts of many scopes in one transaction and one
// revision: all or nothing.
//
// Entries naming the same scope are merged, later values winning. A missing
// scope fails the whole write with an Invalid error on
// "entries[i].scope". It returns the new revision, or the store's current
// revision when nothing changed.
func (s *Store) BulkSetFacts(ctx context.Context, ws string, entries []domain.FactsEntry) (int64, error) {
	type scoped struct {
		index  int
		scope  domain.Scope
		values map[string]json.RawMessage
	}
	byScope := map[string]*scoped{}
	var order []string
	for i, e := range entries {
		prefix := fmt.Sprintf("entries[%d]", i)
		if err := e.Scope.Validate(); err != nil {
			return 0, errs.Prefix(prefix, err)
		}
		vals, err := normalizeValues(prefix+".", e.Values)
		if err != nil {
			return 0, err
		}
		key := e.Scope.String()
		if sc, ok := byScope[key]; ok {
			for k, v := range vals {
				sc.values[k] = v
			}
			continue
		}
		byScope[key] = &scoped{index: i, scope: e.Scope, values: vals}
		order = append(order, key)
	}
	rev, err := s.write(ctx, func(t *wtx) error {
		r := t.r()
		if err := requireWorkspace(ctx, r, ws); err != nil {
			return err
		}
		c, err := loadCatalog(ctx, r, ws, nil)
		if err != nil {
			return err
		}
		for _, key := range order {
			if err := c.scopeError(byScope[key].scope); err != nil {
				return errs.Prefix(fmt.Sprintf("entries[%d]", byScope[key].index), err)
			}
		}
		existing, err := r.factValues(ctx, ws, order, nil)
		if err != nil {
			return err
		}
		var rows [][]any
		var touched []string
		for _, key := range order {
			e := byScope[key]
			changed := false
			for _, k := range slices.Sorted(maps.Keys(e.values)) {
				v := e.values[k]
				old, had := existing[key][k]
				if had && bytes.Equal(old, v) {
					continue
				}
				changed = true
				rows = append(rows, []any{ws, key, k, string(v), t.rev, t.now.UnixNano()})
				op, before := domain.OpCreate, json.RawMessage(nil)
				if had {
					op, before = domain.OpUpdate, old
				}
				t.recordRaw(ws, domain.KindFact, domain.FactChangeKey(e.scope, k), op, before, v)
			}
			if changed {
				touched = append(touched, key)
			}
		}
		if len(rows) == 0 {
			return nil
		}
		if err := t.insertRows(ctx, "facts", factCols, rows, factUpsert); err != nil {
			return err
		}
		return t.bumpScopes(ctx, ws, touched)
	})
	if err != nil {
		return 0, fmt.Errorf("bulk set facts in workspace %s: %w", errs.Quote(ws), err)
	}
	if rev == 0 {
		return s.Revision(ctx)
	}
	return rev, nil
}
