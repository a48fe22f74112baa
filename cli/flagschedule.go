package cli

import (
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"time"

	"connectrpc.com/connect"
	"github.com/spf13/cobra"
	"google.golang.org/protobuf/types/known/structpb"
	"google.golang.org/protobuf/types/known/timestamppb"

	flagopsv1 "github.com/flagops/flagops/gen/flagops/v1"
)

func (a *app) flagsScheduleCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "schedule",
		Short: "Schedule flag changes and progressive rollouts",
		Long: `A scheduled change sets or patches a flag's targeting in one environment at a
time; a progressive rollout raises one variation's weight in steps. The
server applies every step once, when due, as an ordinary change of the flag.`,
		Example: `  flagops flags schedule change new-checkout --project shop --env prod --at 2030-01-01T09:00:00Z --enable
  flagops flags schedule rollout new-checkout --project shop --env prod --variation on \
      --step 2030-01-01T09:00:00Z=10 --step 2030-01-02T09:00:00Z=50 --step 2030-01-03T09:00:00Z=100
  flagops flags schedule list --project shop
  flagops flags schedule cancel new-checkout-42 --project shop`,
		Args: cobra.NoArgs,
	}
	cmd.AddCommand(a.scheduleChangeCommand(), a.scheduleRolloutCommand(), a.scheduleListCommand(), a.scheduleCancelCommand())
	return cmd
}

func parseTime(field, s string) (time.Time, error) {
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		return time.Time{}, usagef("%s %q: want an RFC 3339 time such as 2030-01-01T09:00:00Z", field, s)
	}
	return t, nil
}

func (a *app) scheduleChangeCommand() *cobra.Command {
	var project, env, at, patch, id string
	var enable, disable bool
	cmd := &cobra.Command{
		Use:   "change FLAG --project P --env E --at TIME (--enable | --disable | --patch JSON)",
		Short: "Schedule a change of a flag's targeting",
		Long: `--patch is a TargetingPatch: the targeting fields to set, e.g.
'{"fallthrough":{"variation":"on"}}' or '{"enabled":true,"rules":[]}'.`,
		Example: `  flagops flags schedule change new-checkout --project shop --env prod --at 2030-01-01T09:00:00Z --enable
  flagops flags schedule change replicas --project shop --env prod --at 2030-01-01T09:00:00Z --patch '{"fallthrough":{"variation":"pro"}}'`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			when, err := parseTime("--at", at)
			if err != nil {
				return err
			}
			p := map[string]any{}
			if patch != "" {
				if err := json.Unmarshal([]byte(patch), &p); err != nil {
					return usagef("--patch: not a JSON object: %v", err)
				}
			}
			if enable == disable && patch == "" {
				return usagef("give one of --enable, --disable or --patch")
			}
			if enable || disable {
				p["enabled"] = enable
			}
			ps, err := structpb.NewStruct(p)
			if err != nil {
				return usagef("--patch: %v", err)
			}
			return a.createSchedule(cmd, &flagopsv1.CreateScheduleRequest{Workspace: a.workspace, Id: id, Change: &flagopsv1.ScheduledChange{
				Project: project, Flag: args[0], Environment: env, At: timestamppb.New(when), Patch: ps}})
		},
	}
	scheduleFlags(cmd, &project, &env, &id)
	cmd.Flags().StringVar(&at, "at", "", "when, RFC 3339 (required)")
	cmd.Flags().BoolVar(&enable, "enable", false, "enable the flag")
	cmd.Flags().BoolVar(&disable, "disable", false, "disable the flag")
	cmd.Flags().StringVar(&patch, "patch", "", "targeting fields to set, as JSON")
	return cmd
}

func scheduleFlags(cmd *cobra.Command, project, env, id *string) {
	projectFlag(cmd, project)
	cmd.Flags().StringVar(env, "env", "", "the environment (required)")
	_ = cmd.MarkFlagRequired("env")
	cmd.Flags().StringVar(id, "id", "", "the schedule's id (generated when empty)")
}

