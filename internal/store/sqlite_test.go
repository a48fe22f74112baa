package store_test

import (
	"context"
	"log/slog"
	"testing"

	"github.com/flagops/flagops/internal/store"
	"github.com/flagops/flagops/internal/store/storetest"
)

// quiet drops the store's logs (migrations applied) from test output.
var quiet = slog.New(slog.DiscardHandler)

// openSQLite opens a store on a fresh SQLite file in a temporary directory.
func openSQLite(t testing.TB) *store.Store {
	s, err := store.Open(context.Background(), store.Options{DataDir: t.TempDir(), Logger: quiet})
	if err != nil {
		t.Fatalf("open sqlite: %v", err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func TestSQLite(t *testing.T) {
	storetest.Run(t, func(t *testing.T) *store.Store { return openSQLite(t) })
}
