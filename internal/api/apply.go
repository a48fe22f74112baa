package api

import (
	"context"
	"fmt"

	"connectrpc.com/connect"
	"google.golang.org/protobuf/proto"

	flagopsv1 "github.com/flagops/flagops/gen/flagops/v1"
	"github.com/flagops/flagops/gen/flagops/v1/flagopsv1connect"
	"github.com/flagops/flagops/internal/auth"
	"github.com/flagops/flagops/internal/domain"
	"github.com/flagops/flagops/internal/flag"
	"github.com/flagops/flagops/internal/manifest"
	"github.com/flagops/flagops/internal/service"
)

// ApplyHandler serves ApplyService.
type ApplyHandler struct {
	svc *service.Applier
}

var _ flagopsv1connect.ApplyServiceHandler = (*ApplyHandler)(nil)

// NewApplyHandler returns the ApplyService handler on svc.
func NewApplyHandler(svc *service.Applier) *ApplyHandler { return &ApplyHandler{svc: svc} }

// Apply applies a set of manifests. The interceptor only checked that the
// caller has a valid key (auth.EachObject); every object is authorized here,
// by authorizeWrite, with the policy entry of its own write RPC.
func (h *ApplyHandler) Apply(ctx context.Context, req *connect.Request[flagopsv1.ApplyRequest]) (*connect.Response[flagopsv1.ApplyResponse], error) {
	m := req.Msg
	in := service.ApplyRequest{Workspace: m.GetWorkspace(), DryRun: m.GetDryRun(), Prune: m.GetPrune(),
		PruneKinds: m.GetPruneKinds(), Authorize: authorizeWrite}
	for _, mf := range m.GetManifests() {
		in.Manifests = append(in.Manifests, service.Manifest{Source: mf.GetSource(), Content: mf.GetContent()})
	}
	out, err := h.svc.Apply(ctx, in)
	if err != nil {
		return nil, err
	}
	resp := &flagopsv1.ApplyResponse{Revision: out.Revision, DryRun: out.DryRun, ChangeCount: int32(out.ChangeCount)}
	for _, r := range out.Results {
		resp.Results = append(resp.Results, &flagopsv1.ApplyResult{Source: r.Source, Index: int32(r.Index), Kind: r.Kind,
			Workspace: r.Workspace, Name: r.Name, Action: actionOut(r.Action), ChangedFields: r.ChangedFields})
	}
	return connect.NewResponse(resp), nil
}

func actionOut(a service.ApplyAction) flagopsv1.ApplyAction {
	switch a {
	case service.ApplyCreated:
		return flagopsv1.ApplyAction_APPLY_ACTION_CREATED
	case service.ApplyChanged:
		return flagopsv1.ApplyAction_APPLY_ACTION_CHANGED
	case service.ApplyUnchanged:
		return flagopsv1.ApplyAction_APPLY_ACTION_UNCHANGED
	case service.ApplyDeleted:
		return flagopsv1.ApplyAction_APPLY_ACTION_DELETED
	}
	return flagopsv1.ApplyAction_APPLY_ACTION_UNSPECIFIED
}

// authorizeWrite authorizes one write of an apply exactly as the RPC that
// makes that write alone is authorized: it builds that RPC's request and
// asks auth.Authorize with that RPC's procedure, so the policy table has
// one entry per write however it arrives.
func authorizeWrite(ctx context.Context, w service.ApplyWrite) error {
	procedure, req, err := writeRequest(w)
	if err != nil {
		return err
	}
	return auth.Authorize(ctx, procedure, req)
}

