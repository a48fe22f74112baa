package adversarial_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"connectrpc.com/connect"
	"google.golang.org/protobuf/types/known/structpb"

	flagopsv1 "github.com/flagops/flagops/gen/flagops/v1"
	"github.com/flagops/flagops/gen/flagops/v1/flagopsv1connect"
	"github.com/flagops/flagops/internal/ofrep"
	"github.com/flagops/flagops/internal/render"
	"github.com/flagops/flagops/internal/server"
	"github.com/flagops/flagops/internal/server/servertest"
)

// TestEdgeSizeLimitsAreNotRetryable keeps the first part of issue 9.15
// fixed: a request over a size limit is refused with 413 (plain HTTP) or
// invalid_argument (Connect, gRPC), naming the limit, on every path a body
// enters by, compressed ones included. resource_exhausted and 429 tell a
// client to retry the same request, which would fail again.
func TestEdgeSizeLimitsAreNotRetryable(t *testing.T) {
	servertest.Backends(t, func(t *testing.T, cfg server.Config) {
		const limit = 256 << 10
		cfg.MaxRequestBytes = limit
		s, c := edgeServer(t, cfg)
		ctx := context.Background()
		hook, err := flagopsv1connect.NewWebhookServiceClient(servertest.HTTP1Client(), s.URL()).
			CreateFactHook(ctx, connect.NewRequest(&flagopsv1.CreateFactHookRequest{Name: "cms", Scopes: []string{"workspace"}}))
		if err != nil {
			t.Fatal(err)
		}
		before := edgeRevision(t, c)
		big := strings.Repeat("x", limit+(64<<10))
		setFacts := func(cl servertest.Clients, v string) error {
			_, err := cl.Facts.SetFacts(ctx, connect.NewRequest(&flagopsv1.SetFactsRequest{
				Scope: "workspace", Values: map[string]*structpb.Value{"a": structpb.NewStringValue(v)}}))
			return err
		}
		limitText := strconv.Itoa(limit)

		rpcs := []struct {
			name, mentions string
			call           func() error
		}{
			{"Connect over HTTP/1.1", limitText, func() error { return setFacts(c, big) }},
			{"gRPC over HTTP/2", limitText, func() error {
				return setFacts(servertest.NewClients(servertest.H2CClient(), s.URL(), connect.WithGRPC()), big)
			}},
			{"gzip that expands past the limit", limitText, func() error {
				return setFacts(servertest.NewClients(servertest.HTTP1Client(), s.URL(), connect.WithSendGzip()), strings.Repeat("a", 8<<20))
			}},
			{"a fact value over its own limit", "65536", func() error { return setFacts(c, strings.Repeat("y", 70<<10)) }},
		}
		for _, tc := range rpcs {
			t.Run(tc.name, func(t *testing.T) {
				err := tc.call()
				if connect.CodeOf(err) != connect.CodeInvalidArgument {
					t.Fatalf("code %v (%v), want invalid_argument", connect.CodeOf(err), err)
				}
				if !strings.Contains(err.Error(), tc.mentions) {
					t.Fatalf("error %q does not name the limit %s", err, tc.mentions)
				}
			})
		}

		bigJSON := `{"scope":"workspace","values":{"a":"` + big + `"}}`
		plain := []struct {
			name, method, url, token, body string
			status                         int
			code, mentions                 string
		}{
			{"Connect JSON body", http.MethodPost, s.URL() + "/flagops.v1.FactService/SetFacts", "", bigJSON,
				http.StatusBadRequest, "invalid_argument", limitText},
			{"render bundle", http.MethodPost, s.URL() + strings.TrimPrefix(render.BundleRoute, "POST "), "",
				`{"project":"shop","target":"eu-1","context":{"a":"` + big + `"}}`, http.StatusRequestEntityTooLarge, "invalid_argument", limitText},
			{"fact hook", http.MethodPost, s.URL() + hook.Msg.Hook.Path, hook.Msg.Token, bigJSON,
				http.StatusRequestEntityTooLarge, "invalid_argument", limitText},
			{"OFREP bulk", http.MethodPost, s.URL() + ofrep.PathBulk, edgeOFREPKey,
				`{"context":{"a":"` + strings.Repeat("x", 2<<20) + `"}}`, http.StatusRequestEntityTooLarge, "", "1048576"},
		}
		for _, tc := range plain {
			t.Run(tc.name, func(t *testing.T) {
				status, body := edgeDo(t, tc.method, tc.url, tc.token, "application/json", strings.NewReader(tc.body))
				if status != tc.status {
					t.Fatalf("status %d (%.200s), want %d", status, body, tc.status)
				}
				var out map[string]any
				if err := json.Unmarshal([]byte(body), &out); err != nil {
					t.Fatalf("answer is not JSON: %.200s", body)
				}
				if tc.code != "" && out["code"] != tc.code {
					t.Fatalf("code %v, want %s", out["code"], tc.code)
				}
				if !strings.Contains(body, tc.mentions) {
					t.Fatalf("answer %.300s does not name the limit %s", body, tc.mentions)
				}
			})
		}
		if after := edgeRevision(t, c); after != before {
			t.Fatalf("revision moved from %d to %d: an oversized request was applied", before, after)
		}
	})
}

// edgeProxy is a TCP proxy to PostgreSQL that the test can take down (it
// refuses new connections and drops open ones) and bring back, so a server
// sees a database outage without the shared PostgreSQL being stopped.
type edgeProxy struct {
	target string
	addr   string
	mu     sync.Mutex
	ln     net.Listener
	conns  []net.Conn
}

