package service

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/flagops/flagops/internal/domain"
	"github.com/flagops/flagops/internal/errs"
	"github.com/flagops/flagops/internal/store"
)

// PromotionStore is the part of the store the promotion use cases need.
type PromotionStore interface {
	PutPromotionPolicy(ctx context.Context, ws string, p domain.PromotionPolicy) (domain.PromotionPolicy, domain.Op, error)
	DeletePromotionPolicy(ctx context.Context, ws, project, from, to string) error
	ListPromotionPolicies(ctx context.Context, ws, project string) ([]store.PolicyRef, error)
	SetHold(ctx context.Context, h domain.Hold, on bool) (int64, error)
	ListHolds(ctx context.Context, ws string) ([]domain.Hold, error)
	DecidePromotion(ctx context.Context, ws, project, from, to string, decide func(store.PromotionState) (store.PromotionAction, error)) (domain.Promotion, int64, error)
	UpdatePromotion(ctx context.Context, ws string, id int64, decide func(domain.Promotion, store.PromotionState) (store.PromotionUpdate, error)) (domain.Promotion, int64, error)
	ListPromotions(ctx context.Context, f store.PromotionFilter, limit int) ([]domain.Promotion, error)
	GetPromotion(ctx context.Context, ws string, id int64) (domain.Promotion, error)
}

var _ PromotionStore = (*store.Store)(nil)

// SchedulerActor is the actor of the changes automatic promotions make.
const SchedulerActor = "flagops-scheduler"

// Promotions manages promotion policies and promotions, and is the
// scheduler task that runs due promotions (Tick). It is safe for concurrent
// use.
type Promotions struct {
	store PromotionStore
	now   func() time.Time
}

// NewPromotions returns the promotion use cases on st; now is the clock of
// manual promotions and approvals (time.Now when nil).
func NewPromotions(st PromotionStore, now func() time.Time) *Promotions {
	if now == nil {
		now = time.Now
	}
	return &Promotions{store: st, now: now}
}

// PutPolicy validates and stores a promotion policy.
func (p *Promotions) PutPolicy(ctx context.Context, wsName string, pol domain.PromotionPolicy) (domain.PromotionPolicy, domain.Op, error) {
	ws, err := workspace("workspace", wsName)
	if err != nil {
		return pol, "", err
	}
	if err := pol.Validate(); err != nil {
		return pol, "", errs.Prefix("policy", err)
	}
	out, op, err := p.store.PutPromotionPolicy(ctx, ws, pol)
	return out, op, errs.Prefix("policy", err)
}

// DeletePolicy removes a promotion policy.
func (p *Promotions) DeletePolicy(ctx context.Context, wsName, project, from, to string) error {
	ws, err := workspace("workspace", wsName)
	if err != nil {
		return err
	}
	if err := checkNames([2]string{"project", project}, [2]string{"from", from}, [2]string{"to", to}); err != nil {
		return err
	}
	return p.store.DeletePromotionPolicy(ctx, ws, project, from, to)
}

// ListPolicies lists a workspace's policies (of one project when set).
func (p *Promotions) ListPolicies(ctx context.Context, wsName, project string) ([]domain.PromotionPolicy, error) {
	ws, err := workspace("workspace", wsName)
	if err != nil {
		return nil, err
	}
	if err := checkNames([2]string{"project", project}); err != nil {
		return nil, err
	}
	refs, err := p.store.ListPromotionPolicies(ctx, ws, project)
	out := make([]domain.PromotionPolicy, len(refs))
	for i, r := range refs {
		out[i] = r.Policy
	}
	return out, err
}

// stopped returns the reason a stop-the-line halts the pair, or "".
func stopped(st store.PromotionState) string {
	for _, h := range st.Holds {
		if h.Environment == "" {
			what := "workspace " + st.Workspace
			if h.Project != "" {
				what = "project " + h.Project
			}
			return fmt.Sprintf("stop-the-line on %s by %s", what, h.Actor)
		}
	}
	return ""
}

