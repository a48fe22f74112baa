package storetest

import (
	"encoding/json"
	"errors"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/flagops/flagops/internal/domain"
	"github.com/flagops/flagops/internal/errs"
	"github.com/flagops/flagops/internal/flag"
	"github.com/flagops/flagops/internal/store"
)

// flagTests are the flag, segment and schedule cases of the suite.
var flagTests = []struct {
	name string
	fn   func(t *testing.T, h *harness)
}{
	{"FlagsPutGetList", testFlagsCRUD},
	{"FlagsValidateSet", testFlagsValidation},
	{"FlagsDelete", testFlagsDelete},
	{"FlagSchedulesRunDue", testFlagSchedules},
	{"FlagsConcurrentCycle", testFlagsConcurrentCycle},
}

// testFlagsConcurrentCycle races writes that are each valid alone but form
// a prerequisite cycle together: since the set is validated inside the
// write transaction, exactly one of each pair must win.
func testFlagsConcurrentCycle(t *testing.T, h *harness) {
	h.flagProject()
	const pairs = 8
	for i := range pairs {
		a, b := "a"+strconv.Itoa(i), "b"+strconv.Itoa(i)
		h.putFlag(flag.Flag{Project: "shop", Key: a})
		h.putFlag(flag.Flag{Project: "shop", Key: b})
		errc := make(chan error, 2)
		for _, kv := range [][2]string{{a, b}, {b, a}} {
			go func() {
				_, _, err := h.s.PutFlag(h.ctx, ws, flag.Flag{Project: "shop", Key: kv[0], Environments: map[string]flag.Targeting{"prod": {
					Enabled: true, Prerequisites: []flag.Prerequisite{{Flag: kv[1], Variation: "on"}},
				}}}, nil)
				errc <- err
			}()
		}
		var failed int
		for range 2 {
			if err := <-errc; err != nil {
				if !errors.Is(err, errs.Invalid) {
					t.Fatalf("pair %d: %v", i, err)
				}
				failed++
			}
		}
		if failed != 1 {
			t.Fatalf("pair %d: %d writes failed, want exactly 1", i, failed)
		}
	}
	flags, segs, _, err := h.s.ProjectFlags(h.ctx, ws, "shop")
	if err != nil {
		t.Fatal(err)
	}
	if err := flag.ValidateSet(flags, segs); err != nil {
		t.Fatalf("the stored set is invalid: %v", err)
	}
}

// flagProject makes environments dev and prod and project shop on both.
func (h *harness) flagProject() {
	h.env("dev")
	h.env("prod")
	h.env("other")
	h.project("shop", []string{"dev", "prod"}, nil)
}

// replicasFlag is the README's number flag: tier decides the replicas.
func replicasFlag() flag.Flag {
	return flag.Flag{
		Project: "shop", Key: "replicas", Type: flag.TypeNumber,
		Variations: []flag.Variation{
			{Key: "free", Value: json.RawMessage("1")},
			{Key: "pro", Value: json.RawMessage("3")},
			{Key: "enterprise", Value: json.RawMessage("5")},
		},
		Environments: map[string]flag.Targeting{"prod": {
			Enabled: true, OffVariation: "free",
			Rules: []flag.Rule{
				{Conditions: []flag.Condition{{Attribute: "tier", Operator: flag.OpEquals, Values: []any{"enterprise"}}}, Serve: flag.Serve{Variation: "enterprise"}},
				{Conditions: []flag.Condition{{Attribute: "tier", Operator: flag.OpEquals, Values: []any{"pro"}}}, Serve: flag.Serve{Variation: "pro"}},
			},
			Fallthrough: flag.Serve{Variation: "free"},
		}},
	}
}

func (h *harness) putFlag(f flag.Flag) flag.Flag {
	h.t.Helper()
	out, _, err := h.s.PutFlag(h.ctx, ws, f, nil)
	if err != nil {
		h.t.Fatalf("PutFlag %s: %v", f.Key, err)
	}
	return out
}

