package cli

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"connectrpc.com/connect"
	"github.com/spf13/cobra"

	flagopsv1 "github.com/flagops/flagops/gen/flagops/v1"
)

func (a *app) watchCommand() *cobra.Command {
	var output string
	var from int64
	var kinds, prefixes []string
	cmd := &cobra.Command{
		Use:   "watch",
		Short: "Stream changes as they happen",
		Long: `Watch replays the change log after --from-revision (0: from the start of
the retained log), then follows live changes until interrupted (Ctrl-C).
It writes one line per change: a table row, or with -o json one JSON object
per line, ready for jq or a log shipper. Resume with the last revision seen.
--kind and --prefix may be repeated (or comma-separated); a change passes
when it has one of the kinds and its key starts with one of the prefixes.`,
		Example: `  flagops watch
  flagops watch --from-revision 120 --kind fact --prefix deployment/shop@ -o json`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := checkFormat(output, formatTable, formatJSON); err != nil {
				return err
			}
			filter := &flagopsv1.WatchFilter{Kinds: kinds, KeyPrefixes: prefixes}
			if cmd.Flags().Changed("workspace") {
				filter.Workspace = a.workspace
			}
			err := a.watch(cmd.Context(), &flagopsv1.WatchRequest{FromRevision: from, Filter: filter}, output)
			if cmd.Context().Err() != nil {
				// Interrupted: that is how a watch ends.
				return nil
			}
			return err
		},
	}
	a.addClientFlags(cmd)
	addOutputFlag(cmd, &output, formatTable, formatJSON)
	cmd.Flags().Int64Var(&from, "from-revision", 0, "send changes after this revision")
	cmd.Flags().StringSliceVar(&kinds, "kind", nil, "only changes of these kinds (repeatable)")
	cmd.Flags().StringSliceVar(&prefixes, "prefix", nil, "only changes whose key starts with one of these (repeatable)")
	return cmd
}

func (a *app) watch(ctx context.Context, req *flagopsv1.WatchRequest, output string) error {
	stream, err := a.clients().changes.Watch(ctx, connect.NewRequest(req))
	if err != nil {
		return fmt.Errorf("watch: %w", err)
	}
	defer stream.Close()
	if output == formatTable {
		fmt.Fprintln(a.stdout, streamLine(changeHeader))
	}
	for stream.Receive() {
		for _, pc := range stream.Msg().GetChanges() {
			c := changeFromProto(pc)
			if output == formatJSON {
				line, err := json.Marshal(c)
				if err != nil {
					return fmt.Errorf("watch: encode change: %w", err)
				}
				fmt.Fprintf(a.stdout, "%s\n", line)
				continue
			}
			fmt.Fprintln(a.stdout, changeLine(c))
		}
	}
	if err := stream.Err(); err != nil {
		if connect.CodeOf(err) == connect.CodeOutOfRange {
			return fmt.Errorf("watch from revision %d: the log before it was compacted; start from a later revision: %w", req.GetFromRevision(), err)
		}
		return fmt.Errorf("watch: %w", err)
	}
	if ctx.Err() == nil {
		return errors.New("watch: the server ended the stream")
	}
	return nil
}
