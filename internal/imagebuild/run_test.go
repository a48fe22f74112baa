package imagebuild_test

import (
	"bufio"
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/flagops/flagops/internal/imagebuild"
)

// TestImageBinaryServes takes the binary out of the written archive's layer
// and runs it as the image would, with the image's environment: "version"
// prints the version the image is labelled with, and "serve" answers
// /healthz and /readyz, writes its admin token 0600 in its data directory
// and stops cleanly on SIGTERM.
func TestImageBinaryServes(t *testing.T) {
	b := realImage(t)
	read, err := openArchive(t, b.archive).Image(b.digest)
	if err != nil {
		t.Fatal(err)
	}
	cf, err := read.ConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	exe := filepath.Join(t.TempDir(), "flagops")
	f := layerFiles(t, read)[strings.TrimPrefix(cf.Config.Entrypoint[0], "/")]
	if err := os.WriteFile(exe, f.data, os.FileMode(f.header.Mode)); err != nil {
		t.Fatal(err)
	}
	// The image's environment, minus what points into the image's own
	// file system (the flags below win over FLAGOPS_LISTEN and
	// FLAGOPS_DATA_DIR anyway).
	env := []string{}
	for _, kv := range cf.Config.Env {
		if !strings.HasPrefix(kv, "HOME=") && !strings.HasPrefix(kv, "SSL_CERT_FILE=") {
			env = append(env, kv)
		}
	}

	t.Run("version", func(t *testing.T) {
		cmd := exec.Command(exe, "version")
		cmd.Env = env
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("flagops version: %v\n%s", err, out)
		}
		if !strings.Contains(string(out), cf.Config.Labels[imagebuild.LabelVersion]) {
			t.Fatalf("flagops version printed %q, want the label's %q", out, cf.Config.Labels[imagebuild.LabelVersion])
		}
	})

	t.Run("serve", func(t *testing.T) {
		dataDir := filepath.Join(t.TempDir(), "data")
		args := append(cf.Config.Cmd, "--listen", "127.0.0.1:0", "--data-dir", dataDir, "--log-format", "json")
		cmd := exec.Command(exe, args...)
		cmd.Env = env
		p := startProcess(t, cmd)
		addr := p.serveAddr(t)
		for _, route := range []string{"/healthz", "/readyz"} {
			resp, err := http.Get("http://" + addr + route)
			if err != nil {
				t.Fatalf("GET %s: %v", route, err)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != http.StatusOK || !strings.HasPrefix(string(body), "ok") {
				t.Fatalf("GET %s: %d %q", route, resp.StatusCode, body)
			}
		}
		st, err := os.Stat(filepath.Join(dataDir, "admin.token"))
		if err != nil || st.Mode().Perm() != 0o600 {
			t.Fatalf("admin.token: %v, mode %v; want 0600", err, st)
		}
		if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
			t.Fatal(err)
		}
		select {
		case <-p.exited:
			if p.err != nil {
				t.Fatalf("serve after SIGTERM: %v\n%s", p.err, p.logs.String())
			}
		case <-time.After(20 * time.Second):
			t.Fatalf("serve did not stop within 20s of SIGTERM\n%s", p.logs.String())
		}
	})
}

// process is a started command whose stderr is collected line by line.
type process struct {
	logs   syncBuffer
	lines  chan []byte
	exited chan struct{} // closed once err is set
	err    error
}

// startProcess starts cmd, collects its stderr and kills it at the end of
// the test if it still runs.
func startProcess(t *testing.T, cmd *exec.Cmd) *process {
	t.Helper()
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	p := &process{lines: make(chan []byte, 1024), exited: make(chan struct{})}
	go func() {
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			line := append([]byte(nil), sc.Bytes()...)
			p.logs.Write(append(line, '\n'))
			select {
			case p.lines <- line:
			default:
			}
		}
		p.err = cmd.Wait()
		close(p.exited)
	}()
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		<-p.exited
	})
	return p
}

// serveAddr reads the server's JSON log until it says where it listens.
func (p *process) serveAddr(t *testing.T) string {
	t.Helper()
	timeout := time.After(60 * time.Second)
	for {
		select {
		case line := <-p.lines:
			var rec struct {
				Msg  string `json:"msg"`
				Addr string `json:"addr"`
			}
			if json.Unmarshal(line, &rec) == nil && rec.Msg == "flagops serving" {
				return rec.Addr
			}
		case <-p.exited:
			t.Fatalf("serve exited before listening: %v\n%s", p.err, p.logs.String())
		case <-timeout:
			t.Fatalf("serve did not report its address within 60s\n%s", p.logs.String())
		}
	}
}

// syncBuffer is a bytes.Buffer safe for concurrent use.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}
