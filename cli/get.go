package cli

import (
	"context"
	"fmt"
	"sort"
	"strconv"
	"strings"

	"connectrpc.com/connect"
	"github.com/spf13/cobra"

	flagopsv1 "github.com/flagops/flagops/gen/flagops/v1"
	"github.com/flagops/flagops/internal/domain"
)

// The kinds get and delete know, by their canonical (plural) name.
const (
	kWorkspaces   = "workspaces"
	kEnvironments = "environments"
	kTargets      = "targets"
	kSets         = "environmentsets"
	kProjects     = "projects"
	kDeployments  = "deployments"
	kFacts        = "facts"
	kSegments     = "segments"
	kFlags        = "flags"
	kReleases     = "releases"
	kPolicies     = "promotionpolicies"
)

// kindAliases maps every accepted spelling to the canonical kind.
var kindAliases = map[string]string{
	"workspace": kWorkspaces, "workspaces": kWorkspaces, "ws": kWorkspaces,
	"environment": kEnvironments, "environments": kEnvironments, "env": kEnvironments, "envs": kEnvironments,
	"target": kTargets, "targets": kTargets,
	"environmentset": kSets, "environmentsets": kSets, "set": kSets, "sets": kSets,
	"project": kProjects, "projects": kProjects,
	"deployment": kDeployments, "deployments": kDeployments, "deploy": kDeployments,
	"fact": kFacts, "facts": kFacts,
	"segment": kSegments, "segments": kSegments,
	"flag": kFlags, "flags": kFlags,
	"release": kReleases, "releases": kReleases,
	"promotionpolicy": kPolicies, "promotionpolicies": kPolicies, "policy": kPolicies, "policies": kPolicies,
}

// getKinds are the kinds get shows and deleteKinds those delete removes,
// as their messages list them.
var (
	getKinds = []string{kWorkspaces, kEnvironments, kTargets, kSets + " (sets)", kProjects, kDeployments,
		kFacts, kSegments, kFlags, kReleases, kPolicies + " (policies)"}
	deleteKinds = []string{kWorkspaces, kEnvironments, kTargets, kSets + " (sets)", kProjects}
)

// parseKind returns the canonical kind s names, if it is one of known.
func parseKind(s string, known []string) (string, error) {
	k, ok := kindAliases[strings.ToLower(s)]
	if ok {
		for _, want := range known {
			if name, _, _ := strings.Cut(want, " "); name == k {
				return k, nil
			}
		}
	}
	return "", usagef("unknown kind %q: known kinds are %s", s, strings.Join(known, ", "))
}

// listPageSize is the page size get asks for; it follows pages to the end.
const listPageSize = 500

