package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/flagops/flagops/internal/domain"
	"github.com/flagops/flagops/internal/errs"
)

// PutPromotionPolicy creates or replaces the policy of one pair of
// environments (validated by the caller). Both environments must be the
// project's. A new policy's schedule counts from now: slots before it are
// never run.
func (s *Store) PutPromotionPolicy(ctx context.Context, ws string, p domain.PromotionPolicy) (domain.PromotionPolicy, domain.Op, error) {
	out, op, err := writeOne(ctx, s, func(t *Tx) (domain.PromotionPolicy, domain.Op, error) { return t.PutPromotionPolicy(ctx, ws, p) })
	if err != nil {
		return domain.PromotionPolicy{}, "", err
	}
	return out, op, nil
}

// PutPromotionPolicy is Store.PutPromotionPolicy inside t.
func (t *Tx) PutPromotionPolicy(ctx context.Context, ws string, p domain.PromotionPolicy) (domain.PromotionPolicy, domain.Op, error) {
	out, op, err := t.w.putPromotionPolicy(ctx, ws, p)
	if err != nil {
		return domain.PromotionPolicy{}, "", fmt.Errorf("put promotion policy %s: %w", p.Key(), err)
	}
	return out, op, nil
}

func (t *wtx) putPromotionPolicy(ctx context.Context, ws string, p domain.PromotionPolicy) (domain.PromotionPolicy, domain.Op, error) {
	for _, f := range []struct{ field, env string }{{"from", p.From}, {"to", p.To}} {
		if _, err := checkVersionTarget(ctx, t.r(), ws, p.Project, f.env, ""); err != nil {
			if errs.FieldOf(err) == "environment" {
				return p, "", errs.Field(f.field, "%s is not an environment of project %s", errs.Quote(f.env), errs.Quote(p.Project))
			}
			return p, "", err
		}
	}
	old, err := getPolicy(ctx, t.r(), ws, p.Project, p.From, p.To)
	had := err == nil
	if err != nil && !errors.Is(err, errs.NotFound) {
		return p, "", err
	}
	p.Workspace = ws
	if had {
		cmp := p
		cmp.Revision, cmp.UpdatedAt = old.Revision, old.UpdatedAt
		if a, b := mustJSON(cmp), mustJSON(old); a == b {
			return old, domain.OpNone, nil
		}
	}
	p.Revision, p.UpdatedAt = t.rev, t.now
	body := mustJSON(p)
	op := domain.OpCreate
	if had {
		op = domain.OpUpdate
		_, err = t.exec(ctx, "UPDATE promotion_policies SET body = ?, revision = ?, updated_at = ? WHERE workspace = ? AND project = ? AND from_env = ? AND to_env = ?",
			body, t.rev, t.now.UnixNano(), ws, p.Project, p.From, p.To)
	} else {
		err = t.insertRows(ctx, "promotion_policies", []string{"workspace", "project", "from_env", "to_env", "body", "revision", "last_slot", "updated_at"},
			[][]any{{ws, p.Project, p.From, p.To, body, t.rev, t.now.UnixNano(), t.now.UnixNano()}}, "")
	}
	if err != nil {
		return p, "", fmt.Errorf("write promotion policy: %w", err)
	}
	var before any
	if had {
		before = old
	}
	return p, op, t.record(ws, domain.KindPromotionPolicy, p.Key(), op, before, p)
}

func mustJSON(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err) // domain types always marshal
	}
	return string(b)
}

func getPolicy(ctx context.Context, r reader, ws, project, from, to string) (domain.PromotionPolicy, error) {
	var body []byte
	err := r.queryRow(ctx, "SELECT body FROM promotion_policies WHERE workspace = ? AND project = ? AND from_env = ? AND to_env = ?", ws, project, from, to).Scan(&body)
	if errors.Is(err, sql.ErrNoRows) {
		return domain.PromotionPolicy{}, errs.New(errs.NotFound, "promotion policy of %s from %s to %s", project, from, to)
	}
	if err != nil {
		return domain.PromotionPolicy{}, fmt.Errorf("read promotion policy: %w", err)
	}
	var p domain.PromotionPolicy
	return p, json.Unmarshal(body, &p)
}

// DeletePromotionPolicy removes a policy; open promotions it created stay.
func (s *Store) DeletePromotionPolicy(ctx context.Context, ws, project, from, to string) error {
	_, err := s.Write(ctx, func(t *Tx) error { return t.DeletePromotionPolicy(ctx, ws, project, from, to) })
	return err
}

// DeletePromotionPolicy is Store.DeletePromotionPolicy inside t.
func (t *Tx) DeletePromotionPolicy(ctx context.Context, ws, project, from, to string) error {
	old, err := getPolicy(ctx, t.w.r(), ws, project, from, to)
	if err != nil {
		return err
	}
	if _, err := t.w.exec(ctx, "DELETE FROM promotion_policies WHERE workspace = ? AND project = ? AND from_env = ? AND to_env = ?", ws, project, from, to); err != nil {
		return err
	}
	return t.w.record(ws, domain.KindPromotionPolicy, old.Key(), domain.OpDelete, old, nil)
}

