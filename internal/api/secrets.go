package api

import (
	"context"

	"connectrpc.com/connect"

	flagopsv1 "github.com/flagops/flagops/gen/flagops/v1"
	"github.com/flagops/flagops/gen/flagops/v1/flagopsv1connect"
	"github.com/flagops/flagops/internal/domain"
	"github.com/flagops/flagops/internal/service"
	"github.com/flagops/flagops/internal/store"
)

// SecretHandler serves SecretService. Values appear only in the responses
// of GetSecret and ReadDeploymentSecrets; nothing here logs a request.
type SecretHandler struct {
	svc *service.Secrets
}

var _ flagopsv1connect.SecretServiceHandler = (*SecretHandler)(nil)

// NewSecretHandler returns the SecretService handler on svc.
func NewSecretHandler(svc *service.Secrets) *SecretHandler { return &SecretHandler{svc: svc} }

func secretOut(s domain.Secret, source string) *flagopsv1.Secret {
	return &flagopsv1.Secret{Scope: s.Scope.String(), Key: s.Key, Version: s.Version, Fingerprint: s.Fingerprint,
		Deleted: s.Deleted, Revision: s.Revision, UpdateTime: timeOut(s.UpdatedAt), Source: source}
}

func secretRef(ws, scope, key string) service.SecretRef {
	return service.SecretRef{Workspace: ws, Scope: scope, Key: key}
}

func (h *SecretHandler) PutSecret(ctx context.Context, req *connect.Request[flagopsv1.PutSecretRequest]) (*connect.Response[flagopsv1.PutSecretResponse], error) {
	m := req.Msg
	s, err := h.svc.Put(ctx, secretRef(m.GetWorkspace(), m.GetScope(), m.GetKey()), m.GetValue(), m.Cas)
	if err != nil {
		return nil, err
	}
	return connect.NewResponse(&flagopsv1.PutSecretResponse{Secret: secretOut(s, "")}), nil
}

func (h *SecretHandler) GetSecret(ctx context.Context, req *connect.Request[flagopsv1.GetSecretRequest]) (*connect.Response[flagopsv1.GetSecretResponse], error) {
	m := req.Msg
	s, value, v, err := h.svc.Get(ctx, secretRef(m.GetWorkspace(), m.GetScope(), m.GetKey()), m.GetVersion())
	if err != nil {
		return nil, err
	}
	return connect.NewResponse(&flagopsv1.GetSecretResponse{Secret: secretOut(s, ""), Version: v, Value: value}), nil
}

func (h *SecretHandler) ListSecrets(ctx context.Context, req *connect.Request[flagopsv1.ListSecretsRequest]) (*connect.Response[flagopsv1.ListSecretsResponse], error) {
	list, err := h.svc.List(ctx, req.Msg.GetWorkspace(), req.Msg.GetScope())
	if err != nil {
		return nil, err
	}
	return connect.NewResponse(&flagopsv1.ListSecretsResponse{Secrets: mapOut(list, func(s domain.Secret) *flagopsv1.Secret { return secretOut(s, "") })}), nil
}

func (h *SecretHandler) ListSecretVersions(ctx context.Context, req *connect.Request[flagopsv1.ListSecretVersionsRequest]) (*connect.Response[flagopsv1.ListSecretVersionsResponse], error) {
	m := req.Msg
	list, err := h.svc.Versions(ctx, secretRef(m.GetWorkspace(), m.GetScope(), m.GetKey()))
	if err != nil {
		return nil, err
	}
	return connect.NewResponse(&flagopsv1.ListSecretVersionsResponse{Versions: mapOut(list, func(v domain.SecretVersion) *flagopsv1.SecretVersion {
		return &flagopsv1.SecretVersion{Version: v.Version, Fingerprint: v.Fingerprint, CreateTime: timeOut(v.CreatedAt),
			CreatedBy: v.CreatedBy, Destroyed: v.Destroyed, Revision: v.Revision}
	})}), nil
}

func (h *SecretHandler) DeleteSecret(ctx context.Context, req *connect.Request[flagopsv1.DeleteSecretRequest]) (*connect.Response[flagopsv1.DeleteSecretResponse], error) {
	m := req.Msg
	s, err := h.svc.Delete(ctx, secretRef(m.GetWorkspace(), m.GetScope(), m.GetKey()), m.Cas)
	if err != nil {
		return nil, err
	}
	return connect.NewResponse(&flagopsv1.DeleteSecretResponse{Secret: secretOut(s, "")}), nil
}

