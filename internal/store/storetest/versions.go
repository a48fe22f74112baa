package storetest

import (
	"encoding/json"
	"errors"
	"strings"
	"sync"
	"testing"

	"github.com/flagops/flagops/internal/domain"
	"github.com/flagops/flagops/internal/errs"
	"github.com/flagops/flagops/internal/store"
)

// estate makes environments staging (target st-1) and prod (eu-1, eu-2,
// us-1) and a project shop deployed to both.
func (h *harness) estate() {
	h.t.Helper()
	h.env("staging")
	h.env("prod")
	h.target("st-1", "staging")
	for _, tg := range []string{"eu-1", "eu-2", "us-1"} {
		h.target(tg, "prod")
	}
	h.project("shop", []string{"staging", "prod"}, nil)
}

func (h *harness) setVersion(env, target, version string) int64 {
	h.t.Helper()
	_, rev, err := h.s.SetDesiredVersion(h.ctx, ws, store.SetVersion{Project: "shop", Environment: env, Target: target, Version: version})
	if err != nil {
		h.t.Fatalf("SetDesiredVersion %s/%s=%s: %v", env, target, version, err)
	}
	return rev
}

func (h *harness) report(target, version, status string) {
	h.t.Helper()
	if _, _, err := h.s.ReportDeployed(h.ctx, ws, domain.DeployedVersion{Project: "shop", Target: target, Version: version, Status: status}); err != nil {
		h.t.Fatalf("ReportDeployed %s=%s: %v", target, version, err)
	}
}

func (h *harness) versions(env string) map[string]domain.DeploymentVersion {
	h.t.Helper()
	vs, err := h.s.DeploymentVersions(h.ctx, ws, store.VersionFilter{Project: "shop", Environment: env})
	if err != nil {
		h.t.Fatalf("DeploymentVersions: %v", err)
	}
	out := map[string]domain.DeploymentVersion{}
	for _, v := range vs {
		out[v.Target] = v
	}
	return out
}

func testVersionsPinAndDrift(t *testing.T, h *harness) {
	h.estate()
	h.setVersion("prod", "", "1.0.0")
	h.setVersion("", "eu-2", "0.9.0") // a pin; the environment comes from the target
	h.setVersion("prod", "", "1.1.0")
	got := h.versions("prod")
	for tg, want := range map[string]string{"eu-1": "1.1.0", "eu-2": "0.9.0", "us-1": "1.1.0"} {
		if got[tg].Desired != want {
			t.Errorf("%s desired = %q, want %q (all: %+v)", tg, got[tg].Desired, want, got)
		}
	}
	if !got["eu-2"].Pinned || got["eu-1"].Pinned {
		t.Errorf("pinned flags wrong: %+v", got)
	}
	h.report("eu-1", "1.1.0", domain.StatusHealthy)
	h.report("eu-2", "0.9.0", "")
	h.report("us-1", "1.0.0", domain.StatusDegraded)
	drift, err := h.s.Drift(h.ctx, ws, store.VersionFilter{Project: "shop"}, 0)
	if err != nil {
		t.Fatalf("Drift: %v", err)
	}
	// us-1 runs the old version; st-1 has no desired version, so no drift.
	if len(drift) != 1 || drift[0].Target != "us-1" || drift[0].Deployed != "1.0.0" || drift[0].Desired != "1.1.0" || drift[0].Since.IsZero() {
		t.Fatalf("drift = %+v; want us-1 only", drift)
	}
	if _, err := h.s.Unpin(h.ctx, ws, "shop", "eu-2"); err != nil {
		t.Fatalf("Unpin: %v", err)
	}
	if got := h.versions("prod"); got["eu-2"].Desired != "1.1.0" || got["eu-2"].Pinned {
		t.Fatalf("after unpin eu-2 = %+v", got["eu-2"])
	}
	drift, _ = h.s.Drift(h.ctx, ws, store.VersionFilter{Project: "shop", Environment: "prod"}, 0)
	if len(drift) != 2 {
		t.Fatalf("drift after unpin = %+v; want eu-2 and us-1", drift)
	}
	cs, _, err := h.s.ListChanges(h.ctx, domain.ChangeQuery{KeyPrefix: "shop@prod/eu-2"})
	if err != nil || len(cs) != 3 { // pin, report, unpin
		t.Fatalf("changes of shop@prod/eu-2 = %d, %v; want 3", len(cs), err)
	}
	// The actor filter keeps one actor's entries, with the other filters.
	agent := domain.WithOrigin(h.ctx, domain.Origin{Actor: "agent-eu-1"})
	if _, _, err := h.s.ReportDeployed(agent, ws, domain.DeployedVersion{Project: "shop", Target: "eu-1", Version: "1.1.0", Status: domain.StatusDegraded}); err != nil {
		t.Fatalf("ReportDeployed: %v", err)
	}
	cs, _, err = h.s.ListChanges(h.ctx, domain.ChangeQuery{Actor: "agent-eu-1", KeyPrefix: "shop@prod"})
	if err != nil || len(cs) != 1 || cs[0].Kind != domain.KindDeployedVersion || cs[0].Actor != "agent-eu-1" {
		t.Fatalf("changes by agent-eu-1 = %+v, %v; want its one report", cs, err)
	}
}

