package web

import (
	"context"
	"net/http"
	"net/url"
	"strings"

	"connectrpc.com/connect"

	flagopsv1 "github.com/flagops/flagops/gen/flagops/v1"
	"github.com/flagops/flagops/internal/eval"
)

// flagsPerPage bounds the rows of one flags page: a project of 1,000 flags
// is 20 pages, each rendering in a few milliseconds.
const flagsPerPage = 50

type flagRow struct {
	Key, Name, Type, Description string
	Tags                         []string
	Revision                     int64
	T                            targetingText
	Segments                     []string
}

type flagsData struct {
	Error     string
	Projects  []string
	Project   string
	Envs      []string
	Env       string
	Query     string
	Rows      []flagRow
	Pager     pager
	Segments  []segmentText
	Schedules []*flagopsv1.Schedule
	CanEdit   bool
	Total     int
}

// projectAndEnv resolves the page's project and environment: the query's,
// else the first of the workspace (and of the project).
func (v *view) projectAndEnv(ctx context.Context, q url.Values) (projects []string, project string, envs []string, env string, err error) {
	ps, err := v.projects(ctx)
	if err != nil {
		return nil, "", nil, "", err
	}
	var pp *flagopsv1.Project
	project = q.Get("project")
	for _, p := range ps {
		projects = append(projects, p.GetMeta().GetName())
		if p.GetMeta().GetName() == project {
			pp = p
		}
	}
	if pp == nil && len(ps) > 0 {
		pp = ps[0]
		project = pp.GetMeta().GetName()
	}
	if pp == nil {
		return projects, "", nil, "", nil
	}
	envs = pp.GetEffectiveEnvironments()
	env = q.Get("env")
	if !contains(envs, env) && len(envs) > 0 {
		env = envs[0]
	}
	return projects, project, envs, env, nil
}

func (u *UI) flags(w http.ResponseWriter, r *http.Request, v *view) {
	ctx := v.ctx()
	q := r.URL.Query()
	data := flagsData{Query: strings.TrimSpace(q.Get("q"))}
	var err error
	data.Projects, data.Project, data.Envs, data.Env, err = v.projectAndEnv(ctx, q)
	if err != nil {
		data.Error = toAPIError(err).Message
		v.render(w, http.StatusOK, "flags", "Flags", data)
		return
	}
	if data.Project == "" {
		v.render(w, http.StatusOK, "flags", "Flags", data)
		return
	}
	flags, err := v.allFlags(ctx, data.Project)
	if err != nil {
		data.Error = toAPIError(err).Message
		v.render(w, http.StatusOK, "flags", "Flags", data)
		return
	}
	data.Total = len(flags)
	needle := strings.ToLower(data.Query)
	var shown []*flagopsv1.Flag
	for _, f := range flags {
		if needle == "" || strings.Contains(strings.ToLower(f.GetKey()+" "+f.GetName()+" "+strings.Join(f.GetTags(), " ")), needle) {
			shown = append(shown, f)
		}
	}
	pq := url.Values{"project": {data.Project}, "env": {data.Env}}
	if data.Query != "" {
		pq.Set("q", data.Query)
	}
	if p := q.Get("page"); p != "" {
		pq.Set("page", p)
	}
	lo, hi, pg := paginate(pq, len(shown), flagsPerPage)
	data.Pager = pg
	for _, f := range shown[lo:hi] {
		data.Rows = append(data.Rows, flagRow{Key: f.GetKey(), Name: f.GetName(), Type: f.GetType(), Description: f.GetDescription(),
			Tags: f.GetTags(), Revision: f.GetRevision(), T: targetingOf(f, data.Env), Segments: segmentsUsed(f, data.Env)})
	}
	if segs, err := v.segments(ctx, data.Project); err == nil {
		for _, s := range segs {
			data.Segments = append(data.Segments, segmentOf(s))
		}
	}
	if scheds, err := v.schedules(ctx, data.Project, ""); err == nil {
		for _, s := range scheds {
			if s.GetState() == "pending" {
				data.Schedules = append(data.Schedules, s)
			}
		}
	}
	data.CanEdit = v.can(proc("FlagService", "PutFlag"), &flagopsv1.PutFlagRequest{Workspace: v.ws, Flag: &flagopsv1.Flag{Project: data.Project}})
	v.render(w, http.StatusOK, "flags", "Flags · "+data.Project, data)
}

// flagForm is the state of the flag page's editors: what was submitted and
// the server's answer, so that a refused edit comes back with the person's
// input and the error at its field.
type flagForm struct {
	Mode  string // "form" or "yaml"
	YAML  string
	Err   *apiError
	Saved bool
}

