package leader_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/flagops/flagops/internal/domain"
	"github.com/flagops/flagops/internal/errs"
	"github.com/flagops/flagops/internal/leader"
	"github.com/flagops/flagops/internal/store"
	"github.com/flagops/flagops/internal/store/pgtest"
)

// backends runs f on SQLite and, when FLAGOPS_TEST_POSTGRES is set, on
// PostgreSQL. open opens another store on the same fresh database: two
// stores stand for two instances (on SQLite, two connections pools on one
// file, which the lease serialises like any other).
func backends(t *testing.T, f func(t *testing.T, open func() *store.Store)) {
	t.Run("sqlite", func(t *testing.T) {
		dir := t.TempDir()
		f(t, func() *store.Store { return openStore(t, store.Options{DataDir: dir}) })
	})
	t.Run("postgres", func(t *testing.T) {
		url := pgtest.URL(t)
		f(t, func() *store.Store { return openStore(t, store.Options{DatabaseURL: url}) })
	})
}

func openStore(t *testing.T, o store.Options) *store.Store {
	t.Helper()
	st, err := store.Open(context.Background(), o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	if _, err := st.Migrate(context.Background()); err != nil {
		t.Fatal(err)
	}
	return st
}

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

// short is the lease timing of these tests.
var short = leader.Config{LeaseDuration: 600 * time.Millisecond, RenewInterval: 100 * time.Millisecond, Logger: quiet}

// instance is one campaigning Elector whose leadership contexts the test
// receives.
type instance struct {
	e    *leader.Elector
	led  chan context.Context
	stop func()
}

func campaign(t *testing.T, st leader.Store, cfg leader.Config) *instance {
	t.Helper()
	in := &instance{e: leader.New(st, leader.Scheduler, cfg), led: make(chan context.Context, 4)}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		in.e.Run(ctx, func(lctx context.Context) { in.led <- lctx; <-lctx.Done() })
	}()
	in.stop = func() { cancel(); <-done }
	t.Cleanup(in.stop)
	return in
}

// leads waits up to d for the instance to lead and returns its context.
func (in *instance) leads(t *testing.T, d time.Duration) context.Context {
	t.Helper()
	select {
	case lctx := <-in.led:
		return lctx
	case <-time.After(d):
		t.Fatalf("no leadership within %s", d)
		return nil
	}
}

func setFact(ctx context.Context, st *store.Store, v string) error {
	_, err := st.SetFacts(ctx, domain.DefaultWorkspace, domain.Scope{Kind: domain.ScopeWorkspace},
		map[string]json.RawMessage{"k": json.RawMessage(`"` + v + `"`)}, nil)
	return err
}

// TestOneLeaderAndHandover: of two instances one leads; the other waits
// while the lease is renewed, well past its duration, and takes over at
// once (not after the expiry) when the leader gives the lease up, at the
// next term.
func TestOneLeaderAndHandover(t *testing.T) {
	backends(t, func(t *testing.T, open func() *store.Store) {
		a := campaign(t, open(), short)
		la := a.leads(t, 5*time.Second)
		b := campaign(t, open(), short)
		time.Sleep(3 * short.LeaseDuration)
		if b.e.Term() != 0 || la.Err() != nil {
			t.Fatalf("b term %d, a's context %v: want a alone leading", b.e.Term(), la.Err())
		}
		termA := a.e.Term()
		start := time.Now()
		a.stop()
		if la.Err() == nil {
			t.Fatal("a stopped without ending its leadership context")
		}
		b.leads(t, short.LeaseDuration)
		if took := time.Since(start); took >= short.LeaseDuration {
			t.Fatalf("b took over after %s: the released lease was not free at once", took)
		}
		if b.e.Term() != termA+1 {
			t.Fatalf("b's term %d after a's %d; want the next", b.e.Term(), termA)
		}
	})
}

