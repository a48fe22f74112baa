package cli

import (
	"bytes"
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"connectrpc.com/connect"
	"google.golang.org/protobuf/types/known/structpb"
	"google.golang.org/protobuf/types/known/timestamppb"

	flagopsv1 "github.com/flagops/flagops/gen/flagops/v1"
	"github.com/flagops/flagops/gen/flagops/v1/flagopsv1connect"
)

// fakeChanges serves a fixed log of three changes, one per page, and a
// watch that sends them and then waits for the client to go away.
type fakeChanges struct {
	flagopsv1connect.UnimplementedChangeServiceHandler
	mu      sync.Mutex
	lastReq *flagopsv1.ListChangesRequest
	watched chan *flagopsv1.WatchRequest
}

var fakeLog = []*flagopsv1.Change{
	{Revision: 1, Time: timestamppb.New(fakeTime), Actor: "ci", Workspace: "default", Kind: "environment", Key: "prod",
		Operation: flagopsv1.Operation_OPERATION_CREATE, After: structpb.NewStructValue(&structpb.Struct{Fields: map[string]*structpb.Value{"name": structpb.NewStringValue("prod")}})},
	{Revision: 2, Time: timestamppb.New(fakeTime.Add(time.Minute)), Workspace: "default", Kind: "fact", Key: "environment/prod:region",
		Operation: flagopsv1.Operation_OPERATION_CREATE, After: structpb.NewStringValue("eu")},
	{Revision: 3, Time: timestamppb.New(fakeTime.Add(2 * time.Minute)), Actor: "alice", Workspace: "other", Kind: "target", Key: "eu-1",
		Operation: flagopsv1.Operation_OPERATION_DELETE},
}

func (f *fakeChanges) ListChanges(_ context.Context, r *connect.Request[flagopsv1.ListChangesRequest]) (*connect.Response[flagopsv1.ListChangesResponse], error) {
	f.mu.Lock()
	f.lastReq = r.Msg
	f.mu.Unlock()
	i := 0
	if tok := r.Msg.GetPageToken(); tok != "" {
		i = int(tok[0] - '0')
	}
	res := &flagopsv1.ListChangesResponse{Changes: fakeLog[i : i+1]}
	if i+1 < len(fakeLog) {
		res.NextPageToken = string(rune('0' + i + 1))
	}
	return connect.NewResponse(res), nil
}

func (f *fakeChanges) Watch(ctx context.Context, r *connect.Request[flagopsv1.WatchRequest], s *connect.ServerStream[flagopsv1.WatchResponse]) error {
	for _, c := range fakeLog[r.Msg.GetFromRevision():] {
		if err := s.Send(&flagopsv1.WatchResponse{Revision: c.GetRevision(), Changes: []*flagopsv1.Change{c}}); err != nil {
			return err
		}
	}
	if err := s.Send(&flagopsv1.WatchResponse{Revision: 3, CaughtUp: true}); err != nil {
		return err
	}
	f.watched <- r.Msg
	<-ctx.Done()
	return nil
}

func newFakeChanges(t *testing.T) (*fakeChanges, string) {
	f := &fakeChanges{watched: make(chan *flagopsv1.WatchRequest, 1)}
	mux := http.NewServeMux()
	mux.Handle(flagopsv1connect.NewChangeServiceHandler(f))
	srv := httptest.NewUnstartedServer(mux)
	srv.EnableHTTP2 = false
	srv.Start()
	t.Cleanup(srv.Close)
	return f, srv.URL
}

func TestHistory(t *testing.T) {
	f, url := newFakeChanges(t)
	env := map[string]string{"FLAGOPS_SERVER": url}
	for _, format := range []string{"table", "json", "yaml"} {
		t.Run(format, func(t *testing.T) {
			code, out, stderr := runCLI(t, env, "", "history", "--kind", "fact", "--since", "1h", "--from-revision", "0", "-o", format)
			if code != 0 {
				t.Fatalf("exit %d: %s", code, stderr)
			}
			golden(t, "history."+format, out)
		})
	}
	f.mu.Lock()
	req := f.lastReq
	f.mu.Unlock()
	if req.GetKind() != "fact" || !req.GetSince().AsTime().Equal(fakeTime.Add(30*time.Minute)) || req.GetWorkspace() != "" {
		t.Errorf("request = %v; want kind fact, since now-1h, no workspace", req)
	}
}

func TestWatch(t *testing.T) {
	f, url := newFakeChanges(t)
	tests := []struct {
		format string
		check  func(t *testing.T, out string)
	}{
		{"json", func(t *testing.T, out string) {
			lines := strings.Split(strings.TrimSpace(out), "\n")
			if len(lines) != 2 || !strings.HasPrefix(lines[0], `{"revision":2,`) || !strings.Contains(lines[1], `"op":"delete"`) {
				t.Errorf("json lines:\n%s", out)
			}
		}},
		{"table", func(t *testing.T, out string) {
			golden(t, "watch.table", out)
		}},
	}
	for _, tt := range tests {
		t.Run(tt.format, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			a := &app{stdin: strings.NewReader(""), stdout: &stdout, stderr: &stderr,
				lookupEnv: func(string) (string, bool) { return "", false }, now: time.Now}
			ctx, cancel := context.WithCancel(context.Background())
			done := make(chan int)
			go func() {
				done <- a.run(ctx, []string{"watch", "--server", url, "--from-revision", "1", "--kind", "fact,target", "-o", tt.format})
			}()
			var req *flagopsv1.WatchRequest
			select {
			case req = <-f.watched:
			case <-time.After(10 * time.Second):
				t.Fatal("the watch never reached the server")
			}
			// Give the client a moment to write what it received, then interrupt.
			time.Sleep(100 * time.Millisecond)
			cancel()
			if code := <-done; code != 0 {
				t.Fatalf("exit %d after interrupt: %s", code, stderr.String())
			}
			if got := strings.Join(req.GetFilter().GetKinds(), ","); got != "fact,target" {
				t.Errorf("kinds = %q", got)
			}
			tt.check(t, stdout.String())
		})
	}
}
