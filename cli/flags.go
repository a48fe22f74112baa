package cli

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"sort"
	"strconv"
	"strings"

	"connectrpc.com/connect"
	"github.com/spf13/cobra"
	"go.yaml.in/yaml/v3"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"

	flagopsv1 "github.com/flagops/flagops/gen/flagops/v1"
	"github.com/flagops/flagops/internal/flag"
	"github.com/flagops/flagops/internal/manifest"
)

// The flag messages mirror the internal/flag JSON shape, so the CLI shows
// and reads flags in that shape (the manifest shape): `flags get -o yaml`
// prints a document `flags put -f` and `apply -f` accept.

func flagFromProto(m *flagopsv1.Flag) (flag.Flag, error) {
	var f flag.Flag
	rev := m.GetRevision()
	m = proto.CloneOf(m)
	m.Revision = 0 // protojson writes int64 as a string encoding/json will not read
	if err := protoToJSON(m, &f); err != nil {
		return f, err
	}
	f.Revision = rev
	return f, nil
}

func segmentFromProto(m *flagopsv1.Segment) (flag.Segment, error) {
	var s flag.Segment
	rev := m.GetRevision()
	m = proto.CloneOf(m)
	m.Revision = 0
	if err := protoToJSON(m, &s); err != nil {
		return s, err
	}
	s.Revision = rev
	return s, nil
}

func protoToJSON(m proto.Message, out any) error {
	b, err := protojson.Marshal(m)
	if err != nil {
		return fmt.Errorf("read %T: %w", m, err)
	}
	if err := json.Unmarshal(b, out); err != nil {
		return fmt.Errorf("read %T: %w", m, err)
	}
	return nil
}

func jsonToProto(v any, m proto.Message) error {
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Errorf("encode %T: %w", v, err)
	}
	if err := (protojson.UnmarshalOptions{DiscardUnknown: true}).Unmarshal(b, m); err != nil {
		return fmt.Errorf("encode %T: %w", v, err)
	}
	return nil
}

func flagToProto(f flag.Flag) (*flagopsv1.Flag, error) {
	f.Revision = 0
	m := &flagopsv1.Flag{}
	return m, jsonToProto(f, m)
}

func (a *app) flagsCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "flags",
		Short: "Manage feature flags",
		Long: `Flags are per project; each environment of the project has its own
targeting (enabled, rules, rollouts, prerequisites). A flag is written in the
internal/flag JSON shape, as YAML or JSON; "flags get NAME -o yaml" prints a
document that "flags put -f" and "apply -f" accept.`,
		Example: `  flagops flags list --project shop
  flagops flags get replicas --project shop -o yaml > replicas.yaml
  flagops flags put -f replicas.yaml
  flagops flags enable new-checkout --project shop --env prod`,
		Args: cobra.NoArgs,
	}
	a.addClientFlags(cmd)
	cmd.AddCommand(a.flagsListCommand(), a.flagsGetCommand(), a.flagsPutCommand(), a.flagsDeleteCommand(),
		a.flagsToggleCommand(true), a.flagsToggleCommand(false), a.flagsScheduleCommand())
	return cmd
}

func projectFlag(cmd *cobra.Command, dst *string) {
	cmd.Flags().StringVar(dst, "project", "", "the project (required)")
	_ = cmd.MarkFlagRequired("project")
}

func flagsTable(flags []flag.Flag) *table {
	t := &table{header: []string{"KEY", "TYPE", "ENVIRONMENTS", "REVISION"}}
	for _, f := range flags {
		var envs []string
		for _, e := range sortedKeys(f.Environments) {
			state := "off"
			if f.Environments[e].Enabled {
				state = "on"
			}
			envs = append(envs, e+":"+state)
		}
		t.add(f.Key, string(f.Type), joinOrDash(envs), strconv.FormatInt(f.Revision, 10))
	}
	return t
}