// TestStalledLeaderIsFenced is issue 9.13 at the package level: a leader
// that stops renewing (paused) loses its lease to another instance within
// the lease duration plus one renew interval, and when it resumes, the
// writes it was about to make are refused by the fence inside their
// transaction (a change-log write, a cursor write, a check before a side
// effect), before its elector has even noticed; then its elector ends its
// leadership.
func TestStalledLeaderIsFenced(t *testing.T) {
	backends(t, func(t *testing.T, open func() *store.Store) {
		stA := open()
		pause := &leader.Pause{}
		cfgA := short
		cfgA.Pause = pause
		a := campaign(t, stA, cfgA)
		la := a.leads(t, 5*time.Second)
		if err := setFact(la, stA, "by a"); err != nil {
			t.Fatalf("a write of the leader: %v", err)
		}
		b := campaign(t, open(), short)

		pause.Stop()
		stalled := time.Now()
		writes := []struct {
			name string
			do   func(ctx context.Context) error
		}{
			{"change-log write", func(ctx context.Context) error { return setFact(ctx, stA, "stale") }},
			{"cursor write", func(ctx context.Context) error {
				return stA.SetFollowerCursor(ctx, "git", domain.CursorAfterRevision(1))
			}},
			{"check before a side effect", stA.CheckFence},
		}
		results := make(chan error, len(writes))
		for _, w := range writes {
			go func() { results <- w.do(la) }()
		}
		b.leads(t, 5*time.Second)
		if took, limit := time.Since(stalled), short.LeaseDuration+2*short.RenewInterval; took > limit {
			t.Fatalf("b took over %s after a stalled; want within %s", took, limit)
		}
		before, err := stA.Revision(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		for pause.Waiting() < len(writes) {
			time.Sleep(5 * time.Millisecond)
		}
		pause.ResumeWrites()
		for range writes {
			err := <-results
			if !errors.Is(err, domain.ErrStaleTerm) || !errors.Is(err, errs.FailedPrecondition) {
				t.Errorf("a stale leader's write = %v; want ErrStaleTerm of kind FailedPrecondition", err)
			}
		}
		if la.Err() != nil {
			t.Fatal("a's leadership ended before its writes met the fence; the test proves nothing")
		}
		if after, _ := stA.Revision(context.Background()); after != before {
			t.Fatalf("the stale write moved the revision from %d to %d", before, after)
		}
		if _, ok, _ := stA.FollowerCursor(context.Background(), "git"); ok {
			t.Fatal("the stale cursor write was applied")
		}
		if n := a.e.Refused(); n != int64(len(writes)) {
			t.Fatalf("a counted %d refusals; want %d", n, len(writes))
		}
		pause.Resume()
		select {
		case <-la.Done():
		case <-time.After(5 * time.Second):
			t.Fatal("the resumed leader never noticed it lost the lease")
		}
		if a.e.Term() != 0 {
			t.Fatalf("a still reports term %d", a.e.Term())
		}
		l, ok, err := stA.GetLease(context.Background(), leader.Scheduler)
		if err != nil || !ok || l.Term != b.e.Term() {
			t.Fatalf("lease = %+v, %v, %v; want b's term %d", l, ok, err, b.e.Term())
		}
	})
}

// failingRenewals is the store of an instance that can still take a lease
// but whose renewals fail, as when its database connection is lost.
type failingRenewals struct{ *store.Store }

func (failingRenewals) RenewLease(context.Context, string, string, int64, time.Duration) (bool, error) {
	return false, errors.New("connection refused")
}

// TestLeaderStepsDownWhenItCannotRenew: a leader whose renewals fail ends
// its leadership by its own clock when the lease runs out, without waiting
// to hear from the database that another instance took over.
func TestLeaderStepsDownWhenItCannotRenew(t *testing.T) {
	backends(t, func(t *testing.T, open func() *store.Store) {
		a := campaign(t, failingRenewals{open()}, short)
		start := time.Now()
		la := a.leads(t, 5*time.Second)
		select {
		case <-la.Done():
		case <-time.After(5 * time.Second):
			t.Fatal("the leader kept leading without a renewal")
		}
		if took := time.Since(start); took > short.LeaseDuration+2*short.RenewInterval {
			t.Fatalf("stepped down after %s; want within the lease of %s", took, short.LeaseDuration)
		}
	})
}

// TestTermsGrow: every change of hands takes the next term, and a write
// fenced with any earlier term is refused.
func TestTermsGrow(t *testing.T) {
	backends(t, func(t *testing.T, open func() *store.Store) {
		st := open()
		ctx := context.Background()
		const ttl = time.Minute
		t1, ok, err := st.AcquireLease(ctx, "job", "a", ttl)
		if err != nil || !ok || t1 != 1 {
			t.Fatalf("first acquire = %d, %v, %v; want term 1", t1, ok, err)
		}
		if _, ok, err := st.AcquireLease(ctx, "job", "b", ttl); err != nil || ok {
			t.Fatalf("acquire of a running lease = %v, %v; want refused", ok, err)
		}
		if err := st.ReleaseLease(ctx, "job", "a", t1); err != nil {
			t.Fatal(err)
		}
		t2, ok, err := st.AcquireLease(ctx, "job", "b", ttl)
		if err != nil || !ok || t2 != 2 {
			t.Fatalf("acquire after release = %d, %v, %v; want term 2", t2, ok, err)
		}
		if ok, err := st.RenewLease(ctx, "job", "a", t1, ttl); err != nil || ok {
			t.Fatalf("renewal of a lost term = %v, %v; want refused", ok, err)
		}
		tests := []struct {
			name  string
			term  int64
			stale bool
		}{
			{"current term", t2, false},
			{"earlier term", t1, true},
			{"a term never held", t2 + 1, true},
		}
		for _, tc := range tests {
			t.Run(tc.name, func(t *testing.T) {
				err := setFact(domain.WithFence(ctx, fixedFence{"job", tc.term}), st, tc.name)
				if errors.Is(err, domain.ErrStaleTerm) != tc.stale {
					t.Fatalf("write with term %d = %v; want stale %v", tc.term, err, tc.stale)
				}
			})
		}
	})
}

// fixedFence fences writes with a given term.
type fixedFence struct {
	lease string
	term  int64
}

func (f fixedFence) Term() (string, int64)        { return f.lease, f.term }
func (fixedFence) Wait(ctx context.Context) error { return nil }
func (fixedFence) Refused()                       {}

func TestConfigValidate(t *testing.T) {
	tests := []struct {
		name  string
		cfg   leader.Config
		field string
	}{
		{"defaults", leader.Config{}, ""},
		{"short lease, default renew", leader.Config{LeaseDuration: time.Second}, ""},
		{"renew as long as the lease", leader.Config{LeaseDuration: time.Second, RenewInterval: time.Second}, "leaseRenewInterval"},
		{"renew longer than the default lease", leader.Config{RenewInterval: time.Minute}, "leaseRenewInterval"},
		{"negative lease", leader.Config{LeaseDuration: -time.Second}, "leaseDuration"},
		{"lease too short to renew", leader.Config{LeaseDuration: time.Millisecond}, "leaseDuration"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.cfg.Validate()
			if errs.FieldOf(err) != tc.field || (tc.field != "") != errors.Is(err, errs.Invalid) {
				t.Fatalf("Validate = %v; want a field error on %q", err, tc.field)
			}
		})
	}
}
