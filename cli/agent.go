package cli

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"time"

	"connectrpc.com/connect"
	"github.com/spf13/cobra"
	"go.yaml.in/yaml/v3"

	flagopsv1 "github.com/flagops/flagops/gen/flagops/v1"
	"github.com/flagops/flagops/gen/flagops/v1/flagopsv1connect"
	"github.com/flagops/flagops/internal/argocd"
	"github.com/flagops/flagops/internal/render"
)

func (a *app) agentCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "agent",
		Short: "Run an agent that keeps a deployment tool in step with flagops",
		Long: `An agent runs next to a deployment tool, follows flagops' change log and
applies what changed: it re-renders what the data changed, sets the versions
flagops wants, and reports what is actually deployed. "agent argocd" is the
one for Argo CD.`,
		Example: `  flagops agent argocd --target eu-1 --argocd-server https://argocd.example.com`,
		Args:    cobra.NoArgs,
	}
	cmd.AddCommand(a.agentArgoCDCommand())
	return cmd
}

func (a *app) agentArgoCDCommand() *cobra.Command {
	var cfg argocd.Config
	var argoServer, argoToken, appNamespace, appsFile, versionField string
	cmd := &cobra.Command{
		Use:   "argocd",
		Short: "Keep the Argo CD Applications of one target in step with flagops",
		Long: `The Argo CD agent manages the Applications labelled
flagops.dev/target=TARGET and flagops.dev/project=PROJECT (or those named in
--apps-file). It follows flagops' change log and, for every change that can
affect a deployment, fetches the deployment's render bundle:

  - when the bundle's inputs hash moved (facts, flags or version changed),
    it asks Argo CD for a hard refresh of that Application only, so that the
    flagops plugin renders it again;
  - with --version-field, when the desired version differs from the
    Application's, it sets the field (and syncs with --sync).

It reports the deployed version and health it reads from Argo CD. The Argo
CD token needs applications get, update and sync on the managed
Applications; it is read from --argocd-token or FLAGOPS_ARGOCD_TOKEN and
never logged.`,
		Example: `  FLAGOPS_ARGOCD_TOKEN=… flagops agent argocd --target eu-1 \
    --argocd-server https://argocd.example.com --version-field helm:image.tag --sync`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if cfg.Target == "" {
				return usagef("--target is required")
			}
			if argoServer == "" {
				return usagef("--argocd-server is required")
			}
			if versionField != "" {
				f, err := argocd.ParseVersionField(versionField)
				if err != nil {
					return usageError{err}
				}
				cfg.VersionField = f
			}
			if appsFile != "" {
				apps, err := readAppsFile(appsFile)
				if err != nil {
					return err
				}
				cfg.Static = apps
			}
			cfg.Workspace = a.workspace
			log := slog.New(slog.NewTextHandler(a.stderr, nil))
			cfg.Logger = log
			base := strings.TrimRight(a.server, "/")
			token := a.resolveToken()
			changes := flagopsv1connect.NewChangeServiceClient(http1Client(), base, connect.WithInterceptors(bearer(token)))
			ag, err := argocd.New(cfg, &argocd.Feed{Changes: changes},
				&render.Client{BaseURL: base, Token: token, HTTP: http1Client()},
				&argocd.Client{BaseURL: argoServer, Token: argoToken, AppNamespace: appNamespace, HTTP: http1Client()},
				rpcReporter{versions: flagopsv1connect.NewVersionServiceClient(http1Client(), base, connect.WithInterceptors(bearer(token))), log: log})
			if err != nil {
				return err
			}
			log.Info("argocd agent starting", "target", cfg.Target, "argocd", argoServer, "flagops", base)
			return ag.Run(cmd.Context())
		},
	}
	a.addClientFlags(cmd)
	f := cmd.Flags()
	f.StringVar(&cfg.Target, "target", "", "the target whose Applications the agent manages (required)")
	f.StringVar(&argoServer, "argocd-server", "", "Argo CD's URL, https://argocd.example.com (required)")
	f.StringVar(&argoToken, "argocd-token", "", "Argo CD API token (prefer FLAGOPS_ARGOCD_TOKEN)")
	f.StringVar(&appNamespace, "app-namespace", "", "namespace of the Applications, when not Argo CD's own")
	f.StringVar(&cfg.Selector, "selector", "", "label selector of the managed Applications (default flagops.dev/target=TARGET)")
	f.StringVar(&appsFile, "apps-file", "", "YAML file mapping Application names to projects, instead of labels")
	f.StringVar(&versionField, "version-field", "", "where Applications hold the version: targetRevision, helm:PARAM or kustomize:IMAGE (default: no version sync)")
	f.BoolVar(&cfg.SyncAfterUpdate, "sync", false, "sync an Application after changing its version")
	f.BoolVar(&cfg.RefreshOnStart, "refresh-on-start", true, "hard-refresh every managed Application once at start")
	f.DurationVar(&cfg.StatusInterval, "status-interval", 30*time.Second, "how often to re-list Applications and report their status")
	return cmd
}

// readAppsFile reads "applications: {NAME: PROJECT, …}".
func readAppsFile(path string) (map[string]string, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read apps file: %w", err)
	}
	var f struct {
		Applications map[string]string `yaml:"applications"`
	}
	dec := yaml.NewDecoder(strings.NewReader(string(b)))
	dec.KnownFields(true)
	if err := dec.Decode(&f); err != nil {
		return nil, usagef("apps file %s: %v", path, err)
	}
	if len(f.Applications) == 0 {
		return nil, usagef("apps file %s: no applications", path)
	}
	return f.Applications, nil
}

// rpcReporter reports what Argo CD runs through VersionService.ReportVersion,
// so that flagops' drift and promotion soak see it. The agent's key needs
// versions.report at the target (the agent role).
type rpcReporter struct {
	versions flagopsv1connect.VersionServiceClient
	log      *slog.Logger
}

var _ argocd.VersionReporter = rpcReporter{}

// ReportDeployed implements argocd.VersionReporter. A report without a
// version (the Application is not synced, or has no version field) says
// nothing about what runs, so it is only logged.
func (r rpcReporter) ReportDeployed(ctx context.Context, d argocd.DeployedReport) error {
	r.log.DebugContext(ctx, "deployed", "deployment", d.Project+"@"+d.Target, "application", d.Application,
		"version", d.Version, "sync", d.SyncStatus, "health", d.HealthStatus, "revision", d.Revision)
	if d.Version == "" {
		return nil
	}
	msg := fmt.Sprintf("argocd application %s: sync %s, health %s", d.Application, d.SyncStatus, d.HealthStatus)
	if d.Revision != "" {
		msg += ", revision " + d.Revision
	}
	_, err := r.versions.ReportVersion(ctx, connect.NewRequest(&flagopsv1.ReportVersionRequest{
		Workspace: d.Workspace, Project: d.Project, Target: d.Target, Version: d.Version,
		Status: argoStatus(d.HealthStatus), Message: msg,
	}))
	if err != nil {
		return fmt.Errorf("report version %s of %s@%s: %w", d.Version, d.Project, d.Target, err)
	}
	return nil
}

// argoStatus maps Argo CD's health to a flagops deployment status; a health
// flagops has no word for (Missing, Unknown, Suspended) reports none.
func argoStatus(health string) string {
	switch health {
	case "Healthy":
		return "healthy"
	case "Progressing":
		return "progressing"
	case "Degraded":
		return "degraded"
	}
	return ""
}
