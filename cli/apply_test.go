package cli

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"connectrpc.com/connect"

	flagopsv1 "github.com/flagops/flagops/gen/flagops/v1"
	"github.com/flagops/flagops/internal/server"
	"github.com/flagops/flagops/internal/server/servertest"
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

// cliServer starts a real server on cfg and returns the environment that
// points the CLI at it with the admin token.
func cliServer(t *testing.T, cfg server.Config) (env map[string]string, url string) {
	t.Helper()
	s := servertest.Start(t, cfg)
	return map[string]string{"FLAGOPS_SERVER": s.URL(), "FLAGOPS_TOKEN": servertest.AdminToken(s.URL())}, s.URL()
}

func serverRevision(t *testing.T, url string) int64 {
	t.Helper()
	c := servertest.NewClients(servertest.HTTP1Client(), url)
	res, err := c.Changes.GetRevision(context.Background(), connect.NewRequest(&flagopsv1.GetRevisionRequest{}))
	if err != nil {
		t.Fatal(err)
	}
	return res.Msg.GetRevision()
}

// TestApply runs apply, apply --dry-run, diff and --prune against a real
// server on both backends.
func TestApply(t *testing.T) {
	servertest.Backends(t, func(t *testing.T, cfg server.Config) {
		env, url := cliServer(t, cfg)
		dir := t.TempDir()
		// Facts first and the environment last: apply must reorder kinds, and
		// keep the file's order within a kind.
		docs := strings.Split(exampleManifest, "---\n")
		reversed := strings.Join([]string{docs[4], docs[3], docs[2], docs[1], docs[0]}, "---\n")
		file := filepath.Join(dir, "catalog.yaml")
		if err := os.WriteFile(file, []byte(reversed), 0o644); err != nil {
			t.Fatal(err)
		}
		before := serverRevision(t, url)
		code, out, stderr := runCLI(t, env, "", "apply", "-f", file)
		if code != 0 {
			t.Fatalf("apply: exit %d: %s", code, stderr)
		}
		want := `environment/prod created
target/eu-1 created
project/shop created
facts deployment/shop@eu-1 created
facts environment/prod created
`
		if out != want {
			t.Errorf("first apply:\n%s\nwant:\n%s", out, want)
		}
		rev := serverRevision(t, url)
		if rev != before+1 || !strings.Contains(stderr, fmt.Sprintf("at revision %d", rev)) {
			t.Errorf("one apply moved the revision %d → %d; stderr %q", before, rev, stderr)
		}

		t.Run("again changes nothing", func(t *testing.T) {
			code, out, stderr := runCLI(t, env, "", "apply", "-f", dir)
			if code != 0 {
				t.Fatalf("exit %d: %s", code, stderr)
			}
			if strings.Count(out, " unchanged\n") != 5 {
				t.Errorf("second apply:\n%s\nwant 5 unchanged", out)
			}
			if got := serverRevision(t, url); got != rev {
				t.Errorf("revision moved from %d to %d", rev, got)
			}
		})

		t.Run("only differing keys are set", func(t *testing.T) {
			doc := "kind: Facts\nscope: environment/prod\nvalues: {region: us, maxReplicas: 2.0}\n"
			code, out, stderr := runCLI(t, env, doc, "apply", "-f", "-")
			if code != 0 {
				t.Fatalf("exit %d: %s", code, stderr)
			}
			if out != "facts environment/prod configured (values.region)\n" {
				t.Errorf("out = %q", out)
			}
			if code, out, stderr := runCLI(t, env, strings.Replace(doc, "us", "eu", 1), "apply", "-f", "-"); code != 0 || out != "facts environment/prod configured (values.region)\n" {
				t.Errorf("setting it back: exit %d, %q, %s", code, out, stderr)
			}
		})

		t.Run("dry run and diff change nothing", func(t *testing.T) {
			before := serverRevision(t, url)
			doc := "kind: Environment\nname: prod\ndescription: Production.\n---\nkind: Environment\nname: dev\n"
			code, out, stderr := runCLI(t, env, doc, "apply", "--dry-run", "-f", "-")
			if code != 0 {
				t.Fatalf("exit %d: %s", code, stderr)
			}
			if want := "environment/prod configured (description) (dry run)\nenvironment/dev created (dry run)\n"; out != want {
				t.Errorf("dry run output %q, want %q", out, want)
			}
			code, out, stderr = runCLI(t, env, doc, "diff", "-f", "-")
			if code != 0 {
				t.Fatalf("diff: exit %d: %s", code, stderr)
			}
			if want := "~ environment/prod: description\n+ environment/dev\n"; out != want {
				t.Errorf("diff output %q, want %q", out, want)
			}
			code, out, stderr = runCLI(t, env, "", "diff", "-f", file)
			if code != 0 || out != "" || !strings.Contains(stderr, "no differences") {
				t.Errorf("diff of the applied file: exit %d, %q, %q", code, out, stderr)
			}
			if after := serverRevision(t, url); after != before {
				t.Errorf("dry run wrote: revision %d → %d", before, after)
			}
		})

		t.Run("prune", func(t *testing.T) {
			if code, _, stderr := runCLI(t, env, "kind: Target\nname: eu-2\nenvironment: prod\n", "apply", "-f", "-"); code != 0 {
				t.Fatal(stderr)
			}
			code, _, stderr := runCLI(t, env, "", "apply", "-f", file, "--prune-kinds", "targets")
			if code != 2 || !strings.Contains(stderr, "without --prune") {
				t.Errorf("--prune-kinds without --prune: exit %d, %s", code, stderr)
			}
			withEnv := map[string]string{"FLAGOPS_PRUNE": "true", "FLAGOPS_PRUNE_KINDS": "Target"}
			for k, v := range env {
				withEnv[k] = v
			}
			if code, out, stderr := runCLI(t, withEnv, "", "apply", "-f", file); code != 0 || strings.Contains(out, "pruned") {
				t.Errorf("FLAGOPS_PRUNE pruned: exit %d, %q, %s", code, out, stderr)
			}
			code, out, stderr := runCLI(t, env, "", "diff", "-f", file, "--prune", "--prune-kinds", "Target")
			if code != 0 || out != "- target/eu-2\n" {
				t.Errorf("diff --prune: exit %d, %q, %s", code, out, stderr)
			}
			code, out, stderr = runCLI(t, env, "", "apply", "-f", file, "--prune", "--prune-kinds", "target")
			if code != 0 || !strings.Contains(out, "target/eu-2 pruned\n") {
				t.Errorf("apply --prune: exit %d, %q, %s", code, out, stderr)
			}
		})

		t.Run("a large set reports progress", func(t *testing.T) {
			var set strings.Builder
			for i := range progressDocuments + 20 {
				fmt.Fprintf(&set, "---\nkind: Environment\nname: bulk-%03d\n", i)
			}
			code, out, stderr := runCLI(t, env, set.String(), "apply", "-f", "-")
			if code != 0 {
				t.Fatalf("exit %d: %s", code, stderr)
			}
			if n := strings.Count(out, " created\n"); n != progressDocuments+20 {
				t.Errorf("%d created", n)
			}
			n := progressDocuments + 20
			for _, w := range []string{fmt.Sprintf("read %d documents from 1 source", n), "in one transaction", "the server answered in", fmt.Sprintf("%d objects applied at revision", n)} {
				if !strings.Contains(stderr, w) {
					t.Errorf("stderr %q lacks %q", stderr, w)
				}
			}
		})

		t.Run("a bad document applies nothing", func(t *testing.T) {
			before := serverRevision(t, url)
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
			if after := serverRevision(t, url); after != before {
				t.Errorf("revision moved %d → %d", before, after)
			}
		})

		t.Run("server field errors are named", func(t *testing.T) {
			doc := "kind: Environment\nname: qa\n---\nkind: Target\nname: us-1\nenvironment: nowhere\n"
			code, _, stderr := runCLI(t, env, doc, "apply", "-f", "-")
			if code != 1 {
				t.Fatalf("exit %d, want 1", code)
			}
			for _, w := range []string{"nothing applied", "-: document 2 (Target) target/us-1", `environment "nowhere" does not exist`,
				"\n  field: manifests[0].documents[1].environment"} {
				if !strings.Contains(stderr, w) {
					t.Errorf("stderr %q lacks %q", stderr, w)
				}
			}
		})
	})
}

