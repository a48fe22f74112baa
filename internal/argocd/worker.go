package argocd

import (
	"context"
	"errors"
	"fmt"
	"sync"

	"github.com/flagops/flagops/internal/errs"
	"github.com/flagops/flagops/internal/render"
)

// work is what a worker is asked to do; requests made before it starts
// are merged.
type work struct {
	reconcile bool // fetch the bundle and bring the Application in step
	force     bool // and hard-refresh it even if the inputs did not move
	poll      bool // report its status and retry what failed
}

func (w work) or(o work) work {
	return work{reconcile: w.reconcile || o.reconcile, force: w.force || o.force, poll: w.poll || o.poll}
}

// managed is one Application the agent keeps in step, with the worker
// goroutine that does it.
type managed struct {
	key             AppKey
	project, target string
	wake            chan struct{}
	cancel          context.CancelFunc

	// mu guards the fields below; it is never held across I/O.
	mu      sync.Mutex
	env     string // from the bundle; "" until fetched
	queued  work
	running bool
	// oldest is the oldest revision requested and not yet reconciled
	// (when pending), next the oldest one requested while a run was under
	// way, which that run may have missed (when nextSet).
	pending, nextSet bool
	oldest, next     int64

	// The worker goroutine alone uses the fields below.
	hash        string // last inputsHash seen; "" until fetched
	needRefresh bool   // a hard refresh is due (it failed, or is pending)
	needSync    bool   // a sync is due (it was refused, or is pending)
	report      *DeployedReport
}

// startWorker starts the worker of a new managed Application. The caller
// holds a.mu.
func (a *Agent) startWorker(key AppKey, project string) *managed {
	ctx, cancel := context.WithCancel(a.wctx)
	m := &managed{key: key, project: project, target: a.cfg.Target, wake: make(chan struct{}, 1), cancel: cancel}
	a.wg.Add(1)
	go func() {
		defer a.wg.Done()
		a.runWorker(ctx, m)
	}()
	return m
}

// request asks m's worker for w. When track is set, rev is the revision
// the request answers, and Handled stays below it until w is done.
func (m *managed) request(rev int64, track bool, w work) {
	m.mu.Lock()
	m.queued = m.queued.or(w)
	if track {
		switch {
		case m.running && !m.nextSet:
			m.next, m.nextSet = rev, true
		case !m.running && !m.pending:
			m.oldest, m.pending = rev, true
		}
	}
	m.mu.Unlock()
	select {
	case m.wake <- struct{}{}:
	default:
	}
}

// oldestPending returns the oldest tracked revision not yet reconciled,
// and false when there is none.
func (m *managed) oldestPending() (int64, bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.oldest, m.pending
}

func (m *managed) environment() string {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.env
}

// runWorker does m's work, one request at a time, within the agent's
// parallelism, until ctx ends.
func (a *Agent) runWorker(ctx context.Context, m *managed) {
	for {
		select {
		case <-ctx.Done():
			return
		case <-m.wake:
		}
		m.mu.Lock()
		w := m.queued
		m.queued = work{}
		m.running = true
		m.mu.Unlock()
		if w != (work{}) {
			select {
			case a.sem <- struct{}{}:
			case <-ctx.Done():
				return
			}
			a.work(ctx, m, w)
			<-a.sem
		}
		m.mu.Lock()
		m.running = false
		m.oldest, m.pending = m.next, m.nextSet
		m.next, m.nextSet = 0, false
		again := m.queued != (work{})
		m.mu.Unlock()
		if again {
			select {
			case m.wake <- struct{}{}:
			default:
			}
		}
		select {
		case a.progress <- struct{}{}:
		default:
		}
	}
}

// work does w for m. A poll of an Application never fetched, or with a
// refresh or sync still due, reconciles it.
func (a *Agent) work(ctx context.Context, m *managed, w work) {
	if w.reconcile || m.hash == "" || m.needRefresh {
		a.reconcile(ctx, m, w.force)
		return
	}
	app, err := a.argo.Get(ctx, m.key, "")
	if err != nil {
		a.log.Warn("argocd agent: read application", "application", m.key.String(), "err", err)
		return
	}
	if m.needSync {
		a.sync(ctx, m)
	}
	a.report(ctx, m, app)
}

