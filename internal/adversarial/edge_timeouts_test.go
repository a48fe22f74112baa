package adversarial_test

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"connectrpc.com/connect"

	flagopsv1 "github.com/flagops/flagops/gen/flagops/v1"
	"github.com/flagops/flagops/internal/ofrep"
	"github.com/flagops/flagops/internal/server"
	"github.com/flagops/flagops/internal/server/servertest"
)

// edgeTrickle opens a raw connection, sends head (the request line and
// headers, or part of them) and then trickles one byte of body every
// interval until the server closes the connection. It returns how long the
// connection lived, or fails when it outlives limit.
func edgeTrickle(t *testing.T, addr, head string, interval, limit time.Duration) time.Duration {
	t.Helper()
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	start := time.Now()
	if _, err := io.WriteString(conn, head); err != nil {
		t.Fatal(err)
	}
	stop := make(chan struct{})
	defer close(stop)
	go func() {
		tick := time.NewTicker(interval)
		defer tick.Stop()
		for {
			select {
			case <-stop:
				return
			case <-tick.C:
				if _, err := conn.Write([]byte("x")); err != nil {
					return
				}
			}
		}
	}()
	// The server may answer (408, 400, a Connect error) before closing:
	// read until the connection ends.
	_ = conn.SetReadDeadline(start.Add(limit))
	_, err = io.Copy(io.Discard, conn)
	lived := time.Since(start)
	if ne, ok := err.(net.Error); ok && ne.Timeout() {
		t.Fatalf("the connection was still open after %v", lived.Round(time.Millisecond))
	}
	return lived
}

// TestEdgeSlowClientsDisconnected keeps issue 9.9 fixed: a client that
// trickles its headers or its body (slowloris) is disconnected within the
// configured timeout, on an RPC, on a plain route and on the Watch stream,
// whose request is bounded like any other even though its response may
// live for ever.
func TestEdgeSlowClientsDisconnected(t *testing.T) {
	servertest.Backends(t, func(t *testing.T, cfg server.Config) {
		cfg.ReadHeaderTimeout = time.Second
		cfg.ReadTimeout = 2 * time.Second
		s, _ := edgeServer(t, cfg)
		body := func(path, auth string) string {
			return "POST " + path + " HTTP/1.1\r\nHost: " + s.Addr() + "\r\nContent-Type: application/json\r\n" + auth +
				"Content-Length: 100000\r\n\r\n{"
		}
		admin := "Authorization: Bearer " + servertest.AdminToken(s.URL()) + "\r\n"
		for _, tc := range []struct{ name, head string }{
			{"headers", "POST /flagops.v1.FactService/SetFacts HTTP/1.1\r\nHost: " + s.Addr() + "\r\nX-Slow: "},
			{"anonymous RPC body", body("/flagops.v1.FactService/SetFacts", "")},
			{"admin RPC body", body("/flagops.v1.FactService/SetFacts", admin)},
			{"Watch request body", body("/flagops.v1.ChangeService/Watch", admin)},
			{"OFREP body", body(ofrep.PathBulk, "Authorization: Bearer "+edgeOFREPKey+"\r\n")},
			{"fact hook body", body("/v1/hooks/facts/cms", "Authorization: Bearer fhk_x\r\n")},
		} {
			t.Run(tc.name, func(t *testing.T) {
				lived := edgeTrickle(t, s.Addr(), tc.head, 200*time.Millisecond, 8*time.Second)
				t.Logf("disconnected after %v", lived.Round(time.Millisecond))
				if lived > cfg.ReadTimeout+2*time.Second {
					t.Fatalf("the connection lived %v; the read timeout is %v", lived, cfg.ReadTimeout)
				}
			})
		}
	})
}

