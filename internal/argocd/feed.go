package argocd

import (
	"context"
	"fmt"

	"connectrpc.com/connect"

	flagopsv1 "github.com/flagops/flagops/gen/flagops/v1"
	"github.com/flagops/flagops/gen/flagops/v1/flagopsv1connect"
	"github.com/flagops/flagops/internal/errs"
)

// Feed is a ChangeFeed over flagops' ChangeService (the Watch stream and
// GetRevision).
type Feed struct {
	Changes flagopsv1connect.ChangeServiceClient
}

var _ ChangeFeed = (*Feed)(nil)

// Follow watches the workspace's changes after from. The server filters by
// workspace; which changes matter to which Application is decided by the
// agent, as the kinds that can move a bundle (flags, versions, secrets)
// grow with the server.
func (f *Feed) Follow(ctx context.Context, ws string, from int64, fn func(rev int64, changes []Change)) error {
	stream, err := f.Changes.Watch(ctx, connect.NewRequest(&flagopsv1.WatchRequest{
		FromRevision: from, Filter: &flagopsv1.WatchFilter{Workspace: ws},
	}))
	if err != nil {
		return fromConnect(err)
	}
	defer stream.Close()
	for stream.Receive() {
		msg := stream.Msg()
		changes := make([]Change, 0, len(msg.GetChanges()))
		for _, c := range msg.GetChanges() {
			changes = append(changes, Change{Kind: c.GetKind(), Key: c.GetKey()})
		}
		fn(msg.GetRevision(), changes)
	}
	if ctx.Err() != nil {
		return nil
	}
	if err := stream.Err(); err != nil {
		return fromConnect(err)
	}
	return errs.New(errs.Unavailable, "the flagops server ended the change stream")
}

// Revision returns the log's last revision.
func (f *Feed) Revision(ctx context.Context) (int64, error) {
	resp, err := f.Changes.GetRevision(ctx, connect.NewRequest(&flagopsv1.GetRevisionRequest{}))
	if err != nil {
		return 0, fromConnect(err)
	}
	return resp.Msg.GetRevision(), nil
}

// fromConnect gives a Connect error the errs kind the agent acts on.
func fromConnect(err error) error {
	switch connect.CodeOf(err) {
	case connect.CodeOutOfRange:
		return errs.New(errs.Compacted, "%v", err)
	case connect.CodeUnauthenticated:
		return errs.New(errs.Unauthenticated, "%v", err)
	case connect.CodePermissionDenied:
		return errs.New(errs.Denied, "%v", err)
	}
	return errs.New(errs.Unavailable, "%v", err)
}

// Projects is a ProjectLister over flagops' CatalogService (ListProjects,
// which needs catalog read in the workspace).
type Projects struct {
	Catalog flagopsv1connect.CatalogServiceClient
}

var _ ProjectLister = (*Projects)(nil)

// Projects returns the names of the workspace's projects, every page.
func (p *Projects) Projects(ctx context.Context, ws string) ([]string, error) {
	var names []string
	token := ""
	for {
		resp, err := p.Catalog.ListProjects(ctx, connect.NewRequest(&flagopsv1.ListProjectsRequest{Workspace: ws, PageSize: 500, PageToken: token}))
		if err != nil {
			return nil, fmt.Errorf("list projects: %w", fromConnect(err))
		}
		for _, pr := range resp.Msg.GetProjects() {
			names = append(names, pr.GetMeta().GetName())
		}
		if token = resp.Msg.GetNextPageToken(); token == "" {
			return names, nil
		}
	}
}
