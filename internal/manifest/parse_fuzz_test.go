package manifest

import (
	"os"
	"slices"
	"testing"
)

// FuzzParse checks that Parse never panics on any bytes (manifests come
// from users' files and from git), and that every document it returns is of
// a known kind and knows where it came from.
func FuzzParse(f *testing.F) {
	if b, err := os.ReadFile("testdata/example.yaml"); err == nil {
		f.Add(b)
	}
	for _, s := range []string{
		"kind: Environment\nname: prod\n",
		"kind: Facts\nscope: deployment/shop@eu-1\nvalues: {tier: pro}\n---\n",
		"kind: Flag\nproject: shop\nkey: beta\ntype: boolean\n",
		"kind: Nope\n", "- a\n- b\n", "kind: Target\nname: eu-1\nenvironment: prod\nextra: 1\n",
		"&a [*a, *a]", "kind: Environment\nname: !!binary aGk=\n", "---\n---\n", ": :\n\t-",
	} {
		f.Add([]byte(s))
	}
	kinds := Kinds()
	f.Fuzz(func(t *testing.T, data []byte) {
		docs, _ := Parse("fuzz.yaml", data)
		for _, d := range docs {
			if !slices.Contains(kinds, d.Kind) {
				t.Fatalf("document %d has unknown kind %q", d.Index, d.Kind)
			}
			if d.Source != "fuzz.yaml" || d.Index < 1 || d.Object == nil {
				t.Fatalf("document %+v lost its origin or object", d)
			}
		}
		Sort(docs)
	})
}
