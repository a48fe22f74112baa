package web

import (
	"net/http"
	"strings"

	"connectrpc.com/connect"

	flagopsv1 "github.com/flagops/flagops/gen/flagops/v1"
)

// flagsEvaluatedOnFactsPage bounds the evaluations the facts page runs for
// its deployment.
const flagsEvaluatedOnFactsPage = 50

type scopeCol struct {
	Scope string // "environment/prod"
	Label string // "environment"
}

type factCell struct {
	Set    bool
	Value  string
	Winner bool
}

type factMatrixRow struct {
	Key      string
	Resolved string
	Source   string
	Builtin  bool
	Cells    []factCell
}

type evalRow struct {
	Flag, Value, Variant, Reason, Error string
}

type secretRow struct {
	S        *flagopsv1.Secret
	Versions []*flagopsv1.SecretVersion
	Reads    []*flagopsv1.SecretRead
}

type factsData struct {
	Error        string
	Projects     []string
	Project      string
	Targets      []string
	Target       string
	Environment  string
	Scopes       []scopeCol
	Rows         []factMatrixRow
	Revision     int64
	Evals        []evalRow
	EvalNote     string
	Secrets      []secretRow
	SecretsNote  string
	HistoryKey   string
	HistoryScope string
	History      []changeRow
	HistoryError string
	CanWrite     map[string]bool
	CanSecret    map[string]bool
	AnyWrite     bool
	AnySecret    bool
}

func (u *UI) facts(w http.ResponseWriter, r *http.Request, v *view) {
	ctx := v.ctx()
	q := r.URL.Query()
	data := factsData{Project: q.Get("project"), Target: q.Get("target"), CanWrite: map[string]bool{}, CanSecret: map[string]bool{}}
	ps, err := v.projects(ctx)
	if err != nil {
		data.Error = toAPIError(err).Message
		v.render(w, http.StatusOK, "facts", "Facts", data)
		return
	}
	for _, p := range ps {
		data.Projects = append(data.Projects, p.GetMeta().GetName())
	}
	if !contains(data.Projects, data.Project) {
		data.Project = ""
		if len(data.Projects) > 0 {
			data.Project = data.Projects[0]
		}
	}
	if data.Project == "" {
		v.render(w, http.StatusOK, "facts", "Facts", data)
		return
	}
	deps, err := v.c.catalog.ListDeployments(ctx, connect.NewRequest(&flagopsv1.ListDeploymentsRequest{Workspace: v.ws, Project: data.Project, PageSize: apiPageSize}))
	if err != nil {
		data.Error = toAPIError(err).Message
		v.render(w, http.StatusOK, "facts", "Facts", data)
		return
	}
	for _, d := range deps.Msg.GetDeployments() {
		data.Targets = append(data.Targets, d.GetTarget())
	}
	if !contains(data.Targets, data.Target) {
		data.Target = ""
		if len(data.Targets) > 0 {
			data.Target = data.Targets[0]
		}
	}
	if data.Target == "" {
		v.render(w, http.StatusOK, "facts", "Facts · "+data.Project, data)
		return
	}
	res, err := v.c.facts.ResolveFacts(ctx, connect.NewRequest(&flagopsv1.ResolveFactsRequest{Workspace: v.ws, Project: data.Project, Target: data.Target}))
	if err != nil {
		data.Error = toAPIError(err).Message
		v.render(w, statusOf(err), "facts", "Facts", data)
		return
	}
	data.Environment = res.Msg.GetEnvironment()
	data.Revision = res.Msg.GetRevision()
	p, t, e := data.Project, data.Target, data.Environment
	data.Scopes = []scopeCol{{"workspace", "workspace"}, {"environment/" + e, "environment"}, {"target/" + t, "target"},
		{"project/" + p, "project"}, {"project/" + p + "@" + e, "project@env"}, {"deployment/" + p + "@" + t, "deployment"}}
	perScope := make([]map[string]string, len(data.Scopes))
	for i, sc := range data.Scopes {
		perScope[i] = map[string]string{}
		if got, err := v.c.facts.GetFacts(ctx, connect.NewRequest(&flagopsv1.GetFactsRequest{Workspace: v.ws, Scope: sc.Scope})); err == nil {
			for _, f := range got.Msg.GetFacts() {
				perScope[i][f.GetKey()] = valueText(f.GetValue())
			}
		}
		data.CanWrite[sc.Scope] = v.can(proc("FactService", "SetFacts"), &flagopsv1.SetFactsRequest{Workspace: v.ws, Scope: sc.Scope})
		data.CanSecret[sc.Scope] = v.can(proc("SecretService", "PutSecret"), &flagopsv1.PutSecretRequest{Workspace: v.ws, Scope: sc.Scope})
		data.AnyWrite = data.AnyWrite || data.CanWrite[sc.Scope]
		data.AnySecret = data.AnySecret || data.CanSecret[sc.Scope]
	}
	resolved := res.Msg.GetFacts().GetFields()
	for _, k := range sortedKeys(resolved) {
		row := factMatrixRow{Key: k, Resolved: valueText(resolved[k]), Source: res.Msg.GetSources()[k]}
		row.Builtin = row.Source == "builtin"
		for i, sc := range data.Scopes {
			val, ok := perScope[i][k]
			row.Cells = append(row.Cells, factCell{Set: ok, Value: val, Winner: ok && sc.Scope == row.Source})
		}
		data.Rows = append(data.Rows, row)
	}
	u.factsEvaluations(v, &data)
	u.factsSecrets(v, &data)
	if hk := q.Get("hkey"); hk != "" {
		data.HistoryKey, data.HistoryScope = hk, q.Get("hscope")
		h, err := v.c.facts.FactHistory(ctx, connect.NewRequest(&flagopsv1.FactHistoryRequest{Workspace: v.ws, Scope: data.HistoryScope, Key: hk, PageSize: 100}))
		if err != nil {
			data.HistoryError = toAPIError(err).Message
		} else {
			cs := h.Msg.GetChanges()
			for i, j := 0, len(cs)-1; i < j; i, j = i+1, j-1 {
				cs[i], cs[j] = cs[j], cs[i]
			}
			data.History = changeRows(cs)
		}
	}
	v.render(w, http.StatusOK, "facts", "Facts · "+p+"@"+t, data)
}

