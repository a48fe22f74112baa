package api

import (
	"context"

	"connectrpc.com/connect"

	flagopsv1 "github.com/flagops/flagops/gen/flagops/v1"
	"github.com/flagops/flagops/gen/flagops/v1/flagopsv1connect"
	"github.com/flagops/flagops/internal/domain"
	"github.com/flagops/flagops/internal/service"
)

// ReleaseHandler serves ReleaseService.
type ReleaseHandler struct {
	svc *service.Releases
}

var _ flagopsv1connect.ReleaseServiceHandler = (*ReleaseHandler)(nil)

// NewReleaseHandler returns the ReleaseService handler on svc.
func NewReleaseHandler(svc *service.Releases) *ReleaseHandler { return &ReleaseHandler{svc: svc} }

func releaseIn(r *flagopsv1.Release) domain.Release {
	out := domain.Release{Workspace: r.GetWorkspace(), Project: r.GetProject(), Version: r.GetVersion(), Commits: r.GetCommits(),
		Notes: r.GetNotes(), Labels: r.GetLabels()}
	for _, a := range r.GetArtifacts() {
		out.Artifacts = append(out.Artifacts, domain.Artifact{Name: a.GetName(), Platform: a.GetPlatform(), URL: a.GetUrl(),
			SHA256: a.GetSha256(), Size: a.GetSize(), Signature: a.GetSignature()})
	}
	return out
}

func releaseOut(r domain.Release) *flagopsv1.Release {
	return &flagopsv1.Release{Workspace: r.Workspace, Project: r.Project, Version: r.Version, Commits: r.Commits, Notes: r.Notes,
		Labels: r.Labels, Actor: r.Actor, Revision: r.Revision, CreateTime: timeOut(r.CreatedAt),
		Artifacts: mapOut(r.Artifacts, func(a domain.Artifact) *flagopsv1.Artifact {
			return &flagopsv1.Artifact{Name: a.Name, Platform: a.Platform, Url: a.URL, Sha256: a.SHA256, Size: a.Size, Signature: a.Signature}
		})}
}

func (h *ReleaseHandler) CreateRelease(ctx context.Context, req *connect.Request[flagopsv1.CreateReleaseRequest]) (*connect.Response[flagopsv1.CreateReleaseResponse], error) {
	rel := releaseIn(req.Msg.GetRelease())
	out, err := h.svc.Create(ctx, rel.Workspace, rel)
	if err != nil {
		return nil, err
	}
	return connect.NewResponse(&flagopsv1.CreateReleaseResponse{Release: releaseOut(out)}), nil
}

func (h *ReleaseHandler) GetRelease(ctx context.Context, req *connect.Request[flagopsv1.GetReleaseRequest]) (*connect.Response[flagopsv1.GetReleaseResponse], error) {
	m := req.Msg
	r, err := h.svc.Get(ctx, m.GetWorkspace(), m.GetProject(), m.GetVersion())
	if err != nil {
		return nil, err
	}
	return connect.NewResponse(&flagopsv1.GetReleaseResponse{Release: releaseOut(r)}), nil
}

func (h *ReleaseHandler) ListReleases(ctx context.Context, req *connect.Request[flagopsv1.ListReleasesRequest]) (*connect.Response[flagopsv1.ListReleasesResponse], error) {
	m := req.Msg
	rs, err := h.svc.Find(ctx, service.FindRequest{Workspace: m.GetWorkspace(), Project: m.GetProject(), Commit: m.GetCommit(), SHA256: m.GetSha256(), Limit: int(m.GetPageSize())})
	if err != nil {
		return nil, err
	}
	return connect.NewResponse(&flagopsv1.ListReleasesResponse{Releases: mapOut(rs, releaseOut)}), nil
}
