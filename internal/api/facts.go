package api

import (
	"context"
	"strconv"

	"connectrpc.com/connect"

	flagopsv1 "github.com/flagops/flagops/gen/flagops/v1"
	"github.com/flagops/flagops/gen/flagops/v1/flagopsv1connect"
	"github.com/flagops/flagops/internal/service"
)

// FactHandler serves FactService.
type FactHandler struct {
	svc *service.Facts
}

var _ flagopsv1connect.FactServiceHandler = (*FactHandler)(nil)

// NewFactHandler returns the FactService handler on svc.
func NewFactHandler(svc *service.Facts) *FactHandler { return &FactHandler{svc: svc} }

func (h *FactHandler) SetFacts(ctx context.Context, req *connect.Request[flagopsv1.SetFactsRequest]) (*connect.Response[flagopsv1.SetFactsResponse], error) {
	m := req.Msg
	vals, err := valuesIn("values", m.GetValues())
	if err != nil {
		return nil, err
	}
	rev, err := h.svc.SetFacts(ctx, m.GetWorkspace(), m.GetScope(), vals, m.ExpectedRevision)
	if err != nil {
		return nil, err
	}
	return connect.NewResponse(&flagopsv1.SetFactsResponse{Revision: rev}), nil
}

func (h *FactHandler) UnsetFacts(ctx context.Context, req *connect.Request[flagopsv1.UnsetFactsRequest]) (*connect.Response[flagopsv1.UnsetFactsResponse], error) {
	m := req.Msg
	rev, err := h.svc.UnsetFacts(ctx, m.GetWorkspace(), m.GetScope(), m.GetKeys(), m.ExpectedRevision)
	if err != nil {
		return nil, err
	}
	return connect.NewResponse(&flagopsv1.UnsetFactsResponse{Revision: rev}), nil
}

func (h *FactHandler) GetFacts(ctx context.Context, req *connect.Request[flagopsv1.GetFactsRequest]) (*connect.Response[flagopsv1.GetFactsResponse], error) {
	facts, rev, err := h.svc.GetFacts(ctx, req.Msg.GetWorkspace(), req.Msg.GetScope())
	if err != nil {
		return nil, err
	}
	out := make([]*flagopsv1.Fact, len(facts))
	for i, f := range facts {
		if out[i], err = factOut(f); err != nil {
			return nil, err
		}
	}
	return connect.NewResponse(&flagopsv1.GetFactsResponse{Facts: out, Revision: rev}), nil
}

func (h *FactHandler) BulkSetFacts(ctx context.Context, req *connect.Request[flagopsv1.BulkSetFactsRequest]) (*connect.Response[flagopsv1.BulkSetFactsResponse], error) {
	m := req.Msg
	entries := make([]service.BulkEntry, len(m.GetEntries()))
	for i, e := range m.GetEntries() {
		vals, err := valuesIn("entries["+strconv.Itoa(i)+"].values", e.GetValues())
		if err != nil {
			return nil, err
		}
		entries[i] = service.BulkEntry{Scope: e.GetScope(), Values: vals}
	}
	rev, err := h.svc.BulkSetFacts(ctx, m.GetWorkspace(), entries)
	if err != nil {
		return nil, err
	}
	return connect.NewResponse(&flagopsv1.BulkSetFactsResponse{Revision: rev, Scopes: int32(len(entries))}), nil
}

func (h *FactHandler) ResolveFacts(ctx context.Context, req *connect.Request[flagopsv1.ResolveFactsRequest]) (*connect.Response[flagopsv1.ResolveFactsResponse], error) {
	m := req.Msg
	r, err := h.svc.ResolveFacts(ctx, m.GetWorkspace(), m.GetProject(), m.GetTarget())
	if err != nil {
		return nil, err
	}
	out, err := resolvedOut(r)
	if err != nil {
		return nil, err
	}
	return connect.NewResponse(out), nil
}

func (h *FactHandler) FactHistory(ctx context.Context, req *connect.Request[flagopsv1.FactHistoryRequest]) (*connect.Response[flagopsv1.FactHistoryResponse], error) {
	m := req.Msg
	changes, next, err := h.svc.FactHistory(ctx, m.GetWorkspace(), m.GetScope(), m.GetKey(), int(m.GetPageSize()), m.GetPageToken())
	if err != nil {
		return nil, err
	}
	out, err := changesOut(changes)
	if err != nil {
		return nil, err
	}
	return connect.NewResponse(&flagopsv1.FactHistoryResponse{Changes: out, NextPageToken: next}), nil
}
