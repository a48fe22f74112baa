package cli

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"

	"connectrpc.com/connect"
	"github.com/spf13/cobra"

	flagopsv1 "github.com/flagops/flagops/gen/flagops/v1"
	"github.com/flagops/flagops/internal/domain"
	"github.com/flagops/flagops/internal/flag"
	"github.com/flagops/flagops/internal/manifest"
)

func (a *app) applyCommand() *cobra.Command {
	var files []string
	var dryRun bool
	cmd := &cobra.Command{
		Use:   "apply -f FILE|DIR|- [-f …]",
		Short: "Create or update catalog objects and facts from YAML manifests",
		Long: `Apply makes the server match YAML manifests. A manifest holds one or more
documents separated by ---; each has a kind: Workspace, Environment, Target,
EnvironmentSet, Project or Facts. A directory applies every *.yaml and *.yml
file in it, in name order; - reads standard input.

Every document of every file is read and validated first: if any is bad
(unknown kind, unknown field, bad name or fact key), nothing is applied.
Documents are then applied in dependency order (workspaces, environments,
environment sets, targets, projects, facts) whatever order they are written
in. Applying is idempotent: an object that already matches is reported
unchanged and uses no revision, and for facts only the keys whose value
differs are set.

Documents may carry workspace: (default: --workspace), description: and
labels:. Facts documents have scope: (environment/prod, target/eu-1,
project/shop, project/shop@prod, deployment/shop@eu-1 or workspace) and
values: (any JSON-able YAML).`,
		Example: `  # catalog.yaml
  kind: Environment
  name: prod
  ---
  kind: Target
  name: eu-1
  environment: prod
  ---
  kind: Facts
  scope: environment/prod
  values: {region: eu, maxReplicas: 2}

  flagops apply -f catalog.yaml
  flagops apply -f ./manifests/ --dry-run
  cat catalog.yaml | flagops apply -f -`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if len(files) == 0 {
				return usagef("apply needs at least one -f FILE, DIR or -")
			}
			docs, err := a.readManifests(files)
			if err != nil {
				return err
			}
			manifest.Sort(docs)
			ap := applier{c: a.clients(), workspace: a.workspace, dryRun: dryRun, out: a.stdout}
			for _, d := range docs {
				if err := ap.apply(cmd.Context(), d); err != nil {
					return fmt.Errorf("apply %s (%s): %w", d.Name(), d.Where(), err)
				}
			}
			return nil
		},
	}
	a.addClientFlags(cmd)
	cmd.Flags().StringArrayVarP(&files, "filename", "f", nil, "manifest file, directory of *.yaml/*.yml, or - for stdin (repeatable)")
	cmd.Flags().BoolVar(&dryRun, "dry-run", false, "show what would change without changing anything")
	return cmd
}

// readManifests reads and validates every document of every source, and
// returns all their errors at once.
func (a *app) readManifests(sources []string) ([]manifest.Document, error) {
	var docs []manifest.Document
	var problems []error
	parse := func(name string, data []byte) {
		d, err := manifest.Parse(name, data)
		docs = append(docs, d...)
		if err != nil {
			problems = append(problems, err)
		}
	}
	for _, src := range sources {
		if src == "-" {
			data, err := io.ReadAll(a.stdin)
			if err != nil {
				return nil, fmt.Errorf("read standard input: %w", err)
			}
			parse("-", data)
			continue
		}
		files, err := manifestFiles(src)
		if err != nil {
			return nil, err
		}
		for _, f := range files {
			data, err := os.ReadFile(f)
			if err != nil {
				return nil, fmt.Errorf("read manifest: %w", err)
			}
			parse(f, data)
		}
	}
	if len(problems) > 0 {
		return nil, fmt.Errorf("nothing applied: %w", errors.Join(problems...))
	}
	if len(docs) == 0 {
		return nil, fmt.Errorf("no documents in %s", strings.Join(sources, ", "))
	}
	return docs, nil
}

// manifestFiles returns src itself, or the *.yaml and *.yml files of the
// directory src in name order.
func manifestFiles(src string) ([]string, error) {
	fi, err := os.Stat(src)
	if err != nil {
		return nil, fmt.Errorf("read manifest: %w", err)
	}
	if !fi.IsDir() {
		return []string{src}, nil
	}
	entries, err := os.ReadDir(src) // sorted by name
	if err != nil {
		return nil, fmt.Errorf("read manifest directory: %w", err)
	}
	var files []string
	for _, e := range entries {
		ext := filepath.Ext(e.Name())
		if !e.IsDir() && (ext == ".yaml" || ext == ".yml") {
			files = append(files, filepath.Join(src, e.Name()))
		}
	}
	if len(files) == 0 {
		return nil, fmt.Errorf("directory %s has no *.yaml or *.yml files", src)
	}
	return files, nil
}

// applier applies documents one by one and reports each on out.
type applier struct {
	c         clients
	workspace string
	dryRun    bool
	out       io.Writer
}

