package adversarial_test

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"connectrpc.com/connect"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/types/known/structpb"

	flagopsv1 "github.com/flagops/flagops/gen/flagops/v1"
	"github.com/flagops/flagops/internal/domain"
	"github.com/flagops/flagops/internal/server"
	"github.com/flagops/flagops/internal/server/servertest"
	_ "github.com/flagops/flagops/internal/store" // the database/sql drivers, to age a database by hand
	"github.com/flagops/flagops/internal/webhook"
)

// receiver is a webhook receiver that records every delivery: the event
// and the credentials the request came with.
type receiver struct {
	srv *httptest.Server
	mu  sync.Mutex
	got []delivery
}

type delivery struct {
	event      webhook.Event
	body       string
	user, pass string
	token      string
}

func newReceiver(t *testing.T) *receiver {
	t.Helper()
	rc := &receiver{}
	rc.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		d := delivery{body: string(b), token: r.URL.Query().Get("token")}
		d.user, d.pass, _ = r.BasicAuth()
		if err := json.Unmarshal(b, &d.event); err != nil {
			t.Errorf("a delivery that is not an event: %s", b)
		}
		rc.mu.Lock()
		rc.got = append(rc.got, d)
		rc.mu.Unlock()
	}))
	t.Cleanup(rc.srv.Close)
	return rc
}

func (rc *receiver) deliveries() []delivery {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return append([]delivery(nil), rc.got...)
}

// waitEvent waits for a delivery whose event type starts with prefix
// ("dev.flagops.fact.": any change of a fact) and returns it.
func (rc *receiver) waitEvent(t *testing.T, prefix string) delivery {
	t.Helper()
	var found delivery
	waitFor(t, "a "+prefix+"* delivery", func() bool {
		for _, d := range rc.deliveries() {
			if strings.HasPrefix(d.event.Type, prefix) {
				found = d
				return true
			}
		}
		return false
	})
	return found
}

func fastWebhooks(cfg *server.Config) {
	cfg.Webhooks = webhook.Options{Backoff: webhook.Backoff{Base: time.Millisecond, Max: 10 * time.Millisecond}, PollInterval: 50 * time.Millisecond}
}

func createWebhook(t *testing.T, s *server.Server, token, name, url string, kinds ...string) *flagopsv1.Webhook {
	t.Helper()
	res, err := webhooksAs(s, token).CreateWebhook(context.Background(), connect.NewRequest(&flagopsv1.CreateWebhookRequest{
		Name: name, Url: url, Secret: "a-long-enough-signing-secret", Filter: &flagopsv1.WebhookFilter{Kinds: kinds}}))
	if err != nil {
		t.Fatalf("create webhook %s: %v", name, err)
	}
	return res.Msg.GetWebhook()
}

