// Package server runs flagops: it opens and migrates the store, starts the
// watch hub and serves the Connect API, OFREP and the operator endpoints on
// one port.
package server

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"sync"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/flagops/flagops/internal/api"
	"github.com/flagops/flagops/internal/auth"
	"github.com/flagops/flagops/internal/leader"
	"github.com/flagops/flagops/internal/render"
	"github.com/flagops/flagops/internal/secrets"
	"github.com/flagops/flagops/internal/service"
	"github.com/flagops/flagops/internal/store"
	"github.com/flagops/flagops/internal/watch"
	"github.com/flagops/flagops/internal/webhook"
	"github.com/flagops/flagops/web"
)

// Server is a running flagops server. Its methods are safe for concurrent use.
type Server struct {
	cfg Config
	// adminToken is the bootstrap admin token read from
	// Config.AdminTokenPath, or empty for a generated one.
	adminToken string
	log        *slog.Logger
	store      *store.Store
	hub        *watch.Hub
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
	ln, err := s.listen()
	if err != nil {
		return err
	}
	s.addr = ln.Addr().String()
	s.promotions = service.NewPromotions(s.store, s.cfg.Clock.Now)
	s.startScheduler()
	s.http = s.httpServer(s.handler(kr))
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
	if err := s.recordURL(); err != nil {
		s.log.Warn("could not record this server's URL in the data directory; the CLI will not send it the admin token by itself", "err", err)
	}
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
		Apply:      service.NewApplier(s.store),
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