func testFlagsCRUD(t *testing.T, h *harness) {
	h.flagProject()
	f, op, err := h.s.PutFlag(h.ctx, ws, replicasFlag(), ptr(0))
	if err != nil || op != domain.OpCreate {
		t.Fatalf("create: op %q err %v", op, err)
	}
	if f.Revision != h.rev() {
		t.Errorf("revision %d, want %d", f.Revision, h.rev())
	}
	t.Run("idempotent", func(t *testing.T) {
		before := h.rev()
		_, op, err := h.s.PutFlag(h.ctx, ws, replicasFlag(), nil)
		if err != nil || op != domain.OpNone || h.rev() != before {
			t.Fatalf("second put: op %q err %v rev %d→%d", op, err, before, h.rev())
		}
	})
	t.Run("expected revision", func(t *testing.T) {
		g := replicasFlag()
		g.Description = "changed"
		if _, _, err := h.s.PutFlag(h.ctx, ws, g, ptr(f.Revision+100)); !errors.Is(err, errs.Conflict) {
			t.Fatalf("stale expected revision: %v, want Conflict", err)
		}
		got, op, err := h.s.PutFlag(h.ctx, ws, g, ptr(f.Revision))
		if err != nil || op != domain.OpUpdate || got.Revision <= f.Revision {
			t.Fatalf("update: op %q err %v rev %d", op, err, got.Revision)
		}
	})
	t.Run("boolean defaults", func(t *testing.T) {
		b := h.putFlag(flag.Flag{Project: "shop", Key: "new-checkout", Environments: map[string]flag.Targeting{"dev": {Enabled: true}}})
		if b.Type != flag.TypeBoolean || len(b.Variations) != 2 || b.Environments["dev"].Fallthrough.Variation != flag.VariationOn {
			t.Fatalf("defaults not applied: %+v", b)
		}
	})
	t.Run("get and change log", func(t *testing.T) {
		got, err := h.s.GetFlag(h.ctx, ws, "shop", "replicas")
		if err != nil || got.Description != "changed" || got.Project != "shop" {
			t.Fatalf("GetFlag: %+v %v", got, err)
		}
		if _, err := h.s.GetFlag(h.ctx, ws, "shop", "nope"); !errors.Is(err, errs.NotFound) {
			t.Fatalf("missing flag: %v", err)
		}
		chs, _, err := h.s.ListChanges(h.ctx, domain.ChangeQuery{Kind: domain.KindFlag, Key: "shop/replicas"})
		if err != nil || len(chs) != 2 || chs[1].Op != domain.OpUpdate || chs[1].Before == nil || chs[1].After == nil {
			t.Fatalf("changes of shop/replicas: %+v %v", chs, err)
		}
		var after flag.Flag
		if err := json.Unmarshal(chs[1].After, &after); err != nil || after.Revision != got.Revision {
			t.Fatalf("after document: %s (%v)", chs[1].After, err)
		}
	})
	t.Run("list pages", func(t *testing.T) {
		for _, k := range []string{"a1", "a2", "a3"} {
			h.putFlag(flag.Flag{Project: "shop", Key: k})
		}
		var keys []string
		tok := ""
		for {
			page, next, err := h.s.ListFlags(h.ctx, ws, "shop", domain.Page{Size: 2, Token: tok})
			if err != nil {
				t.Fatal(err)
			}
			for _, f := range page {
				keys = append(keys, f.Key)
			}
			if next == "" {
				break
			}
			tok = next
		}
		if got := strings.Join(keys, ","); got != "a1,a2,a3,new-checkout,replicas" {
			t.Fatalf("listed %s", got)
		}
	})
	t.Run("segments", func(t *testing.T) {
		sg, op, err := h.s.PutSegment(h.ctx, ws, flag.Segment{Project: "shop", Key: "beta", Include: []string{"u1"}}, ptr(0))
		if err != nil || op != domain.OpCreate {
			t.Fatalf("PutSegment: %v", err)
		}
		got, err := h.s.GetSegment(h.ctx, ws, "shop", "beta")
		if err != nil || got.Revision != sg.Revision {
			t.Fatalf("GetSegment: %+v %v", got, err)
		}
		list, _, err := h.s.ListSegments(h.ctx, ws, "shop", domain.Page{})
		if err != nil || len(list) != 1 {
			t.Fatalf("ListSegments: %v %v", list, err)
		}
		flags, segs, rev, err := h.s.ProjectFlags(h.ctx, ws, "shop")
		if err != nil || len(flags) != 5 || len(segs) != 1 || rev != h.rev() {
			t.Fatalf("ProjectFlags: %d flags %d segments rev %d (%v)", len(flags), len(segs), rev, err)
		}
	})
}