// paused returns the reason automation may not promote into st.To, or "".
func paused(st store.PromotionState) string {
	if r := stopped(st); r != "" {
		return r
	}
	for _, h := range st.Holds {
		if h.Environment == st.To {
			return fmt.Sprintf("automatic promotion into %s is paused (%s); resume it to continue", st.To, h.Reason)
		}
	}
	return ""
}

// Promote copies from's desired version to to, as a person asks. A
// stop-the-line or a freeze window of a policy into to refuses it; the
// refusal is recorded as a promotion with its reason and returned.
func (p *Promotions) Promote(ctx context.Context, wsName, project, from, to string) (domain.Promotion, error) {
	ws, err := workspace("workspace", wsName)
	if err != nil {
		return domain.Promotion{}, err
	}
	if err := requireFields([2]string{"project", project}, [2]string{"from", from}, [2]string{"to", to}); err != nil {
		return domain.Promotion{}, err
	}
	if err := checkNames([2]string{"project", project}, [2]string{"from", from}, [2]string{"to", to}); err != nil {
		return domain.Promotion{}, err
	}
	if from == to {
		return domain.Promotion{}, errs.Field("to", "must differ from from")
	}
	now := p.now()
	out, _, err := p.store.DecidePromotion(ctx, ws, project, from, to, func(st store.PromotionState) (store.PromotionAction, error) {
		if st.SourceVersion == "" {
			return store.PromotionAction{}, errs.New(errs.FailedPrecondition, "%s has no desired version to promote", domain.VersionChangeKey(project, from, ""))
		}
		rec := &domain.Promotion{Version: st.SourceVersion, Trigger: domain.TriggerManual, Slot: "manual-" + strconv.FormatInt(now.UnixNano(), 10)}
		if r := stopped(st); r != "" {
			rec.State, rec.Reason = domain.PromotionRefused, r
			return store.PromotionAction{Record: rec}, nil
		}
		if st.Policy != nil {
			frozen := *st.Policy
			frozen.AllowedWindows = nil // a person may promote outside the automation's windows, never into a freeze
			if r := frozen.Blocked(now); r != "" {
				rec.State, rec.Reason = domain.PromotionRefused, r
				return store.PromotionAction{Record: rec}, nil
			}
		}
		rec.State = domain.PromotionRunning
		return store.PromotionAction{Record: rec, Apply: true}, nil
	})
	return out, err
}

// due decides, for one policy at now, whether a promotion is due and what
// happens to it. It runs inside the store transaction that carries the
// decision out.
func due(now time.Time) func(st store.PromotionState) (store.PromotionAction, error) {
	return func(st store.PromotionState) (store.PromotionAction, error) {
		pol := st.Policy
		if pol == nil || pol.Disabled {
			return store.PromotionAction{}, nil
		}
		var act store.PromotionAction
		scheduled := pol.Schedule != ""
		if scheduled {
			sched, err := pol.ParseSchedule()
			if err != nil {
				return act, err
			}
			next := sched.Next(st.LastSlot)
			if next.IsZero() || next.After(now) {
				return act, nil // no slot is due
			}
			// Slots missed while no instance ran collapse into the latest
			// one: it is promoted once, not once per missed slot.
			for n := sched.Next(next); !n.IsZero() && !n.After(now); n = sched.Next(n) {
				next = n
			}
			act.AdvanceSlot = next
		}
		v := st.SourceVersion
		if v == "" || v == st.DestVersion || paused(st) != "" {
			return act, nil
		}
		for _, o := range st.Open {
			if o.Version == v {
				return act, nil // already waiting for approval or a window
			}
		}
		rec := &domain.Promotion{Version: v, Trigger: domain.TriggerAuto, Slot: "auto"}
		if scheduled {
			rec.Trigger, rec.Slot = domain.TriggerSchedule, act.AdvanceSlot.UTC().Format(time.RFC3339)
		}
		refuse := func(reason string) (store.PromotionAction, error) {
			if !scheduled {
				return act, nil // automatic promotion waits until the conditions hold
			}
			rec.State, rec.Reason = domain.PromotionRefused, reason
			act.Record = rec
			return act, nil
		}
		if st.SourceTargets == 0 || st.SourceReady < st.SourceTargets {
			return refuse(fmt.Sprintf("%s is not fully deployed and healthy: %d of %d targets run %s healthy", st.From, st.SourceReady, st.SourceTargets, v))
		}
		if soaked := now.Sub(st.ReadySince); soaked < pol.Soak {
			return refuse(fmt.Sprintf("%s has soaked for %s of %s", st.From, soaked.Round(time.Second), pol.Soak))
		}
		if r := pol.Blocked(now); r != "" {
			return refuse(r)
		}
		act.Record = rec
		if pol.RequireApproval {
			rec.State, rec.Reason = domain.PromotionWaitingApproval, "waiting for a person's approval"
			return act, nil
		}
		rec.State = domain.PromotionRunning
		act.Apply = true
		return act, nil
	}
}

