package cli

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"time"
	"unicode/utf8"

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
	var argoServer, argoToken, appNamespace, appsFile, versionField, versionSource string
	var argoTimeout time.Duration
	cmd := &cobra.Command{
		Use:   "argocd",
		Short: "Keep the Argo CD Applications of one target in step with flagops",
		Long: `The Argo CD agent manages, for one target, the Applications labelled
flagops.dev/target=TARGET (rendered as the project of their
flagops.dev/project label, or of their name), those labelled
flagops.dev/project=PROJECT without a target label, and those without flagops
labels whose name is a project's, in every namespace Argo CD serves (or only
--app-namespace). --apps-file names them instead. It follows flagops' change
log and, for every change that can affect a deployment, fetches the
deployment's render bundle:

  - with --version-field, when the desired version differs from the
    Application's, it patches that field (a JSON patch that tests the old
    value, so a concurrent edit is never overwritten) and, with --sync, syncs;
  - when the bundle's inputs hash moved (facts, flags or version changed) and
    the patch did not make Argo CD render anyway, it asks for a hard refresh
    of that Application only, so that the flagops plugin renders it again.

It reports the deployed version Argo CD compared as synced, health, and failed
syncs. Each Application has its own worker and every Argo CD call its
--argocd-timeout, so one slow Application does not hold up the others. The
Argo CD token needs applications get, update and sync on the managed
Applications; it is read from --argocd-token or FLAGOPS_ARGOCD_TOKEN and never
logged.`,
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
				f.Source = versionSource
				cfg.VersionField = f
			} else if versionSource != "" {
				return usagef("--version-source needs --version-field")
			}
			if appsFile != "" {
				apps, err := readAppsFile(appsFile, appNamespace)
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
			cfg.Projects = &argocd.Projects{Catalog: flagopsv1connect.NewCatalogServiceClient(http1Client(), base, connect.WithInterceptors(bearer(token)))}
			ag, err := argocd.New(cfg, &argocd.Feed{Changes: changes},
				&render.Client{BaseURL: base, Token: token, HTTP: http1Client()},
				&argocd.Client{BaseURL: argoServer, Token: argoToken, AppNamespace: appNamespace, Timeout: argoTimeout, HTTP: http1Client()},
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
	f.StringVar(&appNamespace, "app-namespace", "", "only the Applications of this namespace (default: every namespace Argo CD serves); also the namespace of --apps-file names without one")
	f.StringVar(&cfg.Selector, "selector", "", "label selector narrowing the Applications listed (default: all)")
	f.StringVar(&appsFile, "apps-file", "", "YAML file mapping Applications ([NAMESPACE/]NAME) to projects, instead of labels and names")
	f.StringVar(&versionField, "version-field", "", "where Applications hold the version: targetRevision, helm:PARAM, kustomize:IMAGE or plugin:PARAM (default: no version sync)")
	f.StringVar(&versionSource, "version-source", "", "in multi-source Applications, the source holding --version-field: its name, chart or repoURL (default: the one source that can)")
	f.BoolVar(&cfg.SyncAfterUpdate, "sync", false, "sync an Application after changing its version (asked again while Argo CD refuses)")
	f.DurationVar(&argoTimeout, "argocd-timeout", 30*time.Second, "give up an Argo CD call (a hard refresh included) after this long")
	f.IntVar(&cfg.Parallelism, "parallelism", 4, "how many Applications are worked on at once")
	f.BoolVar(&cfg.RefreshOnStart, "refresh-on-start", true, "hard-refresh every managed Application once at start")
	f.DurationVar(&cfg.StatusInterval, "status-interval", 30*time.Second, "how often to re-list Applications and report their status")
	return cmd
}

// readAppsFile reads "applications: {[NAMESPACE/]NAME: PROJECT, …}"; a
// name without a namespace is in namespace (Argo CD's own when empty).
func readAppsFile(path, namespace string) (map[argocd.AppKey]string, error) {
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
	apps := map[argocd.AppKey]string{}
	for name, project := range f.Applications {
		key := argocd.AppKey{Namespace: namespace, Name: name}
		if ns, n, ok := strings.Cut(name, "/"); ok {
			key = argocd.AppKey{Namespace: ns, Name: n}
		}
		if key.Name == "" || project == "" {
			return nil, usagef("apps file %s: applications.%s: want [NAMESPACE/]NAME: PROJECT", path, name)
		}
		apps[key] = project
	}
	return apps, nil
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
// nothing about what runs, so it is only logged. A failed sync is reported
// with status failed and Argo CD's message.
func (r rpcReporter) ReportDeployed(ctx context.Context, d argocd.DeployedReport) error {
	r.log.DebugContext(ctx, "deployed", "deployment", d.Project+"@"+d.Target, "application", d.Application,
		"version", d.Version, "sync", d.SyncStatus, "health", d.HealthStatus, "operation", d.OperationPhase, "revision", d.Revision)
	if d.Version == "" {
		return nil
	}
	msg := fmt.Sprintf("argocd application %s: sync %s, health %s", d.Application, d.SyncStatus, d.HealthStatus)
	status := argoStatus(d.HealthStatus)
	if d.SyncFailed() {
		status = "failed"
		msg = fmt.Sprintf("argocd application %s: sync %s: %s", d.Application, d.OperationPhase, d.OperationMessage)
	}
	switch {
	case len(d.Revisions) > 0:
		msg += ", revisions " + strings.Join(d.Revisions, ",")
	case d.Revision != "":
		msg += ", revision " + d.Revision
	}
	_, err := r.versions.ReportVersion(ctx, connect.NewRequest(&flagopsv1.ReportVersionRequest{
		Workspace: d.Workspace, Project: d.Project, Target: d.Target, Version: d.Version,
		Status: status, Message: truncate(msg, 1000),
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

// truncate shortens s to at most n bytes (on a rune boundary), as a
// version report's message has a length limit and Argo CD's operation
// messages have none.
func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n]
}
