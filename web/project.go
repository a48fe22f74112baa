package web

import (
	"net/http"
	"sort"
	"strings"

	"connectrpc.com/connect"

	flagopsv1 "github.com/flagops/flagops/gen/flagops/v1"
)

type projectEnv struct {
	Env     string
	Targets []targetRow
	// Hold is the pause of automatic promotion into the environment.
	Hold *flagopsv1.Hold
}

type projectData struct {
	Project    string
	Error      string
	Envs       []projectEnv
	Sets       []string
	Releases   []*flagopsv1.Release
	Policies   []*flagopsv1.PromotionPolicy
	Waiting    []*flagopsv1.Promotion
	Promotions []*flagopsv1.Promotion
	// LineHold stops the project's line; WorkspaceHold the workspace's.
	LineHold, WorkspaceHold *flagopsv1.Hold
	Timeline                []changeRow
	Notes                   []string
	Can                     struct{ SetVersion, Approve, Hold, Promote bool }
}

func (u *UI) project(w http.ResponseWriter, r *http.Request, v *view) {
	ctx := v.ctx()
	name := r.PathValue("project")
	data := projectData{Project: name}
	p, err := v.c.catalog.GetProject(ctx, connect.NewRequest(&flagopsv1.GetProjectRequest{Workspace: v.ws, Name: name}))
	if err != nil {
		data.Error = toAPIError(err).Message
		v.render(w, statusOf(err), "project", name, data)
		return
	}
	data.Sets = p.Msg.GetProject().GetEnvironmentSets()
	note := func(what string, err error) {
		if err != nil {
			data.Notes = append(data.Notes, what+": "+toAPIError(err).Message)
		}
	}
	holds := map[string]*flagopsv1.Hold{}
	if res, err := v.c.promotions.ListHolds(ctx, connect.NewRequest(&flagopsv1.ListHoldsRequest{Workspace: v.ws})); err == nil {
		for _, h := range res.Msg.GetHolds() {
			switch {
			case h.GetProject() == "" && h.GetEnvironment() == "":
				data.WorkspaceHold = h
			case h.GetProject() == name && h.GetEnvironment() == "":
				data.LineHold = h
			case h.GetProject() == name:
				holds[h.GetEnvironment()] = h
			}
		}
	} else {
		note("holds", err)
	}
	vers, err := v.c.versions.GetVersions(ctx, connect.NewRequest(&flagopsv1.GetVersionsRequest{Workspace: v.ws, Project: name}))
	note("versions", err)
	byEnv := map[string][]targetRow{}
	for _, d := range vers.Msg.GetDeployments() {
		byEnv[d.GetEnvironment()] = append(byEnv[d.GetEnvironment()], targetRow{Target: d.GetTarget(), Environment: d.GetEnvironment(),
			Desired: d.GetDesired(), Deployed: d.GetDeployed(), Status: d.GetStatus(), Message: d.GetMessage(),
			Pinned: d.GetPinned(), Since: d.GetSince(), Colour: colourOf(d)})
	}
	for _, env := range p.Msg.GetProject().GetEffectiveEnvironments() {
		data.Envs = append(data.Envs, projectEnv{Env: env, Targets: byEnv[env], Hold: holds[env]})
	}
	if res, err := v.c.releases.ListReleases(ctx, connect.NewRequest(&flagopsv1.ListReleasesRequest{Workspace: v.ws, Project: name, PageSize: 20})); err == nil {
		data.Releases = res.Msg.GetReleases()
	} else {
		note("releases", err)
	}
	if res, err := v.c.promotions.ListPromotionPolicies(ctx, connect.NewRequest(&flagopsv1.ListPromotionPoliciesRequest{Workspace: v.ws, Project: name})); err == nil {
		data.Policies = res.Msg.GetPolicies()
	} else {
		note("promotion policies", err)
	}
	if res, err := v.c.promotions.ListPromotions(ctx, connect.NewRequest(&flagopsv1.ListPromotionsRequest{Workspace: v.ws, Project: name, PageSize: 30})); err == nil {
		for _, pr := range res.Msg.GetPromotions() {
			if pr.GetState() == "waiting-approval" {
				data.Waiting = append(data.Waiting, pr)
			} else {
				data.Promotions = append(data.Promotions, pr)
			}
		}
	} else {
		note("promotions", err)
	}
	changes, _, err := v.recentChanges(ctx, &flagopsv1.ListChangesRequest{}, 0, 30, func(c *flagopsv1.Change) bool { return changeConcerns(c, name) })
	note("timeline", err)
	data.Timeline = changeRows(changes)
	data.Can.SetVersion = v.can(proc("VersionService", "SetVersion"), &flagopsv1.SetVersionRequest{Workspace: v.ws, Project: name})
	data.Can.Approve = v.can(proc("PromotionService", "ApprovePromotion"), &flagopsv1.ApprovePromotionRequest{Workspace: v.ws})
	data.Can.Hold = v.can(proc("PromotionService", "SetHold"), &flagopsv1.SetHoldRequest{Hold: &flagopsv1.Hold{Workspace: v.ws, Project: name}})
	data.Can.Promote = v.can(proc("PromotionService", "Promote"), &flagopsv1.PromoteRequest{Workspace: v.ws, Project: name})
	v.render(w, http.StatusOK, "project", name, data)
}

// changeConcerns reports whether a change-log entry is about project: its
// catalog object, versions, releases, promotions, flags and segments, and
// facts and secrets on its scopes.
func changeConcerns(c *flagopsv1.Change, project string) bool {
	k := c.GetKey()
	switch c.GetKind() {
	case "project":
		return k == project
	case "fact", "secret":
		scope, _, _ := strings.Cut(k, ":")
		return scope == "project/"+project || strings.HasPrefix(scope, "project/"+project+"@") ||
			strings.HasPrefix(scope, "deployment/"+project+"@")
	case "flag", "segment", "flagschedule":
		return strings.HasPrefix(k, project+"/")
	}
	return strings.HasPrefix(k, project+"@") || strings.HasPrefix(k, project+"#") || strings.HasPrefix(k, project+"/") || k == project
}

// statusOf is the page status for an API error.
func statusOf(err error) int {
	switch connect.CodeOf(err) {
	case connect.CodeNotFound:
		return http.StatusNotFound
	case connect.CodePermissionDenied:
		return http.StatusForbidden
	case connect.CodeInvalidArgument:
		return http.StatusBadRequest
	}
	return http.StatusOK
}

// sortedKeys returns a map's keys in order.
func sortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
