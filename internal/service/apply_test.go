package service

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/flagops/flagops/internal/errs"
	"github.com/flagops/flagops/internal/store"
	"github.com/flagops/flagops/internal/store/pgtest"
)

func TestChangedFields(t *testing.T) {
	tests := []struct {
		name, before, after string
		want                []string
	}{
		{"equal", `{"a":1,"b":[1,2]}`, `{"b":[1,2],"a":1}`, nil},
		{"scalar", `{"a":1,"b":"x"}`, `{"a":1,"b":"y"}`, []string{"b"}},
		{"nested", `{"env":{"prod":{"rules":[{"v":"a"},{"v":"b"}]}}}`, `{"env":{"prod":{"rules":[{"v":"a"},{"v":"c"}]}}}`, []string{"env.prod.rules[1].v"}},
		{"a list of another length", `{"envs":["a"]}`, `{"envs":["a","b"]}`, []string{"envs"}},
		{"a map that appears", `{"name":"x"}`, `{"name":"x","labels":{"team":"a","zone":"b"}}`, []string{"labels.team", "labels.zone"}},
		{"a map that goes", `{"labels":{"team":"a"}}`, `{}`, []string{"labels.team"}},
		{"read-only fields do not count", `{"a":1,"revision":3,"updatedAt":"x"}`, `{"a":1,"revision":4,"updatedAt":"y"}`, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := changedFields([]byte(tt.before), []byte(tt.after)); !slices.Equal(got, tt.want) {
				t.Errorf("changedFields = %q, want %q", got, tt.want)
			}
		})
	}
}

func TestApplyRefusals(t *testing.T) {
	a := NewApplier(openStore(t))
	ctx := context.Background()
	m := func(docs ...string) []Manifest {
		var out []Manifest
		for i, d := range docs {
			out = append(out, Manifest{Source: fmt.Sprintf("f%d.yaml", i), Content: d})
		}
		return out
	}
	tests := []struct {
		name       string
		req        ApplyRequest
		field, msg string
	}{
		{"no manifests", ApplyRequest{}, "manifests", "at least one"},
		{"no documents", ApplyRequest{Manifests: m("---\n")}, "manifests", "no documents"},
		{"prune kinds without prune", ApplyRequest{Manifests: m("kind: Environment\nname: a\n"), PruneKinds: []string{"Target"}}, "prune_kinds", "without prune"},
		{"prune without kinds", ApplyRequest{Manifests: m("kind: Environment\nname: a\n"), Prune: true}, "prune_kinds", "at least one kind"},
		{"releases are never pruned", ApplyRequest{Manifests: m("kind: Environment\nname: a\n"), Prune: true, PruneKinds: []string{"Release"}}, "prune_kinds[0]", "immutable"},
		{"an unknown prune kind", ApplyRequest{Manifests: m("kind: Environment\nname: a\n"), Prune: true, PruneKinds: []string{"Gadget"}}, "prune_kinds[0]", `"Gadget"`},
		{"the same object twice", ApplyRequest{Manifests: m("kind: Environment\nname: a\n", "kind: Target\nname: t\nenvironment: a\n---\nkind: Environment\nname: a\n")},
			"manifests[1].documents[1]", "f0.yaml: document 1"},
		{"a fact key twice", ApplyRequest{Manifests: m("kind: Facts\nscope: workspace\nvalues: {a: 1}\n---\nkind: Facts\nscope: workspace\nvalues: {b: 1, a: 2}\n")},
			"manifests[0].documents[1]", "names the same object"},
		{"every parse error counted", ApplyRequest{Manifests: m("kind: Environment\nname: BAD\n---\nkind: Gadget\n", "kind: Target\nname: x\nnope: 1\n")},
			"manifests[0].documents[0].name", "and 2 more invalid documents"},
		{"a bad workspace", ApplyRequest{Workspace: "No Such", Manifests: m("kind: Environment\nname: a\n")}, "workspace", ""},
		{"too many documents", ApplyRequest{Manifests: m(strings.Repeat("---\nkind: Environment\nname: a\n", MaxApplyDocuments+1))}, "manifests", "at most 20000"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := a.Apply(ctx, tt.req)
			if !errors.Is(err, errs.Invalid) {
				t.Fatalf("error %v: want invalid", err)
			}
			if f := errs.FieldOf(err); f != tt.field {
				t.Errorf("field %q, want %q (%v)", f, tt.field, err)
			}
			if !strings.Contains(err.Error(), tt.msg) {
				t.Errorf("message %q lacks %q", err, tt.msg)
			}
		})
	}
}