func (a *app) getCommand() *cobra.Command {
	var output string
	var filter flagopsv1.ListDeploymentsRequest
	cmd := &cobra.Command{
		Use:   "get KIND [NAME]",
		Short: "Show catalog objects",
		Long: `Get shows one object, or lists all objects of a kind (following pages to the
end). KIND is workspaces, environments (env), targets, environmentsets
(sets), projects, deployments, facts, segments, flags, releases or
promotionpolicies (policies); singular forms work too.

Names: a deployment is PROJECT@TARGET (filter the list with --project,
--environment and --target); facts are named by their scope
(environment/prod, deployment/shop@eu-1), which is required; segments and
flags by KEY with --project, or PROJECT/KEY (without either, every
project's); releases by VERSION with --project, or PROJECT@VERSION; a
promotion policy by PROJECT:FROM->TO.

-o yaml and -o json write manifests: every object (but a deployment, which
is derived) as a document with its kind, which "flagops apply -f" accepts
unchanged and reports unchanged. A list is a stream of YAML documents, or a
JSON array. The read-only fields the server fills in (revision, createdAt,
updatedAt, effectiveEnvironments, actor) are written too, and apply ignores
them.`,
		Example: `  flagops get environments
  flagops get target eu-1 -o yaml
  flagops get deployments --project shop -o json
  flagops get facts deployment/shop@eu-1 -o yaml
  flagops get flags --project shop -o yaml > flags.yaml
  flagops get promotionpolicy 'shop:staging->prod' -o yaml
  flagops get targets -o yaml | flagops apply -f -`,
		Args: cobra.RangeArgs(1, 2),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := checkFormat(output); err != nil {
				return err
			}
			kind, err := parseKind(args[0], getKinds)
			if err != nil {
				return err
			}
			name := ""
			if len(args) == 2 {
				name = args[1]
			}
			filter.Workspace = a.workspace
			value, tbl, err := a.fetch(cmd.Context(), kind, name, &filter)
			if err != nil {
				what := kind
				if name != "" {
					what = strings.TrimSuffix(kind, "s") + "/" + name
				}
				return fmt.Errorf("get %s: %w", what, err)
			}
			return printValue(a.stdout, output, value, tbl)
		},
	}
	a.addClientFlags(cmd)
	addOutputFlag(cmd, &output)
	cmd.Flags().StringVar(&filter.Project, "project", "", "deployments, segments, flags, releases, policies: only of this project")
	cmd.Flags().StringVar(&filter.Environment, "environment", "", "deployments: only in this environment")
	cmd.Flags().StringVar(&filter.Target, "target", "", "deployments: only on this target")
	return cmd
}

