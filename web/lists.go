package web

import (
	"context"
	"sort"

	"connectrpc.com/connect"

	flagopsv1 "github.com/flagops/flagops/gen/flagops/v1"
)

// The API pages its lists; the pages here want whole lists (they filter
// and paginate what they show themselves), so these follow the page tokens.
// maxListPages bounds a list at 1,000 pages of the API's largest page.
const (
	apiPageSize  = 1000
	maxListPages = 1000
)

func (v *view) environments(ctx context.Context) ([]*flagopsv1.Environment, error) {
	var out []*flagopsv1.Environment
	tok := ""
	for range maxListPages {
		res, err := v.c.catalog.ListEnvironments(ctx, connect.NewRequest(&flagopsv1.ListEnvironmentsRequest{Workspace: v.ws, PageSize: apiPageSize, PageToken: tok}))
		if err != nil {
			return nil, err
		}
		out = append(out, res.Msg.GetEnvironments()...)
		if tok = res.Msg.GetNextPageToken(); tok == "" {
			break
		}
	}
	return out, nil
}

func (v *view) environmentSets(ctx context.Context) ([]*flagopsv1.EnvironmentSet, error) {
	var out []*flagopsv1.EnvironmentSet
	tok := ""
	for range maxListPages {
		res, err := v.c.catalog.ListEnvironmentSets(ctx, connect.NewRequest(&flagopsv1.ListEnvironmentSetsRequest{Workspace: v.ws, PageSize: apiPageSize, PageToken: tok}))
		if err != nil {
			return nil, err
		}
		out = append(out, res.Msg.GetEnvironmentSets()...)
		if tok = res.Msg.GetNextPageToken(); tok == "" {
			break
		}
	}
	return out, nil
}

func (v *view) projects(ctx context.Context) ([]*flagopsv1.Project, error) {
	var out []*flagopsv1.Project
	tok := ""
	for range maxListPages {
		res, err := v.c.catalog.ListProjects(ctx, connect.NewRequest(&flagopsv1.ListProjectsRequest{Workspace: v.ws, PageSize: apiPageSize, PageToken: tok}))
		if err != nil {
			return nil, err
		}
		out = append(out, res.Msg.GetProjects()...)
		if tok = res.Msg.GetNextPageToken(); tok == "" {
			break
		}
	}
	return out, nil
}

func (v *view) targets(ctx context.Context) ([]*flagopsv1.Target, error) {
	var out []*flagopsv1.Target
	tok := ""
	for range maxListPages {
		res, err := v.c.catalog.ListTargets(ctx, connect.NewRequest(&flagopsv1.ListTargetsRequest{Workspace: v.ws, PageSize: apiPageSize, PageToken: tok}))
		if err != nil {
			return nil, err
		}
		out = append(out, res.Msg.GetTargets()...)
		if tok = res.Msg.GetNextPageToken(); tok == "" {
			break
		}
	}
	return out, nil
}

func (v *view) allFlags(ctx context.Context, project string) ([]*flagopsv1.Flag, error) {
	var out []*flagopsv1.Flag
	tok := ""
	for range maxListPages {
		res, err := v.c.flags.ListFlags(ctx, connect.NewRequest(&flagopsv1.ListFlagsRequest{Workspace: v.ws, Project: project, PageSize: apiPageSize, PageToken: tok}))
		if err != nil {
			return nil, err
		}
		out = append(out, res.Msg.GetFlags()...)
		if tok = res.Msg.GetNextPageToken(); tok == "" {
			break
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].GetKey() < out[j].GetKey() })
	return out, nil
}

func (v *view) segments(ctx context.Context, project string) ([]*flagopsv1.Segment, error) {
	var out []*flagopsv1.Segment
	tok := ""
	for range maxListPages {
		res, err := v.c.flags.ListSegments(ctx, connect.NewRequest(&flagopsv1.ListSegmentsRequest{Workspace: v.ws, Project: project, PageSize: apiPageSize, PageToken: tok}))
		if err != nil {
			return nil, err
		}
		out = append(out, res.Msg.GetSegments()...)
		if tok = res.Msg.GetNextPageToken(); tok == "" {
			break
		}
	}
	return out, nil
}

func (v *view) schedules(ctx context.Context, project, flagKey string) ([]*flagopsv1.Schedule, error) {
	var out []*flagopsv1.Schedule
	tok := ""
	for range maxListPages {
		res, err := v.c.flags.ListSchedules(ctx, connect.NewRequest(&flagopsv1.ListSchedulesRequest{Workspace: v.ws, Project: project, Flag: flagKey, PageSize: apiPageSize, PageToken: tok}))
		if err != nil {
			return nil, err
		}
		out = append(out, res.Msg.GetSchedules()...)
		if tok = res.Msg.GetNextPageToken(); tok == "" {
			break
		}
	}
	return out, nil
}

// recentChanges returns up to n changes passing keep, newest first, at or
// before revision before (0: the newest). The log is read backwards in
// windows that double in size, so a rare filter does not read the whole
// log in one call and a common one reads little.
func (v *view) recentChanges(ctx context.Context, q *flagopsv1.ListChangesRequest, before int64, n int, keep func(*flagopsv1.Change) bool) ([]*flagopsv1.Change, bool, error) {
	top := before
	if top <= 0 {
		res, err := v.c.changes.GetRevision(ctx, connect.NewRequest(&flagopsv1.GetRevisionRequest{}))
		if err != nil {
			return nil, false, err
		}
		top = res.Msg.GetRevision()
	}
	var out []*flagopsv1.Change
	window := int64(256)
	for top > 0 && len(out) < n {
		from := max(top-window, 0)
		var got []*flagopsv1.Change
		tok := ""
		for range maxListPages {
			req := &flagopsv1.ListChangesRequest{Workspace: v.ws, Kind: q.GetKind(), KeyPrefix: q.GetKeyPrefix(), Actor: q.GetActor(),
				Since: q.GetSince(), Until: q.GetUntil(), FromRevision: from, ToRevision: top, PageSize: apiPageSize, PageToken: tok}
			res, err := v.c.changes.ListChanges(ctx, connect.NewRequest(req))
			if err != nil {
				return nil, false, err
			}
			for _, c := range res.Msg.GetChanges() {
				if keep == nil || keep(c) {
					got = append(got, c)
				}
			}
			if tok = res.Msg.GetNextPageToken(); tok == "" {
				break
			}
		}
		for i := len(got) - 1; i >= 0; i-- {
			// A revision is never split between two pages.
			if len(out) >= n && got[i].GetRevision() != out[len(out)-1].GetRevision() {
				return out, true, nil
			}
			out = append(out, got[i])
		}
		top = from
		window *= 2
	}
	return out, top > 0, nil
}
