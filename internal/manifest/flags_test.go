package manifest

import (
	"errors"
	"strings"
	"testing"

	"github.com/flagops/flagops/internal/errs"
	"github.com/flagops/flagops/internal/flag"
)

func TestParseFlagKinds(t *testing.T) {
	tests := []struct {
		name  string
		doc   string
		want  string // Document.Name, or "" when an error is expected
		field string
	}{
		{"flag", `
kind: Flag
project: shop
key: replicas
type: number
variations: [{key: free, value: 1}, {key: pro, value: 3}]
environments:
  prod:
    enabled: true
    rules:
      - conditions: [{attribute: tier, operator: equals, values: [pro]}]
        variation: pro
    fallthrough: {variation: free}
`, "flag/shop/replicas", ""},
		{"boolean flag gets defaults", "kind: Flag\nproject: shop\nkey: dark\n", "flag/shop/dark", ""},
		{"segment", "kind: Segment\nworkspace: acme\nproject: shop\nkey: beta\ninclude: [u1]\n", "segment/shop/beta", ""},
		{"flag without project", "kind: Flag\nkey: dark\n", "", "project"},
		{"unknown nested field", "kind: Flag\nproject: shop\nkey: x\nenvironments: {prod: {enabld: true}}\n", "", ""},
		{"invalid variation reference", "kind: Flag\nproject: shop\nkey: x\nenvironments: {prod: {fallthrough: {variation: nope}}}\n", "", "environments.prod.fallthrough.variation"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			docs, err := Parse("test.yaml", []byte(tc.doc))
			if tc.want == "" {
				if !errors.Is(err, errs.Invalid) {
					t.Fatalf("err %v, want Invalid", err)
				}
				if tc.field != "" && errs.FieldOf(err) != tc.field {
					t.Fatalf("field %q, want %q (%v)", errs.FieldOf(err), tc.field, err)
				}
				return
			}
			if err != nil || len(docs) != 1 || docs[0].Name() != tc.want {
				t.Fatalf("docs %+v err %v", docs, err)
			}
		})
	}
	docs, _ := Parse("t.yaml", []byte("kind: Flag\nproject: shop\nkey: dark\n---\nkind: Segment\nproject: shop\nkey: beta\n---\nkind: Project\nname: shop\n"))
	Sort(docs)
	var kinds []string
	for _, d := range docs {
		kinds = append(kinds, d.Kind)
	}
	if got := strings.Join(kinds, ","); got != "Project,Segment,Flag" {
		t.Fatalf("sorted %s", got)
	}
	if f := docs[2].Object.(flag.Flag); f.Type != flag.TypeBoolean || len(f.Variations) != 2 {
		t.Fatalf("defaults: %+v", f)
	}
}
