// Package server runs flagops: it opens and migrates the store, starts the
// watch hub and serves the Connect API, OFREP and the operator endpoints on
// one port.
package server

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/flagops/flagops/internal/api"
	"github.com/flagops/flagops/internal/auth"
	"github.com/flagops/flagops/internal/leader"
	"github.com/flagops/flagops/internal/ofrep"
	"github.com/flagops/flagops/internal/render"
	"github.com/flagops/flagops/internal/scheduler"
	"github.com/flagops/flagops/internal/secrets"
	"github.com/flagops/flagops/internal/service"
	"github.com/flagops/flagops/internal/store"
	"github.com/flagops/flagops/internal/watch"
	"github.com/flagops/flagops/internal/webhook"
	"github.com/flagops/flagops/web"
)

// Config is everything serve needs. Zero values take the documented defaults.
type Config struct {
	// Listen is the address to listen on (default 127.0.0.1:8080; port 0
	// picks a free port, see Server.Addr).
	Listen string
	// DataDir holds the SQLite database (default ./flagops-data).
	DataDir string
	// DatabaseURL selects PostgreSQL (postgres://…) instead of SQLite.
	DatabaseURL string
	// MaxRequestBytes caps a request body (default 4 MiB).
	MaxRequestBytes int64
	// ShutdownTimeout bounds the graceful shutdown (default 15s).
	ShutdownTimeout time.Duration

	// OFREPKeys are static OFREP API keys (development and tests): the key
	// sent as "Authorization: Bearer KEY" or "X-API-Key: KEY" maps to the
	// workspace, environment and optional project it evaluates in.
	OFREPKeys map[string]ofrep.Principal
	// OFREPAuth, when set, replaces OFREPKeys: the seam for store-backed
	// API keys with an evaluator role.
	OFREPAuth ofrep.Authenticator
	// PublicURL is the externally visible base URL OFREP advertises in
	// eventStreams (default: derived from each request).
	PublicURL string
	// OFREPRateLimit limits flag evaluations per key: one token bucket per
	// key shared by every evaluation path (OFREP single and bulk, opening
	// an OFREP event stream, and Connect FlagService/Evaluate), so a key
	// cannot spend its budget twice; the zero value is no limit. Over the
	// limit OFREP answers 429 with Retry-After, as its specification
	// defines, and Evaluate resource_exhausted. Buckets of keys that stop
	// asking are dropped once refilled.
	OFREPRateLimit ofrep.RateLimit
	// Webhooks tunes the webhook dispatcher, which always runs (in the one
	// instance holding its lease). Logger and Keyring are filled in by the
	// server.
	Webhooks webhook.Options
	// GitWritebackConfig names an optional YAML file of git write-back
	// rules (docs/integrations.md); empty disables git write-back.
	GitWritebackConfig string
	Logger             *slog.Logger
	// SchedulerInterval is how often the scheduler ticks (default 10s);
	// negative disables the scheduler on this instance.
	SchedulerInterval time.Duration
	// Clock is the scheduler's clock (default the system clock); tests pass
	// a scheduler.FakeClock.
	Clock scheduler.Clock
	// LeaseDuration is how long a background job's leadership lease lasts
	// without renewal: how long the other instances sharing the database
	// wait before they take over from a stalled leader (default 15s).
	LeaseDuration time.Duration
	// LeaseRenewInterval is how often the leader renews its leases and the
	// others try to take them (default 5s, or a third of LeaseDuration when
	// that is shorter); it must be shorter than LeaseDuration.
	LeaseRenewInterval time.Duration
	// LeaderPause, when set, stands for a stopped process in tests: see
	// leader.Pause.
	LeaderPause *leader.Pause
	// InsecureDev turns authentication and authorization off: every caller
	// is allowed and may name itself with the X-Flagops-Actor header. Start
	// refuses it unless Listen is a loopback address.
	InsecureDev bool
	// TLSCert and TLSKey are PEM files; set both to serve HTTPS (HTTP/2
	// negotiated by ALPN), or neither for plain HTTP with h2c.
	TLSCert, TLSKey string
}

