package adversarial_test

import (
	"context"
	"crypto/rand"
	"strings"
	"testing"

	"connectrpc.com/connect"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/types/known/structpb"

	flagopsv1 "github.com/flagops/flagops/gen/flagops/v1"
	"github.com/flagops/flagops/internal/domain"
	"github.com/flagops/flagops/internal/server"
	"github.com/flagops/flagops/internal/server/servertest"
	"github.com/flagops/flagops/internal/service"
)

// TestEvaluateShowsFactsOnlyToFactReaders keeps issue 9.1 fixed:
// FlagService/Evaluate with a target returned the deployment's resolved
// facts (values and sources) to an evaluator key, even for a flag that does
// not exist, while the same key got permission_denied from ResolveFacts. An
// evaluation's facts, and the fact values its explanation shows, now need
// facts.read on the deployment.
func TestEvaluateShowsFactsOnlyToFactReaders(t *testing.T) {
	servertest.Backends(t, func(t *testing.T, cfg server.Config) {
		s := servertest.Start(t, cfg)
		c := admin(s)
		estate(t, c, domain.DefaultWorkspace)
		canary := "canary-" + rand.Text()
		setFacts(t, c, "deployment/shop@"+prodTarget, map[string]any{"tier": canary, "dbHost": canary + ".db"})
		evaluator := newKey(t, c, "web", zeroTime, "evaluator@environment/prod")
		viewer := newKey(t, c, "dash", zeroTime, "viewer@environment/prod")

		ownTier, err := structpb.NewStruct(map[string]any{"tier": "mine"})
		must(t, err)
		tests := []struct {
			name      string
			token     string
			flag      string
			context   *structpb.Struct
			wantFacts bool
			// wantTier is the value the explanation shows for the rule's
			// "tier" condition ("" when no rule ran).
			wantTier string
		}{
			{"evaluator, existing flag", evaluator, "replicas", nil, false, service.HiddenFactValue},
			{"evaluator, flag that does not exist", evaluator, "nope", nil, false, ""},
			{"evaluator, own attribute shown", evaluator, "replicas", ownTier, false, "mine"},
			{"viewer reads facts", viewer, "replicas", nil, true, canary},
		}
		for _, tc := range tests {
			t.Run(tc.name, func(t *testing.T) {
				res, err := as(s, tc.token).Flags.Evaluate(context.Background(), connect.NewRequest(&flagopsv1.EvaluateRequest{
					Project: "shop", Flag: tc.flag, Target: prodTarget, TargetingKey: "u1", Context: tc.context, Explain: true}))
				must(t, err)
				b, err := protojson.Marshal(res.Msg)
				must(t, err)
				if got := res.Msg.GetFacts() != nil; got != tc.wantFacts {
					t.Errorf("facts in the result: %v, want %v", got, tc.wantFacts)
				}
				if leaked := strings.Contains(string(b), canary); leaked != tc.wantFacts {
					t.Errorf("a fact value in the result: %v, want %v: %s", leaked, tc.wantFacts, b)
				}
				if got := tierSeen(res.Msg); got != tc.wantTier {
					t.Errorf("explanation shows tier %q, want %q", got, tc.wantTier)
				}
			})
		}

		// The same key is refused the facts by ResolveFacts: the two agree.
		_, err = as(s, evaluator).Facts.ResolveFacts(context.Background(), connect.NewRequest(&flagopsv1.ResolveFactsRequest{Project: "shop", Target: prodTarget}))
		if connect.CodeOf(err) != connect.CodePermissionDenied {
			t.Fatalf("ResolveFacts with the evaluator key: %v, want permission_denied", err)
		}
	})
}

// tierSeen returns the value an explanation shows for the first checked
// condition on "tier".
func tierSeen(m *flagopsv1.EvaluateResponse) string {
	rules, _ := m.GetExplanation().AsMap()["rules"].([]any)
	for _, r := range rules {
		conds, _ := r.(map[string]any)["conditions"].([]any)
		for _, c := range conds {
			c := c.(map[string]any)
			if c["attribute"] == "tier" {
				v, _ := c["value"].(string)
				return v
			}
		}
	}
	return ""
}
