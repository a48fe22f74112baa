package eval

import (
	"math"
	"strconv"
	"testing"

	"github.com/flagops/flagops/internal/flag"
)

// The published vectors of docs/rollout-hashing.md; keep them in sync.
var hashVectors = []struct {
	flagKey, salt, value string
	bucket               int
}{
	{"new-checkout", "", "user-1", 82773},
	{"new-checkout", "", "user-2", 98140},
	{"new-checkout", "s1", "user-1", 71601},
	{"replicas", "", "acme", 27774},
	{"replicas", "2024", "acme", 22474},
	{"a", "", "", 99352},
	{"dark-mode", "", "42", 39525},
	{"dark-mode", "", "café", 53719},
}

func TestBucketVectors(t *testing.T) {
	for _, v := range hashVectors {
		t.Run(v.flagKey+"."+v.salt+"."+v.value, func(t *testing.T) {
			if got := Bucket(v.flagKey, v.salt, v.value); got != v.bucket {
				t.Fatalf("Bucket = %d, want %d", got, v.bucket)
			}
			if got := bucketBytes(v.flagKey, v.salt, []byte(v.value)); got != v.bucket {
				t.Fatalf("bucketBytes = %d, want %d", got, v.bucket)
			}
		})
	}
}

// TestBucketByNumber checks that a numeric bucketBy attribute hashes as its
// shortest decimal form ("42", not "42.0").
func TestBucketByNumber(t *testing.T) {
	f := boolFlag("dark-mode", flag.Targeting{Enabled: true, Fallthrough: flag.Serve{BucketBy: "n",
		Rollout: []flag.WeightedVariation{{Variation: "on", Weight: 39526}, {Variation: "off", Weight: 60474}}}})
	s := mustCompile(t, []flag.Flag{f}, nil)
	r := s.Explain("dark-mode", NewContext("", map[string]any{"n": 42}))
	if r.Explanation.Bucket != 39525 || r.Variant != "on" {
		t.Fatalf("bucket %d variant %s", r.Explanation.Bucket, r.Variant)
	}
}

func TestRolloutDistribution(t *testing.T) {
	tests := []struct {
		name    string
		weights []int
	}{
		{"50/50", []int{50000, 50000}},
		{"10/20/70", []int{10000, 20000, 70000}},
		{"1/99", []int{1000, 99000}},
		{"0/100", []int{0, 100000}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := flag.Flag{Key: "dist", Type: flag.TypeNumber}
			var ro []flag.WeightedVariation
			for i, w := range tc.weights {
				k := "v" + strconv.Itoa(i)
				f.Variations = append(f.Variations, flag.Variation{Key: k, Value: raw(strconv.Itoa(i))})
				ro = append(ro, flag.WeightedVariation{Variation: k, Weight: w})
			}
			f.Environments = map[string]flag.Targeting{"test": {Enabled: true, Fallthrough: flag.Serve{Rollout: ro}}}
			s := mustCompile(t, []flag.Flag{f}, nil)
			const n = 100000
			counts := make(map[string]int)
			for i := range n {
				counts[s.Evaluate("dist", NewContext("user-"+strconv.Itoa(i), nil)).Variant]++
			}
			for i, w := range tc.weights {
				got := float64(counts["v"+strconv.Itoa(i)]) / n * 100
				want := float64(w) / 1000
				if math.Abs(got-want) > 0.5 {
					t.Errorf("v%d: %.3f%%, want %.3f%% ± 0.5", i, got, want)
				}
			}
		})
	}
}

// TestRolloutStable checks that raising a weight only moves contexts toward
// the growing variation (what a progressive rollout relies on).
func TestRolloutStable(t *testing.T) {
	mk := func(on int) *Snapshot {
		return mustCompile(t, []flag.Flag{boolFlag("p", flag.Targeting{Enabled: true, Fallthrough: flag.Serve{
			Rollout: []flag.WeightedVariation{{Variation: "on", Weight: on}, {Variation: "off", Weight: 100000 - on}}}})}, nil)
	}
	a, b := mk(20000), mk(40000)
	for i := range 5000 {
		ctx := NewContext(strconv.Itoa(i), nil)
		if a.Evaluate("p", ctx).Variant == "on" && b.Evaluate("p", ctx).Variant != "on" {
			t.Fatalf("context %d left the rollout when it grew", i)
		}
	}
}
