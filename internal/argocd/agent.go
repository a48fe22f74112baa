package argocd

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sort"
	"strings"
	"sync/atomic"
	"time"

	"github.com/flagops/flagops/internal/errs"
	"github.com/flagops/flagops/internal/render"
)

// The labels that put an Application under the agent: it manages the
// Applications labelled with its target, and renders them as the
// deployment PROJECT@TARGET.
const (
	LabelProject = "flagops.dev/project"
	LabelTarget  = "flagops.dev/target"
)

// Bundles fetches render bundles; *render.Client implements it.
type Bundles interface {
	Fetch(ctx context.Context, req *render.BundleRequest) (*render.Bundle, error)
}

// Applications is the part of Argo CD's API the agent uses; *Client
// implements it.
type Applications interface {
	List(ctx context.Context, selector string) ([]*Application, error)
	Get(ctx context.Context, name, refresh string) (*Application, error)
	Update(ctx context.Context, app *Application) (*Application, error)
	Sync(ctx context.Context, name string) error
}

// Change is what the agent reads of a change-log entry.
type Change struct {
	Kind string
	Key  string
}

// ChangeFeed follows flagops' change log; Feed implements it over the
// ChangeService Watch stream.
type ChangeFeed interface {
	// Follow calls fn with every revision after from in workspace ws, in
	// order (changes empty for the caught-up marker), until ctx ends (nil)
	// or the stream breaks (the error; errs.Compacted when from is no
	// longer in the log).
	Follow(ctx context.Context, ws string, from int64, fn func(rev int64, changes []Change)) error
	// Revision returns the last revision of the log.
	Revision(ctx context.Context) (int64, error)
}

// VersionReporter records what Argo CD actually runs for a deployment. The
// versions branch provides the RPC behind it; until then it may be nil.
type VersionReporter interface {
	ReportDeployed(ctx context.Context, r DeployedReport) error
}

// DeployedReport is the state of one deployment as its Application shows
// it. Version is the Application's version field when Argo CD reports it
// Synced, else "" (not known to be deployed).
type DeployedReport struct {
	Workspace, Project, Target string
	Application                string
	Version                    string
	SyncStatus                 string
	HealthStatus               string
	// Revision is status.sync.revision (the commit Argo CD synced).
	Revision string
	// Images is status.summary.images.
	Images []string
}

// Config configures an Agent. Target is required.
type Config struct {
	Workspace string // default "default"
	Target    string
	// Selector lists the Applications to manage (default
	// "flagops.dev/target=TARGET"); each must carry both labels. Ignored
	// when Static is set.
	Selector string
	// Static maps Application names to projects, instead of labels.
	Static map[string]string
	// VersionField is where an Application holds the version; its zero
	// value turns version sync off.
	VersionField VersionField
	// SyncAfterUpdate asks Argo CD to sync an Application after the agent
	// changed its version.
	SyncAfterUpdate bool
	// RefreshOnStart hard-refreshes every managed Application once at start:
	// the agent cannot know what changed while it was not running.
	RefreshOnStart bool
	// StatusInterval is how often Applications are re-listed and their
	// status reported (default 30s).
	StatusInterval time.Duration
	// MinBackoff and MaxBackoff bound the wait before reconnecting to
	// flagops (defaults 500ms and 30s).
	MinBackoff, MaxBackoff time.Duration
	Logger                 *slog.Logger
}

// Agent keeps the Applications of one target in step with flagops. Run it
// once; its state is owned by the Run goroutine.
type Agent struct {
	cfg      Config
	feed     ChangeFeed
	bundles  Bundles
	argo     Applications
	reporter VersionReporter
	log      *slog.Logger

	apps    map[string]*managed // by Application name
	handled atomic.Int64
	ready   chan struct{}
}

// managed is one Application the agent keeps in step.
type managed struct {
	name, project, target string
	env                   string // from the bundle; "" until fetched
	hash                  string // last inputsHash seen; "" until fetched
	// pending is set when a hard refresh failed; it is retried on the next
	// change or status tick, even if the hash does not move again.
	pending bool
	report  *DeployedReport
}