func (a *app) flagsListCommand() *cobra.Command {
	var output, project string
	cmd := &cobra.Command{
		Use:   "list --project P",
		Short: "List the flags of a project",
		Long: `List shows every flag of the project (following pages to the end) with
whether it is on or off in each environment that has targeting.`,
		Example: `  flagops flags list --project shop -o json`,
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := checkFormat(output); err != nil {
				return err
			}
			var out []flag.Flag
			for tok := ""; ; {
				res, err := a.clients().flags.ListFlags(cmd.Context(), connect.NewRequest(&flagopsv1.ListFlagsRequest{
					Workspace: a.workspace, Project: project, PageSize: listPageSize, PageToken: tok}))
				if err != nil {
					return fmt.Errorf("list flags of %s: %w", project, err)
				}
				for _, m := range res.Msg.GetFlags() {
					f, err := flagFromProto(m)
					if err != nil {
						return err
					}
					out = append(out, f)
				}
				if tok = res.Msg.GetNextPageToken(); tok == "" {
					break
				}
			}
			if out == nil {
				out = []flag.Flag{}
			}
			docs, err := encodeManifests(a.workspace, out)
			if err != nil {
				return err
			}
			return printValue(a.stdout, output, manifests{docs: docs}, func() *table { return flagsTable(out) })
		},
	}
	addOutputFlag(cmd, &output)
	projectFlag(cmd, &project)
	return cmd
}

func (a *app) flagsGetCommand() *cobra.Command {
	var output, project string
	cmd := &cobra.Command{
		Use:   "get KEY --project P",
		Short: "Show one flag",
		Long: `Get shows one flag; -o yaml or -o json prints it as a Flag manifest (kind
and workspace included), which "flags put -f" and "apply -f" accept back
unchanged.`,
		Example: `  flagops flags get replicas --project shop
  flagops flags get replicas --project shop -o yaml`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := checkFormat(output); err != nil {
				return err
			}
			res, err := a.clients().flags.GetFlag(cmd.Context(), connect.NewRequest(&flagopsv1.GetFlagRequest{
				Workspace: a.workspace, Project: project, Key: args[0]}))
			if err != nil {
				return fmt.Errorf("get flag %s/%s: %w", project, args[0], err)
			}
			f, err := flagFromProto(res.Msg.GetFlag())
			if err != nil {
				return err
			}
			docs, err := encodeManifests(a.workspace, []flag.Flag{f})
			if err != nil {
				return err
			}
			return printValue(a.stdout, output, manifests{docs: docs, single: true}, func() *table { return flagsTable([]flag.Flag{f}) })
		},
	}
	addOutputFlag(cmd, &output)
	projectFlag(cmd, &project)
	return cmd
}

// readFlagDocs reads Flag and Segment documents from a file ("-": stdin);
// a document without kind is taken as a Flag. It returns the documents and
// the manifest the server applies (every document with its kind).
func (a *app) readFlagDocs(file string) ([]manifest.Document, []byte, error) {
	var data []byte
	var err error
	if file == "-" {
		data, err = io.ReadAll(a.stdin)
	} else {
		data, err = os.ReadFile(file)
	}
	if err != nil {
		return nil, nil, fmt.Errorf("read %s: %w", file, err)
	}
	dec := yaml.NewDecoder(strings.NewReader(string(data)))
	var out []byte
	for {
		var doc map[string]any
		if err := dec.Decode(&doc); err != nil {
			if errors.Is(err, io.EOF) {
				break
			}
			return nil, nil, fmt.Errorf("read %s: %w", file, err)
		}
		if doc == nil {
			continue
		}
		if _, ok := doc["kind"]; !ok {
			doc["kind"] = manifest.KindFlag
		}
		b, err := yaml.Marshal(doc)
		if err != nil {
			return nil, nil, err
		}
		out = append(append(out, "---\n"...), b...)
	}
	docs, err := manifest.Parse(file, out)
	if err != nil {
		return nil, nil, usageError{err}
	}
	for _, d := range docs {
		if d.Kind != manifest.KindFlag && d.Kind != manifest.KindSegment {
			return nil, nil, usagef("%s: put takes Flag and Segment documents, not %s (use apply)", d.Where(), d.Kind)
		}
	}
	return docs, out, nil
}

