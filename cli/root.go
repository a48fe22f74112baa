// Package cli is the flagops command line: the server (serve, migrate) and a
// client of the Connect API for people and scripts (apply, get, delete,
// facts, history, watch). Commands are built per call of Main, so that tests
// run them in-process with their own streams and environment.
package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"time"

	"connectrpc.com/connect"
	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	flagopsv1 "github.com/flagops/flagops/gen/flagops/v1"
	"github.com/flagops/flagops/gen/flagops/v1/flagopsv1connect"
)

// Version is the build version, set with -ldflags "-X github.com/flagops/flagops/cli.Version=v1.2.3".
var Version = "dev"

// EnvPrefix prefixes the environment variable of every flag:
// --data-dir reads FLAGOPS_DATA_DIR.
const EnvPrefix = "FLAGOPS_"

// app is the state one run of the command line shares between commands.
type app struct {
	stdin          io.Reader
	stdout, stderr io.Writer
	// lookupEnv reads the environment (os.LookupEnv outside tests).
	lookupEnv func(string) (string, bool)
	// environ lists the environment (os.Environ outside tests; nil: empty),
	// for commands that read variables by prefix (render: ARGOCD_ENV_*).
	environ func() []string
	// now is the clock for ages and relative times.
	now func() time.Time

	// Client settings, bound to persistent flags of client commands.
	server, token, workspace string
	// tokenHint says which token sources resolveToken tried when it found
	// none to send ("" when it found one).
	tokenHint string
}

// Main runs the command line with args (without the program name) and returns
// the process exit code: 0 on success, 1 on error, 2 on a usage error. ctx
// ends long-running commands (serve, watch) when it is cancelled.
func Main(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	a := &app{stdin: stdin, stdout: stdout, stderr: stderr, lookupEnv: os.LookupEnv, environ: os.Environ, now: time.Now}
	return a.run(ctx, args)
}

func (a *app) run(ctx context.Context, args []string) int {
	root := a.rootCommand()
	root.SetArgs(args)
	root.SetIn(a.stdin)
	root.SetOut(a.stdout)
	root.SetErr(a.stderr)
	err := root.ExecuteContext(ctx)
	if err == nil {
		return 0
	}
	fmt.Fprintln(a.stderr, "Error:", describeError(a.withTokenHint(err)))
	var ue usageError
	if errors.As(err, &ue) {
		return 2
	}
	return 1
}

func (a *app) rootCommand() *cobra.Command {
	root := &cobra.Command{
		Use:   "flagops",
		Short: "The flagops control plane: catalog, facts, flags and versions",
		Long: `flagops is the source of truth for what runs where, and how: the deployment
catalog (environments, targets, projects), the facts about each deployment,
and every change to them as a numbered revision in one change log.

"flagops serve" runs the server; the other commands talk to it over its API.
Every flag can also be set with an environment variable FLAGOPS_<FLAG>, for
example FLAGOPS_SERVER for --server and FLAGOPS_DATA_DIR for --data-dir; a
flag given on the command line wins. --prune and --prune-kinds, which
delete, are read from the command line only.`,
		Example: `  flagops serve --data-dir /var/lib/flagops
  flagops apply -f catalog.yaml
  flagops get environments
  flagops facts resolve --project shop --target eu-1 -o json`,
		SilenceUsage:  true,
		SilenceErrors: true,
		// Every command gets its unset flags from the environment before it runs.
		PersistentPreRunE: func(cmd *cobra.Command, _ []string) error {
			return bindEnv(cmd.Flags(), a.lookupEnv)
		},
	}
	// Shell completion is left out until it is documented like every other
	// command.
	root.CompletionOptions.DisableDefaultCmd = true
	root.SetFlagErrorFunc(func(_ *cobra.Command, err error) error { return usageError{err} })
	root.AddCommand(
		a.serveCommand(),
		a.migrateCommand(),
		a.versionCommand(),
		a.applyCommand(),
		a.diffCommand(),
		a.getCommand(),
		a.deleteCommand(),
		a.factsCommand(),
		a.historyCommand(),
		a.watchCommand(),
		a.renderCommand(),
		a.agentCommand(),
		a.flagsCommand(),
		a.segmentsCommand(),
		a.evalCommand(),
		a.webhooksCommand(),
		a.hooksCommand(),
		a.driftCommand(),
		a.releasesCommand(),
		a.promoteCommand(),
		a.promotionsCommand(),
		a.secretsCommand(),
		a.keysCommand(),
		a.whoamiCommand(),
		a.uiCommand(),
	)
	return root
}

// bindEnv sets every flag the command line did not set from its environment
// variable, FLAGOPS_ followed by the flag name in upper case with '-' as '_'.
// A repeatable flag takes a comma-separated list. It is applied once,
// generically, so that a new flag is bound without anyone remembering to.
func bindEnv(flags *pflag.FlagSet, lookupEnv func(string) (string, bool)) error {
	var problems []error
	flags.VisitAll(func(f *pflag.Flag) {
		if f.Changed || f.Name == "help" || f.Annotations[noEnv] != nil {
			return
		}
		name := EnvName(f.Name)
		v, ok := lookupEnv(name)
		if !ok {
			return
		}
		if err := flags.Set(f.Name, v); err != nil {
			problems = append(problems, usageError{fmt.Errorf("environment variable %s for --%s: %w", name, f.Name, err)})
		}
	})
	return errors.Join(problems...)
}