// TestEdgeConnectionCap keeps issue 9.9 fixed: connections over the
// configured cap are not served until a served one closes.
func TestEdgeConnectionCap(t *testing.T) {
	servertest.Backends(t, func(t *testing.T, cfg server.Config) {
		const max = 4
		cfg.MaxConnections = max
		cfg.ReadHeaderTimeout = 30 * time.Second // the held sockets must outlive the test
		s := servertest.Start(t, cfg)
		// Hold max connections open, each mid-way through its headers.
		var held []net.Conn
		for range max {
			c, err := net.Dial("tcp", s.Addr())
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			if _, err := io.WriteString(c, "GET /healthz HTTP/1.1\r\nHost: x\r\n"); err != nil {
				t.Fatal(err)
			}
			held = append(held, c)
		}
		time.Sleep(300 * time.Millisecond) // let the server accept them

		probe := func(timeout time.Duration) error {
			hc := &http.Client{Timeout: timeout, Transport: &http.Transport{DisableKeepAlives: true}}
			resp, err := hc.Get(s.URL() + "/healthz")
			if err != nil {
				return err
			}
			resp.Body.Close()
			if resp.StatusCode != http.StatusOK {
				return fmt.Errorf("status %d", resp.StatusCode)
			}
			return nil
		}
		if err := probe(time.Second); err == nil {
			t.Fatalf("a connection over the cap of %d was served", max)
		}
		held[0].Close()
		if err := probe(5 * time.Second); err != nil {
			t.Fatalf("after one held connection closed, a new one was not served: %v", err)
		}
	})
}

// TestEdgeStreamsOutliveReadTimeout keeps the other half of issue 9.9: the
// read and idle timeouts do not end the streams. A Watch (over HTTP/1.1 and
// HTTP/2) and an OFREP event stream opened before the timeouts expire still
// deliver a change made well after them.
func TestEdgeStreamsOutliveReadTimeout(t *testing.T) {
	servertest.Backends(t, func(t *testing.T, cfg server.Config) {
		cfg.ReadHeaderTimeout = 500 * time.Millisecond
		cfg.ReadTimeout = time.Second
		cfg.IdleTimeout = time.Second
		s, c := edgeServer(t, cfg)
		from := edgeRevision(t, c)
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()

		type event struct {
			name string
			err  error
		}
		got := make(chan event, 8)
		watch := func(name string, hc *http.Client) {
			cl := servertest.NewClients(hc, s.URL())
			st, err := cl.Changes.Watch(ctx, connect.NewRequest(&flagopsv1.WatchRequest{FromRevision: from}))
			if err != nil {
				got <- event{name, err}
				return
			}
			defer st.Close()
			for st.Receive() {
				if len(st.Msg().Changes) > 0 {
					got <- event{name, nil}
					return
				}
			}
			got <- event{name, fmt.Errorf("the stream ended: %v", st.Err())}
		}
		go watch("Watch over HTTP/1.1", servertest.HTTP1Client())
		go watch("Watch over HTTP/2", servertest.H2CClient())
		go func() {
			const name = "OFREP event stream"
			req, _ := http.NewRequestWithContext(ctx, http.MethodGet, s.URL()+ofrep.PathEvents+"?project=shop&target=eu-1", nil)
			req.Header.Set("Authorization", "Bearer "+edgeOFREPKey)
			resp, err := servertest.HTTP1Client().Do(req)
			if err != nil {
				got <- event{name, err}
				return
			}
			defer resp.Body.Close()
			if resp.StatusCode != http.StatusOK {
				got <- event{name, fmt.Errorf("status %d", resp.StatusCode)}
				return
			}
			sc := bufio.NewScanner(resp.Body)
			for sc.Scan() {
				if strings.HasPrefix(sc.Text(), "data:") {
					got <- event{name, nil}
					return
				}
			}
			got <- event{name, fmt.Errorf("the stream ended: %v", sc.Err())}
		}()

		// Well past the read, header and idle timeouts.
		time.Sleep(3 * time.Second)
		select {
		case e := <-got:
			t.Fatalf("%s ended or answered before any change: %v", e.name, e.err)
		default:
		}
		edgeSetFact(t, c, "tier", "pro")
		deadline := time.After(10 * time.Second)
		for range 3 {
			select {
			case e := <-got:
				if e.err != nil {
					t.Errorf("%s: %v", e.name, e.err)
				} else {
					t.Logf("%s delivered the change after the timeouts", e.name)
				}
			case <-deadline:
				t.Fatal("a stream delivered nothing within 10s of the change")
			}
		}
	})
}
