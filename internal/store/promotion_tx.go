package store

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/flagops/flagops/internal/domain"
	"github.com/flagops/flagops/internal/errs"
)

// PromotionState is what a promotion decision reads. It is read inside the
// transaction that carries the decision out, and that transaction holds the
// revision counter's lock, so two instances deciding about the same policy at
// once run one after the other and the second sees what the first did.
type PromotionState struct {
	Workspace, Project, From, To string
	// Policy is nil when the pair of environments has none.
	Policy   *domain.PromotionPolicy
	LastSlot time.Time
	// SourceVersion is the environment-wide desired version of From.
	SourceVersion string
	// SourceTargets counts From's deployments of the project; SourceReady
	// those whose deployed version is the desired one and healthy.
	SourceTargets, SourceReady int
	// ReadySince is when the source became ready: the latest change of a
	// desired version or of a deployment's state.
	ReadySince time.Time
	// DestVersion is the environment-wide desired version of To.
	DestVersion string
	// Holds are the pauses and stop-the-lines that apply to the pair.
	Holds []domain.Hold
	// Open are the pair's pending and waiting-approval promotions.
	Open []domain.Promotion
}

// PromotionAction is what a decision asks the transaction to do. A zero
// action does nothing.
type PromotionAction struct {
	// Record, when not nil, is a new promotion (Version, Trigger, Slot,
	// State, Reason filled in). If a promotion of the same version and slot
	// already exists it is not created again: that unique identity is what
	// makes a due promotion happen exactly once.
	Record *domain.Promotion
	// Apply sets To's version to Record.Version in the same transaction and
	// marks the record done.
	Apply bool
	// AdvanceSlot, when not zero, becomes the policy's last handled slot.
	AdvanceSlot time.Time
}

// PromotionUpdate is a decision about an existing promotion.
type PromotionUpdate struct {
	// State is the new state ("" keeps it).
	State, Reason, Approver, Comment string
	// Apply sets the destination's version and marks the promotion done.
	Apply bool
}

func loadPromotionState(ctx context.Context, r reader, ws, project, from, to string) (PromotionState, error) {
	st := PromotionState{Workspace: ws, Project: project, From: from, To: to}
	if p, err := getPolicy(ctx, r, ws, project, from, to); err == nil {
		st.Policy = &p
		var slot int64
		if err := r.queryRow(ctx, "SELECT last_slot FROM promotion_policies WHERE workspace = ? AND project = ? AND from_env = ? AND to_env = ?", ws, project, from, to).Scan(&slot); err != nil {
			return st, fmt.Errorf("read last slot: %w", err)
		}
		st.LastSlot = fromNanos(slot)
	} else if !errors.Is(err, errs.NotFound) {
		return st, err
	}
	if v, err := getDesired(ctx, r, ws, project, from, ""); err == nil {
		st.SourceVersion = v.Version
	}
	if v, err := getDesired(ctx, r, ws, project, to, ""); err == nil {
		st.DestVersion = v.Version
	}
	var deployedSince, desiredAt int64
	err := r.queryRow(ctx, `SELECT COUNT(*),
		COALESCE(SUM(CASE WHEN dv.version = COALESCE(p.version, e.version) AND dv.status IN ('', 'healthy') THEN 1 ELSE 0 END), 0),
		COALESCE(MAX(dv.since), 0), COALESCE(MAX(COALESCE(p.updated_at, e.updated_at)), 0)
	FROM deployments d
	LEFT JOIN desired_versions p ON p.workspace = d.workspace AND p.project = d.project AND p.environment = d.environment AND p.target = d.target
	LEFT JOIN desired_versions e ON e.workspace = d.workspace AND e.project = d.project AND e.environment = d.environment AND e.target = ''
	LEFT JOIN deployed_versions dv ON dv.workspace = d.workspace AND dv.project = d.project AND dv.target = d.target
	WHERE d.workspace = ? AND d.project = ? AND d.environment = ?`, ws, project, from).Scan(&st.SourceTargets, &st.SourceReady, &deployedSince, &desiredAt)
	if err != nil {
		return st, fmt.Errorf("read readiness of %s@%s: %w", project, from, err)
	}
	st.ReadySince = fromNanos(max(deployedSince, desiredAt))
	holds, err := listHolds(ctx, r, ws, project)
	if err != nil {
		return st, err
	}
	for _, h := range holds {
		if h.Environment == "" || h.Environment == to {
			st.Holds = append(st.Holds, h)
		}
	}
	st.Open, err = queryPromotions(ctx, r, `SELECT body FROM promotions WHERE workspace = ? AND project = ? AND from_env = ? AND to_env = ?
		AND state IN ('pending', 'waiting-approval') ORDER BY id`, ws, project, from, to)
	return st, err
}