// TestWebhookURLCredentialsStaySealed keeps issue 9.3 fixed: a webhook URL
// with credentials (https://user:pass@…, ?token=…) was shown whole to
// viewers (ListWebhooks, the change log) and sent to other receivers in
// webhook.created events. The credentials are now sealed like the signing
// secret and shown redacted everywhere; deliveries still go to the whole
// URL. Subscriptions stored whole by an older version are sealed, and their
// change entries redacted, when the server starts.
func TestWebhookURLCredentialsStaySealed(t *testing.T) {
	servertest.Backends(t, func(t *testing.T, cfg server.Config) {
		fastWebhooks(&cfg)
		s := servertest.Start(t, cfg)
		c := admin(s)
		estate(t, c, domain.DefaultWorkspace)
		pass, token := "pw-"+rand.Text(), "tok-"+rand.Text()
		canaries := []string{pass, token}

		bystander := newReceiver(t)
		createWebhook(t, s, "", "bystander", bystander.srv.URL, domain.KindWebhook)
		rc := newReceiver(t)
		full := strings.Replace(rc.srv.URL, "http://", "http://hook:"+pass+"@", 1) + "/in?token=" + token + "&region=eu"
		redacted := strings.Replace(rc.srv.URL, "http://", "http://hook:***@", 1) + "/in?token=***&region=***"
		created := createWebhook(t, s, "", "billing", full, domain.KindFact)
		if created.GetUrl() != redacted {
			t.Errorf("the create response shows %q, want %q", created.GetUrl(), redacted)
		}

		viewer := newKey(t, c, "viewer", zeroTime, "viewer@workspace")
		w := openWatch(t, as(s, viewer)) // live from here
		look := func(t *testing.T, what, text string) {
			t.Helper()
			for _, cn := range canaries {
				if strings.Contains(text, cn) {
					t.Errorf("a credential of the webhook URL appears in %s: %s", what, text)
				}
			}
		}
		t.Run("listings", func(t *testing.T) {
			wh := webhooksAs(s, viewer)
			list, err := wh.ListWebhooks(context.Background(), connect.NewRequest(&flagopsv1.ListWebhooksRequest{}))
			must(t, err)
			got, err := wh.GetWebhook(context.Background(), connect.NewRequest(&flagopsv1.GetWebhookRequest{Name: "billing"}))
			must(t, err)
			if got.Msg.GetWebhook().GetUrl() != redacted {
				t.Errorf("GetWebhook shows %q, want %q", got.Msg.GetWebhook().GetUrl(), redacted)
			}
			changes, err := as(s, viewer).Changes.ListChanges(context.Background(), connect.NewRequest(&flagopsv1.ListChangesRequest{Workspace: domain.DefaultWorkspace, Kind: domain.KindWebhook}))
			must(t, err)
			if !strings.Contains(protojson.Format(changes.Msg), "hook:***@") {
				t.Errorf("the change log does not show the redacted URL: %v", changes.Msg)
			}
			for what, m := range map[string]interface{ String() string }{"ListWebhooks": list.Msg, "GetWebhook": got.Msg, "ListChanges": changes.Msg} {
				look(t, what, m.String())
			}
		})
		t.Run("other receivers' webhook.created event", func(t *testing.T) {
			d := bystander.waitEvent(t, "dev.flagops.webhook.created")
			look(t, "the webhook.created event", d.body)
			if !strings.Contains(d.body, "hook:***@") {
				t.Errorf("the event does not carry the redacted URL: %s", d.body)
			}
		})
		t.Run("delivery to the whole URL", func(t *testing.T) {
			setFacts(t, c, "workspace", map[string]any{"plan": "gold"})
			d := rc.waitEvent(t, "dev.flagops.fact.")
			if d.user != "hook" || d.pass != pass || d.token != token {
				t.Fatalf("delivered with user %q, password match %v, token match %v: want the URL's own credentials", d.user, d.pass == pass, d.token == token)
			}
			w.sees(t, domain.KindFact) // the watcher read past the webhook's creation
		})
		t.Run("the Watch stream", func(t *testing.T) {
			// The stream opened after the creation; replay the log.
			r := openReplay(t, as(s, viewer))
			if !strings.Contains(r, "hook:***@") {
				t.Fatalf("the replayed webhook change does not show the redacted URL: %s", r)
			}
			look(t, "the Watch stream", r)
		})

		t.Run("a subscription stored whole by an older version", func(t *testing.T) {
			must(t, s.Shutdown(context.Background()))
			ageWebhook(t, cfg, "billing", full)
			s2 := servertest.Start(t, cfg)
			changes, err := admin(s2).Changes.ListChanges(context.Background(), connect.NewRequest(&flagopsv1.ListChangesRequest{Workspace: domain.DefaultWorkspace, Kind: domain.KindWebhook}))
			must(t, err)
			list, err := webhooksAs(s2, "").ListWebhooks(context.Background(), connect.NewRequest(&flagopsv1.ListWebhooksRequest{}))
			must(t, err)
			look(t, "ListChanges after the upgrade", changes.Msg.String())
			look(t, "ListWebhooks after the upgrade", list.Msg.String())
			before := len(rc.deliveries())
			setFacts(t, admin(s2), "workspace", map[string]any{"plan": "platinum"})
			waitFor(t, "a delivery after the upgrade", func() bool { return len(rc.deliveries()) > before })
			if d := rc.deliveries()[before]; d.pass != pass || d.token != token {
				t.Fatal("after the upgrade the delivery lost the URL's credentials")
			}
		})
	})
}

// openReplay watches the default workspace from the start of the log until
// caught up and returns what it received as JSON.
func openReplay(t *testing.T, c servertest.Clients) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	st, err := c.Changes.Watch(ctx, connect.NewRequest(&flagopsv1.WatchRequest{Filter: &flagopsv1.WatchFilter{Workspace: domain.DefaultWorkspace}}))
	must(t, err)
	defer st.Close()
	var b strings.Builder
	for st.Receive() {
		b.WriteString(protojson.Format(st.Msg()))
		if st.Msg().GetCaughtUp() {
			return b.String()
		}
	}
	t.Fatalf("watch ended before catching up: %v", st.Err())
	return ""
}

