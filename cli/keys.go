package cli

import (
	"fmt"
	"strings"
	"time"

	"connectrpc.com/connect"
	"github.com/spf13/cobra"
	"google.golang.org/protobuf/types/known/timestamppb"

	flagopsv1 "github.com/flagops/flagops/gen/flagops/v1"
	"github.com/flagops/flagops/internal/domain"
)

func (a *app) keysCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "keys",
		Short: "Create, list and revoke API keys",
		Long: `An API key is a random token (fo_…) with a name, an optional expiry and role
bindings: ROLE@SCOPE, where ROLE is admin, editor, viewer, secret-reader, agent
or evaluator and SCOPE is workspace, project/P, environment/E or target/T;
prefix WORKSPACE: for another workspace than --workspace ("*:" for all). The
token is printed once, by create; the server keeps only its hash.`,
		Example: `  flagops keys create ci --role editor
  flagops keys create shop-agent --role agent@target/eu-1 --expires 720h
  flagops keys revoke ci`,
		Args: cobra.NoArgs,
	}
	a.addClientFlags(cmd)
	cmd.AddCommand(a.keysCreateCommand(), a.keysListCommand(), a.keysRevokeCommand())
	return cmd
}

func bindingsOut(bs []*flagopsv1.Binding) string {
	out := make([]string, len(bs))
	for i, b := range bs {
		out[i] = b.GetWorkspace() + ":" + b.GetRole() + "@" + b.GetScope()
	}
	return strings.Join(out, ",")
}

func (a *app) keysCreateCommand() *cobra.Command {
	var roles []string
	var expires string
	cmd := &cobra.Command{
		Use:   "create NAME --role ROLE@SCOPE…",
		Short: "Create an API key and print its token once",
		Long: `Create makes a key with one or more role bindings and prints its token on
stdout, once: store it now, the server keeps only its hash.`,
		Example: `  flagops keys create ci --role editor
  flagops keys create reader --role secret-reader@project/shop --role viewer --expires 2027-01-01T00:00:00Z`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if len(roles) == 0 {
				return usagef("at least one --role ROLE@SCOPE is required")
			}
			req := &flagopsv1.CreateKeyRequest{Name: args[0]}
			for _, r := range roles {
				if !strings.Contains(r, ":") {
					r = a.workspace + ":" + r
				}
				b, err := domain.ParseBinding(r)
				if err != nil {
					return usagef("--role %q: %v", r, err)
				}
				req.Bindings = append(req.Bindings, &flagopsv1.Binding{Role: string(b.Role), Workspace: b.Workspace, Scope: b.Scope.String()})
			}
			if expires != "" {
				t, err := parseExpiry(expires, a.now())
				if err != nil {
					return err
				}
				req.ExpireTime = timestamppb.New(t)
			}
			res, err := a.clients().access.CreateKey(cmd.Context(), connect.NewRequest(req))
			if err != nil {
				return fmt.Errorf("create key %s: %w", args[0], err)
			}
			k := res.Msg.GetKey()
			fmt.Fprintf(a.stderr, "key %s (%s) created with %s; its token is shown this once:\n", k.GetName(), k.GetId(), bindingsOut(k.GetBindings()))
			fmt.Fprintln(a.stdout, res.Msg.GetToken())
			return nil
		},
	}
	cmd.Flags().StringArrayVar(&roles, "role", nil, "a binding ROLE@SCOPE (repeatable)")
	cmd.Flags().StringVar(&expires, "expires", "", "expiry: an RFC 3339 time or a duration from now (720h)")
	return cmd
}

// parseExpiry reads an RFC 3339 time or a duration from now.
func parseExpiry(s string, now time.Time) (time.Time, error) {
	if d, err := time.ParseDuration(s); err == nil {
		return now.Add(d), nil
	}
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		return time.Time{}, usagef("--expires %q: want an RFC 3339 time or a duration such as 720h", s)
	}
	return t, nil
}

func (a *app) keysListCommand() *cobra.Command {
	var output string
	cmd := &cobra.Command{
		Use:   "list",
		Short: "List API keys (never their tokens)",
		Long: `List shows every key: name, ID, bindings, expiry, last use (recorded at most
once a minute) and whether it is active, expired or revoked.`,
		Example: `  flagops keys list -o json`,
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := checkFormat(output); err != nil {
				return err
			}
			res, err := a.clients().access.ListKeys(cmd.Context(), connect.NewRequest(&flagopsv1.ListKeysRequest{}))
			if err != nil {
				return fmt.Errorf("list keys: %w", err)
			}
			return printValue(a.stdout, output, res.Msg, func() *table {
				t := &table{header: []string{"NAME", "ID", "BINDINGS", "EXPIRES", "LAST USED", "STATE"}}
				for _, k := range res.Msg.GetKeys() {
					exp, used, state := "never", "never", "active"
					if k.GetExpireTime() != nil {
						exp = k.GetExpireTime().AsTime().Format(time.RFC3339)
						if !a.now().Before(k.GetExpireTime().AsTime()) {
							state = "expired"
						}
					}
					if k.GetLastUsedTime() != nil {
						used = age(a.now(), k.GetLastUsedTime().AsTime())
					}
					if k.GetRevokeTime() != nil {
						state = "revoked"
					}
					t.add(k.GetName(), k.GetId(), bindingsOut(k.GetBindings()), exp, used, state)
				}
				return t
			})
		},
	}
	addOutputFlag(cmd, &output)
	return cmd
}

func (a *app) keysRevokeCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "revoke NAME|ID",
		Short: "Revoke an API key; it is refused from the next request on",
		Long: `Revoke revokes a key by name or ID. The server checks keys on every request,
so the key is refused from the next request on.`,
		Example: `  flagops keys revoke ci`,
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			res, err := a.clients().access.RevokeKey(cmd.Context(), connect.NewRequest(&flagopsv1.RevokeKeyRequest{Key: args[0]}))
			if err != nil {
				return fmt.Errorf("revoke key %s: %w", args[0], err)
			}
			fmt.Fprintf(a.stdout, "key %s (%s) revoked\n", res.Msg.GetKey().GetName(), res.Msg.GetKey().GetId())
			return nil
		},
	}
}

func (a *app) whoamiCommand() *cobra.Command {
	var output string
	cmd := &cobra.Command{
		Use:   "whoami",
		Short: "Show the API key the CLI is using and its bindings",
		Long: `Whoami asks the server who the CLI authenticates as: the actor recorded in
the change log, the key ID and its role bindings.`,
		Example: `  flagops whoami`,
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := checkFormat(output); err != nil {
				return err
			}
			res, err := a.clients().access.WhoAmI(cmd.Context(), connect.NewRequest(&flagopsv1.WhoAmIRequest{}))
			if err != nil {
				return fmt.Errorf("whoami: %w", err)
			}
			m := res.Msg
			return printValue(a.stdout, output, m, func() *table {
				t := &table{header: []string{"ACTOR", "KEY", "BINDINGS"}}
				if m.GetInsecure() {
					t.add(m.GetActor(), "-", "authentication off (insecure-dev)")
				} else {
					t.add(m.GetActor(), m.GetKey().GetId(), bindingsOut(m.GetKey().GetBindings()))
				}
				return t
			})
		},
	}
	a.addClientFlags(cmd)
	addOutputFlag(cmd, &output)
	return cmd
}
