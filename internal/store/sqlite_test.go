package store_test

import (
	"context"
	"testing"

	"github.com/flagops/flagops/internal/store"
	"github.com/flagops/flagops/internal/store/storetest"
)

// openSQLite opens a store on a fresh SQLite file in a temporary directory.
func openSQLite(t testing.TB) *store.Store {
	s, err := store.Open(context.Background(), store.Options{DataDir: t.TempDir()})
	if err != nil {
		t.Fatalf("open sqlite: %v", err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func TestSQLite(t *testing.T) {
	storetest.Run(t, func(t *testing.T) *store.Store { return openSQLite(t) })
}