// noEnv marks a flag that no environment variable sets: one that deletes
// (apply --prune) must be asked for on the command line every time.
const noEnv = "flagops_no_env"

// EnvName returns the environment variable that sets a flag.
func EnvName(flag string) string {
	return EnvPrefix + strings.ToUpper(strings.ReplaceAll(flag, "-", "_"))
}

// usageError marks a mistake on the command line (exit code 2).
type usageError struct{ err error }

func (e usageError) Error() string { return e.err.Error() }
func (e usageError) Unwrap() error { return e.err }

func usagef(format string, args ...any) error { return usageError{fmt.Errorf(format, args...)} }

// describeError writes err for people: a Connect error shows its code and
// message, then the field path of every ErrorDetail the server attached, on
// its own line so that scripts and people find it without parsing the message.
func describeError(err error) string {
	var ce *connect.Error
	if !errors.As(err, &ce) {
		return err.Error()
	}
	msg := err.Error()
	var fields []string
	for _, d := range ce.Details() {
		v, derr := d.Value()
		if derr != nil {
			continue
		}
		if ed, ok := v.(*flagopsv1.ErrorDetail); ok {
			fields = append(fields, "field: "+ed.GetField())
		}
	}
	if len(fields) > 0 {
		msg += "\n  " + strings.Join(fields, "\n  ")
	}
	return msg
}

// addClientFlags adds the settings every client command needs.
func (a *app) addClientFlags(cmd *cobra.Command) {
	cmd.PersistentFlags().StringVar(&a.server, "server", "http://127.0.0.1:8080", "base URL of the flagops server")
	cmd.PersistentFlags().StringVar(&a.token, "token", "", "API token, sent as Authorization: Bearer TOKEN (default: the admin.token of a local server's data directory)")
	cmd.PersistentFlags().StringVar(&a.workspace, "workspace", "default", "workspace to work in")
}

// clients are the API clients of one command.
type clients struct {
	catalog    flagopsv1connect.CatalogServiceClient
	facts      flagopsv1connect.FactServiceClient
	changes    flagopsv1connect.ChangeServiceClient
	flags      flagopsv1connect.FlagServiceClient
	webhooks   flagopsv1connect.WebhookServiceClient
	versions   flagopsv1connect.VersionServiceClient
	releases   flagopsv1connect.ReleaseServiceClient
	promotions flagopsv1connect.PromotionServiceClient
	secrets    flagopsv1connect.SecretServiceClient
	access     flagopsv1connect.AccessServiceClient
	apply      flagopsv1connect.ApplyServiceClient
}

func (a *app) clients() clients {
	base := strings.TrimRight(a.server, "/")
	hc := http1Client()
	opts := []connect.ClientOption{connect.WithInterceptors(bearer(a.resolveToken()))}
	return clients{
		catalog:    flagopsv1connect.NewCatalogServiceClient(hc, base, opts...),
		facts:      flagopsv1connect.NewFactServiceClient(hc, base, opts...),
		changes:    flagopsv1connect.NewChangeServiceClient(hc, base, opts...),
		flags:      flagopsv1connect.NewFlagServiceClient(hc, base, opts...),
		webhooks:   flagopsv1connect.NewWebhookServiceClient(hc, base, opts...),
		versions:   flagopsv1connect.NewVersionServiceClient(hc, base, opts...),
		releases:   flagopsv1connect.NewReleaseServiceClient(hc, base, opts...),
		promotions: flagopsv1connect.NewPromotionServiceClient(hc, base, opts...),
		secrets:    flagopsv1connect.NewSecretServiceClient(hc, base, opts...),
		access:     flagopsv1connect.NewAccessServiceClient(hc, base, opts...),
		apply:      flagopsv1connect.NewApplyServiceClient(hc, base, opts...),
	}
}

// bearer sends the token on every call, unary and streaming.
type bearer string

func (b bearer) WrapUnary(next connect.UnaryFunc) connect.UnaryFunc {
	return func(ctx context.Context, req connect.AnyRequest) (connect.AnyResponse, error) {
		if b != "" && req.Spec().IsClient {
			req.Header().Set("Authorization", "Bearer "+string(b))
		}
		return next(ctx, req)
	}
}

func (b bearer) WrapStreamingClient(next connect.StreamingClientFunc) connect.StreamingClientFunc {
	return func(ctx context.Context, spec connect.Spec) connect.StreamingClientConn {
		conn := next(ctx, spec)
		if b != "" {
			conn.RequestHeader().Set("Authorization", "Bearer "+string(b))
		}
		return conn
	}
}

func (b bearer) WrapStreamingHandler(next connect.StreamingHandlerFunc) connect.StreamingHandlerFunc {
	return next
}

// isNotFound reports whether a call failed because the object does not exist.
func isNotFound(err error) bool { return connect.CodeOf(err) == connect.CodeNotFound }

// http1Client is the HTTP client of every command. The Connect protocol runs
// on HTTP/1.1, streams included, so no HTTP/2 set-up is needed for http://
// servers. It has no timeout: watch streams for as long as the user wants,
// and each command's context bounds its calls instead.
func http1Client() *http.Client { return &http.Client{} }