func (c *Config) defaults() {
	if c.Listen == "" {
		c.Listen = "127.0.0.1:8080"
	}
	if c.DataDir == "" {
		c.DataDir = "./flagops-data"
	}
	if c.MaxRequestBytes <= 0 {
		c.MaxRequestBytes = 4 << 20
	}
	if c.ShutdownTimeout <= 0 {
		c.ShutdownTimeout = 15 * time.Second
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	if c.SchedulerInterval == 0 {
		c.SchedulerInterval = 10 * time.Second
	}
	if c.Clock == nil {
		c.Clock = scheduler.SystemClock{}
	}
}

// Server is a running flagops server. Its methods are safe for concurrent use.
type Server struct {
	cfg   Config
	log   *slog.Logger
	store *store.Store
	hub   *watch.Hub
	// authn authenticates API keys, for the API and for OFREP.
	authn *auth.Authenticator
	flags *flagRuntime
	http  *http.Server
	addr  string
	tls   bool

	// streams ends the Watch and OFREP event streams of revoked and
	// expired keys; endRevokedStreams feeds it from the change log.
	streams *auth.Streams
	// routes are the plain HTTP routes, for the authorization matrix test.
	routes []string

	dispatcher *webhook.Dispatcher
	// electors run the background jobs, one lease each, keyed by lease name.
	electors map[string]*leader.Elector
	holder   string
	// bgCancel ends the background jobs (dispatcher, write-back); bg waits
	// for them before the store closes.
	bgCancel context.CancelFunc
	bg       sync.WaitGroup

	served chan struct{} // closed when Serve returns
	// stopScheduler ends the scheduler; schedulerDone is closed when it has
	// given up its lease.
	stopScheduler context.CancelFunc
	schedulerDone chan struct{}
	promotions    *service.Promotions
	stopOnce      sync.Once
	stopErr       error
}

// Start opens and migrates the store and starts serving; it returns once the
// listener is bound. Stop it with Shutdown.
func Start(ctx context.Context, cfg Config) (*Server, error) {
	cfg.defaults()
	log := cfg.Logger
	st, err := store.Open(ctx, store.Options{DataDir: cfg.DataDir, DatabaseURL: cfg.DatabaseURL, Logger: log})
	if err != nil {
		return nil, fmt.Errorf("open store: %w", err)
	}
	s := &Server{cfg: cfg, log: log, store: st, served: make(chan struct{})}
	if err := s.start(ctx); err != nil {
		s.stopBackground()
		if s.hub != nil {
			s.hub.Close()
		}
		return nil, errors.Join(err, st.Close())
	}
	return s, nil
}

func (s *Server) start(ctx context.Context) error {
	if err := s.checkModes(); err != nil {
		return err
	}
	if err := s.leaderConfig().Validate(); err != nil {
		return fmt.Errorf("leader election: %w", err)
	}
	applied, err := s.store.Migrate(ctx)
	if err != nil {
		return fmt.Errorf("migrate store: %w", err)
	}
	kr, err := secrets.Load(s.cfg.DataDir)
	if err != nil {
		return fmt.Errorf("load master keys: %w", err)
	}
	if s.cfg.DatabaseURL != "" && os.Getenv(secrets.EnvVar) == "" {
		// Each instance's key file is its own: instances sharing a database
		// could not read each other's secrets.
		s.log.Warn("master keys come from the data directory's key file; instances sharing this PostgreSQL database must share keys through "+secrets.EnvVar,
			"key_file", filepath.Join(s.cfg.DataDir, secrets.KeyFileName))
	}
	// Subscriptions created before webhook secrets were sealed still hold
	// them in plain text; seal them now that the keys are loaded, before
	// the dispatcher needs them. Later starts find nothing to do.
	sealed, err := s.store.SealWebhookSecrets(ctx, kr)
	if err != nil {
		return fmt.Errorf("seal webhook secrets: %w", err)
	}
	if sealed > 0 {
		s.log.Info("sealed the plaintext signing secrets of webhooks", "webhooks", sealed)
	}
	// Likewise the URLs with credentials of subscriptions created before
	// they were sealed, redacted in their rows and change entries.
	if sealed, err = s.store.SealWebhookURLs(ctx, kr); err != nil {
		return fmt.Errorf("seal webhook URLs: %w", err)
	}
	if sealed > 0 {
		s.log.Info("sealed the URLs with credentials of webhooks and redacted them in the change log", "webhooks", sealed)
	}
	if err := s.bootstrap(ctx); err != nil {
		return err
	}
	// Keys are cached so that OFREP does not query the database per
	// request. The cache is dropped after every commit of this process,
	// synchronously, before the write's response is sent (a revoked key is
	// refused at once), and whenever the hub reads other instances' writes.
	keys := auth.NewKeyCache(s.store)
	s.store.OnCommit(func(int64) { keys.Invalidate() })
	s.authn = auth.NewAuthenticator(keys, s.log, s.cfg.InsecureDev)
	s.hub = watch.New(s.store, watch.Options{Logger: s.log})
	s.hub.OnAdvance(func(int64) { keys.Invalidate() })
	s.streams = auth.NewStreams()
	s.hub.Inspect(s.endRevokedStreams)
	if err := s.hub.Start(ctx); err != nil {
		return err
	}
	if s.flags, err = s.startFlags(ctx); err != nil {
		return err
	}
	if err := s.startBackground(kr); err != nil {
		return err
	}
	ln, err := net.Listen("tcp", s.cfg.Listen)
	if err != nil {
		return fmt.Errorf("listen on %s: %w", s.cfg.Listen, err)
	}
	s.addr = ln.Addr().String()
	s.promotions = service.NewPromotions(s.store, s.cfg.Clock.Now)
	s.startScheduler()
	s.http = &http.Server{
		Handler:           s.handler(kr),
		ReadHeaderTimeout: 10 * time.Second,
		ErrorLog:          slog.NewLogLogger(s.log.Handler(), slog.LevelWarn),
		Protocols:         new(http.Protocols),
	}
	// gRPC clients speak HTTP/2 without TLS (h2c) to a plain port.
	s.http.Protocols.SetHTTP1(true)
	s.http.Protocols.SetUnencryptedHTTP2(true)
	// Shutdown waits for active streams; ending the watchers ends them.
	s.http.RegisterOnShutdown(s.hub.Close)
	s.http.RegisterOnShutdown(s.flags.ofrep.Close)
	if s.cfg.TLSCert != "" {
		s.tls = true
		s.http.Protocols.SetHTTP2(true)
		if err := s.loadTLS(); err != nil {
			ln.Close()
			return err
		}
	}
	go func() {
		defer close(s.served)
		var err error
		if s.tls {
			err = s.http.ServeTLS(ln, "", "")
		} else {
			err = s.http.Serve(ln)
		}
		if err != nil && !errors.Is(err, http.ErrServerClosed) {
			s.log.Error("serve", "err", err)
		}
	}()
	s.log.Info("flagops serving", "addr", s.addr, "tls", s.tls, "insecure_dev", s.cfg.InsecureDev, "store", s.store.Dialect(),
		"migrations_applied", applied, "revision", s.hub.Revision(), "master_key", kr.ActiveID())
	return nil
}

// handler builds the one mux: the Connect services and the operator
// endpoints, every one of them behind the request-id middleware and
// auth.Authorize.
func (s *Server) handler(kr *secrets.Keyring) http.Handler {
	reg := prometheus.NewRegistry()
	reg.MustRegister(
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "flagops_revision", Help: "The last revision of the change log the watch hub has read."},
			func() float64 { return float64(s.hub.Revision()) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "flagops_watchers", Help: "Open watchers of the change log."},
			func() float64 { return float64(s.hub.Watchers()) }),
	)
	s.registerLeaderMetrics(reg)
	opt := api.Options{Logger: s.log, Metrics: api.NewMetrics(reg), MaxRequestBytes: s.cfg.MaxRequestBytes,
		Auth: s.authn, EvalLimiter: s.flags.limit, Streams: s.streams}
	versions := service.NewVersions(s.store)
	secretsSvc := service.NewSecrets(s.store, kr, s.log)
	mux := http.NewServeMux()
	webhooks := service.NewWebhooks(s.store, kr, func() { s.dispatcher.Notify(0) })
	api.Mount(mux, api.Services{
		Catalog:    service.NewCatalog(s.store),
		Facts:      service.NewFacts(s.store),
		Changes:    service.NewChanges(s.store),
		Flags:      service.NewFlags(s.store, s.flags.snaps, s.flags.sync.Fresh),
		Secrets:    secretsSvc,
		Access:     service.NewAccess(s.store),
		Hub:        s.hub,
		Webhooks:   webhooks,
		Versions:   versions,
		Releases:   service.NewReleases(s.store),
		Promotions: s.promotions,
	}, opt)
	// Every plain route is registered through route, which puts it behind
	// auth.Authorize and in s.routes, so the authorization matrix test
	// enumerates it.
	route := func(pattern string, h http.Handler) {
		s.routes = append(s.routes, pattern)
		mux.Handle(pattern, api.Route(pattern, opt, h))
	}
	// The render bundle evaluates flags from the same fresh snapshots as
	// OFREP, so a render and a running service never disagree.
	route(render.BundleRoute, api.RenderBundle(render.NewService(render.Deps{
		Facts:    s.store,
		Revision: s.hub,
		Flags:    render.SnapshotFlags{Source: freshSnapshots{s.flags.snaps, s.flags.sync}},
		Versions: storeVersions{s.store},
		// Secret values are read only for a caller holding secrets.read
		// on the deployment (render.SecretsProcedure); every read is
		// audited.
		Secrets: secretsSvc,
	}), opt))
	route(api.ResolveRoute, api.ResolveHandler(versions, opt))
	route("GET /healthz", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = w.Write([]byte("ok\n"))
	}))
	route("GET /readyz", http.HandlerFunc(s.readyz))
	s.flags.mountOFREP(s.ofrepRoute(mux, opt, func(token string) bool {
		if s.cfg.OFREPAuth != nil {
			return true
		}
		_, static := s.cfg.OFREPKeys[token]
		return static
	}))
	route(api.FactHookRoute, api.FactHookHandler(webhooks, opt))
	route("GET /metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{ErrorLog: slog.NewLogLogger(s.log.Handler(), slog.LevelWarn)}))
	// The web UI at "/" calls this same handler in-process with its
	// session's key: it reaches nothing an API client could not.
	ui := web.New(web.Options{Authn: s.authn, Logger: s.log})
	for _, r := range ui.Routes() {
		route(r.Pattern, r.Handler)
	}
	h := api.WithRequestID(mux)
	ui.SetAPI(h)
	return h
}

