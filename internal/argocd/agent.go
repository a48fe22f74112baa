package argocd

import (
	"context"
	"errors"
	"log/slog"
	"slices"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/flagops/flagops/internal/errs"
	"github.com/flagops/flagops/internal/render"
)

// The labels that put an Application under an agent: the agent of TARGET
// manages the Applications labelled flagops.dev/target=TARGET, and renders
// each as the deployment PROJECT@TARGET of its flagops.dev/project label.
// Without labels, an Application whose name is a project's is that
// project's (see Config.Projects); the labels override the name.
const (
	LabelProject = "flagops.dev/project"
	LabelTarget  = "flagops.dev/target"
)

// Bundles fetches render bundles; *render.Client implements it.
type Bundles interface {
	Fetch(ctx context.Context, req *render.BundleRequest) (*render.Bundle, error)
}

// Applications is the part of Argo CD's API the agent uses; *Client
// implements it. Implementations must be safe for concurrent use: the
// agent works on several Applications at once.
type Applications interface {
	List(ctx context.Context, selector string) ([]*Application, error)
	Get(ctx context.Context, key AppKey, refresh string) (*Application, error)
	Patch(ctx context.Context, key AppKey, ops []PatchOp) (*Application, error)
	Sync(ctx context.Context, key AppKey) error
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

// ProjectLister lists a workspace's project names; Projects implements it
// over the CatalogService.
type ProjectLister interface {
	Projects(ctx context.Context, ws string) ([]string, error)
}

// VersionReporter records what Argo CD actually runs for a deployment. It
// is called from several goroutines.
type VersionReporter interface {
	ReportDeployed(ctx context.Context, r DeployedReport) error
}

// DeployedReport is the state of one deployment as its Application shows
// it.
type DeployedReport struct {
	Workspace, Project, Target string
	// Application is the Application's key, NAMESPACE/NAME.
	Application string
	// Version is the version field as Argo CD last compared it
	// (status.sync.comparedTo) while it says Synced, which right after a
	// write is still the old version; for a failed sync it is the version
	// the sync tried (spec). "" when not known to be deployed.
	Version      string
	SyncStatus   string
	HealthStatus string
	// OperationPhase and OperationMessage are status.operationState's:
	// Failed or Error is a failed sync.
	OperationPhase, OperationMessage string
	// Revision is status.sync.revision (the commit Argo CD synced), and
	// Revisions status.sync.revisions for a multi-source Application.
	Revision  string
	Revisions []string
	// Images is status.summary.images.
	Images []string
}

// SyncFailed reports whether the last sync ended in Failed or Error.
func (r DeployedReport) SyncFailed() bool {
	return r.OperationPhase == PhaseFailed || r.OperationPhase == PhaseError
}

// Config configures an Agent. Target is required.
type Config struct {
	Workspace string // default "default"
	Target    string
	// Selector narrows the Applications listed (a label selector; default
	// none: every Application the token can see, in AppNamespace only
	// when the client is limited to it). Ignored when Static is set.
	Selector string
	// Static names the Applications to manage and their projects,
	// instead of labels and names.
	Static map[AppKey]string
	// Projects, when set, lists flagops' projects so that an Application
	// without flagops labels whose name is a project's is managed as that
	// project on Target. Labels and Static override it.
	Projects ProjectLister
	// VersionField is where an Application holds the version; its zero
	// value turns version sync off.
	VersionField VersionField
	// SyncAfterUpdate asks Argo CD to sync an Application after the agent
	// changed its version; a sync Argo CD refuses (another operation
	// runs) is asked again on every status tick until it is accepted.
	SyncAfterUpdate bool
	// RefreshOnStart hard-refreshes every managed Application once at start:
	// the agent cannot know what changed while it was not running.
	RefreshOnStart bool
	// StatusInterval is how often Applications are re-listed, their
	// status reported and failed steps retried (default 30s).
	StatusInterval time.Duration
	// Parallelism is how many Applications are worked on at once (default
	// 4). Each Application has its own worker, so a slow one (a hard
	// refresh waiting for Argo CD's controller) holds one slot, never the
	// others' turn.
	Parallelism int
	// MinBackoff and MaxBackoff bound the wait before reconnecting to
	// flagops (defaults 500ms and 30s).
	MinBackoff, MaxBackoff time.Duration
	Logger                 *slog.Logger
}

// Agent keeps the Applications of one target in step with flagops. Run it
// once. The Run goroutine owns the event loop; each managed Application
// has a worker goroutine of its own.
type Agent struct {
	cfg      Config
	feed     ChangeFeed
	bundles  Bundles
	argo     Applications
	reporter VersionReporter
	log      *slog.Logger

	sem      chan struct{} // one token per Application being worked on
	progress chan struct{} // a worker finished something; wakes Run
	lastRev  atomic.Int64  // the newest revision handed to the workers
	handled  atomic.Int64  // what Handled last returned: never goes back
	ready    chan struct{}

	// mu guards apps; it is never held across I/O. Lock order: mu, then
	// a managed's mu.
	mu   sync.Mutex
	apps map[AppKey]*managed
	wctx context.Context // the workers' parent, Run's context
	wg   sync.WaitGroup  // the workers
}

// New returns an agent; reporter may be nil.
func New(cfg Config, feed ChangeFeed, bundles Bundles, argo Applications, reporter VersionReporter) (*Agent, error) {
	if cfg.Target == "" {
		return nil, errs.Field("target", "is required")
	}
	if cfg.Workspace == "" {
		cfg.Workspace = "default"
	}
	if cfg.StatusInterval <= 0 {
		cfg.StatusInterval = 30 * time.Second
	}
	if cfg.Parallelism <= 0 {
		cfg.Parallelism = 4
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
	a := &Agent{cfg: cfg, feed: feed, bundles: bundles, argo: argo, reporter: reporter, log: cfg.Logger,
		sem: make(chan struct{}, cfg.Parallelism), progress: make(chan struct{}, 1),
		apps: map[AppKey]*managed{}, ready: make(chan struct{})}
	a.handled.Store(-1) // nothing yet, not even revision 0
	return a, nil
}

// Ready is closed once the agent has reconciled every Application and
// follows the change log.
func (a *Agent) Ready() <-chan struct{} { return a.ready }

// Handled returns the last revision the agent has acted on: every
// Application that revision concerned has been reconciled since.
func (a *Agent) Handled() int64 {
	h := a.lastRev.Load()
	a.mu.Lock()
	for _, m := range a.apps {
		if o, ok := m.oldestPending(); ok && o-1 < h {
			h = o - 1
		}
	}
	a.mu.Unlock()
	for {
		cur := a.handled.Load()
		if h <= cur || a.handled.CompareAndSwap(cur, h) {
			return max(h, cur)
		}
	}
}

// event is one revision of the log, or a request to reconcile everything
// (after the log was compacted under the agent).
type event struct {
	rev     int64
	changes []Change
	all     bool
}

// Run reconciles every managed Application, then follows the change log
// until ctx ends, reconnecting with backoff and resuming from the last
// revision received. It returns nil when ctx ends, once its workers have
// stopped.
func (a *Agent) Run(ctx context.Context) error {
	a.wctx = ctx
	defer a.stopAll()
	from, err := a.start(ctx)
	if err != nil {
		return err
	}
	events := make(chan event)
	go a.follow(ctx, from, events)
	tick := time.NewTicker(a.cfg.StatusInterval)
	defer tick.Stop()
	following := false
	for {
		select {
		case <-ctx.Done():
			return nil
		case ev := <-events:
			a.handle(ev)
			following = true
		case <-tick.C:
			a.poll(ctx)
		case <-a.progress:
		}
		if following && a.Handled() >= from {
			select {
			case <-a.ready:
			default:
				close(a.ready)
			}
		}
	}
}

// start waits for flagops and Argo CD to answer, then has every
// Application reconciled, and returns the revision to follow from.
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
	a.lastRev.Store(from)
	for _, m := range a.sorted() {
		m.request(from, true, work{reconcile: true, force: a.cfg.RefreshOnStart})
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

// handle hands one revision to the workers of every Application the
// changes can affect.
func (a *Agent) handle(ev event) {
	for _, m := range a.sorted() {
		if ev.all || slices.ContainsFunc(ev.changes, m.affectedBy) {
			m.request(ev.rev, true, work{reconcile: true})
		}
	}
	if ev.rev > a.lastRev.Load() {
		a.lastRev.Store(ev.rev)
	}
}

// poll re-lists the Applications (new ones are reconciled) and has every
// worker report its status and retry what failed.
func (a *Agent) poll(ctx context.Context) {
	if err := a.discover(ctx); err != nil {
		a.log.Warn("argocd agent: list applications", "err", err)
	}
	for _, m := range a.sorted() {
		m.request(0, false, work{poll: true})
	}
}

// discover lists the managed Applications, starting a worker for each new
// one (which reconciles it) and stopping those of Applications gone or
// moved to another project.
func (a *Agent) discover(ctx context.Context) error {
	found, err := a.find(ctx)
	if err != nil {
		return err
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	for key, project := range found {
		if m, ok := a.apps[key]; ok && m.project == project {
			continue
		} else if ok {
			m.cancel()
		}
		m := a.startWorker(key, project)
		a.apps[key] = m
		m.request(0, false, work{reconcile: true})
	}
	for key, m := range a.apps {
		if _, ok := found[key]; !ok {
			m.cancel()
			delete(a.apps, key)
		}
	}
	return nil
}

// find returns the Applications this agent manages and their projects:
// those of Static; else those labelled for this target (their project
// label, or their name), those labelled with a project and no target, and
// unlabelled ones named like a project.
func (a *Agent) find(ctx context.Context) (map[AppKey]string, error) {
	found := map[AppKey]string{}
	if a.cfg.Static != nil {
		for key, project := range a.cfg.Static {
			found[key] = project
		}
		return found, nil
	}
	apps, err := a.argo.List(ctx, a.cfg.Selector)
	if err != nil {
		return nil, err
	}
	var projects map[string]bool
	isProject := func(name string) bool {
		if a.cfg.Projects == nil {
			return false
		}
		if projects == nil {
			names, err := a.cfg.Projects.Projects(ctx, a.cfg.Workspace)
			if err != nil {
				a.log.Warn("argocd agent: list projects; Applications are matched by labels only this time", "err", err)
			}
			projects = map[string]bool{}
			for _, n := range names {
				projects[n] = true
			}
		}
		return projects[name]
	}
	for _, app := range apps {
		p, t := app.Metadata.Labels[LabelProject], app.Metadata.Labels[LabelTarget]
		switch {
		case t != "" && t != a.cfg.Target:
			continue // another target's
		case p != "":
			found[app.Key()] = p
		case isProject(app.Metadata.Name):
			found[app.Key()] = app.Metadata.Name
		case t != "":
			a.log.Warn("argocd agent: application labelled for this target has no project label and is not named like a project; skipped",
				"application", app.Key().String())
		}
	}
	return found, nil
}

// sorted returns the managed Applications by key, so that work is handed
// out in a stable order.
func (a *Agent) sorted() []*managed {
	a.mu.Lock()
	out := make([]*managed, 0, len(a.apps))
	for _, m := range a.apps {
		out = append(out, m)
	}
	a.mu.Unlock()
	sort.Slice(out, func(i, j int) bool { return out[i].key.String() < out[j].key.String() })
	return out
}

// stopAll stops every worker and waits for them.
func (a *Agent) stopAll() {
	a.mu.Lock()
	for key, m := range a.apps {
		m.cancel()
		delete(a.apps, key)
	}
	a.mu.Unlock()
	a.wg.Wait()
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
	env := m.environment()
	if env == "" {
		return true // not fetched yet: cannot tell
	}
	return scope == "environment/"+env || scope == "project/"+m.project+"@"+env
}
