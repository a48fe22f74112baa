package api

import (
	"context"
	"fmt"

	"connectrpc.com/connect"
	"google.golang.org/protobuf/types/known/durationpb"

	flagopsv1 "github.com/flagops/flagops/gen/flagops/v1"
	"github.com/flagops/flagops/gen/flagops/v1/flagopsv1connect"
	"github.com/flagops/flagops/internal/domain"
	"github.com/flagops/flagops/internal/errs"
	"github.com/flagops/flagops/internal/service"
)

// PromotionHandler serves PromotionService.
type PromotionHandler struct {
	svc *service.Promotions
}

var _ flagopsv1connect.PromotionServiceHandler = (*PromotionHandler)(nil)

// NewPromotionHandler returns the PromotionService handler on svc.
func NewPromotionHandler(svc *service.Promotions) *PromotionHandler {
	return &PromotionHandler{svc: svc}
}

func promotionOut(p domain.Promotion) *flagopsv1.Promotion {
	return &flagopsv1.Promotion{Id: p.ID, Workspace: p.Workspace, Project: p.Project, From: p.From, To: p.To, Version: p.Version,
		Trigger: p.Trigger, Slot: p.Slot, State: p.State, Reason: p.Reason, Actor: p.Actor, Approver: p.Approver, Comment: p.Comment,
		Revisions: p.Revisions, CreateTime: timeOut(p.CreatedAt), UpdateTime: timeOut(p.UpdatedAt)}
}

func windowsIn(field string, in []*flagopsv1.Window) ([]domain.Window, error) {
	var out []domain.Window
	for i, w := range in {
		f := fmt.Sprintf("%s[%d]", field, i)
		start, err := timeIn(f+".start", w.GetStart())
		if err != nil {
			return nil, err
		}
		end, err := timeIn(f+".end", w.GetEnd())
		if err != nil {
			return nil, err
		}
		out = append(out, domain.Window{Start: start, End: end, Days: w.GetDays(), From: w.GetFrom(), To: w.GetTo(), Reason: w.GetReason()})
	}
	return out, nil
}

func windowsOut(in []domain.Window) []*flagopsv1.Window {
	return mapOut(in, func(w domain.Window) *flagopsv1.Window {
		return &flagopsv1.Window{Start: timeOut(w.Start), End: timeOut(w.End), Days: w.Days, From: w.From, To: w.To, Reason: w.Reason}
	})
}

func policyIn(p *flagopsv1.PromotionPolicy) (domain.PromotionPolicy, error) {
	out := domain.PromotionPolicy{Workspace: p.GetWorkspace(), Project: p.GetProject(), From: p.GetFrom(), To: p.GetTo(),
		Schedule: p.GetSchedule(), Timezone: p.GetTimezone(), RequireApproval: p.GetRequireApproval(), Disabled: p.GetDisabled()}
	if s := p.GetSoak(); s != nil {
		if err := s.CheckValid(); err != nil {
			return out, errs.Field("policy.soak", "is not a valid duration")
		}
		out.Soak = s.AsDuration()
	}
	var err error
	if out.AllowedWindows, err = windowsIn("policy.allowedWindows", p.GetAllowedWindows()); err != nil {
		return out, err
	}
	out.FreezeWindows, err = windowsIn("policy.freezeWindows", p.GetFreezeWindows())
	return out, err
}

func policyOut(p domain.PromotionPolicy) *flagopsv1.PromotionPolicy {
	out := &flagopsv1.PromotionPolicy{Workspace: p.Workspace, Project: p.Project, From: p.From, To: p.To, Schedule: p.Schedule,
		Timezone: p.Timezone, AllowedWindows: windowsOut(p.AllowedWindows), FreezeWindows: windowsOut(p.FreezeWindows),
		RequireApproval: p.RequireApproval, Disabled: p.Disabled, Revision: p.Revision}
	if p.Soak > 0 {
		out.Soak = durationpb.New(p.Soak)
	}
	return out
}

func holdOut(h domain.Hold) *flagopsv1.Hold {
	return &flagopsv1.Hold{Workspace: h.Workspace, Project: h.Project, Environment: h.Environment, Reason: h.Reason, Actor: h.Actor, Since: timeOut(h.Since)}
}

func (h *PromotionHandler) Promote(ctx context.Context, req *connect.Request[flagopsv1.PromoteRequest]) (*connect.Response[flagopsv1.PromoteResponse], error) {
	m := req.Msg
	p, err := h.svc.Promote(ctx, m.GetWorkspace(), m.GetProject(), m.GetFrom(), m.GetTo())
	if err != nil {
		return nil, err
	}
	return connect.NewResponse(&flagopsv1.PromoteResponse{Promotion: promotionOut(p)}), nil
}

