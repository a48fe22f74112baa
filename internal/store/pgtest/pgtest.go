// Package pgtest gives each test its own PostgreSQL database on the server
// named by FLAGOPS_TEST_POSTGRES, so packages testing in parallel against one
// server never see each other's data.
package pgtest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"net/url"
	"os"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// Environment variables that control PostgreSQL tests.
const (
	// EnvURL holds the base URL of a server the tests may create databases on.
	EnvURL = "FLAGOPS_TEST_POSTGRES"
	// EnvRequire, set to 1, turns a missing EnvURL into a failure (for CI).
	EnvRequire = "FLAGOPS_REQUIRE_POSTGRES"
)

// URL creates a uniquely named database for this test and returns its URL;
// the database is dropped when the test ends. Without FLAGOPS_TEST_POSTGRES
// the test is skipped (or fails when FLAGOPS_REQUIRE_POSTGRES=1).
func URL(t testing.TB) string {
	t.Helper()
	base := os.Getenv(EnvURL)
	if base == "" {
		const msg = "PostgreSQL tests skipped: set FLAGOPS_TEST_POSTGRES=postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable to run them"
		if os.Getenv(EnvRequire) == "1" {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
	u, err := url.Parse(base)
	if err != nil {
		t.Fatalf("parse %s: %v", EnvURL, err)
	}
	var b [8]byte
	if _, err := rand.Read(b[:]); err != nil {
		t.Fatalf("random database name: %v", err)
	}
	name := "flagops_test_" + hex.EncodeToString(b[:])
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	admin, err := pgx.Connect(ctx, base)
	if err != nil {
		t.Fatalf("connect to %s: %v", EnvURL, err)
	}
	defer admin.Close(context.Background())
	if _, err := admin.Exec(ctx, "CREATE DATABASE "+name); err != nil {
		t.Fatalf("create database %s: %v", name, err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		conn, err := pgx.Connect(ctx, base)
		if err != nil {
			t.Errorf("drop database %s: %v", name, err)
			return
		}
		defer conn.Close(context.Background())
		if _, err := conn.Exec(ctx, "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)"); err != nil {
			t.Errorf("drop database %s: %v", name, err)
		}
	})
	u.Path = "/" + name
	return u.String()
}
