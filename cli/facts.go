package cli

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"time"

	"connectrpc.com/connect"
	"github.com/spf13/cobra"
	"go.yaml.in/yaml/v3"
	"google.golang.org/protobuf/encoding/protojson"

	flagopsv1 "github.com/flagops/flagops/gen/flagops/v1"
	"github.com/flagops/flagops/internal/domain"
	"github.com/flagops/flagops/internal/errs"
)

func (a *app) factsCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "facts",
		Short: "Set, read and resolve facts",
		Long: `Facts are JSON values attached to a scope: workspace, environment/ENV,
target/TARGET, project/PROJECT, project/PROJECT@ENV or
deployment/PROJECT@TARGET. A deployment's facts are resolved by merging its
scopes from general to specific; the most specific value wins, and every
resolved value knows the scope it came from.`,
		Example: `  flagops facts set environment/prod region=eu maxReplicas=2
  flagops facts resolve --project shop --target eu-1 -o json`,
		Args: cobra.NoArgs,
	}
	a.addClientFlags(cmd)
	cmd.AddCommand(a.factsSetCommand(), a.factsUnsetCommand(), a.factsGetCommand(),
		a.factsResolveCommand(), a.factsHistoryCommand(), a.factsBulkSetCommand())
	return cmd
}

// parseFactValue reads the value of a key=value argument: JSON when it
// parses as JSON (3, true, {"a":1}, "quoted"), else the text as a string.
func parseFactValue(s string) json.RawMessage {
	if json.Valid([]byte(s)) {
		return json.RawMessage(compactJSON([]byte(s)))
	}
	raw, _ := json.Marshal(s) // a string always marshals
	return raw
}

// parseAssignments reads key=value arguments, checking keys and values the
// way the server will so that a typo fails before anything is sent.
func parseAssignments(args []string) (map[string]json.RawMessage, error) {
	out := make(map[string]json.RawMessage, len(args))
	for _, arg := range args {
		key, value, ok := strings.Cut(arg, "=")
		if !ok {
			return nil, usagef("%q: expected key=value", arg)
		}
		if err := domain.ValidateFactKey(key, key); err != nil {
			return nil, usageError{err}
		}
		if _, dup := out[key]; dup {
			return nil, usagef("%q is given twice", key)
		}
		v, err := domain.NormalizeFactValue(key, parseFactValue(value))
		if err != nil {
			return nil, usageError{err}
		}
		out[key] = v
	}
	return out, nil
}

func expectedFlag(cmd *cobra.Command, dst *int64) {
	cmd.Flags().Int64Var(dst, "expected-revision", 0, "fail unless the scope's facts revision is this one")
}

func expectedValue(cmd *cobra.Command, v int64) *int64 {
	if cmd.Flags().Changed("expected-revision") {
		return &v
	}
	return nil
}

func (a *app) factsSetCommand() *cobra.Command {
	var expected int64
	cmd := &cobra.Command{
		Use:   "set SCOPE KEY=VALUE…",
		Short: "Set facts of a scope",
		Long: `Set sets keys of one scope in one revision. A value is taken as JSON when it
parses as JSON, else as a string: tier=pro is "pro", replicas=3 is 3,
on=true is true, obj={"a":1} is an object and v='"3"' is the string "3".
Keys not named are left as they are.`,
		Example: `  flagops facts set environment/prod region=eu maxReplicas=2
  flagops facts set deployment/shop@eu-1 'limits={"cpu":"2"}' --expected-revision 41`,
		Args: cobra.MinimumNArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			values, err := parseAssignments(args[1:])
			if err != nil {
				return err
			}
			pv, err := valuesToProto(values)
			if err != nil {
				return err
			}
			res, err := a.clients().facts.SetFacts(cmd.Context(), connect.NewRequest(&flagopsv1.SetFactsRequest{
				Workspace: a.workspace, Scope: args[0], Values: pv, ExpectedRevision: expectedValue(cmd, expected)}))
			if err != nil {
				return fmt.Errorf("set facts of %s: %w", args[0], err)
			}
			fmt.Fprintf(a.stdout, "facts %s set (%d %s) at revision %d\n", args[0], len(values), plural(len(values), "key", "keys"), res.Msg.GetRevision())
			return nil
		},
	}
	expectedFlag(cmd, &expected)
	return cmd
}

