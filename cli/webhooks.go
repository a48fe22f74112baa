package cli

import (
	"fmt"
	"strconv"
	"strings"

	"connectrpc.com/connect"
	"github.com/spf13/cobra"

	flagopsv1 "github.com/flagops/flagops/gen/flagops/v1"
)

func (a *app) webhooksCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "webhooks",
		Short: "Manage outbound webhooks: signed CloudEvents of the change log",
		Long: `Webhooks subscribe an HTTP endpoint to the change log. Every matching change
is POSTed as a CloudEvents 1.0 event, in revision order, at least once: the
server retries with backoff until the endpoint answers 2xx, across restarts,
and parks an event it refuses past the retry budget (see "webhooks
deliveries"). Type "generic" gets structured JSON events signed with
X-Flagops-Signature; type "flux-generic-hmac" gets binary-mode events (ce-*
headers, the change as an application/json body, which a Receiver's
resourceFilter can read) signed with X-Signature for a Flux Receiver of type
generic-hmac (see docs/integrations.md).`,
		Example: `  flagops webhooks create audit --url https://audit.example/flagops --kind fact
  flagops webhooks deliveries audit
  flagops webhooks redeliver audit --from-revision 120`,
	}
	cmd.AddCommand(a.webhooksCreate(), a.webhooksList(), a.webhooksDeliveries(), a.webhooksRedeliver(), a.webhooksDelete())
	return cmd
}

var webhookHeader = []string{"NAME", "TYPE", "URL", "KINDS", "PROJECTS", "ENVIRONMENTS", "TARGETS", "CURSOR"}

func webhookRow(w *flagopsv1.Webhook) []string {
	f := w.GetFilter()
	return []string{w.GetName(), w.GetType(), w.GetUrl(), joinOrDash(f.GetKinds()), joinOrDash(f.GetProjects()),
		joinOrDash(f.GetEnvironments()), joinOrDash(f.GetTargets()), strconv.FormatInt(w.GetCursorRevision(), 10)}
}

func (a *app) webhooksCreate() *cobra.Command {
	var output, url, typ, secret string
	var from int64
	var f flagopsv1.WebhookFilter
	cmd := &cobra.Command{
		Use:   "create NAME --url URL",
		Short: "Create a webhook subscription; prints its signing secret once",
		Long: `Create subscribes URL to the changes made from now on (or after
--from-revision) that pass every given filter. Without --secret a secret is
generated. The secret is printed once and never shown again: store it in the
receiver. For Flux, --type flux-generic-hmac and --secret is the token of the
Receiver's secret.`,
		Example: `  flagops webhooks create audit --url https://audit.example/flagops
  flagops webhooks create flux-shop --type flux-generic-hmac \
    --url https://flux.example/hook/0123abcd --secret "$RECEIVER_TOKEN" \
    --kind fact --project shop --environment prod`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := checkFormat(output); err != nil {
				return err
			}
			res, err := a.clients().webhooks.CreateWebhook(cmd.Context(), connect.NewRequest(&flagopsv1.CreateWebhookRequest{
				Workspace: a.workspace, Name: args[0], Url: url, Type: typ, Secret: secret, FromRevision: from, Filter: &f}))
			if err != nil {
				return fmt.Errorf("create webhook %s: %w", args[0], err)
			}
			return printValue(a.stdout, output, res.Msg, func() *table {
				t := &table{header: append(append([]string{}, webhookHeader...), "SECRET (shown once)")}
				t.add(append(webhookRow(res.Msg.GetWebhook()), res.Msg.GetSecret())...)
				return t
			})
		},
	}
	a.addClientFlags(cmd)
	addOutputFlag(cmd, &output)
	cmd.Flags().StringVar(&url, "url", "", "receiver URL (http or https)")
	cmd.Flags().StringVar(&typ, "type", "generic", "generic or flux-generic-hmac")
	cmd.Flags().StringVar(&secret, "secret", "", "signing secret, at least 16 characters (default: generated); prefer FLAGOPS_SECRET to keep it out of shell history")
	cmd.Flags().Int64Var(&from, "from-revision", 0, "deliver the changes after this revision instead of from now")
	cmd.Flags().StringSliceVar(&f.Kinds, "kind", nil, "only changes of these kinds (fact, project, version…)")
	cmd.Flags().StringSliceVar(&f.Projects, "project", nil, "only changes about these projects")
	cmd.Flags().StringSliceVar(&f.Environments, "environment", nil, "only changes about these environments")
	cmd.Flags().StringSliceVar(&f.Targets, "target", nil, "only changes about these targets")
	return cmd
}