// fetch reads one object (name set) or all of a kind, and returns it as the
// value -o json/yaml writes and a builder of its table.
func (a *app) fetch(ctx context.Context, kind, name string, dep *flagopsv1.ListDeploymentsRequest) (any, func() *table, error) {
	c := a.clients().catalog
	ws := a.workspace
	now := a.now()
	metaRow := func(m domain.Meta, mid ...string) []string {
		return append(append([]string{m.Name}, mid...), strconv.FormatInt(m.Revision, 10), age(now, m.CreatedAt))
	}
	switch kind {
	case kWorkspaces:
		items, err := getOrList(name,
			func() (*flagopsv1.Workspace, error) {
				r, err := msg(c.GetWorkspace(ctx, connect.NewRequest(&flagopsv1.GetWorkspaceRequest{Name: name})))
				return r.GetWorkspace(), err
			},
			func(tok string) ([]*flagopsv1.Workspace, string, error) {
				r, err := msg(c.ListWorkspaces(ctx, connect.NewRequest(&flagopsv1.ListWorkspacesRequest{PageSize: listPageSize, PageToken: tok})))
				return r.GetWorkspaces(), r.GetNextPageToken(), err
			}, workspaceFromProto)
		return shapeManifests(name, items, err, []string{"NAME", "DESCRIPTION", "REVISION", "AGE"}, func(w domain.Workspace) []string {
			return metaRow(w.Meta, orDash(w.Description))
		})
	case kEnvironments:
		items, err := getOrList(name,
			func() (*flagopsv1.Environment, error) {
				r, err := msg(c.GetEnvironment(ctx, connect.NewRequest(&flagopsv1.GetEnvironmentRequest{Workspace: ws, Name: name})))
				return r.GetEnvironment(), err
			},
			func(tok string) ([]*flagopsv1.Environment, string, error) {
				r, err := msg(c.ListEnvironments(ctx, connect.NewRequest(&flagopsv1.ListEnvironmentsRequest{Workspace: ws, PageSize: listPageSize, PageToken: tok})))
				return r.GetEnvironments(), r.GetNextPageToken(), err
			}, environmentFromProto)
		return shapeManifests(name, items, err, []string{"NAME", "DESCRIPTION", "REVISION", "AGE"}, func(e domain.Environment) []string {
			return metaRow(e.Meta, orDash(e.Description))
		})
	case kTargets:
		items, err := getOrList(name,
			func() (*flagopsv1.Target, error) {
				r, err := msg(c.GetTarget(ctx, connect.NewRequest(&flagopsv1.GetTargetRequest{Workspace: ws, Name: name})))
				return r.GetTarget(), err
			},
			func(tok string) ([]*flagopsv1.Target, string, error) {
				r, err := msg(c.ListTargets(ctx, connect.NewRequest(&flagopsv1.ListTargetsRequest{Workspace: ws, PageSize: listPageSize, PageToken: tok})))
				return r.GetTargets(), r.GetNextPageToken(), err
			}, targetFromProto)
		return shapeManifests(name, items, err, []string{"NAME", "ENVIRONMENT", "REVISION", "AGE"}, func(t domain.Target) []string {
			return metaRow(t.Meta, t.Environment)
		})
	case kSets:
		items, err := getOrList(name,
			func() (*flagopsv1.EnvironmentSet, error) {
				r, err := msg(c.GetEnvironmentSet(ctx, connect.NewRequest(&flagopsv1.GetEnvironmentSetRequest{Workspace: ws, Name: name})))
				return r.GetEnvironmentSet(), err
			},
			func(tok string) ([]*flagopsv1.EnvironmentSet, string, error) {
				r, err := msg(c.ListEnvironmentSets(ctx, connect.NewRequest(&flagopsv1.ListEnvironmentSetsRequest{Workspace: ws, PageSize: listPageSize, PageToken: tok})))
				return r.GetEnvironmentSets(), r.GetNextPageToken(), err
			}, environmentSetFromProto)
		return shapeManifests(name, items, err, []string{"NAME", "ENVIRONMENTS", "REVISION", "AGE"}, func(s domain.EnvironmentSet) []string {
			return metaRow(s.Meta, joinOrDash(s.Environments))
		})
	case kProjects:
		items, err := getOrList(name,
			func() (*flagopsv1.Project, error) {
				r, err := msg(c.GetProject(ctx, connect.NewRequest(&flagopsv1.GetProjectRequest{Workspace: ws, Name: name})))
				return r.GetProject(), err
			},
			func(tok string) ([]*flagopsv1.Project, string, error) {
				r, err := msg(c.ListProjects(ctx, connect.NewRequest(&flagopsv1.ListProjectsRequest{Workspace: ws, PageSize: listPageSize, PageToken: tok})))
				return r.GetProjects(), r.GetNextPageToken(), err
			}, projectFromProto)
		return shapeManifests(name, items, err, []string{"NAME", "ENVIRONMENTS", "SETS", "REVISION", "AGE"}, func(p domain.Project) []string {
			return metaRow(p.Meta, joinOrDash(p.EffectiveEnvironments), joinOrDash(p.EnvironmentSets))
		})
	case kDeployments:
		project, target, _ := strings.Cut(name, "@")
		if name != "" && (project == "" || target == "") {
			return nil, nil, usagef("a deployment is named PROJECT@TARGET, not %q", name)
		}
		items, err := getOrList(name,
			func() (*flagopsv1.Deployment, error) {
				r, err := msg(c.GetDeployment(ctx, connect.NewRequest(&flagopsv1.GetDeploymentRequest{Workspace: ws, Project: project, Target: target})))
				return r.GetDeployment(), err
			},
			func(tok string) ([]*flagopsv1.Deployment, string, error) {
				req := &flagopsv1.ListDeploymentsRequest{Workspace: ws, Project: dep.GetProject(), Environment: dep.GetEnvironment(),
					Target: dep.GetTarget(), PageSize: listPageSize, PageToken: tok}
				r, err := msg(c.ListDeployments(ctx, connect.NewRequest(req)))
				return r.GetDeployments(), r.GetNextPageToken(), err
			}, deploymentFromProto)
		return shape(name, items, err, []string{"NAME", "PROJECT", "TARGET", "ENVIRONMENT"}, func(d domain.Deployment) []string {
			return []string{d.Key(), d.Project, d.Target, d.Environment}
		})
	}
	return a.fetchMore(ctx, kind, name, dep.GetProject())
}

