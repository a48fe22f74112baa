package store

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
)

// privateFiles makes the SQLite database at path and its companion files
// readable by the owner only, before the driver opens them: the database
// holds sealed secrets, API key hashes and the whole change log, and sits
// next to the 0600 master key. The database file is created 0600 when
// missing; SQLite creates its -wal and -shm files with the database file's
// mode, so they follow. Files left wider by an older version are narrowed
// to 0600, whatever the process umask.
func (s *Store) privateFiles(path string) error {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return fmt.Errorf("create %s: %w", path, err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("create %s: %w", path, err)
	}
	for _, p := range []string{path, path + "-wal", path + "-shm", path + "-journal"} {
		fi, err := os.Stat(p)
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			return fmt.Errorf("check the mode of %s: %w", p, err)
		}
		if fi.Mode().Perm() == 0o600 {
			continue
		}
		if err := os.Chmod(p, 0o600); err != nil {
			return fmt.Errorf("make %s private (mode 0600): %w", p, err)
		}
		s.log.Info("store: narrowed a database file to mode 0600", "file", p, "was", fi.Mode().Perm().String())
	}
	return nil
}
