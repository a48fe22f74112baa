package server_test

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"connectrpc.com/connect"

	flagopsv1 "github.com/flagops/flagops/gen/flagops/v1"
	"github.com/flagops/flagops/internal/server"
	"github.com/flagops/flagops/internal/server/servertest"
)

// must fails the test when a call failed; it takes the error alone so that
// calls stay one line: must(t)(c.X(ctx, req)) does not compile in Go.
func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// channel makes environment prod with target eu-1, project shop in it, a
// release 1.0.0 with two platforms, and sets prod to it.
func channel(t *testing.T, c servertest.Clients) {
	t.Helper()
	ctx := context.Background()
	_, err := c.Catalog.PutEnvironment(ctx, connect.NewRequest(&flagopsv1.PutEnvironmentRequest{Environment: &flagopsv1.Environment{Meta: &flagopsv1.ObjectMeta{Name: "prod"}}}))
	must(t, err)
	_, err = c.Catalog.PutTarget(ctx, connect.NewRequest(&flagopsv1.PutTargetRequest{Target: &flagopsv1.Target{Meta: &flagopsv1.ObjectMeta{Name: "eu-1"}, Environment: "prod"}}))
	must(t, err)
	_, err = c.Catalog.PutProject(ctx, connect.NewRequest(&flagopsv1.PutProjectRequest{Project: &flagopsv1.Project{Meta: &flagopsv1.ObjectMeta{Name: "shop"}, Environments: []string{"prod"}}}))
	must(t, err)
	_, err = c.Releases.CreateRelease(ctx, connect.NewRequest(&flagopsv1.CreateReleaseRequest{Release: &flagopsv1.Release{
		Project: "shop", Version: "1.0.0", Commits: map[string]string{"github.com/acme/shop": strings.Repeat("a", 40)},
		Artifacts: []*flagopsv1.Artifact{
			{Name: "shop", Platform: "linux/amd64", Url: "https://dl.example.com/shop-1.0.0-amd64", Sha256: strings.Repeat("1", 64), Size: 42},
			{Name: "shop", Platform: "linux/arm64", Url: "https://dl.example.com/shop-1.0.0-arm64", Sha256: strings.Repeat("2", 64), Size: 43},
		}}}))
	must(t, err)
	_, err = c.Versions.SetVersion(ctx, connect.NewRequest(&flagopsv1.SetVersionRequest{Project: "shop", Environment: "prod", Version: "1.0.0"}))
	must(t, err)
}

func TestResolveEndpoint(t *testing.T) {
	backends(t, func(t *testing.T, cfg server.Config) {
		s := servertest.Start(t, cfg)
		channel(t, clients(s))
		tests := []struct {
			name     string
			path     string
			code     int
			contains string
		}{
			{"json", "/v1/resolve/shop/prod?platform=linux/amd64", http.StatusOK, `"sha256":"` + strings.Repeat("1", 64)},
			{"other platform", "/v1/resolve/shop/prod?platform=linux/arm64", http.StatusOK, "shop-1.0.0-arm64"},
			{"redirect", "/v1/resolve/shop/prod?platform=linux/amd64&redirect=1", http.StatusFound, ""},
			{"unknown platform", "/v1/resolve/shop/prod?platform=windows/amd64", http.StatusNotFound, "no artifact"},
			{"platform needed", "/v1/resolve/shop/prod", http.StatusBadRequest, "platform"},
			{"bad platform", "/v1/resolve/shop/prod?platform=amd64", http.StatusBadRequest, "platform"},
			{"no version set", "/v1/resolve/shop/staging?platform=linux/amd64", http.StatusNotFound, "no desired version"},
		}
		hc := servertest.HTTP1Client()
		hc.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
		for _, tc := range tests {
			t.Run(tc.name, func(t *testing.T) {
				resp, err := hc.Get(s.URL() + tc.path)
				if err != nil {
					t.Fatal(err)
				}
				defer resp.Body.Close()
				var body bytes.Buffer
				_, _ = body.ReadFrom(resp.Body)
				if resp.StatusCode != tc.code || !strings.Contains(body.String(), tc.contains) {
					t.Fatalf("GET %s = %d %s; want %d containing %q", tc.path, resp.StatusCode, body.String(), tc.code, tc.contains)
				}
				if tc.code == http.StatusFound && resp.Header.Get("Location") != "https://dl.example.com/shop-1.0.0-amd64" {
					t.Fatalf("Location = %q", resp.Header.Get("Location"))
				}
				if tc.code == http.StatusOK {
					var r struct {
						Version  string `json:"version"`
						Artifact struct {
							URL string `json:"url"`
						} `json:"artifact"`
					}
					if err := json.Unmarshal(body.Bytes(), &r); err != nil || r.Version != "1.0.0" || r.Artifact.URL == "" {
						t.Fatalf("body %s: %+v, %v", body.String(), r, err)
					}
				}
			})
		}
	})
}

