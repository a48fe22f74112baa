package adversarial_test

import (
	"crypto/rand"
	"encoding/hex"
	"net/http"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/flagops/flagops/internal/server"
	"github.com/flagops/flagops/internal/server/servertest"
)

// procedureLabel matches the procedure label of a metrics series.
var procedureLabel = regexp.MustCompile(`procedure="([^"]*)"`)

// edgeProcedures scrapes /metrics as the admin and returns its distinct
// procedure label values and its size.
func edgeProcedures(t *testing.T, s *server.Server) ([]string, int) {
	t.Helper()
	status, body := edgeDo(t, http.MethodGet, s.URL()+"/metrics", "", "", nil)
	if status != http.StatusOK {
		t.Fatalf("/metrics answered %d", status)
	}
	seen := map[string]bool{}
	for _, m := range procedureLabel.FindAllStringSubmatch(body, -1) {
		seen[m[1]] = true
	}
	out := make([]string, 0, len(seen))
	for p := range seen {
		out = append(out, p)
	}
	slices.Sort(out)
	return out, len(body)
}

// TestEdgeMetricsLabelCardinality keeps issue 9.8 fixed: an anonymous
// client posting to made-up procedure names under a real service's path
// must not create a metrics series per name. Only registered procedures
// get their own label value; everything else is "unknown".
func TestEdgeMetricsLabelCardinality(t *testing.T) {
	servertest.Backends(t, func(t *testing.T, cfg server.Config) {
		s := servertest.Start(t, cfg)
		// One made-up call first, so "unknown" (or, before the fix, the
		// first made-up name) is already counted in the baseline.
		edgeDo(t, http.MethodPost, s.URL()+"/flagops.v1.FactService/warmup", servertest.NoToken, "application/json", strings.NewReader("{}"))
		edgeProcedures(t, s) // the scrape itself is counted from the next one on
		before, sizeBefore := edgeProcedures(t, s)

		services := []string{"FactService", "CatalogService", "ChangeService", "SecretService", "AccessService"}
		var names []string
		for i := range 300 {
			var b [12]byte
			_, _ = rand.Read(b[:])
			name := "/flagops.v1." + services[i%len(services)] + "/" + hex.EncodeToString(b[:])
			names = append(names, name)
			status, _ := edgeDo(t, http.MethodPost, s.URL()+name, servertest.NoToken, "application/json", strings.NewReader("{}"))
			if status < 400 {
				t.Fatalf("POST %s answered %d", name, status)
			}
		}

		after, sizeAfter := edgeProcedures(t, s)
		grown := len(after) - len(before)
		t.Logf("procedure label values: %d before, %d after 300 made-up names; /metrics %d -> %d bytes",
			len(before), len(after), sizeBefore, sizeAfter)
		if grown > 0 {
			t.Errorf("300 made-up procedure names added %d label values: %v", grown, edgeDiff(after, before))
		}
		for _, p := range after {
			if p != "unknown" && !strings.HasPrefix(p, "/flagops.v1.") && !strings.Contains(p, " /") {
				t.Errorf("unexpected procedure label %q", p)
			}
		}
		status, body := edgeDo(t, http.MethodGet, s.URL()+"/metrics", "", "", nil)
		if status != http.StatusOK {
			t.Fatalf("/metrics answered %d", status)
		}
		for _, name := range names {
			if strings.Contains(body, name) {
				t.Fatalf("/metrics names the made-up procedure %s", name)
			}
		}
		if !strings.Contains(body, `procedure="unknown"`) {
			t.Errorf("/metrics does not count the made-up calls under procedure=\"unknown\"")
		}
	})
}

func edgeDiff(a, b []string) []string {
	var out []string
	for _, x := range a {
		if !slices.Contains(b, x) {
			out = append(out, x)
		}
	}
	if len(out) > 5 {
		out = append(out[:5], "…")
	}
	return out
}