func testFlagsValidation(t *testing.T, h *harness) {
	h.flagProject()
	h.putFlag(flag.Flag{Project: "shop", Key: "a", Environments: map[string]flag.Targeting{"prod": {Enabled: true}}})
	withPrereq := func(key, req string) flag.Flag {
		return flag.Flag{Project: "shop", Key: key, Environments: map[string]flag.Targeting{"prod": {
			Enabled: true, Prerequisites: []flag.Prerequisite{{Flag: req, Variation: "on"}},
		}}}
	}
	h.putFlag(withPrereq("b", "a"))
	tests := []struct {
		name  string
		put   func() error
		field string
		kind  error
	}{
		{"environment not of the project", func() error {
			_, _, err := h.s.PutFlag(h.ctx, ws, flag.Flag{Project: "shop", Key: "x", Environments: map[string]flag.Targeting{"other": {}}}, nil)
			return err
		}, "environments.other", errs.Invalid},
		{"missing project", func() error {
			_, _, err := h.s.PutFlag(h.ctx, ws, flag.Flag{Project: "nope", Key: "x"}, nil)
			return err
		}, "project", errs.Invalid},
		{"missing segment", func() error {
			f := flag.Flag{Project: "shop", Key: "x", Environments: map[string]flag.Targeting{"prod": {
				Rules: []flag.Rule{{Segment: "ghosts", Serve: flag.Serve{Variation: "on"}}},
			}}}
			_, _, err := h.s.PutFlag(h.ctx, ws, f, nil)
			return err
		}, "environments.prod.rules[0].segment", errs.Invalid},
		{"prerequisite cycle across flags", func() error {
			_, _, err := h.s.PutFlag(h.ctx, ws, withPrereq("a", "b"), nil)
			return err
		}, "environments.prod.prerequisites", errs.Invalid},
		{"missing prerequisite", func() error {
			_, _, err := h.s.PutFlag(h.ctx, ws, withPrereq("c", "ghost"), nil)
			return err
		}, "environments.prod.prerequisites[0].flag", errs.Invalid},
		{"invalid flag", func() error {
			_, _, err := h.s.PutFlag(h.ctx, ws, flag.Flag{Project: "shop", Key: "1bad"}, nil)
			return err
		}, "key", errs.Invalid},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			before := h.rev()
			err := tc.put()
			if !errors.Is(err, tc.kind) {
				t.Fatalf("err %v, want kind %v", err, tc.kind)
			}
			if got := errs.FieldOf(err); got != tc.field {
				t.Fatalf("field %q, want %q (err %v)", got, tc.field, err)
			}
			if h.rev() != before {
				t.Fatalf("a refused write moved the revision")
			}
		})
	}
}

