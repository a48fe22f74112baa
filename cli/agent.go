package cli

import "github.com/spf13/cobra"

func (a *app) agentCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "agent",
		Short: "Run an agent that applies flagops state to a deployment tool",
		Args:  cobra.NoArgs,
	}
	return cmd
}
