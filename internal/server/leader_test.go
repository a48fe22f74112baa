package server_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/flagops/flagops/internal/server"
	"github.com/flagops/flagops/internal/server/servertest"
)

// TestLeaseConfigRefused: lease timings that could not keep a lease are
// refused at start, naming the setting and the rule.
func TestLeaseConfigRefused(t *testing.T) {
	tests := []struct {
		name         string
		lease, renew time.Duration
		want         string
	}{
		{"renew as long as the lease", time.Second, time.Second, "leaseRenewInterval: must be shorter than the lease duration"},
		{"renew longer than the default lease", 0, time.Minute, "leaseRenewInterval: must be shorter than the lease duration (15s)"},
		{"negative lease", -time.Second, 0, "leaseDuration: must not be negative"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s, err := server.Start(context.Background(), server.Config{Listen: "127.0.0.1:0", DataDir: t.TempDir(),
				Logger: servertest.Logger(), LeaseDuration: tc.lease, LeaseRenewInterval: tc.renew})
			if err == nil {
				s.Shutdown(context.Background())
				t.Fatal("started")
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Start = %v; want an error saying %q", err, tc.want)
			}
		})
	}
}