func (a *app) factsUnsetCommand() *cobra.Command {
	var expected int64
	cmd := &cobra.Command{
		Use:     "unset SCOPE KEY…",
		Short:   "Remove facts from a scope",
		Long:    `Unset removes keys of one scope in one revision; keys that are not set are ignored.`,
		Example: `  flagops facts unset environment/prod region maxReplicas`,
		Args:    cobra.MinimumNArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			res, err := a.clients().facts.UnsetFacts(cmd.Context(), connect.NewRequest(&flagopsv1.UnsetFactsRequest{
				Workspace: a.workspace, Scope: args[0], Keys: args[1:], ExpectedRevision: expectedValue(cmd, expected)}))
			if err != nil {
				return fmt.Errorf("unset facts of %s: %w", args[0], err)
			}
			fmt.Fprintf(a.stdout, "facts %s unset (%d %s) at revision %d\n", args[0], len(args)-1, plural(len(args)-1, "key", "keys"), res.Msg.GetRevision())
			return nil
		},
	}
	expectedFlag(cmd, &expected)
	return cmd
}

// scopeFactsView is how facts get writes a scope in json and yaml.
type scopeFactsView struct {
	Scope    string                     `json:"scope"`
	Revision int64                      `json:"revision"`
	Facts    map[string]json.RawMessage `json:"facts"`
}

func (a *app) factsGetCommand() *cobra.Command {
	var output string
	cmd := &cobra.Command{
		Use:   "get SCOPE",
		Short: "Show the facts set on one scope",
		Long: `Get shows the facts set directly on one scope (not resolved: see facts
resolve) and the scope's facts revision, which --expected-revision of set and
unset compares with.`,
		Example: `  flagops facts get environment/prod
  flagops facts get deployment/shop@eu-1 -o json`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := checkFormat(output); err != nil {
				return err
			}
			res, err := a.clients().facts.GetFacts(cmd.Context(), connect.NewRequest(&flagopsv1.GetFactsRequest{Workspace: a.workspace, Scope: args[0]}))
			if err != nil {
				return fmt.Errorf("get facts of %s: %w", args[0], err)
			}
			view := scopeFactsView{Scope: args[0], Revision: res.Msg.GetRevision(), Facts: map[string]json.RawMessage{}}
			t := &table{header: []string{"KEY", "VALUE", "REVISION", "UPDATED"}}
			for _, f := range res.Msg.GetFacts() {
				v := valueJSON(f.GetValue())
				view.Facts[f.GetKey()] = v
				t.add(f.GetKey(), string(v), strconv.FormatInt(f.GetRevision(), 10), timestamp(timeFromProto(f.GetUpdateTime())))
			}
			return printValue(a.stdout, output, view, func() *table { return t })
		},
	}
	addOutputFlag(cmd, &output)
	return cmd
}

// resolvedView is exactly what facts resolve -o json writes.
type resolvedView struct {
	Facts    json.RawMessage   `json:"facts"`
	Sources  map[string]string `json:"sources"`
	Revision int64             `json:"revision"`
}

func (a *app) factsResolveCommand() *cobra.Command {
	var output, project, target string
	cmd := &cobra.Command{
		Use:   "resolve --project P --target T",
		Short: "Show the resolved facts of a deployment",
		Long: `Resolve merges the facts of a deployment (PROJECT on TARGET) from general to
specific: workspace, environment, target, project, project@environment,
deployment. The most specific value wins. The built-in facts workspace,
project, environment and target are always there.

-o json writes {"facts": {KEY: VALUE}, "sources": {KEY: SCOPE}, "revision": N};
the revision moves whenever the resolved facts may have changed.`,
		Example: `  flagops facts resolve --project shop --target eu-1
  flagops facts resolve --project shop --target eu-1 -o json | jq .facts`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := checkFormat(output); err != nil {
				return err
			}
			if project == "" || target == "" {
				return usagef("resolve needs --project and --target")
			}
			res, err := a.clients().facts.ResolveFacts(cmd.Context(), connect.NewRequest(&flagopsv1.ResolveFactsRequest{
				Workspace: a.workspace, Project: project, Target: target}))
			if err != nil {
				return fmt.Errorf("resolve facts of %s@%s: %w", project, target, err)
			}
			view, err := resolvedFromProto(res.Msg)
			if err != nil {
				return err
			}
			return printValue(a.stdout, output, view, func() *table { return resolvedTable(view) })
		},
	}
	addOutputFlag(cmd, &output)
	cmd.Flags().StringVar(&project, "project", "", "the deployment's project (required)")
	cmd.Flags().StringVar(&target, "target", "", "the deployment's target (required)")
	return cmd
}

