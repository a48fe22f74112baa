package adversarial_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"connectrpc.com/connect"
	"google.golang.org/protobuf/types/known/structpb"
	"google.golang.org/protobuf/types/known/timestamppb"

	flagopsv1 "github.com/flagops/flagops/gen/flagops/v1"
	"github.com/flagops/flagops/internal/scheduler"
	"github.com/flagops/flagops/internal/server"
	"github.com/flagops/flagops/internal/server/servertest"
)

// TestInputFactHookScopes keeps issue 9.18 fixed: a fact hook writes only
// the scopes it is bound to. A hook bound to deployment/*@eu-1 may set the
// facts of shop@eu-1, and is refused (403, naming the entry, nothing of the
// body applied) for environment/prod, the workspace and another target's
// deployment; a hook cannot be created without scopes.
func TestInputFactHookScopes(t *testing.T) {
	servertest.Backends(t, func(t *testing.T, cfg server.Config) {
		ctx := context.Background()
		s := servertest.Start(t, cfg)
		c := servertest.NewClients(servertest.HTTP1Client(), s.URL())
		inputEstate(t, c)
		hooks := inputWebhooks(s)

		for _, scopes := range [][]string{nil, {"deployment/sh*p@eu-1"}, {"everything"}} {
			_, err := hooks.CreateFactHook(ctx, connect.NewRequest(&flagopsv1.CreateFactHookRequest{Name: "wide", Scopes: scopes}))
			if connect.CodeOf(err) != connect.CodeInvalidArgument || !strings.Contains(err.Error(), "scopes") {
				t.Errorf("a hook with scopes %q: %v, want invalid_argument naming scopes", scopes, err)
			}
		}

		created, err := hooks.CreateFactHook(ctx, connect.NewRequest(&flagopsv1.CreateFactHookRequest{Name: "cms", Scopes: []string{"deployment/*@eu-1"}}))
		if err != nil {
			t.Fatal(err)
		}
		if got := created.Msg.GetHook().GetScopes(); len(got) != 1 || got[0] != "deployment/*@eu-1" {
			t.Fatalf("the created hook's scopes: %q", got)
		}
		path, token := created.Msg.GetHook().GetPath(), created.Msg.GetToken()
		before := inputRevision(t, c)
		for _, tc := range []struct {
			name, body, field string
		}{
			{"environment/prod", `{"scope":"environment/prod","facts":{"region":"eu"}}`, "scope"},
			{"the workspace", `{"scope":"workspace","facts":{"region":"eu"}}`, "scope"},
			{"another target's deployment", `{"deployment":"shop@us-1","facts":{"tier":"pro"}}`, "deployment"},
			{"the target itself", `{"scope":"target/eu-1","facts":{"tier":"pro"}}`, "scope"},
			{"one bad entry among good ones", `[{"deployment":"shop@eu-1","facts":{"tier":"pro"}},{"scope":"workspace","facts":{"tier":"pro"}}]`, "[1].scope"},
		} {
			t.Run("refuses "+tc.name, func(t *testing.T) {
				a := inputPost(t, s, path, token, []byte(tc.body))
				if a.Status != 403 || a.Code != "permission_denied" || a.Field != tc.field {
					t.Fatalf("answer %d %s field %q, want 403 permission_denied field %q: %s", a.Status, a.Code, a.Field, tc.field, a.Body)
				}
				if !strings.Contains(a.Message, "deployment/*@eu-1") {
					t.Errorf("the message does not say what the hook may write: %s", a.Message)
				}
			})
		}
		if after := inputRevision(t, c); after != before {
			t.Fatalf("refused hook calls moved the revision from %d to %d", before, after)
		}
		if a := inputPost(t, s, path, token, []byte(`{"deployment":"shop@eu-1","facts":{"tier":"pro"}}`)); a.Status != 200 {
			t.Fatalf("a write inside the hook's scopes: %d %s", a.Status, a.Body)
		}
		got, err := c.Facts.GetFacts(ctx, connect.NewRequest(&flagopsv1.GetFactsRequest{Scope: "deployment/shop@eu-1"}))
		if err != nil || len(got.Msg.GetFacts()) != 1 {
			t.Fatalf("facts of shop@eu-1: %v %v", got, err)
		}
		list, err := hooks.ListFactHooks(ctx, connect.NewRequest(&flagopsv1.ListFactHooksRequest{}))
		if err != nil || len(list.Msg.GetHooks()) != 1 || strings.Join(list.Msg.GetHooks()[0].GetScopes(), ",") != "deployment/*@eu-1" {
			t.Fatalf("ListFactHooks: %v %v", list, err)
		}
	})
}

