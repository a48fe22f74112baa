package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"maps"
	"net"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"connectrpc.com/connect"

	flagopsv1 "github.com/flagops/flagops/gen/flagops/v1"
	"github.com/flagops/flagops/gen/flagops/v1/flagopsv1connect"
	"github.com/flagops/flagops/internal/server"
)

// startServer runs the real server (store included) on a free port with a
// temporary data directory, for end-to-end tests of the command line. It
// returns the server's URL and data directory, where the server wrote its
// bootstrap admin token.
func startServer(t *testing.T) (url, dataDir string) {
	t.Helper()
	ctx := context.Background()
	dataDir = t.TempDir()
	srv, err := server.Start(ctx, server.Config{Listen: "127.0.0.1:0", DataDir: dataDir,
		Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatalf("start server: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := srv.Shutdown(ctx); err != nil {
			t.Errorf("shutdown: %v", err)
		}
	})
	return srv.URL(), dataDir
}

// adminToken reads the bootstrap admin token of a server's data directory.
func adminToken(t *testing.T, dataDir string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dataDir, server.AdminTokenFile))
	if err != nil {
		t.Fatal(err)
	}
	return strings.TrimSpace(string(b))
}

func revisionOf(t *testing.T, url string) int64 {
	t.Helper()
	c := flagopsv1connect.NewChangeServiceClient(http1Client(), url, connect.WithInterceptors(bearer(e2eToken)))
	res, err := c.GetRevision(context.Background(), connect.NewRequest(&flagopsv1.GetRevisionRequest{}))
	if err != nil {
		t.Fatalf("get revision: %v", err)
	}
	return res.Msg.GetRevision()
}

// e2eToken is the admin token of TestEndToEnd's server, for its direct API calls.
var e2eToken string

