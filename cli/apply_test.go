package cli

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// exampleManifest is the manifest from the CLI's brief, in an order that is
// not the dependency order once the facts come first.
const exampleManifest = `kind: Environment
name: prod
---
kind: Target
name: eu-1
environment: prod
---
kind: Project
name: shop
environments: [prod]
---
kind: Facts
scope: environment/prod
values: {region: eu, maxReplicas: 2}
---
kind: Facts
scope: deployment/shop@eu-1
values: {tier: pro, maxReplicas: 3}
`

func TestApplyAgainstFake(t *testing.T) {
	f, url := newFake(t)
	dir := t.TempDir()
	// Facts first and the environment last: apply must reorder kinds, and
	// keep the file's order within a kind.
	docs := strings.Split(exampleManifest, "---\n")
	reversed := strings.Join([]string{docs[4], docs[3], docs[2], docs[1], docs[0]}, "---\n")
	file := filepath.Join(dir, "catalog.yaml")
	if err := os.WriteFile(file, []byte(reversed), 0o644); err != nil {
		t.Fatal(err)
	}
	env := map[string]string{"FLAGOPS_SERVER": url}

	code, out, stderr := runCLI(t, env, "", "apply", "-f", file)
	if code != 0 {
		t.Fatalf("apply: exit %d: %s", code, stderr)
	}
	want := `environment/prod created
target/eu-1 created
project/shop created
facts deployment/shop@eu-1 created (2 keys)
facts environment/prod created (2 keys)
`
	if out != want {
		t.Errorf("first apply:\n%s\nwant:\n%s", out, want)
	}
	rev, _ := f.snapshot()

	t.Run("again changes nothing", func(t *testing.T) {
		code, out, stderr := runCLI(t, env, "", "apply", "-f", dir)
		if code != 0 {
			t.Fatalf("exit %d: %s", code, stderr)
		}
		if strings.Count(out, "unchanged") != 5 {
			t.Errorf("second apply:\n%s\nwant 5 unchanged", out)
		}
		if got, _ := f.snapshot(); got != rev {
			t.Errorf("revision moved from %d to %d", rev, got)
		}
	})

	t.Run("only differing keys are set", func(t *testing.T) {
		doc := "kind: Facts\nscope: environment/prod\nvalues: {region: us, maxReplicas: 2.0}\n"
		code, out, stderr := runCLI(t, env, doc, "apply", "-f", "-")
		if code != 0 {
			t.Fatalf("exit %d: %s", code, stderr)
		}
		if out != "facts environment/prod configured (1 key)\n" {
			t.Errorf("out = %q", out)
		}
		_, puts := f.snapshot()
		if last := puts[len(puts)-1]; last != "facts environment/prod region" {
			t.Errorf("last write %q, want only region", last)
		}
	})

	t.Run("dry run changes nothing", func(t *testing.T) {
		before, _ := f.snapshot()
		doc := "kind: Environment\nname: prod\ndescription: Production.\n---\nkind: Environment\nname: dev\n"
		code, out, stderr := runCLI(t, env, doc, "apply", "--dry-run", "-f", "-")
		if code != 0 {
			t.Fatalf("exit %d: %s", code, stderr)
		}
		for _, w := range []string{"environment/prod configured (dry run)", "environment/dev created (dry run)"} {
			if !strings.Contains(out, w) {
				t.Errorf("dry run output %q lacks %q", out, w)
			}
		}
		if after, _ := f.snapshot(); after != before {
			t.Errorf("dry run wrote: revision %d → %d", before, after)
		}
	})

	t.Run("a bad document applies nothing", func(t *testing.T) {
		before, _ := f.snapshot()
		doc := "kind: Environment\nname: staging\n---\nkind: Widget\nname: x\n"
		code, out, stderr := runCLI(t, env, doc, "apply", "-f", "-")
		if code == 0 {
			t.Fatal("apply of an unknown kind succeeded")
		}
		for _, w := range []string{"-: document 2", `"Widget"`, "Environment", "nothing applied"} {
			if !strings.Contains(stderr, w) {
				t.Errorf("stderr %q lacks %q", stderr, w)
			}
		}
		if out != "" {
			t.Errorf("stdout = %q, want nothing", out)
		}
		if after, _ := f.snapshot(); after != before {
			t.Errorf("revision moved %d → %d", before, after)
		}
	})

	t.Run("server field errors are named", func(t *testing.T) {
		doc := "kind: Target\nname: us-1\nenvironment: nowhere\n"
		code, _, stderr := runCLI(t, env, doc, "apply", "-f", "-")
		if code != 1 {
			t.Fatalf("exit %d, want 1", code)
		}
		for _, w := range []string{"apply target/us-1", "environment nowhere does not exist", "\n  field: target.environment"} {
			if !strings.Contains(stderr, w) {
				t.Errorf("stderr %q lacks %q", stderr, w)
			}
		}
	})

	t.Run("get follows pages", func(t *testing.T) {
		runCLI(t, env, "kind: Environment\nname: dev\n", "apply", "-f", "-")
		code, out, stderr := runCLI(t, env, "", "get", "env", "-o", "yaml")
		if code != 0 {
			t.Fatalf("exit %d: %s", code, stderr)
		}
		if !strings.Contains(out, "name: dev") || !strings.Contains(out, "name: prod") {
			t.Errorf("get environments -o yaml:\n%s", out)
		}
	})
}

func TestApplyUsage(t *testing.T) {
	tests := []struct {
		name    string
		args    []string
		code    int
		wantErr string
	}{
		{"no file", []string{"apply"}, 2, "at least one -f"},
		{"missing file", []string{"apply", "-f", "/nonexistent.yaml"}, 1, "nonexistent.yaml"},
		{"bad output", []string{"get", "env", "-o", "xml"}, 2, "--output"},
		{"unknown kind", []string{"get", "gadgets"}, 2, "unknown kind"},
		{"unknown flag", []string{"get", "env", "--nope"}, 2, "--nope"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, _, stderr := runCLI(t, nil, "", tt.args...)
			if code != tt.code || !strings.Contains(stderr, tt.wantErr) {
				t.Errorf("exit %d, stderr %q; want exit %d and %q", code, stderr, tt.code, tt.wantErr)
			}
		})
	}
}

func TestResolveOutput(t *testing.T) {
	_, url := newFake(t)
	env := map[string]string{"FLAGOPS_SERVER": url}
	for _, format := range []string{"json", "table"} {
		t.Run(format, func(t *testing.T) {
			code, out, stderr := runCLI(t, env, "", "facts", "resolve", "--project", "shop", "--target", "eu-1", "-o", format)
			if code != 0 {
				t.Fatalf("exit %d: %s", code, stderr)
			}
			golden(t, "resolve."+format, out)
		})
	}
}
