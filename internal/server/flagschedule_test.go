package server_test

import (
	"context"
	"testing"
	"time"

	"connectrpc.com/connect"
	"google.golang.org/protobuf/types/known/structpb"
	"google.golang.org/protobuf/types/known/timestamppb"

	flagopsv1 "github.com/flagops/flagops/gen/flagops/v1"
	"github.com/flagops/flagops/internal/scheduler"
	"github.com/flagops/flagops/internal/server"
)

// TestServerRunsScheduledFlagChanges checks the wiring: the server's
// scheduler, the one that runs promotions, also applies a scheduled flag
// change when it falls due on its clock, once, as an ordinary change.
func TestServerRunsScheduledFlagChanges(t *testing.T) {
	backends(t, func(t *testing.T, cfg server.Config) {
		ctx := context.Background()
		start := time.Now()
		clock := scheduler.NewFakeClock(start)
		cfg.Clock, cfg.SchedulerInterval = clock, time.Minute
		_, c := flagServer(t, cfg)
		patch, err := structpb.NewStruct(map[string]any{"enabled": false})
		must(t, err)
		_, err = c.Flags.CreateSchedule(ctx, connect.NewRequest(&flagopsv1.CreateScheduleRequest{Change: &flagopsv1.ScheduledChange{
			Project: "shop", Flag: "replicas", Environment: "prod", At: timestamppb.New(start.Add(time.Hour)), Patch: patch,
		}}))
		must(t, err)
		enabled := func() bool {
			res, err := c.Flags.GetFlag(ctx, connect.NewRequest(&flagopsv1.GetFlagRequest{Project: "shop", Key: "replicas"}))
			must(t, err)
			return res.Msg.GetFlag().GetEnvironments()["prod"].GetEnabled()
		}
		clock.Advance(30 * time.Minute)
		time.Sleep(100 * time.Millisecond) // let a tick before the due time run
		if !enabled() {
			t.Fatal("the change ran before it was due")
		}
		clock.Advance(31 * time.Minute)
		deadline := time.Now().Add(10 * time.Second)
		for enabled() {
			if time.Now().After(deadline) {
				t.Fatal("the scheduler never applied the due change")
			}
			time.Sleep(20 * time.Millisecond) // waiting for the server's goroutine, not for schedule time
		}
		clock.Advance(time.Minute)
		time.Sleep(100 * time.Millisecond)
		cs, err := c.Changes.ListChanges(ctx, connect.NewRequest(&flagopsv1.ListChangesRequest{Kind: "flag", Key: "shop/replicas"}))
		must(t, err)
		if n := len(cs.Msg.GetChanges()); n != 2 { // the create, then the scheduled update
			t.Fatalf("%d changes of flag shop/replicas, want 2 (create + one scheduled update): %v", n, cs.Msg.GetChanges())
		}
	})
}
