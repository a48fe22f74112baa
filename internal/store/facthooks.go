package store

import (
	"context"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/flagops/flagops/internal/domain"
	"github.com/flagops/flagops/internal/errs"
)

// CreateFactHook stores a new inbound fact hook with its token hash. The
// change it records carries no hash.
func (s *Store) CreateFactHook(ctx context.Context, h domain.FactHook) (domain.FactHook, error) {
	_, err := s.write(ctx, func(t *wtx) error {
		if err := requireWorkspace(ctx, t.r(), h.Workspace); err != nil {
			return err
		}
		h.Revision, h.CreatedAt = t.rev, t.now
		if h.Scopes == nil {
			h.Scopes = []string{}
		}
		scopes, err := json.Marshal(h.Scopes)
		if err != nil {
			return err
		}
		_, err = t.exec(ctx, "INSERT INTO fact_hooks (workspace, name, token_hash, scopes, revision, created_at) VALUES (?, ?, ?, ?, ?, ?)",
			h.Workspace, h.Name, hex.EncodeToString(h.TokenHash), string(scopes), h.Revision, h.CreatedAt.UnixNano())
		if err != nil {
			return s.mapConstraint(err, "fact hook "+h.Name)
		}
		return t.record(h.Workspace, domain.KindFactHook, h.Name, domain.OpCreate, nil, h)
	})
	if err != nil {
		return domain.FactHook{}, fmt.Errorf("create fact hook %s: %w", h.Name, err)
	}
	return h, nil
}

// factHookCols are the columns scanFactHook reads, in its order.
const factHookCols = "workspace, name, token_hash, scopes, revision, created_at"

func scanFactHook(sc scanner) (domain.FactHook, error) {
	var h domain.FactHook
	var hash string
	var scopes []byte
	var created int64
	if err := sc.Scan(&h.Workspace, &h.Name, &hash, &scopes, &h.Revision, &created); err != nil {
		return h, err
	}
	if err := json.Unmarshal(scopes, &h.Scopes); err != nil {
		return h, fmt.Errorf("fact hook %s: malformed scopes: %w", h.Name, err)
	}
	h.CreatedAt = fromNanos(created)
	b, err := hex.DecodeString(hash)
	if err != nil {
		return h, fmt.Errorf("fact hook %s: malformed token hash", h.Name)
	}
	h.TokenHash = b
	return h, nil
}

// GetFactHook returns one fact hook, token hash included.
func (s *Store) GetFactHook(ctx context.Context, ws, name string) (domain.FactHook, error) {
	h, err := scanFactHook(s.queryRow(ctx, "SELECT "+factHookCols+" FROM fact_hooks WHERE workspace = ? AND name = ?", ws, name))
	if errors.Is(err, sql.ErrNoRows) {
		return h, errs.New(errs.NotFound, "fact hook %s in workspace %s", errs.Quote(name), errs.Quote(ws))
	}
	if err != nil {
		return h, fmt.Errorf("get fact hook %s: %w", name, err)
	}
	return h, nil
}

// ListFactHooks returns the fact hooks of a workspace, ordered by name.
func (s *Store) ListFactHooks(ctx context.Context, ws string) ([]domain.FactHook, error) {
	rows, err := s.query(ctx, "SELECT "+factHookCols+" FROM fact_hooks WHERE workspace = ? ORDER BY name", ws)
	if err != nil {
		return nil, fmt.Errorf("list fact hooks: %w", err)
	}
	defer rows.Close()
	var out []domain.FactHook
	for rows.Next() {
		h, err := scanFactHook(rows)
		if err != nil {
			return nil, fmt.Errorf("list fact hooks: %w", err)
		}
		out = append(out, h)
	}
	return out, rows.Err()
}

// DeleteFactHook removes a fact hook; its token stops working at once.
func (s *Store) DeleteFactHook(ctx context.Context, ws, name string) error {
	_, err := s.write(ctx, func(t *wtx) error {
		h, err := scanFactHook(t.queryRow(ctx, "SELECT "+factHookCols+" FROM fact_hooks WHERE workspace = ? AND name = ?", ws, name))
		if errors.Is(err, sql.ErrNoRows) {
			return errs.New(errs.NotFound, "fact hook %s in workspace %s", errs.Quote(name), errs.Quote(ws))
		}
		if err != nil {
			return err
		}
		if _, err := t.exec(ctx, "DELETE FROM fact_hooks WHERE workspace = ? AND name = ?", ws, name); err != nil {
			return err
		}
		return t.record(ws, domain.KindFactHook, name, domain.OpDelete, h, nil)
	})
	if err != nil {
		return fmt.Errorf("delete fact hook %s: %w", name, err)
	}
	return nil
}