// TestGetFollowsPages lists environments from a server that answers one
// per page.
func TestGetFollowsPages(t *testing.T) {
	f, url := newFake(t)
	for _, name := range []string{"dev", "prod"} {
		f.envs[name] = &flagopsv1.Environment{Meta: &flagopsv1.ObjectMeta{Workspace: "default", Name: name}}
	}
	code, out, stderr := runCLI(t, map[string]string{"FLAGOPS_SERVER": url}, "", "get", "env", "-o", "yaml")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	if want := "kind: Environment\nworkspace: default\nname: dev\n---\nkind: Environment\nworkspace: default\nname: prod\n"; out != want {
		t.Errorf("get environments -o yaml:\n%s\nwant:\n%s", out, want)
	}
}

func TestApplyUsage(t *testing.T) {
	tests := []struct {
		name    string
		args    []string
		code    int
		wantErr string
	}{
		{"no file", []string{"apply"}, 2, "at least one -f"},
		{"a file without -f", []string{"apply", "estate.yaml"}, 2, "flagops apply -f FILE"},
		{"diff without -f", []string{"diff"}, 2, "at least one -f"},
		{"prune without kinds", []string{"apply", "-f", "-", "--prune"}, 2, "--prune needs --prune-kinds"},
		{"unknown prune kind", []string{"apply", "-f", "-", "--prune", "--prune-kinds", "Release"}, 2, "not a kind a prune deletes"},
		{"get facts without a scope", []string{"get", "facts"}, 2, "needs the scope"},
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