func newEdgeProxy(t *testing.T, target string) *edgeProxy {
	t.Helper()
	p := &edgeProxy{target: target}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p.ln, p.addr = ln, ln.Addr().String()
	go p.serve(ln)
	t.Cleanup(p.down)
	return p
}

func (p *edgeProxy) serve(ln net.Listener) {
	for {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		up, err := net.Dial("tcp", p.target)
		if err != nil {
			c.Close()
			continue
		}
		p.mu.Lock()
		p.conns = append(p.conns, c, up)
		p.mu.Unlock()
		go func() { _, _ = io.Copy(up, c); up.Close() }()
		go func() { _, _ = io.Copy(c, up); c.Close() }()
	}
}

func (p *edgeProxy) down() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.ln != nil {
		p.ln.Close()
		p.ln = nil
	}
	for _, c := range p.conns {
		c.Close()
	}
	p.conns = nil
}

func (p *edgeProxy) up(t *testing.T) {
	t.Helper()
	ln, err := net.Listen("tcp", p.addr)
	if err != nil {
		t.Fatalf("bring the proxy back on %s: %v", p.addr, err)
	}
	p.mu.Lock()
	p.ln = ln
	p.mu.Unlock()
	go p.serve(ln)
}

// TestEdgeDatabaseDownIsUnavailable keeps the second and third parts of
// issue 9.15 fixed: while the database cannot be reached, every path
// answers 503 / unavailable (a client may retry), not 500 / internal; and
// neither those answers nor the public /readyz show the database's user,
// host, port or name. When the database is back, the same server serves
// again without a restart.
func TestEdgeDatabaseDownIsUnavailable(t *testing.T) {
	servertest.Backends(t, func(t *testing.T, cfg server.Config) {
		if cfg.DatabaseURL == "" {
			t.Skip("SQLite is embedded in the server: there is no database connection to lose")
		}
		u, err := url.Parse(cfg.DatabaseURL)
		if err != nil {
			t.Fatal(err)
		}
		proxy := newEdgeProxy(t, u.Host)
		dbName, user, realHost := strings.TrimPrefix(u.Path, "/"), u.User.Username(), u.Host
		u.Host = proxy.addr
		cfg.DatabaseURL = u.String()
		s, c := edgeServer(t, cfg)
		if status, body := edgeDo(t, http.MethodGet, s.URL()+"/readyz", servertest.NoToken, "", nil); status != http.StatusOK {
			t.Fatalf("/readyz answered %d before the outage: %s", status, body)
		}
		// Secrets the answers must not show: the database name, the user
		// (as the driver writes it) and both addresses.
		hidden := []string{dbName, "user=" + user, realHost, proxy.addr}
		ctx := context.Background()

		proxy.down()
		rpcs := []struct {
			name string
			call func() error
		}{
			{"GetFacts", func() error {
				_, err := c.Facts.GetFacts(ctx, connect.NewRequest(&flagopsv1.GetFactsRequest{Scope: "workspace"}))
				return err
			}},
			{"SetFacts", func() error {
				_, err := c.Facts.SetFacts(ctx, connect.NewRequest(&flagopsv1.SetFactsRequest{
					Scope: "workspace", Values: map[string]*structpb.Value{"a": structpb.NewStringValue("b")}}))
				return err
			}},
			{"ListEnvironments", func() error {
				_, err := c.Catalog.ListEnvironments(ctx, connect.NewRequest(&flagopsv1.ListEnvironmentsRequest{}))
				return err
			}},
		}
		for _, tc := range rpcs {
			t.Run(tc.name, func(t *testing.T) {
				err := tc.call()
				if connect.CodeOf(err) != connect.CodeUnavailable {
					t.Fatalf("code %v (%v), want unavailable", connect.CodeOf(err), err)
				}
				if h, ok := edgeContains(err.Error(), hidden...); ok {
					t.Fatalf("the error shows %q: %v", h, err)
				}
			})
		}
		plain := []struct {
			name, method, path, token, body string
		}{
			{"resolve", http.MethodGet, "/v1/resolve/shop/prod", "", ""},
			{"OFREP with a target", http.MethodPost, ofrep.PathSingle + "beta", edgeOFREPKey, `{"context":{"target":"eu-1"}}`},
			{"readyz", http.MethodGet, "/readyz", servertest.NoToken, ""},
		}
		for _, tc := range plain {
			t.Run(tc.name, func(t *testing.T) {
				var body io.Reader
				if tc.body != "" {
					body = strings.NewReader(tc.body)
				}
				status, out := edgeDo(t, tc.method, s.URL()+tc.path, tc.token, "application/json", body)
				if status != http.StatusServiceUnavailable {
					t.Fatalf("status %d (%s), want 503", status, out)
				}
				if h, ok := edgeContains(out, hidden...); ok {
					t.Fatalf("the answer shows %q: %s", h, out)
				}
			})
		}

		proxy.up(t)
		deadline := time.Now().Add(15 * time.Second)
		for {
			_, err := c.Facts.SetFacts(ctx, connect.NewRequest(&flagopsv1.SetFactsRequest{
				Scope: "workspace", Values: map[string]*structpb.Value{"a": structpb.NewStringValue("back")}}))
			if err == nil {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("the server does not serve writes 15s after the database came back: %v", err)
			}
			var ce *connect.Error
			if errors.As(err, &ce) && ce.Code() != connect.CodeUnavailable {
				t.Fatalf("after the outage: code %v (%v), want success or unavailable", ce.Code(), err)
			}
			time.Sleep(200 * time.Millisecond)
		}
		if status, body := edgeDo(t, http.MethodGet, s.URL()+"/readyz", servertest.NoToken, "", nil); status != http.StatusOK {
			t.Fatalf("/readyz answered %d after the outage: %s", status, body)
		}
	})
}
