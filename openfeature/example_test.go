package openfeature_test

import (
	"context"
	"encoding/json"
	"fmt"

	of "github.com/open-feature/go-sdk/openfeature"

	"github.com/flagops/flagops/internal/flag"
	flagops "github.com/flagops/flagops/openfeature"
)

// staticSource is a SnapshotSource that never changes; the real one follows
// the server's watch stream.
type staticSource struct{ flags []flag.Flag }

func (s staticSource) Load(context.Context) ([]flag.Flag, []flag.Segment, int64, error) {
	return s.flags, nil, 1, nil
}

func (s staticSource) Changes(ctx context.Context, _ int64) (<-chan int64, error) {
	ch := make(chan int64)
	go func() { <-ctx.Done(); close(ch) }()
	return ch, nil
}

func Example_inProcess() {
	var replicas flag.Flag
	_ = json.Unmarshal([]byte(`{
	  "key": "replicas", "type": "number",
	  "variations": [{"key": "one", "value": 1}, {"key": "three", "value": 3}],
	  "environments": {"prod": {"enabled": true,
	    "rules": [{"conditions": [{"attribute": "tier", "operator": "equals", "values": ["pro"]}], "variation": "three"}],
	    "fallthrough": {"variation": "one"}}}
	}`), &replicas)

	p := flagops.NewInProcess(staticSource{[]flag.Flag{replicas}}, flagops.InProcessOptions{Environment: "prod", Project: "shop"})
	if err := of.SetNamedProviderAndWait("example", p); err != nil {
		panic(err)
	}
	defer p.Shutdown()
	client := of.NewClient("example")

	ctx := context.Background()
	for _, tier := range []string{"pro", "free"} {
		n, _ := client.IntValue(ctx, "replicas", 0, of.NewEvaluationContext("svc-1", map[string]any{"tier": tier}))
		fmt.Println(tier, n)
	}
	// A remote provider is set up the same way:
	//   flagops.NewRemote("https://flags.example.com", flagops.RemoteOptions{APIKey: key})

	// Output:
	// pro 3
	// free 1
}
