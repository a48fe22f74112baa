package store

import "context"

// ExecRaw runs one statement outside the store's rules, for tests that
// tamper with stored rows.
func (s *Store) ExecRaw(ctx context.Context, q string, args ...any) error {
	_, err := s.db.ExecContext(ctx, s.d.rebind(q), args...)
	return err
}

// QueryString reads one string column of one row, for tampering tests.
func (s *Store) QueryString(ctx context.Context, q string, args ...any) (string, error) {
	var v string
	err := s.db.QueryRowContext(ctx, s.d.rebind(q), args...).Scan(&v)
	return v, err
}
