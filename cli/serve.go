package cli

import (
	"fmt"
	"io"
	"log/slog"
	"runtime/debug"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/flagops/flagops/internal/domain"
	"github.com/flagops/flagops/internal/leader"
	"github.com/flagops/flagops/internal/ofrep"
	"github.com/flagops/flagops/internal/server"
	"github.com/flagops/flagops/internal/store"
)

func (a *app) serveCommand() *cobra.Command {
	var cfg server.Config
	var level, format string
	var ofrepKeys []string
	cmd := &cobra.Command{
		Use:   "serve",
		Short: "Run the flagops server",
		Long: `Serve opens the store (SQLite under --data-dir, or PostgreSQL with
--database-url), applies pending migrations and serves the API, OFREP and the
operator endpoints (/healthz, /readyz, /metrics) on one port until it gets
SIGINT or SIGTERM; then it finishes in-flight requests and stops.

Every call needs an API key. On the first start with no key, serve creates an
admin key and writes its token to <data-dir>/admin.token (mode 0600); the
CLI on the same machine finds it there. --admin-token-file gives that key
the token in a file instead (a mounted Kubernetes Secret, say; fo_ and 43
characters of 0-9A-Za-z) and writes nothing; --no-bootstrap-admin creates
no key at all, for keys made out of band (docs/access.md). Secret values are encrypted under the
master key in <data-dir>/master.key (created on first start), or the keys in
FLAGOPS_MASTER_KEY.

OFREP (/ofrep/v1/evaluate/flags, /ofrep/v1/events) takes an API key with the
evaluator role bound to one environment (flagops keys create sdk-prod --role
evaluator --scope environment/prod), sent as "Authorization: Bearer KEY" or
"X-API-Key: KEY"; the key selects the environment. --ofrep-key adds static
development keys: KEY=ENV evaluates in environment ENV of the default
workspace, KEY=ENV/PROJECT only in that project, KEY=WORKSPACE:ENV[/PROJECT]
in another workspace. Treat them as secrets: prefer FLAGOPS_OFREP_KEY.`,
		Example: `  flagops serve
  flagops serve --listen 0.0.0.0:8080 --data-dir /var/lib/flagops --log-format json
  FLAGOPS_DATABASE_URL=postgres://flagops@db/flagops flagops serve
  FLAGOPS_OFREP_KEY=dev-prod-key=prod/shop flagops serve`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			logger, err := newLogger(a.stderr, level, format)
			if err != nil {
				return err
			}
			cfg.Logger = logger
			if cfg.OFREPKeys, err = parseOFREPKeys(ofrepKeys); err != nil {
				return err
			}
			return server.Run(cmd.Context(), cfg)
		},
	}
	f := cmd.Flags()
	f.StringVar(&cfg.Listen, "listen", "127.0.0.1:8080", "address to listen on")
	f.StringVar(&cfg.DataDir, "data-dir", "./flagops-data", "directory of the SQLite database")
	f.StringVar(&cfg.DatabaseURL, "database-url", "", "PostgreSQL URL (postgres://…); SQLite under --data-dir when empty")
	f.Int64Var(&cfg.MaxRequestBytes, "max-request-bytes", 4<<20, "largest request body accepted (larger: 413, invalid_argument)")
	f.IntVar(&cfg.MaxConnections, "max-connections", server.DefaultMaxConnections, "connections served at once; more wait to be accepted (negative: no cap)")
	f.DurationVar(&cfg.ReadHeaderTimeout, "read-header-timeout", 10*time.Second, "time a client has to send a request's headers")
	f.DurationVar(&cfg.ReadTimeout, "read-timeout", 30*time.Second, "time a client has to send a whole request; streams (watch, OFREP events) live on once their request is read")
	f.DurationVar(&cfg.IdleTimeout, "idle-timeout", 120*time.Second, "time an idle keep-alive connection stays open")
	f.IntVar(&cfg.Webhooks.MaxAttempts, "webhook-max-attempts", 0, "attempts after which a webhook event a receiver keeps refusing is parked (0: no limit by count)")
	f.DurationVar(&cfg.Webhooks.GiveUpAfter, "webhook-give-up-after", time.Hour, "time after an event's first attempt when a webhook event a receiver keeps refusing is parked (-1s: no limit by time)")
	f.StringVar(&cfg.GitWritebackConfig, "git-writeback-config", "", "YAML file of git write-back rules (docs/integrations.md); none when empty")
	f.DurationVar(&cfg.LeaseDuration, "lease-duration", leader.DefaultLeaseDuration, "how long a background job's leadership lease lasts without renewal: how long other instances wait for a stalled leader")
	f.DurationVar(&cfg.LeaseRenewInterval, "lease-renew-interval", 0, "how often the leader renews its leases, shorter than --lease-duration (0: 5s, or a third of --lease-duration when that is shorter)")
	f.BoolVar(&cfg.InsecureDev, "insecure-dev", false, "turn authentication off (refused unless --listen is a loopback address)")
	f.StringVar(&cfg.AdminTokenPath, "admin-token-file", "", "file holding the bootstrap admin key's token (fo_…), used on the first start instead of writing a generated one to <data-dir>/admin.token")
	f.BoolVar(&cfg.NoBootstrapAdmin, "no-bootstrap-admin", false, "create no admin key on the first start: keys are made out of band")
	f.StringVar(&cfg.TLSCert, "tls-cert", "", "PEM certificate file; serve HTTPS (with --tls-key)")
	f.StringVar(&cfg.TLSKey, "tls-key", "", "PEM private key file of --tls-cert")
	f.StringVar(&level, "log-level", "info", "debug|info|warn|error")
	f.StringVar(&format, "log-format", "text", "text|json")
	f.StringArrayVar(&ofrepKeys, "ofrep-key", nil, "development OFREP key KEY=[WORKSPACE:]ENV[/PROJECT], repeatable")
	f.StringVar(&cfg.PublicURL, "public-url", "", "externally visible base URL OFREP advertises (default: from each request)")
	f.Float64Var(&cfg.OFREPRateLimit.PerSecond, "ofrep-rate-limit", 0, "flag evaluations per second per key, OFREP and Connect Evaluate together, before 429 with Retry-After (0: no limit)")
	f.IntVar(&cfg.OFREPRateLimit.Burst, "ofrep-rate-burst", 0, "flag evaluations a key may send at once (at least 1)")
	return cmd
}