func testFlagsDelete(t *testing.T, h *harness) {
	h.flagProject()
	if _, _, err := h.s.PutSegment(h.ctx, ws, flag.Segment{Project: "shop", Key: "beta", Include: []string{"u1"}}, nil); err != nil {
		t.Fatal(err)
	}
	h.putFlag(flag.Flag{Project: "shop", Key: "a", Environments: map[string]flag.Targeting{"prod": {
		Enabled: true, Rules: []flag.Rule{{Segment: "beta", Serve: flag.Serve{Variation: "off"}}},
	}}})
	h.putFlag(flag.Flag{Project: "shop", Key: "b", Environments: map[string]flag.Targeting{"prod": {
		Enabled: true, Prerequisites: []flag.Prerequisite{{Flag: "a", Variation: "on"}},
	}}})
	tests := []struct {
		name  string
		del   func(force bool) error
		check func(t *testing.T)
	}{
		{"segment used by a rule", func(force bool) error {
			return h.s.DeleteSegment(h.ctx, ws, "shop", "beta", store.DeleteOptions{Force: force})
		}, func(t *testing.T) {
			a, _ := h.s.GetFlag(h.ctx, ws, "shop", "a")
			if len(a.Environments["prod"].Rules) != 0 {
				t.Fatalf("forced delete kept the rule: %+v", a.Environments["prod"])
			}
		}},
		{"flag required as a prerequisite", func(force bool) error {
			return h.s.DeleteFlag(h.ctx, ws, "shop", "a", store.DeleteOptions{Force: force})
		}, func(t *testing.T) {
			b, _ := h.s.GetFlag(h.ctx, ws, "shop", "b")
			if len(b.Environments["prod"].Prerequisites) != 0 {
				t.Fatalf("forced delete kept the prerequisite")
			}
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			before := h.rev()
			if err := tc.del(false); !errors.Is(err, errs.FailedPrecondition) || !strings.Contains(err.Error(), "shop/") {
				t.Fatalf("unforced: %v, want FailedPrecondition naming the dependent", err)
			}
			if h.rev() != before {
				t.Fatal("refused delete moved the revision")
			}
			if err := tc.del(true); err != nil {
				t.Fatalf("forced: %v", err)
			}
			chs, _, _ := h.s.ListChanges(h.ctx, domain.ChangeQuery{FromRevision: before})
			if len(chs) != 2 || chs[0].Revision != chs[1].Revision {
				t.Fatalf("forced delete wrote %d changes, want 2 at one revision: %+v", len(chs), chs)
			}
			tc.check(t)
		})
	}
	t.Run("project loses an environment", func(t *testing.T) {
		h.putFlag(flag.Flag{Project: "shop", Key: "c", Environments: map[string]flag.Targeting{"dev": {Enabled: true}, "prod": {}}})
		p, _, err := h.s.PutProject(h.ctx, domain.Project{Meta: meta("shop"), Environments: []string{"prod"}}, nil)
		if err != nil {
			t.Fatal(err)
		}
		c, _ := h.s.GetFlag(h.ctx, ws, "shop", "c")
		if _, ok := c.Environments["dev"]; ok || c.Revision != p.Revision {
			t.Fatalf("flag kept dev or was not rewritten in the project's revision: %+v", c)
		}
	})
	t.Run("project with flags", func(t *testing.T) {
		if err := h.s.DeleteProject(h.ctx, ws, "shop", store.DeleteOptions{}); !errors.Is(err, errs.FailedPrecondition) {
			t.Fatalf("unforced project delete: %v", err)
		}
		if err := h.s.DeleteProject(h.ctx, ws, "shop", store.DeleteOptions{Force: true}); err != nil {
			t.Fatalf("forced project delete: %v", err)
		}
		if _, err := h.s.GetFlag(h.ctx, ws, "shop", "b"); !errors.Is(err, errs.NotFound) {
			t.Fatalf("flag survived its project: %v", err)
		}
	})
}