// TestInputActors keeps issue 9.17 fixed: the change log names who made a
// change even when no API key did. A fact hook's writes are recorded as
// hook/NAME (not anonymous), and a scheduled flag change as the scheduler
// acting for that schedule, scheduler/schedule/ID.
func TestInputActors(t *testing.T) {
	servertest.Backends(t, func(t *testing.T, cfg server.Config) {
		ctx := context.Background()
		start := time.Now()
		clock := scheduler.NewFakeClock(start)
		cfg.Clock, cfg.SchedulerInterval = clock, time.Minute
		s := servertest.Start(t, cfg)
		c := servertest.NewClients(servertest.HTTP1Client(), s.URL())
		inputEstate(t, c)

		created, err := inputWebhooks(s).CreateFactHook(ctx, connect.NewRequest(&flagopsv1.CreateFactHookRequest{Name: "billing", Scopes: []string{"deployment/*@*"}}))
		if err != nil {
			t.Fatal(err)
		}
		a := inputPost(t, s, created.Msg.GetHook().GetPath(), created.Msg.GetToken(), []byte(`{"deployment":"shop@eu-1","facts":{"plan":"gold"}}`))
		if a.Status != 200 {
			t.Fatalf("hook: %d %s", a.Status, a.Body)
		}
		changes := func(actor string) []*flagopsv1.Change {
			t.Helper()
			res, err := c.Changes.ListChanges(ctx, connect.NewRequest(&flagopsv1.ListChangesRequest{Actor: actor, PageSize: 100}))
			if err != nil {
				t.Fatal(err)
			}
			return res.Msg.GetChanges()
		}
		if got := changes("hook/billing"); len(got) != 1 || got[0].GetKind() != "fact" {
			t.Errorf("changes by hook/billing: %v", got)
		}
		if got := changes("anonymous"); len(got) != 0 {
			t.Errorf("changes recorded as anonymous: %v", got)
		}

		patch, err := structpb.NewStruct(map[string]any{"enabled": false})
		if err != nil {
			t.Fatal(err)
		}
		sch, err := c.Flags.CreateSchedule(ctx, connect.NewRequest(&flagopsv1.CreateScheduleRequest{Change: &flagopsv1.ScheduledChange{
			Project: "shop", Flag: "replicas", Environment: "prod", At: timestamppb.New(start.Add(time.Hour)), Patch: patch}}))
		if err != nil {
			t.Fatal(err)
		}
		actor := "scheduler/schedule/" + sch.Msg.GetSchedule().GetId()
		clock.Advance(61 * time.Minute)
		deadline := time.Now().Add(10 * time.Second)
		for {
			var flagChanged bool
			for _, ch := range changes(actor) {
				flagChanged = flagChanged || ch.GetKind() == "flag"
			}
			if flagChanged {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("no flag change recorded as %s; flag changes: %v", actor, inputFlagChanges(t, c))
			}
			time.Sleep(20 * time.Millisecond) // waiting for the server's scheduler goroutine, not for schedule time
		}
		for _, ch := range inputFlagChanges(t, c) {
			if ch.GetActor() == "" {
				t.Errorf("a flag change without an actor: %v", ch)
			}
		}
	})
}

func inputFlagChanges(t *testing.T, c servertest.Clients) []*flagopsv1.Change {
	t.Helper()
	res, err := c.Changes.ListChanges(context.Background(), connect.NewRequest(&flagopsv1.ListChangesRequest{Kind: "flag", PageSize: 100}))
	if err != nil {
		t.Fatal(err)
	}
	return res.Msg.GetChanges()
}