// parseOFREPKeys reads --ofrep-key values: KEY=[WORKSPACE:]ENV[/PROJECT].
func parseOFREPKeys(in []string) (map[string]ofrep.Principal, error) {
	if len(in) == 0 {
		return nil, nil
	}
	out := make(map[string]ofrep.Principal, len(in))
	for _, kv := range in {
		key, scope, ok := strings.Cut(kv, "=")
		if !ok || key == "" || scope == "" {
			return nil, usagef("--ofrep-key: want KEY=[WORKSPACE:]ENV[/PROJECT], got a value without '='")
		}
		p := ofrep.Principal{Workspace: domain.DefaultWorkspace, KeyID: fmt.Sprintf("dev-%d", len(out)+1)}
		if ws, rest, ok := strings.Cut(scope, ":"); ok {
			p.Workspace, scope = ws, rest
		}
		p.Environment, p.Project, _ = strings.Cut(scope, "/")
		for field, v := range map[string]string{"workspace": p.Workspace, "environment": p.Environment} {
			if err := domain.ValidateName(field, v); err != nil {
				return nil, usagef("--ofrep-key %s: %v", field, err)
			}
		}
		if p.Project != "" {
			if err := domain.ValidateName("project", p.Project); err != nil {
				return nil, usagef("--ofrep-key: %v", err)
			}
		}
		out[key] = p
	}
	return out, nil
}

// newLogger builds the server's logger on w.
func newLogger(w io.Writer, level, format string) (*slog.Logger, error) {
	var lv slog.Level
	if err := lv.UnmarshalText([]byte(level)); err != nil {
		return nil, usagef("--log-level %q: want debug, info, warn or error", level)
	}
	opts := &slog.HandlerOptions{Level: lv}
	switch strings.ToLower(format) {
	case "text":
		return slog.New(slog.NewTextHandler(w, opts)), nil
	case "json":
		return slog.New(slog.NewJSONHandler(w, opts)), nil
	}
	return nil, usagef("--log-format %q: want text or json", format)
}

func (a *app) migrateCommand() *cobra.Command {
	var opt store.Options
	cmd := &cobra.Command{
		Use:   "migrate",
		Short: "Apply pending database migrations",
		Long: `Migrate opens the store and applies every pending migration, then prints how
many it applied and the schema version. serve migrates on start too; run
migrate on its own to upgrade a PostgreSQL database before rolling out new
servers.`,
		Example: `  flagops migrate --data-dir /var/lib/flagops
  FLAGOPS_DATABASE_URL=postgres://flagops@db/flagops flagops migrate`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx := cmd.Context()
			opt.Logger = slog.New(slog.NewTextHandler(a.stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
			st, err := store.Open(ctx, opt)
			if err != nil {
				return fmt.Errorf("open store: %w", err)
			}
			defer st.Close()
			n, err := st.Migrate(ctx)
			if err != nil {
				return fmt.Errorf("migrate: %w", err)
			}
			applied, latest, err := st.MigrationStatus(ctx)
			if err != nil {
				return fmt.Errorf("migration status: %w", err)
			}
			fmt.Fprintf(a.stdout, "applied %d %s; schema version %d (latest %d)\n", n, plural(n, "migration", "migrations"), applied, latest)
			return nil
		},
	}
	cmd.Flags().StringVar(&opt.DataDir, "data-dir", "./flagops-data", "directory of the SQLite database")
	cmd.Flags().StringVar(&opt.DatabaseURL, "database-url", "", "PostgreSQL URL (postgres://…); SQLite under --data-dir when empty")
	return cmd
}

func (a *app) versionCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "version",
		Short: "Print the build version, or set, get and report deployment versions",
		Long: `Version alone prints the version flagops was built as, and the Go version.

Its subcommands manage the versions of deployments: the desired version of a
project in an environment (or pinned on one target), what agents report as
deployed, rollbacks and the history of desired versions.`,
		Example: `  flagops version
  flagops version set shop prod 1.4.2
  flagops version get shop prod`,
		Args: cobra.NoArgs,
		Run: func(*cobra.Command, []string) {
			v := Version
			if bi, ok := debug.ReadBuildInfo(); ok && v == "dev" && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
				v = bi.Main.Version
			}
			goVersion := "unknown"
			if bi, ok := debug.ReadBuildInfo(); ok {
				goVersion = bi.GoVersion
			}
			fmt.Fprintf(a.stdout, "flagops %s (%s)\n", v, goVersion)
		},
	}
	a.addVersionCommands(cmd)
	return cmd
}