// FieldError returns the server's message when it concerns field (or a
// field inside it), for showing at that input.
func (f flagForm) FieldError(field string) string {
	if f.Err == nil || f.Err.Field == "" {
		return ""
	}
	if f.Err.Field == field || strings.HasPrefix(f.Err.Field, field+".") || strings.HasPrefix(f.Err.Field, field+"[") {
		return f.Err.Field + ": " + f.Err.Message
	}
	return ""
}

type envEdit struct {
	Env       string
	T         targetingText
	Enabled   bool
	Off       string
	Fallthru  string
	IsRollout bool
}

type evalData struct {
	Ran        bool
	Target     string
	Env        string
	Context    string
	Key        string
	Err        string
	Result     *flagopsv1.EvaluateResponse
	Explain    *eval.Explanation
	Facts      []factRow
	FactsError string
}

type flagPageData struct {
	Error      string
	Project    string
	Key        string
	Flag       *flagopsv1.Flag
	Variations []*flagopsv1.Variation
	Envs       []envEdit
	Targets    []string
	ProjectEnv []string
	Form       flagForm
	YAML       string
	CanEdit    bool
	CanEval    bool
	Eval       evalData
	Schedules  []*flagopsv1.Schedule
	History    []changeRow
}

func (u *UI) flagPage(w http.ResponseWriter, r *http.Request, v *view) {
	u.renderFlagPage(w, r, v, r.PathValue("project"), r.PathValue("key"), flagForm{}, http.StatusOK)
}

func (u *UI) renderFlagPage(w http.ResponseWriter, r *http.Request, v *view, project, key string, form flagForm, status int) {
	ctx := v.ctx()
	data := flagPageData{Project: project, Key: key, Form: form}
	res, err := v.c.flags.GetFlag(ctx, connect.NewRequest(&flagopsv1.GetFlagRequest{Workspace: v.ws, Project: project, Key: key}))
	if err != nil {
		data.Error = toAPIError(err).Message
		v.render(w, statusOf(err), "flag", key, data)
		return
	}
	f := res.Msg.GetFlag()
	data.Flag = f
	data.Variations = f.GetVariations()
	if p, err := v.c.catalog.GetProject(ctx, connect.NewRequest(&flagopsv1.GetProjectRequest{Workspace: v.ws, Name: project})); err == nil {
		data.ProjectEnv = p.Msg.GetProject().GetEffectiveEnvironments()
	}
	envs := append([]string(nil), data.ProjectEnv...)
	for _, e := range sortedKeys(f.GetEnvironments()) {
		if !contains(envs, e) {
			envs = append(envs, e)
		}
	}
	for _, e := range envs {
		t := f.GetEnvironments()[e]
		data.Envs = append(data.Envs, envEdit{Env: e, T: targetingOf(f, e), Enabled: t.GetEnabled(), Off: t.GetOffVariation(),
			Fallthru: t.GetFallthrough().GetVariation(), IsRollout: len(t.GetFallthrough().GetRollout()) > 0})
	}
	if form.YAML != "" {
		data.YAML = form.YAML
	} else if y, err := flagYAML(f); err == nil {
		data.YAML = y
	}
	if deps, err := v.c.catalog.ListDeployments(ctx, connect.NewRequest(&flagopsv1.ListDeploymentsRequest{Workspace: v.ws, Project: project, PageSize: apiPageSize})); err == nil {
		for _, d := range deps.Msg.GetDeployments() {
			data.Targets = append(data.Targets, d.GetTarget())
		}
	}
	data.CanEdit = v.can(proc("FlagService", "PutFlag"), &flagopsv1.PutFlagRequest{Workspace: v.ws, Flag: &flagopsv1.Flag{Project: project}})
	data.CanEval = v.can(proc("FlagService", "Evaluate"), &flagopsv1.EvaluateRequest{Workspace: v.ws, Project: project})
	data.Eval = v.evaluateFromQuery(ctx, r.URL.Query(), project, key)
	if s, err := v.schedules(ctx, project, key); err == nil {
		data.Schedules = s
	}
	hist, _, _ := v.recentChanges(ctx, &flagopsv1.ListChangesRequest{Kind: "flag", KeyPrefix: project + "/" + key}, 0, 10,
		func(c *flagopsv1.Change) bool { return c.GetKey() == project+"/"+key })
	data.History = changeRows(hist)
	v.render(w, status, "flag", key, data)
}
