package server_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"connectrpc.com/connect"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"

	"github.com/flagops/flagops/cli"
	flagopsv1 "github.com/flagops/flagops/gen/flagops/v1"
	"github.com/flagops/flagops/internal/server"
	"github.com/flagops/flagops/internal/server/servertest"
	"github.com/flagops/flagops/internal/webhook"
	"github.com/flagops/flagops/web/webtest"
)

// lockedBuffer is a bytes.Buffer safe for the server's concurrent logging.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// TestSecretCanary writes a secret with a unique value, reads, versions,
// deletes, restores, destroys, resolves, exports and rotates it, through the
// API and the CLI, and then looks for the value everywhere it must not be:
// the database files (SQLite file and WAL), the change log, the Watch stream,
// the server's logs (at debug level), /metrics, list and history output and
// error messages. It must appear only in the authorised reads.
func TestSecretCanary(t *testing.T) {
	dir := t.TempDir()
	var logs lockedBuffer
	s := servertest.Start(t, server.Config{DataDir: dir,
		Logger: slog.New(slog.NewJSONHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))})
	c := servertest.NewClients(servertest.HTTP1Client(), s.URL())
	ctx := context.Background()
	catalog(t, c)

	canary := "canary-" + rand.Text()
	forms := []string{canary, base64.StdEncoding.EncodeToString([]byte(canary)), base64.RawURLEncoding.EncodeToString([]byte(canary)),
		hex.EncodeToString([]byte(canary)), strings.ToUpper(canary)}
	var seen []string // everything that must not hold the value
	look := func(what string, b []byte) {
		t.Helper()
		for _, f := range forms {
			if bytes.Contains(b, []byte(f)) {
				t.Errorf("the secret value appears in %s", what)
			}
		}
		seen = append(seen, what)
	}
	msg := func(what string, m proto.Message) {
		t.Helper()
		b, err := protojson.Marshal(m)
		if err != nil {
			t.Fatal(err)
		}
		look(what, b)
	}
	errText := func(what string, err error) {
		t.Helper()
		if err == nil {
			t.Fatalf("%s: no error", what)
		}
		look(what+" error", []byte(err.Error()))
	}

	// A watcher from the start sees everything that follows.
	w := watchFrom(t, c, 0)

	const scope, key = "deployment/shop@eu-1", "dbPassword"
	put := func(v string, cas *int64) (*connect.Response[flagopsv1.PutSecretResponse], error) {
		return c.Secrets.PutSecret(ctx, connect.NewRequest(&flagopsv1.PutSecretRequest{Scope: scope, Key: key, Value: []byte(v), Cas: cas}))
	}
	zero := int64(0)
	res, err := put(canary+"-v1", &zero)
	if err != nil {
		t.Fatal(err)
	}
	msg("PutSecret response", res.Msg)
	if res, err = put(canary, nil); err != nil {
		t.Fatal(err)
	}
	msg("PutSecret response", res.Msg)
	_, err = put(canary+"-conflict", &zero)
	errText("a conflicting PutSecret", err)

	got, err := c.Secrets.GetSecret(ctx, connect.NewRequest(&flagopsv1.GetSecretRequest{Scope: scope, Key: key}))
	if err != nil || string(got.Msg.GetValue()) != canary {
		t.Fatalf("the authorised read: %v", err)
	}
	for _, call := range []struct {
		name string
		fn   func() (proto.Message, error)
	}{
		{"ListSecrets", func() (proto.Message, error) {
			r, err := c.Secrets.ListSecrets(ctx, connect.NewRequest(&flagopsv1.ListSecretsRequest{}))
			return r.Msg, err
		}},
		{"ListSecretVersions", func() (proto.Message, error) {
			r, err := c.Secrets.ListSecretVersions(ctx, connect.NewRequest(&flagopsv1.ListSecretVersionsRequest{Scope: scope, Key: key}))
			return r.Msg, err
		}},
		{"ResolveSecrets", func() (proto.Message, error) {
			r, err := c.Secrets.ResolveSecrets(ctx, connect.NewRequest(&flagopsv1.ResolveSecretsRequest{Project: "shop", Target: "eu-1"}))
			return r.Msg, err
		}},
		{"DeleteSecret", func() (proto.Message, error) {
			r, err := c.Secrets.DeleteSecret(ctx, connect.NewRequest(&flagopsv1.DeleteSecretRequest{Scope: scope, Key: key}))
			return r.Msg, err
		}},
		{"RestoreSecret", func() (proto.Message, error) {
			r, err := c.Secrets.RestoreSecret(ctx, connect.NewRequest(&flagopsv1.RestoreSecretRequest{Scope: scope, Key: key}))
			return r.Msg, err
		}},
		{"DestroySecretVersion", func() (proto.Message, error) {
			r, err := c.Secrets.DestroySecretVersion(ctx, connect.NewRequest(&flagopsv1.DestroySecretVersionRequest{Scope: scope, Key: key, Version: 1}))
			return r.Msg, err
		}},
		{"RotateMasterKey", func() (proto.Message, error) {
			r, err := c.Secrets.RotateMasterKey(ctx, connect.NewRequest(&flagopsv1.RotateMasterKeyRequest{}))
			return r.Msg, err
		}},
		{"Apply with a prune of facts", func() (proto.Message, error) {
			r, err := c.Apply.Apply(ctx, connect.NewRequest(&flagopsv1.ApplyRequest{Prune: true, PruneKinds: []string{"Facts"},
				Manifests: []*flagopsv1.Manifest{{Source: "canary.yaml", Content: "kind: Facts\nscope: " + scope + "\nvalues: {tier: pro}\n"}}}))
			return r.Msg, err
		}},
		{"GetFacts export", func() (proto.Message, error) {
			r, err := c.Facts.GetFacts(ctx, connect.NewRequest(&flagopsv1.GetFactsRequest{Scope: scope}))
			return r.Msg, err
		}},
		{"ResolveFacts export", func() (proto.Message, error) {
			r, err := c.Facts.ResolveFacts(ctx, connect.NewRequest(&flagopsv1.ResolveFactsRequest{Project: "shop", Target: "eu-1"}))
			return r.Msg, err
		}},
		{"ListChanges", func() (proto.Message, error) {
			r, err := c.Changes.ListChanges(ctx, connect.NewRequest(&flagopsv1.ListChangesRequest{PageSize: 1000}))
			return r.Msg, err
		}},
		{"ListSecretReads", func() (proto.Message, error) {
			r, err := c.Secrets.ListSecretReads(ctx, connect.NewRequest(&flagopsv1.ListSecretReadsRequest{}))
			return r.Msg, err
		}},
	} {
		m, err := call.fn()
		if err != nil {
			t.Fatalf("%s: %v", call.name, err)
		}
		msg(call.name, m)
	}
	_, err = c.Secrets.GetSecret(ctx, connect.NewRequest(&flagopsv1.GetSecretRequest{Scope: scope, Key: key, Version: 1}))
	errText("reading a destroyed version", err)

	// The second authorised read, after the rotation: the value survived it.
	all, err := c.Secrets.ReadDeploymentSecrets(ctx, connect.NewRequest(&flagopsv1.ReadDeploymentSecretsRequest{Project: "shop", Target: "eu-1"}))
	if err != nil || len(all.Msg.GetSecrets()) != 1 || string(all.Msg.GetSecrets()[0].GetValue()) != canary {
		t.Fatalf("resolved read after rotation: %v %v", all, err)
	}

	// The CLI's default outputs.
	env := []string{"FLAGOPS_SERVER=" + s.URL(), "FLAGOPS_TOKEN=" + servertest.AdminToken(s.URL())}
	for _, args := range [][]string{
		{"secrets", "list"}, {"secrets", "list", scope, "-o", "json"}, {"secrets", "versions", scope, key, "-o", "yaml"},
		{"secrets", "audit"}, {"history", "-o", "json"}, {"history"}, {"facts", "get", scope, "-o", "json"},
		{"get", "facts", scope, "-o", "yaml"},
	} {
		out, code := runCLI(t, env, args...)
		if code != 0 {
			t.Fatalf("flagops %v: exit %d: %s", args, code, out)
		}
		look("flagops "+strings.Join(args, " "), []byte(out))
	}
	if out, code := runCLI(t, env, "secrets", "get", scope, key); code != 0 || out != canary+"\n" {
		t.Fatalf("flagops secrets get: %d %q", code, out)
	}

	// Render's stderr and the errors of bad PutSecret values.
	canaryInputPlaces(t, s, key, canary, look)

	// The web UI: a new version stored through its write-only form, then
	// every page that shows secrets' metadata, versions and reads, or the
	// change log.
	ui := webtest.SignIn(t, s.URL(), servertest.AdminToken(s.URL()))
	code, page := ui.Post(t, "/ui/actions/secret-put", url.Values{"scope": {scope}, "key": {key}, "value": {canary + "-ui"},
		"return": {"/facts?project=shop&target=eu-1"}})
	if code != http.StatusOK || !strings.Contains(page, "Stored a new version") {
		t.Fatalf("storing a secret through the UI: %d", code)
	}
	look("the UI's answer to a secret write", []byte(page))
	for _, path := range []string{"/", "/projects/shop", "/facts?project=shop&target=eu-1", "/facts?project=shop&target=eu-1&hkey=dbPassword&hscope=" + url.QueryEscape(scope),
		"/timeline", "/timeline?kind=secret", "/access", "/flags"} {
		code, page := ui.Get(t, path)
		if code != http.StatusOK {
			t.Fatalf("UI page %s: %d", path, code)
		}
		look("the UI page "+path, []byte(page))
	}
	if _, page := ui.Get(t, "/facts?project=shop&target=eu-1"); !strings.Contains(page, "dbPassword") {
		t.Error("the facts page does not list the secret's metadata")
	}

	// Everything the watcher received.
	var watched bytes.Buffer
	for done := false; !done; {
		select {
		case r := <-w.ch:
			b, _ := protojson.Marshal(r)
			watched.Write(b)
		case <-time.After(500 * time.Millisecond):
			done = true
		}
	}
	if !strings.Contains(watched.String(), `"kind":"secret"`) {
		t.Fatalf("the watcher saw no secret change: %s", watched.String())
	}
	look("the Watch stream", watched.Bytes())

	_, metrics, _ := get(t, s.URL()+"/metrics")
	look("/metrics", []byte(metrics))

	// The database files, while the server runs (WAL not yet checkpointed)
	// and after it stopped.
	files := func(when string) {
		entries, err := os.ReadDir(dir)
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range entries {
			b, err := os.ReadFile(filepath.Join(dir, e.Name()))
			if err != nil {
				t.Fatal(err)
			}
			look(e.Name()+" "+when, b)
		}
	}
	files("while serving")
	if _, err := os.Stat(filepath.Join(dir, "flagops.db-wal")); err != nil {
		t.Errorf("no WAL file to inspect: %v", err)
	}
	if err := s.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	files("after shutdown")
	look("the server log", []byte(logs.String()))
	if !strings.Contains(logs.String(), "admin.token") {
		t.Error("the log does not say where the admin token went")
	}
	if tok := servertest.AdminToken(s.URL()); strings.Contains(logs.String(), tok) {
		t.Error("the admin token is in the log")
	}
	t.Logf("looked in %d places", len(seen))
}

