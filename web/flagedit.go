package web

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"connectrpc.com/connect"
	"go.yaml.in/yaml/v3"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/structpb"

	flagopsv1 "github.com/flagops/flagops/gen/flagops/v1"
	"github.com/flagops/flagops/internal/eval"
)

// flagYAML writes a flag as the YAML document `flagops flags put -f` reads
// (the flag JSON shape), in the API's field order, without its revision.
func flagYAML(f *flagopsv1.Flag) (string, error) {
	f = proto.CloneOf(f)
	f.Revision = 0
	b, err := protojson.Marshal(f)
	if err != nil {
		return "", err
	}
	var n yaml.Node
	if err := yaml.Unmarshal(b, &n); err != nil {
		return "", err
	}
	blockStyle(&n)
	var out bytes.Buffer
	enc := yaml.NewEncoder(&out)
	enc.SetIndent(2)
	if err := enc.Encode(&n); err != nil {
		return "", err
	}
	return out.String(), nil
}

// blockStyle clears the flow style JSON input gives every node, so the
// document reads as ordinary block YAML.
func blockStyle(n *yaml.Node) {
	n.Style &^= yaml.FlowStyle
	if n.Kind == yaml.ScalarNode && n.Tag == "!!str" {
		n.Style &^= yaml.DoubleQuotedStyle
	}
	for _, c := range n.Content {
		blockStyle(c)
	}
}

// flagFromYAML reads a YAML flag document strictly: an unknown field is an
// error naming it.
func flagFromYAML(text string) (*flagopsv1.Flag, error) {
	var doc any
	if err := yaml.Unmarshal([]byte(text), &doc); err != nil {
		return nil, &apiError{Code: "invalid_argument", Field: "yaml", Message: "not YAML: " + err.Error()}
	}
	if _, ok := doc.(map[string]any); !ok {
		return nil, &apiError{Code: "invalid_argument", Field: "yaml", Message: "the document must be a mapping (a flag)"}
	}
	b, err := json.Marshal(doc)
	if err != nil {
		return nil, &apiError{Code: "invalid_argument", Field: "yaml", Message: err.Error()}
	}
	f := &flagopsv1.Flag{}
	if err := protojson.Unmarshal(b, f); err != nil {
		return nil, &apiError{Code: "invalid_argument", Field: "yaml", Message: "not a flag: " + err.Error()}
	}
	return f, nil
}

// saveFlag handles both editors of the flag page. A refused save renders
// the page again with the input and the server's error at its field.
func (u *UI) saveFlag(w http.ResponseWriter, r *http.Request, v *view) {
	ctx := v.ctx()
	project, key := trimmed(r, "project"), trimmed(r, "key")
	mode := r.PostFormValue("mode")
	form := flagForm{Mode: mode}
	rev, _ := strconv.ParseInt(r.PostFormValue("revision"), 10, 64)
	var f *flagopsv1.Flag
	var err error
	if mode == "yaml" {
		form.YAML = r.PostFormValue("yaml")
		f, err = flagFromYAML(form.YAML)
		if err == nil && (f.GetKey() != key || f.GetProject() != "" && f.GetProject() != project) {
			err = &apiError{Code: "invalid_argument", Field: "key", Message: fmt.Sprintf("the document is flag %s/%s; this page edits %s/%s (create flags with flagops flags put)", f.GetProject(), f.GetKey(), project, key)}
		}
		if f != nil {
			f.Project = project
		}
	} else {
		f, err = v.flagFromForm(ctx, r, project, key)
	}
	if err == nil {
		_, err = v.c.flags.PutFlag(ctx, connect.NewRequest(&flagopsv1.PutFlagRequest{Workspace: v.ws, Flag: f, ExpectedRevision: &rev}))
	}
	if err != nil {
		ae, ok := err.(*apiError)
		if !ok {
			ae = toAPIError(err)
		}
		if ae.Code == connect.CodeAborted.String() {
			ae.Message = "the flag changed since this page was loaded (" + ae.Message + "); reload it and apply your edit again"
		}
		form.Err = ae
		u.renderFlagPage(w, r, v, project, key, form, http.StatusBadRequest)
		return
	}
	v.u.sessions.update(v.sess, func(s *session) { s.flash = "Saved flag " + key + "." })
	http.Redirect(w, r, "/flags/"+url.PathEscape(project)+"/"+url.PathEscape(key), http.StatusSeeOther)
}