func (a *app) flagsPutCommand() *cobra.Command {
	var file string
	var dryRun bool
	cmd := &cobra.Command{
		Use:   "put -f FILE",
		Short: "Create or update flags (and segments) from a file",
		Long: `Put writes every Flag (and Segment) document of FILE (YAML or JSON; "-" reads
stdin) in one transaction, as "flagops apply" does. A document without kind
is a Flag. Re-putting an unchanged flag uses no revision.`,
		Example: `  flagops flags put -f replicas.yaml
  flagops flags get replicas --project shop -o yaml | sed s/free/pro/ | flagops flags put -f -`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if file == "" {
				return usagef("put needs -f FILE")
			}
			docs, content, err := a.readFlagDocs(file)
			if err != nil {
				return err
			}
			res, err := a.callApply(cmd.Context(), &flagopsv1.ApplyRequest{Workspace: a.workspace, DryRun: dryRun,
				Manifests: []*flagopsv1.Manifest{{Source: file, Content: string(content)}}}, len(docs))
			if err != nil {
				return err
			}
			for _, r := range res.GetResults() {
				fmt.Fprintln(a.stdout, resultLine(r, dryRun))
			}
			return nil
		},
	}
	cmd.Flags().StringVarP(&file, "filename", "f", "", "file of Flag documents (- for stdin)")
	cmd.Flags().BoolVar(&dryRun, "dry-run", false, "show what would change without changing it")
	return cmd
}

func (a *app) flagsDeleteCommand() *cobra.Command {
	var project string
	var force bool
	cmd := &cobra.Command{
		Use:   "delete KEY --project P",
		Short: "Delete a flag",
		Long: `Delete refuses while other flags require the flag as a prerequisite; --force
removes those prerequisites in the same revision.`,
		Example: `  flagops flags delete old-checkout --project shop`,
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			_, err := a.clients().flags.DeleteFlag(cmd.Context(), connect.NewRequest(&flagopsv1.DeleteFlagRequest{
				Workspace: a.workspace, Project: project, Key: args[0], Force: force}))
			if err != nil {
				return fmt.Errorf("delete flag %s/%s: %w", project, args[0], err)
			}
			fmt.Fprintf(a.stdout, "flag/%s/%s deleted\n", project, args[0])
			return nil
		},
	}
	projectFlag(cmd, &project)
	cmd.Flags().BoolVar(&force, "force", false, "also remove the flag from other flags' prerequisites")
	return cmd
}

// flagsToggleCommand is enable or disable: it reads the flag, flips one
// environment and writes it back at the revision it read, so a concurrent
// edit is not overwritten.
func (a *app) flagsToggleCommand(on bool) *cobra.Command {
	var project, env string
	verb := map[bool]string{true: "enable", false: "disable"}[on]
	cmd := &cobra.Command{
		Use:   verb + " KEY --project P --env E",
		Short: strings.ToUpper(verb[:1]) + verb[1:] + " a flag in one environment",
		Long: `Enable and disable flip one environment's enabled switch. The flag is read and
written back at the revision read, so a concurrent edit fails with a conflict
instead of being overwritten; an environment without targeting gets the
default targeting first.`,
		Example: fmt.Sprintf("  flagops flags %s new-checkout --project shop --env prod", verb),
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c := a.clients()
			res, err := c.flags.GetFlag(cmd.Context(), connect.NewRequest(&flagopsv1.GetFlagRequest{Workspace: a.workspace, Project: project, Key: args[0]}))
			if err != nil {
				return fmt.Errorf("get flag %s/%s: %w", project, args[0], err)
			}
			f, err := flagFromProto(res.Msg.GetFlag())
			if err != nil {
				return err
			}
			t, ok := f.Environments[env]
			if !ok {
				t = f.DefaultTargeting()
			}
			t.Enabled = on
			if f.Environments == nil {
				f.Environments = map[string]flag.Targeting{}
			}
			f.Environments[env] = t
			m, err := flagToProto(f)
			if err != nil {
				return err
			}
			rev := f.Revision
			put, err := c.flags.PutFlag(cmd.Context(), connect.NewRequest(&flagopsv1.PutFlagRequest{Workspace: a.workspace, Flag: m, ExpectedRevision: &rev}))
			if err != nil {
				return fmt.Errorf("%s flag %s/%s in %s: %w", verb, project, args[0], env, err)
			}
			fmt.Fprintf(a.stdout, "flag/%s/%s %sd in %s (%s, revision %d)\n", project, args[0], verb, env,
				opResult(put.Msg.GetOperation()), put.Msg.GetFlag().GetRevision())
			return nil
		},
	}
	projectFlag(cmd, &project)
	cmd.Flags().StringVar(&env, "env", "", "the environment (required)")
	_ = cmd.MarkFlagRequired("env")
	return cmd
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

