package server_test

import (
	"context"
	"testing"
	"time"

	"connectrpc.com/connect"
	"google.golang.org/protobuf/types/known/durationpb"

	flagopsv1 "github.com/flagops/flagops/gen/flagops/v1"
	"github.com/flagops/flagops/internal/scheduler"
	"github.com/flagops/flagops/internal/server"
	"github.com/flagops/flagops/internal/server/servertest"
)

// TestSchedulerSurvivesRestart stops the only server before a scheduled
// promotion is due and starts a new one after the slot has passed: the new
// instance promotes once, and later ticks do not repeat it. The scheduler
// runs on a fake clock; the test only waits for the server's goroutine.
func TestSchedulerSurvivesRestart(t *testing.T) {
	backends(t, func(t *testing.T, cfg server.Config) {
		ctx := context.Background()
		clock := scheduler.NewFakeClock(time.Now())
		cfg.Clock, cfg.SchedulerInterval = clock, time.Minute
		s1 := servertest.Start(t, cfg)
		c := clients(s1)
		for _, e := range []string{"staging", "prod"} {
			_, err := c.Catalog.PutEnvironment(ctx, connect.NewRequest(&flagopsv1.PutEnvironmentRequest{Environment: &flagopsv1.Environment{Meta: &flagopsv1.ObjectMeta{Name: e}}}))
			must(t, err)
		}
		_, err := c.Catalog.PutTarget(ctx, connect.NewRequest(&flagopsv1.PutTargetRequest{Target: &flagopsv1.Target{Meta: &flagopsv1.ObjectMeta{Name: "st-1"}, Environment: "staging"}}))
		must(t, err)
		_, err = c.Catalog.PutProject(ctx, connect.NewRequest(&flagopsv1.PutProjectRequest{Project: &flagopsv1.Project{Meta: &flagopsv1.ObjectMeta{Name: "shop"}, Environments: []string{"staging", "prod"}}}))
		must(t, err)
		_, err = c.Versions.SetVersion(ctx, connect.NewRequest(&flagopsv1.SetVersionRequest{Project: "shop", Environment: "staging", Version: "2.0.0"}))
		must(t, err)
		_, err = c.Versions.ReportVersion(ctx, connect.NewRequest(&flagopsv1.ReportVersionRequest{Project: "shop", Target: "st-1", Version: "2.0.0", Status: "healthy"}))
		must(t, err)
		_, err = c.Promotions.PutPromotionPolicy(ctx, connect.NewRequest(&flagopsv1.PutPromotionPolicyRequest{Policy: &flagopsv1.PromotionPolicy{
			Project: "shop", From: "staging", To: "prod", Schedule: "*/30 * * * *", Soak: durationpb.New(time.Minute)}}))
		must(t, err)
		must(t, s1.Shutdown(ctx))

		clock.Set(time.Now().Add(45 * time.Minute)) // a slot passes while nothing runs
		s2 := servertest.Start(t, cfg)
		c = clients(s2)
		list := func() []*flagopsv1.Promotion {
			res, err := c.Promotions.ListPromotions(ctx, connect.NewRequest(&flagopsv1.ListPromotionsRequest{Project: "shop"}))
			must(t, err)
			return res.Msg.GetPromotions()
		}
		deadline := time.Now().Add(10 * time.Second)
		for len(list()) == 0 {
			if time.Now().After(deadline) {
				t.Fatal("the restarted server never ran the missed slot")
			}
			time.Sleep(20 * time.Millisecond) // waiting for the server's goroutine, not for schedule time
		}
		for range 3 {
			clock.Advance(time.Minute)
		}
		time.Sleep(100 * time.Millisecond)
		ps := list()
		if len(ps) != 1 || ps[0].GetState() != "done" || ps[0].GetActor() != "flagops-scheduler" {
			t.Fatalf("promotions = %v; want one done by the scheduler", ps)
		}
		cs, err := c.Changes.ListChanges(ctx, connect.NewRequest(&flagopsv1.ListChangesRequest{Kind: "version", Key: "shop@prod", Actor: "flagops-scheduler"}))
		must(t, err)
		if n := len(cs.Msg.GetChanges()); n != 1 {
			t.Fatalf("%d version changes of shop@prod by the scheduler; want 1", n)
		}
	})
}
