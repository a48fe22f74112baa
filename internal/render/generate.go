package render

import (
	"context"
	"fmt"
	"io/fs"
	"slices"
	"strings"
	"text/template/parse"
)

// BundleFetcher fetches a bundle; *Client implements it, and tests use
// fakes.
type BundleFetcher interface {
	Fetch(ctx context.Context, req *BundleRequest) (*Bundle, error)
}

// Generate is GenerateWith under the default limits.
func Generate(ctx context.Context, fsys fs.FS, t Target, argo Argo, f BundleFetcher) ([]byte, error) {
	return GenerateWith(ctx, fsys, t, argo, f, Limits{})
}

// GenerateWith is the plugin's generate step: it reads the source directory
// fsys, finds the secrets its templates refer to, fetches the bundle of
// deployment t in one request, and renders every file into one YAML stream
// within the limits l (ExecuteWith).
//
// It returns the whole output or an error, never part of the output; the
// error never holds template data (ExecuteWith).
func GenerateWith(ctx context.Context, fsys fs.FS, t Target, argo Argo, f BundleFetcher, l Limits) ([]byte, error) {
	files, err := LoadFiles(fsys)
	if err != nil {
		return nil, err
	}
	keys, err := SecretKeys(files)
	if err != nil {
		return nil, err
	}
	b, err := f.Fetch(ctx, &BundleRequest{Workspace: t.Workspace, Project: t.Project, Target: t.Target, Context: argo.Context(), Secrets: keys})
	if err != nil {
		return nil, fmt.Errorf("fetch bundle of %s@%s: %w", t.Project, t.Target, err)
	}
	d, err := NewData(b, argo)
	if err != nil {
		return nil, Redact(err, b.Secrets)
	}
	return ExecuteWith(files, d, l)
}

// SecretKeys returns, sorted, the secret keys the templates of files refer
// to, so that the bundle carries those secrets and no others. A key is
// referred to as .Secrets.KEY ($.Secrets.KEY), index .Secrets "KEY", or
// secret "KEY" (the form for keys with dots). Any other use of .Secrets
// (ranging over it, passing it whole) cannot be known in advance and is an
// error.
func SecretKeys(files []File) ([]string, error) {
	tmpls, err := Parse(files, &Data{})
	if err != nil {
		return nil, err
	}
	var keys []string
	for _, f := range files {
		if !f.Template {
			continue
		}
		s := &secretScan{}
		for _, t := range tmpls[f.Path].Templates() {
			if t.Tree != nil {
				s.tree = t.Tree
				s.node(t.Tree.Root)
			}
		}
		if s.err != nil {
			return nil, s.err
		}
		keys = append(keys, s.keys...)
	}
	slices.Sort(keys)
	return slices.Compact(keys), nil
}

type secretScan struct {
	tree *parse.Tree
	keys []string
	err  error
}

// fail records the first problem, at n's FILE:LINE:COL.
func (s *secretScan) fail(n parse.Node, what string) {
	if s.err == nil {
		loc, _ := s.tree.ErrorContext(n)
		s.err = failure("%s: %s: templates must name each secret (.Secrets.KEY or secret \"KEY\")", loc, what)
	}
}

// node walks the parse tree. Fields and variables are checked where they
// stand; commands are checked first for index .Secrets "KEY" and secret
// "KEY", whose key is a string argument.
func (s *secretScan) node(n parse.Node) {
	switch n := n.(type) {
	case nil:
	case *parse.ListNode:
		if n == nil {
			return
		}
		for _, c := range n.Nodes {
			s.node(c)
		}
	case *parse.ActionNode:
		s.node(n.Pipe)
	case *parse.IfNode:
		s.branch(&n.BranchNode)
	case *parse.RangeNode:
		s.branch(&n.BranchNode)
	case *parse.WithNode:
		s.branch(&n.BranchNode)
	case *parse.TemplateNode:
		s.node(n.Pipe)
	case *parse.PipeNode:
		if n == nil {
			return
		}
		for _, c := range n.Cmds {
			s.command(c)
		}
	case *parse.ChainNode:
		s.node(n.Node)
	case *parse.FieldNode:
		s.ident(n, n.Ident)
	case *parse.VariableNode:
		if len(n.Ident) > 0 && n.Ident[0] == "$" {
			s.ident(n, n.Ident[1:])
		}
	}
}

func (s *secretScan) branch(b *parse.BranchNode) {
	s.node(b.Pipe)
	s.node(b.List)
	s.node(b.ElseList)
}

// ident records .Secrets.KEY, and refuses a bare .Secrets.
func (s *secretScan) ident(n parse.Node, ident []string) {
	if len(ident) == 0 || ident[0] != "Secrets" {
		return
	}
	if len(ident) == 1 {
		s.fail(n, ".Secrets is used whole")
		return
	}
	s.keys = append(s.keys, ident[1])
}

func (s *secretScan) command(c *parse.CommandNode) {
	if len(c.Args) >= 2 {
		if id, ok := c.Args[0].(*parse.IdentifierNode); ok {
			switch {
			case id.Ident == "secret":
				if str, ok := c.Args[1].(*parse.StringNode); ok {
					s.keys = append(s.keys, str.Text)
					return
				}
				s.fail(c, "secret takes a quoted key")
				return
			case id.Ident == "index" && isSecretsField(c.Args[1]):
				if len(c.Args) >= 3 {
					if str, ok := c.Args[2].(*parse.StringNode); ok {
						s.keys = append(s.keys, str.Text)
						return
					}
				}
				s.fail(c, "index .Secrets takes a quoted key")
				return
			}
		}
	}
	for _, a := range c.Args {
		s.node(a)
	}
}

func isSecretsField(n parse.Node) bool {
	switch n := n.(type) {
	case *parse.FieldNode:
		return len(n.Ident) == 1 && n.Ident[0] == "Secrets"
	case *parse.VariableNode:
		return len(n.Ident) == 2 && n.Ident[0] == "$" && n.Ident[1] == "Secrets"
	}
	return false
}

// Discover returns the first file of fsys that makes it a flagops source
// directory, or "" when there is none. It is the plugin's discovery step.
//
// Argo CD asks the plugins before its own Helm and Kustomize detection
// (util/app/discovery, Discover), so a directory Argo CD would render as a
// Helm chart (a Chart.yaml at its root) or with Kustomize (a
// kustomization.yaml, kustomization.yml or Kustomization at its root) is
// claimed only when it holds flagops.yaml: a *.tmpl file alone is not
// enough there. Anywhere else flagops.yaml or any *.tmpl file claims it.
// An Application naming the plugin still needs discovery to match: Argo CD
// refuses a named plugin whose discovery says no (DetectConfigManagementPlugin).
func Discover(fsys fs.FS) (string, error) {
	if _, err := fs.Stat(fsys, ConfigFile); err == nil {
		return ConfigFile, nil
	}
	root, err := fs.ReadDir(fsys, ".")
	if err != nil {
		return "", fmt.Errorf("read source directory: %w", err)
	}
	for _, e := range root {
		if e.IsDir() {
			continue
		}
		// Argo CD's own tests, verbatim: a name ending in Chart.yaml, or
		// kustomize.IsKustomization.
		switch n := e.Name(); {
		case strings.HasSuffix(n, "Chart.yaml"), n == "kustomization.yaml", n == "kustomization.yml", n == "Kustomization":
			return "", nil
		}
	}
	files, err := LoadFiles(fsys)
	if err != nil {
		return "", err
	}
	for _, f := range files {
		if f.Template {
			return f.Path, nil
		}
	}
	return "", nil
}