// readyz answers 200 when the store answers and its schema is the latest,
// else 503 with the reason.
func (s *Server) readyz(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
	defer cancel()
	if err := s.store.Ping(ctx); err != nil {
		s.log.Warn("readyz: store does not answer", "err", err)
		http.Error(w, "store unavailable: "+err.Error(), http.StatusServiceUnavailable)
		return
	}
	applied, latest, err := s.store.MigrationStatus(ctx)
	if err != nil {
		http.Error(w, "migration status unavailable: "+err.Error(), http.StatusServiceUnavailable)
		return
	}
	if applied != latest {
		http.Error(w, fmt.Sprintf("schema at migration %d, latest is %d", applied, latest), http.StatusServiceUnavailable)
		return
	}
	_, _ = fmt.Fprintf(w, "ok: %s, migration %d, revision %d\n", s.store.Dialect(), applied, s.hub.Revision())
}

// Addr returns the bound address (host:port).
func (s *Server) Addr() string { return s.addr }

// URL returns the base URL, http://host:port (https:// with TLS).
func (s *Server) URL() string {
	if s.tls {
		return "https://" + s.addr
	}
	return "http://" + s.addr
}

// Routes returns the patterns of the plain HTTP routes (not the RPCs).
func (s *Server) Routes() []string { return slices.Clone(s.routes) }

