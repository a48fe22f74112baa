// Package store is flagops' revisioned store: state tables kept as projections
// of one change log, written in one transaction per mutation, on SQLite (the
// embedded default) or PostgreSQL.
//
// Every write runs in one transaction that first takes the next revision from
// a single counter row. That row lock serialises writers, so revisions are
// strictly increasing in commit order with no gaps, and a follower reading
// "revision > N" never skips a late commit. A write that changes nothing rolls
// back and consumes no revision.
package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	_ "github.com/jackc/pgx/v5/stdlib" // registers the "pgx" database/sql driver
	_ "modernc.org/sqlite"             // registers the "sqlite" database/sql driver
)

// Options selects and configures a backend. DatabaseURL (postgres://…)
// selects PostgreSQL; otherwise SQLite at DataDir/flagops.db (DataDir is
// created 0700 when missing; the database and its -wal and -shm files are
// 0600).
type Options struct {
	DataDir     string
	DatabaseURL string
	Logger      *slog.Logger
}

// Store is safe for concurrent use.
type Store struct {
	db  *sql.DB
	d   dialect
	url string // the PostgreSQL URL, for ListenCommits' dedicated connection
	log *slog.Logger

	// hooksMu guards hooks. It is never held while a hook runs.
	hooksMu sync.Mutex
	hooks   []func(rev int64)
}

// sqlitePragmas are applied to every SQLite connection. _txlock=immediate
// makes BEGIN take the write lock, so two writers never both read and then
// fail to upgrade; the busy timeout makes the second one wait instead.
const sqlitePragmas = "_pragma=journal_mode(WAL)&_pragma=foreign_keys(1)&_pragma=busy_timeout(10000)&_pragma=synchronous(NORMAL)&_txlock=immediate"

// Open connects to the backend. It does not migrate: call Migrate.
func Open(ctx context.Context, opt Options) (*Store, error) {
	s := &Store{log: opt.Logger}
	if s.log == nil {
		s.log = slog.Default()
	}
	var err error
	if opt.DatabaseURL != "" {
		s.d, s.url = postgresDialect, opt.DatabaseURL
		s.db, err = sql.Open("pgx", opt.DatabaseURL)
		if err != nil {
			return nil, fmt.Errorf("open postgres: %w", err)
		}
		s.db.SetMaxOpenConns(16)
		s.db.SetMaxIdleConns(8)
	} else {
		if opt.DataDir == "" {
			return nil, errors.New("open store: DataDir or DatabaseURL is required")
		}
		if err := os.MkdirAll(opt.DataDir, 0o700); err != nil {
			return nil, fmt.Errorf("open sqlite: create data directory: %w", err)
		}
		s.d = sqliteDialect
		path := filepath.Join(opt.DataDir, "flagops.db")
		if err := s.privateFiles(path); err != nil {
			return nil, fmt.Errorf("open sqlite: %w", err)
		}
		dsn := "file:" + path + "?" + sqlitePragmas
		s.db, err = sql.Open("sqlite", dsn)
		if err != nil {
			return nil, fmt.Errorf("open sqlite: %w", err)
		}
		// Readers run concurrently under WAL; writers queue on the
		// immediate lock. A small pool keeps memory bounded.
		s.db.SetMaxOpenConns(8)
		s.db.SetMaxIdleConns(8)
		s.db.SetConnMaxIdleTime(0)
	}
	if err := s.db.PingContext(ctx); err != nil {
		s.db.Close()
		return nil, fmt.Errorf("open %s: %w", s.d.name, err)
	}
	return s, nil
}

// Ping checks that the database answers.
func (s *Store) Ping(ctx context.Context) error {
	if err := s.db.PingContext(ctx); err != nil {
		return fmt.Errorf("ping %s: %w", s.d.name, err)
	}
	return nil
}

// Close releases the connections.
func (s *Store) Close() error { return s.db.Close() }

// Dialect returns "sqlite" or "postgres".
func (s *Store) Dialect() string { return s.d.name }

// OnCommit registers fn to be called, after every committed write of this
// process, with the revision it committed. fn must not block.
func (s *Store) OnCommit(fn func(rev int64)) {
	s.hooksMu.Lock()
	s.hooks = append(s.hooks, fn)
	s.hooksMu.Unlock()
}

func (s *Store) committed(rev int64) {
	s.hooksMu.Lock()
	hooks := s.hooks
	s.hooksMu.Unlock()
	for _, fn := range hooks {
		fn(rev)
	}
}

// notifyChannel is the PostgreSQL channel every write notifies inside its
// transaction; PostgreSQL delivers it on commit.
const notifyChannel = "flagops_changes"

// ListenCommits calls fn with the revision of every write committed by any
// process sharing the database (PostgreSQL LISTEN/NOTIFY, reconnecting until
// ctx ends). On SQLite it returns at once: SQLite is single-process. A
// notification is only a wake-up: read the log with ChangesSince.
//
// After a reconnect fn is called once with the current revision, since
// notifications sent while the connection was down are lost.
func (s *Store) ListenCommits(ctx context.Context, fn func(rev int64)) error {
	if !s.d.postgres() {
		return nil
	}
	backoff := 100 * time.Millisecond
	for attempt := 0; ; attempt++ {
		err := s.listenOnce(ctx, fn, attempt > 0, func() { backoff = 100 * time.Millisecond })
		if ctx.Err() != nil {
			return ctx.Err()
		}
		s.log.Warn("store: listening for commits failed; reconnecting", "err", err, "backoff", backoff)
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(backoff):
		}
		backoff = min(backoff*2, 5*time.Second)
	}
}

func (s *Store) listenOnce(ctx context.Context, fn func(rev int64), reconnect bool, connected func()) error {
	conn, err := pgx.Connect(ctx, s.url)
	if err != nil {
		return fmt.Errorf("connect: %w", err)
	}
	defer conn.Close(context.WithoutCancel(ctx))
	if _, err := conn.Exec(ctx, "LISTEN "+notifyChannel); err != nil {
		return fmt.Errorf("listen: %w", err)
	}
	connected()
	if reconnect {
		if rev, err := s.Revision(ctx); err == nil {
			fn(rev)
		}
	}
	for {
		n, err := conn.WaitForNotification(ctx)
		if err != nil {
			return fmt.Errorf("wait for notification: %w", err)
		}
		rev, err := strconv.ParseInt(n.Payload, 10, 64)
		if err != nil {
			s.log.Warn("store: ignoring a malformed commit notification", "payload", n.Payload)
			continue
		}
		fn(rev)
	}
}

// Revision returns the last committed revision (0 for an empty log).
func (s *Store) Revision(ctx context.Context) (int64, error) {
	var rev int64
	if err := s.queryRow(ctx, "SELECT rev FROM revision_counter WHERE id = 1").Scan(&rev); err != nil {
		return 0, fmt.Errorf("read revision: %w", err)
	}
	return rev, nil
}

// query, queryRow and exec run one statement outside any write transaction.
func (s *Store) query(ctx context.Context, q string, args ...any) (*sql.Rows, error) {
	return s.db.QueryContext(ctx, s.d.rebind(q), args...)
}

func (s *Store) queryRow(ctx context.Context, q string, args ...any) *sql.Row {
	return s.db.QueryRowContext(ctx, s.d.rebind(q), args...)
}
