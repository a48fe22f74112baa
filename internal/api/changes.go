package api

import (
	"context"
	"errors"

	"connectrpc.com/connect"

	flagopsv1 "github.com/flagops/flagops/gen/flagops/v1"
	"github.com/flagops/flagops/gen/flagops/v1/flagopsv1connect"
	"github.com/flagops/flagops/internal/domain"
	"github.com/flagops/flagops/internal/service"
	"github.com/flagops/flagops/internal/watch"
)

// ChangeHandler serves ChangeService: history from the service, the Watch
// stream from the hub.
type ChangeHandler struct {
	svc *service.Changes
	hub *watch.Hub
}

var _ flagopsv1connect.ChangeServiceHandler = (*ChangeHandler)(nil)

// NewChangeHandler returns the ChangeService handler.
func NewChangeHandler(svc *service.Changes, hub *watch.Hub) *ChangeHandler {
	return &ChangeHandler{svc: svc, hub: hub}
}

func (h *ChangeHandler) GetRevision(ctx context.Context, _ *connect.Request[flagopsv1.GetRevisionRequest]) (*connect.Response[flagopsv1.GetRevisionResponse], error) {
	rev, compacted, err := h.svc.Revision(ctx)
	if err != nil {
		return nil, err
	}
	return connect.NewResponse(&flagopsv1.GetRevisionResponse{Revision: rev, CompactedRevision: compacted}), nil
}

func (h *ChangeHandler) ListChanges(ctx context.Context, req *connect.Request[flagopsv1.ListChangesRequest]) (*connect.Response[flagopsv1.ListChangesResponse], error) {
	m := req.Msg
	since, err := timeIn("since", m.GetSince())
	if err != nil {
		return nil, err
	}
	until, err := timeIn("until", m.GetUntil())
	if err != nil {
		return nil, err
	}
	changes, next, err := h.svc.ListChanges(ctx, domain.ChangeQuery{
		Workspace: m.GetWorkspace(), Actor: m.GetActor(), Kind: m.GetKind(), Key: m.GetKey(), KeyPrefix: m.GetKeyPrefix(),
		FromRevision: m.GetFromRevision(), ToRevision: m.GetToRevision(), Since: since, Until: until,
		Limit: int(m.GetPageSize()), PageToken: m.GetPageToken(),
	})
	if err != nil {
		return nil, err
	}
	out, err := changesOut(changes)
	if err != nil {
		return nil, err
	}
	return connect.NewResponse(&flagopsv1.ListChangesResponse{Changes: out, NextPageToken: next}), nil
}

// Watch streams the log: the replay after from_revision, a caught_up marker,
// then live revisions and progress notices. When the server shuts down the
// stream ends cleanly; the client resumes from the last revision it received.
func (h *ChangeHandler) Watch(ctx context.Context, req *connect.Request[flagopsv1.WatchRequest], stream *connect.ServerStream[flagopsv1.WatchResponse]) error {
	f := req.Msg.GetFilter()
	if ws := f.GetWorkspace(); ws != "" {
		if err := domain.ValidateName("filter.workspace", ws); err != nil {
			return err
		}
	}
	w, err := h.hub.Watch(ctx, req.Msg.GetFromRevision(), watch.Filter{Workspace: f.GetWorkspace(), Kinds: f.GetKinds(), KeyPrefixes: f.GetKeyPrefixes()})
	if err != nil {
		return err
	}
	defer w.Close()
	for ev := range w.Events() {
		changes, err := changesOut(ev.Changes)
		if err != nil {
			return err
		}
		if err := stream.Send(&flagopsv1.WatchResponse{Revision: ev.Revision, Changes: changes, CaughtUp: ev.CaughtUp}); err != nil {
			return err
		}
	}
	switch err := w.Err(); {
	case errors.Is(err, watch.ErrClosed):
		return nil
	case ctx.Err() != nil:
		return ctx.Err()
	default:
		return err
	}
}

func (h *ChangeHandler) Compact(ctx context.Context, req *connect.Request[flagopsv1.CompactRequest]) (*connect.Response[flagopsv1.CompactResponse], error) {
	c, err := h.svc.Compact(ctx, req.Msg.GetThroughRevision())
	if err != nil {
		return nil, err
	}
	return connect.NewResponse(&flagopsv1.CompactResponse{CompactedRevision: c}), nil
}
