package service

import (
	"context"
	"time"

	"github.com/flagops/flagops/internal/domain"
	"github.com/flagops/flagops/internal/errs"
	"github.com/flagops/flagops/internal/eval"
	"github.com/flagops/flagops/internal/flag"
	"github.com/flagops/flagops/internal/store"
)

// FlagStore is the part of the store the flag use cases need.
type FlagStore interface {
	PutFlag(ctx context.Context, ws string, f flag.Flag, expected *int64) (flag.Flag, domain.Op, error)
	GetFlag(ctx context.Context, ws, project, key string) (flag.Flag, error)
	ListFlags(ctx context.Context, ws, project string, p domain.Page) ([]flag.Flag, string, error)
	DeleteFlag(ctx context.Context, ws, project, key string, o store.DeleteOptions) error
	PutSegment(ctx context.Context, ws string, s flag.Segment, expected *int64) (flag.Segment, domain.Op, error)
	GetSegment(ctx context.Context, ws, project, key string) (flag.Segment, error)
	ListSegments(ctx context.Context, ws, project string, p domain.Page) ([]flag.Segment, string, error)
	DeleteSegment(ctx context.Context, ws, project, key string, o store.DeleteOptions) error

	CreateSchedule(ctx context.Context, ws string, sc store.Schedule) (store.Schedule, error)
	ListSchedules(ctx context.Context, ws, project, fl string, p domain.Page) ([]store.Schedule, string, error)
	CancelSchedule(ctx context.Context, ws, project, id string) (store.Schedule, error)
	RunDue(ctx context.Context, now time.Time) error

	ProjectFlags(ctx context.Context, ws, project string) ([]flag.Flag, []flag.Segment, int64, error)
	GetProject(ctx context.Context, ws, name string) (domain.Project, error)
	GetDeployment(ctx context.Context, ws, project, target string) (domain.Deployment, error)
	ResolveFacts(ctx context.Context, ws, project, target string) (domain.Resolved, error)
}

var _ FlagStore = (*store.Store)(nil)

// Snapshots are the server's compiled snapshots (a *snapshot.Registry);
// Evaluate uses them so that it answers exactly as OFREP does.
type Snapshots interface {
	Get(ws, project, env string) *eval.Snapshot
}

// Flags manages flags, segments and their schedules, and evaluates flags.
// It is safe for concurrent use.
type Flags struct {
	store FlagStore
	snaps Snapshots
	fresh func(context.Context)
}

// NewFlags returns the flag use cases on st. snaps may be nil: Evaluate
// then compiles the project from the store on each call. fresh, when not
// nil, is called before reading snaps (flagsync.Sync.Fresh: the caller's
// own writes are then visible).
func NewFlags(st FlagStore, snaps Snapshots, fresh func(context.Context)) *Flags {
	return &Flags{store: st, snaps: snaps, fresh: fresh}
}

// FlagRef names a flag, segment or schedule of a project.
type FlagRef struct {
	Workspace string
	Project   string
	Key       string
}

func (r *FlagRef) check(keyField string) error {
	ws, err := workspace("workspace", r.Workspace)
	if err != nil {
		return err
	}
	r.Workspace = ws
	if err := domain.ValidateName("project", r.Project); err != nil {
		return err
	}
	if keyField != "" {
		return flag.ValidateKey(keyField, r.Key)
	}
	return nil
}

// PutFlag creates or updates a flag (expected: see store.PutFlag).
func (s *Flags) PutFlag(ctx context.Context, ws string, f flag.Flag, expected *int64) (flag.Flag, domain.Op, error) {
	ws, err := workspace("workspace", ws)
	if err != nil {
		return f, "", err
	}
	if err := expectedRevision(expected); err != nil {
		return f, "", err
	}
	out, op, err := s.store.PutFlag(ctx, ws, f, expected)
	if err != nil {
		return out, op, errs.Prefix("flag", err)
	}
	return out, op, nil
}

// GetFlag returns one flag.
func (s *Flags) GetFlag(ctx context.Context, r FlagRef) (flag.Flag, error) {
	if err := r.check("key"); err != nil {
		return flag.Flag{}, err
	}
	return s.store.GetFlag(ctx, r.Workspace, r.Project, r.Key)
}