func testVersionsRollbackAndValidation(t *testing.T, h *harness) {
	h.estate()
	h.setVersion("prod", "", "1.0.0")
	h.setVersion("prod", "", "1.1.0")
	if rev := h.setVersion("prod", "", "1.1.0"); rev != 0 {
		t.Fatalf("setting the same version again wrote revision %d", rev)
	}
	// With no policy promoting into prod there is nothing to pause; with
	// one, a rollback (a person's change) pauses it.
	if holds, _ := h.s.ListHolds(h.ctx, ws); len(holds) != 0 {
		t.Fatalf("holds without any policy: %+v", holds)
	}
	if _, _, err := h.s.PutPromotionPolicy(h.ctx, ws, domain.PromotionPolicy{Project: "shop", From: "staging", To: "prod"}); err != nil {
		t.Fatalf("PutPromotionPolicy: %v", err)
	}
	v, rev, err := h.s.Rollback(h.ctx, ws, "shop", "prod", "", "", "")
	if err != nil || rev == 0 || v.Version != "1.0.0" || !strings.Contains(v.Reason, "rollback") {
		t.Fatalf("Rollback = %+v, %d, %v", v, rev, err)
	}
	holds, err := h.s.ListHolds(h.ctx, ws)
	if err != nil || len(holds) != 1 || holds[0].Environment != "prod" {
		t.Fatalf("rollback must pause promotion into prod: holds %+v, %v", holds, err)
	}
	if _, _, err := h.s.Rollback(h.ctx, ws, "shop", "prod", "", "7.0.0", ""); errs.FieldOf(err) != "to" {
		t.Fatalf("rollback to an unknown version: %v", err)
	}
	before := h.rev()
	cases := []struct {
		name  string
		v     store.SetVersion
		field string
	}{
		{"unknown environment", store.SetVersion{Project: "shop", Environment: "nope", Version: "1"}, "environment"},
		{"unknown target", store.SetVersion{Project: "shop", Target: "nope", Version: "1"}, "target"},
		{"target of another environment", store.SetVersion{Project: "shop", Environment: "staging", Target: "eu-1", Version: "1"}, "target"},
		{"unknown project", store.SetVersion{Project: "nope", Environment: "prod", Version: "1"}, "project"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, _, err := h.s.SetDesiredVersion(h.ctx, ws, tc.v)
			wantKind(t, err, errs.Invalid, tc.field)
		})
	}
	if h.rev() != before {
		t.Fatalf("refused writes moved the revision from %d to %d", before, h.rev())
	}
	// A policy that requires releases refuses a version without one.
	if _, err := h.s.SetVersionPolicy(h.ctx, ws, "shop", true); err != nil {
		t.Fatalf("SetVersionPolicy: %v", err)
	}
	_, _, err = h.s.SetDesiredVersion(h.ctx, ws, store.SetVersion{Project: "shop", Environment: "prod", Version: "2.0.0"})
	wantKind(t, err, errs.FailedPrecondition, "version")
	h.release("2.0.0", "a1")
	h.setVersion("prod", "", "2.0.0")
}

func sha(c string) string { return strings.Repeat(c, 64) }

func (h *harness) release(version, seed string) domain.Release {
	h.t.Helper()
	r := domain.Release{Project: "shop", Version: version,
		Commits: map[string]string{"github.com/acme/shop": strings.Repeat(seed[:1], 40), "github.com/acme/lib": strings.Repeat("e", 40)},
		Artifacts: []domain.Artifact{
			{Name: "shop", Platform: "linux/amd64", URL: "https://dl.example.com/shop/" + version + "/amd64", SHA256: sha(seed[:1]), Size: 10},
			{Name: "shop", Platform: "linux/arm64", URL: "https://dl.example.com/shop/" + version + "/arm64", SHA256: sha(seed[1:2]), Size: 11},
		}, Notes: "notes", Labels: map[string]string{"channel": "stable"}}
	out, _, err := h.s.CreateRelease(h.ctx, ws, r)
	if err != nil {
		h.t.Fatalf("CreateRelease %s: %v", version, err)
	}
	return out
}

