package auth

import (
	"context"
	"testing"

	flagopsv1 "github.com/flagops/flagops/gen/flagops/v1"
	"github.com/flagops/flagops/internal/domain"
	"github.com/flagops/flagops/internal/errs"
)

// TestProjectScopedKeys pins what the policy's resource functions promise:
// a key bound to project/shop manages shop's flags, versions, releases and
// promotions, and no other project's; an evaluator bound to environment/prod
// evaluates in prod only; an agent bound to target/eu-1 reports there only.
func TestProjectScopedKeys(t *testing.T) {
	principal := func(bindings ...string) context.Context {
		k := domain.APIKey{ID: "k", Name: "k"}
		for _, b := range bindings {
			p, err := domain.ParseBinding(b)
			if err != nil {
				t.Fatal(err)
			}
			k.Bindings = append(k.Bindings, p)
		}
		return WithPrincipal(context.Background(), Principal{Actor: "key/k", Key: k})
	}
	shopEditor := principal("editor@project/shop")
	prodEvaluator := principal("evaluator@environment/prod")
	euAgent := principal("agent@target/eu-1")
	flag := func(project string) *flagopsv1.PutFlagRequest {
		return &flagopsv1.PutFlagRequest{Flag: &flagopsv1.Flag{Project: project, Key: "replicas"}}
	}
	for _, tc := range []struct {
		name      string
		ctx       context.Context
		procedure string
		req       any
		allow     bool
	}{
		{"put a flag of shop", shopEditor, "/flagops.v1.FlagService/PutFlag", flag("shop"), true},
		{"put a flag of cart", shopEditor, "/flagops.v1.FlagService/PutFlag", flag("cart"), false},
		{"list shop's flags", shopEditor, "/flagops.v1.FlagService/ListFlags", &flagopsv1.ListFlagsRequest{Project: "shop"}, true},
		{"list every project's flags", shopEditor, "/flagops.v1.FlagService/ListFlags", &flagopsv1.ListFlagsRequest{}, false},
		{"schedule a change of shop", shopEditor, "/flagops.v1.FlagService/CreateSchedule",
			&flagopsv1.CreateScheduleRequest{Change: &flagopsv1.ScheduledChange{Project: "shop", Flag: "replicas", Environment: "prod"}}, true},
		{"schedule a change of cart", shopEditor, "/flagops.v1.FlagService/CreateSchedule",
			&flagopsv1.CreateScheduleRequest{Change: &flagopsv1.ScheduledChange{Project: "cart", Flag: "replicas", Environment: "prod"}}, false},
		{"set shop's version", shopEditor, "/flagops.v1.VersionService/SetVersion", &flagopsv1.SetVersionRequest{Project: "shop", Environment: "prod"}, true},
		{"set cart's version", shopEditor, "/flagops.v1.VersionService/SetVersion", &flagopsv1.SetVersionRequest{Project: "cart", Environment: "prod"}, false},
		{"release shop", shopEditor, "/flagops.v1.ReleaseService/CreateRelease", &flagopsv1.CreateReleaseRequest{Release: &flagopsv1.Release{Project: "shop", Version: "1.0.0"}}, true},
		{"release cart", shopEditor, "/flagops.v1.ReleaseService/CreateRelease", &flagopsv1.CreateReleaseRequest{Release: &flagopsv1.Release{Project: "cart", Version: "1.0.0"}}, false},
		{"hold cart", shopEditor, "/flagops.v1.PromotionService/SetHold", &flagopsv1.SetHoldRequest{Hold: &flagopsv1.Hold{Project: "cart", Environment: "prod"}, On: true}, false},
		{"approve: names only an id, needs the workspace", shopEditor, "/flagops.v1.PromotionService/ApprovePromotion", &flagopsv1.ApprovePromotionRequest{Id: 1}, false},
		{"evaluate in prod", prodEvaluator, "/flagops.v1.FlagService/Evaluate", &flagopsv1.EvaluateRequest{Project: "shop", Environment: "prod", Flag: "replicas"}, true},
		{"evaluate in dev", prodEvaluator, "/flagops.v1.FlagService/Evaluate", &flagopsv1.EvaluateRequest{Project: "shop", Environment: "dev", Flag: "replicas"}, false},
		{"evaluator reads a flag", prodEvaluator, "/flagops.v1.FlagService/GetFlag", &flagopsv1.GetFlagRequest{Project: "shop", Key: "replicas"}, false},
		{"agent reports its target", euAgent, "/flagops.v1.VersionService/ReportVersion", &flagopsv1.ReportVersionRequest{Project: "shop", Target: "eu-1"}, true},
		{"agent reports another target", euAgent, "/flagops.v1.VersionService/ReportVersion", &flagopsv1.ReportVersionRequest{Project: "shop", Target: "us-1"}, false},
		{"agent sets a version", euAgent, "/flagops.v1.VersionService/SetVersion", &flagopsv1.SetVersionRequest{Project: "shop", Target: "eu-1"}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := Authorize(tc.ctx, tc.procedure, tc.req)
			if tc.allow && err != nil {
				t.Fatalf("denied: %v", err)
			}
			if !tc.allow && errs.KindOf(err) != errs.Denied {
				t.Fatalf("error %v, want a denial", err)
			}
		})
	}
}