// ListFlags lists a project's flags.
func (s *Flags) ListFlags(ctx context.Context, r FlagRef, size int, token string) ([]flag.Flag, string, error) {
	p, err := page(size, token)
	if err == nil {
		err = r.check("")
	}
	if err != nil {
		return nil, "", err
	}
	return s.store.ListFlags(ctx, r.Workspace, r.Project, p)
}

// DeleteFlag deletes a flag (force: also from the prerequisites of others).
func (s *Flags) DeleteFlag(ctx context.Context, r FlagRef, o store.DeleteOptions) error {
	if err := r.check("key"); err != nil {
		return err
	}
	if err := expectedRevision(o.Expected); err != nil {
		return err
	}
	return s.store.DeleteFlag(ctx, r.Workspace, r.Project, r.Key, o)
}

// PutSegment creates or updates a segment.
func (s *Flags) PutSegment(ctx context.Context, ws string, sg flag.Segment, expected *int64) (flag.Segment, domain.Op, error) {
	ws, err := workspace("workspace", ws)
	if err != nil {
		return sg, "", err
	}
	if err := expectedRevision(expected); err != nil {
		return sg, "", err
	}
	out, op, err := s.store.PutSegment(ctx, ws, sg, expected)
	if err != nil {
		return out, op, errs.Prefix("segment", err)
	}
	return out, op, nil
}

// GetSegment returns one segment.
func (s *Flags) GetSegment(ctx context.Context, r FlagRef) (flag.Segment, error) {
	if err := r.check("key"); err != nil {
		return flag.Segment{}, err
	}
	return s.store.GetSegment(ctx, r.Workspace, r.Project, r.Key)
}

// ListSegments lists a project's segments.
func (s *Flags) ListSegments(ctx context.Context, r FlagRef, size int, token string) ([]flag.Segment, string, error) {
	p, err := page(size, token)
	if err == nil {
		err = r.check("")
	}
	if err != nil {
		return nil, "", err
	}
	return s.store.ListSegments(ctx, r.Workspace, r.Project, p)
}

// DeleteSegment deletes a segment (force: also the rules that use it).
func (s *Flags) DeleteSegment(ctx context.Context, r FlagRef, o store.DeleteOptions) error {
	if err := r.check("key"); err != nil {
		return err
	}
	if err := expectedRevision(o.Expected); err != nil {
		return err
	}
	return s.store.DeleteSegment(ctx, r.Workspace, r.Project, r.Key, o)
}

// CreateSchedule stores a scheduled change or progressive rollout.
func (s *Flags) CreateSchedule(ctx context.Context, ws string, sc store.Schedule) (store.Schedule, error) {
	ws, err := workspace("workspace", ws)
	if err != nil {
		return sc, err
	}
	return s.store.CreateSchedule(ctx, ws, sc)
}

// ListSchedules lists a project's schedules (of flag r.Key when set).
func (s *Flags) ListSchedules(ctx context.Context, r FlagRef, size int, token string) ([]store.Schedule, string, error) {
	p, err := page(size, token)
	if err == nil {
		err = r.check("")
	}
	if err != nil {
		return nil, "", err
	}
	return s.store.ListSchedules(ctx, r.Workspace, r.Project, r.Key, p)
}

// CancelSchedule cancels a pending schedule (r.Key is its id).
func (s *Flags) CancelSchedule(ctx context.Context, r FlagRef) (store.Schedule, error) {
	if err := r.check("id"); err != nil {
		return store.Schedule{}, err
	}
	return s.store.CancelSchedule(ctx, r.Workspace, r.Project, r.Key)
}

// RunDue applies the schedule steps due at now. Register it with the
// scheduler: scheduler.Task{Name: "flag-schedules", Run: flags.RunDue}.
func (s *Flags) RunDue(ctx context.Context, now time.Time) error {
	return s.store.RunDue(ctx, now)
}

// Snapshot returns every flag and segment of a project and their revision.
func (s *Flags) Snapshot(ctx context.Context, r FlagRef) ([]flag.Flag, []flag.Segment, int64, error) {
	if err := r.check(""); err != nil {
		return nil, nil, 0, err
	}
	if _, err := s.store.GetProject(ctx, r.Workspace, r.Project); err != nil {
		return nil, nil, 0, err
	}
	return s.store.ProjectFlags(ctx, r.Workspace, r.Project)
}