func queryPromotions(ctx context.Context, r reader, q string, args ...any) ([]domain.Promotion, error) {
	rows, err := r.query(ctx, q, args...)
	if err != nil {
		return nil, fmt.Errorf("read promotions: %w", err)
	}
	defer rows.Close()
	out := []domain.Promotion{}
	for rows.Next() {
		var body []byte
		var p domain.Promotion
		if err := rows.Scan(&body); err != nil {
			return nil, err
		}
		if err := json.Unmarshal(body, &p); err != nil {
			return nil, fmt.Errorf("decode promotion: %w", err)
		}
		out = append(out, p)
	}
	return out, rows.Err()
}

// apply sets the destination version for p, marking it done, or refused
// when the destination refuses the version (a required release missing).
func (t *wtx) applyPromotion(ctx context.Context, p *domain.Promotion) error {
	reason := fmt.Sprintf("promotion %d from %s", p.ID, p.From)
	changed, err := t.setDesired(ctx, p.Workspace, p.Project, p.To, "", p.Version, reason, p.ID)
	if errs.KindOf(err) == errs.FailedPrecondition {
		p.State, p.Reason = domain.PromotionRefused, err.Error()
		return nil
	}
	if err != nil {
		return err
	}
	p.State = domain.PromotionDone
	if changed {
		p.Revisions = append(p.Revisions, t.rev)
	}
	return nil
}

func (t *wtx) savePromotion(ctx context.Context, p domain.Promotion, before *domain.Promotion) error {
	p.Revision, p.UpdatedAt = t.rev, t.now
	body := mustJSON(p)
	var err error
	op := domain.OpCreate
	if before == nil {
		err = t.insertRows(ctx, "promotions", []string{"id", "workspace", "project", "from_env", "to_env", "version", "slot", "state", "body", "updated_at"},
			[][]any{{p.ID, p.Workspace, p.Project, p.From, p.To, p.Version, p.Slot, p.State, body, t.now.UnixNano()}}, "")
	} else {
		op = domain.OpUpdate
		_, err = t.exec(ctx, "UPDATE promotions SET state = ?, body = ?, updated_at = ? WHERE id = ?", p.State, body, t.now.UnixNano(), p.ID)
	}
	if err != nil {
		return fmt.Errorf("write promotion %d: %w", p.ID, err)
	}
	var b any
	if before != nil {
		b = *before
	}
	return t.record(p.Workspace, domain.KindPromotion, p.Key(), op, b, p)
}

// DecidePromotion runs decide on the state of one pair of environments and
// carries out its action, in one transaction. It returns the promotion the
// action created (zero when none) and the revision (0 when nothing changed).
func (s *Store) DecidePromotion(ctx context.Context, ws, project, from, to string, decide func(PromotionState) (PromotionAction, error)) (domain.Promotion, int64, error) {
	var out domain.Promotion
	rev, err := s.write(ctx, func(t *wtx) error {
		out = domain.Promotion{}
		if _, err := checkVersionTarget(ctx, t.r(), ws, project, from, ""); err != nil {
			return errs.Prefix("from", err)
		}
		if _, err := checkVersionTarget(ctx, t.r(), ws, project, to, ""); err != nil {
			return errs.Prefix("to", err)
		}
		st, err := loadPromotionState(ctx, t.r(), ws, project, from, to)
		if err != nil {
			return err
		}
		act, err := decide(st)
		if err != nil {
			return err
		}
		if !act.AdvanceSlot.IsZero() && st.Policy != nil && act.AdvanceSlot.After(st.LastSlot) {
			if _, err := t.exec(ctx, "UPDATE promotion_policies SET last_slot = ? WHERE workspace = ? AND project = ? AND from_env = ? AND to_env = ?",
				act.AdvanceSlot.UnixNano(), ws, project, from, to); err != nil {
				return fmt.Errorf("advance slot: %w", err)
			}
		}
		if act.Record == nil {
			return nil
		}
		p := *act.Record
		var n int
		if err := t.queryRow(ctx, "SELECT COUNT(*) FROM promotions WHERE workspace = ? AND project = ? AND from_env = ? AND to_env = ? AND version = ? AND slot = ?",
			ws, project, from, to, p.Version, p.Slot).Scan(&n); err != nil {
			return fmt.Errorf("read promotions: %w", err)
		}
		if n > 0 {
			return nil
		}
		p.ID, p.Workspace, p.Project, p.From, p.To = t.rev, ws, project, from, to
		p.Actor, p.CreatedAt = t.origin.Actor, t.now
		if act.Apply {
			if err := t.applyPromotion(ctx, &p); err != nil {
				return err
			}
		}
		out = p
		return t.savePromotion(ctx, p, nil)
	})
	if err != nil {
		return domain.Promotion{}, 0, fmt.Errorf("promote %s from %s to %s: %w", project, from, to, err)
	}
	if out.ID != 0 {
		out.Revision = rev
	}
	return out, rev, nil
}