// factsEvaluations evaluates the project's flags for the page's deployment,
// so an edited fact shows what it changes.
func (u *UI) factsEvaluations(v *view, data *factsData) {
	ctx := v.ctx()
	if !v.can(proc("FlagService", "Evaluate"), &flagopsv1.EvaluateRequest{Workspace: v.ws, Project: data.Project, Target: data.Target, Environment: data.Environment}) {
		data.EvalNote = "Your key may not evaluate flags here."
		return
	}
	flags, err := v.allFlags(ctx, data.Project)
	if err != nil {
		data.EvalNote = toAPIError(err).Message
		return
	}
	if len(flags) > flagsEvaluatedOnFactsPage {
		data.EvalNote = "The first " + itoa(flagsEvaluatedOnFactsPage) + " of " + itoa(len(flags)) + " flags."
		flags = flags[:flagsEvaluatedOnFactsPage]
	}
	for _, f := range flags {
		res, err := v.c.flags.Evaluate(ctx, connect.NewRequest(&flagopsv1.EvaluateRequest{Workspace: v.ws, Project: data.Project,
			Target: data.Target, Flag: f.GetKey(), TargetingKey: data.Project + "@" + data.Target}))
		row := evalRow{Flag: f.GetKey()}
		if err != nil {
			row.Error = toAPIError(err).Message
		} else {
			row.Value, row.Variant, row.Reason = valueText(res.Msg.GetValue()), res.Msg.GetVariant(), res.Msg.GetReason()
			row.Error = strings.TrimSpace(res.Msg.GetErrorCode() + " " + res.Msg.GetErrorMessage())
		}
		data.Evals = append(data.Evals, row)
	}
}

// factsSecrets lists the deployment's secrets: metadata, versions and who
// read them. Values are never fetched: the UI has no read path for them.
func (u *UI) factsSecrets(v *view, data *factsData) {
	ctx := v.ctx()
	res, err := v.c.secrets.ResolveSecrets(ctx, connect.NewRequest(&flagopsv1.ResolveSecretsRequest{Workspace: v.ws, Project: data.Project, Target: data.Target}))
	if err != nil {
		data.SecretsNote = toAPIError(err).Message
		return
	}
	for _, s := range res.Msg.GetSecrets() {
		row := secretRow{S: s}
		if vs, err := v.c.secrets.ListSecretVersions(ctx, connect.NewRequest(&flagopsv1.ListSecretVersionsRequest{Workspace: v.ws, Scope: s.GetScope(), Key: s.GetKey()})); err == nil {
			row.Versions = vs.Msg.GetVersions()
		}
		if rs, err := v.c.secrets.ListSecretReads(ctx, connect.NewRequest(&flagopsv1.ListSecretReadsRequest{Workspace: v.ws, Scope: s.GetScope(), Key: s.GetKey(), Limit: 10})); err == nil {
			row.Reads = rs.Msg.GetReads()
		}
		data.Secrets = append(data.Secrets, row)
	}
}
