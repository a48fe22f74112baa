package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"connectrpc.com/connect"
	"github.com/spf13/cobra"

	flagopsv1 "github.com/flagops/flagops/gen/flagops/v1"
	"github.com/flagops/flagops/internal/manifest"
)

// applyKinds is the help's list of the document kinds.
var applyKinds = strings.Join(manifest.Kinds(), ", ")

// progressDocuments is the size of a set from which apply and diff say on
// standard error what they read and how long the server took.
const progressDocuments = 100

// applyFlags are the settings apply and diff share.
type applyFlags struct {
	files      []string
	prune      bool
	pruneKinds []string
	output     string
}

func (f *applyFlags) add(cmd *cobra.Command, verb string) {
	cmd.Flags().StringArrayVarP(&f.files, "filename", "f", nil, "manifest file, directory of *.yaml/*.yml, or - for stdin (repeatable)")
	cmd.Flags().BoolVar(&f.prune, "prune", false, verb+" the objects of --prune-kinds that the manifests no longer name")
	cmd.Flags().StringSliceVar(&f.pruneKinds, "prune-kinds", nil, "kinds --prune deletes, comma-separated ("+strings.Join(pruneKindNames, ", ")+")")
	cmd.Flags().StringVarP(&f.output, "output", "o", "text", "output format: text|json|yaml")
	for _, name := range []string{"prune", "prune-kinds"} {
		_ = cmd.Flags().SetAnnotation(name, noEnv, []string{"true"})
	}
}

// pruneKindNames are the kinds --prune-kinds takes.
var pruneKindNames = []string{"Environment", "EnvironmentSet", "Target", "Project", "Facts", "Segment", "Flag", "PromotionPolicy"}

// applyRequest reads and checks the manifests (every mistake of every document
// at once, before anything is sent) and builds the Apply request.
func (a *app) applyRequest(f *applyFlags, dryRun bool) (*flagopsv1.ApplyRequest, int, error) {
	if len(f.files) == 0 {
		return nil, 0, usagef("needs at least one -f FILE, DIR or -")
	}
	if err := checkFormat(f.output, "text", formatJSON, formatYAML); err != nil {
		return nil, 0, err
	}
	var kinds []string
	for _, k := range f.pruneKinds {
		canon, ok := kindNamed(k)
		if !ok {
			return nil, 0, usagef("--prune-kinds %q: not a kind a prune deletes (%s)", k, strings.Join(pruneKindNames, ", "))
		}
		kinds = append(kinds, canon)
	}
	switch {
	case f.prune && len(kinds) == 0:
		return nil, 0, usagef("--prune needs --prune-kinds: say which kinds may be deleted (%s)", strings.Join(pruneKindNames, ", "))
	case !f.prune && len(kinds) > 0:
		return nil, 0, usagef("--prune-kinds is given without --prune: pruning deletes objects, so ask for it with --prune")
	}
	sources, docs, err := a.readManifests(f.files)
	if err != nil {
		return nil, 0, err
	}
	return &flagopsv1.ApplyRequest{Workspace: a.workspace, Manifests: sources, DryRun: dryRun, Prune: f.prune, PruneKinds: kinds}, docs, nil
}

// kindNamed returns the prune kind s names, in any case, singular or plural.
func kindNamed(s string) (string, bool) {
	for _, k := range pruneKindNames {
		if strings.EqualFold(s, k) || strings.EqualFold(s, k+"s") {
			return k, true
		}
	}
	return "", false
}

// callApply sends one Apply request, saying on standard error what it sent
// and how long the server took when the set is large.
func (a *app) callApply(ctx context.Context, req *flagopsv1.ApplyRequest, docs int) (*flagopsv1.ApplyResponse, error) {
	size := 0
	for _, m := range req.GetManifests() {
		size += len(m.GetContent())
	}
	large := docs >= progressDocuments
	if large {
		what := "applying"
		if req.GetDryRun() {
			what = "comparing"
		}
		fmt.Fprintf(a.stderr, "read %d documents from %d %s (%s); %s them in one transaction…\n",
			docs, len(req.GetManifests()), plural(len(req.GetManifests()), "source", "sources"), byteSize(size), what)
	}
	start := time.Now()
	res, err := a.clients().apply.Apply(ctx, connect.NewRequest(req))
	if connect.CodeOf(err) == connect.CodeResourceExhausted {
		return nil, fmt.Errorf("the set is %s, more than the server accepts in one request (flagops serve --max-request-bytes, 4 MiB by default): %w", byteSize(size), err)
	}
	if err != nil {
		return nil, err
	}
	if large {
		fmt.Fprintf(a.stderr, "the server answered in %s\n", time.Since(start).Round(time.Millisecond))
	}
	return res.Msg, nil
}