// TestPruneDependents prunes two flags one of which requires the other, and
// a segment a pruned flag uses: the deletes happen in an order that works.
func TestPruneDependents(t *testing.T) {
	a := NewApplier(openStore(t))
	ctx := context.Background()
	base := "kind: Environment\nname: prod\n---\nkind: Project\nname: shop\nenvironments: [prod]\n"
	flags := `---
kind: Segment
project: shop
key: beta
include: [u1]
---
kind: Flag
project: shop
key: base
type: boolean
variations: [{key: yes, value: true}, {key: no, value: false}]
environments: {prod: {enabled: true, fallthrough: {variation: yes}}}
---
kind: Flag
project: shop
key: dependent
type: boolean
variations: [{key: yes, value: true}, {key: no, value: false}]
environments:
  prod:
    enabled: true
    prerequisites: [{flag: base, variation: yes}]
    rules: [{segment: beta, variation: yes}]
    fallthrough: {variation: no}
`
	if _, err := a.Apply(ctx, ApplyRequest{Manifests: []Manifest{{Content: base + flags}}}); err != nil {
		t.Fatal(err)
	}
	out, err := a.Apply(ctx, ApplyRequest{Manifests: []Manifest{{Content: base}}, Prune: true, PruneKinds: []string{"Flag", "Segment"}})
	if err != nil {
		t.Fatal(err)
	}
	var pruned []string
	for _, r := range out.Results {
		if r.Action == ApplyDeleted {
			pruned = append(pruned, r.Name)
		}
	}
	slices.Sort(pruned)
	if want := []string{"flag/shop/base", "flag/shop/dependent", "segment/shop/beta"}; !slices.Equal(pruned, want) {
		t.Errorf("pruned %q, want %q", pruned, want)
	}
}

func openStore(t testing.TB) *store.Store {
	t.Helper()
	return openOn(t, store.Options{DataDir: t.TempDir()})
}

func openOn(t testing.TB, o store.Options) *store.Store {
	t.Helper()
	ctx := context.Background()
	st, err := store.Open(ctx, o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	if _, err := st.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	return st
}

// BenchmarkApply applies a set of 1,000 documents (200 environments, 400
// targets, 400 Facts documents of two keys) in one transaction, then the
// same set again (every object unchanged, no revision).
func BenchmarkApply(b *testing.B) {
	var doc strings.Builder
	for i := range 200 {
		fmt.Fprintf(&doc, "---\nkind: Environment\nname: env-%03d\n", i)
	}
	for i := range 400 {
		fmt.Fprintf(&doc, "---\nkind: Target\nname: t-%03d\nenvironment: env-%03d\nlabels: {n: \"%d\"}\n", i, i%200, i)
		fmt.Fprintf(&doc, "---\nkind: Facts\nscope: target/t-%03d\nvalues: {tier: pro, replicas: %d}\n", i, i%7)
	}
	req := ApplyRequest{Manifests: []Manifest{{Source: "bench.yaml", Content: doc.String()}}}
	for _, be := range []struct {
		name string
		open func(b *testing.B) store.Options
	}{
		{"sqlite", func(b *testing.B) store.Options { return store.Options{DataDir: b.TempDir()} }},
		{"postgres", func(b *testing.B) store.Options { return store.Options{DatabaseURL: pgtest.URL(b)} }},
	} {
		b.Run(be.name, func(b *testing.B) {
			for _, phase := range []string{"create", "unchanged"} {
				b.Run(phase, func(b *testing.B) {
					for b.Loop() {
						b.StopTimer()
						a := NewApplier(openOn(b, be.open(b)))
						if phase == "unchanged" {
							if _, err := a.Apply(context.Background(), req); err != nil {
								b.Fatal(err)
							}
						}
						b.StartTimer()
						out, err := a.Apply(context.Background(), req)
						if err != nil {
							b.Fatal(err)
						}
						if (phase == "create") != (out.Revision > 0) {
							b.Fatalf("%s: revision %d", phase, out.Revision)
						}
					}
				})
			}
		})
	}
}
