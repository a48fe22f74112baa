package webhook

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
)

// Leader grants the right to dispatch. It is deliberately small so that the
// generic scheduler's leader election can replace it.
type Leader interface {
	// Lead blocks until this process leads or ctx ends. The returned
	// context ends when leadership is lost; release gives it up.
	Lead(ctx context.Context) (lctx context.Context, release func(), err error)
}

// Always is the Leader of a single-process store (SQLite): always leading.
type Always struct{}

// Lead returns at once.
func (Always) Lead(ctx context.Context) (context.Context, func(), error) {
	lctx, cancel := context.WithCancel(ctx)
	return lctx, cancel, nil
}

// DispatcherLockID is the PostgreSQL advisory lock key of the webhook dispatcher.
const DispatcherLockID = 7_361_523_005

// PGLeader holds a PostgreSQL session advisory lock on a dedicated
// connection: the lock lives exactly as long as that connection, so a
// crashed leader's lock is released by the server and another instance
// takes over.
type PGLeader struct {
	URL   string
	Key   int64
	Retry time.Duration // how often to try for the lock and check the connection (default 2s)
}

// Lead takes the lock, retrying until it gets it or ctx ends.
func (l PGLeader) Lead(ctx context.Context) (context.Context, func(), error) {
	retry := l.Retry
	if retry <= 0 {
		retry = 2 * time.Second
	}
	conn, err := pgx.Connect(ctx, l.URL)
	if err != nil {
		return nil, nil, fmt.Errorf("leader lock: connect: %w", err)
	}
	for {
		var got bool
		if err := conn.QueryRow(ctx, "SELECT pg_try_advisory_lock($1)", l.Key).Scan(&got); err != nil {
			conn.Close(context.WithoutCancel(ctx))
			return nil, nil, fmt.Errorf("leader lock: %w", err)
		}
		if got {
			break
		}
		if err := Sleep(ctx, retry); err != nil {
			conn.Close(context.WithoutCancel(ctx))
			return nil, nil, err
		}
	}
	lctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		// A lost connection is a lost lock: end the leadership then.
		for Sleep(lctx, retry) == nil {
			if err := conn.Ping(lctx); err != nil {
				cancel()
				return
			}
		}
	}()
	release := func() {
		cancel()
		<-done
		bg := context.WithoutCancel(ctx)
		_, _ = conn.Exec(bg, "SELECT pg_advisory_unlock($1)", l.Key)
		conn.Close(bg)
	}
	return lctx, release, nil
}