func (a *app) webhooksList() *cobra.Command {
	var output string
	cmd := &cobra.Command{
		Use:     "list",
		Short:   "List webhook subscriptions (never their secrets)",
		Long:    "List shows the workspace's subscriptions, their filters and the revision each has delivered up to. Secrets are never shown after create.",
		Example: "  flagops webhooks list\n  flagops webhooks list -o json",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := checkFormat(output); err != nil {
				return err
			}
			res, err := a.clients().webhooks.ListWebhooks(cmd.Context(), connect.NewRequest(&flagopsv1.ListWebhooksRequest{Workspace: a.workspace}))
			if err != nil {
				return fmt.Errorf("list webhooks: %w", err)
			}
			return printValue(a.stdout, output, res.Msg, func() *table {
				t := &table{header: webhookHeader}
				for _, w := range res.Msg.GetWebhooks() {
					t.add(webhookRow(w)...)
				}
				return t
			})
		},
	}
	a.addClientFlags(cmd)
	addOutputFlag(cmd, &output)
	return cmd
}

func (a *app) webhooksDeliveries() *cobra.Command {
	var output string
	var limit int32
	cmd := &cobra.Command{
		Use:   "deliveries NAME",
		Short: "Show a webhook's delivery log, oldest first",
		Long: `Deliveries lists the newest delivery records of a subscription: the event,
its status (retrying, succeeded, or parked: given up after the retry budget
of "serve --webhook-max-attempts/--webhook-give-up-after"; "redeliver
--delivery ID" sends it again), how many attempts it took, the last error and
HTTP status, and when.`,
		Example: "  flagops webhooks deliveries audit\n  flagops webhooks deliveries audit --limit 10 -o yaml",
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := checkFormat(output); err != nil {
				return err
			}
			res, err := a.clients().webhooks.ListDeliveries(cmd.Context(), connect.NewRequest(&flagopsv1.ListDeliveriesRequest{
				Workspace: a.workspace, Webhook: args[0], Limit: limit}))
			if err != nil {
				return fmt.Errorf("list deliveries of %s: %w", args[0], err)
			}
			return printValue(a.stdout, output, res.Msg, func() *table {
				t := &table{header: []string{"ID", "EVENT", "TYPE", "STATUS", "ATTEMPTS", "CODE", "UPDATED", "LAST ERROR"}}
				for _, d := range res.Msg.GetDeliveries() {
					t.add(d.GetId(), fmt.Sprintf("%d-%d", d.GetRevision(), d.GetSeq()), d.GetEventType(), d.GetStatus(),
						strconv.Itoa(int(d.GetAttempts())), strconv.Itoa(int(d.GetResponseCode())),
						timestamp(d.GetUpdateTime().AsTime()), orDash(d.GetLastError()))
				}
				return t
			})
		},
	}
	a.addClientFlags(cmd)
	addOutputFlag(cmd, &output)
	cmd.Flags().Int32Var(&limit, "limit", 100, "how many of the newest records (at most 1000)")
	return cmd
}

func (a *app) webhooksRedeliver() *cobra.Command {
	var from int64
	var delivery string
	cmd := &cobra.Command{
		Use:   "redeliver NAME (--from-revision REV | --delivery ID)",
		Short: "Deliver again, in order, every matching change from a revision or a delivery on",
		Long: `Redeliver rewinds the subscription's cursor: the dispatcher then delivers
again every matching change from that point, in revision order, with the
same event ids (receivers deduplicate on them).`,
		Example: `  flagops webhooks redeliver audit --from-revision 120
  flagops webhooks redeliver audit --delivery 4e1f27c1902dd5e480db`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if (from > 0) == (delivery != "") {
				return usagef("give exactly one of --from-revision and --delivery")
			}
			res, err := a.clients().webhooks.Redeliver(cmd.Context(), connect.NewRequest(&flagopsv1.RedeliverRequest{
				Workspace: a.workspace, Webhook: args[0], FromRevision: from, DeliveryId: delivery}))
			if err != nil {
				return fmt.Errorf("redeliver %s: %w", args[0], err)
			}
			fmt.Fprintf(a.stdout, "webhook %s rewound to revision %d; redelivery starts now\n", args[0], res.Msg.GetCursorRevision())
			return nil
		},
	}
	a.addClientFlags(cmd)
	cmd.Flags().Int64Var(&from, "from-revision", 0, "redeliver the changes from this revision on")
	cmd.Flags().StringVar(&delivery, "delivery", "", "redeliver from this delivery's change on")
	return cmd
}

func (a *app) webhooksDelete() *cobra.Command {
	cmd := &cobra.Command{
		Use:     "delete NAME",
		Short:   "Delete a webhook subscription and its delivery log",
		Long:    "Delete removes the subscription; deliveries to it stop at once.",
		Example: "  flagops webhooks delete audit",
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if _, err := a.clients().webhooks.DeleteWebhook(cmd.Context(), connect.NewRequest(&flagopsv1.DeleteWebhookRequest{
				Workspace: a.workspace, Name: args[0]})); err != nil {
				return fmt.Errorf("delete webhook %s: %w", args[0], err)
			}
			fmt.Fprintf(a.stdout, "webhook %s deleted\n", args[0])
			return nil
		},
	}
	a.addClientFlags(cmd)
	return cmd
}

