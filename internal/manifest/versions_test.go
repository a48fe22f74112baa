package manifest

import (
	"strings"
	"testing"
	"time"

	"github.com/flagops/flagops/internal/domain"
)

func TestReleaseAndPolicyDocuments(t *testing.T) {
	sha := strings.Repeat("a", 64)
	tests := []struct {
		name    string
		yaml    string
		wantErr string
		check   func(t *testing.T, obj any)
	}{
		{"release", "kind: Release\nproject: shop\nversion: 1.0.0\ncommits: {github.com/acme/shop: " + strings.Repeat("0", 40) + "}\n" +
			"artifacts:\n  - {name: shop, platform: linux/amd64, url: 'https://x/shop', sha256: " + sha + ", size: 3}\n", "",
			func(t *testing.T, obj any) {
				r := obj.(domain.Release)
				if r.Version != "1.0.0" || len(r.Artifacts) != 1 || r.Artifacts[0].Size != 3 {
					t.Fatalf("release = %+v", r)
				}
			}},
		{"release bad digest", "kind: Release\nproject: shop\nversion: 1.0.0\nartifacts:\n  - {name: shop, url: u, sha256: abc}\n", "artifacts[0].sha256", nil},
		{"release unknown field", "kind: Release\nproject: shop\nversion: 1.0.0\nchannel: stable\n", "channel", nil},
		{"policy", "kind: PromotionPolicy\nproject: shop\nfrom: staging\nto: prod\nsoak: 90m\nschedule: '@daily'\n" +
			"freezeWindows:\n  - {start: '2026-12-20T00:00:00Z', end: '2027-01-04T00:00:00Z', reason: holidays}\n", "",
			func(t *testing.T, obj any) {
				p := obj.(domain.PromotionPolicy)
				if p.Soak != 90*time.Minute || len(p.FreezeWindows) != 1 || p.FreezeWindows[0].End.Year() != 2027 {
					t.Fatalf("policy = %+v", p)
				}
			}},
		{"policy bad cron", "kind: PromotionPolicy\nproject: shop\nfrom: staging\nto: prod\nschedule: every day\n", "schedule", nil},
		{"policy bad soak", "kind: PromotionPolicy\nproject: shop\nfrom: staging\nto: prod\nsoak: long\n", "soak", nil},
		{"policy bad time", "kind: PromotionPolicy\nproject: shop\nfrom: staging\nto: prod\nfreezeWindows: [{start: tomorrow, end: later}]\n", "freezeWindows[0].start", nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			docs, err := Parse("test.yaml", []byte(tc.yaml))
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("Parse error = %v; want one naming %q", err, tc.wantErr)
				}
				return
			}
			if err != nil || len(docs) != 1 {
				t.Fatalf("Parse = %d docs, %v", len(docs), err)
			}
			tc.check(t, docs[0].Object)
		})
	}
}
