package ofrep

import (
	"bufio"
	"context"
	"encoding/json"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

// localServer serves h on 127.0.0.1.
func localServer(t *testing.T, h http.Handler) *httptest.Server {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &httptest.Server{Listener: l, Config: &http.Server{Handler: h}}
	srv.Start()
	t.Cleanup(srv.Close)
	return srv
}

// stream opens the event stream and returns a channel of "data:" payloads.
func stream(t *testing.T, ctx context.Context, url, key string) <-chan string {
	t.Helper()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	req.Header.Set("X-API-Key", key)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "text/event-stream" {
		t.Fatalf("events: %d %s", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	out := make(chan string, 16)
	sc := bufio.NewScanner(resp.Body)
	connected := make(chan struct{})
	go func() {
		defer close(out)
		defer resp.Body.Close()
		var event string
		for sc.Scan() {
			line := sc.Text()
			switch {
			case line == ": connected":
				close(connected)
			case strings.HasPrefix(line, "event: "):
				event = line[len("event: "):]
			case strings.HasPrefix(line, "data: "):
				if event != "message" {
					t.Errorf("event %q, want message", event)
				}
				out <- line[len("data: "):]
			case line == ": keep-alive":
				out <- "keep-alive"
			}
		}
	}()
	select {
	case <-connected:
	case <-time.After(2 * time.Second):
		t.Fatal("stream did not start")
	}
	return out
}

func TestEventsRefetch(t *testing.T) {
	fx := newFixture(t, nil)
	srv := localServer(t, fx.h)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	events := stream(t, ctx, srv.URL+PathEvents+"?project=shop&target=eu", "k-prod")

	changes := []struct {
		name   string
		change func()
	}{
		{"snapshot replaced", func() { fx.reg.Replace("w", "shop", "prod", testSnapshot(t, 200)) }},
		{"facts invalidated", func() {
			fx.facts.set("eu", map[string]any{"tier": "free"}, 20)
			fx.cache.Invalidate("w", "shop", "eu", 20)
		}},
	}
	for _, c := range changes {
		t.Run(c.name, func(t *testing.T) {
			start := time.Now()
			c.change()
			select {
			case data := <-events:
				lat := time.Since(start)
				t.Logf("refetchEvaluation %v after the change", lat)
				var ev struct {
					Type         string `json:"type"`
					ETag         string `json:"etag"`
					LastModified int64  `json:"lastModified"`
				}
				if err := json.Unmarshal([]byte(data), &ev); err != nil || ev.Type != "refetchEvaluation" || ev.ETag == "" || ev.LastModified == 0 {
					t.Fatalf("data %s: %v", data, err)
				}
				if lat > 50*time.Millisecond {
					t.Errorf("latency %v > 50ms", lat)
				}
			case <-time.After(2 * time.Second):
				t.Fatal("no event")
			}
		})
	}
	t.Run("other environment is silent", func(t *testing.T) {
		fx.reg.Replace("w", "shop", "dev", testSnapshot(t, 300))
		select {
		case data := <-events:
			t.Fatalf("unexpected %s", data)
		case <-time.After(30 * time.Millisecond):
		}
	})
}

func TestEventsKeepAliveAndShutdown(t *testing.T) {
	fx := newFixture(t, func(o *Options) { o.KeepAlive = 10 * time.Millisecond })
	srv := localServer(t, fx.h)

	t.Run("keep-alive", func(t *testing.T) {
		events := stream(t, context.Background(), srv.URL+PathEvents, "k-shop")
		select {
		case got := <-events:
			if got != "keep-alive" {
				t.Fatalf("got %q", got)
			}
		case <-time.After(time.Second):
			t.Fatal("no keep-alive")
		}
		fx.h.Close()
		deadline := time.After(time.Second)
		for {
			select {
			case _, ok := <-events:
				if !ok {
					return // the server ended the stream
				}
			case <-deadline:
				t.Fatal("Close did not end the stream")
			}
		}
	})
}

func TestEventsClientCancel(t *testing.T) {
	fx := newFixture(t, nil)
	done := make(chan struct{})
	srv := localServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		defer close(done)
		fx.h.ServeHTTP(w, r)
	}))
	ctx, cancel := context.WithCancel(context.Background())
	stream(t, ctx, srv.URL+PathEvents, "k-shop")
	cancel()
	select {
	case <-done:
	case <-time.After(time.Second):
		t.Fatal("handler did not return after the client went away")
	}
}

func TestEventsAuth(t *testing.T) {
	fx := newFixture(t, nil)
	tests := []struct {
		name, path string
		hdr        []string
		status     int
	}{
		{"no key", PathEvents, nil, 401},
		{"denied", PathEvents, bearerKey("k-denied"), 403},
		{"no project", PathEvents, bearerKey("k-prod"), 400},
		{"foreign project", PathEvents + "?project=other", bearerKey("k-shop"), 403},
		{"unknown target", PathEvents + "?project=shop&target=mars", bearerKey("k-prod"), 400},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if w := fx.do(http.MethodGet, tc.path, "", tc.hdr...); w.Code != tc.status {
				t.Fatalf("status %d, want %d", w.Code, tc.status)
			}
		})
	}
}