func resolvedFromProto(m *flagopsv1.ResolveFactsResponse) (resolvedView, error) {
	facts := json.RawMessage("{}")
	if m.GetFacts() != nil {
		raw, err := protojson.Marshal(m.GetFacts())
		if err != nil {
			return resolvedView{}, fmt.Errorf("read resolved facts: %w", err)
		}
		facts = json.RawMessage(compactJSON(raw))
	}
	sources := m.GetSources()
	if sources == nil {
		sources = map[string]string{}
	}
	return resolvedView{Facts: facts, Sources: sources, Revision: m.GetRevision()}, nil
}

func resolvedTable(v resolvedView) *table {
	t := &table{header: []string{"KEY", "VALUE", "SOURCE"}}
	var values map[string]json.RawMessage
	_ = json.Unmarshal(v.Facts, &values) // facts is always an object
	for _, k := range sortedKeys(values) {
		t.add(k, compactJSON(values[k]), orDash(v.Sources[k]))
	}
	return t
}

func (a *app) factsHistoryCommand() *cobra.Command {
	var output string
	cmd := &cobra.Command{
		Use:   "history SCOPE KEY",
		Short: "Show every change of one fact",
		Long:  `History lists the changes of one key of one scope, oldest first, following pages to the end.`,
		Example: `  flagops facts history environment/prod region
  flagops facts history deployment/shop@eu-1 tier -o json`,
		Args: cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := checkFormat(output); err != nil {
				return err
			}
			fc := a.clients().facts
			var changes []domain.Change
			for token := ""; ; {
				res, err := fc.FactHistory(cmd.Context(), connect.NewRequest(&flagopsv1.FactHistoryRequest{
					Workspace: a.workspace, Scope: args[0], Key: args[1], PageSize: listPageSize, PageToken: token}))
				if err != nil {
					return fmt.Errorf("history of %s %s: %w", args[0], args[1], err)
				}
				for _, c := range res.Msg.GetChanges() {
					changes = append(changes, changeFromProto(c))
				}
				next := res.Msg.GetNextPageToken()
				if next == "" || next == token {
					break
				}
				token = next
			}
			if changes == nil {
				changes = []domain.Change{}
			}
			return printValue(a.stdout, output, changes, func() *table {
				t := &table{header: []string{"REV", "TIME", "ACTOR", "OP", "VALUE"}}
				for _, c := range changes {
					v := "-"
					if len(c.After) > 0 {
						v = factValueOf(c.After)
					}
					t.add(strconv.FormatInt(c.Revision, 10), timestamp(c.Time), orDash(c.Actor), string(c.Op), v)
				}
				return t
			})
		},
	}
	addOutputFlag(cmd, &output)
	return cmd
}

// factValueOf returns the value a fact change record holds: the "value"
// field when the record is a fact object, else the record itself.
func factValueOf(after json.RawMessage) string {
	var obj map[string]json.RawMessage
	if json.Unmarshal(after, &obj) == nil {
		if v, ok := obj["value"]; ok {
			return compactJSON(v)
		}
	}
	return compactJSON(after)
}

// bulkProgressMin is the number of entries from which bulk-set reports its
// progress on stderr; smaller files are done before anyone would look. It is
// a variable so that tests can see the progress of a small file.
var bulkProgressMin = 1000