func (a *app) hooksCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "hooks",
		Short: "Manage inbound fact hooks: URLs outside systems POST facts to",
		Long: `A fact hook lets an outside system (a CMS, a billing system) set facts with
its own token: POST /v1/hooks/facts/NAME with Authorization: Bearer TOKEN and
{"deployment": "shop@eu-1", "facts": {...}}, {"scope": "environment/prod",
"facts": {...}}, or a JSON list of those, applied in one revision. A hook may
write only the scopes it was created with (--scope, patterns such as
deployment/*@eu-1).`,
		Example: `  flagops hooks create cms --scope 'deployment/*@eu-1' --scope environment/prod
  curl -X POST -H "Authorization: Bearer $TOKEN" \
    -d '{"deployment":"shop@eu-1","facts":{"tier":"pro"}}' \
    http://127.0.0.1:8080/v1/hooks/facts/cms`,
	}
	cmd.AddCommand(a.hooksCreate(), a.hooksList(), a.hooksDelete())
	return cmd
}

func (a *app) hooksCreate() *cobra.Command {
	var output string
	var scopes []string
	cmd := &cobra.Command{
		Use:   "create NAME",
		Short: "Create a fact hook bound to scopes; prints its token once",
		Long: `Create makes a fact hook and prints its token once: flagops stores only its
hash. The hook may write facts only to the scopes matching its --scope
patterns (at least one): a scope as "facts set" takes it, in which any name
may be * — deployment/*@eu-1 (every deployment on target eu-1),
environment/prod, project/shop@*, target/*. A pattern matches scopes of its
own kind only, and only "workspace" allows the workspace scope. A write
outside them is refused (403) and nothing of it is applied.`,
		Example: "  flagops hooks create cms --scope 'deployment/*@eu-1'\n  flagops hooks create billing --scope 'project/*' --scope environment/prod -o json",
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := checkFormat(output); err != nil {
				return err
			}
			res, err := a.clients().webhooks.CreateFactHook(cmd.Context(), connect.NewRequest(&flagopsv1.CreateFactHookRequest{
				Workspace: a.workspace, Name: args[0], Scopes: scopes}))
			if err != nil {
				return fmt.Errorf("create fact hook %s: %w", args[0], err)
			}
			return printValue(a.stdout, output, res.Msg, func() *table {
				t := &table{header: []string{"NAME", "PATH", "SCOPES", "TOKEN (shown once)"}}
				t.add(res.Msg.GetHook().GetName(), res.Msg.GetHook().GetPath(), strings.Join(res.Msg.GetHook().GetScopes(), ","), res.Msg.GetToken())
				return t
			})
		},
	}
	a.addClientFlags(cmd)
	addOutputFlag(cmd, &output)
	cmd.Flags().StringArrayVar(&scopes, "scope", nil, "scope pattern the hook may write, such as deployment/*@eu-1 (repeatable; at least one)")
	return cmd
}

func (a *app) hooksList() *cobra.Command {
	var output string
	cmd := &cobra.Command{
		Use:     "list",
		Short:   "List fact hooks (never their tokens)",
		Long:    "List shows the workspace's fact hooks and the path each receives on. Tokens are never shown after create.",
		Example: "  flagops hooks list\n  flagops hooks list -o yaml",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := checkFormat(output); err != nil {
				return err
			}
			res, err := a.clients().webhooks.ListFactHooks(cmd.Context(), connect.NewRequest(&flagopsv1.ListFactHooksRequest{Workspace: a.workspace}))
			if err != nil {
				return fmt.Errorf("list fact hooks: %w", err)
			}
			return printValue(a.stdout, output, res.Msg, func() *table {
				t := &table{header: []string{"NAME", "PATH", "SCOPES", "REVISION", "CREATED"}}
				for _, h := range res.Msg.GetHooks() {
					t.add(h.GetName(), h.GetPath(), strings.Join(h.GetScopes(), ","), strconv.FormatInt(h.GetRevision(), 10), timestamp(h.GetCreateTime().AsTime()))
				}
				return t
			})
		},
	}
	a.addClientFlags(cmd)
	addOutputFlag(cmd, &output)
	return cmd
}

func (a *app) hooksDelete() *cobra.Command {
	cmd := &cobra.Command{
		Use:     "delete NAME",
		Short:   "Delete a fact hook; its token stops working at once",
		Long:    "Delete removes the fact hook; requests with its token are refused from then on.",
		Example: "  flagops hooks delete cms",
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if _, err := a.clients().webhooks.DeleteFactHook(cmd.Context(), connect.NewRequest(&flagopsv1.DeleteFactHookRequest{
				Workspace: a.workspace, Name: args[0]})); err != nil {
				return fmt.Errorf("delete fact hook %s: %w", args[0], err)
			}
			fmt.Fprintf(a.stdout, "fact hook %s deleted\n", args[0])
			return nil
		},
	}
	a.addClientFlags(cmd)
	return cmd
}
