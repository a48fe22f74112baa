package api

import (
	"context"
	"time"

	"connectrpc.com/connect"

	flagopsv1 "github.com/flagops/flagops/gen/flagops/v1"
	"github.com/flagops/flagops/gen/flagops/v1/flagopsv1connect"
	"github.com/flagops/flagops/internal/auth"
	"github.com/flagops/flagops/internal/errs"
	"github.com/flagops/flagops/internal/ratelimit"
	"github.com/flagops/flagops/internal/service"
	"github.com/flagops/flagops/internal/store"
)

// FlagHandler serves FlagService.
type FlagHandler struct {
	svc   *service.Flags
	limit *ratelimit.Limiter
}

var _ flagopsv1connect.FlagServiceHandler = (*FlagHandler)(nil)

// NewFlagHandler returns the FlagService handler on svc; limit (nil: none)
// bounds Evaluate per key.
func NewFlagHandler(svc *service.Flags, limit *ratelimit.Limiter) *FlagHandler {
	return &FlagHandler{svc: svc, limit: limit}
}

func (h *FlagHandler) PutFlag(ctx context.Context, req *connect.Request[flagopsv1.PutFlagRequest]) (*connect.Response[flagopsv1.PutFlagResponse], error) {
	f, err := flagIn(req.Msg.GetFlag())
	if err != nil {
		return nil, err
	}
	out, op, err := h.svc.PutFlag(ctx, req.Msg.GetWorkspace(), f, req.Msg.ExpectedRevision)
	if err != nil {
		return nil, err
	}
	m, err := flagOut(out)
	if err != nil {
		return nil, err
	}
	return connect.NewResponse(&flagopsv1.PutFlagResponse{Flag: m, Operation: opOut(op)}), nil
}

func (h *FlagHandler) GetFlag(ctx context.Context, req *connect.Request[flagopsv1.GetFlagRequest]) (*connect.Response[flagopsv1.GetFlagResponse], error) {
	m := req.Msg
	f, err := h.svc.GetFlag(ctx, service.FlagRef{Workspace: m.GetWorkspace(), Project: m.GetProject(), Key: m.GetKey()})
	if err != nil {
		return nil, err
	}
	out, err := flagOut(f)
	if err != nil {
		return nil, err
	}
	return connect.NewResponse(&flagopsv1.GetFlagResponse{Flag: out}), nil
}

func (h *FlagHandler) ListFlags(ctx context.Context, req *connect.Request[flagopsv1.ListFlagsRequest]) (*connect.Response[flagopsv1.ListFlagsResponse], error) {
	m := req.Msg
	fs, next, err := h.svc.ListFlags(ctx, service.FlagRef{Workspace: m.GetWorkspace(), Project: m.GetProject()}, int(m.GetPageSize()), m.GetPageToken())
	if err != nil {
		return nil, err
	}
	out, err := flagsOut(fs)
	if err != nil {
		return nil, err
	}
	return connect.NewResponse(&flagopsv1.ListFlagsResponse{Flags: out, NextPageToken: next}), nil
}

func (h *FlagHandler) DeleteFlag(ctx context.Context, req *connect.Request[flagopsv1.DeleteFlagRequest]) (*connect.Response[flagopsv1.DeleteFlagResponse], error) {
	m := req.Msg
	err := h.svc.DeleteFlag(ctx, service.FlagRef{Workspace: m.GetWorkspace(), Project: m.GetProject(), Key: m.GetKey()},
		store.DeleteOptions{Force: m.GetForce(), Expected: m.ExpectedRevision})
	if err != nil {
		return nil, err
	}
	return connect.NewResponse(&flagopsv1.DeleteFlagResponse{}), nil
}

func (h *FlagHandler) PutSegment(ctx context.Context, req *connect.Request[flagopsv1.PutSegmentRequest]) (*connect.Response[flagopsv1.PutSegmentResponse], error) {
	sg, err := segmentIn(req.Msg.GetSegment())
	if err != nil {
		return nil, err
	}
	out, op, err := h.svc.PutSegment(ctx, req.Msg.GetWorkspace(), sg, req.Msg.ExpectedRevision)
	if err != nil {
		return nil, err
	}
	m, err := segmentOut(out)
	if err != nil {
		return nil, err
	}
	return connect.NewResponse(&flagopsv1.PutSegmentResponse{Segment: m, Operation: opOut(op)}), nil
}

func (h *FlagHandler) GetSegment(ctx context.Context, req *connect.Request[flagopsv1.GetSegmentRequest]) (*connect.Response[flagopsv1.GetSegmentResponse], error) {
	m := req.Msg
	sg, err := h.svc.GetSegment(ctx, service.FlagRef{Workspace: m.GetWorkspace(), Project: m.GetProject(), Key: m.GetKey()})
	if err != nil {
		return nil, err
	}
	out, err := segmentOut(sg)
	if err != nil {
		return nil, err
	}
	return connect.NewResponse(&flagopsv1.GetSegmentResponse{Segment: out}), nil
}

func (h *FlagHandler) ListSegments(ctx context.Context, req *connect.Request[flagopsv1.ListSegmentsRequest]) (*connect.Response[flagopsv1.ListSegmentsResponse], error) {
	m := req.Msg
	ss, next, err := h.svc.ListSegments(ctx, service.FlagRef{Workspace: m.GetWorkspace(), Project: m.GetProject()}, int(m.GetPageSize()), m.GetPageToken())
	if err != nil {
		return nil, err
	}
	out, err := segmentsOut(ss)
	if err != nil {
		return nil, err
	}
	return connect.NewResponse(&flagopsv1.ListSegmentsResponse{Segments: out, NextPageToken: next}), nil
}