// Shutdown stops accepting requests, finishes in-flight ones (writes
// included) within the configured timeout, and closes the store. Watch
// streams end cleanly; their clients resume from the last revision they
// received. Calling it again returns the first call's result.
func (s *Server) Shutdown(ctx context.Context) error {
	s.stopOnce.Do(func() {
		ctx, cancel := context.WithTimeout(ctx, s.cfg.ShutdownTimeout)
		defer cancel()
		err := s.http.Shutdown(ctx)
		if err != nil {
			s.log.Warn("graceful shutdown timed out; closing connections", "err", err)
			err = errors.Join(err, s.http.Close())
		}
		<-s.served
		s.stopBackground()
		s.stopScheduler()
		<-s.schedulerDone
		s.hub.Close()
		if cerr := s.store.Close(); cerr != nil {
			err = errors.Join(err, fmt.Errorf("close store: %w", cerr))
		}
		s.stopErr = err
		s.log.Info("flagops stopped", "addr", s.addr)
	})
	return s.stopErr
}

// Run is Start, then Shutdown when ctx is done (SIGTERM in the CLI).
func Run(ctx context.Context, cfg Config) error {
	s, err := Start(ctx, cfg)
	if err != nil {
		return err
	}
	<-ctx.Done()
	return s.Shutdown(context.WithoutCancel(ctx))
}
