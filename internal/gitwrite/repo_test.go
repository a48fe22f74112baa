package gitwrite

import (
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/config"
	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/object"
)

const seedKustomization = `# Shop in prod.
kind: Kustomization
images:
  - name: shop
    newTag: "1.0" # bumped by flagops
`

// bareRepo makes a bare repository in a temp dir whose main branch holds
// apps/shop/kustomization.yaml, and returns its path.
func bareRepo(t *testing.T) string {
	t.Helper()
	bare := filepath.Join(t.TempDir(), "origin.git")
	if _, err := git.PlainInit(bare, true); err != nil {
		t.Fatal(err)
	}
	commitAndPush(t, bare, map[string]string{"apps/shop/kustomization.yaml": seedKustomization}, "seed", true)
	return bare
}

// commitAndPush clones the bare repo's main (or starts it when init), writes
// files, commits and pushes: another user of the repository.
func commitAndPush(t *testing.T, bare string, files map[string]string, msg string, init bool) plumbing.Hash {
	t.Helper()
	dir := t.TempDir()
	var repo *git.Repository
	var err error
	if init {
		repo, err = git.PlainInit(dir, false)
		if err == nil {
			_, err = repo.CreateRemote(&config.RemoteConfig{Name: "origin", URLs: []string{bare}})
		}
	} else {
		repo, err = git.PlainClone(dir, false, &git.CloneOptions{URL: bare, ReferenceName: plumbing.NewBranchReferenceName("main")})
	}
	if err != nil {
		t.Fatal(err)
	}
	wt, _ := repo.Worktree()
	for name, body := range files {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
		if _, err := wt.Add(name); err != nil {
			t.Fatal(err)
		}
	}
	h, err := wt.Commit(msg, &git.CommitOptions{Author: &object.Signature{Name: "someone", Email: "someone@example.com", When: time.Now()}})
	if err != nil {
		t.Fatal(err)
	}
	src := "refs/heads/main"
	if init {
		head, _ := repo.Head()
		src = head.Name().String()
	}
	if err := repo.Push(&git.PushOptions{RemoteName: "origin", RefSpecs: []config.RefSpec{config.RefSpec(src + ":refs/heads/main")}}); err != nil {
		t.Fatal(err)
	}
	return h
}

// headOf returns the bare repo's main commit.
func headOf(t *testing.T, bare string) *object.Commit {
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
	return c
}

func fileAt(t *testing.T, c *object.Commit, path string) string {
	t.Helper()
	f, err := c.File(path)
	if err != nil {
		t.Fatalf("%s at %s: %v", path, c.Hash, err)
	}
	r, _ := f.Reader()
	defer r.Close()
	b, _ := io.ReadAll(r)
	return string(b)
}

func TestRepoEdit(t *testing.T) {
	field := Field{KustomizeImage: "shop"}
	edit := func(v string) func([]byte) ([]byte, bool, error) {
		return func(doc []byte) ([]byte, bool, error) { return field.Set(doc, v) }
	}
	const path = "apps/shop/kustomization.yaml"
	tests := []struct {
		name string
		run  func(t *testing.T, bare string)
	}{
		{"lands on the branch", func(t *testing.T, bare string) {
			before := headOf(t, bare)
			hash, err := Repo{URL: bare}.Edit(context.Background(), path, "flagops: set tag (flagops revision 7)", edit("1.1"))
			if err != nil {
				t.Fatal(err)
			}
			head := headOf(t, bare)
			if head.Hash.String() != hash || head.ParentHashes[0] != before.Hash {
				t.Fatalf("head %s (parent %v), want %s on top of %s", head.Hash, head.ParentHashes, hash, before.Hash)
			}
			if got := fileAt(t, head, path); !strings.Contains(got, `newTag: "1.1" # bumped by flagops`) || !strings.Contains(got, "# Shop in prod.") {
				t.Fatalf("file:\n%s", got)
			}
			if !strings.Contains(head.Message, "flagops revision 7") {
				t.Fatalf("message %q does not name the revision", head.Message)
			}
		}},
		{"unchanged value makes no commit", func(t *testing.T, bare string) {
			before := headOf(t, bare)
			if _, err := (Repo{URL: bare}).Edit(context.Background(), path, "m", edit("1.0")); !errors.Is(err, ErrUnchanged) {
				t.Fatalf("err = %v, want ErrUnchanged", err)
			}
			if headOf(t, bare).Hash != before.Hash {
				t.Fatal("a commit was pushed")
			}
		}},
		{"concurrent push is rebased, never overwritten", func(t *testing.T, bare string) {
			var other plumbing.Hash
			pushes := 0
			r := Repo{URL: bare}
			r.beforePush = func() {
				// Someone else pushes between our clone and our push, once.
				if pushes++; pushes == 1 {
					other = commitAndPush(t, bare, map[string]string{"README.md": "hello\n"}, "someone else's change", false)
				}
			}
			hash, err := r.Edit(context.Background(), path, "flagops: set tag", edit("1.2"))
			if err != nil {
				t.Fatal(err)
			}
			if pushes != 2 {
				t.Fatalf("push rounds = %d, want 2 (one refused, one after re-applying)", pushes)
			}
			head := headOf(t, bare)
			if head.Hash.String() != hash || len(head.ParentHashes) != 1 || head.ParentHashes[0] != other {
				t.Fatalf("head %s with parents %v; want ours (%s) directly on top of the other commit %s", head.Hash, head.ParentHashes, hash, other)
			}
			if fileAt(t, head, "README.md") != "hello\n" {
				t.Fatal("the other commit's file is gone")
			}
			if !strings.Contains(fileAt(t, head, path), `newTag: "1.2"`) {
				t.Fatal("our value is not in the file")
			}
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) { tc.run(t, bareRepo(t)) })
	}
}
