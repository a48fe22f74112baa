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

// CatalogHandler serves CatalogService. Errors are returned as the service
// made them; the interceptor maps them to codes.
type CatalogHandler struct {
	svc *service.Catalog
}

var _ flagopsv1connect.CatalogServiceHandler = (*CatalogHandler)(nil)

// NewCatalogHandler returns the CatalogService handler on svc.
func NewCatalogHandler(svc *service.Catalog) *CatalogHandler { return &CatalogHandler{svc: svc} }

func ref(ws, name string) service.Ref { return service.Ref{Workspace: ws, Name: name} }

func del(ws, name string, force bool, expected *int64) service.DeleteRequest {
	return service.DeleteRequest{Ref: ref(ws, name), Force: force, Expected: expected}
}

func list(ws string, size int32, token string) service.ListRequest {
	return service.ListRequest{Workspace: ws, PageSize: int(size), PageToken: token}
}

func (h *CatalogHandler) PutWorkspace(ctx context.Context, req *connect.Request[flagopsv1.PutWorkspaceRequest]) (*connect.Response[flagopsv1.PutWorkspaceResponse], error) {
	w, op, err := h.svc.PutWorkspace(ctx, domain.Workspace{Meta: metaIn(req.Msg.GetWorkspace().GetMeta())}, req.Msg.ExpectedRevision)
	if err != nil {
		return nil, err
	}
	return connect.NewResponse(&flagopsv1.PutWorkspaceResponse{Workspace: workspaceOut(w), Operation: opOut(op)}), nil
}

func (h *CatalogHandler) GetWorkspace(ctx context.Context, req *connect.Request[flagopsv1.GetWorkspaceRequest]) (*connect.Response[flagopsv1.GetWorkspaceResponse], error) {
	w, err := h.svc.GetWorkspace(ctx, req.Msg.GetName())
	if err != nil {
		return nil, err
	}
	return connect.NewResponse(&flagopsv1.GetWorkspaceResponse{Workspace: workspaceOut(w)}), nil
}

func (h *CatalogHandler) ListWorkspaces(ctx context.Context, req *connect.Request[flagopsv1.ListWorkspacesRequest]) (*connect.Response[flagopsv1.ListWorkspacesResponse], error) {
	ws, next, err := h.svc.ListWorkspaces(ctx, list("", req.Msg.GetPageSize(), req.Msg.GetPageToken()))
	if err != nil {
		return nil, err
	}
	return connect.NewResponse(&flagopsv1.ListWorkspacesResponse{Workspaces: mapOut(ws, workspaceOut), NextPageToken: next}), nil
}

func (h *CatalogHandler) DeleteWorkspace(ctx context.Context, req *connect.Request[flagopsv1.DeleteWorkspaceRequest]) (*connect.Response[flagopsv1.DeleteWorkspaceResponse], error) {
	m := req.Msg
	if err := h.svc.DeleteWorkspace(ctx, del("", m.GetName(), m.GetForce(), m.ExpectedRevision)); err != nil {
		return nil, err
	}
	return connect.NewResponse(&flagopsv1.DeleteWorkspaceResponse{}), nil
}

func (h *CatalogHandler) PutEnvironment(ctx context.Context, req *connect.Request[flagopsv1.PutEnvironmentRequest]) (*connect.Response[flagopsv1.PutEnvironmentResponse], error) {
	e, op, err := h.svc.PutEnvironment(ctx, domain.Environment{Meta: metaIn(req.Msg.GetEnvironment().GetMeta())}, req.Msg.ExpectedRevision)
	if err != nil {
		return nil, err
	}
	return connect.NewResponse(&flagopsv1.PutEnvironmentResponse{Environment: environmentOut(e), Operation: opOut(op)}), nil
}

func (h *CatalogHandler) GetEnvironment(ctx context.Context, req *connect.Request[flagopsv1.GetEnvironmentRequest]) (*connect.Response[flagopsv1.GetEnvironmentResponse], error) {
	e, err := h.svc.GetEnvironment(ctx, ref(req.Msg.GetWorkspace(), req.Msg.GetName()))
	if err != nil {
		return nil, err
	}
	return connect.NewResponse(&flagopsv1.GetEnvironmentResponse{Environment: environmentOut(e)}), nil
}