func (a *app) factsBulkSetCommand() *cobra.Command {
	var file string
	cmd := &cobra.Command{
		Use:   "bulk-set -f FILE",
		Short: "Set the facts of many scopes in one revision",
		Long: `Bulk-set reads a JSON or YAML list of {scope, values} entries and sets them
all in one transaction and one revision: all or nothing. - reads standard
input. For large files it reports its progress on standard error.`,
		Example: `  # facts.yaml
  - scope: environment/prod
    values: {region: eu}
  - scope: deployment/shop@eu-1
    values: {tier: pro}

  flagops facts bulk-set -f facts.yaml
  billing-export | flagops facts bulk-set -f -`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if file == "" {
				return usagef("bulk-set needs -f FILE (or - for standard input)")
			}
			start := time.Now()
			var data []byte
			var err error
			if file == "-" {
				data, err = io.ReadAll(a.stdin)
			} else {
				data, err = os.ReadFile(file)
			}
			if err != nil {
				return fmt.Errorf("read %s: %w", file, err)
			}
			entries, err := parseBulkFacts(data)
			if err != nil {
				return fmt.Errorf("%s: %w", file, err)
			}
			progress := func(format string, args ...any) {
				if len(entries) >= bulkProgressMin {
					fmt.Fprintf(a.stderr, format+"\n", args...)
				}
			}
			progress("parsing %d entries: done in %s", len(entries), time.Since(start).Round(time.Millisecond))
			req := &flagopsv1.BulkSetFactsRequest{Workspace: a.workspace}
			for i, e := range entries {
				values, err := valuesToProto(e.Values)
				if err != nil {
					return fmt.Errorf("%s: entries[%d]: %w", file, i, err)
				}
				req.Entries = append(req.Entries, &flagopsv1.FactsEntry{Scope: e.Scope.String(), Values: values})
			}
			progress("sending %d entries…", len(entries))
			res, err := a.clients().facts.BulkSetFacts(cmd.Context(), connect.NewRequest(req))
			if err != nil {
				return fmt.Errorf("bulk-set facts from %s: %w", file, err)
			}
			progress("done in %s", time.Since(start).Round(time.Millisecond))
			fmt.Fprintf(a.stdout, "facts of %d scopes set at revision %d\n", res.Msg.GetScopes(), res.Msg.GetRevision())
			return nil
		},
	}
	cmd.Flags().StringVarP(&file, "filename", "f", "", "JSON or YAML file with a list of {scope, values}, or - for stdin")
	return cmd
}

// parseBulkFacts reads a list of {scope, values}, as JSON (fast, for big
// exports) when it starts with '[', else as YAML, and validates every entry.
func parseBulkFacts(data []byte) ([]domain.FactsEntry, error) {
	type entry struct {
		Scope  string         `json:"scope" yaml:"scope"`
		Values map[string]any `json:"values" yaml:"values"`
	}
	var raw []entry
	if t := bytes.TrimSpace(data); len(t) > 0 && t[0] == '[' {
		dec := json.NewDecoder(bytes.NewReader(t))
		dec.UseNumber() // keep big integers exact
		dec.DisallowUnknownFields()
		if err := dec.Decode(&raw); err != nil {
			return nil, fmt.Errorf("%w: %w", errs.Invalid, err)
		}
	} else {
		dec := yaml.NewDecoder(bytes.NewReader(data))
		dec.KnownFields(true)
		if err := dec.Decode(&raw); err != nil && err != io.EOF {
			return nil, fmt.Errorf("%w: %w", errs.Invalid, err)
		}
	}
	out := make([]domain.FactsEntry, 0, len(raw))
	for i, e := range raw {
		prefix := "entries[" + strconv.Itoa(i) + "]"
		sc, err := domain.ParseScope(e.Scope)
		if err != nil {
			return nil, errs.Prefix(prefix, err)
		}
		fe := domain.FactsEntry{Scope: sc, Values: make(map[string]json.RawMessage, len(e.Values))}
		for k, v := range e.Values {
			if err := domain.ValidateFactKey("values."+k, k); err != nil {
				return nil, errs.Prefix(prefix, err)
			}
			b, err := json.Marshal(v)
			if err != nil {
				return nil, errs.Prefix(prefix, errs.Field("values."+k, "cannot be written as JSON: %v", err))
			}
			if fe.Values[k], err = domain.NormalizeFactValue("values."+k, b); err != nil {
				return nil, errs.Prefix(prefix, err)
			}
		}
		out = append(out, fe)
	}
	return out, nil
}