// writeRequest is the request of the write RPC equivalent to w.
func writeRequest(w service.ApplyWrite) (string, proto.Message, error) {
	ws := w.Workspace
	if w.Delete {
		r, ok := w.Object.(domain.ObjectRef)
		if !ok {
			return "", nil, fmt.Errorf("authorize a prune: %T is not an object reference", w.Object)
		}
		return deleteRequest(ws, r)
	}
	switch o := w.Object.(type) {
	case domain.Workspace:
		return flagopsv1connect.CatalogServicePutWorkspaceProcedure, &flagopsv1.PutWorkspaceRequest{Workspace: workspaceOut(o)}, nil
	case domain.Environment:
		return flagopsv1connect.CatalogServicePutEnvironmentProcedure, &flagopsv1.PutEnvironmentRequest{Environment: environmentOut(o)}, nil
	case domain.Target:
		return flagopsv1connect.CatalogServicePutTargetProcedure, &flagopsv1.PutTargetRequest{Target: targetOut(o)}, nil
	case domain.EnvironmentSet:
		return flagopsv1connect.CatalogServicePutEnvironmentSetProcedure, &flagopsv1.PutEnvironmentSetRequest{EnvironmentSet: environmentSetOut(o)}, nil
	case domain.Project:
		return flagopsv1connect.CatalogServicePutProjectProcedure, &flagopsv1.PutProjectRequest{Project: projectOut(o)}, nil
	case manifest.Facts:
		return flagopsv1connect.FactServiceSetFactsProcedure, &flagopsv1.SetFactsRequest{Workspace: ws, Scope: o.Scope.String()}, nil
	case flag.Flag:
		m, err := flagOut(o)
		return flagopsv1connect.FlagServicePutFlagProcedure, &flagopsv1.PutFlagRequest{Workspace: ws, Flag: m}, err
	case flag.Segment:
		m, err := segmentOut(o)
		return flagopsv1connect.FlagServicePutSegmentProcedure, &flagopsv1.PutSegmentRequest{Workspace: ws, Segment: m}, err
	case domain.Release:
		o.Workspace = ws
		return flagopsv1connect.ReleaseServiceCreateReleaseProcedure, &flagopsv1.CreateReleaseRequest{Release: releaseOut(o)}, nil
	case domain.PromotionPolicy:
		o.Workspace = ws
		return flagopsv1connect.PromotionServicePutPromotionPolicyProcedure, &flagopsv1.PutPromotionPolicyRequest{Policy: policyOut(o)}, nil
	}
	return "", nil, fmt.Errorf("authorize an apply: no write RPC for %T", w.Object)
}

// deleteRequest is the request of the delete RPC of a pruned object.
func deleteRequest(ws string, r domain.ObjectRef) (string, proto.Message, error) {
	switch r.Kind {
	case domain.KindEnvironment:
		return flagopsv1connect.CatalogServiceDeleteEnvironmentProcedure, &flagopsv1.DeleteEnvironmentRequest{Workspace: ws, Name: r.Name}, nil
	case domain.KindTarget:
		return flagopsv1connect.CatalogServiceDeleteTargetProcedure, &flagopsv1.DeleteTargetRequest{Workspace: ws, Name: r.Name}, nil
	case domain.KindEnvironmentSet:
		return flagopsv1connect.CatalogServiceDeleteEnvironmentSetProcedure, &flagopsv1.DeleteEnvironmentSetRequest{Workspace: ws, Name: r.Name}, nil
	case domain.KindProject:
		return flagopsv1connect.CatalogServiceDeleteProjectProcedure, &flagopsv1.DeleteProjectRequest{Workspace: ws, Name: r.Name}, nil
	case domain.KindFlag:
		return flagopsv1connect.FlagServiceDeleteFlagProcedure, &flagopsv1.DeleteFlagRequest{Workspace: ws, Project: r.Project, Key: r.Name}, nil
	case domain.KindSegment:
		return flagopsv1connect.FlagServiceDeleteSegmentProcedure, &flagopsv1.DeleteSegmentRequest{Workspace: ws, Project: r.Project, Key: r.Name}, nil
	case domain.KindPromotionPolicy:
		return flagopsv1connect.PromotionServiceDeletePromotionPolicyProcedure,
			&flagopsv1.DeletePromotionPolicyRequest{Workspace: ws, Project: r.Project, From: r.From, To: r.To}, nil
	case domain.KindFact:
		return flagopsv1connect.FactServiceUnsetFactsProcedure, &flagopsv1.UnsetFactsRequest{Workspace: ws, Scope: r.Scope.String(), Keys: []string{r.Name}}, nil
	}
	return "", nil, fmt.Errorf("authorize a prune: no delete RPC for kind %q", r.Kind)
}