// TestVersionsAPI drives the version, release and promotion services over
// Connect, and follows the prod channel with a filtered Watch.
func TestVersionsAPI(t *testing.T) {
	backends(t, func(t *testing.T, cfg server.Config) {
		cfg.SchedulerInterval = -1
		s := servertest.Start(t, cfg)
		c := clients(s)
		ctx := context.Background()
		channel(t, c)
		_, err := c.Releases.CreateRelease(ctx, connect.NewRequest(&flagopsv1.CreateReleaseRequest{Release: &flagopsv1.Release{Project: "shop", Version: "1.0.0"}}))
		if connect.CodeOf(err) != connect.CodeAlreadyExists {
			t.Fatalf("second create = %v; want AlreadyExists", err)
		}
		bad := []struct {
			name  string
			req   *flagopsv1.SetVersionRequest
			field string
		}{
			{"spaces", &flagopsv1.SetVersionRequest{Project: "shop", Environment: "prod", Version: "1.0 beta"}, "version"},
			{"too long", &flagopsv1.SetVersionRequest{Project: "shop", Environment: "prod", Version: strings.Repeat("1", 129)}, "version"},
			{"unknown environment", &flagopsv1.SetVersionRequest{Project: "shop", Environment: "qa", Version: "1"}, "environment"},
		}
		for _, tc := range bad {
			t.Run(tc.name, func(t *testing.T) {
				_, err := c.Versions.SetVersion(ctx, connect.NewRequest(tc.req))
				if connect.CodeOf(err) != connect.CodeInvalidArgument || !strings.Contains(err.Error(), tc.field) {
					t.Fatalf("SetVersion = %v; want InvalidArgument naming %s", err, tc.field)
				}
			})
		}
		_, err = c.Releases.ListReleases(ctx, connect.NewRequest(&flagopsv1.ListReleasesRequest{Sha256: "abc"}))
		if connect.CodeOf(err) != connect.CodeInvalidArgument || !strings.Contains(err.Error(), "sha256") {
			t.Fatalf("find by a short sha256 = %v", err)
		}
		found, err := c.Releases.ListReleases(ctx, connect.NewRequest(&flagopsv1.ListReleasesRequest{Commit: strings.Repeat("a", 40)}))
		must(t, err)
		if len(found.Msg.GetReleases()) != 1 {
			t.Fatalf("find by commit = %v", found.Msg)
		}
		w, err := c.Changes.Watch(ctx, connect.NewRequest(&flagopsv1.WatchRequest{Filter: &flagopsv1.WatchFilter{KeyPrefixes: []string{"shop@prod"}}}))
		must(t, err)
		defer w.Close()
		{
			_, err := c.Versions.ReportVersion(ctx, connect.NewRequest(&flagopsv1.ReportVersionRequest{Project: "shop", Target: "eu-1", Version: "0.9.0", Status: "healthy"}))
			must(t, err)
		}
		drift, err := c.Versions.Drift(ctx, connect.NewRequest(&flagopsv1.DriftRequest{Project: "shop"}))
		must(t, err)
		if d := drift.Msg.GetDeployments(); len(d) != 1 || d[0].GetDeployed() != "0.9.0" || d[0].GetDesired() != "1.0.0" {
			t.Fatalf("drift = %v", drift.Msg)
		}
		kinds := map[string]bool{}
		deadline := time.After(5 * time.Second)
		for !kinds["deployed-version"] {
			select {
			case <-deadline:
				t.Fatalf("watch saw %v", kinds)
			default:
			}
			if !w.Receive() {
				t.Fatalf("watch ended: %v", w.Err())
			}
			for _, ch := range w.Msg().GetChanges() {
				if !strings.HasPrefix(ch.GetKey(), "shop@prod") {
					t.Fatalf("filtered watch got key %q", ch.GetKey())
				}
				kinds[ch.GetKind()] = true
			}
		}
		if !kinds["version"] {
			t.Fatalf("watch saw %v; want the version change too", kinds)
		}
		_, err = c.Promotions.Promote(ctx, connect.NewRequest(&flagopsv1.PromoteRequest{Project: "shop", From: "prod", To: "prod"}))
		if connect.CodeOf(err) != connect.CodeInvalidArgument {
			t.Fatalf("promote into the same environment = %v", err)
		}
	})
}
