package gitwrite

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/go-git/go-billy/v5/memfs"
	"github.com/go-git/go-billy/v5/util"
	"github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/config"
	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/object"
	"github.com/go-git/go-git/v5/plumbing/transport"
	"github.com/go-git/go-git/v5/storage/memory"
)

// Repo is one branch of one remote repository that edits are pushed to.
type Repo struct {
	URL    string
	Branch string // default "main"
	Auth   transport.AuthMethod
	Author object.Signature // Name and Email; When is set per commit
	// Attempts bounds the fetch-edit-push rounds when others push in
	// between (default 5).
	Attempts int
	// beforePush, in tests, runs between the clone and the push.
	beforePush func()
}

// ErrUnchanged is returned by Edit when the file already holds the value.
var ErrUnchanged = errors.New("file already holds the value")

// Edit clones the branch, applies edit to the file at path, commits with
// message and pushes. When someone else pushed meanwhile, the push is
// refused as not fast-forward; Edit then starts again from the new head and
// re-applies the edit, so the other commit survives and this one lands on
// top. It never forces. It returns the new commit's hash, or ErrUnchanged.
func (r Repo) Edit(ctx context.Context, path, message string, edit func([]byte) ([]byte, bool, error)) (string, error) {
	attempts := r.Attempts
	if attempts <= 0 {
		attempts = 5
	}
	var err error
	for i := 0; i < attempts; i++ {
		var hash string
		hash, err = r.editOnce(ctx, path, message, edit)
		if err == nil || errors.Is(err, ErrUnchanged) || !rejected(err) {
			return hash, err
		}
	}
	return "", fmt.Errorf("push to %s gave up after %d attempts: %w", r.branch(), attempts, err)
}

func (r Repo) branch() string {
	if r.Branch == "" {
		return "main"
	}
	return r.Branch
}

// rejected reports a push refused because the remote moved.
func rejected(err error) bool {
	return errors.Is(err, git.ErrNonFastForwardUpdate) || errors.Is(err, git.ErrForceNeeded) ||
		errors.Is(err, errRemoteMoved)
}

var errRemoteMoved = errors.New("the remote branch moved")

func (r Repo) editOnce(ctx context.Context, path, message string, edit func([]byte) ([]byte, bool, error)) (string, error) {
	ref := plumbing.NewBranchReferenceName(r.branch())
	repo, err := git.CloneContext(ctx, memory.NewStorage(), memfs.New(), &git.CloneOptions{
		URL: r.URL, ReferenceName: ref, SingleBranch: true, Auth: r.Auth,
	})
	if err != nil {
		return "", fmt.Errorf("clone branch %s: %w", r.branch(), err)
	}
	wt, err := repo.Worktree()
	if err != nil {
		return "", err
	}
	f, err := wt.Filesystem.Open(path)
	if err != nil {
		return "", fmt.Errorf("open %s: %w", path, err)
	}
	old, err := io.ReadAll(f)
	f.Close()
	if err != nil {
		return "", fmt.Errorf("read %s: %w", path, err)
	}
	updated, changed, err := edit(old)
	if err != nil {
		return "", fmt.Errorf("edit %s: %w", path, err)
	}
	if !changed {
		return "", ErrUnchanged
	}
	if err := util.WriteFile(wt.Filesystem, path, updated, 0o644); err != nil {
		return "", fmt.Errorf("write %s: %w", path, err)
	}
	if _, err := wt.Add(path); err != nil {
		return "", fmt.Errorf("stage %s: %w", path, err)
	}
	author := r.Author
	if author.Name == "" {
		author.Name, author.Email = "flagops", "flagops@localhost"
	}
	author.When = time.Now()
	hash, err := wt.Commit(message, &git.CommitOptions{Author: &author})
	if err != nil {
		return "", fmt.Errorf("commit: %w", err)
	}
	if r.beforePush != nil {
		r.beforePush()
	}
	// No '+' in the refspec: the remote accepts only a fast-forward.
	spec := config.RefSpec(ref.String() + ":" + ref.String())
	err = repo.PushContext(ctx, &git.PushOptions{RemoteName: "origin", RefSpecs: []config.RefSpec{spec}, Auth: r.Auth})
	if err != nil {
		if rejected(err) || isRemoteReject(err) {
			return "", fmt.Errorf("push: %w: %w", errRemoteMoved, err)
		}
		return "", fmt.Errorf("push: %w", err)
	}
	return hash.String(), nil
}

// isRemoteReject recognises a server-side refusal of a non-fast-forward
// update, which go-git reports as a failed reference status.
func isRemoteReject(err error) bool {
	msg := err.Error()
	for _, s := range []string{"non-fast-forward", "fetch first", "rejected", "failed to update ref"} {
		if strings.Contains(msg, s) {
			return true
		}
	}
	return false
}