func (h *CatalogHandler) ListEnvironments(ctx context.Context, req *connect.Request[flagopsv1.ListEnvironmentsRequest]) (*connect.Response[flagopsv1.ListEnvironmentsResponse], error) {
	m := req.Msg
	es, next, err := h.svc.ListEnvironments(ctx, list(m.GetWorkspace(), m.GetPageSize(), m.GetPageToken()))
	if err != nil {
		return nil, err
	}
	return connect.NewResponse(&flagopsv1.ListEnvironmentsResponse{Environments: mapOut(es, environmentOut), NextPageToken: next}), nil
}

func (h *CatalogHandler) DeleteEnvironment(ctx context.Context, req *connect.Request[flagopsv1.DeleteEnvironmentRequest]) (*connect.Response[flagopsv1.DeleteEnvironmentResponse], error) {
	m := req.Msg
	if err := h.svc.DeleteEnvironment(ctx, del(m.GetWorkspace(), m.GetName(), m.GetForce(), m.ExpectedRevision)); err != nil {
		return nil, err
	}
	return connect.NewResponse(&flagopsv1.DeleteEnvironmentResponse{}), nil
}

func (h *CatalogHandler) PutTarget(ctx context.Context, req *connect.Request[flagopsv1.PutTargetRequest]) (*connect.Response[flagopsv1.PutTargetResponse], error) {
	in := req.Msg.GetTarget()
	t, op, err := h.svc.PutTarget(ctx, domain.Target{Meta: metaIn(in.GetMeta()), Environment: in.GetEnvironment()}, req.Msg.ExpectedRevision)
	if err != nil {
		return nil, err
	}
	return connect.NewResponse(&flagopsv1.PutTargetResponse{Target: targetOut(t), Operation: opOut(op)}), nil
}

func (h *CatalogHandler) GetTarget(ctx context.Context, req *connect.Request[flagopsv1.GetTargetRequest]) (*connect.Response[flagopsv1.GetTargetResponse], error) {
	t, err := h.svc.GetTarget(ctx, ref(req.Msg.GetWorkspace(), req.Msg.GetName()))
	if err != nil {
		return nil, err
	}
	return connect.NewResponse(&flagopsv1.GetTargetResponse{Target: targetOut(t)}), nil
}

func (h *CatalogHandler) ListTargets(ctx context.Context, req *connect.Request[flagopsv1.ListTargetsRequest]) (*connect.Response[flagopsv1.ListTargetsResponse], error) {
	m := req.Msg
	ts, next, err := h.svc.ListTargets(ctx, list(m.GetWorkspace(), m.GetPageSize(), m.GetPageToken()))
	if err != nil {
		return nil, err
	}
	return connect.NewResponse(&flagopsv1.ListTargetsResponse{Targets: mapOut(ts, targetOut), NextPageToken: next}), nil
}

func (h *CatalogHandler) DeleteTarget(ctx context.Context, req *connect.Request[flagopsv1.DeleteTargetRequest]) (*connect.Response[flagopsv1.DeleteTargetResponse], error) {
	m := req.Msg
	if err := h.svc.DeleteTarget(ctx, del(m.GetWorkspace(), m.GetName(), m.GetForce(), m.ExpectedRevision)); err != nil {
		return nil, err
	}
	return connect.NewResponse(&flagopsv1.DeleteTargetResponse{}), nil
}

func (h *CatalogHandler) PutEnvironmentSet(ctx context.Context, req *connect.Request[flagopsv1.PutEnvironmentSetRequest]) (*connect.Response[flagopsv1.PutEnvironmentSetResponse], error) {
	in := req.Msg.GetEnvironmentSet()
	s, op, err := h.svc.PutEnvironmentSet(ctx, domain.EnvironmentSet{Meta: metaIn(in.GetMeta()), Environments: in.GetEnvironments()}, req.Msg.ExpectedRevision)
	if err != nil {
		return nil, err
	}
	return connect.NewResponse(&flagopsv1.PutEnvironmentSetResponse{EnvironmentSet: environmentSetOut(s), Operation: opOut(op)}), nil
}

func (h *CatalogHandler) GetEnvironmentSet(ctx context.Context, req *connect.Request[flagopsv1.GetEnvironmentSetRequest]) (*connect.Response[flagopsv1.GetEnvironmentSetResponse], error) {
	s, err := h.svc.GetEnvironmentSet(ctx, ref(req.Msg.GetWorkspace(), req.Msg.GetName()))
	if err != nil {
		return nil, err
	}
	return connect.NewResponse(&flagopsv1.GetEnvironmentSetResponse{EnvironmentSet: environmentSetOut(s)}), nil
}