func (h *SecretHandler) RestoreSecret(ctx context.Context, req *connect.Request[flagopsv1.RestoreSecretRequest]) (*connect.Response[flagopsv1.RestoreSecretResponse], error) {
	m := req.Msg
	s, err := h.svc.Restore(ctx, secretRef(m.GetWorkspace(), m.GetScope(), m.GetKey()))
	if err != nil {
		return nil, err
	}
	return connect.NewResponse(&flagopsv1.RestoreSecretResponse{Secret: secretOut(s, "")}), nil
}

func (h *SecretHandler) DestroySecretVersion(ctx context.Context, req *connect.Request[flagopsv1.DestroySecretVersionRequest]) (*connect.Response[flagopsv1.DestroySecretVersionResponse], error) {
	m := req.Msg
	s, err := h.svc.Destroy(ctx, secretRef(m.GetWorkspace(), m.GetScope(), m.GetKey()), m.GetVersion())
	if err != nil {
		return nil, err
	}
	return connect.NewResponse(&flagopsv1.DestroySecretVersionResponse{Secret: secretOut(s, "")}), nil
}

func (h *SecretHandler) ListSecretReads(ctx context.Context, req *connect.Request[flagopsv1.ListSecretReadsRequest]) (*connect.Response[flagopsv1.ListSecretReadsResponse], error) {
	m := req.Msg
	since, err := timeIn("since", m.GetSince())
	if err != nil {
		return nil, err
	}
	reads, err := h.svc.Reads(ctx, store.SecretReadQuery{Workspace: m.GetWorkspace(), Scope: m.GetScope(), Key: m.GetKey(), Since: since, Limit: int(m.GetLimit())})
	if err != nil {
		return nil, err
	}
	return connect.NewResponse(&flagopsv1.ListSecretReadsResponse{Reads: mapOut(reads, func(r domain.SecretRead) *flagopsv1.SecretRead {
		return &flagopsv1.SecretRead{Time: timeOut(r.Time), Actor: r.Actor, RequestId: r.RequestID, Workspace: r.Workspace,
			Scope: r.Scope, Key: r.Key, Version: r.Version}
	})}), nil
}

func (h *SecretHandler) ResolveSecrets(ctx context.Context, req *connect.Request[flagopsv1.ResolveSecretsRequest]) (*connect.Response[flagopsv1.ResolveSecretsResponse], error) {
	m := req.Msg
	list, err := h.svc.Resolve(ctx, m.GetWorkspace(), m.GetProject(), m.GetTarget())
	if err != nil {
		return nil, err
	}
	return connect.NewResponse(&flagopsv1.ResolveSecretsResponse{Secrets: mapOut(list, func(r store.ResolvedSecret) *flagopsv1.Secret {
		return secretOut(r.Secret, r.Source)
	})}), nil
}

func (h *SecretHandler) ReadDeploymentSecrets(ctx context.Context, req *connect.Request[flagopsv1.ReadDeploymentSecretsRequest]) (*connect.Response[flagopsv1.ReadDeploymentSecretsResponse], error) {
	m := req.Msg
	list, err := h.svc.ReadResolved(ctx, m.GetWorkspace(), m.GetProject(), m.GetTarget())
	if err != nil {
		return nil, err
	}
	return connect.NewResponse(&flagopsv1.ReadDeploymentSecretsResponse{Secrets: mapOut(list, func(r service.ResolvedValue) *flagopsv1.ResolvedSecretValue {
		return &flagopsv1.ResolvedSecretValue{Secret: secretOut(r.Secret, r.Source), Value: r.Value}
	})}), nil
}

func (h *SecretHandler) RotateMasterKey(ctx context.Context, _ *connect.Request[flagopsv1.RotateMasterKeyRequest]) (*connect.Response[flagopsv1.RotateMasterKeyResponse], error) {
	r, err := h.svc.RotateMasterKey(ctx)
	if err != nil {
		return nil, err
	}
	return connect.NewResponse(&flagopsv1.RotateMasterKeyResponse{NewKeyId: r.NewKeyID, Rewrapped: int64(r.Rewrapped), RetiredKeyIds: r.Retired}), nil
}