// runCLI runs the command line in-process with env (KEY=VALUE) set.
func runCLI(t *testing.T, env []string, args ...string) (string, int) {
	t.Helper()
	for _, kv := range env {
		k, v, _ := strings.Cut(kv, "=")
		t.Setenv(k, v)
	}
	var out bytes.Buffer
	code := cli.Main(context.Background(), args, strings.NewReader(""), &out, io.Discard)
	return out.String(), code
}

// TestWebhookURLCanary plants credentials in a webhook URL (a password and
// a query token, each a unique value) and looks for them everywhere they
// must not be: the create response, ListWebhooks and GetWebhook, the change
// log, the Watch stream, the delivery log, the webhook.created event another
// subscription receives, an error message, the CLI's listing, /metrics, the
// database files and the server's debug log. Only the deliveries to the
// subscription's own receiver carry them (issue 9.3).
func TestWebhookURLCanary(t *testing.T) {
	dir := t.TempDir()
	var logs lockedBuffer
	s := servertest.Start(t, server.Config{DataDir: dir,
		Webhooks: webhook.Options{Backoff: webhook.Backoff{Base: time.Millisecond, Max: 10 * time.Millisecond}, PollInterval: 50 * time.Millisecond},
		Logger:   slog.New(slog.NewJSONHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))})
	c := servertest.NewClients(servertest.HTTP1Client(), s.URL())
	wc := webhooksClient(s)
	ctx := context.Background()
	catalog(t, c)

	pass, token := "canary-pw-"+rand.Text(), "canary-tok-"+rand.Text()
	var seen []string
	look := func(what string, b []byte) {
		t.Helper()
		for _, f := range []string{pass, token} {
			if bytes.Contains(b, []byte(f)) {
				t.Errorf("a webhook URL credential appears in %s", what)
			}
		}
		seen = append(seen, what)
	}
	msg := func(what string, m proto.Message) {
		t.Helper()
		b, err := protojson.Marshal(m)
		if err != nil {
			t.Fatal(err)
		}
		look(what, b)
	}

	// Two receivers: one gets the webhook.created event, the other the
	// credentials, and fails its first attempts so that the delivery log
	// records errors.
	var mu sync.Mutex
	var events, credentialed []string
	bystander := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		mu.Lock()
		events = append(events, string(b))
		mu.Unlock()
	}))
	defer bystander.Close()
	failures := 2
	rcv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		user, pw, _ := r.BasicAuth()
		mu.Lock()
		defer mu.Unlock()
		if failures > 0 {
			failures--
			http.Error(w, "not yet: "+r.URL.String(), http.StatusBadGateway)
			return
		}
		credentialed = append(credentialed, user+":"+pw+"?"+r.URL.Query().Get("token"))
	}))
	defer rcv.Close()

	w := watchFrom(t, c, 0)
	if _, err := wc.CreateWebhook(ctx, connect.NewRequest(&flagopsv1.CreateWebhookRequest{Name: "bystander", Url: bystander.URL,
		Filter: &flagopsv1.WebhookFilter{Kinds: []string{"webhook"}}})); err != nil {
		t.Fatal(err)
	}
	full := strings.Replace(rcv.URL, "http://", "http://hook:"+pass+"@", 1) + "/in?token=" + token
	created, err := wc.CreateWebhook(ctx, connect.NewRequest(&flagopsv1.CreateWebhookRequest{Name: "billing", Url: full,
		Filter: &flagopsv1.WebhookFilter{Kinds: []string{"fact"}}}))
	if err != nil {
		t.Fatal(err)
	}
	msg("the CreateWebhook response", created.Msg)
	_, err = wc.CreateWebhook(ctx, connect.NewRequest(&flagopsv1.CreateWebhookRequest{Name: "bad", Url: "ftp://hook:" + pass + "@x/?token=" + token}))
	if err == nil {
		t.Fatal("an ftp URL was accepted")
	}
	look("a CreateWebhook error", []byte(err.Error()))

	setFact(t, c, "plan", "gold")
	waitUntil(t, "the credentialed delivery", func() bool { mu.Lock(); defer mu.Unlock(); return len(credentialed) > 0 })
	mu.Lock()
	if got, want := credentialed[0], "hook:"+pass+"?"+token; got != want {
		t.Errorf("the receiver got credentials %q: want the URL's own", got)
	}
	mu.Unlock()
	waitUntil(t, "the webhook.created event", func() bool { mu.Lock(); defer mu.Unlock(); return len(events) > 0 })

	list, err := wc.ListWebhooks(ctx, connect.NewRequest(&flagopsv1.ListWebhooksRequest{}))
	if err != nil {
		t.Fatal(err)
	}
	msg("ListWebhooks", list.Msg)
	got, err := wc.GetWebhook(ctx, connect.NewRequest(&flagopsv1.GetWebhookRequest{Name: "billing"}))
	if err != nil {
		t.Fatal(err)
	}
	msg("GetWebhook", got.Msg)
	var deliveries *connect.Response[flagopsv1.ListDeliveriesResponse]
	waitUntil(t, "a delivery record with the failed attempts", func() bool {
		deliveries, err = wc.ListDeliveries(ctx, connect.NewRequest(&flagopsv1.ListDeliveriesRequest{Webhook: "billing"}))
		return err == nil && len(deliveries.Msg.GetDeliveries()) > 0 && deliveries.Msg.GetDeliveries()[0].GetStatus() == "succeeded"
	})
	msg("ListDeliveries", deliveries.Msg)
	changes, err := c.Changes.ListChanges(ctx, connect.NewRequest(&flagopsv1.ListChangesRequest{PageSize: 1000}))
	if err != nil {
		t.Fatal(err)
	}
	msg("ListChanges", changes.Msg)
	mu.Lock()
	look("the webhook.created event", []byte(strings.Join(events, "\n")))
	mu.Unlock()
	env := []string{"FLAGOPS_SERVER=" + s.URL(), "FLAGOPS_TOKEN=" + servertest.AdminToken(s.URL())}
	for _, args := range [][]string{{"webhooks", "list"}, {"webhooks", "list", "-o", "json"}, {"history", "-o", "json"}} {
		out, code := runCLI(t, env, args...)
		if code != 0 {
			t.Fatalf("flagops %v: exit %d: %s", args, code, out)
		}
		look("flagops "+strings.Join(args, " "), []byte(out))
	}

	var watched bytes.Buffer
	for done := false; !done; {
		select {
		case r := <-w.ch:
			b, _ := protojson.Marshal(r)
			watched.Write(b)
		case <-time.After(500 * time.Millisecond):
			done = true
		}
	}
	if !strings.Contains(watched.String(), `"kind":"webhook"`) {
		t.Fatalf("the watcher saw no webhook change: %s", watched.String())
	}
	look("the Watch stream", watched.Bytes())
	_, metrics, _ := get(t, s.URL()+"/metrics")
	look("/metrics", []byte(metrics))

	files := func(when string) {
		entries, err := os.ReadDir(dir)
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range entries {
			b, err := os.ReadFile(filepath.Join(dir, e.Name()))
			if err != nil {
				t.Fatal(err)
			}
			look(e.Name()+" "+when, b)
		}
	}
	files("while serving")
	if err := s.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	files("after shutdown")
	look("the server log", []byte(logs.String()))
	t.Logf("looked in %d places", len(seen))
}