// getOrList gets the named object, or lists every object following pages,
// and converts the result to domain values.
func getOrList[P any, D any](name string, get func() (P, error), list func(token string) ([]P, string, error), conv func(P) D) ([]D, error) {
	if name != "" {
		p, err := get()
		if err != nil {
			return nil, err
		}
		return []D{conv(p)}, nil
	}
	var out []D
	for token := ""; ; {
		page, next, err := list(token)
		if err != nil {
			return nil, err
		}
		for _, p := range page {
			out = append(out, conv(p))
		}
		if next == "" || next == token {
			return out, nil
		}
		token = next
	}
}

// shape returns a single object when one was named and a list otherwise,
// with the table of the rows.
func shape[D any](name string, items []D, err error, header []string, row func(D) []string) (any, func() *table, error) {
	if err != nil {
		return nil, nil, err
	}
	tbl := func() *table {
		t := &table{header: header}
		for _, it := range items {
			t.add(row(it)...)
		}
		return t
	}
	if name != "" {
		return items[0], tbl, nil
	}
	if items == nil {
		items = []D{} // an empty list is [], not null
	}
	return items, tbl, nil
}

func (a *app) deleteCommand() *cobra.Command {
	var force bool
	var expected int64
	cmd := &cobra.Command{
		Use:   "delete KIND NAME",
		Short: "Delete a catalog object",
		Long: `Delete removes a workspace, environment, target, environment set or project.
An object others depend on (an environment with targets, a set used by
projects) is refused unless --force, which also removes what depends on it;
every removal is recorded in the change log. Deployments are derived and
cannot be deleted: delete the project or the target.`,
		Example: `  flagops delete target eu-1
  flagops delete environment staging --force
  flagops delete project shop --expected-revision 12`,
		Args: cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			kind, err := parseKind(args[0], deleteKinds)
			if err != nil {
				return err
			}
			name := args[1]
			var exp *int64
			if cmd.Flags().Changed("expected-revision") {
				exp = &expected
			}
			c := a.clients().catalog
			ctx, ws := cmd.Context(), a.workspace
			switch kind {
			case kWorkspaces:
				_, err = c.DeleteWorkspace(ctx, connect.NewRequest(&flagopsv1.DeleteWorkspaceRequest{Name: name, Force: force, ExpectedRevision: exp}))
			case kEnvironments:
				_, err = c.DeleteEnvironment(ctx, connect.NewRequest(&flagopsv1.DeleteEnvironmentRequest{Workspace: ws, Name: name, Force: force, ExpectedRevision: exp}))
			case kTargets:
				_, err = c.DeleteTarget(ctx, connect.NewRequest(&flagopsv1.DeleteTargetRequest{Workspace: ws, Name: name, Force: force, ExpectedRevision: exp}))
			case kSets:
				_, err = c.DeleteEnvironmentSet(ctx, connect.NewRequest(&flagopsv1.DeleteEnvironmentSetRequest{Workspace: ws, Name: name, Force: force, ExpectedRevision: exp}))
			case kProjects:
				_, err = c.DeleteProject(ctx, connect.NewRequest(&flagopsv1.DeleteProjectRequest{Workspace: ws, Name: name, Force: force, ExpectedRevision: exp}))
			}
			singular := strings.TrimSuffix(kind, "s")
			if err != nil {
				return fmt.Errorf("delete %s/%s: %w", singular, name, err)
			}
			fmt.Fprintf(a.stdout, "%s/%s deleted\n", singular, name)
			return nil
		},
	}
	a.addClientFlags(cmd)
	cmd.Flags().BoolVar(&force, "force", false, "also remove what depends on the object")
	cmd.Flags().Int64Var(&expected, "expected-revision", 0, "fail unless the object is at this revision")
	return cmd
}

// sortedKeys returns the keys of m in order, for stable tables.
func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// msg returns the message of a response, or nil when the call failed, so
// that callers can use the nil-safe getters before checking the error.
func msg[T any](r *connect.Response[T], err error) (*T, error) {
	if err != nil {
		return nil, err
	}
	return r.Msg, nil
}
