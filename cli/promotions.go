package cli

import (
	"fmt"
	"strconv"
	"strings"

	"connectrpc.com/connect"
	"github.com/spf13/cobra"

	flagopsv1 "github.com/flagops/flagops/gen/flagops/v1"
	"github.com/flagops/flagops/internal/domain"
)

func (a *app) promoteCommand() *cobra.Command {
	var output string
	cmd := &cobra.Command{
		Use:   "promote PROJECT FROM_ENV TO_ENV",
		Short: "Copy an environment's desired version to the next environment",
		Long: `Promote sets TO_ENV's version to FROM_ENV's desired version now, and records
a promotion. A stop-the-line, or a freeze window of a promotion policy into
TO_ENV, refuses it: the refusal is recorded with its reason and the command
exits with an error.`,
		Example: `  flagops promote shop staging prod`,
		Args:    exactArgs(3),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := checkFormat(output); err != nil {
				return err
			}
			res, err := a.clients().promotions.Promote(cmd.Context(), connect.NewRequest(&flagopsv1.PromoteRequest{
				Workspace: a.workspace, Project: args[0], From: args[1], To: args[2]}))
			if err != nil {
				return fmt.Errorf("promote: %w", err)
			}
			p := promotionFromProto(res.Msg.GetPromotion())
			if err := printValue(a.stdout, output, p, func() *table { return promotionTable([]domain.Promotion{p}) }); err != nil {
				return err
			}
			if p.State == domain.PromotionRefused {
				return fmt.Errorf("promotion %d refused: %s", p.ID, p.Reason)
			}
			return nil
		},
	}
	a.addClientFlags(cmd)
	addOutputFlag(cmd, &output)
	return cmd
}

func promotionTable(ps []domain.Promotion) *table {
	t := &table{header: []string{"ID", "PROJECT", "FROM", "TO", "VERSION", "TRIGGER", "STATE", "REVISIONS", "REASON"}}
	for _, p := range ps {
		var revs []string
		for _, r := range p.Revisions {
			revs = append(revs, strconv.FormatInt(r, 10))
		}
		t.add(strconv.FormatInt(p.ID, 10), p.Project, p.From, p.To, p.Version, p.Trigger, p.State, joinOrDash(revs), orDash(p.Reason))
	}
	return t
}

func (a *app) promotionsCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "promotions",
		Short: "List, approve and hold promotions",
		Long: `Promotions are the records of every promotion, manual or automatic, with
their state (pending, waiting-approval, running, done, refused) and the
revisions they caused. Pause and resume hold automatic promotion into one
environment; stop-the-line halts every promotion of a project or workspace.
Policies are written with "flagops apply -f" (kind PromotionPolicy).`,
		Example: `  flagops promotions list --project shop
  flagops promotions approve 42 --comment "checked the dashboards"
  flagops promotions stop-the-line --project shop --reason "incident 123"`,
	}
	for _, c := range []*cobra.Command{a.promotionsListCommand(), a.promotionsJudgeCommand(true), a.promotionsJudgeCommand(false),
		a.promotionsHoldCommand(true), a.promotionsHoldCommand(false), a.stopTheLineCommand(), a.promotionPoliciesCommand()} {
		a.addClientFlags(c)
		cmd.AddCommand(c)
	}
	return cmd
}

func (a *app) promotionsListCommand() *cobra.Command {
	var output, project, to string
	var states []string
	cmd := &cobra.Command{
		Use: "list",
		Long: `List shows promotions with their trigger (manual, auto, schedule), state,
the revisions they caused and, for refused or waiting ones, the reason.`,
		Short: "List promotions, newest first",
		Example: `  flagops promotions list --project shop
  flagops promotions list --state waiting-approval -o json`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := checkFormat(output); err != nil {
				return err
			}
			res, err := a.clients().promotions.ListPromotions(cmd.Context(), connect.NewRequest(&flagopsv1.ListPromotionsRequest{
				Workspace: a.workspace, Project: project, To: to, States: states, PageSize: 1000}))
			if err != nil {
				return fmt.Errorf("list promotions: %w", err)
			}
			ps := []domain.Promotion{}
			for _, p := range res.Msg.GetPromotions() {
				ps = append(ps, promotionFromProto(p))
			}
			return printValue(a.stdout, output, ps, func() *table { return promotionTable(ps) })
		},
	}
	addOutputFlag(cmd, &output)
	cmd.Flags().StringVar(&project, "project", "", "only this project")
	cmd.Flags().StringVar(&to, "to", "", "only promotions into this environment")
	cmd.Flags().StringSliceVar(&states, "state", nil, "only these states (pending, waiting-approval, running, done, refused)")
	return cmd
}

