package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"time"

	"github.com/flagops/flagops/internal/domain"
	"github.com/flagops/flagops/internal/errs"
	"github.com/flagops/flagops/internal/flag"
)

// ScheduleState is the state of a schedule or of one of its steps.
type ScheduleState string

// The states. A schedule is pending while a step is; done when every step
// ran; failed when a step could not apply (the flag was deleted, or the
// change would make the project's flags invalid: the rest is then
// cancelled); cancelled when a user cancelled it.
const (
	StatePending   ScheduleState = "pending"
	StateDone      ScheduleState = "done"
	StateFailed    ScheduleState = "failed"
	StateCancelled ScheduleState = "cancelled"
)

// Schedule is a stored scheduled change (Change set, one step) or
// progressive rollout (Rollout set, one step per rollout step) of a flag,
// with its progress. It is what the change log records for kind
// domain.KindFlagSchedule.
type Schedule struct {
	ID        string                   `json:"id"`
	Project   string                   `json:"project"`
	Flag      string                   `json:"flag"`
	Change    *flag.ScheduledChange    `json:"change,omitempty"`
	Rollout   *flag.ProgressiveRollout `json:"rollout,omitempty"`
	State     ScheduleState            `json:"state"`
	Steps     []ScheduleStep           `json:"steps"`
	Revision  int64                    `json:"revision"`
	CreatedAt time.Time                `json:"createdAt"`
	UpdatedAt time.Time                `json:"updatedAt"`
}

// ScheduleStep is the progress of one step. AppliedRevision is the revision
// that applied it (0 until then).
type ScheduleStep struct {
	At              time.Time     `json:"at"`
	State           ScheduleState `json:"state"`
	AppliedRevision int64         `json:"appliedRevision,omitempty"`
	Error           string        `json:"error,omitempty"`
}

func (sc *Schedule) kind() string {
	if sc.Rollout != nil {
		return "rollout"
	}
	return "change"
}

// CreateSchedule stores a scheduled change or progressive rollout of an
// existing flag (exactly one of sc.Change and sc.Rollout; project and flag
// are taken from it). The environment must be one of the project's, and a
// rollout's variation one of the flag's. An empty ID is generated.
func (s *Store) CreateSchedule(ctx context.Context, ws string, sc Schedule) (Schedule, error) {
	var project, fl, env, variation string
	var times []time.Time
	switch {
	case (sc.Change == nil) == (sc.Rollout == nil):
		return sc, errs.Field("", "exactly one of change and rollout is required")
	case sc.Change != nil:
		if err := sc.Change.Validate(); err != nil {
			return sc, errs.Prefix("change", err)
		}
		project, fl, env = sc.Change.Project, sc.Change.Flag, sc.Change.Environment
		times = []time.Time{sc.Change.At}
	default:
		if err := sc.Rollout.Validate(); err != nil {
			return sc, errs.Prefix("rollout", err)
		}
		project, fl, env, variation = sc.Rollout.Project, sc.Rollout.Flag, sc.Rollout.Environment, sc.Rollout.Variation
		for _, st := range sc.Rollout.Steps {
			times = append(times, st.At)
		}
	}
	if project == "" {
		return sc, errs.Field(sc.kind()+".project", "is required")
	}
	if sc.ID != "" {
		if err := flag.ValidateKey("id", sc.ID); err != nil {
			return sc, err
		}
	}
	var out Schedule
	_, err := s.write(ctx, func(t *wtx) error {
		proj, err := requireProject(ctx, t, ws, project)
		if err != nil {
			return err
		}
		if !containsString(proj.EffectiveEnvironments, env) {
			return errs.Field(sc.kind()+".environment", "environment %s is not an environment of project %s", errs.Quote(env), errs.Quote(project))
		}
		doc, _, ok, err := loadRow(ctx, t.r(), "flags", ws, project, fl)
		if err != nil {
			return err
		}
		if !ok {
			return errs.Field(sc.kind()+".flag", "flag %s does not exist", errs.Quote(FlagKey(project, fl)))
		}
		if variation != "" {
			var f flag.Flag
			if err := json.Unmarshal(doc, &f); err != nil {
				return fmt.Errorf("decode flag: %w", err)
			}
			if _, ok := f.Variation(variation); !ok {
				return errs.Field("rollout.variation", "flag %s has no variation %s", errs.Quote(FlagKey(project, fl)), errs.Quote(variation))
			}
		}
		next := sc
		next.Project, next.Flag, next.State = project, fl, StatePending
		if next.ID == "" {
			next.ID = fmt.Sprintf("%s-%d", fl, t.rev)
		}
		next.Revision, next.CreatedAt, next.UpdatedAt = t.rev, t.now, t.now
		next.Steps = make([]ScheduleStep, len(times))
		rows := make([][]any, len(times))
		for i, at := range times {
			at = at.UTC()
			next.Steps[i] = ScheduleStep{At: at, State: StatePending}
			rows[i] = []any{ws, next.ID, i, at.UnixNano(), string(StatePending), 0, ""}
		}
		body, err := json.Marshal(next)
		if err != nil {
			return fmt.Errorf("encode schedule: %w", err)
		}
		if err := t.insertRows(ctx, "flag_schedules", []string{"workspace", "id", "project", "flag", "kind", "doc", "state", "revision", "created_at", "updated_at"},
			[][]any{{ws, next.ID, project, fl, next.kind(), string(body), string(StatePending), t.rev, t.now.UnixNano(), t.now.UnixNano()}}, ""); err != nil {
			return s.mapConstraint(err, "schedule "+next.ID)
		}
		if err := t.insertRows(ctx, "flag_schedule_steps", []string{"workspace", "schedule_id", "step", "due_at", "state", "applied_revision", "error"}, rows, ""); err != nil {
			return err
		}
		out = next
		return t.record(ws, domain.KindFlagSchedule, FlagKey(project, next.ID), domain.OpCreate, nil, next)
	})
	if err != nil {
		return sc, fmt.Errorf("create schedule of flag %s: %w", FlagKey(project, fl), err)
	}
	return out, nil
}