// New returns an agent; reporter may be nil.
func New(cfg Config, feed ChangeFeed, bundles Bundles, argo Applications, reporter VersionReporter) (*Agent, error) {
	if cfg.Target == "" {
		return nil, errs.Field("target", "is required")
	}
	if cfg.Workspace == "" {
		cfg.Workspace = "default"
	}
	if cfg.Selector == "" {
		cfg.Selector = LabelTarget + "=" + cfg.Target
	}
	if cfg.StatusInterval <= 0 {
		cfg.StatusInterval = 30 * time.Second
	}
	if cfg.MinBackoff <= 0 {
		cfg.MinBackoff = 500 * time.Millisecond
	}
	if cfg.MaxBackoff < cfg.MinBackoff {
		cfg.MaxBackoff = max(30*time.Second, cfg.MinBackoff)
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	return &Agent{cfg: cfg, feed: feed, bundles: bundles, argo: argo, reporter: reporter, log: cfg.Logger,
		apps: map[string]*managed{}, ready: make(chan struct{})}, nil
}

// Ready is closed once the agent has reconciled every Application and
// follows the change log.
func (a *Agent) Ready() <-chan struct{} { return a.ready }

// Handled returns the last revision the agent has acted on.
func (a *Agent) Handled() int64 { return a.handled.Load() }

// event is one revision of the log, or a request to reconcile everything
// (after the log was compacted under the agent).
type event struct {
	rev     int64
	changes []Change
	all     bool
}

// Run reconciles every managed Application, then follows the change log
// until ctx ends, reconnecting with backoff and resuming from the last
// revision received. It returns nil when ctx ends.
func (a *Agent) Run(ctx context.Context) error {
	from, err := a.start(ctx)
	if err != nil {
		return err
	}
	events := make(chan event)
	go a.follow(ctx, from, events)
	tick := time.NewTicker(a.cfg.StatusInterval)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case ev := <-events:
			a.handle(ctx, ev)
		case <-tick.C:
			a.poll(ctx)
		}
	}
}

// start waits for flagops and Argo CD to answer, then reconciles every
// Application and returns the revision to follow from.
func (a *Agent) start(ctx context.Context) (int64, error) {
	var from int64
	err := a.retry(ctx, "start", func() error {
		var err error
		if from, err = a.feed.Revision(ctx); err != nil {
			return err
		}
		return a.discover(ctx)
	})
	if err != nil {
		return 0, err
	}
	for _, m := range a.sorted() {
		a.reconcile(ctx, m, a.cfg.RefreshOnStart)
	}
	return from, nil
}

// retry calls f until it succeeds or ctx ends, with exponential backoff.
func (a *Agent) retry(ctx context.Context, what string, f func() error) error {
	wait := a.cfg.MinBackoff
	for {
		err := f()
		if err == nil {
			return nil
		}
		a.log.Warn("argocd agent: retrying", "step", what, "in", wait, "err", err)
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(wait):
		}
		wait = min(wait*2, a.cfg.MaxBackoff)
	}
}

// follow runs the change feed, sending events to the Run loop. A broken
// stream is resumed after the last revision received; a compacted one from
// the log's current revision, after a full reconcile.
func (a *Agent) follow(ctx context.Context, from int64, events chan<- event) {
	send := func(ev event) {
		select {
		case events <- ev:
		case <-ctx.Done():
		}
	}
	wait := a.cfg.MinBackoff
	for ctx.Err() == nil {
		err := a.feed.Follow(ctx, a.cfg.Workspace, from, func(rev int64, changes []Change) {
			wait = a.cfg.MinBackoff // the stream works
			if rev > from {
				from = rev
			}
			send(event{rev: rev, changes: changes})
		})
		if ctx.Err() != nil {
			return
		}
		if errors.Is(err, errs.Compacted) {
			if rev, rerr := a.feed.Revision(ctx); rerr == nil {
				a.log.Warn("argocd agent: the log was compacted past the agent; reconciling everything", "from", from, "to", rev)
				from = rev
				send(event{rev: rev, all: true})
				continue
			}
		}
		a.log.Warn("argocd agent: change stream ended; reconnecting", "from", from, "in", wait, "err", err)
		select {
		case <-ctx.Done():
			return
		case <-time.After(wait):
		}
		wait = min(wait*2, a.cfg.MaxBackoff)
	}
}

// handle acts on one revision: every Application the changes can affect is
// reconciled.
func (a *Agent) handle(ctx context.Context, ev event) {
	for _, m := range a.sorted() {
		if ev.all || slices.ContainsFunc(ev.changes, func(c Change) bool { return m.affectedBy(c) }) {
			a.reconcile(ctx, m, false)
		}
	}
	if ev.rev > a.handled.Load() {
		a.handled.Store(ev.rev)
	}
	select {
	case <-a.ready:
	default:
		close(a.ready)
	}
}

// affectedBy reports whether a change can alter m's bundle. A fact change
// matters only when its scope is one m's facts are resolved from; every
// other kind (flags, versions, secrets, the catalog) is taken to matter,
// since the bundle's hash then decides cheaply whether anything did.
func (m *managed) affectedBy(c Change) bool {
	if c.Kind != "fact" {
		return true
	}
	scope, _, _ := strings.Cut(c.Key, ":")
	switch scope {
	case "workspace", "target/" + m.target, "project/" + m.project, "deployment/" + m.project + "@" + m.target:
		return true
	}
	if m.env == "" {
		return true // not fetched yet: cannot tell
	}
	return scope == "environment/"+m.env || scope == "project/"+m.project+"@"+m.env
}