func (a *app) scheduleRolloutCommand() *cobra.Command {
	var project, env, variation, id string
	var steps []string
	rule := -1
	cmd := &cobra.Command{
		Use:   "rollout FLAG --project P --env E --variation V --step TIME=PERCENT…",
		Short: "Schedule a progressive rollout of a variation",
		Long: `At each step's time, the variation's weight in the rollout of the fallthrough
(or of rule --rule N) becomes PERCENT (0-100, decimals allowed); the other
variations share the rest in proportion to their current weights.`,
		Example: `  flagops flags schedule rollout new-checkout --project shop --env prod --variation on \
      --step 2030-01-01T09:00:00Z=10 --step 2030-01-02T09:00:00Z=50 --step 2030-01-03T09:00:00Z=100`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if len(steps) == 0 {
				return usagef("give at least one --step TIME=PERCENT")
			}
			r := &flagopsv1.ProgressiveRollout{Project: project, Flag: args[0], Environment: env, Variation: variation}
			if rule >= 0 {
				n := int32(rule)
				r.Rule = &n
			}
			for _, s := range steps {
				at, pct, ok := strings.Cut(s, "=")
				if !ok {
					return usagef("--step %q: want TIME=PERCENT", s)
				}
				when, err := parseTime("--step", at)
				if err != nil {
					return err
				}
				p, err := strconv.ParseFloat(strings.TrimSuffix(pct, "%"), 64)
				if err != nil || p < 0 || p > 100 {
					return usagef("--step %q: percent must be 0..100", s)
				}
				r.Steps = append(r.Steps, &flagopsv1.RolloutStep{At: timestamppb.New(when), Weight: int32(p*1000 + 0.5)})
			}
			return a.createSchedule(cmd, &flagopsv1.CreateScheduleRequest{Workspace: a.workspace, Id: id, Rollout: r})
		},
	}
	scheduleFlags(cmd, &project, &env, &id)
	cmd.Flags().StringVar(&variation, "variation", "", "the variation rolled out (required)")
	_ = cmd.MarkFlagRequired("variation")
	cmd.Flags().StringArrayVar(&steps, "step", nil, "TIME=PERCENT, repeatable, in time order")
	cmd.Flags().IntVar(&rule, "rule", -1, "index of the rule whose rollout changes (default: the fallthrough)")
	return cmd
}

func (a *app) createSchedule(cmd *cobra.Command, req *flagopsv1.CreateScheduleRequest) error {
	res, err := a.clients().flags.CreateSchedule(cmd.Context(), connect.NewRequest(req))
	if err != nil {
		return fmt.Errorf("create schedule: %w", err)
	}
	s := res.Msg.GetSchedule()
	fmt.Fprintf(a.stdout, "schedule %s of flag/%s/%s created (%d %s) at revision %d\n", s.GetId(), s.GetProject(), s.GetFlag(),
		len(s.GetSteps()), plural(len(s.GetSteps()), "step", "steps"), s.GetRevision())
	return nil
}

func schedulesTable(list []*flagopsv1.Schedule) *table {
	t := &table{header: []string{"ID", "FLAG", "KIND", "ENV", "STATE", "NEXT", "STEPS"}}
	for _, s := range list {
		kind, env := "change", s.GetChange().GetEnvironment()
		if s.GetRollout() != nil {
			kind, env = "rollout", s.GetRollout().GetEnvironment()
		}
		next, done := "-", 0
		for _, st := range s.GetSteps() {
			if st.GetState() == "pending" && next == "-" {
				next = st.GetAt().AsTime().Format(time.RFC3339)
			}
			if st.GetState() == "done" {
				done++
			}
		}
		t.add(s.GetId(), s.GetFlag(), kind, env, s.GetState(), next, fmt.Sprintf("%d/%d", done, len(s.GetSteps())))
	}
	return t
}

func (a *app) scheduleListCommand() *cobra.Command {
	var output, project string
	cmd := &cobra.Command{
		Use:   "list [FLAG] --project P",
		Short: "List the schedules of a project (or of one flag)",
		Long: `List shows each schedule's state (pending, done, failed, cancelled), its next
pending step and how many steps ran.`,
		Example: `  flagops flags schedule list --project shop
  flagops flags schedule list new-checkout --project shop -o json`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := checkFormat(output); err != nil {
				return err
			}
			fl := ""
			if len(args) == 1 {
				fl = args[0]
			}
			var all []*flagopsv1.Schedule
			for tok := ""; ; {
				res, err := a.clients().flags.ListSchedules(cmd.Context(), connect.NewRequest(&flagopsv1.ListSchedulesRequest{
					Workspace: a.workspace, Project: project, Flag: fl, PageSize: listPageSize, PageToken: tok}))
				if err != nil {
					return fmt.Errorf("list schedules of %s: %w", project, err)
				}
				all = append(all, res.Msg.GetSchedules()...)
				if tok = res.Msg.GetNextPageToken(); tok == "" {
					break
				}
			}
			return printValue(a.stdout, output, &flagopsv1.ListSchedulesResponse{Schedules: all}, func() *table { return schedulesTable(all) })
		},
	}
	addOutputFlag(cmd, &output)
	projectFlag(cmd, &project)
	return cmd
}

func (a *app) scheduleCancelCommand() *cobra.Command {
	var project string
	cmd := &cobra.Command{
		Use:     "cancel ID --project P",
		Short:   "Cancel a pending schedule",
		Long:    `Cancel stops a pending schedule: its pending steps never run. Steps already applied stay applied.`,
		Example: `  flagops flags schedule cancel new-checkout-42 --project shop`,
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			res, err := a.clients().flags.CancelSchedule(cmd.Context(), connect.NewRequest(&flagopsv1.CancelScheduleRequest{
				Workspace: a.workspace, Project: project, Id: args[0]}))
			if err != nil {
				return fmt.Errorf("cancel schedule %s: %w", args[0], err)
			}
			fmt.Fprintf(a.stdout, "schedule %s %s at revision %d\n", args[0], res.Msg.GetSchedule().GetState(), res.Msg.GetSchedule().GetRevision())
			return nil
		},
	}
	projectFlag(cmd, &project)
	return cmd
}
