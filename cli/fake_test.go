package cli

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"connectrpc.com/connect"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/structpb"
	"google.golang.org/protobuf/types/known/timestamppb"

	flagopsv1 "github.com/flagops/flagops/gen/flagops/v1"
	"github.com/flagops/flagops/gen/flagops/v1/flagopsv1connect"
)

// fakeAPI is a hand-written in-memory stand-in for the server, enough for
// the CLI's own tests: environments, targets, projects and facts, with
// revisions and OPERATION_NONE on unchanged puts. It records the
// Authorization header it last saw. The end-to-end tests use the real server.
type fakeAPI struct {
	flagopsv1connect.UnimplementedCatalogServiceHandler
	flagopsv1connect.UnimplementedFactServiceHandler

	mu       sync.Mutex
	revision int64
	envs     map[string]*flagopsv1.Environment
	targets  map[string]*flagopsv1.Target
	projects map[string]*flagopsv1.Project
	facts    map[string]map[string]*structpb.Value
	auth     string
	// puts counts the writes that changed something, in order.
	puts []string
}

var fakeTime = time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)

func newFake(t *testing.T) (*fakeAPI, string) {
	t.Helper()
	f := &fakeAPI{envs: map[string]*flagopsv1.Environment{}, targets: map[string]*flagopsv1.Target{},
		projects: map[string]*flagopsv1.Project{}, facts: map[string]map[string]*structpb.Value{}}
	mux := http.NewServeMux()
	mux.Handle(flagopsv1connect.NewCatalogServiceHandler(f))
	mux.Handle(flagopsv1connect.NewFactServiceHandler(f))
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		f.mu.Lock()
		f.auth = r.Header.Get("Authorization")
		f.mu.Unlock()
		mux.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	return f, srv.URL
}

// put stores obj under name unless it equals the stored one, and returns the
// operation, the way the real store does.
func put[T proto.Message](f *fakeAPI, m map[string]T, name string, obj T, meta func(T) *flagopsv1.ObjectMeta) flagopsv1.Operation {
	f.mu.Lock()
	defer f.mu.Unlock()
	old, ok := m[name]
	if ok {
		cmp := proto.Clone(old).(T)
		meta(cmp).Revision, meta(cmp).CreateTime, meta(cmp).UpdateTime = 0, nil, nil
		if proto.Equal(cmp, obj) {
			return flagopsv1.Operation_OPERATION_NONE
		}
	}
	f.revision++
	meta(obj).Revision = f.revision
	meta(obj).CreateTime = timestamppb.New(fakeTime)
	m[name] = obj
	f.puts = append(f.puts, name)
	if ok {
		return flagopsv1.Operation_OPERATION_UPDATE
	}
	return flagopsv1.Operation_OPERATION_CREATE
}

func invalid(field, rule string) error {
	e := connect.NewError(connect.CodeInvalidArgument, fmt.Errorf("%s: %s", field, rule))
	if d, err := connect.NewErrorDetail(&flagopsv1.ErrorDetail{Field: field, Rule: rule}); err == nil {
		e.AddDetail(d)
	}
	return e
}

func (f *fakeAPI) PutEnvironment(_ context.Context, r *connect.Request[flagopsv1.PutEnvironmentRequest]) (*connect.Response[flagopsv1.PutEnvironmentResponse], error) {
	e := r.Msg.GetEnvironment()
	op := put(f, f.envs, e.GetMeta().GetName(), e, (*flagopsv1.Environment).GetMeta)
	return connect.NewResponse(&flagopsv1.PutEnvironmentResponse{Environment: e, Operation: op}), nil
}

func (f *fakeAPI) GetEnvironment(_ context.Context, r *connect.Request[flagopsv1.GetEnvironmentRequest]) (*connect.Response[flagopsv1.GetEnvironmentResponse], error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	e, ok := f.envs[r.Msg.GetName()]
	if !ok {
		return nil, connect.NewError(connect.CodeNotFound, fmt.Errorf("environment %q not found", r.Msg.GetName()))
	}
	return connect.NewResponse(&flagopsv1.GetEnvironmentResponse{Environment: e}), nil
}

// ListEnvironments answers one environment per page, so that the CLI's
// paging is exercised.
func (f *fakeAPI) ListEnvironments(_ context.Context, r *connect.Request[flagopsv1.ListEnvironmentsRequest]) (*connect.Response[flagopsv1.ListEnvironmentsResponse], error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	names := make([]string, 0, len(f.envs))
	for n := range f.envs {
		names = append(names, n)
	}
	sort.Strings(names)
	res := &flagopsv1.ListEnvironmentsResponse{}
	for i, n := range names {
		if n > r.Msg.GetPageToken() {
			res.Environments = []*flagopsv1.Environment{f.envs[n]}
			if i+1 < len(names) {
				res.NextPageToken = n
			}
			break
		}
	}
	return connect.NewResponse(res), nil
}

