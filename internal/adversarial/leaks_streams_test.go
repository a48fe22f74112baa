package adversarial_test

import (
	"bufio"
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"connectrpc.com/connect"

	flagopsv1 "github.com/flagops/flagops/gen/flagops/v1"
	"github.com/flagops/flagops/internal/domain"
	"github.com/flagops/flagops/internal/ofrep"
	"github.com/flagops/flagops/internal/server"
	"github.com/flagops/flagops/internal/server/servertest"
)

// promptly bounds how long a stream may outlive its key.
const promptly = 5 * time.Second

// watchStream is a Watch call read into a channel by a goroutine.
type watchStream struct {
	got  chan *flagopsv1.WatchResponse
	done chan error
}

func openWatch(t *testing.T, c servertest.Clients) *watchStream {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	ws := &watchStream{got: make(chan *flagopsv1.WatchResponse, 256), done: make(chan error, 1)}
	st, err := c.Changes.Watch(ctx, connect.NewRequest(&flagopsv1.WatchRequest{Filter: &flagopsv1.WatchFilter{Workspace: domain.DefaultWorkspace}}))
	must(t, err)
	go func() {
		defer st.Close()
		for st.Receive() {
			ws.got <- st.Msg()
		}
		ws.done <- st.Err()
	}()
	// The replay ends with caught_up: from then on the stream is live.
	for {
		select {
		case r := <-ws.got:
			if r.GetCaughtUp() {
				return ws
			}
		case err := <-ws.done:
			t.Fatalf("watch ended before catching up: %v", err)
		case <-time.After(10 * time.Second):
			t.Fatal("watch did not catch up")
		}
	}
}

// sees waits for a change of kind on the stream.
func (ws *watchStream) sees(t *testing.T, kind string) {
	t.Helper()
	deadline := time.After(10 * time.Second)
	for {
		select {
		case r := <-ws.got:
			for _, c := range r.GetChanges() {
				if c.GetKind() == kind {
					return
				}
			}
		case err := <-ws.done:
			t.Fatalf("watch ended: %v", err)
		case <-deadline:
			t.Fatalf("no %s change within 10s", kind)
		}
	}
}

// ends waits for the stream to end with unauthenticated and returns how
// long after since that was; any change it delivers meanwhile must not be
// of kind never.
func (ws *watchStream) ends(t *testing.T, never string, since time.Time) time.Duration {
	t.Helper()
	deadline := time.After(promptly)
	for {
		select {
		case r := <-ws.got:
			for _, c := range r.GetChanges() {
				if c.GetKind() == never {
					t.Fatalf("the stream delivered a %s change after its key stopped being valid", never)
				}
			}
		case err := <-ws.done:
			if connect.CodeOf(err) != connect.CodeUnauthenticated {
				t.Fatalf("the stream ended with %v, want unauthenticated", err)
			}
			return time.Since(since)
		case <-deadline:
			t.Fatalf("the stream outlived its key by %v", promptly)
		}
	}
}

// openEvents opens the OFREP event stream and returns a channel closed when
// the server ends it.
func openEvents(t *testing.T, s *server.Server, token string) <-chan struct{} {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, s.URL()+ofrep.PathEvents+"?project=shop", nil)
	must(t, err)
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := servertest.HTTP1Client().Do(req)
	must(t, err)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("event stream: %s", resp.Status)
	}
	br := bufio.NewReader(resp.Body)
	if line, err := br.ReadString('\n'); err != nil || !strings.HasPrefix(line, "retry:") {
		t.Fatalf("event stream opened with %q, %v", line, err)
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		defer resp.Body.Close()
		for {
			if _, err := br.ReadString('\n'); err != nil {
				return
			}
		}
	}()
	return done
}

func endsWithin(t *testing.T, done <-chan struct{}, what string, since time.Time) time.Duration {
	t.Helper()
	select {
	case <-done:
		return time.Since(since)
	case <-time.After(promptly):
		t.Fatalf("%s outlived its key by %v", what, promptly)
	}
	return 0
}

func revoke(t *testing.T, c servertest.Clients, name string) {
	t.Helper()
	_, err := c.Access.RevokeKey(context.Background(), connect.NewRequest(&flagopsv1.RevokeKeyRequest{Key: name}))
	must(t, err)
}

func putSecret(t *testing.T, c servertest.Clients) {
	t.Helper()
	_, err := c.Secrets.PutSecret(context.Background(), connect.NewRequest(&flagopsv1.PutSecretRequest{
		Scope: "deployment/shop@" + prodTarget, Key: "dbPassword", Value: []byte("s3cr3t-" + time.Now().String())}))
	must(t, err)
}

// TestRevocationEndsStreams keeps issue 9.12 fixed: revoking or expiring a
// key did not end its open Watch and OFREP event streams, and a revoked
// viewer kept receiving changes, a secret's creation among them. Streams
// now end, with unauthenticated, as soon as the server reads the
// revocation or the key expires; on PostgreSQL also when the key is revoked
// through another instance.
func TestRevocationEndsStreams(t *testing.T) {
	servertest.Backends(t, func(t *testing.T, cfg server.Config) {
		s := servertest.Start(t, cfg)
		c := admin(s)
		estate(t, c, domain.DefaultWorkspace)

		t.Run("revoked viewer's watch", func(t *testing.T) {
			w := openWatch(t, as(s, newKey(t, c, "viewer", zeroTime, "viewer@workspace")))
			setFacts(t, c, "workspace", map[string]any{"before": 1})
			w.sees(t, domain.KindFact)
			at := time.Now()
			revoke(t, c, "viewer")
			putSecret(t, c)
			t.Logf("the watch ended %v after the revocation was sent", w.ends(t, domain.KindSecret, at))
		})
		t.Run("expired viewer's watch", func(t *testing.T) {
			exp := time.Now().Add(1500 * time.Millisecond)
			w := openWatch(t, as(s, newKey(t, c, "brief", exp, "viewer@workspace")))
			time.Sleep(time.Until(exp))
			putSecret(t, c)
			t.Logf("the watch ended %v after the expiry", w.ends(t, domain.KindSecret, exp))
		})
		t.Run("revoked evaluator's event stream", func(t *testing.T) {
			done := openEvents(t, s, newKey(t, c, "sdk", zeroTime, "evaluator@environment/prod"))
			at := time.Now()
			revoke(t, c, "sdk")
			t.Logf("the event stream ended %v after the revocation was sent", endsWithin(t, done, "the OFREP event stream", at))
		})
		t.Run("expired evaluator's event stream", func(t *testing.T) {
			exp := time.Now().Add(1500 * time.Millisecond)
			done := openEvents(t, s, newKey(t, c, "sdk-brief", exp, "evaluator@environment/prod"))
			time.Sleep(time.Until(exp))
			t.Logf("the event stream ended %v after the expiry", endsWithin(t, done, "the OFREP event stream", exp))
		})
		t.Run("revoked through another instance", func(t *testing.T) {
			if cfg.DatabaseURL == "" {
				t.Skip("one SQLite database serves one instance")
			}
			other := servertest.Start(t, cfg)
			token := newKey(t, c, "roaming", zeroTime, "viewer@workspace", "evaluator@environment/prod")
			w := openWatch(t, as(other, token))
			done := openEvents(t, other, token)
			at := time.Now()
			revoke(t, c, "roaming") // on the first instance
			putSecret(t, c)
			t.Logf("on the other instance, the watch ended %v and the event stream %v after the revocation was sent",
				w.ends(t, domain.KindSecret, at), endsWithin(t, done, "the OFREP event stream", at))
		})
	})
}