// flagFromForm applies the form editor's fields to the stored flag.
func (v *view) flagFromForm(ctx context.Context, r *http.Request, project, key string) (*flagopsv1.Flag, error) {
	res, err := v.c.flags.GetFlag(ctx, connect.NewRequest(&flagopsv1.GetFlagRequest{Workspace: v.ws, Project: project, Key: key}))
	if err != nil {
		return nil, err
	}
	f := res.Msg.GetFlag()
	f.Revision = 0
	f.Name = trimmed(r, "name")
	f.Description = trimmed(r, "description")
	f.Tags = nil
	for _, t := range strings.Split(r.PostFormValue("tags"), ",") {
		if t = strings.TrimSpace(t); t != "" {
			f.Tags = append(f.Tags, t)
		}
	}
	for i, vr := range f.GetVariations() {
		field := "variations[" + strconv.Itoa(i) + "].value"
		raw, ok := r.PostForm[field]
		if !ok {
			continue
		}
		val := &structpb.Value{}
		if err := protojson.Unmarshal([]byte(strings.TrimSpace(raw[0])), val); err != nil {
			return nil, &apiError{Code: "invalid_argument", Field: field, Message: "not a JSON value (write strings in quotes): " + err.Error()}
		}
		vr.Value = val
	}
	if f.Environments == nil {
		f.Environments = map[string]*flagopsv1.Targeting{}
	}
	for _, env := range r.PostForm["env"] {
		t := f.Environments[env]
		if t == nil {
			t = &flagopsv1.Targeting{Fallthrough: &flagopsv1.Serve{}}
			f.Environments[env] = t
		}
		prefix := "environments." + env + "."
		t.Enabled = r.PostFormValue(prefix+"enabled") == "on"
		t.OffVariation = r.PostFormValue(prefix + "offVariation")
		if ft, ok := r.PostForm[prefix+"fallthrough.variation"]; ok {
			if t.Fallthrough == nil {
				t.Fallthrough = &flagopsv1.Serve{}
			}
			t.Fallthrough.Variation = ft[0]
			if ft[0] != "" {
				t.Fallthrough.Rollout = nil
			}
		}
	}
	return f, nil
}

type factRow struct {
	Key, Value, Source string
}

// evaluateFromQuery runs the flag page's "evaluate as…" form (a GET, since
// evaluating changes nothing).
func (v *view) evaluateFromQuery(ctx context.Context, q url.Values, project, key string) evalData {
	d := evalData{Target: q.Get("target"), Env: q.Get("env"), Context: q.Get("context"), Key: q.Get("targeting_key")}
	if q.Get("eval") == "" {
		return d
	}
	d.Ran = true
	req := &flagopsv1.EvaluateRequest{Workspace: v.ws, Project: project, Flag: key, Target: d.Target, Environment: d.Env,
		TargetingKey: d.Key, Explain: true}
	if d.Target != "" {
		req.Environment = ""
		// Evaluating as a deployment buckets the deployment itself unless
		// the person names another key, as the facts page does.
		if req.TargetingKey == "" {
			req.TargetingKey = project + "@" + d.Target
		}
	}
	if s := strings.TrimSpace(d.Context); s != "" {
		st := &structpb.Struct{}
		if err := protojson.Unmarshal([]byte(s), st); err != nil {
			d.Err = "context: not a JSON object: " + err.Error()
			return d
		}
		req.Context = st
	}
	res, err := v.c.flags.Evaluate(ctx, connect.NewRequest(req))
	if err != nil {
		ae := toAPIError(err)
		d.Err = ae.Message
		if ae.Field != "" {
			d.Err = ae.Field + ": " + ae.Message
		}
		return d
	}
	d.Result = res.Msg
	d.Explain = explanationOf(res.Msg.GetExplanation())
	facts := res.Msg.GetFacts()
	for _, k := range sortedKeys(facts.GetFacts().GetFields()) {
		d.Facts = append(d.Facts, factRow{Key: k, Value: valueText(facts.GetFacts().GetFields()[k]), Source: facts.GetSources()[k]})
	}
	return d
}

// explanationOf decodes the explanation document the API returns.
func explanationOf(s *structpb.Struct) *eval.Explanation {
	if s == nil {
		return nil
	}
	b, err := s.MarshalJSON()
	if err != nil {
		return nil
	}
	var e eval.Explanation
	if json.Unmarshal(b, &e) != nil {
		return nil
	}
	return &e
}

// toggleFlag turns a flag on or off in one environment, against the
// revision it reads (so a concurrent edit is never overwritten).
func (v *view) toggleFlag(ctx context.Context, project, key, env string, on bool) error {
	res, err := v.c.flags.GetFlag(ctx, connect.NewRequest(&flagopsv1.GetFlagRequest{Workspace: v.ws, Project: project, Key: key}))
	if err != nil {
		return err
	}
	f := res.Msg.GetFlag()
	rev := f.GetRevision()
	t, ok := f.GetEnvironments()[env]
	if !ok {
		return &apiError{Code: "failed_precondition", Field: "environments." + env,
			Message: "the flag has no targeting in " + env + "; configure it on the flag's page first"}
	}
	t.Enabled = on
	f.Revision = 0
	_, err = v.c.flags.PutFlag(ctx, connect.NewRequest(&flagopsv1.PutFlagRequest{Workspace: v.ws, Flag: f, ExpectedRevision: &rev}))
	return err
}
