package cli

import (
	"time"

	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/timestamppb"

	flagopsv1 "github.com/flagops/flagops/gen/flagops/v1"
	"github.com/flagops/flagops/internal/domain"
)

// Conversions of the versions, releases and promotions messages to the
// domain types the CLI prints (see convert.go), and back for apply.

func desiredFromProto(v *flagopsv1.DesiredVersion) domain.DesiredVersion {
	return domain.DesiredVersion{Workspace: v.GetWorkspace(), Project: v.GetProject(), Environment: v.GetEnvironment(), Target: v.GetTarget(),
		Version: v.GetVersion(), Reason: v.GetReason(), Actor: v.GetActor(), Revision: v.GetRevision(), UpdatedAt: timeFromProto(v.GetUpdateTime())}
}

func deploymentVersionFromProto(v *flagopsv1.DeploymentVersion) domain.DeploymentVersion {
	return domain.DeploymentVersion{Project: v.GetProject(), Environment: v.GetEnvironment(), Target: v.GetTarget(), Desired: v.GetDesired(),
		Pinned: v.GetPinned(), Deployed: v.GetDeployed(), Status: v.GetStatus(), Message: v.GetMessage(), Since: timeFromProto(v.GetSince())}
}

func releaseFromProto(r *flagopsv1.Release) domain.Release {
	out := domain.Release{Workspace: r.GetWorkspace(), Project: r.GetProject(), Version: r.GetVersion(), Commits: r.GetCommits(),
		Notes: r.GetNotes(), Labels: r.GetLabels(), Actor: r.GetActor(), Revision: r.GetRevision(), CreatedAt: timeFromProto(r.GetCreateTime())}
	for _, a := range r.GetArtifacts() {
		out.Artifacts = append(out.Artifacts, domain.Artifact{Name: a.GetName(), Platform: a.GetPlatform(), URL: a.GetUrl(),
			SHA256: a.GetSha256(), Size: a.GetSize(), Signature: a.GetSignature()})
	}
	return out
}

func releaseToProto(r domain.Release) *flagopsv1.Release {
	out := &flagopsv1.Release{Workspace: r.Workspace, Project: r.Project, Version: r.Version, Commits: r.Commits, Notes: r.Notes, Labels: r.Labels}
	for _, a := range r.Artifacts {
		out.Artifacts = append(out.Artifacts, &flagopsv1.Artifact{Name: a.Name, Platform: a.Platform, Url: a.URL, Sha256: a.SHA256, Size: a.Size, Signature: a.Signature})
	}
	return out
}

func promotionFromProto(p *flagopsv1.Promotion) domain.Promotion {
	return domain.Promotion{ID: p.GetId(), Workspace: p.GetWorkspace(), Project: p.GetProject(), From: p.GetFrom(), To: p.GetTo(),
		Version: p.GetVersion(), Trigger: p.GetTrigger(), Slot: p.GetSlot(), State: p.GetState(), Reason: p.GetReason(), Actor: p.GetActor(),
		Approver: p.GetApprover(), Comment: p.GetComment(), Revisions: p.GetRevisions(),
		CreatedAt: timeFromProto(p.GetCreateTime()), UpdatedAt: timeFromProto(p.GetUpdateTime())}
}

func windowsToProto(in []domain.Window) []*flagopsv1.Window {
	var out []*flagopsv1.Window
	for _, w := range in {
		pw := &flagopsv1.Window{Days: w.Days, From: w.From, To: w.To, Reason: w.Reason}
		if !w.Start.IsZero() {
			pw.Start, pw.End = timeToProto(w.Start), timeToProto(w.End)
		}
		out = append(out, pw)
	}
	return out
}

func windowsFromProto(in []*flagopsv1.Window) []domain.Window {
	var out []domain.Window
	for _, w := range in {
		out = append(out, domain.Window{Start: timeFromProto(w.GetStart()), End: timeFromProto(w.GetEnd()), Days: w.GetDays(), From: w.GetFrom(), To: w.GetTo(), Reason: w.GetReason()})
	}
	return out
}

func policyToProto(p domain.PromotionPolicy) *flagopsv1.PromotionPolicy {
	out := &flagopsv1.PromotionPolicy{Workspace: p.Workspace, Project: p.Project, From: p.From, To: p.To, Schedule: p.Schedule, Timezone: p.Timezone,
		AllowedWindows: windowsToProto(p.AllowedWindows), FreezeWindows: windowsToProto(p.FreezeWindows), RequireApproval: p.RequireApproval, Disabled: p.Disabled}
	if p.Soak != 0 {
		out.Soak = durationpb.New(p.Soak)
	}
	return out
}

func policyFromProto(p *flagopsv1.PromotionPolicy) domain.PromotionPolicy {
	return domain.PromotionPolicy{Workspace: p.GetWorkspace(), Project: p.GetProject(), From: p.GetFrom(), To: p.GetTo(), Soak: p.GetSoak().AsDuration(),
		Schedule: p.GetSchedule(), Timezone: p.GetTimezone(), AllowedWindows: windowsFromProto(p.GetAllowedWindows()),
		FreezeWindows: windowsFromProto(p.GetFreezeWindows()), RequireApproval: p.GetRequireApproval(), Disabled: p.GetDisabled(), Revision: p.GetRevision()}
}

func timeToProto(t time.Time) *timestamppb.Timestamp { return timestamppb.New(t) }
