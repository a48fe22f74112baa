package web

import (
	"net/http"
	"strings"
	"time"

	"connectrpc.com/connect"
	"google.golang.org/protobuf/types/known/timestamppb"

	flagopsv1 "github.com/flagops/flagops/gen/flagops/v1"
	"github.com/flagops/flagops/internal/domain"
)

type webhookRow struct {
	W          *flagopsv1.Webhook
	Deliveries []*flagopsv1.Delivery
	Failing    int
	Pending    int
}

type accessData struct {
	Error     string
	Keys      []*flagopsv1.APIKey
	Roles     []domain.Role
	Webhooks  []webhookRow
	Hooks     []*flagopsv1.FactHook
	HooksNote string
	HooksErr  string
	// NewToken is the token of a key just created, shown this once.
	NewToken string
	NewKey   string
	Form     struct{ Name, Bindings, Expires string }
	FormErr  *apiError
	Can      struct{ Create, Revoke, DeleteWebhook, DeleteHook bool }
}

func (u *UI) access(w http.ResponseWriter, r *http.Request, v *view) {
	u.renderAccess(w, r, v, accessData{}, http.StatusOK)
}

func (u *UI) renderAccess(w http.ResponseWriter, r *http.Request, v *view, data accessData, status int) {
	ctx := v.ctx()
	data.Roles = domain.Roles
	keys, err := v.c.access.ListKeys(ctx, connect.NewRequest(&flagopsv1.ListKeysRequest{}))
	if err != nil {
		data.Error = toAPIError(err).Message
		if denied(err) {
			status = http.StatusForbidden
		}
		v.render(w, status, "access", "Access", data)
		return
	}
	data.Keys = keys.Msg.GetKeys()
	if wh, err := v.c.webhooks.ListWebhooks(ctx, connect.NewRequest(&flagopsv1.ListWebhooksRequest{Workspace: v.ws})); err == nil {
		for _, h := range wh.Msg.GetWebhooks() {
			row := webhookRow{W: h}
			if ds, err := v.c.webhooks.ListDeliveries(ctx, connect.NewRequest(&flagopsv1.ListDeliveriesRequest{Workspace: v.ws, Webhook: h.GetName(), Limit: 10})); err == nil {
				row.Deliveries = ds.Msg.GetDeliveries()
				for _, d := range row.Deliveries {
					switch d.GetStatus() {
					case "failed", "dead":
						row.Failing++
					case "pending":
						row.Pending++
					}
				}
			}
			data.Webhooks = append(data.Webhooks, row)
		}
	} else {
		data.HooksErr = toAPIError(err).Message
	}
	if fh, err := v.c.webhooks.ListFactHooks(ctx, connect.NewRequest(&flagopsv1.ListFactHooksRequest{Workspace: v.ws})); err == nil {
		data.Hooks = fh.Msg.GetHooks()
	}
	data.Can.Create = v.can(proc("AccessService", "CreateKey"), &flagopsv1.CreateKeyRequest{Bindings: []*flagopsv1.Binding{{Role: "viewer", Workspace: v.ws, Scope: "workspace"}}})
	data.Can.Revoke = v.can(proc("AccessService", "RevokeKey"), &flagopsv1.RevokeKeyRequest{})
	data.Can.DeleteWebhook = v.can(proc("WebhookService", "DeleteWebhook"), &flagopsv1.DeleteWebhookRequest{Workspace: v.ws})
	data.Can.DeleteHook = v.can(proc("WebhookService", "DeleteFactHook"), &flagopsv1.DeleteFactHookRequest{Workspace: v.ws})
	v.render(w, status, "access", "Access", data)
}

// createKey creates a key and shows its token on the answer page, once: it
// is never stored in the session or sent again.
func (u *UI) createKey(w http.ResponseWriter, r *http.Request, v *view) {
	var data accessData
	data.Form.Name, data.Form.Bindings, data.Form.Expires = trimmed(r, "name"), trimmed(r, "bindings"), trimmed(r, "expires")
	req := &flagopsv1.CreateKeyRequest{Name: data.Form.Name}
	for i, line := range strings.FieldsFunc(data.Form.Bindings, func(r rune) bool { return r == '\n' || r == ',' }) {
		line = strings.TrimSpace(line)
		if line == "" {
			continue
		}
		b, err := domain.ParseBinding(line)
		if err != nil {
			data.FormErr = &apiError{Field: "bindings", Message: "binding " + itoa(i+1) + " (" + line + "): " + err.Error()}
			u.renderAccess(w, r, v, data, http.StatusBadRequest)
			return
		}
		req.Bindings = append(req.Bindings, &flagopsv1.Binding{Role: string(b.Role), Workspace: b.Workspace, Scope: b.Scope.String()})
	}
	if data.Form.Expires != "" {
		d, err := time.ParseDuration(data.Form.Expires)
		if err != nil || d <= 0 {
			data.FormErr = &apiError{Field: "expires", Message: "write a positive duration such as 720h, or leave it empty for a key that does not expire"}
			u.renderAccess(w, r, v, data, http.StatusBadRequest)
			return
		}
		req.ExpireTime = timestamppb.New(time.Now().Add(d))
	}
	res, err := v.c.access.CreateKey(v.ctx(), connect.NewRequest(req))
	if err != nil {
		data.FormErr = toAPIError(err)
		u.renderAccess(w, r, v, data, http.StatusBadRequest)
		return
	}
	data.NewToken, data.NewKey = res.Msg.GetToken(), res.Msg.GetKey().GetName()
	data.Form.Name, data.Form.Bindings, data.Form.Expires = "", "", ""
	u.renderAccess(w, r, v, data, http.StatusOK)
}