// PolicyRef names one policy together with its last scheduled slot.
type PolicyRef struct {
	Policy   domain.PromotionPolicy
	LastSlot time.Time
}

// ListPromotionPolicies lists the policies of a workspace (every
// workspace's when ws is "") and project (every project's when "").
func (s *Store) ListPromotionPolicies(ctx context.Context, ws, project string) ([]PolicyRef, error) {
	q, args := "SELECT body, last_slot FROM promotion_policies WHERE 1 = 1", []any{}
	if ws != "" {
		q, args = q+" AND workspace = ?", append(args, ws)
	}
	if project != "" {
		q, args = q+" AND project = ?", append(args, project)
	}
	rows, err := s.query(ctx, q+" ORDER BY workspace, project, from_env, to_env", args...)
	if err != nil {
		return nil, fmt.Errorf("list promotion policies: %w", err)
	}
	defer rows.Close()
	var out []PolicyRef
	for rows.Next() {
		var body []byte
		var slot int64
		if err := rows.Scan(&body, &slot); err != nil {
			return nil, err
		}
		var ref PolicyRef
		if err := json.Unmarshal(body, &ref.Policy); err != nil {
			return nil, fmt.Errorf("decode promotion policy: %w", err)
		}
		ref.LastSlot = fromNanos(slot)
		out = append(out, ref)
	}
	return out, rows.Err()
}

// putHold records (or keeps) a hold.
func (t *wtx) putHold(ctx context.Context, h domain.Hold) error {
	var n int
	if err := t.queryRow(ctx, "SELECT COUNT(*) FROM promotion_holds WHERE workspace = ? AND project = ? AND environment = ?", h.Workspace, h.Project, h.Environment).Scan(&n); err != nil {
		return fmt.Errorf("read holds: %w", err)
	}
	if n > 0 {
		return nil
	}
	after := h
	after.Workspace = ""
	if err := t.insertRows(ctx, "promotion_holds", []string{"workspace", "project", "environment", "body"}, [][]any{{h.Workspace, h.Project, h.Environment, mustJSON(after)}}, ""); err != nil {
		return err
	}
	return t.record(h.Workspace, domain.KindPromotionPolicy, h.Key(), domain.OpCreate, nil, after)
}

// SetHold puts (on) or lifts a hold: a pause of automatic promotion into one
// environment of a project, or a stop-the-line of a project (Environment
// "") or of a workspace (Project ""). It returns 0 when nothing changed.
func (s *Store) SetHold(ctx context.Context, h domain.Hold, on bool) (int64, error) {
	rev, err := s.write(ctx, func(t *wtx) error {
		if err := requireWorkspace(ctx, t.r(), h.Workspace); err != nil {
			return err
		}
		if h.Project != "" {
			if _, ok, err := loadProject(ctx, t.r(), h.Workspace, h.Project); err != nil {
				return err
			} else if !ok {
				return errs.Field("project", "project %s does not exist", errs.Quote(h.Project))
			}
		}
		if h.Environment != "" {
			if _, err := checkVersionTarget(ctx, t.r(), h.Workspace, h.Project, h.Environment, ""); err != nil {
				return err
			}
		}
		if on {
			h.Actor, h.Since = t.origin.Actor, t.now
			return t.putHold(ctx, h)
		}
		var body []byte
		err := t.queryRow(ctx, "SELECT body FROM promotion_holds WHERE workspace = ? AND project = ? AND environment = ?", h.Workspace, h.Project, h.Environment).Scan(&body)
		if errors.Is(err, sql.ErrNoRows) {
			return nil
		}
		if err != nil {
			return err
		}
		if _, err := t.exec(ctx, "DELETE FROM promotion_holds WHERE workspace = ? AND project = ? AND environment = ?", h.Workspace, h.Project, h.Environment); err != nil {
			return err
		}
		return t.record(h.Workspace, domain.KindPromotionPolicy, h.Key(), domain.OpDelete, json.RawMessage(body), nil)
	})
	if err != nil {
		return 0, fmt.Errorf("set hold %s: %w", h.Key(), err)
	}
	return rev, nil
}

// ListHolds returns the holds of a workspace.
func (s *Store) ListHolds(ctx context.Context, ws string) ([]domain.Hold, error) {
	return listHolds(ctx, s.r(), ws, "")
}

// listHolds returns the holds of a workspace, only those that apply to
// project when it is not "".
func listHolds(ctx context.Context, r reader, ws, project string) ([]domain.Hold, error) {
	q, args := "SELECT body FROM promotion_holds WHERE workspace = ?", []any{ws}
	if project != "" {
		q, args = q+" AND (project = '' OR project = ?)", append(args, project)
	}
	rows, err := r.query(ctx, q+" ORDER BY project, environment", args...)
	if err != nil {
		return nil, fmt.Errorf("read holds: %w", err)
	}
	defer rows.Close()
	var out []domain.Hold
	for rows.Next() {
		var body []byte
		var h domain.Hold
		if err := rows.Scan(&body); err != nil {
			return nil, err
		}
		if err := json.Unmarshal(body, &h); err != nil {
			return nil, err
		}
		h.Workspace = ws
		out = append(out, h)
	}
	return out, rows.Err()
}
