package cli

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"strconv"

	"connectrpc.com/connect"
	"github.com/spf13/cobra"
	"google.golang.org/protobuf/types/known/timestamppb"

	flagopsv1 "github.com/flagops/flagops/gen/flagops/v1"
)

func (a *app) secretsCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "secrets",
		Short: "Store, read and audit secret values",
		Long: `Secrets are values on the same scopes as facts (workspace, environment/ENV,
target/TARGET, project/PROJECT, project/PROJECT@ENV, deployment/PROJECT@TARGET),
encrypted at rest and versioned. A value is read from stdin or --from-file,
never from an argument (arguments end up in shell history and process lists).
Only "get" prints a value; every other command shows version numbers and
fingerprints, and every read is audited ("secrets audit").`,
		Example: `  printf %s "$DB_PASSWORD" | flagops secrets put deployment/shop@eu-1 dbPassword
  flagops secrets get deployment/shop@eu-1 dbPassword
  flagops secrets list deployment/shop@eu-1`,
		Args: cobra.NoArgs,
	}
	a.addClientFlags(cmd)
	cmd.AddCommand(a.secretsPutCommand(), a.secretsGetCommand(), a.secretsListCommand(), a.secretsVersionsCommand(),
		a.secretsDeleteCommand(), a.secretsRestoreCommand(), a.secretsDestroyCommand(), a.secretsAuditCommand(),
		a.secretsRotateCommand())
	return cmd
}

// casFlag adds --cas: the version the caller expects to be current.
func casFlag(cmd *cobra.Command, dst *int64) {
	cmd.Flags().Int64Var(dst, "cas", 0, "fail unless this is the current version (0: the secret must not exist)")
}

func casValue(cmd *cobra.Command, v int64) *int64 {
	if cmd.Flags().Changed("cas") {
		return &v
	}
	return nil
}

func secretLine(verb string, s *flagopsv1.Secret) string {
	return fmt.Sprintf("secret %s %s %s: version %d, %s\n", s.GetScope(), s.GetKey(), verb, s.GetVersion(), s.GetFingerprint())
}

func (a *app) secretsPutCommand() *cobra.Command {
	var fromFile string
	var cas int64
	cmd := &cobra.Command{
		Use:   "put SCOPE KEY",
		Short: "Store a new version of a secret",
		Long: `Put reads the value from stdin (one trailing newline removed, so that
"echo value |" works) or, byte for byte, from --from-file, and stores it as the
secret's next version. A value equal to the current one stores nothing.`,
		Example: `  flagops secrets put deployment/shop@eu-1 dbPassword < password.txt
  flagops secrets put project/shop tlsKey --from-file key.pem --cas 3`,
		Args: cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			var value []byte
			var err error
			if fromFile != "" {
				value, err = os.ReadFile(fromFile)
			} else {
				value, err = io.ReadAll(a.stdin)
				value = bytes.TrimSuffix(bytes.TrimSuffix(value, []byte("\n")), []byte("\r"))
			}
			if err != nil {
				return fmt.Errorf("read the value: %w", err)
			}
			if len(value) == 0 {
				return usagef("no value: pipe it to stdin or use --from-file")
			}
			res, err := a.clients().secrets.PutSecret(cmd.Context(), connect.NewRequest(&flagopsv1.PutSecretRequest{
				Workspace: a.workspace, Scope: args[0], Key: args[1], Value: value, Cas: casValue(cmd, cas)}))
			clear(value)
			if err != nil {
				return fmt.Errorf("put secret %s %s: %w", args[0], args[1], err)
			}
			fmt.Fprint(a.stdout, secretLine("stored", res.Msg.GetSecret()))
			return nil
		},
	}
	cmd.Flags().StringVar(&fromFile, "from-file", "", "read the value from this file instead of stdin")
	casFlag(cmd, &cas)
	return cmd
}

func (a *app) secretsGetCommand() *cobra.Command {
	var version int64
	var noNewline bool
	cmd := &cobra.Command{
		Use:   "get SCOPE KEY",
		Short: "Print a secret's value",
		Long: `Get prints the value of the current version (or --version N) followed by a
newline (--no-newline prints the bytes alone). The read is audited.`,
		Example: `  flagops secrets get deployment/shop@eu-1 dbPassword
  flagops secrets get deployment/shop@eu-1 dbPassword --version 2 --no-newline > pw`,
		Args: cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			res, err := a.clients().secrets.GetSecret(cmd.Context(), connect.NewRequest(&flagopsv1.GetSecretRequest{
				Workspace: a.workspace, Scope: args[0], Key: args[1], Version: version}))
			if err != nil {
				return fmt.Errorf("get secret %s %s: %w", args[0], args[1], err)
			}
			if _, err := a.stdout.Write(res.Msg.GetValue()); err != nil {
				return err
			}
			if !noNewline {
				fmt.Fprintln(a.stdout)
			}
			return nil
		},
	}
	cmd.Flags().Int64Var(&version, "version", 0, "version to read (default: the current one)")
	cmd.Flags().BoolVar(&noNewline, "no-newline", false, "print the value without a trailing newline")
	return cmd
}

