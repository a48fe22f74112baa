package service_test

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/flagops/flagops/internal/domain"
	"github.com/flagops/flagops/internal/errs"
	"github.com/flagops/flagops/internal/leader"
	"github.com/flagops/flagops/internal/scheduler"
	"github.com/flagops/flagops/internal/service"
	"github.com/flagops/flagops/internal/store"
	"github.com/flagops/flagops/internal/store/pgtest"
)

// backends runs f on SQLite and, when FLAGOPS_TEST_POSTGRES is set, on
// PostgreSQL. newDB makes a fresh database and returns a function that opens
// a migrated store on it (call it twice for two instances sharing it).
func backends(t *testing.T, f func(t *testing.T, newDB func(t *testing.T) func() *store.Store)) {
	t.Run("sqlite", func(t *testing.T) {
		f(t, func(t *testing.T) func() *store.Store {
			dir := t.TempDir()
			return func() *store.Store { return openStore(t, store.Options{DataDir: dir}) }
		})
	})
	t.Run("postgres", func(t *testing.T) {
		pgtest.URL(t) // skips the subtest early without a server
		f(t, func(t *testing.T) func() *store.Store {
			url := pgtest.URL(t)
			return func() *store.Store { return openStore(t, store.Options{DatabaseURL: url}) }
		})
	})
}

