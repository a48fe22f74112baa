package domain

import (
	"strings"
	"testing"
	"time"

	"github.com/flagops/flagops/internal/errs"
)

func TestValidateVersionAndDigests(t *testing.T) {
	tests := []struct {
		name  string
		check func() error
		ok    bool
	}{
		{"semver", func() error { return ValidateVersion("version", "1.4.2-rc.1+build.7") }, true},
		{"git describe", func() error { return ValidateVersion("version", "v1.4.2-3-g3f2a9c0") }, true},
		{"empty", func() error { return ValidateVersion("version", "") }, false},
		{"spaces", func() error { return ValidateVersion("version", "1.0 beta") }, false},
		{"128 characters", func() error { return ValidateVersion("version", strings.Repeat("1", 128)) }, true},
		{"129 characters", func() error { return ValidateVersion("version", strings.Repeat("1", 129)) }, false},
		{"sha256", func() error { return ValidateSHA256("sha256", strings.Repeat("a", 64)) }, true},
		{"sha256 short", func() error { return ValidateSHA256("sha256", strings.Repeat("a", 63)) }, false},
		{"sha256 upper case", func() error { return ValidateSHA256("sha256", strings.Repeat("A", 64)) }, false},
		{"commit", func() error { return ValidateCommit("commit", strings.Repeat("0", 40)) }, true},
		{"short commit", func() error { return ValidateCommit("commit", "3f2a9c0") }, false},
		{"platform", func() error { return ValidatePlatform("platform", "linux/arm64/v8") }, true},
		{"platform without arch", func() error { return ValidatePlatform("platform", "linux") }, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.check()
			if (err == nil) != tc.ok {
				t.Fatalf("err = %v; want ok %v", err, tc.ok)
			}
			if err != nil && (errs.KindOf(err) != errs.Invalid || errs.FieldOf(err) == "") {
				t.Fatalf("err = %v; want an Invalid field error", err)
			}
		})
	}
}

func TestWindows(t *testing.T) {
	// 2026-01-05 is a Monday.
	mon10 := time.Date(2026, 1, 5, 10, 0, 0, 0, time.UTC)
	tests := []struct {
		name string
		w    Window
		at   time.Time
		want bool
	}{
		{"weekly inside", Window{Days: []string{"mon"}, From: "09:00", To: "17:00"}, mon10, true},
		{"weekly other day", Window{Days: []string{"tue"}, From: "09:00", To: "17:00"}, mon10, false},
		{"weekly end exclusive", Window{Days: []string{"mon"}, From: "09:00", To: "10:00"}, mon10, false},
		{"crosses midnight", Window{Days: []string{"sun"}, From: "22:00", To: "11:00"}, mon10, true},
		{"once inside", Window{Start: mon10.Add(-time.Hour), End: mon10.Add(time.Hour)}, mon10, true},
		{"once after", Window{Start: mon10.Add(-2 * time.Hour), End: mon10}, mon10, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := tc.w.Contains(tc.at, time.UTC); got != tc.want {
				t.Fatalf("Contains = %v; want %v", got, tc.want)
			}
		})
	}
	p := PromotionPolicy{Project: "shop", From: "staging", To: "prod", Timezone: "Europe/Berlin",
		AllowedWindows: []Window{{Days: []string{"mon"}, From: "09:00", To: "17:00"}}}
	if err := p.Validate(); err != nil {
		t.Fatal(err)
	}
	// 08:30 UTC is 09:30 in Berlin in winter: inside the window.
	if r := p.Blocked(time.Date(2026, 1, 5, 8, 30, 0, 0, time.UTC)); r != "" {
		t.Fatalf("Blocked = %q; want allowed in the policy's time zone", r)
	}
}
