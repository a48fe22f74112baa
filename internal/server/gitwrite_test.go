package server_test

import (
	"context"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"connectrpc.com/connect"
	"github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/config"
	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/object"

	flagopsv1 "github.com/flagops/flagops/gen/flagops/v1"
	"github.com/flagops/flagops/internal/server"
	"github.com/flagops/flagops/internal/server/servertest"
)

// seedBare makes a bare repository whose main branch holds values.yaml.
func seedBare(t *testing.T) string {
	t.Helper()
	bare, work := filepath.Join(t.TempDir(), "fleet.git"), t.TempDir()
	if _, err := git.PlainInit(bare, true); err != nil {
		t.Fatal(err)
	}
	repo, err := git.PlainInit(work, false)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(work, "values.yaml"), []byte("# Shop.\nimage:\n  tag: \"1.0\" # set by flagops\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	wt, _ := repo.Worktree()
	if _, err := wt.Add("values.yaml"); err != nil {
		t.Fatal(err)
	}
	if _, err := wt.Commit("seed", &git.CommitOptions{Author: &object.Signature{Name: "t", Email: "t@example.com", When: time.Now()}}); err != nil {
		t.Fatal(err)
	}
	if _, err := repo.CreateRemote(&config.RemoteConfig{Name: "origin", URLs: []string{bare}}); err != nil {
		t.Fatal(err)
	}
	head, _ := repo.Head()
	if err := repo.Push(&git.PushOptions{RemoteName: "origin", RefSpecs: []config.RefSpec{config.RefSpec(head.Name().String() + ":refs/heads/main")}}); err != nil {
		t.Fatal(err)
	}
	return bare
}

func valuesAtHead(t *testing.T, bare string) (string, string) {
	t.Helper()
	repo, err := git.PlainOpen(bare)
	if err != nil {
		t.Fatal(err)
	}
	ref, err := repo.Reference(plumbing.NewBranchReferenceName("main"), true)
	if err != nil {
		t.Fatal(err)
	}
	c, err := repo.CommitObject(ref.Hash())
	if err != nil {
		t.Fatal(err)
	}
	f, err := c.File("values.yaml")
	if err != nil {
		t.Fatal(err)
	}
	r, _ := f.Reader()
	defer r.Close()
	b, _ := io.ReadAll(r)
	return string(b), c.Message
}

// TestGitWritebackWiring: serve --git-writeback-config follows a fact and
// pushes it into a Helm values file.
func TestGitWritebackWiring(t *testing.T) {
	backends(t, func(t *testing.T, cfg server.Config) {
		bare := seedBare(t)
		cfg.GitWritebackConfig = filepath.Join(t.TempDir(), "writeback.yaml")
		rules := "rules:\n  - name: shop-eu\n    kind: fact\n    key: deployment/shop@eu-1:image.tag\n" +
			"    repository: {url: " + bare + "}\n    file: values.yaml\n    field: {valuesPath: image.tag}\n"
		if err := os.WriteFile(cfg.GitWritebackConfig, []byte(rules), 0o600); err != nil {
			t.Fatal(err)
		}
		s := servertest.Start(t, cfg)
		c := clients(s)
		estate(t, c)
		rev := setDeploymentFact(t, c, "image.tag", "1.7.0")
		waitUntil(t, "the commit", func() bool {
			body, _ := valuesAtHead(t, bare)
			return strings.Contains(body, "tag: 1.7.0 # set by flagops")
		})
		body, msg := valuesAtHead(t, bare)
		if !strings.HasPrefix(body, "# Shop.") || !strings.Contains(msg, "flagops revision ") || !strings.Contains(msg, strconv.FormatInt(rev, 10)) {
			t.Fatalf("values.yaml:\n%s\nmessage %q (revision %d)", body, msg, rev)
		}
	})
}

// TestGitWritebackVersion is the version follower of docs/integrations.md:
// a SetVersion of shop in prod lands a commit setting the Helm values'
// image.tag in a local bare repository.
func TestGitWritebackVersion(t *testing.T) {
	backends(t, func(t *testing.T, cfg server.Config) {
		bare := seedBare(t)
		cfg.GitWritebackConfig = filepath.Join(t.TempDir(), "writeback.yaml")
		rules := "rules:\n  - name: shop-prod\n    kind: version\n    key: shop@prod\n    valuePath: version\n" +
			"    repository: {url: " + bare + ", branch: main}\n    file: values.yaml\n    field: {valuesPath: image.tag}\n"
		if err := os.WriteFile(cfg.GitWritebackConfig, []byte(rules), 0o600); err != nil {
			t.Fatal(err)
		}
		s := servertest.Start(t, cfg)
		c := clients(s)
		estate(t, c)
		res, err := c.Versions.SetVersion(context.Background(), connect.NewRequest(&flagopsv1.SetVersionRequest{Project: "shop", Environment: "prod", Version: "2.4.1"}))
		if err != nil {
			t.Fatal(err)
		}
		waitUntil(t, "the commit", func() bool {
			body, _ := valuesAtHead(t, bare)
			return strings.Contains(body, "tag: 2.4.1 # set by flagops")
		})
		body, msg := valuesAtHead(t, bare)
		if !strings.HasPrefix(body, "# Shop.") || !strings.Contains(msg, "(version shop@prod)") {
			t.Fatalf("values.yaml:\n%s\nmessage %q (response %v)", body, msg, res.Msg)
		}
	})
}
