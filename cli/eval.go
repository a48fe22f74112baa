package cli

import (
	"encoding/json"
	"fmt"
	"strconv"
	"strings"

	"connectrpc.com/connect"
	"github.com/spf13/cobra"
	"google.golang.org/protobuf/types/known/structpb"

	flagopsv1 "github.com/flagops/flagops/gen/flagops/v1"
	"github.com/flagops/flagops/internal/eval"
)

// evalView is what eval prints: the result, how it was reached, and the
// facts with the scope each came from.
type evalView struct {
	Flag         string            `json:"flag"`
	Project      string            `json:"project"`
	Environment  string            `json:"environment"`
	Target       string            `json:"target,omitempty"`
	Value        json.RawMessage   `json:"value,omitempty"`
	Variant      string            `json:"variant,omitempty"`
	Reason       string            `json:"reason"`
	ErrorCode    string            `json:"errorCode,omitempty"`
	ErrorMessage string            `json:"errorMessage,omitempty"`
	Revision     int64             `json:"revision"`
	Explanation  *eval.Explanation `json:"explanation,omitempty"`
	Facts        json.RawMessage   `json:"facts,omitempty"`
	Sources      map[string]string `json:"sources,omitempty"`
}

func (a *app) evalCommand() *cobra.Command {
	var output, project, env, target, key string
	var ctxArgs []string
	cmd := &cobra.Command{
		Use:   "eval FLAG --project P (--env E | --target T) [--ctx k=v …]",
		Short: "Evaluate a flag on the server and explain the result",
		Long: `Eval evaluates FLAG as the server (and OFREP) does and explains it: which
rules and conditions were checked against which values, which one matched,
the rollout bucket. With --target, the deployment's resolved facts are the
context (the environment is the target's) and each fact's source scope is
shown; --ctx attributes win over facts. A --ctx value is JSON when it parses
as JSON, else a string.`,
		Example: `  flagops eval replicas --project shop --target eu-1
  flagops eval new-checkout --project shop --env prod --key user-42 --ctx tier=pro --ctx beta=true -o json`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := checkFormat(output, formatTable, formatJSON, formatYAML); err != nil {
				return err
			}
			attrs := map[string]any{}
			for _, kv := range ctxArgs {
				k, v, ok := strings.Cut(kv, "=")
				if !ok || k == "" {
					return usagef("--ctx %q: want key=value", kv)
				}
				var val any
				if err := json.Unmarshal(parseFactValue(v), &val); err != nil {
					return usagef("--ctx %q: %v", kv, err)
				}
				attrs[k] = val
			}
			ctxStruct, err := structpb.NewStruct(attrs)
			if err != nil {
				return usagef("--ctx: %v", err)
			}
			res, err := a.clients().flags.Evaluate(cmd.Context(), connect.NewRequest(&flagopsv1.EvaluateRequest{
				Workspace: a.workspace, Project: project, Environment: env, Flag: args[0], Target: target,
				TargetingKey: key, Context: ctxStruct, Explain: true}))
			if err != nil {
				return fmt.Errorf("evaluate %s/%s: %w", project, args[0], err)
			}
			view, err := evalFromProto(res.Msg, project, target)
			if err != nil {
				return err
			}
			return printValue(a.stdout, output, view, func() *table { return evalTable(view) })
		},
	}
	a.addClientFlags(cmd)
	addOutputFlag(cmd, &output)
	projectFlag(cmd, &project)
	cmd.Flags().StringVar(&env, "env", "", "the environment (default: the target's)")
	cmd.Flags().StringVar(&target, "target", "", "evaluate for deployment PROJECT@TARGET, with its resolved facts")
	cmd.Flags().StringVar(&key, "key", "", "the targeting key (rollouts hash it)")
	cmd.Flags().StringArrayVar(&ctxArgs, "ctx", nil, "context attribute key=value, repeatable")
	return cmd
}

func evalFromProto(m *flagopsv1.EvaluateResponse, project, target string) (evalView, error) {
	v := evalView{Flag: m.GetFlag(), Project: project, Environment: m.GetEnvironment(), Target: target,
		Variant: m.GetVariant(), Reason: m.GetReason(), ErrorCode: m.GetErrorCode(), ErrorMessage: m.GetErrorMessage(), Revision: m.GetRevision()}
	if m.GetValue() != nil {
		v.Value = valueJSON(m.GetValue())
	}
	if ex := m.GetExplanation(); ex != nil {
		b, err := json.Marshal(ex.AsMap())
		if err == nil {
			err = json.Unmarshal(b, &v.Explanation)
		}
		if err != nil {
			return v, fmt.Errorf("read explanation: %w", err)
		}
	}
	if f := m.GetFacts(); f != nil {
		r, err := resolvedFromProto(f)
		if err != nil {
			return v, err
		}
		v.Facts, v.Sources = r.Facts, r.Sources
	}
	return v, nil
}

// evalTable is the explanation for people: the result, then one line per
// check, then the facts and their sources.
func evalTable(v evalView) *table {
	t := &table{header: []string{"WHAT", "DETAIL", "RESULT"}}
	value := string(v.Value)
	if value == "" {
		value = "(none: the caller's default)"
	}
	t.add("value", value, v.Variant)
	t.add("reason", v.Reason, orDash(v.ErrorCode))
	where := v.Environment
	if v.Target != "" {
		where += " (target " + v.Target + ")"
	}
	t.add("environment", where, "revision "+strconv.FormatInt(v.Revision, 10))
	if ex := v.Explanation; ex != nil {
		t.add("flag", fmt.Sprintf("configured=%t enabled=%t", ex.Configured, ex.Enabled), "")
		for _, p := range ex.Prerequisites {
			t.add("prerequisite", fmt.Sprintf("%s wants %s, got %s", p.Flag, p.Want, orDash(p.Got)), met(p.Met))
		}
		for _, r := range ex.Rules {
			for _, c := range r.Conditions {
				seen := "missing"
				if c.Found {
					b, _ := json.Marshal(c.Value)
					seen = string(b)
				}
				vals, _ := json.Marshal(c.Values)
				neg := ""
				if c.Negate {
					neg = "not "
				}
				t.add(fmt.Sprintf("rule %d", r.Index), fmt.Sprintf("%s %s%s %s (context has %s)", c.Attribute, neg, c.Operator, vals, seen), met(c.Matched))
			}
			if s := r.Segment; s != nil {
				t.add(fmt.Sprintf("rule %d", r.Index), "in segment "+s.Key, met(s.Matched))
			}
			t.add(fmt.Sprintf("rule %d", r.Index), "", map[bool]string{true: "MATCHED", false: "no match"}[r.Matched])
		}
		if ex.Bucket >= 0 {
			t.add("rollout", fmt.Sprintf("bucket %d of 100000 by %s", ex.Bucket, orDash(ex.BucketBy)), "")
		}
	}
	if len(v.Facts) > 0 {
		var facts map[string]json.RawMessage
		_ = json.Unmarshal(v.Facts, &facts)
		for _, k := range sortedKeys(facts) {
			t.add("fact "+k, compactJSON(facts[k]), "from "+v.Sources[k])
		}
	}
	return t
}

func met(b bool) string {
	if b {
		return "yes"
	}
	return "no"
}