// reconcile fetches m's bundle and brings its Application in step: the
// version first (an update makes Argo CD render anyway), then a hard
// refresh when the inputs moved. Failures are logged and retried on the
// next change or status tick.
func (a *Agent) reconcile(ctx context.Context, m *managed, forceRefresh bool) {
	log := a.log.With("application", m.name, "deployment", m.project+"@"+m.target)
	b, err := a.bundles.Fetch(ctx, &render.BundleRequest{Workspace: a.cfg.Workspace, Project: m.project, Target: m.target})
	if err != nil {
		log.Warn("argocd agent: fetch bundle", "err", err)
		return
	}
	m.env = b.Deployment.Environment
	changed := m.hash != "" && m.hash != b.InputsHash
	m.hash = b.InputsHash
	updated := false
	if a.cfg.VersionField.Kind != "" && b.Version != nil && b.Version.Desired != "" {
		if updated, err = a.syncVersion(ctx, m, b.Version.Desired); err != nil {
			log.Warn("argocd agent: set version", "version", b.Version.Desired, "err", err)
		}
	}
	if updated {
		// A new spec makes Argo CD render again anyway.
		m.pending = false
		return
	}
	if changed || forceRefresh || m.pending {
		app, err := a.argo.Get(ctx, m.name, "hard")
		if err != nil {
			log.Warn("argocd agent: hard refresh", "err", err)
			m.pending = true
			return
		}
		m.pending = false
		log.Info("argocd agent: hard refresh requested", "revision", b.Revision, "inputs_changed", changed)
		a.report(ctx, m, app)
	}
}

// syncVersion writes version into m's Application when it holds another,
// and syncs when configured. It reports whether it wrote.
func (a *Agent) syncVersion(ctx context.Context, m *managed, version string) (bool, error) {
	app, err := a.argo.Get(ctx, m.name, "")
	if err != nil {
		return false, err
	}
	a.report(ctx, m, app)
	if a.cfg.VersionField.Get(app) == version {
		return false, nil
	}
	next, err := a.cfg.VersionField.Set(app, version)
	if err != nil {
		return false, err
	}
	if _, err := a.argo.Update(ctx, next); err != nil {
		return false, err
	}
	a.log.Info("argocd agent: version set", "application", m.name, "field", a.cfg.VersionField.String(),
		"from", a.cfg.VersionField.Get(app), "to", version)
	if a.cfg.SyncAfterUpdate {
		if err := a.argo.Sync(ctx, m.name); err != nil {
			return true, err
		}
	}
	return true, nil
}

// poll re-lists the Applications (new ones are reconciled) and reports the
// status of each.
func (a *Agent) poll(ctx context.Context) {
	if err := a.discover(ctx); err != nil {
		a.log.Warn("argocd agent: list applications", "err", err)
	}
	for _, m := range a.sorted() {
		if m.hash == "" || m.pending {
			a.reconcile(ctx, m, false)
			continue
		}
		app, err := a.argo.Get(ctx, m.name, "")
		if err != nil {
			a.log.Warn("argocd agent: read application", "application", m.name, "err", err)
			continue
		}
		a.report(ctx, m, app)
	}
}

// report sends m's deployed state when it differs from the last report.
func (a *Agent) report(ctx context.Context, m *managed, app *Application) {
	if a.reporter == nil {
		return
	}
	r := DeployedReport{Workspace: a.cfg.Workspace, Project: m.project, Target: m.target, Application: m.name,
		SyncStatus: app.Status.Sync.Status, HealthStatus: app.Status.Health.Status,
		Revision: app.Status.Sync.Revision, Images: app.Status.Summary.Images}
	if r.SyncStatus == "Synced" && a.cfg.VersionField.Kind != "" {
		r.Version = a.cfg.VersionField.Get(app)
	}
	if m.report != nil && fmt.Sprint(*m.report) == fmt.Sprint(r) {
		return
	}
	if err := a.reporter.ReportDeployed(ctx, r); err != nil {
		a.log.Warn("argocd agent: report deployed version", "application", m.name, "err", err)
		return
	}
	m.report = &r
}

// discover lists the managed Applications, keeping the state of those
// already known and dropping those gone.
func (a *Agent) discover(ctx context.Context) error {
	found := map[string][2]string{}
	if a.cfg.Static != nil {
		for name, project := range a.cfg.Static {
			found[name] = [2]string{project, a.cfg.Target}
		}
	} else {
		apps, err := a.argo.List(ctx, a.cfg.Selector)
		if err != nil {
			return err
		}
		for _, app := range apps {
			p, t := app.Metadata.Labels[LabelProject], app.Metadata.Labels[LabelTarget]
			if p == "" || t != a.cfg.Target {
				a.log.Warn("argocd agent: application selected without both labels for this target; skipped",
					"application", app.Metadata.Name, "project", p, "target", t)
				continue
			}
			found[app.Metadata.Name] = [2]string{p, t}
		}
	}
	for name, pt := range found {
		if m, ok := a.apps[name]; !ok || m.project != pt[0] {
			a.apps[name] = &managed{name: name, project: pt[0], target: pt[1]}
		}
	}
	for name := range a.apps {
		if _, ok := found[name]; !ok {
			delete(a.apps, name)
		}
	}
	return nil
}

// sorted returns the managed Applications by name, so that work is done in
// a stable order.
func (a *Agent) sorted() []*managed {
	out := make([]*managed, 0, len(a.apps))
	for _, m := range a.apps {
		out = append(out, m)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].name < out[j].name })
	return out
}
