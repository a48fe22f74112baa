package gitwrite

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/flagops/flagops/internal/domain"
	"github.com/flagops/flagops/internal/webhook"
)

// Log is what a Follower needs of the store: the change log and a durable
// cursor per follower name.
type Log interface {
	Revision(ctx context.Context) (int64, error)
	ChangesSince(ctx context.Context, after int64, limit int) ([]domain.Change, error)
	FollowerCursor(ctx context.Context, name string) (domain.Cursor, bool, error)
	SetFollowerCursor(ctx context.Context, name string, c domain.Cursor) error
	// CheckFence fails when ctx's leadership term is stale.
	CheckFence(ctx context.Context) error
}

// Follower calls Apply, in revision order, for every change of one kind and
// key (create or update; deletes carry no value), with the value Value
// extracts from the change's after JSON. Its cursor is stored under Name
// and moves past a revision only once Apply succeeded for it, retrying
// with backoff meanwhile. A new follower starts at the current revision.
//
// Followers run on one instance at a time: the server runs them only while
// it holds the git write-back lease (internal/leader), with the context that
// carries its term. The cursor is then fenced, and the term is checked
// before each Apply (a push the database cannot fence), so a stalled leader
// that resumes after another took over neither pushes again nor moves the
// cursor back.
//
// It is generic: a fact ("fact", "project/shop@prod:image.tag") today, a
// version ("version", "shop@prod", ValueAt("desired")) once versions exist.
type Follower struct {
	Name  string
	Log   Log
	Kind  string
	Key   string
	Value func(after json.RawMessage) (string, error)
	Apply func(ctx context.Context, c domain.Change, value string) error

	PollInterval time.Duration // default 10s
	Backoff      webhook.Backoff
	Sleep        func(ctx context.Context, d time.Duration) error // default webhook.Sleep
	Logger       *slog.Logger

	wake chan struct{}
}

// Notify wakes the follower; it never blocks. Call it only after Init or
// once Run has started (Followers returns initialised followers).
func (f *Follower) Notify(rev int64) {
	select {
	case f.wake <- struct{}{}:
	default:
	}
}

// Init fills in the defaults; Run calls it.
func (f *Follower) Init() {
	if f.wake == nil {
		f.wake = make(chan struct{}, 1)
	}
	if f.PollInterval <= 0 {
		f.PollInterval = 10 * time.Second
	}
	if f.Sleep == nil {
		f.Sleep = webhook.Sleep
	}
	if f.Logger == nil {
		f.Logger = slog.Default()
	}
}

// Run follows the log until ctx ends.
func (f *Follower) Run(ctx context.Context) error {
	f.Init()
	poll := time.NewTicker(f.PollInterval)
	defer poll.Stop()
	for {
		if err := f.catchUp(ctx); err != nil && ctx.Err() == nil {
			f.Logger.Warn("follower: reading the change log", "follower", f.Name, "err", err)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-f.wake:
		case <-poll.C:
		}
	}
}

// Begin records the starting cursor of a follower that has none: the
// current revision. The server calls it before serving, so that every write
// it accepts is after the cursor; Run calls it too.
func (f *Follower) Begin(ctx context.Context) (domain.Cursor, error) {
	cur, ok, err := f.Log.FollowerCursor(ctx, f.Name)
	if err != nil || ok {
		return cur, err
	}
	rev, err := f.Log.Revision(ctx)
	if err != nil {
		return cur, err
	}
	cur = domain.CursorAfterRevision(rev)
	return cur, f.Log.SetFollowerCursor(ctx, f.Name, cur)
}

// catchUp applies every matching change after the cursor.
func (f *Follower) catchUp(ctx context.Context) error {
	cur, err := f.Begin(ctx)
	if err != nil {
		return err
	}
	for {
		changes, err := f.Log.ChangesSince(ctx, cur.Revision, 200)
		if err != nil || len(changes) == 0 {
			return err
		}
		for _, c := range changes {
			if c.Kind == f.Kind && c.Key == f.Key && c.After != nil {
				if err := f.applyWithRetry(ctx, c); err != nil {
					return err
				}
			}
		}
		// ChangesSince never splits a revision: the batch ends a revision.
		cur = domain.CursorAfterRevision(changes[len(changes)-1].Revision)
		if err := f.Log.SetFollowerCursor(ctx, f.Name, cur); err != nil {
			return err
		}
	}
}

func (f *Follower) applyWithRetry(ctx context.Context, c domain.Change) error {
	v, err := f.Value(c.After)
	if err != nil {
		// A value that cannot be written will never become writable:
		// say so and move on rather than block the follower forever.
		f.Logger.Error("follower: skipping a change whose value cannot be extracted", "follower", f.Name,
			"revision", c.Revision, "key", c.Key, "err", err)
		return nil
	}
	for try := 1; ; try++ {
		if err := f.Log.CheckFence(ctx); err != nil {
			return err
		}
		err := f.Apply(ctx, c, v)
		if err == nil {
			return nil
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		f.Logger.Warn("follower: apply failed; retrying", "follower", f.Name, "revision", c.Revision, "attempt", try, "err", err)
		if err := f.Sleep(ctx, f.Backoff.Delay(try)); err != nil {
			return err
		}
	}
}

// ValueAt returns a Value function that reads the dotted path of the after
// JSON ("" for the whole value): a string as is, a number or boolean as
// written.
func ValueAt(path string) func(json.RawMessage) (string, error) {
	return func(after json.RawMessage) (string, error) {
		var v any
		dec := json.NewDecoder(strings.NewReader(string(after)))
		dec.UseNumber()
		if err := dec.Decode(&v); err != nil {
			return "", fmt.Errorf("read value: %w", err)
		}
		if path != "" {
			for _, seg := range strings.Split(path, ".") {
				m, ok := v.(map[string]any)
				if !ok {
					return "", fmt.Errorf("value has no field %q", path)
				}
				if v, ok = m[seg]; !ok {
					return "", fmt.Errorf("value has no field %q", path)
				}
			}
		}
		switch x := v.(type) {
		case string:
			if x == "" {
				return "", fmt.Errorf("value is empty")
			}
			return x, nil
		case json.Number:
			return x.String(), nil
		case bool:
			return fmt.Sprint(x), nil
		}
		return "", fmt.Errorf("value is not a string, number or boolean")
	}
}
