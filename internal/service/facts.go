package service

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"

	"github.com/flagops/flagops/internal/domain"
	"github.com/flagops/flagops/internal/errs"
	"github.com/flagops/flagops/internal/store"
)

// FactStore is the part of the store the fact use cases need.
type FactStore interface {
	SetFacts(ctx context.Context, ws string, sc domain.Scope, values map[string]json.RawMessage, expected *int64) (int64, error)
	UnsetFacts(ctx context.Context, ws string, sc domain.Scope, keys []string, expected *int64) (int64, error)
	GetFacts(ctx context.Context, ws string, sc domain.Scope) ([]domain.Fact, int64, error)
	BulkSetFacts(ctx context.Context, ws string, entries []domain.FactsEntry) (int64, error)
	ResolveFacts(ctx context.Context, ws, project, target string) (domain.Resolved, error)
	ListChanges(ctx context.Context, q domain.ChangeQuery) ([]domain.Change, string, error)
}

var _ FactStore = (*store.Store)(nil)

// MaxBulkEntries caps the scopes of one BulkSetFacts, so that one request
// cannot hold the single writer for long: 100,000 scopes take a few seconds,
// ten times the 10,000-deployment CMS update the store is benchmarked with.
// The request size limit usually bites first.
const MaxBulkEntries = 100_000

// Facts manages facts on scopes. It is safe for concurrent use.
type Facts struct {
	store FactStore
}

// NewFacts returns the fact use cases on st.
func NewFacts(st FactStore) *Facts { return &Facts{store: st} }

// scopeOf parses a scope written as the user writes it, reporting errors
// under field.
// scopedIn checks the workspace and scope every scoped request names.
func scopedIn(ws, scope string) (string, domain.Scope, error) {
	ws, err := workspace("workspace", ws)
	if err != nil {
		return "", domain.Scope{}, err
	}
	sc, err := scopeOf("scope", scope)
	if err != nil {
		return "", domain.Scope{}, err
	}
	return ws, sc, nil
}

func scopeOf(field, s string) (domain.Scope, error) {
	if s == "" {
		return domain.Scope{}, errs.Field(field, "is required: %s", domain.ScopeSyntax)
	}
	sc, err := domain.ParseScope(s)
	if err != nil {
		// ParseScope names its fields "scope" or "scope.x"; re-root them at field.
		if fe, ok := errors.AsType[*errs.FieldError](err); ok && strings.HasPrefix(fe.Field, "scope") {
			cp := *fe
			cp.Field = field + strings.TrimPrefix(fe.Field, "scope")
			return domain.Scope{}, &cp
		}
		return domain.Scope{}, err
	}
	return sc, nil
}

// values checks and compacts a key→JSON map, reporting errors under field.
func values(field string, in map[string]json.RawMessage) (map[string]json.RawMessage, error) {
	if len(in) == 0 {
		return nil, errs.Field(field, "at least one value is required")
	}
	out := make(map[string]json.RawMessage, len(in))
	// Sorted, so that the error reported for a bad request is always the same.
	for _, k := range slices.Sorted(maps.Keys(in)) {
		if err := domain.ValidateFactKey(field+"."+k, k); err != nil {
			return nil, err
		}
		v, err := domain.NormalizeFactValue(field+"."+k, in[k])
		if err != nil {
			return nil, err
		}
		out[k] = v
	}
	return out, nil
}

// SetFacts sets keys of one scope and returns the revision.
func (f *Facts) SetFacts(ctx context.Context, ws, scope string, in map[string]json.RawMessage, expected *int64) (int64, error) {
	ws, sc, err := scopedIn(ws, scope)
	if err != nil {
		return 0, err
	}
	vals, err := values("values", in)
	if err != nil {
		return 0, err
	}
	if err := expectedRevision(expected); err != nil {
		return 0, err
	}
	rev, err := f.store.SetFacts(ctx, ws, sc, vals, expected)
	if err != nil {
		return 0, fmt.Errorf("set facts of %s in %s: %w", sc, ws, err)
	}
	return rev, nil
}

