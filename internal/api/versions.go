package api

import (
	"context"
	"encoding/json"
	"net/http"

	"connectrpc.com/connect"

	flagopsv1 "github.com/flagops/flagops/gen/flagops/v1"
	"github.com/flagops/flagops/gen/flagops/v1/flagopsv1connect"
	"github.com/flagops/flagops/internal/domain"
	"github.com/flagops/flagops/internal/service"
)

// VersionHandler serves VersionService.
type VersionHandler struct {
	svc *service.Versions
}

var _ flagopsv1connect.VersionServiceHandler = (*VersionHandler)(nil)

// NewVersionHandler returns the VersionService handler on svc.
func NewVersionHandler(svc *service.Versions) *VersionHandler { return &VersionHandler{svc: svc} }

func desiredOut(v domain.DesiredVersion) *flagopsv1.DesiredVersion {
	return &flagopsv1.DesiredVersion{Workspace: v.Workspace, Project: v.Project, Environment: v.Environment, Target: v.Target,
		Version: v.Version, Reason: v.Reason, Actor: v.Actor, Revision: v.Revision, UpdateTime: timeOut(v.UpdatedAt)}
}

func deploymentVersionOut(v domain.DeploymentVersion) *flagopsv1.DeploymentVersion {
	return &flagopsv1.DeploymentVersion{Project: v.Project, Environment: v.Environment, Target: v.Target, Desired: v.Desired,
		Pinned: v.Pinned, Deployed: v.Deployed, Status: v.Status, Message: v.Message, Since: timeOut(v.Since)}
}

func (h *VersionHandler) SetVersion(ctx context.Context, req *connect.Request[flagopsv1.SetVersionRequest]) (*connect.Response[flagopsv1.SetVersionResponse], error) {
	m := req.Msg
	v, rev, err := h.svc.SetVersion(ctx, service.SetVersionRequest{Workspace: m.GetWorkspace(), Project: m.GetProject(), Environment: m.GetEnvironment(),
		Target: m.GetTarget(), Version: m.GetVersion(), Reason: m.GetReason(), Unpin: m.GetUnpin()})
	if err != nil {
		return nil, err
	}
	out := &flagopsv1.SetVersionResponse{Revision: rev}
	if v.Version != "" {
		out.Version = desiredOut(v)
	}
	return connect.NewResponse(out), nil
}

func (h *VersionHandler) GetVersions(ctx context.Context, req *connect.Request[flagopsv1.GetVersionsRequest]) (*connect.Response[flagopsv1.GetVersionsResponse], error) {
	m := req.Msg
	vs, err := h.svc.Get(ctx, service.VersionsRequest{Workspace: m.GetWorkspace(), Project: m.GetProject(), Environment: m.GetEnvironment(), Target: m.GetTarget()})
	if err != nil {
		return nil, err
	}
	return connect.NewResponse(&flagopsv1.GetVersionsResponse{Deployments: mapOut(vs, deploymentVersionOut)}), nil
}

func (h *VersionHandler) ReportVersion(ctx context.Context, req *connect.Request[flagopsv1.ReportVersionRequest]) (*connect.Response[flagopsv1.ReportVersionResponse], error) {
	m := req.Msg
	_, rev, err := h.svc.Report(ctx, m.GetWorkspace(), domain.DeployedVersion{Project: m.GetProject(), Target: m.GetTarget(),
		Version: m.GetVersion(), Status: m.GetStatus(), Message: m.GetMessage()})
	if err != nil {
		return nil, err
	}
	return connect.NewResponse(&flagopsv1.ReportVersionResponse{Revision: rev}), nil
}

func (h *VersionHandler) Rollback(ctx context.Context, req *connect.Request[flagopsv1.RollbackRequest]) (*connect.Response[flagopsv1.RollbackResponse], error) {
	m := req.Msg
	v, rev, err := h.svc.Rollback(ctx, m.GetWorkspace(), m.GetProject(), m.GetEnvironment(), m.GetTarget(), m.GetToVersion(), m.GetReason())
	if err != nil {
		return nil, err
	}
	return connect.NewResponse(&flagopsv1.RollbackResponse{Version: desiredOut(v), Revision: rev}), nil
}

func (h *VersionHandler) Drift(ctx context.Context, req *connect.Request[flagopsv1.DriftRequest]) (*connect.Response[flagopsv1.DriftResponse], error) {
	m := req.Msg
	vs, err := h.svc.Drift(ctx, service.VersionsRequest{Workspace: m.GetWorkspace(), Project: m.GetProject(), Environment: m.GetEnvironment(), Limit: int(m.GetPageSize())})
	if err != nil {
		return nil, err
	}
	return connect.NewResponse(&flagopsv1.DriftResponse{Deployments: mapOut(vs, deploymentVersionOut)}), nil
}

func (h *VersionHandler) VersionHistory(ctx context.Context, req *connect.Request[flagopsv1.VersionHistoryRequest]) (*connect.Response[flagopsv1.VersionHistoryResponse], error) {
	m := req.Msg
	hs, err := h.svc.History(ctx, service.VersionsRequest{Workspace: m.GetWorkspace(), Project: m.GetProject(), Environment: m.GetEnvironment(),
		Target: m.GetTarget(), Limit: int(m.GetPageSize())})
	if err != nil {
		return nil, err
	}
	return connect.NewResponse(&flagopsv1.VersionHistoryResponse{Entries: mapOut(hs, func(e domain.VersionHistoryEntry) *flagopsv1.VersionHistoryEntry {
		return &flagopsv1.VersionHistoryEntry{Version: e.Version, Reason: e.Reason, Actor: e.Actor, Revision: e.Revision, Time: timeOut(e.Time)}
	})}), nil
}

func (h *VersionHandler) SetVersionPolicy(ctx context.Context, req *connect.Request[flagopsv1.SetVersionPolicyRequest]) (*connect.Response[flagopsv1.SetVersionPolicyResponse], error) {
	rev, err := h.svc.SetPolicy(ctx, req.Msg.GetWorkspace(), req.Msg.GetProject(), req.Msg.GetRequireRelease())
	if err != nil {
		return nil, err
	}
	return connect.NewResponse(&flagopsv1.SetVersionPolicyResponse{Revision: rev}), nil
}

// ResolveRoute is the plain HTTP route a new machine curls to learn which
// binary to run; it is registered with Route, so auth.Authorize sees it.
const ResolveRoute = "GET /v1/resolve/{project}/{environment}"

// ResolveHandler answers ResolveRoute: the environment's desired version
// and its artifact for ?platform= as JSON, or with ?redirect=1 a 302 to the
// artifact URL. ?workspace= selects the workspace (default "default").
func ResolveHandler(svc *service.Versions, opt Options) http.Handler {
	opt.defaults()
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		q := r.URL.Query()
		res, err := svc.Resolve(r.Context(), q.Get("workspace"), r.PathValue("project"), r.PathValue("environment"), q.Get("platform"))
		if err != nil {
			writeError(w, toConnect(r.Context(), opt.Logger, ResolveRoute, err))
			return
		}
		// The answer changes with every version set: caches must ask again.
		w.Header().Set("Cache-Control", "no-store")
		if v := q.Get("redirect"); v == "1" || v == "true" {
			http.Redirect(w, r, res.Artifact.URL, http.StatusFound)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(res)
	})
}
