package cli

import (
	"fmt"
	"strconv"

	"connectrpc.com/connect"
	"github.com/spf13/cobra"

	flagopsv1 "github.com/flagops/flagops/gen/flagops/v1"
	"github.com/flagops/flagops/internal/domain"
)

// addVersionCommands adds set, unpin, get, report, rollback, history and
// policy under "flagops version".
func (a *app) addVersionCommands(parent *cobra.Command) {
	for _, cmd := range []*cobra.Command{a.versionSetCommand(), a.versionUnpinCommand(), a.versionGetCommand(), a.versionReportCommand(),
		a.versionRollbackCommand(), a.versionHistoryCommand(), a.versionPolicyCommand()} {
		a.addClientFlags(cmd)
		parent.AddCommand(cmd)
	}
}

func (a *app) versionSetCommand() *cobra.Command {
	var target, reason string
	cmd := &cobra.Command{
		Use:   "set PROJECT ENVIRONMENT VERSION",
		Short: "Set the desired version of a project in an environment, or pin a target",
		Long: `Set sets the version every target of the environment should run. With
--target it pins that target instead: the pin stays through later
environment-wide sets until "flagops version unpin".

A version set by a person pauses automatic promotion into the environment
until "flagops promotions resume". When the project requires releases
("flagops version policy"), the version must have one.`,
		Example: `  flagops version set shop prod 1.4.2 --reason "fix checkout"
  flagops version set shop prod 1.4.1 --target eu-1`,
		Args: exactArgs(3),
		RunE: func(cmd *cobra.Command, args []string) error {
			res, err := a.clients().versions.SetVersion(cmd.Context(), connect.NewRequest(&flagopsv1.SetVersionRequest{
				Workspace: a.workspace, Project: args[0], Environment: args[1], Target: target, Version: args[2], Reason: reason}))
			if err != nil {
				return fmt.Errorf("set version: %w", err)
			}
			if res.Msg.GetRevision() == 0 {
				fmt.Fprintf(a.stdout, "%s is already %s\n", domain.VersionChangeKey(args[0], args[1], target), args[2])
				return nil
			}
			fmt.Fprintf(a.stdout, "%s set to %s at revision %d\n", domain.VersionChangeKey(args[0], args[1], target), args[2], res.Msg.GetRevision())
			return nil
		},
	}
	cmd.Flags().StringVar(&target, "target", "", "pin this target of the environment instead of setting the whole environment")
	cmd.Flags().StringVar(&reason, "reason", "", "why, recorded in the change log")
	return cmd
}

func (a *app) versionUnpinCommand() *cobra.Command {
	return &cobra.Command{
		Use: "unpin PROJECT TARGET",
		Long: `Unpin removes the pin of one target, so that it follows the environment-wide
desired version again. Unpinning a target that has no pin changes nothing.`,
		Short:   "Remove a target's pin so the environment's version applies again",
		Example: `  flagops version unpin shop eu-1`,
		Args:    exactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			res, err := a.clients().versions.SetVersion(cmd.Context(), connect.NewRequest(&flagopsv1.SetVersionRequest{
				Workspace: a.workspace, Project: args[0], Target: args[1], Unpin: true}))
			if err != nil {
				return fmt.Errorf("unpin: %w", err)
			}
			if res.Msg.GetRevision() == 0 {
				fmt.Fprintf(a.stdout, "%s@%s was not pinned\n", args[0], args[1])
				return nil
			}
			fmt.Fprintf(a.stdout, "%s@%s unpinned at revision %d\n", args[0], args[1], res.Msg.GetRevision())
			return nil
		},
	}
}

func deploymentVersionTable(vs []domain.DeploymentVersion, since func(domain.DeploymentVersion) string) *table {
	t := &table{header: []string{"PROJECT", "ENVIRONMENT", "TARGET", "DESIRED", "DEPLOYED", "STATUS", "SINCE"}}
	for _, v := range vs {
		desired := orDash(v.Desired)
		if v.Pinned {
			desired += " (pinned)"
		}
		t.add(v.Project, v.Environment, v.Target, desired, orDash(v.Deployed), orDash(v.Status), since(v))
	}
	return t
}

