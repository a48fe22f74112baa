package adversarial_test

import (
	"bufio"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"connectrpc.com/connect"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/types/known/structpb"
	"google.golang.org/protobuf/types/known/timestamppb"

	flagopsv1 "github.com/flagops/flagops/gen/flagops/v1"
	"github.com/flagops/flagops/gen/flagops/v1/flagopsv1connect"
	"github.com/flagops/flagops/internal/leader"
	"github.com/flagops/flagops/internal/scheduler"
	"github.com/flagops/flagops/internal/server"
	"github.com/flagops/flagops/internal/server/servertest"
	"github.com/flagops/flagops/internal/webhook"
)

// TestStalledLeaderLosesLeaseAndCannotActTwice keeps issue 9.13 fixed: a
// stalled leader blocked all scheduling, because the PostgreSQL advisory
// lock it held had no lease. Two servers share one database; the first
// leads every background job and then stalls (leader.Pause: its lease
// renewals and its writes stop, as in a paused process) just as a scheduled
// flag change falls due and its scheduler is about to apply it. The second
// takes the leases over within the lease time, applies the step and delivers
// its webhook event. When the first resumes, its pending write meets the
// fence and is refused; nothing is applied or delivered twice, and the second
// goes on scheduling.
func TestStalledLeaderLosesLeaseAndCannotActTwice(t *testing.T) {
	servertest.Backends(t, func(t *testing.T, cfg server.Config) {
		ctx := context.Background()
		start := time.Now()
		clock := scheduler.NewFakeClock(start)
		cfg.Clock, cfg.SchedulerInterval = clock, time.Minute
		cfg.LeaseDuration, cfg.LeaseRenewInterval = time.Second, 100*time.Millisecond
		cfg.Webhooks = webhook.Options{PollInterval: 50 * time.Millisecond, Backoff: webhook.Backoff{Base: time.Millisecond, Max: 10 * time.Millisecond}}
		rcv := newCountingReceiver(t)

		pause := &leader.Pause{}
		cfgA := cfg
		cfgA.LeaderPause = pause
		a := servertest.Start(t, cfgA)
		waitLeading(t, a, 1, leader.Scheduler, leader.Webhooks)
		b := servertest.Start(t, cfg)
		c := servertest.NewClients(servertest.HTTP1Client(), a.URL())
		hooks := flagopsv1connect.NewWebhookServiceClient(servertest.HTTP1Client(), a.URL())

		leaderEstate(t, c)
		_, err := hooks.CreateWebhook(ctx, connect.NewRequest(&flagopsv1.CreateWebhookRequest{Name: "flags", Url: rcv.URL(),
			Secret: "a-long-enough-signing-secret", Filter: &flagopsv1.WebhookFilter{Kinds: []string{"flag"}}}))
		must(t, err)
		putFlag(t, c)
		last := schedule(t, c, start.Add(time.Hour), false)
		// The leader delivers what exists so far (the flag's creation) and
		// moves its cursor to the end of the log before it stalls.
		waitFor(t, "the first delivery and cursor", func() bool {
			h, err := hooks.GetWebhook(ctx, connect.NewRequest(&flagopsv1.GetWebhookRequest{Name: "flags"}))
			must(t, err)
			return rcv.count() == 1 && h.Msg.GetWebhook().GetCursorRevision() >= last
		})

		pause.Stop()
		stalled := time.Now()
		clock.Advance(61 * time.Minute) // the change falls due; a's scheduler ticks
		waitFor(t, "the stalled leader's scheduler to reach its write", func() bool { return pause.Waiting() >= 1 })
		waitLeading(t, b, 1, leader.Scheduler, leader.Webhooks)
		if took, limit := time.Since(stalled), cfg.LeaseDuration+cfg.LeaseRenewInterval+time.Second; took > limit {
			t.Errorf("the other instance took over %s after the leader stalled; want within about the lease (%s)", took, cfg.LeaseDuration)
		}
		waitFor(t, "the new leader to apply the step", func() bool { return !enabled(t, c) })
		waitFor(t, "the new leader to deliver the step's change", func() bool { return rcv.count() == 2 })

		pause.ResumeWrites() // a's goroutines run before its elector notices
		waitFor(t, "the fence to refuse the stalled leader's write", func() bool {
			return metric(t, a, "flagops_leader_fenced_total", leader.Scheduler) >= 1
		})
		pause.Resume()
		waitLeading(t, a, 0, leader.Scheduler, leader.Webhooks)

		// The new leader goes on scheduling.
		schedule(t, c, start.Add(3*time.Hour), true)
		clock.Advance(2 * time.Hour)
		waitFor(t, "the new leader to apply the next step", func() bool { return enabled(t, c) })
		waitFor(t, "the next step's delivery", func() bool { return rcv.count() == 3 })
		time.Sleep(5 * cfg.LeaseRenewInterval) // room for a stray repeat to show

		cs, err := c.Changes.ListChanges(ctx, connect.NewRequest(&flagopsv1.ListChangesRequest{Kind: "flag", Key: "shop/checkout"}))
		must(t, err)
		if n := len(cs.Msg.GetChanges()); n != 3 {
			t.Errorf("%d changes of the flag; want 3 (create and one per step): %v", n, cs.Msg.GetChanges())
		}
		for id, n := range rcv.ids() {
			if n != 1 {
				t.Errorf("event %s delivered %d times; want once", id, n)
			}
		}
		ds, err := hooks.ListDeliveries(ctx, connect.NewRequest(&flagopsv1.ListDeliveriesRequest{Webhook: "flags"}))
		must(t, err)
		seen := map[string]int{}
		for _, d := range ds.Msg.GetDeliveries() {
			seen[strconv.FormatInt(d.GetRevision(), 10)+"-"+strconv.Itoa(int(d.GetSeq()))]++
			if d.GetStatus() != "succeeded" || d.GetAttempts() != 1 {
				t.Errorf("delivery %v; want succeeded at the first attempt", d)
			}
		}
		if len(seen) != 3 || len(ds.Msg.GetDeliveries()) != 3 {
			t.Errorf("delivery log %v; want one record for each of the 3 events", ds.Msg.GetDeliveries())
		}
	})
}

