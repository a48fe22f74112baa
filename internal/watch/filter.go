package watch

import (
	"slices"
	"strings"

	"github.com/flagops/flagops/internal/domain"
)

// Filter selects the changes a watcher receives. Empty fields do not filter;
// a change passes when it matches every non-empty field: its workspace, any
// of Kinds, and any of KeyPrefixes.
type Filter struct {
	Workspace   string
	Kinds       []string
	KeyPrefixes []string
}

// Match reports whether c passes the filter.
func (f Filter) Match(c domain.Change) bool {
	if f.Workspace != "" && c.Workspace != f.Workspace {
		return false
	}
	if len(f.Kinds) > 0 && !slices.Contains(f.Kinds, c.Kind) {
		return false
	}
	if len(f.KeyPrefixes) > 0 && !slices.ContainsFunc(f.KeyPrefixes, func(p string) bool { return strings.HasPrefix(c.Key, p) }) {
		return false
	}
	return true
}

// apply returns the changes that pass. It returns in itself when every change
// passes, so that the common unfiltered watcher allocates nothing.
func (f Filter) apply(in []domain.Change) []domain.Change {
	if f.Workspace == "" && len(f.Kinds) == 0 && len(f.KeyPrefixes) == 0 {
		return in
	}
	var out []domain.Change
	for _, c := range in {
		if f.Match(c) {
			out = append(out, c)
		}
	}
	return out
}
