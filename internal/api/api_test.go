package api_test

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"testing"

	"connectrpc.com/connect"
	"google.golang.org/protobuf/types/known/structpb"

	flagopsv1 "github.com/flagops/flagops/gen/flagops/v1"
	"github.com/flagops/flagops/internal/server"
	"github.com/flagops/flagops/internal/server/servertest"
)

// setup starts a server on cfg's database and returns its clients.
func setup(t *testing.T, cfg server.Config) (*server.Server, servertest.Clients) {
	t.Helper()
	s := servertest.Start(t, cfg)
	return s, servertest.NewClients(servertest.HTTP1Client(), s.URL())
}

func meta(name string) *flagopsv1.ObjectMeta { return &flagopsv1.ObjectMeta{Name: name} }

// must returns v, failing the test given to the returned function if err is
// set: must(c.Call(ctx, r))(t).
func must[T any](v T, err error) func(t *testing.T) T {
	return func(t *testing.T) T {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
}

func req[T any](m *T) *connect.Request[T] { return connect.NewRequest(m) }

// catalog creates prod and staging, target eu-1 in prod, set all (both
// environments) and project shop on that set.
func catalog(t *testing.T, c servertest.Clients) {
	t.Helper()
	ctx := context.Background()
	for _, env := range []string{"prod", "staging"} {
		must(c.Catalog.PutEnvironment(ctx, req(&flagopsv1.PutEnvironmentRequest{Environment: &flagopsv1.Environment{Meta: meta(env)}})))(t)
	}
	must(c.Catalog.PutTarget(ctx, req(&flagopsv1.PutTargetRequest{Target: &flagopsv1.Target{Meta: meta("eu-1"), Environment: "prod"}})))(t)
	must(c.Catalog.PutEnvironmentSet(ctx, req(&flagopsv1.PutEnvironmentSetRequest{EnvironmentSet: &flagopsv1.EnvironmentSet{Meta: meta("all"), Environments: []string{"staging", "prod"}}})))(t)
	must(c.Catalog.PutProject(ctx, req(&flagopsv1.PutProjectRequest{Project: &flagopsv1.Project{Meta: meta("shop"), EnvironmentSets: []string{"all"}}})))(t)
}

func TestCatalog(t *testing.T) {
	servertest.Backends(t, func(t *testing.T, cfg server.Config) {
		_, c := setup(t, cfg)
		ctx := context.Background()
		catalog(t, c)

		type object struct {
			put    func() (flagopsv1.Operation, int64, error)
			get    func() (string, error)
			list   func() ([]string, error)
			delete func() error
		}
		objects := []struct {
			name string
			obj  object
		}{
			{"workspace", object{
				put: func() (flagopsv1.Operation, int64, error) {
					r, err := c.Catalog.PutWorkspace(ctx, req(&flagopsv1.PutWorkspaceRequest{Workspace: &flagopsv1.Workspace{Meta: &flagopsv1.ObjectMeta{Name: "team-a", Description: "A"}}}))
					if err != nil {
						return 0, 0, err
					}
					return r.Msg.Operation, r.Msg.Workspace.Meta.Revision, nil
				},
				get: func() (string, error) {
					r, err := c.Catalog.GetWorkspace(ctx, req(&flagopsv1.GetWorkspaceRequest{Name: "team-a"}))
					if err != nil {
						return "", err
					}
					return r.Msg.Workspace.Meta.Description, nil
				},
				list: func() ([]string, error) {
					r, err := c.Catalog.ListWorkspaces(ctx, req(&flagopsv1.ListWorkspacesRequest{}))
					if err != nil {
						return nil, err
					}
					var names []string
					for _, w := range r.Msg.Workspaces {
						names = append(names, w.Meta.Name)
					}
					return names, nil
				},
				delete: func() error {
					_, err := c.Catalog.DeleteWorkspace(ctx, req(&flagopsv1.DeleteWorkspaceRequest{Name: "team-a"}))
					return err
				},
			}},
			{"environment", object{
				put: func() (flagopsv1.Operation, int64, error) {
					r, err := c.Catalog.PutEnvironment(ctx, req(&flagopsv1.PutEnvironmentRequest{Environment: &flagopsv1.Environment{Meta: &flagopsv1.ObjectMeta{Name: "dev", Description: "dev"}}}))
					if err != nil {
						return 0, 0, err
					}
					return r.Msg.Operation, r.Msg.Environment.Meta.Revision, nil
				},
				get: func() (string, error) {
					r, err := c.Catalog.GetEnvironment(ctx, req(&flagopsv1.GetEnvironmentRequest{Name: "dev"}))
					if err != nil {
						return "", err
					}
					return r.Msg.Environment.Meta.Description, nil
				},
				list: func() ([]string, error) {
					r, err := c.Catalog.ListEnvironments(ctx, req(&flagopsv1.ListEnvironmentsRequest{}))
					if err != nil {
						return nil, err
					}
					var names []string
					for _, e := range r.Msg.Environments {
						names = append(names, e.Meta.Name)
					}
					return names, nil
				},
				delete: func() error {
					_, err := c.Catalog.DeleteEnvironment(ctx, req(&flagopsv1.DeleteEnvironmentRequest{Name: "dev"}))
					return err
				},
			}},
			{"target", object{
				put: func() (flagopsv1.Operation, int64, error) {
					r, err := c.Catalog.PutTarget(ctx, req(&flagopsv1.PutTargetRequest{Target: &flagopsv1.Target{Meta: meta("us-1"), Environment: "staging"}}))
					if err != nil {
						return 0, 0, err
					}
					return r.Msg.Operation, r.Msg.Target.Meta.Revision, nil
				},
				get: func() (string, error) {
					r, err := c.Catalog.GetTarget(ctx, req(&flagopsv1.GetTargetRequest{Name: "us-1"}))
					if err != nil {
						return "", err
					}
					return r.Msg.Target.Environment, nil
				},
				list: func() ([]string, error) {
					r, err := c.Catalog.ListTargets(ctx, req(&flagopsv1.ListTargetsRequest{}))
					if err != nil {
						return nil, err
					}
					var names []string
					for _, x := range r.Msg.Targets {
						names = append(names, x.Meta.Name)
					}
					return names, nil
				},
				delete: func() error {
					_, err := c.Catalog.DeleteTarget(ctx, req(&flagopsv1.DeleteTargetRequest{Name: "us-1"}))
					return err
				},
			}},
			{"environment set", object{
				put: func() (flagopsv1.Operation, int64, error) {
					r, err := c.Catalog.PutEnvironmentSet(ctx, req(&flagopsv1.PutEnvironmentSetRequest{EnvironmentSet: &flagopsv1.EnvironmentSet{Meta: meta("live"), Environments: []string{"prod"}}}))
					if err != nil {
						return 0, 0, err
					}
					return r.Msg.Operation, r.Msg.EnvironmentSet.Meta.Revision, nil
				},
				get: func() (string, error) {
					r, err := c.Catalog.GetEnvironmentSet(ctx, req(&flagopsv1.GetEnvironmentSetRequest{Name: "live"}))
					if err != nil {
						return "", err
					}
					return strings.Join(r.Msg.EnvironmentSet.Environments, ","), nil
				},
				list: func() ([]string, error) {
					r, err := c.Catalog.ListEnvironmentSets(ctx, req(&flagopsv1.ListEnvironmentSetsRequest{}))
					if err != nil {
						return nil, err
					}
					var names []string
					for _, x := range r.Msg.EnvironmentSets {
						names = append(names, x.Meta.Name)
					}
					return names, nil
				},
				delete: func() error {
					_, err := c.Catalog.DeleteEnvironmentSet(ctx, req(&flagopsv1.DeleteEnvironmentSetRequest{Name: "live"}))
					return err
				},
			}},
			{"project", object{
				put: func() (flagopsv1.Operation, int64, error) {
					r, err := c.Catalog.PutProject(ctx, req(&flagopsv1.PutProjectRequest{Project: &flagopsv1.Project{Meta: meta("api"), Environments: []string{"staging"}, EnvironmentSets: []string{"all"}}}))
					if err != nil {
						return 0, 0, err
					}
					return r.Msg.Operation, r.Msg.Project.Meta.Revision, nil
				},
				get: func() (string, error) {
					r, err := c.Catalog.GetProject(ctx, req(&flagopsv1.GetProjectRequest{Name: "api"}))
					if err != nil {
						return "", err
					}
					return strings.Join(r.Msg.Project.EffectiveEnvironments, ","), nil
				},
				list: func() ([]string, error) {
					r, err := c.Catalog.ListProjects(ctx, req(&flagopsv1.ListProjectsRequest{}))
					if err != nil {
						return nil, err
					}
					var names []string
					for _, x := range r.Msg.Projects {
						names = append(names, x.Meta.Name)
					}
					return names, nil
				},
				delete: func() error {
					_, err := c.Catalog.DeleteProject(ctx, req(&flagopsv1.DeleteProjectRequest{Name: "api"}))
					return err
				},
			}},
		}
		wantGet := map[string]string{"workspace": "A", "environment": "dev", "target": "staging", "environment set": "prod", "project": "prod,staging"}
		wantName := map[string]string{"workspace": "team-a", "environment": "dev", "target": "us-1", "environment set": "live", "project": "api"}
		for _, tt := range objects {
			t.Run(tt.name, func(t *testing.T) {
				op, rev, err := tt.obj.put()
				if err != nil || op != flagopsv1.Operation_OPERATION_CREATE || rev == 0 {
					t.Fatalf("put: op %v rev %d err %v", op, rev, err)
				}
				if op, rev2, err := tt.obj.put(); err != nil || op != flagopsv1.Operation_OPERATION_NONE || rev2 != rev {
					t.Fatalf("put again: op %v rev %d (want %d) err %v", op, rev2, rev, err)
				}
				if got, err := tt.obj.get(); err != nil || got != wantGet[tt.name] {
					t.Fatalf("get: %q, %v; want %q", got, err, wantGet[tt.name])
				}
				names, err := tt.obj.list()
				if err != nil || !contains(names, wantName[tt.name]) {
					t.Fatalf("list: %v, %v", names, err)
				}
				if err := tt.obj.delete(); err != nil {
					t.Fatalf("delete: %v", err)
				}
				if _, err := tt.obj.get(); connect.CodeOf(err) != connect.CodeNotFound {
					t.Fatalf("get after delete: want NotFound, got %v", err)
				}
			})
		}

		t.Run("deployments", func(t *testing.T) {
			d := must(c.Catalog.GetDeployment(ctx, req(&flagopsv1.GetDeploymentRequest{Project: "shop", Target: "eu-1"})))(t)
			if d.Msg.Deployment.Environment != "prod" || d.Msg.Deployment.Workspace != "default" {
				t.Fatalf("deployment: %v", d.Msg.Deployment)
			}
			l := must(c.Catalog.ListDeployments(ctx, req(&flagopsv1.ListDeploymentsRequest{Environment: "prod"})))(t)
			if len(l.Msg.Deployments) != 1 || l.Msg.Deployments[0].Project != "shop" {
				t.Fatalf("deployments: %v", l.Msg.Deployments)
			}
		})
	})
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

func value(t *testing.T, v any) *structpb.Value {
	t.Helper()
	return must(structpb.NewValue(v))(t)
}

func TestFacts(t *testing.T) {
	servertest.Backends(t, func(t *testing.T, cfg server.Config) {
		_, c := setup(t, cfg)
		ctx := context.Background()
		catalog(t, c)

		set := func(scope string, vals map[string]any) int64 {
			t.Helper()
			m := map[string]*structpb.Value{}
			for k, v := range vals {
				m[k] = value(t, v)
			}
			return must(c.Facts.SetFacts(ctx, req(&flagopsv1.SetFactsRequest{Scope: scope, Values: m})))(t).Msg.Revision
		}
		set("workspace", map[string]any{"tier": "free", "region": "eu"})
		set("environment/prod", map[string]any{"tier": "gold"})
		rev := set("deployment/shop@eu-1", map[string]any{"replicas": 3, "limits": map[string]any{"cpu": "2"}})

		t.Run("get", func(t *testing.T) {
			r := must(c.Facts.GetFacts(ctx, req(&flagopsv1.GetFactsRequest{Scope: "deployment/shop@eu-1"})))(t)
			if r.Msg.Revision != rev || len(r.Msg.Facts) != 2 || r.Msg.Facts[0].Key != "limits" {
				t.Fatalf("get facts: %v", r.Msg)
			}
			if got := r.Msg.Facts[0].Value.GetStructValue().GetFields()["cpu"].GetStringValue(); got != "2" {
				t.Fatalf("limits.cpu = %q", got)
			}
		})
		t.Run("resolve", func(t *testing.T) {
			r := must(c.Facts.ResolveFacts(ctx, req(&flagopsv1.ResolveFactsRequest{Project: "shop", Target: "eu-1"})))(t)
			f := r.Msg.Facts.GetFields()
			if f["tier"].GetStringValue() != "gold" || r.Msg.Sources["tier"] != "environment/prod" {
				t.Fatalf("tier: %v from %q", f["tier"], r.Msg.Sources["tier"])
			}
			if f["replicas"].GetNumberValue() != 3 || f["region"].GetStringValue() != "eu" || f["project"].GetStringValue() != "shop" {
				t.Fatalf("resolved: %v", f)
			}
		})
		t.Run("unset", func(t *testing.T) {
			u := must(c.Facts.UnsetFacts(ctx, req(&flagopsv1.UnsetFactsRequest{Scope: "environment/prod", Keys: []string{"tier"}})))(t)
			r := must(c.Facts.ResolveFacts(ctx, req(&flagopsv1.ResolveFactsRequest{Project: "shop", Target: "eu-1"})))(t)
			if r.Msg.Facts.GetFields()["tier"].GetStringValue() != "free" || r.Msg.Revision < u.Msg.Revision {
				t.Fatalf("after unset: %v", r.Msg)
			}
		})
		t.Run("bulk", func(t *testing.T) {
			r := must(c.Facts.BulkSetFacts(ctx, req(&flagopsv1.BulkSetFactsRequest{Entries: []*flagopsv1.FactsEntry{
				{Scope: "project/shop", Values: map[string]*structpb.Value{"team": value(t, "web")}},
				{Scope: "target/eu-1", Values: map[string]*structpb.Value{"zone": value(t, "a"), "gpu": value(t, false)}},
			}})))(t)
			if r.Msg.Scopes != 2 {
				t.Fatalf("scopes = %d", r.Msg.Scopes)
			}
			for _, scope := range []string{"project/shop", "target/eu-1"} {
				g := must(c.Facts.GetFacts(ctx, req(&flagopsv1.GetFactsRequest{Scope: scope})))(t)
				if g.Msg.Revision != r.Msg.Revision {
					t.Fatalf("%s revision %d, want the bulk's %d", scope, g.Msg.Revision, r.Msg.Revision)
				}
			}
		})
		t.Run("history", func(t *testing.T) {
			set("workspace", map[string]any{"tier": "pro"})
			h := must(c.Facts.FactHistory(ctx, req(&flagopsv1.FactHistoryRequest{Scope: "workspace", Key: "tier"})))(t)
			if len(h.Msg.Changes) != 2 {
				t.Fatalf("history: %v", h.Msg.Changes)
			}
			first, last := h.Msg.Changes[0], h.Msg.Changes[1]
			if first.Operation != flagopsv1.Operation_OPERATION_CREATE || last.Operation != flagopsv1.Operation_OPERATION_UPDATE || first.Revision >= last.Revision {
				t.Fatalf("history order/ops: %v", h.Msg.Changes)
			}
		})
	})
}

// TestOrigin checks the actor and request id reach the change log and the
// request id is echoed. With API keys the actor is the key, whatever the
// X-Flagops-Actor header says; only with authentication off (insecure-dev)
// may a caller name itself.
func TestOrigin(t *testing.T) {
	servertest.Backends(t, func(t *testing.T, cfg server.Config) {
		for _, tt := range []struct {
			name             string
			insecure         bool
			named, anonymous string
		}{
			{"apiKey", false, "key/admin", "key/admin"},
			{"insecureDev", true, "alice", "anonymous"},
		} {
			t.Run(tt.name, func(t *testing.T) {
				cfg := cfg
				cfg.InsecureDev = tt.insecure
				_, c := setup(t, cfg)
				ctx := context.Background()
				from := must(c.Changes.GetRevision(ctx, req(&flagopsv1.GetRevisionRequest{})))(t).Msg.GetRevision()
				r := req(&flagopsv1.SetFactsRequest{Scope: "workspace", Values: map[string]*structpb.Value{tt.name: value(t, 1)}})
				r.Header().Set("X-Flagops-Actor", "alice")
				r.Header().Set("X-Request-Id", "req-42")
				resp := must(c.Facts.SetFacts(ctx, r))(t)
				if got := resp.Header().Get("X-Request-Id"); got != "req-42" {
					t.Fatalf("echoed request id %q", got)
				}
				l := must(c.Changes.ListChanges(ctx, req(&flagopsv1.ListChangesRequest{Kind: "fact", FromRevision: from})))(t)
				if len(l.Msg.Changes) != 1 || l.Msg.Changes[0].Actor != tt.named || l.Msg.Changes[0].RequestId != "req-42" {
					t.Fatalf("change origin: %v", l.Msg.Changes)
				}
				// Without headers, a generated id is echoed.
				resp = must(c.Facts.SetFacts(ctx, req(&flagopsv1.SetFactsRequest{Scope: "workspace", Values: map[string]*structpb.Value{tt.name: value(t, 2)}})))(t)
				if resp.Header().Get("X-Request-Id") == "" {
					t.Fatal("no generated request id")
				}
				l = must(c.Changes.ListChanges(ctx, req(&flagopsv1.ListChangesRequest{Kind: "fact", FromRevision: l.Msg.Changes[0].Revision})))(t)
				if len(l.Msg.Changes) != 1 || l.Msg.Changes[0].Actor != tt.anonymous {
					t.Fatalf("change without actor header: %v", l.Msg.Changes)
				}
			})
		}
	})
}

// TestGRPC calls the server with the gRPC protocol over unencrypted HTTP/2.
func TestGRPC(t *testing.T) {
	servertest.Backends(t, func(t *testing.T, cfg server.Config) {
		s, _ := setup(t, cfg)
		c := servertest.NewClients(servertest.H2CClient(), s.URL(), connect.WithGRPC())
		r, err := c.Changes.GetRevision(context.Background(), req(&flagopsv1.GetRevisionRequest{}))
		if err != nil {
			t.Fatal(err)
		}
		if r.Msg.Revision < 0 {
			t.Fatalf("revision %d", r.Msg.Revision)
		}
		_, err = c.Facts.SetFacts(context.Background(), req(&flagopsv1.SetFactsRequest{Scope: "workspace", Values: map[string]*structpb.Value{"9": value(t, 1)}}))
		if connect.CodeOf(err) != connect.CodeInvalidArgument || fieldOf(err) != "values.9" {
			t.Fatalf("gRPC error: %v (field %q)", err, fieldOf(err))
		}
	})
}

// fieldOf returns the field of the error's ErrorDetail, or "".
func fieldOf(err error) string {
	var ce *connect.Error
	if !errors.As(err, &ce) {
		return ""
	}
	for _, d := range ce.Details() {
		v, derr := d.Value()
		if derr != nil {
			continue
		}
		if ed, ok := v.(*flagopsv1.ErrorDetail); ok {
			return ed.Field
		}
	}
	return ""
}

var _ = http.StatusOK
