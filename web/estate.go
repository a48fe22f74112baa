package web

import (
	"net/http"
	"sort"
	"strconv"
	"strings"

	"connectrpc.com/connect"
	"google.golang.org/protobuf/types/known/timestamppb"

	flagopsv1 "github.com/flagops/flagops/gen/flagops/v1"
)

// estateProjectsPerPage bounds the matrix rows of one page: with 10,000
// deployments a page still renders in well under a second.
const estateProjectsPerPage = 20

// Colours of a deployment, from best to worst; a cell takes its worst
// target's.
const (
	colourNone     = "none"
	colourOK       = "ok"
	colourProgress = "progress"
	colourDrift    = "drift"
	colourBad      = "bad"
)

var colourRank = map[string]int{colourNone: 0, colourOK: 1, colourProgress: 2, colourDrift: 3, colourBad: 4}

type targetRow struct {
	Target, Environment, Desired, Deployed, Status, Message string
	Pinned                                                  bool
	Since                                                   *timestamppb.Timestamp
	Colour                                                  string
}

type cell struct {
	Env     string
	In      bool // the project deploys to this environment
	Targets []targetRow
	// Desired is the environment's desired version, or "mixed" when pins
	// differ; Deployed is "N/M on V" style.
	Desired, Deployed, Health string
	DriftSince                *timestamppb.Timestamp
	Colour                    string
}

type estateRow struct {
	Project string
	Sets    []string
	Cells   []cell
}

type estateData struct {
	Error        string
	Query        string
	Environments []string
	Sets         []*flagopsv1.EnvironmentSet
	Rows         []estateRow
	Pager        pager
	Deployments  int
}

// colourOf decides a deployment's colour from its versions and health.
func colourOf(d *flagopsv1.DeploymentVersion) string {
	switch {
	case d.GetDesired() == "" && d.GetDeployed() == "":
		return colourNone
	case d.GetStatus() == "failed" || d.GetStatus() == "degraded":
		return colourBad
	case d.GetDesired() != "" && d.GetDeployed() != d.GetDesired():
		return colourDrift
	case d.GetStatus() == "progressing":
		return colourProgress
	}
	return colourOK
}

func (u *UI) estate(w http.ResponseWriter, r *http.Request, v *view) {
	ctx := v.ctx()
	q := r.URL.Query()
	data := estateData{Query: strings.TrimSpace(q.Get("q"))}
	envs, err := v.environments(ctx)
	if err != nil {
		data.Error = toAPIError(err).Message
		v.render(w, http.StatusOK, "estate", "Estate", data)
		return
	}
	for _, e := range envs {
		data.Environments = append(data.Environments, e.GetMeta().GetName())
	}
	data.Sets, _ = v.environmentSets(ctx)
	projects, err := v.projects(ctx)
	if err != nil {
		data.Error = toAPIError(err).Message
		v.render(w, http.StatusOK, "estate", "Estate", data)
		return
	}
	vers, err := v.c.versions.GetVersions(ctx, connect.NewRequest(&flagopsv1.GetVersionsRequest{Workspace: v.ws}))
	if err != nil {
		data.Error = toAPIError(err).Message
		v.render(w, http.StatusOK, "estate", "Estate", data)
		return
	}
	deps := vers.Msg.GetDeployments()
	data.Deployments = len(deps)
	byProject := map[string][]*flagopsv1.DeploymentVersion{}
	for _, d := range deps {
		byProject[d.GetProject()] = append(byProject[d.GetProject()], d)
	}
	sort.Slice(projects, func(i, j int) bool { return projects[i].GetMeta().GetName() < projects[j].GetMeta().GetName() })
	var rows []*flagopsv1.Project
	needle := strings.ToLower(data.Query)
	for _, p := range projects {
		if needle == "" || matchesEstate(p, byProject[p.GetMeta().GetName()], needle) {
			rows = append(rows, p)
		}
	}
	lo, hi, pg := paginate(q, len(rows), estateProjectsPerPage)
	data.Pager = pg
	for _, p := range rows[lo:hi] {
		name := p.GetMeta().GetName()
		row := estateRow{Project: name, Sets: p.GetEnvironmentSets()}
		for _, env := range data.Environments {
			row.Cells = append(row.Cells, buildCell(env, contains(p.GetEffectiveEnvironments(), env), byProject[name]))
		}
		data.Rows = append(data.Rows, row)
	}
	v.render(w, http.StatusOK, "estate", "Estate", data)
}

// matchesEstate reports whether the filter text names the project, one of
// its environments or targets, or a version it runs.
func matchesEstate(p *flagopsv1.Project, deps []*flagopsv1.DeploymentVersion, needle string) bool {
	if strings.Contains(strings.ToLower(p.GetMeta().GetName()), needle) {
		return true
	}
	for _, d := range deps {
		for _, s := range []string{d.GetTarget(), d.GetEnvironment(), d.GetDesired(), d.GetDeployed()} {
			if s != "" && strings.Contains(strings.ToLower(s), needle) {
				return true
			}
		}
	}
	return false
}

// buildCell summarises one project's deployments in one environment.
func buildCell(env string, in bool, deps []*flagopsv1.DeploymentVersion) cell {
	c := cell{Env: env, In: in, Colour: colourNone}
	desired := map[string]bool{}
	deployed := map[string]int{}
	health := ""
	for _, d := range deps {
		if d.GetEnvironment() != env {
			continue
		}
		t := targetRow{Target: d.GetTarget(), Environment: env, Desired: d.GetDesired(), Deployed: d.GetDeployed(),
			Status: d.GetStatus(), Message: d.GetMessage(), Pinned: d.GetPinned(), Since: d.GetSince(), Colour: colourOf(d)}
		c.Targets = append(c.Targets, t)
		if t.Desired != "" {
			desired[t.Desired] = true
		}
		if t.Deployed != "" {
			deployed[t.Deployed]++
		}
		if colourRank[t.Colour] > colourRank[c.Colour] {
			c.Colour = t.Colour
		}
		if worseHealth(t.Status, health) {
			health = t.Status
		}
		if t.Colour == colourDrift && t.Since != nil && (c.DriftSince == nil || t.Since.AsTime().Before(c.DriftSince.AsTime())) {
			c.DriftSince = t.Since
		}
	}
	c.Health = health
	switch len(desired) {
	case 0:
	case 1:
		for k := range desired {
			c.Desired = k
		}
	default:
		c.Desired = "mixed"
	}
	if n := len(c.Targets); n > 0 {
		// The most deployed version and how many targets run it.
		best, count := "", 0
		for ver, k := range deployed {
			if k > count || k == count && ver < best {
				best, count = ver, k
			}
		}
		if best != "" {
			c.Deployed = best
			if count != n {
				c.Deployed += " (" + strconv.Itoa(count) + "/" + strconv.Itoa(n) + ")"
			}
		}
	}
	return c
}

var healthRank = map[string]int{"": 0, "healthy": 1, "progressing": 2, "degraded": 3, "failed": 4}

func worseHealth(a, b string) bool { return healthRank[a] > healthRank[b] }