func testReleases(t *testing.T, h *harness) {
	h.estate()
	r1 := h.release("1.0.0", "a1")
	h.release("1.1.0", "b2")
	_, _, err := h.s.CreateRelease(h.ctx, ws, domain.Release{Project: "shop", Version: "1.0.0"})
	wantKind(t, err, errs.AlreadyExists, "")
	got, err := h.s.GetRelease(h.ctx, ws, "shop", "1.0.0")
	if err != nil {
		t.Fatalf("GetRelease: %v", err)
	}
	a, _ := json.Marshal(got.Artifacts)
	b, _ := json.Marshal(r1.Artifacts)
	if string(a) != string(b) || got.Commits["github.com/acme/shop"] != strings.Repeat("a", 40) || got.Revision == 0 {
		t.Fatalf("GetRelease = %+v; want %+v", got, r1)
	}
	tests := []struct {
		name string
		find func() ([]domain.Release, error)
		want []string
	}{
		{"commit of one release", func() ([]domain.Release, error) { return h.s.FindReleasesByCommit(h.ctx, ws, strings.Repeat("b", 40)) }, []string{"1.1.0"}},
		{"commit shared by both", func() ([]domain.Release, error) { return h.s.FindReleasesByCommit(h.ctx, ws, strings.Repeat("e", 40)) }, []string{"1.1.0", "1.0.0"}},
		{"artifact digest", func() ([]domain.Release, error) { return h.s.FindReleasesByArtifact(h.ctx, ws, sha("1")) }, []string{"1.0.0"}},
		{"unknown digest", func() ([]domain.Release, error) { return h.s.FindReleasesByArtifact(h.ctx, ws, sha("f")) }, nil},
		{"list", func() ([]domain.Release, error) { return h.s.ListReleases(h.ctx, ws, "shop", 0) }, []string{"1.1.0", "1.0.0"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			rs, err := tc.find()
			if err != nil {
				t.Fatal(err)
			}
			var vs []string
			for _, r := range rs {
				vs = append(vs, r.Version)
			}
			if strings.Join(vs, ",") != strings.Join(tc.want, ",") {
				t.Fatalf("got %v, want %v", vs, tc.want)
			}
		})
	}
	if _, err := h.s.GetRelease(h.ctx, ws, "shop", "9.9.9"); !errors.Is(err, errs.NotFound) {
		t.Fatalf("GetRelease unknown: %v", err)
	}
}

// testPromotionExactlyOnce decides the same due promotion from many
// goroutines at once (as several scheduler instances would): exactly one
// record is created and the destination's version changes once.
func testPromotionExactlyOnce(t *testing.T, h *harness) {
	h.estate()
	h.setVersion("staging", "", "1.0.0")
	before := h.rev()
	var wg sync.WaitGroup
	created := make(chan int64, 8)
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			p, _, err := h.s.DecidePromotion(h.ctx, ws, "shop", "staging", "prod", func(st store.PromotionState) (store.PromotionAction, error) {
				if st.DestVersion == st.SourceVersion {
					return store.PromotionAction{}, nil
				}
				return store.PromotionAction{Record: &domain.Promotion{Version: st.SourceVersion, Trigger: domain.TriggerAuto, Slot: "auto"}, Apply: true}, nil
			})
			if err != nil {
				t.Errorf("DecidePromotion: %v", err)
			}
			if p.ID != 0 {
				created <- p.ID
			}
		}()
	}
	wg.Wait()
	close(created)
	if len(created) != 1 {
		t.Fatalf("%d promotions created; want exactly 1", len(created))
	}
	ps, err := h.s.ListPromotions(h.ctx, store.PromotionFilter{Workspace: ws, Project: "shop"}, 0)
	if err != nil || len(ps) != 1 || ps[0].State != domain.PromotionDone || len(ps[0].Revisions) != 1 {
		t.Fatalf("promotions = %+v, %v", ps, err)
	}
	cs := h.since(before)
	if len(cs) != 2 || cs[0].Kind != domain.KindVersion || cs[0].Key != "shop@prod" || cs[1].Kind != domain.KindPromotion {
		t.Fatalf("changes = %+v; want one version and one promotion entry", cs)
	}
}
