package adversarial_test

import (
	"context"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"connectrpc.com/connect"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/types/known/structpb"
	"google.golang.org/protobuf/types/known/timestamppb"

	flagopsv1 "github.com/flagops/flagops/gen/flagops/v1"
	"github.com/flagops/flagops/gen/flagops/v1/flagopsv1connect"
	"github.com/flagops/flagops/internal/domain"
	"github.com/flagops/flagops/internal/server"
	"github.com/flagops/flagops/internal/server/servertest"
)

// The shared estate of the leak tests: environments prod and staging,
// target eu-1 in prod and stage-1 in staging, project shop on both, and a
// number flag "replicas" whose prod and staging rules read the fact "tier".
const (
	prodTarget  = "eu-1"
	stageTarget = "stage-1"
)

// admin returns the clients of s acting as its bootstrap admin.
func admin(s *server.Server) servertest.Clients {
	return servertest.NewClients(servertest.HTTP1Client(), s.URL())
}

// as returns the clients of s that send token.
func as(s *server.Server, token string) servertest.Clients {
	return servertest.NewClients(servertest.HTTP1Client(), s.URL(), connect.WithInterceptors(bearer(token)))
}

func webhooksAs(s *server.Server, token string) flagopsv1connect.WebhookServiceClient {
	var opts []connect.ClientOption
	if token != "" {
		opts = append(opts, connect.WithInterceptors(bearer(token)))
	}
	return flagopsv1connect.NewWebhookServiceClient(servertest.HTTP1Client(), s.URL(), opts...)
}

// bearer sends a token instead of servertest's admin default.
type bearer string

func (b bearer) WrapUnary(next connect.UnaryFunc) connect.UnaryFunc {
	return func(ctx context.Context, req connect.AnyRequest) (connect.AnyResponse, error) {
		req.Header().Set("Authorization", "Bearer "+string(b))
		return next(ctx, req)
	}
}

func (b bearer) WrapStreamingClient(next connect.StreamingClientFunc) connect.StreamingClientFunc {
	return func(ctx context.Context, spec connect.Spec) connect.StreamingClientConn {
		conn := next(ctx, spec)
		conn.RequestHeader().Set("Authorization", "Bearer "+string(b))
		return conn
	}
}

func (b bearer) WrapStreamingHandler(next connect.StreamingHandlerFunc) connect.StreamingHandlerFunc {
	return next
}

// estate creates the shared estate in workspace ws (which must exist).
func estate(t *testing.T, c servertest.Clients, ws string) {
	t.Helper()
	ctx := context.Background()
	meta := func(n string) *flagopsv1.ObjectMeta { return &flagopsv1.ObjectMeta{Workspace: ws, Name: n} }
	for _, env := range []string{"prod", "staging"} {
		_, err := c.Catalog.PutEnvironment(ctx, connect.NewRequest(&flagopsv1.PutEnvironmentRequest{Environment: &flagopsv1.Environment{Meta: meta(env)}}))
		must(t, err)
	}
	for tg, env := range map[string]string{prodTarget: "prod", stageTarget: "staging"} {
		_, err := c.Catalog.PutTarget(ctx, connect.NewRequest(&flagopsv1.PutTargetRequest{Target: &flagopsv1.Target{Meta: meta(tg), Environment: env}}))
		must(t, err)
	}
	_, err := c.Catalog.PutProject(ctx, connect.NewRequest(&flagopsv1.PutProjectRequest{Project: &flagopsv1.Project{Meta: meta("shop"), Environments: []string{"prod", "staging"}}}))
	must(t, err)
	var f flagopsv1.Flag
	must(t, protojson.Unmarshal([]byte(`{"project":"shop","key":"replicas","type":"number",
		"variations":[{"key":"one","value":1},{"key":"many","value":9}],
		"environments":{
		  "prod":{"enabled":true,"offVariation":"one","fallthrough":{"variation":"one"},
		    "rules":[{"conditions":[{"attribute":"tier","operator":"equals","values":["gold"]}],"variation":"many"}]},
		  "staging":{"enabled":true,"offVariation":"one","fallthrough":{"variation":"one"},
		    "rules":[{"conditions":[{"attribute":"tier","operator":"equals","values":["gold"]}],"variation":"many"}]}}}`), &f))
	_, err = c.Flags.PutFlag(ctx, connect.NewRequest(&flagopsv1.PutFlagRequest{Workspace: ws, Flag: &f}))
	must(t, err)
}

// setFacts sets facts at scope in the default workspace.
func setFacts(t *testing.T, c servertest.Clients, scope string, kv map[string]any) int64 {
	t.Helper()
	vals := map[string]*structpb.Value{}
	for k, v := range kv {
		sv, err := structpb.NewValue(v)
		must(t, err)
		vals[k] = sv
	}
	r, err := c.Facts.SetFacts(context.Background(), connect.NewRequest(&flagopsv1.SetFactsRequest{Scope: scope, Values: vals}))
	must(t, err)
	return r.Msg.GetRevision()
}

// newKey creates a key with bindings written as domain.ParseBinding reads
// them ("evaluator@environment/prod", "*:admin@workspace"), expiring at exp
// when it is not zero, and returns its token.
func newKey(t *testing.T, c servertest.Clients, name string, exp time.Time, bindings ...string) string {
	t.Helper()
	var bs []*flagopsv1.Binding
	for _, b := range bindings {
		p, err := domain.ParseBinding(b)
		must(t, err)
		bs = append(bs, &flagopsv1.Binding{Role: string(p.Role), Workspace: p.Workspace, Scope: p.Scope.String()})
	}
	req := &flagopsv1.CreateKeyRequest{Name: name, Bindings: bs}
	if !exp.IsZero() {
		req.ExpireTime = timestamppb.New(exp)
	}
	res, err := c.Access.CreateKey(context.Background(), connect.NewRequest(req))
	if err != nil {
		t.Fatalf("create key %s: %v", name, err)
	}
	return res.Msg.GetToken()
}

// post sends body to url with the token and returns the status and body.
func post(t *testing.T, url, token, body string) (int, string) {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, url, strings.NewReader(body))
	must(t, err)
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := servertest.HTTP1Client().Do(req)
	must(t, err)
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// zeroTime is "no expiry" for newKey.
var zeroTime time.Time
