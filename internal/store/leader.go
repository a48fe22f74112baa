package store

import (
	"context"
	"fmt"
	"sync"

	"github.com/jackc/pgx/v5"
)

// LeaderLock is leadership among the instances sharing a database, for the
// scheduler (it satisfies scheduler.Locker). On PostgreSQL it is an advisory
// lock held on a dedicated connection: the session keeps it, and if the
// instance dies or its connection drops, PostgreSQL releases it and another
// instance takes it at its next try. On SQLite, which is single-instance, it
// always leads. It is safe for concurrent use.
type LeaderLock struct {
	url string // "" on SQLite
	id  int64

	// mu guards conn and held; it is held across the short lock queries so
	// that two TryLocks never race on one connection.
	mu   sync.Mutex
	conn *pgx.Conn
	held bool
}

// SchedulerLockID is the advisory lock key of the scheduler.
const SchedulerLockID = 7_361_523_002

// LeaderLock returns the leadership lock with key id.
func (s *Store) LeaderLock(id int64) *LeaderLock {
	if !s.d.postgres() {
		return &LeaderLock{}
	}
	return &LeaderLock{url: s.url, id: id}
}

// TryLock reports whether this instance leads, taking the lock when free.
// While held, it checks that the connection still answers; a dead one means
// the lock is lost (another instance may already hold it).
func (l *LeaderLock) TryLock(ctx context.Context) (bool, error) {
	if l.url == "" {
		return true, nil
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.conn == nil {
		conn, err := pgx.Connect(ctx, l.url)
		if err != nil {
			return false, fmt.Errorf("leader lock: connect: %w", err)
		}
		l.conn = conn
	}
	if l.held {
		if _, err := l.conn.Exec(ctx, "SELECT 1"); err != nil {
			l.drop(ctx)
			return false, fmt.Errorf("leader lock lost: %w", err)
		}
		return true, nil
	}
	var ok bool
	if err := l.conn.QueryRow(ctx, "SELECT pg_try_advisory_lock($1)", l.id).Scan(&ok); err != nil {
		l.drop(ctx)
		return false, fmt.Errorf("leader lock: %w", err)
	}
	l.held = ok
	return ok, nil
}

func (l *LeaderLock) drop(ctx context.Context) {
	if l.conn != nil {
		_ = l.conn.Close(context.WithoutCancel(ctx))
	}
	l.conn, l.held = nil, false
}

// Unlock gives leadership up and closes the dedicated connection.
func (l *LeaderLock) Unlock(ctx context.Context) error {
	if l.url == "" {
		return nil
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.conn == nil {
		return nil
	}
	var err error
	if l.held {
		_, err = l.conn.Exec(ctx, "SELECT pg_advisory_unlock($1)", l.id)
	}
	l.drop(ctx)
	return err
}