// countingReceiver counts the webhook events it receives by id.
type countingReceiver struct {
	srv *httptest.Server
	mu  sync.Mutex
	got map[string]int
}

func newCountingReceiver(t *testing.T) *countingReceiver {
	r := &countingReceiver{got: map[string]int{}}
	r.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		body, _ := io.ReadAll(req.Body)
		var ev webhook.Event
		if err := json.Unmarshal(body, &ev); err != nil {
			t.Errorf("delivery is not an event: %v", err)
		}
		r.mu.Lock()
		r.got[ev.ID]++
		r.mu.Unlock()
	}))
	t.Cleanup(r.srv.Close)
	return r
}

func (r *countingReceiver) URL() string { return r.srv.URL }

func (r *countingReceiver) count() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	n := 0
	for _, v := range r.got {
		n += v
	}
	return n
}

func (r *countingReceiver) ids() map[string]int {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := map[string]int{}
	for k, v := range r.got {
		out[k] = v
	}
	return out
}

// waitLeading waits until s's flagops_leader gauge is want for every lease.
func waitLeading(t *testing.T, s *server.Server, want float64, leases ...string) {
	t.Helper()
	for _, l := range leases {
		waitFor(t, "flagops_leader{lease="+l+"} to be "+strconv.FormatFloat(want, 'f', -1, 64), func() bool {
			return metric(t, s, "flagops_leader", l) == want
		})
	}
}

// metric reads one sample of s's /metrics with the given lease label, -1
// when absent.
func metric(t *testing.T, s *server.Server, name, lease string) float64 {
	t.Helper()
	resp, err := servertest.HTTP1Client().Get(s.URL() + "/metrics")
	must(t, err)
	defer resp.Body.Close()
	prefix := name + `{lease="` + lease + `"} `
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), prefix); ok {
			f, err := strconv.ParseFloat(v, 64)
			must(t, err)
			return f
		}
	}
	return -1
}

// estate creates environment prod and project shop on it.
func leaderEstate(t *testing.T, c servertest.Clients) {
	t.Helper()
	ctx := context.Background()
	_, err := c.Catalog.PutEnvironment(ctx, connect.NewRequest(&flagopsv1.PutEnvironmentRequest{Environment: &flagopsv1.Environment{Meta: &flagopsv1.ObjectMeta{Name: "prod"}}}))
	must(t, err)
	_, err = c.Catalog.PutProject(ctx, connect.NewRequest(&flagopsv1.PutProjectRequest{Project: &flagopsv1.Project{Meta: &flagopsv1.ObjectMeta{Name: "shop"}, Environments: []string{"prod"}}}))
	must(t, err)
}

// putFlag creates the boolean flag shop/checkout, enabled in prod.
func putFlag(t *testing.T, c servertest.Clients) {
	t.Helper()
	var f flagopsv1.Flag
	must(t, protojson.Unmarshal([]byte(`{"project":"shop","key":"checkout","type":"boolean",
		"variations":[{"key":"on","value":true},{"key":"off","value":false}],
		"environments":{"prod":{"enabled":true,"offVariation":"off","fallthrough":{"variation":"on"}}}}`), &f))
	_, err := c.Flags.PutFlag(context.Background(), connect.NewRequest(&flagopsv1.PutFlagRequest{Flag: &f}))
	must(t, err)
}

// schedule schedules shop/checkout to be enabled or not in prod at at, and
// returns the revision that created the schedule.
func schedule(t *testing.T, c servertest.Clients, at time.Time, on bool) int64 {
	t.Helper()
	patch, err := structpb.NewStruct(map[string]any{"enabled": on})
	must(t, err)
	res, err := c.Flags.CreateSchedule(context.Background(), connect.NewRequest(&flagopsv1.CreateScheduleRequest{Change: &flagopsv1.ScheduledChange{
		Project: "shop", Flag: "checkout", Environment: "prod", At: timestamppb.New(at), Patch: patch,
	}}))
	must(t, err)
	return res.Msg.GetSchedule().GetRevision()
}

func enabled(t *testing.T, c servertest.Clients) bool {
	t.Helper()
	res, err := c.Flags.GetFlag(context.Background(), connect.NewRequest(&flagopsv1.GetFlagRequest{Project: "shop", Key: "checkout"}))
	must(t, err)
	return res.Msg.GetFlag().GetEnvironments()["prod"].GetEnabled()
}
