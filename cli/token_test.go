package cli

import (
	"strings"
	"testing"
)

// TestDataDirTokenAllowed: the data directory's admin token goes only to a
// loopback server, and only to one of that data directory's servers when
// they recorded their URLs (issue 9.7).
func TestDataDirTokenAllowed(t *testing.T) {
	local := []string{"http://127.0.0.1:8080"}
	tests := []struct {
		name     string
		server   string
		recorded []string
		ok       bool
		why      string // a substring of the reason when refused
	}{
		{"the data directory's server", "http://127.0.0.1:8080", local, true, ""},
		{"the same server as localhost", "http://localhost:8080", local, true, ""},
		{"the same server over IPv6 loopback", "http://[::1]:8080", local, true, ""},
		{"a server listening on every interface", "http://127.0.0.1:8080", []string{"http://[::]:8080"}, true, ""},
		{"one of several recorded servers", "http://127.0.0.1:9090", []string{"http://127.0.0.1:8080", "http://127.0.0.1:9090"}, true, ""},
		{"loopback, nothing recorded (an older server)", "http://127.0.0.1:8080", nil, true, ""},
		{"a remote host", "https://flagops.example.com", local, false, "only to a server on this machine"},
		{"a remote host, nothing recorded", "https://flagops.example.com", nil, false, "only to a server on this machine"},
		{"a remote IP", "http://10.0.0.5:8080", local, false, "only to a server on this machine"},
		{"a name that merely contains localhost", "http://localhost.example.com:8080", local, false, "only to a server on this machine"},
		{"credentials in the URL are not echoed", "http://user:hunter2@evil.example:8080", local, false, "xxxxx"},
		{"another loopback server", "http://127.0.0.1:9999", local, false, "only to the server of that data directory"},
		{"another scheme", "https://127.0.0.1:8080", local, false, "only to the server of that data directory"},
		{"a recorded server bound to another interface", "http://127.0.0.1:8080", []string{"http://10.0.0.5:8080"}, false, "only to the server of that data directory"},
		{"not a URL", "127.0.0.1:8080", local, false, "not a URL"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ok, why := dataDirTokenAllowed(tc.server, tc.recorded)
			if ok != tc.ok {
				t.Fatalf("allowed = %v (%s), want %v", ok, why, tc.ok)
			}
			if !tc.ok && !strings.Contains(why, tc.why) {
				t.Errorf("reason %q does not say %q", why, tc.why)
			}
			if strings.Contains(why, "hunter2") {
				t.Errorf("the reason echoes the URL's password: %s", why)
			}
		})
	}
}