// runPending decides about an approved promotion waiting for its window.
func runPending(now time.Time) func(domain.Promotion, store.PromotionState) (store.PromotionUpdate, error) {
	return func(p domain.Promotion, st store.PromotionState) (store.PromotionUpdate, error) {
		if p.State != domain.PromotionPending {
			return store.PromotionUpdate{}, nil
		}
		if r := stopped(st); r != "" {
			return store.PromotionUpdate{}, nil
		}
		if st.Policy != nil {
			if r := st.Policy.Blocked(now); r != "" {
				return store.PromotionUpdate{}, nil
			}
		}
		return store.PromotionUpdate{State: domain.PromotionRunning, Apply: true}, nil
	}
}

// Tick is the scheduler task: it decides every policy of every workspace at
// now and runs approved promotions whose window has opened. Each decision is
// its own transaction that re-checks the state, so running Tick on two
// instances at once promotes nothing twice.
func (p *Promotions) Tick(ctx context.Context, now time.Time) error {
	if domain.OriginFrom(ctx).Actor == "" {
		ctx = domain.WithOrigin(ctx, domain.Origin{Actor: SchedulerActor})
	}
	refs, err := p.store.ListPromotionPolicies(ctx, "", "")
	if err != nil {
		return fmt.Errorf("promotion tick: %w", err)
	}
	var problems []error
	for _, r := range refs {
		pol := r.Policy
		if _, _, err := p.store.DecidePromotion(ctx, pol.Workspace, pol.Project, pol.From, pol.To, due(now)); err != nil {
			problems = append(problems, err)
		}
	}
	pending, err := p.store.ListPromotions(ctx, store.PromotionFilter{States: []string{domain.PromotionPending}}, 1000)
	if err != nil {
		return errors.Join(append(problems, err)...)
	}
	for _, pr := range pending {
		if _, _, err := p.store.UpdatePromotion(ctx, pr.Workspace, pr.ID, runPending(now)); err != nil {
			problems = append(problems, err)
		}
	}
	return errors.Join(problems...)
}

// Approve approves a promotion waiting for approval: it runs now, or, when a
// stop-the-line or the policy's windows forbid it now, becomes pending and
// runs when they allow.
func (p *Promotions) Approve(ctx context.Context, wsName string, id int64, comment string) (domain.Promotion, error) {
	return p.judge(ctx, wsName, id, comment, true)
}

// Reject refuses a promotion waiting for approval, with the comment as reason.
func (p *Promotions) Reject(ctx context.Context, wsName string, id int64, comment string) (domain.Promotion, error) {
	return p.judge(ctx, wsName, id, comment, false)
}