func (h *CatalogHandler) ListEnvironmentSets(ctx context.Context, req *connect.Request[flagopsv1.ListEnvironmentSetsRequest]) (*connect.Response[flagopsv1.ListEnvironmentSetsResponse], error) {
	m := req.Msg
	ss, next, err := h.svc.ListEnvironmentSets(ctx, list(m.GetWorkspace(), m.GetPageSize(), m.GetPageToken()))
	if err != nil {
		return nil, err
	}
	return connect.NewResponse(&flagopsv1.ListEnvironmentSetsResponse{EnvironmentSets: mapOut(ss, environmentSetOut), NextPageToken: next}), nil
}

func (h *CatalogHandler) DeleteEnvironmentSet(ctx context.Context, req *connect.Request[flagopsv1.DeleteEnvironmentSetRequest]) (*connect.Response[flagopsv1.DeleteEnvironmentSetResponse], error) {
	m := req.Msg
	if err := h.svc.DeleteEnvironmentSet(ctx, del(m.GetWorkspace(), m.GetName(), m.GetForce(), m.ExpectedRevision)); err != nil {
		return nil, err
	}
	return connect.NewResponse(&flagopsv1.DeleteEnvironmentSetResponse{}), nil
}

func (h *CatalogHandler) PutProject(ctx context.Context, req *connect.Request[flagopsv1.PutProjectRequest]) (*connect.Response[flagopsv1.PutProjectResponse], error) {
	in := req.Msg.GetProject()
	p, op, err := h.svc.PutProject(ctx, domain.Project{Meta: metaIn(in.GetMeta()), Environments: in.GetEnvironments(),
		EnvironmentSets: in.GetEnvironmentSets()}, req.Msg.ExpectedRevision)
	if err != nil {
		return nil, err
	}
	return connect.NewResponse(&flagopsv1.PutProjectResponse{Project: projectOut(p), Operation: opOut(op)}), nil
}

func (h *CatalogHandler) GetProject(ctx context.Context, req *connect.Request[flagopsv1.GetProjectRequest]) (*connect.Response[flagopsv1.GetProjectResponse], error) {
	p, err := h.svc.GetProject(ctx, ref(req.Msg.GetWorkspace(), req.Msg.GetName()))
	if err != nil {
		return nil, err
	}
	return connect.NewResponse(&flagopsv1.GetProjectResponse{Project: projectOut(p)}), nil
}

func (h *CatalogHandler) ListProjects(ctx context.Context, req *connect.Request[flagopsv1.ListProjectsRequest]) (*connect.Response[flagopsv1.ListProjectsResponse], error) {
	m := req.Msg
	ps, next, err := h.svc.ListProjects(ctx, list(m.GetWorkspace(), m.GetPageSize(), m.GetPageToken()))
	if err != nil {
		return nil, err
	}
	return connect.NewResponse(&flagopsv1.ListProjectsResponse{Projects: mapOut(ps, projectOut), NextPageToken: next}), nil
}

func (h *CatalogHandler) DeleteProject(ctx context.Context, req *connect.Request[flagopsv1.DeleteProjectRequest]) (*connect.Response[flagopsv1.DeleteProjectResponse], error) {
	m := req.Msg
	if err := h.svc.DeleteProject(ctx, del(m.GetWorkspace(), m.GetName(), m.GetForce(), m.ExpectedRevision)); err != nil {
		return nil, err
	}
	return connect.NewResponse(&flagopsv1.DeleteProjectResponse{}), nil
}

func (h *CatalogHandler) GetDeployment(ctx context.Context, req *connect.Request[flagopsv1.GetDeploymentRequest]) (*connect.Response[flagopsv1.GetDeploymentResponse], error) {
	m := req.Msg
	d, err := h.svc.GetDeployment(ctx, m.GetWorkspace(), m.GetProject(), m.GetTarget())
	if err != nil {
		return nil, err
	}
	return connect.NewResponse(&flagopsv1.GetDeploymentResponse{Deployment: deploymentOut(d)}), nil
}

func (h *CatalogHandler) ListDeployments(ctx context.Context, req *connect.Request[flagopsv1.ListDeploymentsRequest]) (*connect.Response[flagopsv1.ListDeploymentsResponse], error) {
	m := req.Msg
	f := store.DeploymentFilter{Project: m.GetProject(), Environment: m.GetEnvironment(), Target: m.GetTarget()}
	ds, next, err := h.svc.ListDeployments(ctx, list(m.GetWorkspace(), m.GetPageSize(), m.GetPageToken()), f)
	if err != nil {
		return nil, err
	}
	return connect.NewResponse(&flagopsv1.ListDeploymentsResponse{Deployments: mapOut(ds, deploymentOut), NextPageToken: next}), nil
}
