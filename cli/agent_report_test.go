package cli

import (
	"context"
	"log/slog"
	"strings"
	"testing"

	"connectrpc.com/connect"

	flagopsv1 "github.com/flagops/flagops/gen/flagops/v1"
	"github.com/flagops/flagops/gen/flagops/v1/flagopsv1connect"
	"github.com/flagops/flagops/internal/argocd"
)

// TestAgentReportsThroughReportVersion reports what Argo CD runs with an
// agent key bound to the target, as "flagops agent argocd" does, and reads
// it back as the deployment's deployed version.
func TestAgentReportsThroughReportVersion(t *testing.T) {
	url, dataDir := startServer(t)
	setup := []string{"FLAGOPS_SERVER=" + url, "FLAGOPS_DATA_DIR=" + dataDir}
	if code, _, stderr := runCLIWithStdin(t, setup, "kind: Environment\nname: prod\n---\nkind: Target\nname: eu-1\nenvironment: prod\n---\nkind: Project\nname: shop\nenvironments: [prod]\n", "apply", "-f", "-"); code != 0 {
		t.Fatalf("setup: %s", stderr)
	}
	code, out, stderr := runCLIWithStdin(t, setup, "", "keys", "create", "eu-1-agent", "--role", "agent@target/eu-1")
	if code != 0 {
		t.Fatalf("create key: %s", stderr)
	}
	agentKey := strings.TrimSpace(out)
	r := rpcReporter{versions: flagopsv1connect.NewVersionServiceClient(http1Client(), url, connect.WithInterceptors(bearer(agentKey))),
		log: slog.New(slog.DiscardHandler)}
	ctx := context.Background()
	for _, tc := range []struct {
		name string
		rep  argocd.DeployedReport
		want string // the deployed version read back
	}{
		{"not synced: nothing reported", argocd.DeployedReport{Workspace: "default", Project: "shop", Target: "eu-1", Application: "shop-eu-1", SyncStatus: "OutOfSync"}, ""},
		{"synced and healthy", argocd.DeployedReport{Workspace: "default", Project: "shop", Target: "eu-1", Application: "shop-eu-1", Version: "1.4.0", SyncStatus: "Synced", HealthStatus: "Healthy", Revision: "abc"}, "1.4.0"},
		// Issue 17.5: a failed sync is a failed deployment of the version
		// it tried, with Argo CD's message.
		{"sync failed", argocd.DeployedReport{Workspace: "default", Project: "shop", Target: "eu-1", Application: "argocd/shop-eu-1", Version: "1.5.0",
			SyncStatus: "OutOfSync", HealthStatus: "Healthy", OperationPhase: "Failed", OperationMessage: "one or more objects failed to apply",
			Revisions: []string{"abc", "def"}}, "1.5.0"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if err := r.ReportDeployed(ctx, tc.rep); err != nil {
				t.Fatal(err)
			}
			admin := flagopsv1connect.NewVersionServiceClient(http1Client(), url, connect.WithInterceptors(bearer(adminToken(t, dataDir))))
			res, err := admin.GetVersions(ctx, connect.NewRequest(&flagopsv1.GetVersionsRequest{Project: "shop", Target: "eu-1"}))
			if err != nil {
				t.Fatal(err)
			}
			if d := res.Msg.GetDeployments(); len(d) != 1 || d[0].GetDeployed() != tc.want {
				t.Fatalf("deployments %v, want deployed %q", d, tc.want)
			}
			if tc.rep.SyncFailed() {
				if d := res.Msg.GetDeployments()[0]; d.GetStatus() != "failed" || !strings.Contains(d.GetMessage(), "failed to apply") {
					t.Fatalf("deployment %v: want status failed with Argo CD's message", d)
				}
			}
		})
	}
	t.Run("another target is denied", func(t *testing.T) {
		err := r.ReportDeployed(ctx, argocd.DeployedReport{Workspace: "default", Project: "shop", Target: "us-1", Version: "1.4.0"})
		if connect.CodeOf(err) != connect.CodePermissionDenied {
			t.Fatalf("error %v, want permission denied", err)
		}
	})
}

// TestReadAppsFile: issue 17.3. Apps-file names may carry a namespace;
// those without one are in --app-namespace.
func TestReadAppsFile(t *testing.T) {
	dir := writeFiles(t, map[string]string{"apps.yaml": "applications:\n  team-a/shop: shop\n  cart: cart\n"})
	got, err := readAppsFile(dir+"/apps.yaml", "team-b")
	if err != nil {
		t.Fatal(err)
	}
	want := map[argocd.AppKey]string{{Namespace: "team-a", Name: "shop"}: "shop", {Namespace: "team-b", Name: "cart"}: "cart"}
	if len(got) != len(want) {
		t.Fatalf("apps %v, want %v", got, want)
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("apps[%v] = %q, want %q", k, got[k], v)
		}
	}
}