func TestEndToEnd(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end test starts a server")
	}
	url, dataDir := startServer(t)
	e2eToken = adminToken(t, dataDir)
	// The CLI finds the token in FLAGOPS_DATA_DIR/admin.token by itself, as
	// on a machine that runs the server.
	env := map[string]string{"FLAGOPS_SERVER": url, "FLAGOPS_DATA_DIR": dataDir}
	cli := func(t *testing.T, stdin string, args ...string) string {
		t.Helper()
		code, out, stderr := runCLI(t, env, stdin, args...)
		if code != 0 {
			t.Fatalf("flagops %s: exit %d: %s", strings.Join(args, " "), code, stderr)
		}
		return out
	}
	file := filepath.Join(t.TempDir(), "catalog.yaml")
	if err := os.WriteFile(file, []byte(exampleManifest), 0o644); err != nil {
		t.Fatal(err)
	}

	out := cli(t, "", "apply", "-f", file)
	want := `environment/prod created
target/eu-1 created
project/shop created
facts environment/prod created
facts deployment/shop@eu-1 created
`
	if out != want {
		t.Fatalf("first apply:\n%s\nwant:\n%s", out, want)
	}
	rev := revisionOf(t, url)

	t.Run("apply again changes nothing", func(t *testing.T) {
		out := cli(t, "", "apply", "-f", file)
		if n := strings.Count(out, " unchanged\n"); n != 5 {
			t.Errorf("second apply (%d unchanged):\n%s", n, out)
		}
		if got := revisionOf(t, url); got != rev {
			t.Errorf("revision moved from %d to %d", rev, got)
		}
	})

	t.Run("resolve", func(t *testing.T) {
		out := cli(t, "", "facts", "resolve", "--project", "shop", "--target", "eu-1", "-o", "json")
		var got map[string]json.RawMessage
		if err := json.Unmarshal([]byte(out), &got); err != nil {
			t.Fatalf("%v in %s", err, out)
		}
		if keys := slices.Sorted(maps.Keys(got)); !slices.Equal(keys, []string{"facts", "revision", "sources"}) {
			t.Errorf("top-level keys %v, want facts, revision, sources", keys)
		}
		var facts map[string]any
		var sources map[string]string
		var revision int64
		if err := json.Unmarshal(got["facts"], &facts); err != nil {
			t.Fatal(err)
		}
		if err := json.Unmarshal(got["sources"], &sources); err != nil {
			t.Fatal(err)
		}
		if err := json.Unmarshal(got["revision"], &revision); err != nil {
			t.Fatal(err)
		}
		wantFacts := map[string]any{"region": "eu", "maxReplicas": 3.0, "tier": "pro", "project": "shop",
			"environment": "prod", "target": "eu-1", "workspace": "default"}
		if !reflect.DeepEqual(facts, wantFacts) {
			t.Errorf("facts = %v, want %v", facts, wantFacts)
		}
		if sources["maxReplicas"] != "deployment/shop@eu-1" || sources["region"] != "environment/prod" {
			t.Errorf("sources = %v", sources)
		}
		if revision <= 0 {
			t.Errorf("revision = %d", revision)
		}
	})

	t.Run("an unknown kind applies nothing", func(t *testing.T) {
		before := revisionOf(t, url)
		code, out, stderr := runCLI(t, env, "kind: Environment\nname: staging\n---\nkind: Gadget\nname: x\n", "apply", "-f", "-")
		if code == 0 {
			t.Fatalf("apply succeeded: %s", out)
		}
		if !strings.Contains(stderr, `"Gadget"`) || !strings.Contains(stderr, "document 2") {
			t.Errorf("stderr = %q", stderr)
		}
		if got := revisionOf(t, url); got != before {
			t.Errorf("revision moved from %d to %d", before, got)
		}
	})

	t.Run("get environments", func(t *testing.T) {
		var list []map[string]any
		if err := json.Unmarshal([]byte(cli(t, "", "get", "environments", "-o", "json")), &list); err != nil {
			t.Fatal(err)
		}
		if len(list) != 1 || list[0]["name"] != "prod" || list[0]["workspace"] != "default" {
			t.Errorf("get environments -o json = %v", list)
		}
		if y := cli(t, "", "get", "environments", "-o", "yaml"); !strings.HasPrefix(y, "kind: Environment\nworkspace: default\nname: prod\n") {
			t.Errorf("get environments -o yaml:\n%s", y)
		}
		tbl := cli(t, "", "get", "environments")
		lines := strings.Split(strings.TrimSpace(tbl), "\n")
		if len(lines) != 2 || !strings.HasPrefix(lines[0], "NAME") || !strings.HasPrefix(lines[1], "prod ") {
			t.Errorf("get environments:\n%s", tbl)
		}
		if one := cli(t, "", "get", "target", "eu-1", "-o", "json"); !strings.Contains(one, `"environment": "prod"`) {
			t.Errorf("get target eu-1 -o json:\n%s", one)
		}
		if deps := cli(t, "", "get", "deployments", "--project", "shop"); !strings.Contains(deps, "shop@eu-1") {
			t.Errorf("get deployments:\n%s", deps)
		}
	})

	t.Run("facts set, get, history, unset", func(t *testing.T) {
		cli(t, "", "facts", "set", "environment/prod", "tier=gold", "replicas=3", `limits={"cpu":"2"}`)
		var got scopeFactsView
		if err := json.Unmarshal([]byte(cli(t, "", "facts", "get", "environment/prod", "-o", "json")), &got); err != nil {
			t.Fatal(err)
		}
		for k, v := range map[string]string{"tier": `"gold"`, "replicas": "3", "limits": `{"cpu":"2"}`, "region": `"eu"`} {
			if compactJSON(got.Facts[k]) != v {
				t.Errorf("facts[%s] = %s, want %s", k, got.Facts[k], v)
			}
		}
		hist := cli(t, "", "facts", "history", "environment/prod", "tier")
		if !strings.Contains(hist, `"gold"`) {
			t.Errorf("facts history:\n%s", hist)
		}
		cli(t, "", "facts", "unset", "environment/prod", "tier")
		code, _, stderr := runCLI(t, env, "", "facts", "set", "environment/prod", "a=1", "--expected-revision", "1")
		if code == 0 || !strings.Contains(stderr, "Error:") {
			t.Errorf("set with a stale expected revision: exit %d, %s", code, stderr)
		}
	})

	t.Run("history", func(t *testing.T) {
		out := cli(t, "", "history", "--kind", "environment")
		if !strings.Contains(out, "environment   prod") && !strings.Contains(out, "prod") {
			t.Errorf("history:\n%s", out)
		}
		var changes []map[string]any
		if err := json.Unmarshal([]byte(cli(t, "", "history", "--since", "1h", "-o", "json")), &changes); err != nil {
			t.Fatal(err)
		}
		if len(changes) < 5 {
			t.Errorf("history --since 1h: %d changes, want at least 5", len(changes))
		}
	})

	t.Run("server field errors are named", func(t *testing.T) {
		code, _, stderr := runCLI(t, env, "kind: Target\nname: x\nenvironment: nope\n", "apply", "-f", "-")
		if code != 1 || !strings.Contains(stderr, "field: manifests[0].documents[0].environment") {
			t.Errorf("exit %d, stderr %q; want 1 and the field", code, stderr)
		}
	})

	t.Run("watch", func(t *testing.T) {
		var stdout, stderr syncBuffer
		a := &app{stdin: strings.NewReader(""), stdout: &stdout, stderr: &stderr,
			lookupEnv: func(k string) (string, bool) { v, ok := env[k]; return v, ok }, now: time.Now}
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan int)
		go func() { done <- a.run(ctx, []string{"watch", "--kind", "fact", "--prefix", "target/", "-o", "json"}) }()
		cli(t, "", "facts", "set", "target/eu-1", "zone=b")
		deadline := time.Now().Add(10 * time.Second)
		for !strings.Contains(stdout.String(), `"key":"target/eu-1:zone"`) && time.Now().Before(deadline) {
			time.Sleep(20 * time.Millisecond)
		}
		cancel()
		if code := <-done; code != 0 {
			t.Errorf("watch exit %d: %s", code, stderr.String())
		}
		lines := strings.Split(strings.TrimSpace(stdout.String()), "\n")
		if len(lines) != 1 || !strings.Contains(lines[0], `"after":"b"`) {
			t.Errorf("watch output:\n%s\nwant the one matching change", stdout.String())
		}
	})

	t.Run("bulk-set", func(t *testing.T) {
		defer func(n int) { bulkProgressMin = n }(bulkProgressMin)
		bulkProgressMin = 2
		var b strings.Builder
		b.WriteString(`[{"scope":"project/shop","values":{"owner":"web"}},{"scope":"project/shop@prod","values":{`)
		for i := range 1000 {
			if i > 0 {
				b.WriteString(",")
			}
			fmt.Fprintf(&b, `"k%d":%d`, i, i)
		}
		b.WriteString("}}]")
		code, out, stderr := runCLI(t, env, b.String(), "facts", "bulk-set", "-f", "-")
		if code != 0 {
			t.Fatalf("exit %d: %s", code, stderr)
		}
		if !strings.HasPrefix(out, "facts of 2 scopes set at revision") {
			t.Errorf("stdout = %q", out)
		}
		for _, w := range []string{"parsing 2 entries", "sending 2 entries", "done in"} {
			if !strings.Contains(stderr, w) {
				t.Errorf("progress %q lacks %q", stderr, w)
			}
		}
		resolved := cli(t, "", "facts", "resolve", "--project", "shop", "--target", "eu-1", "-o", "json")
		if !strings.Contains(resolved, `"k999": 999`) {
			t.Errorf("k999 not resolved")
		}
	})

	t.Run("workspaces", func(t *testing.T) {
		doc := "kind: Environment\nname: qa\nworkspace: team-b\n---\nkind: Workspace\nname: team-b\ndescription: Team B.\n"
		if out := cli(t, doc, "apply", "-f", "-"); out != "workspace/team-b created\nenvironment/qa created\n" {
			t.Errorf("apply:\n%s", out)
		}
		if out := cli(t, "", "get", "environments", "--workspace", "team-b"); !strings.Contains(out, "qa") {
			t.Errorf("get environments --workspace team-b:\n%s", out)
		}
		if out := cli(t, "", "get", "workspaces", "-o", "json"); !strings.Contains(out, `"description": "Team B."`) {
			t.Errorf("get workspaces:\n%s", out)
		}
	})

	t.Run("delete", func(t *testing.T) {
		code, _, stderr := runCLI(t, env, "", "delete", "environment", "prod")
		if code == 0 {
			t.Errorf("deleting a used environment succeeded")
		} else if !strings.Contains(stderr, "Error:") {
			t.Errorf("stderr = %q", stderr)
		}
		cli(t, "", "delete", "project", "shop")
		cli(t, "", "delete", "environment", "prod", "--force")
		if out := cli(t, "", "get", "environments", "-o", "json"); strings.TrimSpace(out) != "[]" {
			t.Errorf("environments after delete: %s", out)
		}
	})
}

