package charttest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"net/url"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// testDatabase creates an empty database on the server FLAGOPS_TEST_POSTGRES
// names and drops it when the test ends. Without the variable the test is
// skipped, unless FLAGOPS_REQUIRE_POSTGRES makes PostgreSQL mandatory (CI).
func testDatabase(t *testing.T) string {
	t.Helper()
	base := os.Getenv("FLAGOPS_TEST_POSTGRES")
	if base == "" {
		if os.Getenv("FLAGOPS_REQUIRE_POSTGRES") != "" {
			t.Fatal("FLAGOPS_REQUIRE_POSTGRES is set but FLAGOPS_TEST_POSTGRES is empty")
		}
		t.Skip("FLAGOPS_TEST_POSTGRES is not set: no PostgreSQL to run the chart's PostgreSQL servers on")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, base)
	if err != nil {
		t.Fatalf("connect to FLAGOPS_TEST_POSTGRES: %v", err)
	}
	defer conn.Close(ctx)
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	name := "flagops_charttest_" + hex.EncodeToString(b)
	if _, err := conn.Exec(ctx, "CREATE DATABASE "+name); err != nil {
		t.Fatalf("create database: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		conn, err := pgx.Connect(ctx, base)
		if err != nil {
			t.Errorf("drop database %s: %v", name, err)
			return
		}
		defer conn.Close(ctx)
		if _, err := conn.Exec(ctx, "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)"); err != nil {
			t.Errorf("drop database %s: %v", name, err)
		}
	})
	u, err := url.Parse(base)
	if err != nil {
		t.Fatal(err)
	}
	u.Path = "/" + name
	return u.String()
}

// TestRenderedPostgresTwoInstances runs two servers from the rendered
// PostgreSQL Deployment (replicaCount 2), each with its own data directory
// as each pod has its own emptyDir, the database URL from an existing
// Secret, and the master key and admin token the chart generated. Neither
// pod writes admin.token; the Secret's token is the admin's on both (the
// first start made the key, the second found it). A secret stored through
// one instance reads back through the other, so the instances share the
// database and the keys.
func TestRenderedPostgresTwoInstances(t *testing.T) {
	dbURL := testDatabase(t)
	r := render(t, values(t, "database: {type: postgresql, existingSecret: flagops-db}\nreplicaCount: 2"))
	outside := map[string]map[string]string{"flagops-db": {"url": dbURL}}
	pods := []*serverProcess{
		startRendered(t, r, outside, filepath.Join(t.TempDir(), "pod-a"), nil),
		startRendered(t, r, outside, filepath.Join(t.TempDir(), "pod-b"), nil),
	}
	for _, p := range pods {
		if _, err := os.Stat(filepath.Join(p.dataDir, "admin.token")); !os.IsNotExist(err) {
			t.Fatalf("pod %s holds admin.token: %v", p.dataDir, err)
		}
		if _, err := p.cli(t, "", []string{"FLAGOPS_TOKEN=" + bootstrapToken(t, r)}, "keys", "list"); err != nil {
			t.Fatalf("the Secret's token on pod %s: %v", p.dataDir, err)
		}
	}
	auth := adminKey(t, r, pods[1])
	putSecret(t, pods[1], auth, "shared-s3cr3t")
	if got := pods[0].mustCLI(t, "", auth, "secrets", "get", "environment/prod", "dbPassword"); got != "shared-s3cr3t" {
		t.Fatalf("the other instance reads %q", got)
	}
}