// report writes "environment/prod created" and the like.
func (p *applier) report(name, result string) {
	if p.dryRun {
		result += " (dry run)"
	}
	fmt.Fprintf(p.out, "%s %s\n", name, result)
}

func opResult(op flagopsv1.Operation) string {
	switch op {
	case flagopsv1.Operation_OPERATION_CREATE:
		return "created"
	case flagopsv1.Operation_OPERATION_UPDATE:
		return "configured"
	case flagopsv1.Operation_OPERATION_NONE:
		return "unchanged"
	}
	return strings.ToLower(strings.TrimPrefix(op.String(), "OPERATION_"))
}

func (p *applier) apply(ctx context.Context, d manifest.Document) error {
	ws := d.Workspace
	if ws == "" {
		ws = p.workspace
	}
	if f, ok := d.Object.(manifest.Facts); ok {
		return p.applyFacts(ctx, ws, d.Name(), f)
	}
	switch o := d.Object.(type) {
	case domain.Release:
		result, err := p.applyRelease(ctx, ws, o)
		if err != nil {
			return err
		}
		p.report(d.Name(), result)
		return nil
	case domain.PromotionPolicy:
		result, err := p.applyPolicy(ctx, ws, o)
		if err != nil {
			return err
		}
		p.report(d.Name(), result)
		return nil
	}
	result, err := p.applyObject(ctx, ws, d.Object)
	if err != nil {
		return err
	}
	p.report(d.Name(), result)
	return nil
}

// applyObject puts a catalog object, or in a dry run compares it with what
// the server holds, and returns created, configured or unchanged.
func (p *applier) applyObject(ctx context.Context, ws string, obj any) (string, error) {
	cat := p.c.catalog
	switch o := obj.(type) {
	case domain.Workspace:
		if p.dryRun {
			cur, err := cat.GetWorkspace(ctx, connect.NewRequest(&flagopsv1.GetWorkspaceRequest{Name: o.Name}))
			return dryResult(err, func() bool { return sameMeta(workspaceFromProto(cur.Msg.GetWorkspace()).Meta, o.Meta) })
		}
		res, err := cat.PutWorkspace(ctx, connect.NewRequest(&flagopsv1.PutWorkspaceRequest{
			Workspace: &flagopsv1.Workspace{Meta: metaToProto(o.Meta)}}))
		if err != nil {
			return "", err
		}
		return opResult(res.Msg.GetOperation()), nil
	case domain.Environment:
		o.Workspace = ws
		if p.dryRun {
			cur, err := cat.GetEnvironment(ctx, connect.NewRequest(&flagopsv1.GetEnvironmentRequest{Workspace: ws, Name: o.Name}))
			return dryResult(err, func() bool { return sameMeta(environmentFromProto(cur.Msg.GetEnvironment()).Meta, o.Meta) })
		}
		res, err := cat.PutEnvironment(ctx, connect.NewRequest(&flagopsv1.PutEnvironmentRequest{
			Environment: &flagopsv1.Environment{Meta: metaToProto(o.Meta)}}))
		if err != nil {
			return "", err
		}
		return opResult(res.Msg.GetOperation()), nil
	case domain.Target:
		o.Workspace = ws
		if p.dryRun {
			cur, err := cat.GetTarget(ctx, connect.NewRequest(&flagopsv1.GetTargetRequest{Workspace: ws, Name: o.Name}))
			return dryResult(err, func() bool {
				t := targetFromProto(cur.Msg.GetTarget())
				return sameMeta(t.Meta, o.Meta) && t.Environment == o.Environment
			})
		}
		res, err := cat.PutTarget(ctx, connect.NewRequest(&flagopsv1.PutTargetRequest{
			Target: &flagopsv1.Target{Meta: metaToProto(o.Meta), Environment: o.Environment}}))
		if err != nil {
			return "", err
		}
		return opResult(res.Msg.GetOperation()), nil
	case domain.EnvironmentSet:
		o.Workspace = ws
		if p.dryRun {
			cur, err := cat.GetEnvironmentSet(ctx, connect.NewRequest(&flagopsv1.GetEnvironmentSetRequest{Workspace: ws, Name: o.Name}))
			return dryResult(err, func() bool {
				s := environmentSetFromProto(cur.Msg.GetEnvironmentSet())
				s.Normalize()
				return sameMeta(s.Meta, o.Meta) && slices.Equal(s.Environments, o.Environments)
			})
		}
		res, err := cat.PutEnvironmentSet(ctx, connect.NewRequest(&flagopsv1.PutEnvironmentSetRequest{
			EnvironmentSet: &flagopsv1.EnvironmentSet{Meta: metaToProto(o.Meta), Environments: o.Environments}}))
		if err != nil {
			return "", err
		}
		return opResult(res.Msg.GetOperation()), nil
	case domain.Project:
		o.Workspace = ws
		if p.dryRun {
			cur, err := cat.GetProject(ctx, connect.NewRequest(&flagopsv1.GetProjectRequest{Workspace: ws, Name: o.Name}))
			return dryResult(err, func() bool {
				pr := projectFromProto(cur.Msg.GetProject())
				pr.Normalize()
				return sameMeta(pr.Meta, o.Meta) && slices.Equal(pr.Environments, o.Environments) &&
					slices.Equal(pr.EnvironmentSets, o.EnvironmentSets)
			})
		}
		res, err := cat.PutProject(ctx, connect.NewRequest(&flagopsv1.PutProjectRequest{
			Project: &flagopsv1.Project{Meta: metaToProto(o.Meta), Environments: o.Environments, EnvironmentSets: o.EnvironmentSets}}))
		if err != nil {
			return "", err
		}
		return opResult(res.Msg.GetOperation()), nil
	case flag.Flag:
		if p.dryRun {
			cur, err := p.c.flags.GetFlag(ctx, connect.NewRequest(&flagopsv1.GetFlagRequest{Workspace: ws, Project: o.Project, Key: o.Key}))
			return dryResult(err, func() bool {
				f, err := flagFromProto(cur.Msg.GetFlag())
				f.Revision = 0
				return err == nil && sameJSON(f, o)
			})
		}
		m, err := flagToProto(o)
		if err != nil {
			return "", err
		}
		res, err := p.c.flags.PutFlag(ctx, connect.NewRequest(&flagopsv1.PutFlagRequest{Workspace: ws, Flag: m}))
		if err != nil {
			return "", err
		}
		return opResult(res.Msg.GetOperation()), nil
	case flag.Segment:
		if p.dryRun {
			cur, err := p.c.flags.GetSegment(ctx, connect.NewRequest(&flagopsv1.GetSegmentRequest{Workspace: ws, Project: o.Project, Key: o.Key}))
			return dryResult(err, func() bool {
				s, err := segmentFromProto(cur.Msg.GetSegment())
				s.Revision = 0
				return err == nil && sameJSON(s, o)
			})
		}
		m := &flagopsv1.Segment{}
		if err := jsonToProto(o, m); err != nil {
			return "", err
		}
		res, err := p.c.flags.PutSegment(ctx, connect.NewRequest(&flagopsv1.PutSegmentRequest{Workspace: ws, Segment: m}))
		if err != nil {
			return "", err
		}
		return opResult(res.Msg.GetOperation()), nil
	}
	return "", fmt.Errorf("apply: no applier for %T", obj)
}