// syncBuffer is a bytes.Buffer safe to read while a command writes to it.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

func TestMigrate(t *testing.T) {
	dir := t.TempDir()
	env := map[string]string{"FLAGOPS_DATA_DIR": dir}
	// The first run applies every migration (however many the store has), the
	// second none.
	for i, fresh := range []bool{true, false} {
		code, out, stderr := runCLI(t, env, "", "migrate")
		if code != 0 {
			t.Fatalf("run %d: exit %d: %s", i, code, stderr)
		}
		applied := strings.HasPrefix(out, "applied ") && !strings.HasPrefix(out, "applied 0 ")
		if applied != fresh || !strings.Contains(out, "schema version") {
			t.Errorf("run %d: %q (fresh database: %v)", i, out, fresh)
		}
	}
}

// TestServe runs "flagops serve" configured only by environment variables,
// talks to it, and stops it the way SIGTERM does: by cancelling the context.
func TestServe(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a server")
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	env := map[string]string{"FLAGOPS_LISTEN": addr, "FLAGOPS_DATA_DIR": t.TempDir(),
		"FLAGOPS_LOG_LEVEL": "error", "FLAGOPS_SERVER": "http://" + addr}
	var stdout, stderr syncBuffer
	a := &app{stdin: strings.NewReader(""), stdout: &stdout, stderr: &stderr,
		lookupEnv: func(k string) (string, bool) { v, ok := env[k]; return v, ok }, now: time.Now}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan int)
	go func() { done <- a.run(ctx, []string{"serve"}) }()

	var code int
	var out, errOut string
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		if code, out, errOut = runCLI(t, env, "", "get", "workspaces", "-o", "json"); code == 0 {
			break
		}
	}
	if code != 0 || !strings.Contains(out, `"name": "default"`) {
		t.Errorf("get workspaces from the served server: exit %d, %s %s", code, out, errOut)
	}
	cancel()
	select {
	case code := <-done:
		if code != 0 {
			t.Errorf("serve exit %d: %s", code, stderr.String())
		}
	case <-time.After(20 * time.Second):
		t.Fatal("serve did not stop after its context was cancelled")
	}
}