func openStore(t *testing.T, o store.Options) *store.Store {
	t.Helper()
	ctx := context.Background()
	st, err := store.Open(ctx, o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	if _, err := st.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	return st
}

// world is a catalog (staging: st-1, st-2; prod: eu-1), a project shop in
// both, the services on it, and a fake clock.
type world struct {
	t     *testing.T
	ctx   context.Context
	st    *store.Store
	clock *scheduler.FakeClock
	ver   *service.Versions
	pro   *service.Promotions
}

func newWorld(t *testing.T, st *store.Store) *world {
	t.Helper()
	ctx := domain.WithOrigin(context.Background(), domain.Origin{Actor: "alice"})
	cat := service.NewCatalog(st)
	for _, e := range []string{"staging", "prod"} {
		if _, _, err := cat.PutEnvironment(ctx, domain.Environment{Meta: domain.Meta{Name: e}}, nil); err != nil {
			t.Fatal(err)
		}
	}
	for tg, e := range map[string]string{"st-1": "staging", "st-2": "staging", "eu-1": "prod"} {
		if _, _, err := cat.PutTarget(ctx, domain.Target{Meta: domain.Meta{Name: tg}, Environment: e}, nil); err != nil {
			t.Fatal(err)
		}
	}
	if _, _, err := cat.PutProject(ctx, domain.Project{Meta: domain.Meta{Name: "shop"}, Environments: []string{"staging", "prod"}}, nil); err != nil {
		t.Fatal(err)
	}
	// The store stamps real times; the fake clock starts just after them.
	clock := scheduler.NewFakeClock(time.Now().Add(time.Second))
	return &world{t: t, ctx: ctx, st: st, clock: clock, ver: service.NewVersions(st), pro: service.NewPromotions(st, clock.Now)}
}

func (w *world) set(env, version string) {
	w.t.Helper()
	if _, _, err := w.ver.SetVersion(w.ctx, service.SetVersionRequest{Project: "shop", Environment: env, Version: version}); err != nil {
		w.t.Fatal(err)
	}
}

func (w *world) report(target, version, status string) {
	w.t.Helper()
	if _, _, err := w.ver.Report(w.ctx, "", domain.DeployedVersion{Project: "shop", Target: target, Version: version, Status: status}); err != nil {
		w.t.Fatal(err)
	}
}

// stagingRuns sets staging to version and reports it healthy on both targets.
func (w *world) stagingRuns(version string) {
	w.t.Helper()
	w.set("staging", version)
	w.report("st-1", version, domain.StatusHealthy)
	w.report("st-2", version, domain.StatusHealthy)
	if now := time.Now().Add(time.Second); now.After(w.clock.Now()) {
		w.clock.Set(now)
	}
}

func (w *world) policy(p domain.PromotionPolicy) {
	w.t.Helper()
	p.Project, p.From, p.To = "shop", "staging", "prod"
	if _, _, err := w.pro.PutPolicy(w.ctx, "", p); err != nil {
		w.t.Fatal(err)
	}
}

func (w *world) tick() {
	w.t.Helper()
	if err := w.pro.Tick(w.ctx, w.clock.Now()); err != nil {
		w.t.Fatal(err)
	}
}

func (w *world) prod() string {
	w.t.Helper()
	v, err := w.st.GetDesiredVersion(w.ctx, domain.DefaultWorkspace, "shop", "prod", "")
	if err != nil {
		return ""
	}
	return v.Version
}

func (w *world) promotions() []domain.Promotion {
	w.t.Helper()
	ps, err := w.pro.List(w.ctx, service.PromotionsRequest{Project: "shop"})
	if err != nil {
		w.t.Fatal(err)
	}
	return ps
}

func (w *world) want(prod string, states ...string) {
	w.t.Helper()
	ps := w.promotions()
	var got []string
	for i := len(ps) - 1; i >= 0; i-- {
		got = append(got, ps[i].State)
	}
	if w.prod() != prod || strings.Join(got, ",") != strings.Join(states, ",") {
		w.t.Fatalf("prod = %q, promotions %v (%+v); want %q, %v", w.prod(), got, ps, prod, states)
	}
}

func TestPromotionConditions(t *testing.T) {
	tests := []struct {
		name string
		run  func(t *testing.T, w *world)
	}{
		{"soak and health then automatic", func(t *testing.T, w *world) {
			w.policy(domain.PromotionPolicy{Soak: time.Hour})
			w.set("staging", "1.0.0")
			w.report("st-1", "1.0.0", domain.StatusHealthy)
			w.report("st-2", "1.0.0", domain.StatusDegraded)
			w.clock.Advance(2 * time.Hour)
			w.tick()
			w.want("") // degraded: not healthy
			w.report("st-2", "1.0.0", domain.StatusHealthy)
			w.clock.Set(time.Now().Add(59 * time.Minute))
			w.tick()
			w.want("") // healthy, but soaked for 59 minutes only
			w.clock.Advance(2 * time.Minute)
			w.tick()
			w.want("1.0.0", domain.PromotionDone)
			w.tick()
			w.want("1.0.0", domain.PromotionDone) // once
			p := w.promotions()[0]
			if p.Trigger != domain.TriggerAuto || len(p.Revisions) != 1 {
				t.Fatalf("promotion = %+v", p)
			}
			cs, _, _ := w.st.ListChanges(w.ctx, domain.ChangeQuery{Kind: domain.KindVersion, Key: "shop@prod", ToRevision: p.Revisions[0], FromRevision: p.Revisions[0] - 1})
			if len(cs) != 1 || !strings.Contains(string(cs[0].After), "promotion") {
				t.Fatalf("promotion's revision does not hold its version change: %+v", cs)
			}
		}},
		{"cron schedule", func(t *testing.T, w *world) {
			w.stagingRuns("2.0.0")
			w.policy(domain.PromotionPolicy{Schedule: "0 * * * *"})
			w.tick()
			w.want("") // the next full hour has not come
			next := w.clock.Now().Truncate(time.Hour).Add(time.Hour)
			w.clock.Set(next.Add(time.Minute))
			w.tick()
			w.want("2.0.0", domain.PromotionDone)
			if p := w.promotions()[0]; p.Trigger != domain.TriggerSchedule || p.Slot != next.UTC().Format(time.RFC3339) {
				t.Fatalf("promotion = %+v; want the %s slot", p, next)
			}
			// The slot is handled; a later tick in the same hour does nothing.
			w.clock.Advance(10 * time.Minute)
			w.tick()
			w.want("2.0.0", domain.PromotionDone)
		}},
		{"cron slot refused when the source is not ready", func(t *testing.T, w *world) {
			w.policy(domain.PromotionPolicy{Schedule: "@hourly"})
			w.set("staging", "3.0.0")
			w.report("st-1", "3.0.0", domain.StatusHealthy)
			w.clock.Set(w.clock.Now().Truncate(time.Hour).Add(time.Hour + time.Minute))
			w.tick()
			w.want("", domain.PromotionRefused)
			if r := w.promotions()[0].Reason; !strings.Contains(r, "1 of 2 targets") {
				t.Fatalf("reason = %q", r)
			}
		}},
		{"freeze window", func(t *testing.T, w *world) {
			now := w.clock.Now()
			w.policy(domain.PromotionPolicy{FreezeWindows: []domain.Window{{Start: now.Add(-time.Hour), End: now.Add(time.Hour), Reason: "black friday"}}})
			w.stagingRuns("4.0.0")
			w.tick()
			w.want("") // frozen: automation waits
			p, err := w.pro.Promote(w.ctx, "", "shop", "staging", "prod")
			if err != nil || p.State != domain.PromotionRefused || !strings.Contains(p.Reason, "black friday") {
				t.Fatalf("manual promote into a freeze = %+v, %v", p, err)
			}
			w.clock.Advance(2 * time.Hour)
			w.tick()
			w.want("4.0.0", domain.PromotionRefused, domain.PromotionDone)
		}},
		{"allowed window", func(t *testing.T, w *world) {
			lt := w.clock.Now().UTC().Add(3 * time.Hour)
			day := strings.ToLower(lt.Weekday().String()[:3])
			from := lt.Truncate(time.Hour)
			w.policy(domain.PromotionPolicy{AllowedWindows: []domain.Window{{Days: []string{day}, From: from.Format("15:04"), To: from.Add(time.Hour).Format("15:04")}}})
			w.stagingRuns("5.0.0")
			w.tick()
			w.want("")
			w.clock.Set(from.Add(time.Minute))
			w.tick()
			w.want("5.0.0", domain.PromotionDone)
		}},
		{"approval", func(t *testing.T, w *world) {
			w.policy(domain.PromotionPolicy{RequireApproval: true})
			w.stagingRuns("6.0.0")
			w.tick()
			w.tick()
			w.want("", domain.PromotionWaitingApproval)
			id := w.promotions()[0].ID
			bob := domain.WithOrigin(w.ctx, domain.Origin{Actor: "bob"})
			p, err := w.pro.Approve(bob, "", id, "looks good")
			if err != nil || p.State != domain.PromotionDone || p.Approver != "bob" {
				t.Fatalf("Approve = %+v, %v", p, err)
			}
			w.want("6.0.0", domain.PromotionDone)
			if _, err := w.pro.Approve(bob, "", id, ""); errs.KindOf(err) != errs.FailedPrecondition {
				t.Fatalf("second approve: %v", err)
			}
			w.stagingRuns("6.1.0")
			w.tick()
			id = w.promotions()[0].ID
			if p, err := w.pro.Reject(bob, "", id, "not today"); err != nil || p.State != domain.PromotionRefused || !strings.Contains(p.Reason, "not today") {
				t.Fatalf("Reject = %+v, %v", p, err)
			}
			w.tick()
			w.want("6.0.0", domain.PromotionDone, domain.PromotionRefused) // a rejected version is not asked for again
		}},
		{"approved inside a freeze waits as pending", func(t *testing.T, w *world) {
			now := w.clock.Now()
			w.policy(domain.PromotionPolicy{RequireApproval: true,
				FreezeWindows: []domain.Window{{Start: now.Add(time.Hour), End: now.Add(3 * time.Hour), Reason: "release freeze"}}})
			w.stagingRuns("6.5.0")
			w.tick()
			w.want("", domain.PromotionWaitingApproval)
			w.clock.Advance(2 * time.Hour) // the freeze has begun
			p, err := w.pro.Approve(w.ctx, "", w.promotions()[0].ID, "")
			if err != nil || p.State != domain.PromotionPending || !strings.Contains(p.Reason, "release freeze") {
				t.Fatalf("Approve in a freeze = %+v, %v", p, err)
			}
			w.tick()
			w.want("", domain.PromotionPending)
			w.clock.Advance(2 * time.Hour) // the freeze is over
			w.tick()
			w.want("6.5.0", domain.PromotionDone)
		}},
		{"manual change pauses automation until resumed", func(t *testing.T, w *world) {
			w.policy(domain.PromotionPolicy{})
			w.set("prod", "0.9.0") // a person: pauses promotion into prod
			w.stagingRuns("7.0.0")
			w.tick()
			w.want("0.9.0")
			if _, err := w.pro.SetHold(w.ctx, domain.Hold{Project: "shop", Environment: "prod"}, false); err != nil {
				t.Fatal(err)
			}
			w.tick()
			w.want("7.0.0", domain.PromotionDone)
		}},
		{"stop the line", func(t *testing.T, w *world) {
			w.policy(domain.PromotionPolicy{})
			if _, err := w.pro.SetHold(w.ctx, domain.Hold{Reason: "incident"}, true); err != nil {
				t.Fatal(err)
			}
			w.stagingRuns("8.0.0")
			w.tick()
			w.want("")
			if p, err := w.pro.Promote(w.ctx, "", "shop", "staging", "prod"); err != nil || p.State != domain.PromotionRefused || !strings.Contains(p.Reason, "stop-the-line") {
				t.Fatalf("manual promote during stop-the-line = %+v, %v", p, err)
			}
			if _, err := w.pro.SetHold(w.ctx, domain.Hold{}, false); err != nil {
				t.Fatal(err)
			}
			w.tick()
			w.want("8.0.0", domain.PromotionRefused, domain.PromotionDone)
		}},
	}
	backends(t, func(t *testing.T, newDB func(t *testing.T) func() *store.Store) {
		for _, tc := range tests {
			t.Run(tc.name, func(t *testing.T) {
				tc.run(t, newWorld(t, newDB(t)()))
			})
		}
	})
}

func TestPolicyValidation(t *testing.T) {
	st := openStore(t, store.Options{DataDir: t.TempDir()})
	w := newWorld(t, st)
	before, _ := st.Revision(w.ctx)
	tests := []struct {
		name  string
		p     domain.PromotionPolicy
		field string
	}{
		{"cron does not parse", domain.PromotionPolicy{Schedule: "every tuesday"}, "policy.schedule"},
		{"unknown environment", domain.PromotionPolicy{To: "qa"}, "policy.to"},
		{"same environments", domain.PromotionPolicy{To: "staging"}, "policy.to"},
		{"freezes cover the allowed windows", domain.PromotionPolicy{
			AllowedWindows: []domain.Window{{Days: []string{"mon"}, From: "09:00", To: "17:00"}},
			FreezeWindows:  []domain.Window{{Days: []string{"mon"}, From: "08:00", To: "12:00"}, {Days: []string{"mon"}, From: "11:00", To: "18:00"}},
		}, "policy.freezeWindows"},
		{"schedule only fires in freezes", domain.PromotionPolicy{Schedule: "0 12 * * sat",
			FreezeWindows: []domain.Window{{Days: []string{"sat", "sun"}, From: "00:00", To: "24:00"}}}, "policy.schedule"},
		{"window end before start", domain.PromotionPolicy{FreezeWindows: []domain.Window{{Start: time.Now(), End: time.Now().Add(-time.Hour)}}}, "policy.freezeWindows[0].end"},
		{"bad day", domain.PromotionPolicy{AllowedWindows: []domain.Window{{Days: []string{"funday"}, From: "09:00", To: "10:00"}}}, "policy.allowedWindows[0].days[0]"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p := tc.p
			p.Project, p.From = "shop", "staging"
			if p.To == "" {
				p.To = "prod"
			}
			_, _, err := w.pro.PutPolicy(w.ctx, "", p)
			if errs.KindOf(err) != errs.Invalid || errs.FieldOf(err) != tc.field {
				t.Fatalf("PutPolicy = %v (field %q); want Invalid on %q", err, errs.FieldOf(err), tc.field)
			}
		})
	}
	if after, _ := st.Revision(w.ctx); after != before {
		t.Fatalf("refused policies moved the revision from %d to %d", before, after)
	}
}