func containsString(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

// loadSchedule reads a schedule with its steps; ok is false when missing.
func loadSchedule(ctx context.Context, r reader, ws, id string) (Schedule, bool, error) {
	var doc []byte
	var state string
	var rev, updated int64
	err := r.queryRow(ctx, "SELECT doc, state, revision, updated_at FROM flag_schedules WHERE workspace = ? AND id = ?", ws, id).Scan(&doc, &state, &rev, &updated)
	if errors.Is(err, sql.ErrNoRows) {
		return Schedule{}, false, nil
	}
	if err != nil {
		return Schedule{}, false, fmt.Errorf("read schedule %s: %w", errs.Quote(id), err)
	}
	var sc Schedule
	if err := json.Unmarshal(doc, &sc); err != nil {
		return Schedule{}, false, fmt.Errorf("decode schedule %s: %w", errs.Quote(id), err)
	}
	sc.State, sc.Revision, sc.UpdatedAt = ScheduleState(state), rev, fromNanos(updated)
	rows, err := r.query(ctx, "SELECT step, state, applied_revision, error FROM flag_schedule_steps WHERE workspace = ? AND schedule_id = ? ORDER BY step", ws, id)
	if err != nil {
		return Schedule{}, false, fmt.Errorf("read steps of schedule %s: %w", errs.Quote(id), err)
	}
	defer rows.Close()
	for rows.Next() {
		var i int
		var st ScheduleStep
		var state string
		if err := rows.Scan(&i, &state, &st.AppliedRevision, &st.Error); err != nil {
			return Schedule{}, false, fmt.Errorf("read steps of schedule %s: %w", errs.Quote(id), err)
		}
		if i < len(sc.Steps) {
			sc.Steps[i].State, sc.Steps[i].AppliedRevision, sc.Steps[i].Error = ScheduleState(state), st.AppliedRevision, st.Error
		}
	}
	return sc, true, rows.Err()
}

// GetSchedule returns a schedule of a project or errs.NotFound.
func (s *Store) GetSchedule(ctx context.Context, ws, project, id string) (Schedule, error) {
	sc, ok, err := loadSchedule(ctx, s.r(), ws, id)
	if err != nil {
		return Schedule{}, err
	}
	if !ok || sc.Project != project {
		return Schedule{}, errs.New(errs.NotFound, "schedule %s in workspace %s", errs.Quote(FlagKey(project, id)), errs.Quote(ws))
	}
	return sc, nil
}

// ListSchedules lists one page of a project's schedules by ID, those of
// one flag when fl is not empty.
func (s *Store) ListSchedules(ctx context.Context, ws, project, fl string, p domain.Page) ([]Schedule, string, error) {
	size, after, err := pageOf(p)
	if err != nil {
		return nil, "", err
	}
	q := "SELECT id FROM flag_schedules WHERE workspace = ? AND project = ? AND id > ?"
	args := []any{ws, project, after}
	if fl != "" {
		q += " AND flag = ?"
		args = append(args, fl)
	}
	ids, err := s.r().strings(ctx, q+" ORDER BY id LIMIT ?", append(args, size+1)...)
	if err != nil {
		return nil, "", fmt.Errorf("list schedules: %w", err)
	}
	next := ""
	if len(ids) > size {
		ids = ids[:size]
		next = pageToken(ids[size-1])
	}
	out := make([]Schedule, 0, len(ids))
	for _, id := range ids {
		sc, ok, err := loadSchedule(ctx, s.r(), ws, id)
		if err != nil {
			return nil, "", err
		}
		if ok {
			out = append(out, sc)
		}
	}
	return out, next, nil
}

// CancelSchedule cancels a pending schedule and its pending steps; a
// finished one is refused with errs.FailedPrecondition.
func (s *Store) CancelSchedule(ctx context.Context, ws, project, id string) (Schedule, error) {
	var out Schedule
	_, err := s.write(ctx, func(t *wtx) error {
		cur, ok, err := loadSchedule(ctx, t.r(), ws, id)
		if err != nil {
			return err
		}
		if !ok || cur.Project != project {
			return errs.New(errs.NotFound, "schedule %s in workspace %s", errs.Quote(FlagKey(project, id)), errs.Quote(ws))
		}
		if cur.State != StatePending {
			return errs.New(errs.FailedPrecondition, "schedule %s is %s, not pending", errs.Quote(FlagKey(project, id)), cur.State)
		}
		out, err = t.finishSchedule(ctx, ws, cur, StateCancelled)
		return err
	})
	if err != nil {
		return Schedule{}, fmt.Errorf("cancel schedule %s: %w", FlagKey(project, id), err)
	}
	return out, nil
}

// finishSchedule sets a schedule's state, cancels its pending steps and
// records the update.
func (t *wtx) finishSchedule(ctx context.Context, ws string, cur Schedule, state ScheduleState) (Schedule, error) {
	if _, err := t.exec(ctx, "UPDATE flag_schedule_steps SET state = ? WHERE workspace = ? AND schedule_id = ? AND state = ?",
		string(StateCancelled), ws, cur.ID, string(StatePending)); err != nil {
		return cur, fmt.Errorf("cancel steps: %w", err)
	}
	return t.updateSchedule(ctx, ws, cur, state)
}

// updateSchedule writes a schedule's state, re-reads its steps and records
// the change.
func (t *wtx) updateSchedule(ctx context.Context, ws string, cur Schedule, state ScheduleState) (Schedule, error) {
	if _, err := t.exec(ctx, "UPDATE flag_schedules SET state = ?, revision = ?, updated_at = ? WHERE workspace = ? AND id = ?",
		string(state), t.rev, t.now.UnixNano(), ws, cur.ID); err != nil {
		return cur, fmt.Errorf("update schedule: %w", err)
	}
	next, _, err := loadSchedule(ctx, t.r(), ws, cur.ID)
	if err != nil {
		return cur, err
	}
	return next, t.record(ws, domain.KindFlagSchedule, FlagKey(cur.Project, cur.ID), domain.OpUpdate, cur, next)
}

// cancelSchedules cancels the pending schedules of a flag being deleted.
func (t *wtx) cancelSchedules(ctx context.Context, ws, project, fl string) error {
	ids, err := t.r().strings(ctx, "SELECT id FROM flag_schedules WHERE workspace = ? AND project = ? AND flag = ? AND state = ? ORDER BY id",
		ws, project, fl, string(StatePending))
	if err != nil {
		return fmt.Errorf("read schedules of %s: %w", FlagKey(project, fl), err)
	}
	for _, id := range ids {
		cur, ok, err := loadSchedule(ctx, t.r(), ws, id)
		if err != nil || !ok {
			return err
		}
		if _, err := t.finishSchedule(ctx, ws, cur, StateCancelled); err != nil {
			return err
		}
	}
	return nil
}

// ScheduleActor is the actor the change log records for the changes a
// step of schedule id makes (the flag, and the schedule's own progress):
// the scheduler, acting for that schedule. Whoever created the schedule is
// recorded on its creation.
func ScheduleActor(id string) string { return "scheduler/schedule/" + id }

// dueStep names one step RunDue found due.
type dueStep struct {
	ws, id string
	step   int
}

// RunDue applies every step due at now, oldest first, each in its own
// transaction: the flag is written as an ordinary change (kind "flag") and
// the step is marked done in the same transaction, guarded by its pending
// state. Two executors racing (two instances on one PostgreSQL) therefore
// apply each step exactly once: the second finds the step no longer
// pending and writes nothing; and a leader whose term is stale (ctx carries
// a domain.Fence) is refused inside the step's transaction, before it reads
// the step. A step that cannot apply marks its schedule failed. It is meant
// to be registered with the scheduler:
// scheduler.Task{Name: "flag-schedules", Run: store.RunDue}.
func (s *Store) RunDue(ctx context.Context, now time.Time) error {
	rows, err := s.query(ctx, "SELECT workspace, schedule_id, step FROM flag_schedule_steps WHERE state = ? AND due_at <= ? ORDER BY due_at, workspace, schedule_id, step",
		string(StatePending), now.UnixNano())
	if err != nil {
		return fmt.Errorf("find due flag schedule steps: %w", err)
	}
	var due []dueStep
	for rows.Next() {
		var d dueStep
		if err := rows.Scan(&d.ws, &d.id, &d.step); err != nil {
			rows.Close()
			return fmt.Errorf("find due flag schedule steps: %w", err)
		}
		due = append(due, d)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return fmt.Errorf("find due flag schedule steps: %w", err)
	}
	var errList []error
	for _, d := range due {
		ctx := domain.WithOrigin(ctx, domain.Origin{Actor: ScheduleActor(d.id), RequestID: domain.OriginFrom(ctx).RequestID})
		if _, err := s.write(ctx, func(t *wtx) error { return t.runStep(ctx, d) }); err != nil {
			errList = append(errList, fmt.Errorf("run step %d of schedule %s: %w", d.step, errs.Quote(d.id), err))
			if errors.Is(err, domain.ErrStaleTerm) {
				break // this instance no longer leads: every other step would be refused too
			}
		}
	}
	return errors.Join(errList...)
}

func (t *wtx) runStep(ctx context.Context, d dueStep) error {
	// The state check is the guard: the counter lock taken before it
	// serialises executors, so a step another executor applied reads done.
	res, err := t.exec(ctx, "UPDATE flag_schedule_steps SET state = ?, applied_revision = ? WHERE workspace = ? AND schedule_id = ? AND step = ? AND state = ?",
		string(StateDone), t.rev, d.ws, d.id, d.step, string(StatePending))
	if err != nil {
		return fmt.Errorf("claim step: %w", err)
	}
	if n, err := res.RowsAffected(); err != nil || n == 0 {
		return err // Already applied or cancelled: record nothing.
	}
	cur, ok, err := loadSchedule(ctx, t.r(), d.ws, d.id)
	if err != nil || !ok {
		return err
	}
	// cur already shows the claimed step done; before is the state the
	// change log should show, with the step still pending.
	before := cur
	before.Steps = append([]ScheduleStep(nil), cur.Steps...)
	before.Steps[d.step].State, before.Steps[d.step].AppliedRevision = StatePending, 0
	applyErr := t.applyStep(ctx, d.ws, &cur, d.step)
	if applyErr != nil {
		if k := errs.KindOf(applyErr); k == nil || errors.Is(applyErr, errs.Unavailable) {
			return applyErr
		}
		// The step cannot apply: fail the schedule, keep the reason.
		if _, err := t.exec(ctx, "UPDATE flag_schedule_steps SET state = ?, applied_revision = 0, error = ? WHERE workspace = ? AND schedule_id = ? AND step = ?",
			string(StateFailed), clipError(applyErr.Error()), d.ws, d.id, d.step); err != nil {
			return fmt.Errorf("fail step: %w", err)
		}
		_, err := t.finishSchedule(ctx, d.ws, before, StateFailed)
		return err
	}
	state := StateDone
	for i, st := range cur.Steps {
		if i != d.step && st.State == StatePending {
			state = StatePending
		}
	}
	_, err = t.updateSchedule(ctx, d.ws, before, state)
	return err
}

func clipError(s string) string {
	if len(s) > 500 {
		return s[:500] + "…"
	}
	return s
}

// applyStep writes the flag as the step says, through putFlag, so that the
// result is validated like any other write.
func (t *wtx) applyStep(ctx context.Context, ws string, sc *Schedule, step int) error {
	doc, _, ok, err := loadRow(ctx, t.r(), "flags", ws, sc.Project, sc.Flag)
	if err != nil {
		return err
	}
	if !ok {
		return errs.New(errs.NotFound, "flag %s no longer exists", errs.Quote(FlagKey(sc.Project, sc.Flag)))
	}
	var f flag.Flag
	if err := json.Unmarshal(doc, &f); err != nil {
		return fmt.Errorf("decode flag: %w", err)
	}
	next := cloneFlag(f)
	if sc.Change != nil {
		next, err = applyChange(next, sc.Change)
	} else {
		next, err = applyRollout(next, sc.Rollout, sc.Rollout.Steps[step].Weight)
	}
	if err != nil {
		return err
	}
	_, _, err = t.putFlag(ctx, ws, next, nil)
	return err
}

func applyChange(f flag.Flag, c *flag.ScheduledChange) (flag.Flag, error) {
	tg, ok := f.Environments[c.Environment]
	if !ok {
		tg = f.DefaultTargeting()
	}
	if c.Targeting != nil {
		tg = *c.Targeting
	} else {
		tg = c.Patch.Apply(tg)
	}
	if f.Environments == nil {
		f.Environments = map[string]flag.Targeting{}
	}
	f.Environments[c.Environment] = tg
	return f, nil
}

// applyRollout gives r.Variation weight in the rollout r names and shares
// the rest among the other variations in proportion to their current
// weights: those of the current rollout, else the variation served until
// now, else all other variations equally.
func applyRollout(f flag.Flag, r *flag.ProgressiveRollout, weight int) (flag.Flag, error) {
	tg, ok := f.Environments[r.Environment]
	if !ok {
		tg = f.DefaultTargeting()
	}
	var sv *flag.Serve
	if r.Rule == nil {
		sv = &tg.Fallthrough
	} else {
		if *r.Rule >= len(tg.Rules) {
			return f, errs.Field("rollout.rule", "environment %s of flag %s has %d rules, no rule %d", errs.Quote(r.Environment), f.Key, len(tg.Rules), *r.Rule)
		}
		sv = &tg.Rules[*r.Rule].Serve
	}
	others := map[string]int{}
	for _, w := range sv.Rollout {
		if w.Variation != r.Variation && w.Weight > 0 {
			others[w.Variation] = w.Weight
		}
	}
	if len(others) == 0 && sv.Variation != "" && sv.Variation != r.Variation {
		others[sv.Variation] = 1
	}
	if len(others) == 0 {
		for _, v := range f.Variations {
			if v.Key != r.Variation {
				others[v.Key] = 1
			}
		}
	}
	rollout := []flag.WeightedVariation{{Variation: r.Variation, Weight: weight}}
	if len(others) == 0 || weight == flag.FullWeight {
		rollout[0].Weight = flag.FullWeight
	} else {
		keys := make([]string, 0, len(others))
		total := 0
		for k, w := range others {
			keys = append(keys, k)
			total += w
		}
		sort.Strings(keys)
		rest, given := flag.FullWeight-weight, 0
		for _, k := range keys {
			w := rest * others[k] / total
			rollout = append(rollout, flag.WeightedVariation{Variation: k, Weight: w})
			given += w
		}
		rollout[1].Weight += rest - given
	}
	sv.Variation, sv.Rollout = "", rollout
	if f.Environments == nil {
		f.Environments = map[string]flag.Targeting{}
	}
	f.Environments[r.Environment] = tg
	return f, nil
}