func testFlagSchedules(t *testing.T, h *harness) {
	h.flagProject()
	h.putFlag(flag.Flag{Project: "shop", Key: "checkout", Environments: map[string]flag.Targeting{"prod": {Enabled: true, Fallthrough: flag.Serve{Variation: "off"}}}})
	t0 := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	disable := false
	ch, err := h.s.CreateSchedule(h.ctx, ws, store.Schedule{Change: &flag.ScheduledChange{
		Project: "shop", Flag: "checkout", Environment: "prod", At: t0.Add(3 * time.Hour),
		Patch: &flag.TargetingPatch{Enabled: &disable},
	}})
	if err != nil {
		t.Fatalf("CreateSchedule change: %v", err)
	}
	ro, err := h.s.CreateSchedule(h.ctx, ws, store.Schedule{Rollout: &flag.ProgressiveRollout{
		Project: "shop", Flag: "checkout", Environment: "prod", Variation: "on",
		Steps: []flag.RolloutStep{{At: t0, Weight: 10000}, {At: t0.Add(time.Hour), Weight: 50000}, {At: t0.Add(2 * time.Hour), Weight: 100000}},
	}})
	if err != nil {
		t.Fatalf("CreateSchedule rollout: %v", err)
	}
	if _, err := h.s.CreateSchedule(h.ctx, ws, store.Schedule{Rollout: &flag.ProgressiveRollout{
		Project: "shop", Flag: "checkout", Environment: "other", Variation: "on", Steps: []flag.RolloutStep{{At: t0, Weight: 1}},
	}}); errs.FieldOf(err) != "rollout.environment" {
		t.Fatalf("schedule in a foreign environment: %v", err)
	}
	weights := func() string {
		f, err := h.s.GetFlag(h.ctx, ws, "shop", "checkout")
		if err != nil {
			t.Fatal(err)
		}
		b, _ := json.Marshal(f.Environments["prod"].Fallthrough)
		return string(b)
	}
	steps := []struct {
		at      time.Time
		want    string
		changes int
	}{
		{t0.Add(-time.Minute), `{"variation":"off"}`, 0},
		{t0, `{"rollout":[{"variation":"on","weight":10000},{"variation":"off","weight":90000}]}`, 2},
		{t0.Add(time.Minute), `{"rollout":[{"variation":"on","weight":10000},{"variation":"off","weight":90000}]}`, 0},
		// Two steps due at once run in order, one revision each.
		{t0.Add(2 * time.Hour), `{"rollout":[{"variation":"on","weight":100000}]}`, 4},
	}
	for _, st := range steps {
		t.Run(st.at.Format(time.Kitchen), func(t *testing.T) {
			before := h.rev()
			if err := h.s.RunDue(h.ctx, st.at); err != nil {
				t.Fatalf("RunDue: %v", err)
			}
			if got := weights(); got != st.want {
				t.Fatalf("fallthrough %s, want %s", got, st.want)
			}
			chs, _, _ := h.s.ListChanges(h.ctx, domain.ChangeQuery{FromRevision: before})
			if len(chs) != st.changes {
				t.Fatalf("%d changes, want %d: %+v", len(chs), st.changes, chs)
			}
		})
	}
	got, err := h.s.GetSchedule(h.ctx, ws, "shop", ro.ID)
	if err != nil || got.State != store.StateDone || got.Steps[2].AppliedRevision == 0 {
		t.Fatalf("rollout after its last step: %+v %v", got, err)
	}
	t.Run("cancel", func(t *testing.T) {
		c, err := h.s.CancelSchedule(h.ctx, ws, "shop", ch.ID)
		if err != nil || c.State != store.StateCancelled || c.Steps[0].State != store.StateCancelled {
			t.Fatalf("cancel: %+v %v", c, err)
		}
		if err := h.s.RunDue(h.ctx, t0.Add(24*time.Hour)); err != nil {
			t.Fatal(err)
		}
		if f, _ := h.s.GetFlag(h.ctx, ws, "shop", "checkout"); !f.Environments["prod"].Enabled {
			t.Fatal("a cancelled change ran")
		}
		if _, err := h.s.CancelSchedule(h.ctx, ws, "shop", ro.ID); !errors.Is(err, errs.FailedPrecondition) {
			t.Fatalf("cancel a finished schedule: %v", err)
		}
		list, _, err := h.s.ListSchedules(h.ctx, ws, "shop", "checkout", domain.Page{})
		if err != nil || len(list) != 2 {
			t.Fatalf("ListSchedules: %d %v", len(list), err)
		}
	})
	t.Run("step that cannot apply fails the schedule", func(t *testing.T) {
		rule := 3
		sc, err := h.s.CreateSchedule(h.ctx, ws, store.Schedule{Rollout: &flag.ProgressiveRollout{
			Project: "shop", Flag: "checkout", Environment: "prod", Variation: "on", Rule: &rule,
			Steps: []flag.RolloutStep{{At: t0, Weight: 1000}, {At: t0.Add(time.Hour), Weight: 2000}},
		}})
		if err != nil {
			t.Fatal(err)
		}
		if err := h.s.RunDue(h.ctx, t0.Add(48*time.Hour)); err != nil {
			t.Fatal(err)
		}
		got, _ := h.s.GetSchedule(h.ctx, ws, "shop", sc.ID)
		if got.State != store.StateFailed || got.Steps[0].State != store.StateFailed || got.Steps[0].Error == "" || got.Steps[1].State != store.StateCancelled {
			t.Fatalf("schedule: %+v", got)
		}
	})
}