// TestSchedulerExactlyOnce runs the promotions task on two instances of one
// database. Only the holder of the scheduler's lease runs it; when the
// leader stops before a slot, the other takes the lease over and runs the
// missed slots once. Even with leadership bypassed, the transactional checks
// promote a due version once.
func TestSchedulerExactlyOnce(t *testing.T) {
	backends(t, func(t *testing.T, newDB func(t *testing.T) func() *store.Store) {
		open := newDB(t)
		a, b := open(), open()
		w := newWorld(t, a)
		w.policy(domain.PromotionPolicy{Schedule: "*/10 * * * *"})
		w.stagingRuns("1.0.0")
		mk := func(st *store.Store) *scheduler.Scheduler {
			pro := service.NewPromotions(st, w.clock.Now)
			return scheduler.New(w.clock, nil, scheduler.Task{Name: "promotions", Run: pro.Tick})
		}
		sa, sb := mk(a), mk(b)
		// Each instance hands the test its leadership context while it
		// leads; stop ends its campaign and waits for it.
		campaign := func(st *store.Store) (e *leader.Elector, led <-chan context.Context, stop func()) {
			e = leader.New(st, leader.Scheduler, leader.Config{LeaseDuration: time.Second, RenewInterval: 50 * time.Millisecond})
			ch := make(chan context.Context, 1)
			ctx, cancel := context.WithCancel(w.ctx)
			done := make(chan struct{})
			go func() {
				defer close(done)
				e.Run(ctx, func(lctx context.Context) { ch <- lctx; <-lctx.Done() })
			}()
			stop = func() { cancel(); <-done }
			t.Cleanup(stop)
			return e, ch, stop
		}
		_, ledA, stopA := campaign(a)
		la := <-ledA
		eb, ledB, _ := campaign(b)
		if err := sa.Tick(la); err != nil {
			t.Fatal(err)
		}
		time.Sleep(200 * time.Millisecond)
		if eb.Term() != 0 {
			t.Fatal("b leads while a holds the lease")
		}
		// The leader stops (a crash or a deploy) before the slot; the slot
		// passes while nobody runs; the other instance takes over.
		stopA()
		w.clock.Advance(25 * time.Minute) // two slots missed
		var lb context.Context
		select {
		case lb = <-ledB:
		case <-time.After(5 * time.Second):
			t.Fatal("b did not take over")
		}
		if err := sb.Tick(lb); err != nil {
			t.Fatal(err)
		}
		w.want("1.0.0", domain.PromotionDone)
		// Both run the task at the same moment, leadership bypassed: the
		// next version is still promoted once.
		w.stagingRuns("1.1.0")
		w.clock.Advance(10 * time.Minute)
		var wg sync.WaitGroup
		for _, s := range []*scheduler.Scheduler{mk(a), mk(b), mk(a), mk(b)} {
			wg.Add(1)
			go func() {
				defer wg.Done()
				if err := s.Tick(w.ctx); err != nil {
					t.Error(err)
				}
			}()
		}
		wg.Wait()
		w.want("1.1.0", domain.PromotionDone, domain.PromotionDone)
	})
}

