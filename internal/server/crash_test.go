package server_test

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"connectrpc.com/connect"
	"google.golang.org/protobuf/types/known/structpb"

	flagopsv1 "github.com/flagops/flagops/gen/flagops/v1"
	"github.com/flagops/flagops/internal/server"
	"github.com/flagops/flagops/internal/server/servertest"
)

// Environment of the helper process: it serves until SIGTERM.
const (
	envHelper  = "FLAGOPS_HELPER_SERVE"
	envListen  = "FLAGOPS_HELPER_LISTEN"
	envDataDir = "FLAGOPS_HELPER_DATADIR"
	envDBURL   = "FLAGOPS_HELPER_DATABASE_URL"
)

// TestHelperServe is not a test: it is the server process TestCrashRecovery
// starts by re-executing the test binary.
func TestHelperServe(t *testing.T) {
	if os.Getenv(envHelper) != "1" {
		t.Skip("helper process for TestCrashRecovery")
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	err := server.Run(ctx, server.Config{
		Listen:      os.Getenv(envListen),
		DataDir:     os.Getenv(envDataDir),
		DatabaseURL: os.Getenv(envDBURL),
		Logger:      servertest.Logger(),
	})
	if err != nil {
		fmt.Fprintln(os.Stderr, "helper serve:", err)
		os.Exit(1)
	}
	os.Exit(0)
}

// TestCrashRecovery fires 1,000 concurrent writes at a server process,
// SIGKILLs it in the middle, restarts it on the same data, and checks that
// every acknowledged write is there with its value.
func TestCrashRecovery(t *testing.T) {
	if testing.Short() {
		t.Skip("starts server processes")
	}
	backends(t, func(t *testing.T, cfg server.Config) {
		const writes, workers, killAfter = 1000, 32, 400
		child := startChild(t, cfg)
		c := servertest.NewClients(servertest.HTTP1Client(), child.url)

		var (
			mu       sync.Mutex
			acked    = map[string]float64{}
			failed   atomic.Int64
			ackCount atomic.Int64
			killOnce sync.Once
		)
		jobs := make(chan int)
		var wg sync.WaitGroup
		for range workers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := range jobs {
					key := fmt.Sprintf("k%04d", i)
					ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
					_, err := c.Facts.SetFacts(ctx, connect.NewRequest(&flagopsv1.SetFactsRequest{
						Scope:  "workspace",
						Values: map[string]*structpb.Value{key: structpb.NewNumberValue(float64(i))},
					}))
					cancel()
					if err != nil {
						failed.Add(1)
						continue
					}
					mu.Lock()
					acked[key] = float64(i)
					mu.Unlock()
					if ackCount.Add(1) == killAfter {
						killOnce.Do(child.kill)
					}
				}
			}()
		}
		for i := range writes {
			jobs <- i
		}
		close(jobs)
		wg.Wait()
		killOnce.Do(child.kill) // in case every write finished first
		if len(acked) < killAfter {
			t.Fatalf("only %d writes acknowledged before the kill", len(acked))
		}
		t.Logf("%d writes acknowledged, %d failed around the kill", len(acked), failed.Load())

		child = startChild(t, cfg)
		c = servertest.NewClients(servertest.HTTP1Client(), child.url)
		got, err := c.Facts.GetFacts(context.Background(), connect.NewRequest(&flagopsv1.GetFactsRequest{Scope: "workspace"}))
		if err != nil {
			t.Fatal(err)
		}
		stored := map[string]float64{}
		for _, f := range got.Msg.Facts {
			stored[f.Key] = f.Value.GetNumberValue()
		}
		lost := 0
		for k, v := range acked {
			if sv, ok := stored[k]; !ok || sv != v {
				lost++
				if lost <= 10 {
					t.Errorf("acknowledged write %s=%v: stored %v (present %v)", k, v, sv, ok)
				}
			}
		}
		if lost > 0 {
			t.Fatalf("%d acknowledged writes lost", lost)
		}
		t.Logf("%d facts stored after restart; every acknowledged write present", len(stored))
		child.term(t)
	})
}

// child is a server process running TestHelperServe.
type child struct {
	cmd  *exec.Cmd
	url  string
	done chan error
}

// startChild starts a server process on cfg's data and waits until it is ready.
func startChild(t *testing.T, cfg server.Config) *child {
	t.Helper()
	addr := freeAddr(t)
	cmd := exec.Command(os.Args[0], "-test.run=^TestHelperServe$", "-test.count=1")
	cmd.Env = append(os.Environ(), envHelper+"=1", envListen+"="+addr, envDataDir+"="+cfg.DataDir, envDBURL+"="+cfg.DatabaseURL)
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	ch := &child{cmd: cmd, url: "http://" + addr, done: make(chan error, 1)}
	go func() { ch.done <- cmd.Wait() }()
	t.Cleanup(ch.kill)
	deadline := time.Now().Add(30 * time.Second)
	for {
		resp, err := http.Get(ch.url + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				servertest.UseDataDir(ch.url, cfg.DataDir)
				return ch
			}
		}
		select {
		case err := <-ch.done:
			t.Fatalf("server process exited: %v", err)
		default:
		}
		if time.Now().After(deadline) {
			t.Fatal("server process not ready within 30s")
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// kill SIGKILLs the process; a process that already ended is left alone
// (Signal then fails, harmlessly).
func (c *child) kill() { _ = c.cmd.Process.Signal(syscall.SIGKILL) }

// term stops the process with SIGTERM and checks it shut down cleanly.
func (c *child) term(t *testing.T) {
	t.Helper()
	if err := c.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-c.done:
		if err != nil {
			t.Fatalf("server process after SIGTERM: %v", err)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("server process did not stop on SIGTERM")
	}
}

func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}