// ageWebhook puts the subscription name back as a version before sealed
// URLs left it: the whole URL in its row and its change entries, nothing
// sealed, no grants. The server must be stopped (SQLite) or idle.
func ageWebhook(t *testing.T, cfg server.Config, name, full string) {
	t.Helper()
	driver, dsn, ph := "sqlite", "file:"+filepath.Join(cfg.DataDir, "flagops.db"), func(int) string { return "?" }
	if cfg.DatabaseURL != "" {
		driver, dsn, ph = "pgx", cfg.DatabaseURL, func(i int) string { return "$" + string(rune('0'+i)) }
	}
	db, err := sql.Open(driver, dsn)
	must(t, err)
	defer db.Close()
	ctx := context.Background()
	_, err = db.ExecContext(ctx, "UPDATE webhooks SET url = "+ph(1)+", url_sealed = '', url_key_id = '', grants = '' WHERE name = "+ph(2), full, name)
	must(t, err)
	after, err := json.Marshal(map[string]any{"workspace": domain.DefaultWorkspace, "name": name, "url": full, "type": "generic"})
	must(t, err)
	res, err := db.ExecContext(ctx, "UPDATE changes SET after = "+ph(1)+" WHERE kind = 'webhook' AND key = "+ph(2), string(after), name)
	must(t, err)
	if n, _ := res.RowsAffected(); n != 1 {
		t.Fatalf("aged %d change entries, want 1", n)
	}
}

// TestWebhooksReceiveOnlyTheirWorkspace keeps issue 9.4 fixed: a webhook of
// one workspace received the apikey.created events of keys of other
// workspaces and of server-wide keys. A subscription now receives only the
// changes of its workspace (a key bound in it counts) that its creator's
// bindings, as they were at creation, may read from the change log: a
// workspace administrator reads no server-wide change, an administrator of
// every workspace reads the keys bound in this one.
func TestWebhooksReceiveOnlyTheirWorkspace(t *testing.T) {
	servertest.Backends(t, func(t *testing.T, cfg server.Config) {
		fastWebhooks(&cfg)
		s := servertest.Start(t, cfg)
		c := admin(s)
		ctx := context.Background()
		_, err := c.Catalog.PutWorkspace(ctx, connect.NewRequest(&flagopsv1.PutWorkspaceRequest{Workspace: &flagopsv1.Workspace{Meta: &flagopsv1.ObjectMeta{Name: "rival"}}}))
		must(t, err)

		wsAdmin := newKey(t, c, "ws-admin", zeroTime, "admin@workspace")
		byWorkspaceAdmin, byServerAdmin := newReceiver(t), newReceiver(t)
		createWebhook(t, s, wsAdmin, "by-ws-admin", byWorkspaceAdmin.srv.URL, domain.KindAPIKey, domain.KindFact)
		createWebhook(t, s, "", "by-server-admin", byServerAdmin.srv.URL, domain.KindAPIKey, domain.KindFact)

		newKey(t, c, "rival-viewer", zeroTime, "rival:viewer@workspace")
		newKey(t, c, "everywhere", zeroTime, "*:viewer@workspace")
		newKey(t, c, "local-viewer", zeroTime, "viewer@workspace")
		_, err = c.Facts.SetFacts(ctx, connect.NewRequest(&flagopsv1.SetFactsRequest{Workspace: "rival", Scope: "workspace",
			Values: map[string]*structpb.Value{"rival": structpb.NewBoolValue(true)}}))
		must(t, err)
		setFacts(t, c, "workspace", map[string]any{"sentinel": true}) // delivered after everything above

		tests := []struct {
			name string
			rc   *receiver
			want []string // the names of the keys whose events arrive
		}{
			{"created by a workspace administrator", byWorkspaceAdmin, nil},
			{"created by an administrator of every workspace", byServerAdmin, []string{"local-viewer"}},
		}
		for _, tc := range tests {
			t.Run(tc.name, func(t *testing.T) {
				tc.rc.waitEvent(t, "dev.flagops.fact.")
				var keys []string
				for _, d := range tc.rc.deliveries() {
					if d.event.Data.Workspace != "" && d.event.Data.Workspace != domain.DefaultWorkspace {
						t.Errorf("received a change of workspace %q", d.event.Data.Workspace)
					}
					if d.event.Data.Kind == domain.KindAPIKey {
						var k domain.APIKey
						must(t, json.Unmarshal(d.event.Data.After, &k))
						keys = append(keys, k.Name)
					}
				}
				if strings.Join(keys, ",") != strings.Join(tc.want, ",") {
					t.Fatalf("received the events of keys %v, want %v", keys, tc.want)
				}
			})
		}
	})
}