func (a *app) versionGetCommand() *cobra.Command {
	var output, target string
	cmd := &cobra.Command{
		Use: "get PROJECT [ENVIRONMENT]",
		Long: `Get lists every deployment of the project (of one environment, or one
target with --target) with its desired version (marked when it comes from a
pin), the version its agent reported, the reported status and how long the
current state has lasted.`,
		Short: "Show desired and deployed versions per deployment",
		Example: `  flagops version get shop
  flagops version get shop prod -o json`,
		Args: rangeArgs(1, 2),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := checkFormat(output); err != nil {
				return err
			}
			req := &flagopsv1.GetVersionsRequest{Workspace: a.workspace, Project: args[0], Target: target}
			if len(args) > 1 {
				req.Environment = args[1]
			}
			res, err := a.clients().versions.GetVersions(cmd.Context(), connect.NewRequest(req))
			if err != nil {
				return fmt.Errorf("get versions: %w", err)
			}
			vs := []domain.DeploymentVersion{}
			for _, v := range res.Msg.GetDeployments() {
				vs = append(vs, deploymentVersionFromProto(v))
			}
			return printValue(a.stdout, output, vs, func() *table {
				return deploymentVersionTable(vs, func(v domain.DeploymentVersion) string { return age(a.now(), v.Since) })
			})
		},
	}
	addOutputFlag(cmd, &output)
	cmd.Flags().StringVar(&target, "target", "", "only this target")
	return cmd
}

func (a *app) versionReportCommand() *cobra.Command {
	var status, message string
	cmd := &cobra.Command{
		Use:   "report PROJECT TARGET VERSION",
		Short: "Report the version deployed on a target (what agents call)",
		Long: `Report records the version a target actually runs, with an optional status
(progressing, healthy, degraded, failed) and message. Promotions count soak
time from when a source environment is fully deployed and healthy.`,
		Example: `  flagops version report shop eu-1 1.4.2 --status healthy
  flagops version report shop eu-1 1.4.2 --status degraded --message "p99 latency above SLO"`,
		Args: exactArgs(3),
		RunE: func(cmd *cobra.Command, args []string) error {
			res, err := a.clients().versions.ReportVersion(cmd.Context(), connect.NewRequest(&flagopsv1.ReportVersionRequest{
				Workspace: a.workspace, Project: args[0], Target: args[1], Version: args[2], Status: status, Message: message}))
			if err != nil {
				return fmt.Errorf("report version: %w", err)
			}
			if res.Msg.GetRevision() == 0 {
				fmt.Fprintln(a.stdout, "unchanged")
				return nil
			}
			fmt.Fprintf(a.stdout, "reported at revision %d\n", res.Msg.GetRevision())
			return nil
		},
	}
	cmd.Flags().StringVar(&status, "status", "", "progressing, healthy, degraded or failed")
	cmd.Flags().StringVar(&message, "message", "", "a short explanation of the status")
	return cmd
}

func (a *app) versionRollbackCommand() *cobra.Command {
	var target, to, reason string
	cmd := &cobra.Command{
		Use:   "rollback PROJECT ENVIRONMENT",
		Short: "Set the previous desired version again, in one call",
		Long: `Rollback sets the environment (or, with --target, the target's pin) back to
the latest earlier version that differs from the current one, or to --to,
which must be in its history. It pauses automatic promotion into the
environment until "flagops promotions resume".`,
		Example: `  flagops version rollback shop prod
  flagops version rollback shop prod --to 1.3.9 --reason "bad migration"`,
		Args: exactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			res, err := a.clients().versions.Rollback(cmd.Context(), connect.NewRequest(&flagopsv1.RollbackRequest{
				Workspace: a.workspace, Project: args[0], Environment: args[1], Target: target, ToVersion: to, Reason: reason}))
			if err != nil {
				return fmt.Errorf("rollback: %w", err)
			}
			v := res.Msg.GetVersion()
			fmt.Fprintf(a.stdout, "%s rolled back to %s at revision %d\n", domain.VersionChangeKey(v.GetProject(), v.GetEnvironment(), v.GetTarget()), v.GetVersion(), res.Msg.GetRevision())
			return nil
		},
	}
	cmd.Flags().StringVar(&target, "target", "", "roll back this target's pin")
	cmd.Flags().StringVar(&to, "to", "", "the version to go back to (default: the previous one)")
	cmd.Flags().StringVar(&reason, "reason", "", "why, recorded in the change log")
	return cmd
}