func (f *fakeAPI) PutTarget(_ context.Context, r *connect.Request[flagopsv1.PutTargetRequest]) (*connect.Response[flagopsv1.PutTargetResponse], error) {
	t := r.Msg.GetTarget()
	f.mu.Lock()
	_, ok := f.envs[t.GetEnvironment()]
	f.mu.Unlock()
	if !ok {
		return nil, invalid("target.environment", "environment "+t.GetEnvironment()+" does not exist")
	}
	op := put(f, f.targets, t.GetMeta().GetName(), t, (*flagopsv1.Target).GetMeta)
	return connect.NewResponse(&flagopsv1.PutTargetResponse{Target: t, Operation: op}), nil
}

func (f *fakeAPI) PutProject(_ context.Context, r *connect.Request[flagopsv1.PutProjectRequest]) (*connect.Response[flagopsv1.PutProjectResponse], error) {
	p := r.Msg.GetProject()
	f.mu.Lock()
	for _, e := range p.GetEnvironments() {
		if _, ok := f.envs[e]; !ok {
			f.mu.Unlock()
			return nil, invalid("project.environments", "environment "+e+" does not exist")
		}
	}
	f.mu.Unlock()
	op := put(f, f.projects, p.GetMeta().GetName(), p, (*flagopsv1.Project).GetMeta)
	return connect.NewResponse(&flagopsv1.PutProjectResponse{Project: p, Operation: op}), nil
}

func (f *fakeAPI) GetFacts(_ context.Context, r *connect.Request[flagopsv1.GetFactsRequest]) (*connect.Response[flagopsv1.GetFactsResponse], error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	res := &flagopsv1.GetFactsResponse{}
	vals := f.facts[r.Msg.GetScope()]
	keys := make([]string, 0, len(vals))
	for k := range vals {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		res.Facts = append(res.Facts, &flagopsv1.Fact{Scope: r.Msg.GetScope(), Key: k, Value: vals[k], Revision: 1, UpdateTime: timestamppb.New(fakeTime)})
	}
	return connect.NewResponse(res), nil
}

func (f *fakeAPI) SetFacts(_ context.Context, r *connect.Request[flagopsv1.SetFactsRequest]) (*connect.Response[flagopsv1.SetFactsResponse], error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	scope := r.Msg.GetScope()
	if f.facts[scope] == nil {
		f.facts[scope] = map[string]*structpb.Value{}
	}
	keys := make([]string, 0, len(r.Msg.GetValues()))
	for k, v := range r.Msg.GetValues() {
		f.facts[scope][k] = v
		keys = append(keys, k)
	}
	sort.Strings(keys)
	f.revision++
	f.puts = append(f.puts, "facts "+scope+" "+strings.Join(keys, ","))
	return connect.NewResponse(&flagopsv1.SetFactsResponse{Revision: f.revision}), nil
}

func (f *fakeAPI) ResolveFacts(_ context.Context, r *connect.Request[flagopsv1.ResolveFactsRequest]) (*connect.Response[flagopsv1.ResolveFactsResponse], error) {
	facts, _ := structpb.NewStruct(map[string]any{"region": "eu", "replicas": 3, "project": r.Msg.GetProject()})
	return connect.NewResponse(&flagopsv1.ResolveFactsResponse{
		Project: r.Msg.GetProject(), Target: r.Msg.GetTarget(), Facts: facts, Revision: 7,
		Sources: map[string]string{"region": "environment/prod", "replicas": "deployment/shop@eu-1", "project": "builtin"},
	}), nil
}

func (f *fakeAPI) snapshot() (rev int64, puts []string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.revision, append([]string(nil), f.puts...)
}

// runCLI runs the command line in-process with env as its whole environment.
func runCLI(t *testing.T, env map[string]string, stdin string, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errOut bytes.Buffer
	a := &app{stdin: strings.NewReader(stdin), stdout: &out, stderr: &errOut,
		lookupEnv: func(k string) (string, bool) { v, ok := env[k]; return v, ok },
		now:       func() time.Time { return fakeTime.Add(90 * time.Minute) }}
	code = a.run(context.Background(), args)
	return code, out.String(), errOut.String()
}
