package server_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"connectrpc.com/connect"
	"google.golang.org/protobuf/types/known/structpb"

	flagopsv1 "github.com/flagops/flagops/gen/flagops/v1"
	"github.com/flagops/flagops/gen/flagops/v1/flagopsv1connect"
	"github.com/flagops/flagops/internal/domain"
	"github.com/flagops/flagops/internal/server"
	"github.com/flagops/flagops/internal/server/servertest"
	"github.com/flagops/flagops/internal/webhook"
)

// estate creates environment prod, target eu-1 and project shop on prod.
func estate(t *testing.T, c servertest.Clients) {
	t.Helper()
	ctx := context.Background()
	meta := func(n string) *flagopsv1.ObjectMeta { return &flagopsv1.ObjectMeta{Name: n} }
	if _, err := c.Catalog.PutEnvironment(ctx, connect.NewRequest(&flagopsv1.PutEnvironmentRequest{Environment: &flagopsv1.Environment{Meta: meta("prod")}})); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Catalog.PutTarget(ctx, connect.NewRequest(&flagopsv1.PutTargetRequest{Target: &flagopsv1.Target{Meta: meta("eu-1"), Environment: "prod"}})); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Catalog.PutProject(ctx, connect.NewRequest(&flagopsv1.PutProjectRequest{Project: &flagopsv1.Project{Meta: meta("shop"), Environments: []string{"prod"}}})); err != nil {
		t.Fatal(err)
	}
}

func webhooksClient(s *server.Server) flagopsv1connect.WebhookServiceClient {
	return flagopsv1connect.NewWebhookServiceClient(servertest.HTTP1Client(), s.URL())
}

func setDeploymentFact(t *testing.T, c servertest.Clients, key string, v any) int64 {
	t.Helper()
	val, _ := structpb.NewValue(v)
	r, err := c.Facts.SetFacts(context.Background(), connect.NewRequest(&flagopsv1.SetFactsRequest{Scope: "deployment/shop@eu-1",
		Values: map[string]*structpb.Value{key: val}}))
	if err != nil {
		t.Fatal(err)
	}
	return r.Msg.Revision
}

// TestWebhookDeliverySurvivesRestart: the receiver is down for a while and
// the server restarts in the middle; every event still arrives at least
// once, in revision order, and the delivery log shows the failed attempts
// and the final success.
func TestWebhookDeliverySurvivesRestart(t *testing.T) {
	backends(t, func(t *testing.T, cfg server.Config) {
		ctx := context.Background()
		cfg.Webhooks = webhook.Options{Backoff: webhook.Backoff{Base: time.Millisecond, Max: 10 * time.Millisecond}, PollInterval: 50 * time.Millisecond}
		var mu sync.Mutex
		down, fails, got := true, 0, []string(nil)
		const secret = "a-long-enough-signing-secret"
		rcv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			body, _ := io.ReadAll(r.Body)
			if !webhook.Verify(secret, r.Header, body, time.Now(), time.Minute) {
				t.Errorf("delivery with a bad signature")
			}
			var ev webhook.Event
			_ = json.Unmarshal(body, &ev)
			mu.Lock()
			defer mu.Unlock()
			if down {
				fails++
				w.WriteHeader(http.StatusBadGateway)
				return
			}
			got = append(got, ev.ID)
		}))
		defer rcv.Close()

		a := servertest.Start(t, cfg)
		c := clients(a)
		estate(t, c)
		created, err := webhooksClient(a).CreateWebhook(ctx, connect.NewRequest(&flagopsv1.CreateWebhookRequest{
			Name: "shop", Url: rcv.URL, Secret: secret, Filter: &flagopsv1.WebhookFilter{Kinds: []string{"fact"}, Projects: []string{"shop"}}}))
		if err != nil {
			t.Fatal(err)
		}
		if created.Msg.Secret != secret {
			t.Fatal("create did not return the secret")
		}
		var want []string
		for i := range 3 {
			want = append(want, webhook.EventID(changeAt(setDeploymentFact(t, c, "n", i))))
		}
		waitUntil(t, "failed attempts", func() bool { mu.Lock(); defer mu.Unlock(); return fails >= 2 })
		if err := a.Shutdown(ctx); err != nil {
			t.Fatal(err)
		}

		b := servertest.Start(t, cfg)
		c = clients(b)
		want = append(want, webhook.EventID(changeAt(setDeploymentFact(t, c, "n", 3))))
		mu.Lock()
		down = false
		mu.Unlock()
		waitUntil(t, "every event", func() bool {
			mu.Lock()
			defer mu.Unlock()
			return len(got) > 0 && got[len(got)-1] == want[len(want)-1]
		})
		mu.Lock()
		var distinct []string
		for i, id := range got {
			if i == 0 || id != got[i-1] {
				distinct = append(distinct, id)
			}
		}
		mu.Unlock()
		if strings.Join(distinct, ",") != strings.Join(want, ",") {
			t.Fatalf("received %v, want %v in order", got, want)
		}

		wc := webhooksClient(b)
		var ds []*flagopsv1.Delivery
		waitUntil(t, "every delivery recorded as succeeded", func() bool {
			dl, err := wc.ListDeliveries(ctx, connect.NewRequest(&flagopsv1.ListDeliveriesRequest{Webhook: "shop"}))
			if err != nil {
				t.Fatal(err)
			}
			ds = dl.Msg.Deliveries
			for _, d := range ds {
				if d.Status != "succeeded" {
					return false
				}
			}
			return len(ds) == len(want)
		})
		if d := ds[0]; d.Status != "succeeded" || d.Attempts < 2 || d.LastError == "" || d.ResponseCode != 200 {
			t.Fatalf("first delivery = %v; want succeeded after failed attempts", d)
		}
		for _, d := range ds {
			if d.Status != "succeeded" {
				t.Fatalf("delivery %v did not succeed", d)
			}
		}

		// The secret never comes back, nor is it in the change log.
		g, err := wc.GetWebhook(ctx, connect.NewRequest(&flagopsv1.GetWebhookRequest{Name: "shop"}))
		if err != nil {
			t.Fatal(err)
		}
		if strings.Contains(g.Msg.String(), secret) {
			t.Fatal("GetWebhook returned the secret")
		}
		hist, err := c.Changes.ListChanges(ctx, connect.NewRequest(&flagopsv1.ListChangesRequest{Kind: "webhook"}))
		if err != nil {
			t.Fatal(err)
		}
		if len(hist.Msg.Changes) != 1 || strings.Contains(hist.Msg.String(), secret) {
			t.Fatalf("webhook changes %v: want one create without the secret", hist.Msg.Changes)
		}
	})
}

// changeAt is the (only) change of a single-key write at rev.
func changeAt(rev int64) domain.Change { return domain.Change{Revision: rev} }

func waitUntil(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