func (a *app) secretsListCommand() *cobra.Command {
	var output string
	cmd := &cobra.Command{
		Use:   "list [SCOPE]",
		Short: "List secrets: keys, versions and fingerprints, never values",
		Long: `List shows the secrets of a scope (or of the workspace): key, current
version, keyed fingerprint and whether it is deleted. It never shows a value.`,
		Example: `  flagops secrets list
  flagops secrets list deployment/shop@eu-1 -o json`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := checkFormat(output); err != nil {
				return err
			}
			req := &flagopsv1.ListSecretsRequest{Workspace: a.workspace}
			if len(args) == 1 {
				req.Scope = args[0]
			}
			res, err := a.clients().secrets.ListSecrets(cmd.Context(), connect.NewRequest(req))
			if err != nil {
				return fmt.Errorf("list secrets: %w", err)
			}
			return printValue(a.stdout, output, res.Msg, func() *table {
				t := &table{header: []string{"SCOPE", "KEY", "VERSION", "FINGERPRINT", "DELETED", "UPDATED"}}
				for _, s := range res.Msg.GetSecrets() {
					t.add(s.GetScope(), s.GetKey(), strconv.FormatInt(s.GetVersion(), 10), s.GetFingerprint(),
						strconv.FormatBool(s.GetDeleted()), age(a.now(), s.GetUpdateTime().AsTime()))
				}
				return t
			})
		},
	}
	addOutputFlag(cmd, &output)
	return cmd
}

func (a *app) secretsVersionsCommand() *cobra.Command {
	var output string
	cmd := &cobra.Command{
		Use:   "versions SCOPE KEY",
		Short: "List a secret's versions with who wrote them and when",
		Long: `Versions lists every version of a secret, oldest first: its fingerprint, when
and by whom it was written, and whether it was destroyed.`,
		Example: `  flagops secrets versions deployment/shop@eu-1 dbPassword`,
		Args:    cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := checkFormat(output); err != nil {
				return err
			}
			res, err := a.clients().secrets.ListSecretVersions(cmd.Context(), connect.NewRequest(&flagopsv1.ListSecretVersionsRequest{
				Workspace: a.workspace, Scope: args[0], Key: args[1]}))
			if err != nil {
				return fmt.Errorf("list versions of secret %s %s: %w", args[0], args[1], err)
			}
			return printValue(a.stdout, output, res.Msg, func() *table {
				t := &table{header: []string{"VERSION", "FINGERPRINT", "CREATED", "BY", "DESTROYED", "REVISION"}}
				for _, v := range res.Msg.GetVersions() {
					t.add(strconv.FormatInt(v.GetVersion(), 10), v.GetFingerprint(), age(a.now(), v.GetCreateTime().AsTime()),
						v.GetCreatedBy(), strconv.FormatBool(v.GetDestroyed()), strconv.FormatInt(v.GetRevision(), 10))
				}
				return t
			})
		},
	}
	addOutputFlag(cmd, &output)
	return cmd
}

func (a *app) secretsDeleteCommand() *cobra.Command {
	var cas int64
	cmd := &cobra.Command{
		Use:   "delete SCOPE KEY",
		Short: "Soft-delete a secret (restore brings it back)",
		Long: `Delete soft-deletes a secret: it is no longer read or resolved, but its
versions stay until destroyed, and "secrets restore" brings it back.`,
		Example: `  flagops secrets delete deployment/shop@eu-1 dbPassword`,
		Args:    cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			res, err := a.clients().secrets.DeleteSecret(cmd.Context(), connect.NewRequest(&flagopsv1.DeleteSecretRequest{
				Workspace: a.workspace, Scope: args[0], Key: args[1], Cas: casValue(cmd, cas)}))
			if err != nil {
				return fmt.Errorf("delete secret %s %s: %w", args[0], args[1], err)
			}
			fmt.Fprint(a.stdout, secretLine("deleted", res.Msg.GetSecret()))
			return nil
		},
	}
	casFlag(cmd, &cas)
	return cmd
}

func (a *app) secretsRestoreCommand() *cobra.Command {
	return &cobra.Command{
		Use:     "restore SCOPE KEY",
		Short:   "Restore a soft-deleted secret",
		Long:    `Restore undoes "secrets delete": the current version is readable again.`,
		Example: `  flagops secrets restore deployment/shop@eu-1 dbPassword`,
		Args:    cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			res, err := a.clients().secrets.RestoreSecret(cmd.Context(), connect.NewRequest(&flagopsv1.RestoreSecretRequest{
				Workspace: a.workspace, Scope: args[0], Key: args[1]}))
			if err != nil {
				return fmt.Errorf("restore secret %s %s: %w", args[0], args[1], err)
			}
			fmt.Fprint(a.stdout, secretLine("restored", res.Msg.GetSecret()))
			return nil
		},
	}
}