// UnsetFacts removes keys of one scope and returns the revision.
func (f *Facts) UnsetFacts(ctx context.Context, ws, scope string, keys []string, expected *int64) (int64, error) {
	ws, sc, err := scopedIn(ws, scope)
	if err != nil {
		return 0, err
	}
	if len(keys) == 0 {
		return 0, errs.Field("keys", "at least one key is required")
	}
	for i, k := range keys {
		if err := domain.ValidateFactKey("keys["+strconv.Itoa(i)+"]", k); err != nil {
			return 0, err
		}
	}
	if err := expectedRevision(expected); err != nil {
		return 0, err
	}
	rev, err := f.store.UnsetFacts(ctx, ws, sc, keys, expected)
	if err != nil {
		return 0, fmt.Errorf("unset facts of %s in %s: %w", sc, ws, err)
	}
	return rev, nil
}

// GetFacts returns one scope's facts and the scope's facts revision.
func (f *Facts) GetFacts(ctx context.Context, ws, scope string) ([]domain.Fact, int64, error) {
	ws, sc, err := scopedIn(ws, scope)
	if err != nil {
		return nil, 0, err
	}
	facts, rev, err := f.store.GetFacts(ctx, ws, sc)
	if err != nil {
		return nil, 0, fmt.Errorf("get facts of %s in %s: %w", sc, ws, err)
	}
	return facts, rev, nil
}

// BulkEntry is one scope of a bulk write, as the caller writes it.
type BulkEntry struct {
	Scope  string
	Values map[string]json.RawMessage
}

// BulkSetFacts sets the facts of many scopes in one revision, all or nothing.
func (f *Facts) BulkSetFacts(ctx context.Context, ws string, in []BulkEntry) (int64, error) {
	ws, err := workspace("workspace", ws)
	if err != nil {
		return 0, err
	}
	if len(in) == 0 {
		return 0, errs.Field("entries", "at least one entry is required")
	}
	if len(in) > MaxBulkEntries {
		return 0, &errs.FieldError{Field: "entries", Rule: "must have at most " + strconv.Itoa(MaxBulkEntries) + " entries", Kind: errs.TooLarge}
	}
	entries := make([]domain.FactsEntry, 0, len(in))
	seen := make(map[string]int, len(in))
	for i, e := range in {
		field := "entries[" + strconv.Itoa(i) + "]"
		sc, err := scopeOf(field+".scope", e.Scope)
		if err != nil {
			return 0, err
		}
		if j, dup := seen[sc.String()]; dup {
			return 0, errs.Field(field+".scope", "%s is also entries[%d]; merge them", errs.Quote(sc.String()), j)
		}
		seen[sc.String()] = i
		vals, err := values(field+".values", e.Values)
		if err != nil {
			return 0, err
		}
		entries = append(entries, domain.FactsEntry{Scope: sc, Values: vals})
	}
	rev, err := f.store.BulkSetFacts(ctx, ws, entries)
	if err != nil {
		return 0, fmt.Errorf("bulk set facts of %d scopes in %s: %w", len(entries), ws, err)
	}
	return rev, nil
}

// ResolveFacts merges the facts of the deployment project@target.
func (f *Facts) ResolveFacts(ctx context.Context, ws, project, target string) (domain.Resolved, error) {
	ws, err := workspace("workspace", ws)
	if err != nil {
		return domain.Resolved{}, err
	}
	if err := domain.ValidateName("project", project); err != nil {
		return domain.Resolved{}, err
	}
	if err := domain.ValidateName("target", target); err != nil {
		return domain.Resolved{}, err
	}
	r, err := f.store.ResolveFacts(ctx, ws, project, target)
	if err != nil {
		return r, fmt.Errorf("resolve facts of %s@%s in %s: %w", project, target, ws, err)
	}
	return r, nil
}

// FactHistory lists the changes of one key of one scope, oldest first.
func (f *Facts) FactHistory(ctx context.Context, ws, scope, key string, pageSize int, pageToken string) ([]domain.Change, string, error) {
	ws, sc, err := scopedIn(ws, scope)
	if err != nil {
		return nil, "", err
	}
	if err := domain.ValidateFactKey("key", key); err != nil {
		return nil, "", err
	}
	p, err := page(pageSize, pageToken)
	if err != nil {
		return nil, "", err
	}
	q := domain.ChangeQuery{Workspace: ws, Kind: domain.KindFact, Key: domain.FactChangeKey(sc, key), Limit: p.Size, PageToken: p.Token}
	return wrapList[domain.Change](fmt.Sprintf("history of %s:%s in %s", sc, key, ws))(f.store.ListChanges(ctx, q))
}