func byteSize(n int) string {
	switch {
	case n >= 1<<20:
		return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20))
	case n >= 1<<10:
		return fmt.Sprintf("%.1f KiB", float64(n)/(1<<10))
	}
	return fmt.Sprintf("%d bytes", n)
}

func (a *app) applyCommand() *cobra.Command {
	var f applyFlags
	var dryRun bool
	cmd := &cobra.Command{
		Use:   "apply -f FILE|DIR|- [-f …]",
		Short: "Make the server match a set of YAML manifests, in one transaction",
		Long: `Apply makes the server match YAML (or JSON) manifests. A manifest holds one or
more documents separated by ---; each has a kind: ` + applyKinds + `.
A directory applies every *.yaml and *.yml file in it, in name order; - reads
standard input. See docs/manifests.md for every kind's fields.

The whole set is sent to the server in one request and applied in one
transaction, at one revision: all of it, or, if any document is refused
(a bad field, a reference to something missing, a permission the key lacks),
none of it. Documents are applied in dependency order whatever order they
are written in. An object that already matches its document is reported
unchanged and uses no revision; for facts only the keys whose value differs
are set.

Each line of output is an object and what happened to it: created,
configured (with the fields that changed), unchanged, or pruned.
--dry-run reports the same without committing anything (see also
"flagops diff"). What "flagops get KIND -o yaml" prints is a manifest that
apply accepts unchanged: its read-only fields (revision, createdAt,
updatedAt, effectiveEnvironments, actor) are ignored.

--prune deletes the objects of the kinds named by --prune-kinds that the
set no longer names, in every workspace the set's documents belong to.
Nothing is ever deleted without --prune on the command line (no environment
variable sets it). Workspaces and releases are never pruned. Each object is authorized as its own write (and each pruned object
as its own delete) would be.`,
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
  flagops apply -f ./manifests/ --prune --prune-kinds Target,Flag
  flagops get targets -o yaml | flagops apply -f -`,
		Args: noArgsHint("apply takes its manifests with -f: flagops apply -f FILE"),
		RunE: func(cmd *cobra.Command, _ []string) error {
			req, docs, err := a.applyRequest(&f, dryRun)
			if err != nil {
				return err
			}
			res, err := a.callApply(cmd.Context(), req, docs)
			if err != nil {
				return fmt.Errorf("nothing applied: %w", err)
			}
			if f.output != "text" {
				return printValue(a.stdout, f.output, res, nil)
			}
			for _, r := range res.GetResults() {
				fmt.Fprintln(a.stdout, resultLine(r, dryRun))
			}
			if docs >= progressDocuments || res.GetRevision() > 0 {
				summary(a.stderr, res)
			}
			return nil
		},
	}
	a.addClientFlags(cmd)
	f.add(cmd, "delete")
	cmd.Flags().BoolVar(&dryRun, "dry-run", false, "report what would change without changing anything")
	return cmd
}

func (a *app) diffCommand() *cobra.Command {
	var f applyFlags
	cmd := &cobra.Command{
		Use:   "diff -f FILE|DIR|- [-f …]",
		Short: "Show what applying manifests would change",
		Long: `Diff asks the server what "flagops apply" of the same manifests would do,
computed by the server's own checks and normalisation in a transaction that
is rolled back: nothing is changed. It lists the objects that would be
created, changed (with the paths of the fields that differ), or, with
--prune, deleted; unchanged objects are not listed. It prints
"no differences" on standard error when there are none.`,
		Example: `  flagops diff -f catalog.yaml
  flagops diff -f ./manifests/ --prune --prune-kinds Target,Flag
  flagops diff -f catalog.yaml -o json`,
		Args: noArgsHint("diff takes its manifests with -f: flagops diff -f FILE"),
		RunE: func(cmd *cobra.Command, _ []string) error {
			req, docs, err := a.applyRequest(&f, true)
			if err != nil {
				return err
			}
			res, err := a.callApply(cmd.Context(), req, docs)
			if err != nil {
				return fmt.Errorf("diff: %w", err)
			}
			if f.output != "text" {
				return printValue(a.stdout, f.output, res, nil)
			}
			n := 0
			for _, r := range res.GetResults() {
				if line := diffLine(r); line != "" {
					fmt.Fprintln(a.stdout, line)
					n++
				}
			}
			if n == 0 {
				fmt.Fprintln(a.stderr, "no differences")
			}
			return nil
		},
	}
	a.addClientFlags(cmd)
	f.add(cmd, "show the deletion of")
	return cmd
}

// noArgsHint refuses positional arguments with a hint at -f.
func noArgsHint(hint string) cobra.PositionalArgs {
	return func(_ *cobra.Command, args []string) error {
		if len(args) > 0 {
			return usagef("unexpected argument %q: %s", args[0], hint)
		}
		return nil
	}
}

// resultLine writes "environment/prod created", "target/eu-1 configured
// (description, labels.zone)" and the like.
func resultLine(r *flagopsv1.ApplyResult, dryRun bool) string {
	line := r.GetName() + " " + actionWord(r.GetAction())
	if fs := r.GetChangedFields(); len(fs) > 0 {
		line += " (" + strings.Join(fs, ", ") + ")"
	}
	if dryRun {
		line += " (dry run)"
	}
	return line
}

func actionWord(a flagopsv1.ApplyAction) string {
	switch a {
	case flagopsv1.ApplyAction_APPLY_ACTION_CREATED:
		return "created"
	case flagopsv1.ApplyAction_APPLY_ACTION_CHANGED:
		return "configured"
	case flagopsv1.ApplyAction_APPLY_ACTION_UNCHANGED:
		return "unchanged"
	case flagopsv1.ApplyAction_APPLY_ACTION_DELETED:
		return "pruned"
	}
	return strings.ToLower(strings.TrimPrefix(a.String(), "APPLY_ACTION_"))
}

// diffLine writes "+ environment/dev", "~ target/eu-1: description,
// labels.zone" or "- target/st-1", and nothing for an unchanged object.
func diffLine(r *flagopsv1.ApplyResult) string {
	switch r.GetAction() {
	case flagopsv1.ApplyAction_APPLY_ACTION_CREATED:
		return "+ " + r.GetName()
	case flagopsv1.ApplyAction_APPLY_ACTION_CHANGED:
		return "~ " + r.GetName() + ": " + strings.Join(r.GetChangedFields(), ", ")
	case flagopsv1.ApplyAction_APPLY_ACTION_DELETED:
		return "- " + r.GetName()
	}
	return ""
}

// summary writes the revision an apply committed, on standard error.
func summary(w io.Writer, res *flagopsv1.ApplyResponse) {
	if res.GetRevision() == 0 {
		fmt.Fprintf(w, "%d objects, nothing changed\n", len(res.GetResults()))
		return
	}
	fmt.Fprintf(w, "%d objects applied at revision %d (%d %s)\n", len(res.GetResults()), res.GetRevision(),
		res.GetChangeCount(), plural(int(res.GetChangeCount()), "change", "changes"))
}

// readManifests reads every source and parses it here first, so that every
// mistake of every document is reported at once before anything is sent.
// It returns the sources as the server reads them and the number of
// documents.
func (a *app) readManifests(sources []string) ([]*flagopsv1.Manifest, int, error) {
	var out []*flagopsv1.Manifest
	var problems []error
	docs := 0
	parse := func(name string, data []byte) {
		d, err := manifest.Parse(name, data)
		docs += len(d)
		if err != nil {
			problems = append(problems, err)
		}
		out = append(out, &flagopsv1.Manifest{Source: name, Content: string(data)})
	}
	for _, src := range sources {
		if src == "-" {
			data, err := io.ReadAll(a.stdin)
			if err != nil {
				return nil, 0, fmt.Errorf("read standard input: %w", err)
			}
			parse("-", data)
			continue
		}
		files, err := manifestFiles(src)
		if err != nil {
			return nil, 0, err
		}
		for _, f := range files {
			data, err := os.ReadFile(f)
			if err != nil {
				return nil, 0, fmt.Errorf("read manifest: %w", err)
			}
			parse(f, data)
		}
	}
	if len(problems) > 0 {
		return nil, 0, fmt.Errorf("nothing applied: %w", errors.Join(problems...))
	}
	if docs == 0 {
		return nil, 0, fmt.Errorf("no documents in %s", strings.Join(sources, ", "))
	}
	return out, docs, nil
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

func plural(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}
