package api

import (
	"context"

	"connectrpc.com/connect"

	flagopsv1 "github.com/flagops/flagops/gen/flagops/v1"
	"github.com/flagops/flagops/gen/flagops/v1/flagopsv1connect"
	"github.com/flagops/flagops/internal/domain"
	"github.com/flagops/flagops/internal/service"
)

// WebhookHandler serves WebhookService.
type WebhookHandler struct {
	svc *service.Webhooks
}

var _ flagopsv1connect.WebhookServiceHandler = (*WebhookHandler)(nil)

// NewWebhookHandler returns the WebhookService handler on svc.
func NewWebhookHandler(svc *service.Webhooks) *WebhookHandler { return &WebhookHandler{svc: svc} }

func webhookOut(w domain.Webhook) *flagopsv1.Webhook {
	return &flagopsv1.Webhook{
		Workspace: w.Workspace, Name: w.Name, Url: w.URL, Type: w.Type, Revision: w.Revision,
		CreateTime: timeOut(w.CreatedAt), CursorRevision: w.Cursor.Revision,
		Filter: &flagopsv1.WebhookFilter{Kinds: w.Filter.Kinds, Projects: w.Filter.Projects,
			Environments: w.Filter.Environments, Targets: w.Filter.Targets},
	}
}

func deliveryOut(d domain.Delivery) *flagopsv1.Delivery {
	return &flagopsv1.Delivery{
		Id: d.ID, Webhook: d.Webhook, Revision: d.Revision, Seq: int32(d.Seq), EventType: d.EventType,
		Status: d.Status, Attempts: int32(d.Attempts), LastError: d.LastError, ResponseCode: int32(d.ResponseCode),
		CreateTime: timeOut(d.CreatedAt), UpdateTime: timeOut(d.UpdatedAt),
	}
}

// FactHookPath is the route pattern of inbound fact hooks.
const FactHookPath = "/v1/hooks/facts/"

func factHookOut(h domain.FactHook) *flagopsv1.FactHook {
	return &flagopsv1.FactHook{Workspace: h.Workspace, Name: h.Name, Revision: h.Revision,
		CreateTime: timeOut(h.CreatedAt), Path: FactHookPath + h.Name, Scopes: h.Scopes}
}

func (h *WebhookHandler) CreateWebhook(ctx context.Context, req *connect.Request[flagopsv1.CreateWebhookRequest]) (*connect.Response[flagopsv1.CreateWebhookResponse], error) {
	m := req.Msg
	f := m.GetFilter()
	w, err := h.svc.CreateWebhook(ctx, domain.Webhook{
		Workspace: m.GetWorkspace(), Name: m.GetName(), URL: m.GetUrl(), Type: m.GetType(), Secret: m.GetSecret(),
		Filter: domain.WebhookFilter{Kinds: f.GetKinds(), Projects: f.GetProjects(), Environments: f.GetEnvironments(), Targets: f.GetTargets()},
	}, m.GetFromRevision())
	if err != nil {
		return nil, err
	}
	return connect.NewResponse(&flagopsv1.CreateWebhookResponse{Webhook: webhookOut(w), Secret: w.Secret}), nil
}

func (h *WebhookHandler) ListWebhooks(ctx context.Context, req *connect.Request[flagopsv1.ListWebhooksRequest]) (*connect.Response[flagopsv1.ListWebhooksResponse], error) {
	list, err := h.svc.ListWebhooks(ctx, req.Msg.GetWorkspace())
	if err != nil {
		return nil, err
	}
	out := &flagopsv1.ListWebhooksResponse{}
	for _, w := range list {
		out.Webhooks = append(out.Webhooks, webhookOut(w))
	}
	return connect.NewResponse(out), nil
}

func (h *WebhookHandler) GetWebhook(ctx context.Context, req *connect.Request[flagopsv1.GetWebhookRequest]) (*connect.Response[flagopsv1.GetWebhookResponse], error) {
	w, err := h.svc.GetWebhook(ctx, req.Msg.GetWorkspace(), req.Msg.GetName())
	if err != nil {
		return nil, err
	}
	return connect.NewResponse(&flagopsv1.GetWebhookResponse{Webhook: webhookOut(w)}), nil
}

func (h *WebhookHandler) DeleteWebhook(ctx context.Context, req *connect.Request[flagopsv1.DeleteWebhookRequest]) (*connect.Response[flagopsv1.DeleteWebhookResponse], error) {
	if err := h.svc.DeleteWebhook(ctx, req.Msg.GetWorkspace(), req.Msg.GetName()); err != nil {
		return nil, err
	}
	return connect.NewResponse(&flagopsv1.DeleteWebhookResponse{}), nil
}

func (h *WebhookHandler) ListDeliveries(ctx context.Context, req *connect.Request[flagopsv1.ListDeliveriesRequest]) (*connect.Response[flagopsv1.ListDeliveriesResponse], error) {
	list, err := h.svc.ListDeliveries(ctx, req.Msg.GetWorkspace(), req.Msg.GetWebhook(), int(req.Msg.GetLimit()))
	if err != nil {
		return nil, err
	}
	out := &flagopsv1.ListDeliveriesResponse{}
	for _, d := range list {
		out.Deliveries = append(out.Deliveries, deliveryOut(d))
	}
	return connect.NewResponse(out), nil
}

func (h *WebhookHandler) Redeliver(ctx context.Context, req *connect.Request[flagopsv1.RedeliverRequest]) (*connect.Response[flagopsv1.RedeliverResponse], error) {
	m := req.Msg
	c, err := h.svc.Redeliver(ctx, m.GetWorkspace(), m.GetWebhook(), m.GetFromRevision(), m.GetDeliveryId())
	if err != nil {
		return nil, err
	}
	return connect.NewResponse(&flagopsv1.RedeliverResponse{CursorRevision: c.Revision, CursorSeq: int32(c.Seq)}), nil
}

func (h *WebhookHandler) CreateFactHook(ctx context.Context, req *connect.Request[flagopsv1.CreateFactHookRequest]) (*connect.Response[flagopsv1.CreateFactHookResponse], error) {
	fh, tok, err := h.svc.CreateFactHook(ctx, req.Msg.GetWorkspace(), req.Msg.GetName(), req.Msg.GetScopes())
	if err != nil {
		return nil, err
	}
	return connect.NewResponse(&flagopsv1.CreateFactHookResponse{Hook: factHookOut(fh), Token: tok}), nil
}

func (h *WebhookHandler) ListFactHooks(ctx context.Context, req *connect.Request[flagopsv1.ListFactHooksRequest]) (*connect.Response[flagopsv1.ListFactHooksResponse], error) {
	list, err := h.svc.ListFactHooks(ctx, req.Msg.GetWorkspace())
	if err != nil {
		return nil, err
	}
	out := &flagopsv1.ListFactHooksResponse{}
	for _, fh := range list {
		out.Hooks = append(out.Hooks, factHookOut(fh))
	}
	return connect.NewResponse(out), nil
}

func (h *WebhookHandler) DeleteFactHook(ctx context.Context, req *connect.Request[flagopsv1.DeleteFactHookRequest]) (*connect.Response[flagopsv1.DeleteFactHookResponse], error) {
	if err := h.svc.DeleteFactHook(ctx, req.Msg.GetWorkspace(), req.Msg.GetName()); err != nil {
		return nil, err
	}
	return connect.NewResponse(&flagopsv1.DeleteFactHookResponse{}), nil
}