// TestVersionAndReleaseValidation checks that bad input names its field
// and changes nothing.
func TestVersionAndReleaseValidation(t *testing.T) {
	st := openStore(t, store.Options{DataDir: t.TempDir()})
	w := newWorld(t, st)
	rel := service.NewReleases(st)
	before, _ := st.Revision(w.ctx)
	good := domain.Artifact{Name: "shop", Platform: "linux/amd64", URL: "https://dl.example.com/shop", SHA256: strings.Repeat("a", 64)}
	bad := good
	bad.SHA256 = "abc"
	tests := []struct {
		name  string
		call  func() error
		field string
	}{
		{"version with spaces", func() error {
			_, _, err := w.ver.SetVersion(w.ctx, service.SetVersionRequest{Project: "shop", Environment: "prod", Version: "1 0"})
			return err
		}, "version"},
		{"version over 128 characters", func() error {
			_, _, err := w.ver.SetVersion(w.ctx, service.SetVersionRequest{Project: "shop", Environment: "prod", Version: strings.Repeat("9", 129)})
			return err
		}, "version"},
		{"unknown environment", func() error {
			_, _, err := w.ver.SetVersion(w.ctx, service.SetVersionRequest{Project: "shop", Environment: "qa", Version: "1"})
			return err
		}, "environment"},
		{"unknown status", func() error {
			_, _, err := w.ver.Report(w.ctx, "", domain.DeployedVersion{Project: "shop", Target: "eu-1", Version: "1", Status: "fine"})
			return err
		}, "status"},
		{"artifact sha256", func() error {
			_, err := rel.Create(w.ctx, "", domain.Release{Project: "shop", Version: "1", Artifacts: []domain.Artifact{good, bad}})
			return err
		}, "release.artifacts[1].sha256"},
		{"short commit", func() error {
			_, err := rel.Create(w.ctx, "", domain.Release{Project: "shop", Version: "1", Commits: map[string]string{"github.com/acme/shop": "3f2a9c0"}})
			return err
		}, "release.commits.github.com/acme/shop"},
		{"find by a short sha256", func() error {
			_, err := rel.Find(w.ctx, service.FindRequest{SHA256: "abc"})
			return err
		}, "sha256"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.call()
			if errs.KindOf(err) != errs.Invalid || errs.FieldOf(err) != tc.field {
				t.Fatalf("err = %v (field %q); want Invalid on %q", err, errs.FieldOf(err), tc.field)
			}
		})
	}
	if after, _ := st.Revision(w.ctx); after != before {
		t.Fatalf("refused requests moved the revision from %d to %d", before, after)
	}
	// Setting the version a deployment already has changes nothing, and in
	// particular does not pause promotion.
	w.set("prod", "1.0.0")
	if _, err := w.pro.SetHold(w.ctx, domain.Hold{Project: "shop", Environment: "prod"}, false); err != nil {
		t.Fatal(err)
	}
	if _, rev, err := w.ver.SetVersion(w.ctx, service.SetVersionRequest{Project: "shop", Environment: "prod", Version: "1.0.0"}); err != nil || rev != 0 {
		t.Fatalf("SetVersion of the current version = %d, %v; want no revision", rev, err)
	}
}
