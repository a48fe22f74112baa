package manifest

import (
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/flagops/flagops/internal/errs"
)

var update = flag.Bool("update", false, "rewrite the golden files under testdata/")

// TestParseGolden parses a manifest that uses every kind, in an order that is
// not the dependency order, and compares the sorted result with a golden file.
func TestParseGolden(t *testing.T) {
	data, err := os.ReadFile(filepath.Join("testdata", "example.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	docs, err := Parse("example.yaml", data)
	if err != nil {
		t.Fatalf("Parse: %v", err)
	}
	Sort(docs)
	got, err := json.MarshalIndent(docs, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	got = append(got, '\n')
	golden := filepath.Join("testdata", "example.golden.json")
	if *update {
		if err := os.WriteFile(golden, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatalf("%v (run with -update to create it)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("parsed manifest differs from %s (run with -update to accept):\n%s", golden, got)
	}
}

func TestSortDependencyOrder(t *testing.T) {
	data, err := os.ReadFile(filepath.Join("testdata", "example.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	docs, err := Parse("example.yaml", data)
	if err != nil {
		t.Fatal(err)
	}
	Sort(docs)
	var got []string
	for _, d := range docs {
		got = append(got, d.Name())
	}
	want := []string{
		"workspace/other",
		"environment/prod", "environment/dev",
		"environmentset/all",
		"target/eu-1",
		"project/shop",
		"facts environment/prod", "facts deployment/shop@eu-1",
	}
	if strings.Join(got, " ") != strings.Join(want, " ") {
		t.Errorf("order:\n got %v\nwant %v", got, want)
	}
}

func TestParseErrors(t *testing.T) {
	tests := []struct {
		name string
		doc  string
		// want are substrings the error must contain.
		want      []string
		wantField string
	}{
		{
			name: "unknown kind",
			doc:  "kind: Environment\nname: prod\n---\nkind: Gadget\nname: x\n",
			want: []string{"f.yaml", "document 2", `"Gadget"`, "Workspace, Environment, EnvironmentSet, Target, Project, Facts"},
		},
		{
			name:      "unknown field",
			doc:       "kind: Environment\nname: prod\nenvironment: dev\n",
			want:      []string{"f.yaml: document 1 (Environment)", "environment: unknown field"},
			wantField: "environment",
		},
		{
			name:      "bad name",
			doc:       "kind: Target\nname: EU_1\nenvironment: prod\n",
			want:      []string{"document 1 (Target)", `"EU_1"`},
			wantField: "name",
		},
		{
			name:      "missing environment",
			doc:       "kind: Target\nname: eu-1\n",
			want:      []string{"environment: is required"},
			wantField: "environment",
		},
		{
			name:      "bad environment in list",
			doc:       "kind: Project\nname: shop\nenvironments: [prod, Prod]\n",
			wantField: "environments[1]",
		},
		{
			name:      "bad fact key",
			doc:       "kind: Facts\nscope: environment/prod\nvalues: {9lives: x}\n",
			wantField: "values.9lives",
		},
		{
			name:      "builtin fact key",
			doc:       "kind: Facts\nscope: environment/prod\nvalues: {project: x}\n",
			wantField: "values.project",
		},
		{
			name:      "null fact value",
			doc:       "kind: Facts\nscope: environment/prod\nvalues: {a: null}\n",
			wantField: "values.a",
		},
		{
			name:      "bad scope",
			doc:       "kind: Facts\nscope: cluster/x\nvalues: {a: 1}\n",
			wantField: "scope",
		},
		{
			name: "missing kind",
			doc:  "name: prod\n",
			want: []string{"kind is required"},
		},
		{
			name: "not a mapping",
			doc:  "- a\n- b\n",
			want: []string{"must be a mapping"},
		},
		{
			name:      "bad workspace",
			doc:       "kind: Environment\nname: prod\nworkspace: Bad\n",
			wantField: "workspace",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse("f.yaml", []byte(tt.doc))
			if err == nil {
				t.Fatal("Parse succeeded, want an error")
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not contain %q", err, w)
				}
			}
			if tt.wantField != "" {
				if got := errs.FieldOf(err); got != tt.wantField {
					t.Errorf("field = %q, want %q (error %q)", got, tt.wantField, err)
				}
				if !errors.Is(err, errs.Invalid) {
					t.Errorf("error %q is not errs.Invalid", err)
				}
			}
		})
	}
}

// TestParseReportsEveryBadDocument makes sure one bad document does not hide
// the next one.
func TestParseReportsEveryBadDocument(t *testing.T) {
	docs, err := Parse("f.yaml", []byte("kind: A\n---\nkind: Environment\nname: ok\n---\nkind: B\n"))
	if err == nil {
		t.Fatal("want an error")
	}
	for _, w := range []string{`"A"`, `"B"`} {
		if !strings.Contains(err.Error(), w) {
			t.Errorf("error %q does not mention %s", err, w)
		}
	}
	if len(docs) != 1 {
		t.Errorf("got %d good documents, want 1", len(docs))
	}
}

func TestParseSkipsEmptyDocuments(t *testing.T) {
	docs, err := Parse("f.yaml", []byte("---\n---\nkind: Environment\nname: prod\n---\n"))
	if err != nil {
		t.Fatal(err)
	}
	if len(docs) != 1 || docs[0].Index != 2 {
		// The first --- opens the first document, so the empty one is 1.
		t.Errorf("docs = %+v, want one document with index 2", docs)
	}
}