// sameJSON compares two values by their JSON encoding.
func sameJSON(a, b any) bool {
	x, errA := json.Marshal(a)
	y, errB := json.Marshal(b)
	return errA == nil && errB == nil && string(x) == string(y)
}

// dryResult turns the answer of a Get into what a Put would do. same is only
// called when the Get succeeded.
func dryResult(getErr error, same func() bool) (string, error) {
	switch {
	case isNotFound(getErr):
		return "created", nil
	case getErr != nil:
		return "", getErr
	case same():
		return "unchanged", nil
	}
	return "configured", nil
}

// sameMeta compares what a manifest can set: description and labels.
func sameMeta(cur, want domain.Meta) bool {
	return cur.Description == want.Description && maps.Equal(cur.Labels, want.Labels)
}

// applyFacts sets the keys of a Facts document whose value differs from the
// scope's current one, so that re-applying uses no revision.
func (p *applier) applyFacts(ctx context.Context, ws, name string, f manifest.Facts) error {
	scope := f.Scope.String()
	cur, err := p.c.facts.GetFacts(ctx, connect.NewRequest(&flagopsv1.GetFactsRequest{Workspace: ws, Scope: scope}))
	current := map[string]json.RawMessage{}
	switch {
	case err == nil:
		for _, fact := range cur.Msg.GetFacts() {
			current[fact.GetKey()] = valueJSON(fact.GetValue())
		}
	case p.dryRun && isNotFound(err):
		// The scope's object is created by an earlier document of this dry run.
	default:
		return fmt.Errorf("read current facts: %w", err)
	}
	changed := map[string]json.RawMessage{}
	for k, v := range f.Values {
		if old, ok := current[k]; !ok || !jsonEqual(old, v) {
			changed[k] = v
		}
	}
	if len(changed) == 0 {
		p.report(name, "unchanged")
		return nil
	}
	result := "configured"
	if len(current) == 0 {
		result = "created"
	}
	result += fmt.Sprintf(" (%d %s)", len(changed), plural(len(changed), "key", "keys"))
	if !p.dryRun {
		values, err := valuesToProto(changed)
		if err != nil {
			return err
		}
		if _, err := p.c.facts.SetFacts(ctx, connect.NewRequest(&flagopsv1.SetFactsRequest{
			Workspace: ws, Scope: scope, Values: values})); err != nil {
			return err
		}
	}
	p.report(name, result)
	return nil
}

// jsonEqual compares two JSON values by meaning: object key order and
// number spelling (2 and 2.0) do not matter.
func jsonEqual(a, b json.RawMessage) bool {
	var x, y any
	if json.Unmarshal(a, &x) != nil || json.Unmarshal(b, &y) != nil {
		return false
	}
	return reflect.DeepEqual(x, y)
}

func plural(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}
