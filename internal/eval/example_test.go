package eval_test

import (
	"encoding/json"
	"fmt"

	"github.com/flagops/flagops/internal/eval"
	"github.com/flagops/flagops/internal/flag"
)

func Example() {
	// A flag as written in YAML (apply -f) and stored as JSON.
	const doc = `{
	  "key": "replicas", "type": "number",
	  "variations": [{"key": "free", "value": 1}, {"key": "pro", "value": 3}],
	  "environments": {"prod": {
	    "enabled": true, "offVariation": "free",
	    "rules": [
	      {"conditions": [{"attribute": "account.tier", "operator": "equals", "values": ["pro"]}], "variation": "pro"},
	      {"segment": "beta-users", "rollout": [{"variation": "pro", "weight": 50000}, {"variation": "free", "weight": 50000}]}
	    ],
	    "fallthrough": {"variation": "free"}
	  }}
	}`
	var f flag.Flag
	if err := json.Unmarshal([]byte(doc), &f); err != nil {
		panic(err)
	}
	beta := flag.Segment{Key: "beta-users", Include: []string{"user-1"}}

	snap, err := eval.Compile("prod", 42, []flag.Flag{f}, []flag.Segment{beta})
	if err != nil {
		panic(err)
	}

	// Resolved facts form the base; the caller's attributes win over them.
	facts := map[string]any{"account": map[string]any{"tier": "free"}}
	for _, ctx := range []eval.Context{
		eval.NewContext("user-9", map[string]any{"account.tier": "pro"}).WithBase(facts),
		eval.NewContext("user-1", nil).WithBase(facts),
		eval.NewContext("user-9", nil).WithBase(facts),
	} {
		r := snap.Evaluate("replicas", ctx)
		fmt.Printf("%s: %s=%s (%s)\n", ctx.TargetingKey, r.Variant, r.JSON, r.Reason)
	}
	r := snap.Evaluate("nope", eval.Context{})
	fmt.Println(r.Reason, r.ErrorCode)

	// Output:
	// user-9: pro=3 (TARGETING_MATCH)
	// user-1: free=1 (SPLIT)
	// user-9: free=1 (DEFAULT)
	// ERROR FLAG_NOT_FOUND
}