// UpdatePromotion runs decide on an existing promotion and the state of its
// pair, and carries out the update, in one transaction.
func (s *Store) UpdatePromotion(ctx context.Context, ws string, id int64, decide func(domain.Promotion, PromotionState) (PromotionUpdate, error)) (domain.Promotion, int64, error) {
	var out domain.Promotion
	rev, err := s.write(ctx, func(t *wtx) error {
		ps, err := queryPromotions(ctx, t.r(), "SELECT body FROM promotions WHERE workspace = ? AND id = ?", ws, id)
		if err != nil {
			return err
		}
		if len(ps) == 0 {
			return errs.New(errs.NotFound, "promotion %d", id)
		}
		p := ps[0]
		out = p
		st, err := loadPromotionState(ctx, t.r(), ws, p.Project, p.From, p.To)
		if err != nil {
			return err
		}
		u, err := decide(p, st)
		if err != nil {
			return err
		}
		before := p
		if u.State != "" {
			p.State = u.State
		}
		if u.Reason != "" {
			p.Reason = u.Reason
		}
		if u.Approver != "" {
			p.Approver, p.Comment = u.Approver, u.Comment
		}
		if u.Apply {
			if err := t.applyPromotion(ctx, &p); err != nil {
				return err
			}
		}
		if p.State == before.State && p.Reason == before.Reason && p.Approver == before.Approver {
			return nil
		}
		out = p
		return t.savePromotion(ctx, p, &before)
	})
	if err != nil {
		return domain.Promotion{}, 0, fmt.Errorf("update promotion %d: %w", id, err)
	}
	return out, rev, nil
}

// PromotionFilter narrows ListPromotions; empty fields do not filter.
type PromotionFilter struct {
	Workspace string
	Project   string
	To        string
	States    []string
}

// ListPromotions lists promotions, newest first.
func (s *Store) ListPromotions(ctx context.Context, f PromotionFilter, limit int) ([]domain.Promotion, error) {
	q, args := "SELECT body FROM promotions WHERE 1 = 1", []any{}
	for _, c := range []struct{ col, v string }{{"workspace", f.Workspace}, {"project", f.Project}, {"to_env", f.To}} {
		if c.v != "" {
			q, args = q+" AND "+c.col+" = ?", append(args, c.v)
		}
	}
	if len(f.States) > 0 {
		q, args = q+" AND state IN "+inList(len(f.States)), append(args, anys(f.States)...)
	}
	return queryPromotions(ctx, s.r(), q+" ORDER BY id DESC LIMIT ?", append(args, clampLimit(limit))...)
}

// GetPromotion returns one promotion, or errs.NotFound.
func (s *Store) GetPromotion(ctx context.Context, ws string, id int64) (domain.Promotion, error) {
	ps, err := queryPromotions(ctx, s.r(), "SELECT body FROM promotions WHERE workspace = ? AND id = ?", ws, id)
	if err != nil {
		return domain.Promotion{}, err
	}
	if len(ps) == 0 {
		return domain.Promotion{}, errs.New(errs.NotFound, "promotion %d", id)
	}
	return ps[0], nil
}
