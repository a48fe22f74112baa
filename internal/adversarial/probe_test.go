package adversarial_test

import (
	"context"
	"io"
	"net/http"
	"strings"
	"testing"

	"connectrpc.com/connect"

	flagopsv1 "github.com/flagops/flagops/gen/flagops/v1"
	"github.com/flagops/flagops/internal/server"
	"github.com/flagops/flagops/internal/server/servertest"
)

func TestProbe(t *testing.T) {
	s := servertest.Start(t, server.Config{DataDir: t.TempDir()})
	c := servertest.NewClients(servertest.HTTP1Client(), s.URL())
	ctx := context.Background()
	big := strings.Repeat("a", 1<<20)
	_, err := c.Catalog.PutEnvironment(ctx, connect.NewRequest(&flagopsv1.PutEnvironmentRequest{Environment: &flagopsv1.Environment{Meta: &flagopsv1.ObjectMeta{Name: big}}}))
	t.Logf("env: %d bytes: %.300s", len(err.Error()), err)
	_, err = c.Facts.SetFacts(ctx, connect.NewRequest(&flagopsv1.SetFactsRequest{Scope: "environment/" + big}))
	t.Logf("facts: %d bytes: %.300s", len(err.Error()), err)
	req, _ := http.NewRequest("POST", s.URL()+"/flagops.v1.SecretService/PutSecret", strings.NewReader(`{"scope":"workspace","key":"k","value":"not base64 canary-secret-value!!"}`))
	req.Header.Set("Content-Type", "application/json")
	resp, err := servertest.HTTP1Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	t.Logf("put secret: %d %s", resp.StatusCode, b)
}