func (a *app) promotionsJudgeCommand(approve bool) *cobra.Command {
	var comment string
	verb, example := "reject", `  flagops promotions reject 42 --comment "wait for the load test"`
	if approve {
		verb, example = "approve", `  flagops promotions approve 42 --comment "dashboards are green"`
	}
	cmd := &cobra.Command{
		Use: verb + " ID",
		Long: `Approve lets a promotion that waits for a person run: now, or once a
stop-the-line is lifted and the policy's windows allow. Reject refuses it for
good; the comment is recorded as the reason. Either way the decision and its
author are recorded in the change log.`,
		Short:   strings.ToUpper(verb[:1]) + verb[1:] + " a promotion waiting for approval",
		Example: example,
		Args:    exactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			id, err := strconv.ParseInt(args[0], 10, 64)
			if err != nil {
				return usagef("ID %q is not a number", args[0])
			}
			c := a.clients().promotions
			var p *flagopsv1.Promotion
			if approve {
				res, err := c.ApprovePromotion(cmd.Context(), connect.NewRequest(&flagopsv1.ApprovePromotionRequest{Workspace: a.workspace, Id: id, Comment: comment}))
				if err != nil {
					return fmt.Errorf("approve: %w", err)
				}
				p = res.Msg.GetPromotion()
			} else {
				res, err := c.RejectPromotion(cmd.Context(), connect.NewRequest(&flagopsv1.RejectPromotionRequest{Workspace: a.workspace, Id: id, Comment: comment}))
				if err != nil {
					return fmt.Errorf("reject: %w", err)
				}
				p = res.Msg.GetPromotion()
			}
			fmt.Fprintf(a.stdout, "promotion %d of %s %s → %s: %s (%s)\n", p.GetId(), p.GetVersion(), p.GetFrom(), p.GetTo(), p.GetState(), p.GetReason())
			return nil
		},
	}
	cmd.Flags().StringVar(&comment, "comment", "", "recorded with the decision")
	return cmd
}

func (a *app) promotionsHoldCommand(pause bool) *cobra.Command {
	var reason string
	verb, short := "resume", "Resume automatic promotion into an environment"
	if pause {
		verb, short = "pause", "Pause automatic promotion into an environment"
	}
	cmd := &cobra.Command{
		Use: verb + " PROJECT ENVIRONMENT",
		Long: `Pause holds automatic promotion into one environment of a project; a
person's "flagops version set" or "rollback" pauses it the same way, so that
automation never overrides a person. Resume lets the policies run again.
Manual "flagops promote" is not held by a pause.`,
		Short:   short,
		Example: "  flagops promotions " + verb + " shop prod",
		Args:    exactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			res, err := a.clients().promotions.SetHold(cmd.Context(), connect.NewRequest(&flagopsv1.SetHoldRequest{
				Hold: &flagopsv1.Hold{Workspace: a.workspace, Project: args[0], Environment: args[1], Reason: reason}, On: pause}))
			if err != nil {
				return fmt.Errorf("%s: %w", verb, err)
			}
			fmt.Fprintf(a.stdout, "%s@%s: %sd (revision %d)\n", args[0], args[1], verb, res.Msg.GetRevision())
			return nil
		},
	}
	if pause {
		cmd.Flags().StringVar(&reason, "reason", "", "why, shown to whoever resumes")
	}
	return cmd
}

func (a *app) stopTheLineCommand() *cobra.Command {
	var project, reason string
	var off bool
	cmd := &cobra.Command{
		Use: "stop-the-line",
		Long: `Stop-the-line halts every promotion, automatic and manual, of one project
(--project) or of the whole workspace at once, until it is lifted with --off.
Approved promotions wait as pending and run when the line restarts.`,
		Short: "Halt every promotion of a project or of the workspace at once",
		Example: `  flagops promotions stop-the-line --project shop --reason "incident 123"
  flagops promotions stop-the-line --project shop --off`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			res, err := a.clients().promotions.SetHold(cmd.Context(), connect.NewRequest(&flagopsv1.SetHoldRequest{
				Hold: &flagopsv1.Hold{Workspace: a.workspace, Project: project, Reason: reason}, On: !off}))
			if err != nil {
				return fmt.Errorf("stop the line: %w", err)
			}
			what := "workspace " + a.workspace
			if project != "" {
				what = "project " + project
			}
			state := "stopped"
			if off {
				state = "running again"
			}
			fmt.Fprintf(a.stdout, "promotions of %s %s (revision %d)\n", what, state, res.Msg.GetRevision())
			return nil
		},
	}
	cmd.Flags().StringVar(&project, "project", "", "only this project (default: the whole workspace)")
	cmd.Flags().StringVar(&reason, "reason", "", "why")
	cmd.Flags().BoolVar(&off, "off", false, "lift the stop")
	return cmd
}

func (a *app) promotionPoliciesCommand() *cobra.Command {
	var output, project string
	cmd := &cobra.Command{
		Use: "policies",
		Long: `Policies lists the promotion policies: the pair of environments, soak time,
cron schedule, whether a person must approve, and the number of allowed and
freeze windows. Write them with "flagops apply -f" (kind PromotionPolicy).`,
		Short:   "List promotion policies",
		Example: `  flagops promotions policies --project shop -o yaml`,
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := checkFormat(output); err != nil {
				return err
			}
			res, err := a.clients().promotions.ListPromotionPolicies(cmd.Context(), connect.NewRequest(&flagopsv1.ListPromotionPoliciesRequest{Workspace: a.workspace, Project: project}))
			if err != nil {
				return fmt.Errorf("list policies: %w", err)
			}
			ps := []domain.PromotionPolicy{}
			for _, p := range res.Msg.GetPolicies() {
				ps = append(ps, policyFromProto(p))
			}
			return printValue(a.stdout, output, ps, func() *table {
				t := &table{header: []string{"PROJECT", "FROM", "TO", "SOAK", "SCHEDULE", "APPROVAL", "WINDOWS", "FREEZES"}}
				for _, p := range ps {
					t.add(p.Project, p.From, p.To, p.Soak.String(), orDash(p.Schedule), strconv.FormatBool(p.RequireApproval),
						strconv.Itoa(len(p.AllowedWindows)), strconv.Itoa(len(p.FreezeWindows)))
				}
				return t
			})
		},
	}
	addOutputFlag(cmd, &output)
	cmd.Flags().StringVar(&project, "project", "", "only this project")
	return cmd
}
