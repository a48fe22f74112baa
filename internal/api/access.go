package api

import (
	"context"

	"connectrpc.com/connect"

	flagopsv1 "github.com/flagops/flagops/gen/flagops/v1"
	"github.com/flagops/flagops/gen/flagops/v1/flagopsv1connect"
	"github.com/flagops/flagops/internal/auth"
	"github.com/flagops/flagops/internal/domain"
	"github.com/flagops/flagops/internal/service"
)

// AccessHandler serves AccessService. The token leaves the server once, in
// CreateKeyResponse.
type AccessHandler struct {
	svc *service.Access
}

var _ flagopsv1connect.AccessServiceHandler = (*AccessHandler)(nil)

// NewAccessHandler returns the AccessService handler on svc.
func NewAccessHandler(svc *service.Access) *AccessHandler { return &AccessHandler{svc: svc} }

func keyOut(k domain.APIKey) *flagopsv1.APIKey {
	out := &flagopsv1.APIKey{Id: k.ID, Name: k.Name, CreateTime: timeOut(k.CreatedAt), CreatedBy: k.CreatedBy, Revision: k.Revision}
	if !k.ExpiresAt.IsZero() {
		out.ExpireTime = timeOut(k.ExpiresAt)
	}
	if !k.LastUsedAt.IsZero() {
		out.LastUsedTime = timeOut(k.LastUsedAt)
	}
	if !k.RevokedAt.IsZero() {
		out.RevokeTime = timeOut(k.RevokedAt)
	}
	for _, b := range k.Bindings {
		out.Bindings = append(out.Bindings, &flagopsv1.Binding{Role: string(b.Role), Workspace: b.Workspace, Scope: b.Scope.String()})
	}
	return out
}

func (h *AccessHandler) CreateKey(ctx context.Context, req *connect.Request[flagopsv1.CreateKeyRequest]) (*connect.Response[flagopsv1.CreateKeyResponse], error) {
	m := req.Msg
	expires, err := timeIn("expire_time", m.GetExpireTime())
	if err != nil {
		return nil, err
	}
	in := make([]service.BindingIn, len(m.GetBindings()))
	for i, b := range m.GetBindings() {
		in[i] = service.BindingIn{Role: b.GetRole(), Workspace: b.GetWorkspace(), Scope: b.GetScope()}
	}
	k, token, err := h.svc.Create(ctx, m.GetName(), in, expires)
	if err != nil {
		return nil, err
	}
	return connect.NewResponse(&flagopsv1.CreateKeyResponse{Key: keyOut(k), Token: token}), nil
}

func (h *AccessHandler) ListKeys(ctx context.Context, _ *connect.Request[flagopsv1.ListKeysRequest]) (*connect.Response[flagopsv1.ListKeysResponse], error) {
	keys, err := h.svc.List(ctx)
	if err != nil {
		return nil, err
	}
	return connect.NewResponse(&flagopsv1.ListKeysResponse{Keys: mapOut(keys, keyOut)}), nil
}

func (h *AccessHandler) RevokeKey(ctx context.Context, req *connect.Request[flagopsv1.RevokeKeyRequest]) (*connect.Response[flagopsv1.RevokeKeyResponse], error) {
	k, err := h.svc.Revoke(ctx, req.Msg.GetKey())
	if err != nil {
		return nil, err
	}
	return connect.NewResponse(&flagopsv1.RevokeKeyResponse{Key: keyOut(k)}), nil
}

func (h *AccessHandler) WhoAmI(ctx context.Context, _ *connect.Request[flagopsv1.WhoAmIRequest]) (*connect.Response[flagopsv1.WhoAmIResponse], error) {
	p, _ := auth.PrincipalFrom(ctx)
	out := &flagopsv1.WhoAmIResponse{Actor: p.Actor, Insecure: p.Insecure}
	if p.Key.ID != "" {
		out.Key = keyOut(p.Key)
	}
	return connect.NewResponse(out), nil
}
