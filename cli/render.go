package cli

import (
	"context"
	"fmt"
	"os"
	"time"

	"github.com/spf13/cobra"

	"github.com/flagops/flagops/internal/render"
)

// argoVariables are the build variables render reads by name, so that they
// are seen even when the environment cannot be listed.
var argoVariables = []string{"ARGOCD_APP_NAME", "ARGOCD_APP_NAMESPACE", "ARGOCD_APP_REVISION",
	"ARGOCD_APP_REVISION_SHORT", "ARGOCD_APP_SOURCE_PATH", "ARGOCD_APP_SOURCE_REPO_URL",
	"ARGOCD_APP_SOURCE_TARGET_REVISION", "ARGOCD_APP_PARAMETERS", "ARGOCD_APP_PROJECT_NAME", "KUBE_VERSION",
	"KUBE_API_VERSIONS", "PARAM_PROJECT", "PARAM_TARGET", "PARAM_WORKSPACE"}

func (a *app) renderCommand() *cobra.Command {
	var explicit render.Target
	var dir string
	var timeout time.Duration
	var limits render.Limits
	var discover bool
	cmd := &cobra.Command{
		Use:   "render",
		Short: "Render a deployment's manifests (the Argo CD config management plugin)",
		Long: `Render fetches one deployment's bundle (facts, flags, version, and the
secrets the templates name) in one request and renders every *.tmpl file of
the source directory, recursively and sorted, with Go templates and the sprig
functions. Other *.yaml and *.yml files pass through unchanged. The output is
one multi-document YAML stream on stdout, written only when everything
rendered; errors go to stderr, naming the file, the line and column and what
failed (the action, the missing key), and never template data: no secret, no
value a template computed (a fail message is shown only when it is written
in the template). Rendering is bounded: past --render-timeout or
--max-output (also the largest value one template function may make, and
lists of until, untilStep and seq hold at most a sixteenth of it in items)
it stops with an error naming the limit.

In Argo CD it runs as the generate command of the flagops plugin and reads
the build environment (ARGOCD_APP_NAME, ARGOCD_APP_PARAMETERS, ARGOCD_ENV_*…).
The deployment is taken, for project and target each, from the first of:
--project/--target (or FLAGOPS_PROJECT/FLAGOPS_TARGET), the Application's
plugin env FLAGOPS_PROJECT/FLAGOPS_TARGET, the plugin parameters project and
target, flagops.yaml in the source directory, and the application name
PROJECT--TARGET. The server is --server (FLAGOPS_SERVER) and the token
--token (FLAGOPS_TOKEN), both from the sidecar's own settings only: whoever
can edit an Application controls its plugin env and parameters, so neither
may choose where the sidecar's token is sent (an Application's plugin env
FLAGOPS_SERVER is ignored), and no token file is read from the source
directory inside Argo CD.`,
		Example: `  flagops render --project shop --target eu-1 --dir ./deploy
  ARGOCD_APP_NAME=shop--eu-1 flagops render`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if discover {
				found, err := render.Discover(os.DirFS(dir))
				if err == nil && found != "" {
					fmt.Fprintln(a.stdout, found)
				}
				return err
			}
			environ := a.environList()
			argo, err := render.ParseArgoEnv(environ)
			if err != nil {
				return err
			}
			if cmd.Flags().Changed("workspace") {
				explicit.Workspace = a.workspace
			}
			fsys := os.DirFS(dir)
			cfg, err := render.ParseConfig(fsys)
			if err != nil {
				return err
			}
			t, err := render.Choose(explicit, argo, cfg)
			if err != nil {
				return err
			}
			ctx, cancel := context.WithTimeout(cmd.Context(), timeout)
			defer cancel()
			// The server and token are the sidecar's: never the
			// Application's plugin env (ARGOCD_ENV_*). Inside Argo CD the
			// working directory is the Application's repository, so the
			// ./flagops-data token file resolveToken falls back to is not
			// read there.
			token := a.token
			if argo.AppName == "" {
				token = a.resolveToken()
			}
			out, err := render.GenerateWith(ctx, fsys, t, argo, &render.Client{BaseURL: a.server, Token: token, HTTP: http1Client()}, limits)
			if err != nil {
				return err
			}
			_, err = a.stdout.Write(out)
			return err
		},
	}
	a.addClientFlags(cmd)
	cmd.Flags().StringVar(&explicit.Project, "project", "", "project of the deployment to render")
	cmd.Flags().StringVar(&explicit.Target, "target", "", "target of the deployment to render")
	cmd.Flags().StringVar(&dir, "dir", ".", "source directory holding the templates")
	cmd.Flags().BoolVar(&discover, "discover", false, "print the first *.tmpl file or flagops.yaml of --dir and exit (the plugin's discovery)")
	cmd.Flags().DurationVar(&timeout, "timeout", 30*time.Second, "give up fetching the bundle after this long")
	cmd.Flags().DurationVar(&limits.Timeout, "render-timeout", render.DefaultTimeout, "stop executing the templates after this long")
	cmd.Flags().Int64Var(&limits.MaxOutput, "max-output", render.DefaultMaxOutput, "largest rendered output, and largest value a template function may make, in bytes")
	return cmd
}

// environList returns the environment as KEY=VALUE lines: the listed
// environment, plus the build variables render reads by name.
func (a *app) environList() []string {
	var env []string
	if a.environ != nil {
		env = a.environ()
	}
	for _, k := range argoVariables {
		if v, ok := a.lookupEnv(k); ok {
			env = append(env, k+"="+v)
		}
	}
	return env
}