func (h *PromotionHandler) ListPromotions(ctx context.Context, req *connect.Request[flagopsv1.ListPromotionsRequest]) (*connect.Response[flagopsv1.ListPromotionsResponse], error) {
	m := req.Msg
	ps, err := h.svc.List(ctx, service.PromotionsRequest{Workspace: m.GetWorkspace(), Project: m.GetProject(), To: m.GetTo(), States: m.GetStates(), Limit: int(m.GetPageSize())})
	if err != nil {
		return nil, err
	}
	return connect.NewResponse(&flagopsv1.ListPromotionsResponse{Promotions: mapOut(ps, promotionOut)}), nil
}

func (h *PromotionHandler) ApprovePromotion(ctx context.Context, req *connect.Request[flagopsv1.ApprovePromotionRequest]) (*connect.Response[flagopsv1.ApprovePromotionResponse], error) {
	p, err := h.svc.Approve(ctx, req.Msg.GetWorkspace(), req.Msg.GetId(), req.Msg.GetComment())
	if err != nil {
		return nil, err
	}
	return connect.NewResponse(&flagopsv1.ApprovePromotionResponse{Promotion: promotionOut(p)}), nil
}

func (h *PromotionHandler) RejectPromotion(ctx context.Context, req *connect.Request[flagopsv1.RejectPromotionRequest]) (*connect.Response[flagopsv1.RejectPromotionResponse], error) {
	p, err := h.svc.Reject(ctx, req.Msg.GetWorkspace(), req.Msg.GetId(), req.Msg.GetComment())
	if err != nil {
		return nil, err
	}
	return connect.NewResponse(&flagopsv1.RejectPromotionResponse{Promotion: promotionOut(p)}), nil
}

func (h *PromotionHandler) PutPromotionPolicy(ctx context.Context, req *connect.Request[flagopsv1.PutPromotionPolicyRequest]) (*connect.Response[flagopsv1.PutPromotionPolicyResponse], error) {
	pol, err := policyIn(req.Msg.GetPolicy())
	if err != nil {
		return nil, err
	}
	out, op, err := h.svc.PutPolicy(ctx, pol.Workspace, pol)
	if err != nil {
		return nil, err
	}
	return connect.NewResponse(&flagopsv1.PutPromotionPolicyResponse{Policy: policyOut(out), Operation: opOut(op)}), nil
}

func (h *PromotionHandler) ListPromotionPolicies(ctx context.Context, req *connect.Request[flagopsv1.ListPromotionPoliciesRequest]) (*connect.Response[flagopsv1.ListPromotionPoliciesResponse], error) {
	ps, err := h.svc.ListPolicies(ctx, req.Msg.GetWorkspace(), req.Msg.GetProject())
	if err != nil {
		return nil, err
	}
	return connect.NewResponse(&flagopsv1.ListPromotionPoliciesResponse{Policies: mapOut(ps, policyOut)}), nil
}

func (h *PromotionHandler) DeletePromotionPolicy(ctx context.Context, req *connect.Request[flagopsv1.DeletePromotionPolicyRequest]) (*connect.Response[flagopsv1.DeletePromotionPolicyResponse], error) {
	m := req.Msg
	if err := h.svc.DeletePolicy(ctx, m.GetWorkspace(), m.GetProject(), m.GetFrom(), m.GetTo()); err != nil {
		return nil, err
	}
	return connect.NewResponse(&flagopsv1.DeletePromotionPolicyResponse{}), nil
}

func (h *PromotionHandler) SetHold(ctx context.Context, req *connect.Request[flagopsv1.SetHoldRequest]) (*connect.Response[flagopsv1.SetHoldResponse], error) {
	hd := req.Msg.GetHold()
	rev, err := h.svc.SetHold(ctx, domain.Hold{Workspace: hd.GetWorkspace(), Project: hd.GetProject(), Environment: hd.GetEnvironment(), Reason: hd.GetReason()}, req.Msg.GetOn())
	if err != nil {
		return nil, err
	}
	return connect.NewResponse(&flagopsv1.SetHoldResponse{Revision: rev}), nil
}

func (h *PromotionHandler) ListHolds(ctx context.Context, req *connect.Request[flagopsv1.ListHoldsRequest]) (*connect.Response[flagopsv1.ListHoldsResponse], error) {
	hs, err := h.svc.Holds(ctx, req.Msg.GetWorkspace())
	if err != nil {
		return nil, err
	}
	return connect.NewResponse(&flagopsv1.ListHoldsResponse{Holds: mapOut(hs, holdOut)}), nil
}
