package cli

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"connectrpc.com/connect"
	"github.com/spf13/cobra"
	"google.golang.org/protobuf/types/known/timestamppb"

	flagopsv1 "github.com/flagops/flagops/gen/flagops/v1"
	"github.com/flagops/flagops/internal/domain"
)

func (a *app) historyCommand() *cobra.Command {
	var output, kind, key, since, actor, project, env, target string
	var from, to int64
	cmd := &cobra.Command{
		Use:   "history",
		Short: "Show the change log as a timeline",
		Long: `History lists entries of the change log, oldest first, following pages to
the end: one line per change with its revision, time, actor, operation, kind
and key. Every filter is optional. --since takes an RFC 3339 time or a
duration back from now (30m, 1h, 72h). --from-revision is exclusive,
--to-revision inclusive. The workspace filters only when --workspace (or
FLAGOPS_WORKSPACE) is given.

--project, --environment and --target follow one deployment channel: the
versions, deployed versions, releases, promotions and policies of a project
(keys "PROJECT@ENVIRONMENT[/TARGET]", "PROJECT#VERSION"). --actor keeps the
changes one person or agent made.

-o json and -o yaml write every entry with its before and after values.`,
		Example: `  flagops history --since 1h
  flagops history --kind fact --key deployment/shop@eu-1:tier
  flagops history --from-revision 100 --to-revision 120 -o json
  flagops history --project shop --environment prod --since 72h
  flagops history --project shop --target eu-1 --actor alice`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := checkFormat(output); err != nil {
				return err
			}
			req := &flagopsv1.ListChangesRequest{Kind: kind, Key: key, FromRevision: from, ToRevision: to, PageSize: listPageSize, Actor: actor}
			keep, err := a.channelFilter(cmd, req, project, env, target)
			if err != nil {
				return err
			}
			if cmd.Flags().Changed("workspace") {
				req.Workspace = a.workspace
			}
			if since != "" {
				t, err := parseSince(since, a.now())
				if err != nil {
					return err
				}
				req.Since = timestamppb.New(t)
			}
			cc := a.clients().changes
			changes := []domain.Change{}
			for {
				res, err := cc.ListChanges(cmd.Context(), connect.NewRequest(req))
				if err != nil {
					return fmt.Errorf("list changes: %w", err)
				}
				for _, c := range res.Msg.GetChanges() {
					if keep(c.GetKey()) {
						changes = append(changes, changeFromProto(c))
					}
				}
				next := res.Msg.GetNextPageToken()
				if next == "" || next == req.PageToken {
					break
				}
				req.PageToken = next
			}
			return printValue(a.stdout, output, changes, func() *table { return changeTable(changes) })
		},
	}
	a.addClientFlags(cmd)
	addOutputFlag(cmd, &output)
	cmd.Flags().StringVar(&kind, "kind", "", "only changes of this kind (environment, target, project, fact…)")
	cmd.Flags().StringVar(&key, "key", "", "only changes of this key (an object name, or SCOPE:KEY for facts)")
	cmd.Flags().StringVar(&since, "since", "", "only changes from this time (RFC 3339) or this long ago (1h)")
	cmd.Flags().Int64Var(&from, "from-revision", 0, "only changes after this revision")
	cmd.Flags().Int64Var(&to, "to-revision", 0, "only changes up to this revision")
	cmd.Flags().StringVar(&actor, "actor", "", "only changes made by this actor")
	cmd.Flags().StringVar(&project, "project", "", "only the versions, releases and promotions of this project")
	cmd.Flags().StringVar(&env, "environment", "", "with --project: only this environment")
	cmd.Flags().StringVar(&target, "target", "", "with --project: only this target")
	return cmd
}

// channelFilter narrows req to a project's channel with a key prefix, and
// returns the exact check the prefix cannot make ("shop" is also a prefix of
// "shopping@prod"). A target's environment is looked up when not given.
func (a *app) channelFilter(cmd *cobra.Command, req *flagopsv1.ListChangesRequest, project, env, target string) (func(string) bool, error) {
	all := func(string) bool { return true }
	switch {
	case project == "" && (env != "" || target != ""):
		return nil, usagef("--environment and --target need --project")
	case project == "":
		return all, nil
	case req.Key != "":
		return nil, usagef("--key and --project select keys differently; give one of them")
	}
	if target != "" && env == "" {
		res, err := a.clients().catalog.GetTarget(cmd.Context(), connect.NewRequest(&flagopsv1.GetTargetRequest{Workspace: a.workspace, Name: target}))
		if err != nil {
			return nil, fmt.Errorf("look up target %s: %w", target, err)
		}
		env = res.Msg.GetTarget().GetEnvironment()
	}
	if env == "" {
		req.KeyPrefix = project
		return func(k string) bool { return strings.HasPrefix(k, project+"@") || strings.HasPrefix(k, project+"#") }, nil
	}
	ch := domain.VersionChangeKey(project, env, target)
	req.KeyPrefix = ch
	return func(k string) bool {
		rest, ok := strings.CutPrefix(k, ch)
		return ok && (rest == "" || rest[0] == '#' || (target == "" && rest[0] == '/'))
	}, nil
}

// parseSince reads an RFC 3339 time or a duration back from now.
func parseSince(s string, now time.Time) (time.Time, error) {
	if t, err := time.Parse(time.RFC3339, s); err == nil {
		return t, nil
	}
	d, err := time.ParseDuration(s)
	if err != nil || d < 0 {
		return time.Time{}, usagef("--since %q: want an RFC 3339 time (2026-01-02T15:04:05Z) or a duration (1h)", s)
	}
	return now.Add(-d), nil
}

var changeHeader = []string{"REV", "TIME", "ACTOR", "OP", "KIND", "KEY"}

func changeRow(c domain.Change) []string {
	key := c.Key
	if c.Workspace != "" && c.Workspace != domain.DefaultWorkspace {
		key = c.Workspace + "/" + key
	}
	return []string{strconv.FormatInt(c.Revision, 10), timestamp(c.Time), orDash(c.Actor), string(c.Op), c.Kind, key}
}

func changeTable(changes []domain.Change) *table {
	t := &table{header: changeHeader}
	for _, c := range changes {
		t.add(changeRow(c)...)
	}
	return t
}

// changeLine writes a change as one line for streaming, where rows cannot
// be aligned by a tabwriter that waits for the end.
func changeLine(c domain.Change) string {
	return streamLine(changeRow(c))
}

// streamLine pads the cells of a change row to fixed widths, wide enough for
// the actors and kinds flagops itself writes ("flagops-scheduler",
// "deployed-version"), so that a live stream stays aligned.
func streamLine(r []string) string {
	return fmt.Sprintf("%-6s %-20s %-18s %-6s %-16s %s", r[0], r[1], r[2], r[3], r[4], strings.Join(r[5:], " "))
}