func (a *app) versionHistoryCommand() *cobra.Command {
	var output, target string
	cmd := &cobra.Command{
		Use: "history PROJECT ENVIRONMENT",
		Long: `History lists every desired version the environment (or, with --target,
the target's pin) has had, newest first, with who set it and why. Rollback
picks from this list.`,
		Short:   "List the desired versions an environment (or a pin) had, newest first",
		Example: `  flagops version history shop prod`,
		Args:    exactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := checkFormat(output); err != nil {
				return err
			}
			res, err := a.clients().versions.VersionHistory(cmd.Context(), connect.NewRequest(&flagopsv1.VersionHistoryRequest{
				Workspace: a.workspace, Project: args[0], Environment: args[1], Target: target}))
			if err != nil {
				return fmt.Errorf("version history: %w", err)
			}
			hs := []domain.VersionHistoryEntry{}
			for _, e := range res.Msg.GetEntries() {
				hs = append(hs, domain.VersionHistoryEntry{Version: e.GetVersion(), Reason: e.GetReason(), Actor: e.GetActor(), Revision: e.GetRevision(), Time: timeFromProto(e.GetTime())})
			}
			return printValue(a.stdout, output, hs, func() *table {
				t := &table{header: []string{"REV", "TIME", "VERSION", "ACTOR", "REASON"}}
				for _, h := range hs {
					t.add(strconv.FormatInt(h.Revision, 10), timestamp(h.Time), h.Version, orDash(h.Actor), orDash(h.Reason))
				}
				return t
			})
		},
	}
	addOutputFlag(cmd, &output)
	cmd.Flags().StringVar(&target, "target", "", "the history of this target's pin")
	return cmd
}

func (a *app) versionPolicyCommand() *cobra.Command {
	var requireRelease bool
	cmd := &cobra.Command{
		Use: "policy PROJECT",
		Long: `Policy sets the per-project rule for versions: with --require-release, a
version can only be set (by hand or by a promotion) once a release of it has
been recorded with "flagops releases create".`,
		Short: "Set whether a project's versions need a release",
		Example: `  flagops version policy shop --require-release
  flagops version policy shop --require-release=false`,
		Args: exactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			res, err := a.clients().versions.SetVersionPolicy(cmd.Context(), connect.NewRequest(&flagopsv1.SetVersionPolicyRequest{
				Workspace: a.workspace, Project: args[0], RequireRelease: requireRelease}))
			if err != nil {
				return fmt.Errorf("set version policy: %w", err)
			}
			fmt.Fprintf(a.stdout, "%s: require release %v (revision %d)\n", args[0], requireRelease, res.Msg.GetRevision())
			return nil
		},
	}
	cmd.Flags().BoolVar(&requireRelease, "require-release", false, "refuse versions that have no release")
	return cmd
}

func (a *app) driftCommand() *cobra.Command {
	var output, project, env string
	cmd := &cobra.Command{
		Use:   "drift",
		Short: "List deployments whose deployed version is not the desired one",
		Long: `Drift lists every deployment whose reported version differs from its
desired version (or that never reported one), oldest drift first, with
how long it has drifted.`,
		Example: `  flagops drift
  flagops drift --project shop --environment prod -o json`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := checkFormat(output); err != nil {
				return err
			}
			res, err := a.clients().versions.Drift(cmd.Context(), connect.NewRequest(&flagopsv1.DriftRequest{
				Workspace: a.workspace, Project: project, Environment: env, PageSize: 1000}))
			if err != nil {
				return fmt.Errorf("drift: %w", err)
			}
			vs := []domain.DeploymentVersion{}
			for _, v := range res.Msg.GetDeployments() {
				vs = append(vs, deploymentVersionFromProto(v))
			}
			return printValue(a.stdout, output, vs, func() *table {
				return deploymentVersionTable(vs, func(v domain.DeploymentVersion) string { return age(a.now(), v.Since) })
			})
		},
	}
	a.addClientFlags(cmd)
	addOutputFlag(cmd, &output)
	cmd.Flags().StringVar(&project, "project", "", "only this project")
	cmd.Flags().StringVar(&env, "environment", "", "only this environment")
	return cmd
}

// exactArgs and rangeArgs make a wrong number of arguments a usage error
// (exit code 2).
func exactArgs(n int) cobra.PositionalArgs {
	return func(cmd *cobra.Command, args []string) error {
		if len(args) != n {
			return usagef("%s takes %d arguments, got %d (see --help)", cmd.CommandPath(), n, len(args))
		}
		return nil
	}
}

func rangeArgs(lo, hi int) cobra.PositionalArgs {
	return func(cmd *cobra.Command, args []string) error {
		if len(args) < lo || len(args) > hi {
			return usagef("%s takes %d to %d arguments, got %d (see --help)", cmd.CommandPath(), lo, hi, len(args))
		}
		return nil
	}
}
