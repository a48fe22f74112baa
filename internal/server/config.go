package server

import (
	"log/slog"
	"time"

	"github.com/flagops/flagops/internal/leader"
	"github.com/flagops/flagops/internal/ofrep"
	"github.com/flagops/flagops/internal/scheduler"
	"github.com/flagops/flagops/internal/webhook"
)

// DefaultMaxConnections is Config.MaxConnections when unset.
const DefaultMaxConnections = 4096

// Config is everything serve needs. Zero values take the documented defaults.
type Config struct {
	// Listen is the address to listen on (default 127.0.0.1:8080; port 0
	// picks a free port, see Server.Addr).
	Listen string
	// DataDir holds the SQLite database (default ./flagops-data).
	DataDir string
	// DatabaseURL selects PostgreSQL (postgres://…) instead of SQLite.
	DatabaseURL string
	// MaxRequestBytes caps a request body (default 4 MiB). A larger body
	// is refused with 413 (invalid_argument over Connect), the limit named.
	MaxRequestBytes int64
	// ReadHeaderTimeout bounds reading a request's headers (default 10s).
	ReadHeaderTimeout time.Duration
	// ReadTimeout bounds reading a whole request, body included (default
	// 30s), so a client trickling a body is disconnected. Streams (Watch,
	// the OFREP event stream) live on once their request is read.
	ReadTimeout time.Duration
	// IdleTimeout closes a keep-alive connection with no request in flight
	// (default 120s).
	IdleTimeout time.Duration
	// MaxConnections caps the connections served at once (default 4096;
	// negative for no cap). Connections over the cap wait in the kernel's
	// accept queue until one closes. Each open stream holds one over
	// HTTP/1.1; HTTP/2 carries many on one connection.
	MaxConnections int
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
	// AdminTokenPath names a file (a mounted Secret, say) holding the token
	// of the bootstrap admin key, in the format the server generates
	// (fo_ and 43 base62 characters). The first start on a store with no
	// key creates the admin key with it instead of a generated token and
	// writes nothing to the data directory; later starts ignore it. Start
	// refuses a malformed token whether or not a key exists.
	AdminTokenPath string
	// NoBootstrapAdmin creates no admin key on the first start: the
	// operator makes keys out of band (docs/access.md). A server on a store
	// with no key then refuses every call.
	NoBootstrapAdmin bool
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
	if c.ReadHeaderTimeout <= 0 {
		c.ReadHeaderTimeout = 10 * time.Second
	}
	if c.ReadTimeout <= 0 {
		c.ReadTimeout = 30 * time.Second
	}
	if c.IdleTimeout <= 0 {
		c.IdleTimeout = 120 * time.Second
	}
	if c.MaxConnections == 0 {
		c.MaxConnections = DefaultMaxConnections
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
