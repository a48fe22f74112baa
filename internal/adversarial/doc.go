// Package adversarial holds the standing adversarial suite: tests that play a
// hostile or careless client against a real flagops server on SQLite and on
// PostgreSQL (servertest.Backends), one file per theme (leaks, exhaustion,
// stale authority, correctness of errors and writes). Each test names the
// hardening point it keeps fixed. The package has no non-test code besides
// this comment.
package adversarial
