package server_test

import (
	"context"
	"database/sql"
	"io"
	"net/http"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"connectrpc.com/connect"
	"google.golang.org/protobuf/types/known/structpb"

	flagopsv1 "github.com/flagops/flagops/gen/flagops/v1"
	"github.com/flagops/flagops/internal/server"
	"github.com/flagops/flagops/internal/server/servertest"
)

func get(t *testing.T, url string) (int, string, http.Header) {
	t.Helper()
	resp, err := servertest.HTTP1Client().Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, string(b), resp.Header
}

func TestOperatorEndpoints(t *testing.T) {
	backends(t, func(t *testing.T, cfg server.Config) {
		s := servertest.Start(t, cfg)
		c := clients(s)
		if _, err := c.Changes.GetRevision(context.Background(), connect.NewRequest(&flagopsv1.GetRevisionRequest{})); err != nil {
			t.Fatal(err)
		}
		rev := setFact(t, c, "a", 1)
		// A malformed message is refused by Connect before the interceptor;
		// it is measured all the same.
		resp, err := servertest.HTTP1Client().Post(s.URL()+"/flagops.v1.FactService/SetFacts", "application/json", strings.NewReader("{"))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		w := watchFrom(t, c, rev)
		w.next(t) // caught_up: the watcher is open

		tests := []struct {
			path string
			want []string
		}{
			{"/healthz", []string{"ok"}},
			{"/readyz", []string{"ok: "}},
			{"/metrics", []string{
				`flagops_requests_total{code="ok",procedure="/flagops.v1.ChangeService/GetRevision"} 1`,
				`flagops_requests_total{code="200",procedure="GET /healthz"} 1`,
				`flagops_request_duration_seconds_bucket{procedure="/flagops.v1.FactService/SetFacts"`,
				`flagops_requests_total{code="rejected_400",procedure="/flagops.v1.FactService/SetFacts"} 1`,
				"flagops_revision " + strconv.FormatInt(rev, 10),
				// The test's watcher and the flag snapshot loader.
				"flagops_watchers 2",
				"go_goroutines ",
				"process_cpu_seconds_total ",
			}},
		}
		for _, tt := range tests {
			t.Run(tt.path, func(t *testing.T) {
				code, body, h := get(t, s.URL()+tt.path)
				if code != http.StatusOK {
					t.Fatalf("status %d: %s", code, body)
				}
				if h.Get("X-Request-Id") == "" {
					t.Error("no request id echoed")
				}
				for _, want := range tt.want {
					if !strings.Contains(body, want) {
						t.Errorf("body lacks %q:\n%s", want, excerpt(body, "flagops_"))
					}
				}
			})
		}
	})
}

// excerpt returns the lines of body that contain substr.
func excerpt(body, substr string) string {
	var out []string
	for _, l := range strings.Split(body, "\n") {
		if strings.Contains(l, substr) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}

// TestReadyzSchemaBehind: a database whose schema is older than this binary
// knows is not ready.
func TestReadyzSchemaBehind(t *testing.T) {
	dir := t.TempDir()
	s := servertest.Start(t, server.Config{DataDir: dir})
	db, err := sql.Open("sqlite", "file:"+filepath.Join(dir, "flagops.db")+"?_pragma=busy_timeout(5000)")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if _, err := db.Exec("DELETE FROM schema_migrations"); err != nil {
		t.Fatal(err)
	}
	code, body, _ := get(t, s.URL()+"/readyz")
	if code != http.StatusServiceUnavailable || !strings.Contains(body, "schema at migration 0") {
		t.Fatalf("readyz: %d %q", code, body)
	}
	if code, _, _ := get(t, s.URL()+"/healthz"); code != http.StatusOK {
		t.Fatalf("healthz: %d; the process is up", code)
	}
}

// TestShutdownFinishesInFlightWrites holds SQLite's write lock from outside
// so that a write is in flight when Shutdown begins: the write must still
// succeed, and be there after a restart.
func TestShutdownFinishesInFlightWrites(t *testing.T) {
	dir := t.TempDir()
	s := servertest.Start(t, server.Config{DataDir: dir})
	c := clients(s)
	db, err := sql.Open("sqlite", "file:"+filepath.Join(dir, "flagops.db")+"?_pragma=busy_timeout(5000)")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	ctx := context.Background()
	conn, err := db.Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if _, err := conn.ExecContext(ctx, "BEGIN IMMEDIATE"); err != nil {
		t.Fatal(err)
	}

	wrote := make(chan error, 1)
	go func() {
		val, _ := structpb.NewValue("v")
		_, err := c.Facts.SetFacts(ctx, connect.NewRequest(&flagopsv1.SetFactsRequest{Scope: "workspace", Values: map[string]*structpb.Value{"inflight": val}}))
		wrote <- err
	}()
	time.Sleep(200 * time.Millisecond) // the write now waits for the lock
	stopped := make(chan error, 1)
	go func() { stopped <- s.Shutdown(ctx) }()
	time.Sleep(200 * time.Millisecond) // Shutdown now waits for the write
	select {
	case err := <-stopped:
		t.Fatalf("Shutdown returned before the in-flight write finished: %v", err)
	default:
	}
	if _, err := conn.ExecContext(ctx, "ROLLBACK"); err != nil {
		t.Fatal(err)
	}
	if err := <-wrote; err != nil {
		t.Fatalf("in-flight write: %v", err)
	}
	if err := <-stopped; err != nil {
		t.Fatalf("shutdown: %v", err)
	}

	c = clients(servertest.Start(t, server.Config{DataDir: dir}))
	got, err := c.Facts.GetFacts(ctx, connect.NewRequest(&flagopsv1.GetFactsRequest{Scope: "workspace"}))
	if err != nil || len(got.Msg.Facts) != 1 || got.Msg.Facts[0].Key != "inflight" {
		t.Fatalf("after restart: %v, %v", got, err)
	}
}