// reconcile fetches m's bundle and brings its Application in step: the
// version first, then a hard refresh when the inputs moved and the write
// did not make Argo CD render anyway, then a sync when asked for. What
// fails is logged and retried on the next change or status tick.
func (a *Agent) reconcile(ctx context.Context, m *managed, force bool) {
	log := a.log.With("application", m.key.String(), "deployment", m.project+"@"+m.target)
	b, err := a.bundles.Fetch(ctx, &render.BundleRequest{Workspace: a.cfg.Workspace, Project: m.project, Target: m.target})
	if err != nil {
		log.Warn("argocd agent: fetch bundle", "err", err)
		return
	}
	m.mu.Lock()
	m.env = b.Deployment.Environment
	m.mu.Unlock()
	changed := m.hash != "" && m.hash != b.InputsHash
	m.hash = b.InputsHash
	if changed || force {
		m.needRefresh = true
	}
	var app *Application
	if a.cfg.VersionField.Kind != "" && b.Version != nil && b.Version.Desired != "" {
		var wrote bool
		app, wrote, err = a.setVersion(ctx, m, b.Version.Desired)
		if err != nil {
			log.Warn("argocd agent: set version", "version", b.Version.Desired, "err", err)
		}
		if wrote {
			m.needSync = a.cfg.SyncAfterUpdate
			// A new Helm, Kustomize or plugin value changes the source,
			// which is part of the repo server's manifest cache key
			// (reposerver/cache, manifestCacheKey), so Argo CD renders
			// again by itself. targetRevision is not in that key (the
			// commit it resolves to is): a new tag on the same commit
			// renders nothing until a hard refresh.
			if a.cfg.VersionField.Kind != FieldTargetRevision {
				m.needRefresh = false
			}
		}
	}
	if m.needRefresh {
		fresh, err := a.argo.Get(ctx, m.key, "hard")
		if err != nil {
			log.Warn("argocd agent: hard refresh; retrying on the next status tick", "err", err)
		} else {
			m.needRefresh = false
			app = fresh
			log.Info("argocd agent: hard refresh done", "revision", b.Revision, "inputs_changed", changed)
		}
	}
	// A sync before the refresh would apply manifests rendered from the
	// old inputs.
	if m.needSync && !m.needRefresh {
		a.sync(ctx, m)
	}
	if app != nil {
		a.report(ctx, m, app)
	}
}

// setVersion patches version into m's Application when it holds another.
// A patch Argo CD refuses because the Application changed since it was
// read is computed again from a fresh read, a few times. It returns the
// Application as last read or written, and whether it wrote.
func (a *Agent) setVersion(ctx context.Context, m *managed, version string) (*Application, bool, error) {
	f := a.cfg.VersionField
	for attempt := 1; ; attempt++ {
		app, err := a.argo.Get(ctx, m.key, "")
		if err != nil {
			return nil, false, err
		}
		from := f.Get(app)
		if from == version {
			return app, false, nil
		}
		ops, err := f.Patch(app, version)
		if err != nil {
			return app, false, err
		}
		next, err := a.argo.Patch(ctx, m.key, ops)
		if err == nil {
			a.log.Info("argocd agent: version set", "application", m.key.String(), "field", f.String(), "from", from, "to", version)
			return next, true, nil
		}
		if !errors.Is(err, errs.Conflict) || attempt == 3 {
			return app, false, err
		}
		a.log.Info("argocd agent: the application changed while its version was set; reading it again",
			"application", m.key.String(), "attempt", attempt)
	}
}

// sync asks Argo CD to sync m's Application. A refusal (another operation
// runs) leaves the sync due, so the next status tick asks again.
func (a *Agent) sync(ctx context.Context, m *managed) {
	if err := a.argo.Sync(ctx, m.key); err != nil {
		a.log.Warn("argocd agent: sync refused; asking again on the next status tick", "application", m.key.String(), "err", err)
		return
	}
	m.needSync = false
}

// report sends m's deployed state when it differs from the last report.
func (a *Agent) report(ctx context.Context, m *managed, app *Application) {
	if a.reporter == nil {
		return
	}
	r := DeployedReport{Workspace: a.cfg.Workspace, Project: m.project, Target: m.target, Application: m.key.String(),
		SyncStatus: app.Status.Sync.Status, HealthStatus: app.Status.Health.Status,
		Revision: app.Status.Sync.Revision, Revisions: app.Status.Sync.Revisions, Images: app.Status.Summary.Images}
	if op := app.Status.OperationState; op != nil {
		r.OperationPhase, r.OperationMessage = op.Phase, op.Message
	}
	if f := a.cfg.VersionField; f.Kind != "" {
		if app.SyncFailed() {
			r.Version = f.Get(app)
		} else {
			r.Version = f.Deployed(app)
		}
	}
	if m.report != nil && fmt.Sprint(*m.report) == fmt.Sprint(r) {
		return
	}
	if err := a.reporter.ReportDeployed(ctx, r); err != nil {
		a.log.Warn("argocd agent: report deployed version", "application", m.key.String(), "err", err)
		return
	}
	m.report = &r
}