func (a *app) secretsDestroyCommand() *cobra.Command {
	var version int64
	cmd := &cobra.Command{
		Use:   "destroy SCOPE KEY --version N",
		Short: "Erase one version's value for good",
		Long: `Destroy erases the stored value of one version; it cannot be undone. The
version's fingerprint, author and time stay in the history.`,
		Example: `  flagops secrets destroy deployment/shop@eu-1 dbPassword --version 1`,
		Args:    cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			if version <= 0 {
				return usagef("--version is required")
			}
			_, err := a.clients().secrets.DestroySecretVersion(cmd.Context(), connect.NewRequest(&flagopsv1.DestroySecretVersionRequest{
				Workspace: a.workspace, Scope: args[0], Key: args[1], Version: version}))
			if err != nil {
				return fmt.Errorf("destroy secret %s %s version %d: %w", args[0], args[1], version, err)
			}
			fmt.Fprintf(a.stdout, "secret %s %s version %d destroyed\n", args[0], args[1], version)
			return nil
		},
	}
	cmd.Flags().Int64Var(&version, "version", 0, "version to destroy")
	return cmd
}

func (a *app) secretsAuditCommand() *cobra.Command {
	var output, since string
	var limit int32
	cmd := &cobra.Command{
		Use:   "audit [SCOPE [KEY]]",
		Short: "Show who read which secret value, newest first",
		Long: `Audit lists reads of secret values (who, which secret, which version, when),
newest first. Reads are kept in their own table rather than the change log,
so reading consumes no revision.`,
		Example: `  flagops secrets audit --since 24h
  flagops secrets audit deployment/shop@eu-1 dbPassword -o json`,
		Args: cobra.MaximumNArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := checkFormat(output); err != nil {
				return err
			}
			req := &flagopsv1.ListSecretReadsRequest{Workspace: a.workspace, Limit: limit}
			if len(args) > 0 {
				req.Scope = args[0]
			}
			if len(args) > 1 {
				req.Key = args[1]
			}
			if since != "" {
				t, err := parseSince(since, a.now())
				if err != nil {
					return err
				}
				req.Since = timestamppb.New(t)
			}
			res, err := a.clients().secrets.ListSecretReads(cmd.Context(), connect.NewRequest(req))
			if err != nil {
				return fmt.Errorf("list secret reads: %w", err)
			}
			return printValue(a.stdout, output, res.Msg, func() *table {
				t := &table{header: []string{"TIME", "ACTOR", "SCOPE", "KEY", "VERSION", "REQUEST"}}
				for _, r := range res.Msg.GetReads() {
					t.add(r.GetTime().AsTime().Format("2006-01-02T15:04:05Z07:00"), r.GetActor(), r.GetScope(), r.GetKey(),
						strconv.FormatInt(r.GetVersion(), 10), r.GetRequestId())
				}
				return t
			})
		},
	}
	cmd.Flags().StringVar(&since, "since", "", "only reads since this RFC 3339 time or duration ago (24h)")
	cmd.Flags().Int32Var(&limit, "limit", 100, "at most this many reads (up to 1000)")
	addOutputFlag(cmd, &output)
	return cmd
}

func (a *app) secretsRotateCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "rotate-master-key",
		Short: "Rotate the server's master key without downtime",
		Long: `Rotate-master-key makes a new master key active, re-wraps every stored data
key under it (values are never decrypted) and retires the old keys once no
record uses them. Reads and writes go on meanwhile. With FLAGOPS_MASTER_KEY,
append the new key to the variable and restart first: this then re-wraps onto
it, and the old entry can be removed afterwards.`,
		Example: `  flagops secrets rotate-master-key`,
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			// One call does the whole job on the server; say so before the
			// wait, which grows with the number of stored secrets.
			fmt.Fprintln(a.stderr, "rotating the master key: re-wrapping every stored data key…")
			res, err := a.clients().secrets.RotateMasterKey(cmd.Context(), connect.NewRequest(&flagopsv1.RotateMasterKeyRequest{}))
			if err != nil {
				return fmt.Errorf("rotate master key: %w", err)
			}
			m := res.Msg
			fmt.Fprintf(a.stdout, "master key %s active; %d %s re-wrapped; retired: %v\n", m.GetNewKeyId(), m.GetRewrapped(),
				plural(int(m.GetRewrapped()), "record", "records"), m.GetRetiredKeyIds())
			return nil
		},
	}
}
