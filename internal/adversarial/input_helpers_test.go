package adversarial_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"strings"
	"testing"

	"connectrpc.com/connect"
	"google.golang.org/protobuf/encoding/protojson"

	"github.com/flagops/flagops/cli"
	flagopsv1 "github.com/flagops/flagops/gen/flagops/v1"
	"github.com/flagops/flagops/gen/flagops/v1/flagopsv1connect"
	"github.com/flagops/flagops/internal/server"
	"github.com/flagops/flagops/internal/server/servertest"
)

// The helpers of the input_* tests (hardening of what clients send and
// what errors send back) carry the input prefix, so that they never clash
// with the other themes' helpers in this package.

// inputEstate creates environments prod and dev, targets eu-1 (prod) and
// us-1 (dev), project shop in both, and flag shop/replicas (a number, on
// in prod).
func inputEstate(t *testing.T, c servertest.Clients) {
	t.Helper()
	ctx := context.Background()
	meta := func(name string) *flagopsv1.ObjectMeta { return &flagopsv1.ObjectMeta{Name: name} }
	for _, env := range []string{"prod", "dev"} {
		if _, err := c.Catalog.PutEnvironment(ctx, connect.NewRequest(&flagopsv1.PutEnvironmentRequest{Environment: &flagopsv1.Environment{Meta: meta(env)}})); err != nil {
			t.Fatal(err)
		}
	}
	for tg, env := range map[string]string{"eu-1": "prod", "us-1": "dev"} {
		if _, err := c.Catalog.PutTarget(ctx, connect.NewRequest(&flagopsv1.PutTargetRequest{Target: &flagopsv1.Target{Meta: meta(tg), Environment: env}})); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := c.Catalog.PutProject(ctx, connect.NewRequest(&flagopsv1.PutProjectRequest{Project: &flagopsv1.Project{Meta: meta("shop"), Environments: []string{"prod", "dev"}}})); err != nil {
		t.Fatal(err)
	}
	var f flagopsv1.Flag
	if err := protojson.Unmarshal([]byte(`{"project":"shop","key":"replicas","type":"number",
		"variations":[{"key":"one","value":1},{"key":"three","value":3}],
		"environments":{"prod":{"enabled":true,"offVariation":"one","fallthrough":{"variation":"three"}}}}`), &f); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Flags.PutFlag(ctx, connect.NewRequest(&flagopsv1.PutFlagRequest{Flag: &f})); err != nil {
		t.Fatal(err)
	}
}

// inputWebhooks returns the WebhookService client of s (servertest.Clients
// has none).
func inputWebhooks(s *server.Server) flagopsv1connect.WebhookServiceClient {
	return flagopsv1connect.NewWebhookServiceClient(servertest.HTTP1Client(), s.URL())
}

// inputAnswer is a Connect JSON (or plain route) error answer.
type inputAnswer struct {
	Status  int
	Code    string `json:"code"`
	Message string `json:"message"`
	Field   string `json:"field"`
	Body    []byte `json:"-"`
}

// inputPost sends body as JSON to path on s with the admin token (or token,
// when not empty) and returns the answer.
func inputPost(t *testing.T, s *server.Server, path, token string, body []byte) inputAnswer {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, s.URL()+path, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := servertest.HTTP1Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	a := inputAnswer{Status: resp.StatusCode}
	if a.Body, err = io.ReadAll(resp.Body); err != nil {
		t.Fatal(err)
	}
	_ = json.Unmarshal(a.Body, &a)
	return a
}

// inputRevision returns the server's current revision.
func inputRevision(t *testing.T, c servertest.Clients) int64 {
	t.Helper()
	r, err := c.Changes.GetRevision(context.Background(), connect.NewRequest(&flagopsv1.GetRevisionRequest{}))
	if err != nil {
		t.Fatal(err)
	}
	return r.Msg.GetRevision()
}

// inputCLI runs the command line in-process with env (KEY=VALUE) set and
// returns its exit code, stdout and stderr.
func inputCLI(t *testing.T, env []string, args ...string) (int, string, string) {
	t.Helper()
	for _, kv := range env {
		k, v, _ := strings.Cut(kv, "=")
		t.Setenv(k, v)
	}
	var out, errOut bytes.Buffer
	code := cli.Main(context.Background(), args, strings.NewReader(""), &out, &errOut)
	return code, out.String(), errOut.String()
}

// inputWriteFile writes text to path (0600).
func inputWriteFile(path, text string) error { return os.WriteFile(path, []byte(text), 0o600) }
