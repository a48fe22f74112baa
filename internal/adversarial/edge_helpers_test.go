package adversarial_test

import (
	"context"
	"io"
	"net/http"
	"strings"
	"testing"

	"connectrpc.com/connect"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/structpb"

	flagopsv1 "github.com/flagops/flagops/gen/flagops/v1"
	"github.com/flagops/flagops/internal/domain"
	"github.com/flagops/flagops/internal/ofrep"
	"github.com/flagops/flagops/internal/server"
	"github.com/flagops/flagops/internal/server/servertest"
)

// edgeDo sends one plain HTTP request to a running server and returns the
// status and the body. token is sent as a bearer token; servertest.NoToken
// sends none, "" sends the admin's.
func edgeDo(t *testing.T, method, url, token, contentType string, body io.Reader) (int, string) {
	t.Helper()
	req, err := http.NewRequest(method, url, body)
	if err != nil {
		t.Fatal(err)
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	switch token {
	case "":
	case servertest.NoToken:
		req.Header.Set("Authorization", servertest.NoToken)
	default:
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := servertest.HTTP1Client().Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// edgeEstate creates environment prod, target eu-1 in it and project shop
// (so deployment shop@eu-1), and a boolean flag "beta" of shop.
func edgeEstate(t *testing.T, c servertest.Clients) {
	t.Helper()
	ctx := context.Background()
	meta := func(name string) *flagopsv1.ObjectMeta { return &flagopsv1.ObjectMeta{Name: name} }
	if _, err := c.Catalog.PutEnvironment(ctx, connect.NewRequest(&flagopsv1.PutEnvironmentRequest{
		Environment: &flagopsv1.Environment{Meta: meta("prod")}})); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Catalog.PutTarget(ctx, connect.NewRequest(&flagopsv1.PutTargetRequest{
		Target: &flagopsv1.Target{Meta: meta("eu-1"), Environment: "prod"}})); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Catalog.PutProject(ctx, connect.NewRequest(&flagopsv1.PutProjectRequest{
		Project: &flagopsv1.Project{Meta: meta("shop"), Environments: []string{"prod"}}})); err != nil {
		t.Fatal(err)
	}
	var f flagopsv1.Flag
	if err := edgeUnmarshal(`{"project":"shop","key":"beta","type":"boolean",
		"variations":[{"key":"on","value":true},{"key":"off","value":false}],
		"environments":{"prod":{"enabled":true,"fallthrough":{"variation":"on"}}}}`, &f); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Flags.PutFlag(ctx, connect.NewRequest(&flagopsv1.PutFlagRequest{Flag: &f})); err != nil {
		t.Fatal(err)
	}
}

// edgeSetFact sets one workspace fact and returns the revision.
func edgeSetFact(t *testing.T, c servertest.Clients, key, value string) int64 {
	t.Helper()
	r, err := c.Facts.SetFacts(context.Background(), connect.NewRequest(&flagopsv1.SetFactsRequest{
		Scope: "deployment/shop@eu-1", Values: map[string]*structpb.Value{key: structpb.NewStringValue(value)}}))
	if err != nil {
		t.Fatalf("set fact %s: %v", key, err)
	}
	return r.Msg.Revision
}

// edgeRevision returns the server's revision.
func edgeRevision(t *testing.T, c servertest.Clients) int64 {
	t.Helper()
	r, err := c.Changes.GetRevision(context.Background(), connect.NewRequest(&flagopsv1.GetRevisionRequest{}))
	if err != nil {
		t.Fatal(err)
	}
	return r.Msg.Revision
}

// edgeOFREPKey is a static development OFREP key of environment prod,
// project shop.
const edgeOFREPKey = "edge-dev-key"

// edgeServer starts a server with cfg plus the development OFREP key, and
// the estate of edgeEstate.
func edgeServer(t *testing.T, cfg server.Config) (*server.Server, servertest.Clients) {
	t.Helper()
	cfg.OFREPKeys = edgeOFREPKeys()
	s := servertest.Start(t, cfg)
	c := servertest.NewClients(servertest.HTTP1Client(), s.URL())
	edgeEstate(t, c)
	return s, c
}

// edgeContains reports whether s contains any of subs (case-insensitive),
// and which.
func edgeContains(s string, subs ...string) (string, bool) {
	low := strings.ToLower(s)
	for _, sub := range subs {
		if sub != "" && strings.Contains(low, strings.ToLower(sub)) {
			return sub, true
		}
	}
	return "", false
}

func edgeOFREPKeys() map[string]ofrep.Principal {
	return map[string]ofrep.Principal{edgeOFREPKey: {Workspace: domain.DefaultWorkspace, Environment: "prod", Project: "shop"}}
}

func edgeUnmarshal(s string, m proto.Message) error { return protojson.Unmarshal([]byte(s), m) }