func (a *app) segmentsCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "segments",
		Short: "Manage segments (reusable sets of contexts flag rules refer to)",
		Long: `Segments are per project. Write them with "flags put -f" or "apply -f"
(kind: Segment).`,
		Example: `  flagops segments list --project shop
  flagops segments get beta-users --project shop -o yaml`,
		Args: cobra.NoArgs,
	}
	a.addClientFlags(cmd)
	var output, project string
	list := &cobra.Command{
		Use: "list --project P", Short: "List the segments of a project", Args: cobra.NoArgs,
		Long:    `List shows every segment of the project with the sizes of its lists.`,
		Example: `  flagops segments list --project shop`,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := checkFormat(output); err != nil {
				return err
			}
			var out []flag.Segment
			for tok := ""; ; {
				res, err := a.clients().flags.ListSegments(cmd.Context(), connect.NewRequest(&flagopsv1.ListSegmentsRequest{
					Workspace: a.workspace, Project: project, PageSize: listPageSize, PageToken: tok}))
				if err != nil {
					return fmt.Errorf("list segments of %s: %w", project, err)
				}
				for _, m := range res.Msg.GetSegments() {
					s, err := segmentFromProto(m)
					if err != nil {
						return err
					}
					out = append(out, s)
				}
				if tok = res.Msg.GetNextPageToken(); tok == "" {
					break
				}
			}
			if out == nil {
				out = []flag.Segment{}
			}
			docs, err := encodeManifests(a.workspace, out)
			if err != nil {
				return err
			}
			return printValue(a.stdout, output, manifests{docs: docs}, func() *table { return segmentsTable(out) })
		},
	}
	addOutputFlag(list, &output)
	projectFlag(list, &project)
	get := &cobra.Command{
		Use: "get KEY --project P", Short: "Show one segment", Args: cobra.ExactArgs(1),
		Long:    `Get shows one segment; -o yaml prints a document "flags put -f" accepts.`,
		Example: `  flagops segments get beta-users --project shop -o yaml`,
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := checkFormat(output); err != nil {
				return err
			}
			res, err := a.clients().flags.GetSegment(cmd.Context(), connect.NewRequest(&flagopsv1.GetSegmentRequest{
				Workspace: a.workspace, Project: project, Key: args[0]}))
			if err != nil {
				return fmt.Errorf("get segment %s/%s: %w", project, args[0], err)
			}
			s, err := segmentFromProto(res.Msg.GetSegment())
			if err != nil {
				return err
			}
			docs, err := encodeManifests(a.workspace, []flag.Segment{s})
			if err != nil {
				return err
			}
			return printValue(a.stdout, output, manifests{docs: docs, single: true}, func() *table { return segmentsTable([]flag.Segment{s}) })
		},
	}
	addOutputFlag(get, &output)
	projectFlag(get, &project)
	var force bool
	del := &cobra.Command{
		Use: "delete KEY --project P", Short: "Delete a segment", Args: cobra.ExactArgs(1),
		Long:    `Delete refuses while flag rules use the segment; --force removes those rules in the same revision.`,
		Example: `  flagops segments delete beta-users --project shop --force`,
		RunE: func(cmd *cobra.Command, args []string) error {
			_, err := a.clients().flags.DeleteSegment(cmd.Context(), connect.NewRequest(&flagopsv1.DeleteSegmentRequest{
				Workspace: a.workspace, Project: project, Key: args[0], Force: force}))
			if err != nil {
				return fmt.Errorf("delete segment %s/%s: %w", project, args[0], err)
			}
			fmt.Fprintf(a.stdout, "segment/%s/%s deleted\n", project, args[0])
			return nil
		},
	}
	projectFlag(del, &project)
	del.Flags().BoolVar(&force, "force", false, "also remove the flag rules that use the segment")
	cmd.AddCommand(list, get, del)
	return cmd
}

func segmentsTable(segs []flag.Segment) *table {
	t := &table{header: []string{"KEY", "INCLUDE", "EXCLUDE", "RULES", "REVISION"}}
	sort.Slice(segs, func(i, j int) bool { return segs[i].Key < segs[j].Key })
	for _, s := range segs {
		t.add(s.Key, strconv.Itoa(len(s.Include)), strconv.Itoa(len(s.Exclude)), strconv.Itoa(len(s.Rules)), strconv.FormatInt(s.Revision, 10))
	}
	return t
}