func (h *FlagHandler) DeleteSegment(ctx context.Context, req *connect.Request[flagopsv1.DeleteSegmentRequest]) (*connect.Response[flagopsv1.DeleteSegmentResponse], error) {
	m := req.Msg
	err := h.svc.DeleteSegment(ctx, service.FlagRef{Workspace: m.GetWorkspace(), Project: m.GetProject(), Key: m.GetKey()},
		store.DeleteOptions{Force: m.GetForce(), Expected: m.ExpectedRevision})
	if err != nil {
		return nil, err
	}
	return connect.NewResponse(&flagopsv1.DeleteSegmentResponse{}), nil
}

func (h *FlagHandler) CreateSchedule(ctx context.Context, req *connect.Request[flagopsv1.CreateScheduleRequest]) (*connect.Response[flagopsv1.CreateScheduleResponse], error) {
	sc, err := scheduleIn(req.Msg)
	if err != nil {
		return nil, err
	}
	out, err := h.svc.CreateSchedule(ctx, req.Msg.GetWorkspace(), sc)
	if err != nil {
		return nil, err
	}
	m, err := scheduleOut(out)
	if err != nil {
		return nil, err
	}
	return connect.NewResponse(&flagopsv1.CreateScheduleResponse{Schedule: m}), nil
}

func (h *FlagHandler) ListSchedules(ctx context.Context, req *connect.Request[flagopsv1.ListSchedulesRequest]) (*connect.Response[flagopsv1.ListSchedulesResponse], error) {
	m := req.Msg
	ss, next, err := h.svc.ListSchedules(ctx, service.FlagRef{Workspace: m.GetWorkspace(), Project: m.GetProject(), Key: m.GetFlag()}, int(m.GetPageSize()), m.GetPageToken())
	if err != nil {
		return nil, err
	}
	out, err := schedulesOut(ss)
	if err != nil {
		return nil, err
	}
	return connect.NewResponse(&flagopsv1.ListSchedulesResponse{Schedules: out, NextPageToken: next}), nil
}

func (h *FlagHandler) CancelSchedule(ctx context.Context, req *connect.Request[flagopsv1.CancelScheduleRequest]) (*connect.Response[flagopsv1.CancelScheduleResponse], error) {
	m := req.Msg
	sc, err := h.svc.CancelSchedule(ctx, service.FlagRef{Workspace: m.GetWorkspace(), Project: m.GetProject(), Key: m.GetId()})
	if err != nil {
		return nil, err
	}
	out, err := scheduleOut(sc)
	if err != nil {
		return nil, err
	}
	return connect.NewResponse(&flagopsv1.CancelScheduleResponse{Schedule: out}), nil
}

func (h *FlagHandler) Evaluate(ctx context.Context, req *connect.Request[flagopsv1.EvaluateRequest]) (*connect.Response[flagopsv1.EvaluateResponse], error) {
	if err := allowEvaluation(ctx, h.limit); err != nil {
		return nil, err
	}
	m := req.Msg
	res, err := h.svc.Evaluate(ctx, service.EvalRequest{
		Workspace: m.GetWorkspace(), Project: m.GetProject(), Environment: m.GetEnvironment(), Flag: m.GetFlag(),
		Target: m.GetTarget(), TargetingKey: m.GetTargetingKey(), Attributes: m.GetContext().AsMap(), Explain: m.GetExplain(),
	})
	if err != nil {
		return nil, err
	}
	r := res.Result
	out := &flagopsv1.EvaluateResponse{
		Flag: r.FlagKey, Variant: r.Variant, Reason: string(r.Reason), ErrorCode: string(r.ErrorCode),
		ErrorMessage: r.ErrorMessage, Revision: res.Revision, Environment: res.Environment,
	}
	if r.JSON != nil {
		if out.Value, err = valueOut(r.JSON); err != nil {
			return nil, err
		}
	}
	if len(r.Metadata) > 0 {
		if out.Metadata, err = structOut(r.Metadata); err != nil {
			return nil, err
		}
	}
	if r.Explanation != nil {
		if out.Explanation, err = structOut(r.Explanation); err != nil {
			return nil, err
		}
	}
	if res.Facts != nil {
		if out.Facts, err = resolvedOut(*res.Facts); err != nil {
			return nil, err
		}
	}
	return connect.NewResponse(out), nil
}

func (h *FlagHandler) GetSnapshot(ctx context.Context, req *connect.Request[flagopsv1.GetSnapshotRequest]) (*connect.Response[flagopsv1.GetSnapshotResponse], error) {
	fs, ss, rev, err := h.svc.Snapshot(ctx, service.FlagRef{Workspace: req.Msg.GetWorkspace(), Project: req.Msg.GetProject()})
	if err != nil {
		return nil, err
	}
	flags, err := flagsOut(fs)
	if err != nil {
		return nil, err
	}
	segs, err := segmentsOut(ss)
	if err != nil {
		return nil, err
	}
	return connect.NewResponse(&flagopsv1.GetSnapshotResponse{Flags: flags, Segments: segs, Revision: rev}), nil
}

// allowEvaluation takes a token from the caller's bucket of the evaluation
// limiter: the bucket of its key (keyed by ID, as OFREP keys it), or of its
// actor when authentication is off. Over the limit it is errs.RateLimited,
// saying when to retry.
func allowEvaluation(ctx context.Context, l *ratelimit.Limiter) error {
	if l == nil {
		return nil
	}
	p, _ := auth.PrincipalFrom(ctx)
	id := p.Key.ID
	if id == "" {
		id = "actor/" + p.Actor
	}
	if ok, at := l.Allow(id); !ok {
		return errs.New(errs.RateLimited, "flag evaluations of this key exceed the server's evaluation rate limit; retry after %s",
			at.UTC().Truncate(time.Second).Add(time.Second).Format(time.RFC3339))
	}
	return nil
}