func (p *Promotions) judge(ctx context.Context, wsName string, id int64, comment string, approve bool) (domain.Promotion, error) {
	ws, err := workspace("workspace", wsName)
	if err != nil {
		return domain.Promotion{}, err
	}
	if id <= 0 {
		return domain.Promotion{}, errs.Field("id", "must be positive")
	}
	if len(comment) > maxReason {
		return domain.Promotion{}, errs.Field("comment", "must be at most %d bytes", maxReason)
	}
	actor := domain.OriginFrom(ctx).Actor
	now := p.now()
	out, _, err := p.store.UpdatePromotion(ctx, ws, id, func(pr domain.Promotion, st store.PromotionState) (store.PromotionUpdate, error) {
		if pr.State != domain.PromotionWaitingApproval {
			return store.PromotionUpdate{}, errs.New(errs.FailedPrecondition, "promotion %d is %s, not waiting for approval", id, pr.State)
		}
		u := store.PromotionUpdate{Approver: actor, Comment: comment}
		if !approve {
			u.State, u.Reason = domain.PromotionRefused, "rejected by "+actor
			if comment != "" {
				u.Reason += ": " + comment
			}
			return u, nil
		}
		blocked := stopped(st)
		if blocked == "" && st.Policy != nil {
			blocked = st.Policy.Blocked(now)
		}
		if blocked != "" {
			u.State, u.Reason = domain.PromotionPending, "approved by "+actor+"; waiting: "+blocked
			return u, nil
		}
		u.State, u.Reason, u.Apply = domain.PromotionRunning, "approved by "+actor, true
		return u, nil
	})
	return out, err
}

// ListRequest selects promotions.
type PromotionsRequest struct {
	Workspace, Project, To string
	States                 []string
	Limit                  int
}

// List lists promotions, newest first.
func (p *Promotions) List(ctx context.Context, r PromotionsRequest) ([]domain.Promotion, error) {
	ws, err := workspace("workspace", r.Workspace)
	if err != nil {
		return nil, err
	}
	if err := checkNames([2]string{"project", r.Project}, [2]string{"to", r.To}); err != nil {
		return nil, err
	}
	for i, s := range r.States {
		switch s {
		case domain.PromotionPending, domain.PromotionWaitingApproval, domain.PromotionRunning, domain.PromotionDone, domain.PromotionRefused:
		default:
			return nil, errs.Field("states["+strconv.Itoa(i)+"]", "%s is not a promotion state", errs.Quote(s))
		}
	}
	return p.store.ListPromotions(ctx, store.PromotionFilter{Workspace: ws, Project: r.Project, To: r.To, States: r.States}, r.Limit)
}

// Get returns one promotion.
func (p *Promotions) Get(ctx context.Context, wsName string, id int64) (domain.Promotion, error) {
	ws, err := workspace("workspace", wsName)
	if err != nil {
		return domain.Promotion{}, err
	}
	return p.store.GetPromotion(ctx, ws, id)
}

// SetHold pauses (Environment set) or stops the line of a project (Project
// set) or a workspace (neither), or lifts it when on is false.
func (p *Promotions) SetHold(ctx context.Context, h domain.Hold, on bool) (int64, error) {
	ws, err := workspace("workspace", h.Workspace)
	if err != nil {
		return 0, err
	}
	h.Workspace = ws
	if h.Environment != "" && h.Project == "" {
		return 0, errs.Field("project", "is required to pause an environment")
	}
	if err := checkNames([2]string{"project", h.Project}, [2]string{"environment", h.Environment}); err != nil {
		return 0, err
	}
	if len(h.Reason) > maxReason {
		return 0, errs.Field("reason", "must be at most %d bytes", maxReason)
	}
	return p.store.SetHold(ctx, h, on)
}

// Holds lists a workspace's pauses and stop-the-lines.
func (p *Promotions) Holds(ctx context.Context, wsName string) ([]domain.Hold, error) {
	ws, err := workspace("workspace", wsName)
	if err != nil {
		return nil, err
	}
	return p.store.ListHolds(ctx, ws)
}
