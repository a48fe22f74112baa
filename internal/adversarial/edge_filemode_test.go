package adversarial_test

import (
	"context"
	"os"
	"path/filepath"
	"syscall"
	"testing"

	"github.com/flagops/flagops/internal/server"
	"github.com/flagops/flagops/internal/server/servertest"
)

// TestEdgeDatabaseFilesPrivate keeps issue 9.19 fixed: the SQLite database
// and its -wal and -shm files hold sealed secrets, key hashes and the whole
// change log, and sit next to the 0600 master key; they are created 0600
// whatever the umask, and files left wider by an older version are
// narrowed on the next start. On PostgreSQL the data directory holds no
// database files, and the test checks that none appear.
func TestEdgeDatabaseFilesPrivate(t *testing.T) {
	servertest.Backends(t, func(t *testing.T, cfg server.Config) {
		old := syscall.Umask(0o022) // the common default, which makes 0644 files
		defer syscall.Umask(old)
		s, c := edgeServer(t, cfg)
		edgeSetFact(t, c, "tier", "pro") // the write goes to the WAL
		db := filepath.Join(cfg.DataDir, "flagops.db")
		files := []string{db, db + "-wal", db + "-shm"}
		if cfg.DatabaseURL != "" {
			for _, f := range files {
				if _, err := os.Stat(f); err == nil {
					t.Errorf("%s exists on PostgreSQL", f)
				}
			}
			return
		}
		check := func(when string) {
			t.Helper()
			for _, f := range files {
				fi, err := os.Stat(f)
				if err != nil {
					t.Fatalf("%s: %v", when, err)
				}
				if fi.Mode().Perm() != 0o600 {
					t.Errorf("%s: %s has mode %v, want 0600", when, filepath.Base(f), fi.Mode().Perm())
				}
			}
		}
		check("created")

		// A data directory of an older version: the same files, readable by
		// all. The next start narrows them before writing anything.
		if err := s.Shutdown(context.Background()); err != nil {
			t.Fatal(err)
		}
		for _, f := range files {
			if err := os.Chmod(f, 0o644); err != nil && !os.IsNotExist(err) {
				t.Fatal(err)
			}
		}
		_, c = edgeServer(t, server.Config{DataDir: cfg.DataDir})
		edgeSetFact(t, c, "tier", "enterprise")
		check("restarted")
	})
}
