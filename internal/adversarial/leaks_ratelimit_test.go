package adversarial_test

import (
	"context"
	"net/http"
	"testing"

	"connectrpc.com/connect"

	flagopsv1 "github.com/flagops/flagops/gen/flagops/v1"
	"github.com/flagops/flagops/internal/domain"
	"github.com/flagops/flagops/internal/ofrep"
	"github.com/flagops/flagops/internal/server"
	"github.com/flagops/flagops/internal/server/servertest"
)

// TestOneEvaluationBudgetPerKey keeps issue 9.20 fixed: the OFREP per-key
// rate limit was bypassed by evaluating through Connect
// FlagService/Evaluate, which had no limit. Every evaluation path now takes
// from the key's one bucket, in whichever order the paths are used. (That
// idle buckets are evicted is TestLimiterEvictsIdleBuckets in
// internal/ratelimit, on a fake clock.)
func TestOneEvaluationBudgetPerKey(t *testing.T) {
	servertest.Backends(t, func(t *testing.T, cfg server.Config) {
		// Three evaluations, then one every 50s: nothing refills during
		// the test.
		cfg.OFREPRateLimit = ofrep.RateLimit{PerSecond: 0.02, Burst: 3}
		s := servertest.Start(t, cfg)
		c := admin(s)
		estate(t, c, domain.DefaultWorkspace)

		const body = `{"context":{"targetingKey":"u1","project":"shop"}}`
		single := func(token string) bool {
			status, b := post(t, s.URL()+ofrep.PathSingle+"replicas", token, body)
			if status != http.StatusOK && status != http.StatusTooManyRequests {
				t.Fatalf("OFREP single: %d %s", status, b)
			}
			return status == http.StatusOK
		}
		bulk := func(token string) bool {
			status, b := post(t, s.URL()+ofrep.PathBulk, token, body)
			if status != http.StatusOK && status != http.StatusTooManyRequests {
				t.Fatalf("OFREP bulk: %d %s", status, b)
			}
			return status == http.StatusOK
		}
		connectEval := func(token string) bool {
			_, err := as(s, token).Flags.Evaluate(context.Background(), connect.NewRequest(&flagopsv1.EvaluateRequest{
				Project: "shop", Environment: "prod", Flag: "replicas", TargetingKey: "u1"}))
			if err != nil && connect.CodeOf(err) != connect.CodeResourceExhausted {
				t.Fatalf("Evaluate: %v", err)
			}
			return err == nil
		}
		type call struct {
			name string
			do   func(token string) bool
		}
		tests := []struct {
			name  string
			calls []call
			want  []bool
		}{
			{"OFREP first, then Connect", []call{{"single", single}, {"bulk", bulk}, {"single", single}, {"Evaluate", connectEval}, {"Evaluate", connectEval}},
				[]bool{true, true, true, false, false}},
			{"Connect first, then OFREP", []call{{"Evaluate", connectEval}, {"Evaluate", connectEval}, {"Evaluate", connectEval}, {"single", single}, {"bulk", bulk}},
				[]bool{true, true, true, false, false}},
			{"interleaved", []call{{"Evaluate", connectEval}, {"single", single}, {"Evaluate", connectEval}, {"bulk", bulk}, {"Evaluate", connectEval}},
				[]bool{true, true, true, false, false}},
		}
		for i, tc := range tests {
			t.Run(tc.name, func(t *testing.T) {
				key := newKey(t, c, "k"+string(rune('a'+i)), zeroTime, "evaluator@environment/prod")
				for j, call := range tc.calls {
					if got := call.do(key); got != tc.want[j] {
						t.Fatalf("call %d (%s): allowed %v, want %v", j+1, call.name, got, tc.want[j])
					}
				}
			})
		}
	})
}
