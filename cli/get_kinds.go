package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"strconv"
	"strings"

	"connectrpc.com/connect"

	flagopsv1 "github.com/flagops/flagops/gen/flagops/v1"
	"github.com/flagops/flagops/internal/domain"
	"github.com/flagops/flagops/internal/flag"
	"github.com/flagops/flagops/internal/manifest"
)

// manifests are the documents -o json and -o yaml write for objects of the
// manifest kinds, so that "flagops apply -f" reads them back: one object,
// or, for a list, a JSON array and a stream of YAML documents.
type manifests struct {
	docs   []json.RawMessage
	single bool
}

func (m manifests) write(w io.Writer, format string) error {
	if format == formatJSON {
		var v any = m.docs
		if m.single {
			v = m.docs[0]
		}
		return printValue(w, formatJSON, v, nil)
	}
	for i, d := range m.docs {
		if i > 0 {
			if _, err := io.WriteString(w, "---\n"); err != nil {
				return err
			}
		}
		if err := writeYAML(w, d); err != nil {
			return err
		}
	}
	return nil
}

// encodeManifests writes objects of one kind as manifests of workspace ws.
func encodeManifests[D any](ws string, items []D) ([]json.RawMessage, error) {
	out := make([]json.RawMessage, 0, len(items))
	for _, it := range items {
		raw, err := manifest.Encode(ws, it, 0)
		if err != nil {
			return nil, err
		}
		out = append(out, raw)
	}
	return out, nil
}

// shapeManifests is shape for the catalog kinds: -o json and -o yaml write
// manifests.
func shapeManifests[D any](name string, items []D, err error, header []string, row func(D) []string) (any, func() *table, error) {
	if err != nil {
		return nil, nil, err
	}
	docs := make([]json.RawMessage, 0, len(items))
	for _, it := range items {
		raw, err := manifest.Encode(catalogWorkspace(it), it, 0)
		if err != nil {
			return nil, nil, err
		}
		docs = append(docs, raw)
	}
	_, tbl, _ := shape(name, items, nil, header, row)
	return manifests{docs: docs, single: name != ""}, tbl, nil
}

// catalogWorkspace is the workspace of a catalog object.
func catalogWorkspace(obj any) string {
	switch o := obj.(type) {
	case domain.Environment:
		return o.Workspace
	case domain.Target:
		return o.Workspace
	case domain.EnvironmentSet:
		return o.Workspace
	case domain.Project:
		return o.Workspace
	}
	return ""
}

// fetchMore is fetch for the kinds beyond the catalog: facts, segments,
// flags, releases and promotion policies.
func (a *app) fetchMore(ctx context.Context, kind, name, project string) (any, func() *table, error) {
	ws := a.workspace
	switch kind {
	case kFacts:
		if name == "" {
			return nil, nil, usagef("get facts needs the scope: flagops get facts SCOPE (%s)", domain.ScopeSyntax)
		}
		f, rev, err := a.scopeFacts(ctx, name)
		if err != nil {
			return nil, nil, err
		}
		doc, err := manifest.Encode(ws, f, rev)
		if err != nil {
			return nil, nil, err
		}
		return manifests{docs: []json.RawMessage{doc}, single: true}, func() *table {
			t := &table{header: []string{"KEY", "VALUE"}}
			for _, k := range sortedKeys(f.Values) {
				t.add(k, compactJSON(f.Values[k]))
			}
			return t
		}, nil
	case kSegments, kFlags:
		return a.fetchFlags(ctx, kind, name, project)
	case kReleases:
		return a.fetchReleases(ctx, name, project)
	case kPolicies:
		return a.fetchPolicies(ctx, name, project)
	}
	return nil, nil, usagef("unknown kind %q", kind)
}

// scopeFacts reads one scope's facts as a Facts document's object.
func (a *app) scopeFacts(ctx context.Context, scope string) (manifest.Facts, int64, error) {
	sc, err := domain.ParseScope(scope)
	if err != nil {
		return manifest.Facts{}, 0, usageError{err}
	}
	res, err := a.clients().facts.GetFacts(ctx, connect.NewRequest(&flagopsv1.GetFactsRequest{Workspace: a.workspace, Scope: scope}))
	if err != nil {
		return manifest.Facts{}, 0, err
	}
	f := manifest.Facts{Scope: sc, Values: map[string]json.RawMessage{}}
	for _, fact := range res.Msg.GetFacts() {
		f.Values[fact.GetKey()] = valueJSON(fact.GetValue())
	}
	if len(f.Values) == 0 {
		return f, 0, connect.NewError(connect.CodeNotFound, fmt.Errorf("scope %s has no facts", scope))
	}
	return f, res.Msg.GetRevision(), nil
}

// projects returns project, or every project of the workspace when it is "".
func (a *app) projects(ctx context.Context, project string) ([]string, error) {
	if project != "" {
		return []string{project}, nil
	}
	ps, err := getOrList("", nil, func(tok string) ([]*flagopsv1.Project, string, error) {
		r, err := msg(a.clients().catalog.ListProjects(ctx, connect.NewRequest(&flagopsv1.ListProjectsRequest{Workspace: a.workspace, PageSize: listPageSize, PageToken: tok})))
		return r.GetProjects(), r.GetNextPageToken(), err
	}, func(p *flagopsv1.Project) string { return p.GetMeta().GetName() })
	return ps, err
}

// fetchFlags gets one flag or segment (KEY with --project, or PROJECT/KEY),
// or lists those of a project (of every project without --project).
func (a *app) fetchFlags(ctx context.Context, kind, name, project string) (any, func() *table, error) {
	c := a.clients().flags
	if p, k, ok := strings.Cut(name, "/"); ok {
		project, name = p, k
	}
	if name != "" && project == "" {
		return nil, nil, usagef("name the %s as PROJECT/KEY, or give --project", strings.TrimSuffix(kind, "s"))
	}
	var flags []flag.Flag
	var segs []flag.Segment
	if name != "" {
		if kind == kFlags {
			r, err := msg(c.GetFlag(ctx, connect.NewRequest(&flagopsv1.GetFlagRequest{Workspace: a.workspace, Project: project, Key: name})))
			if err != nil {
				return nil, nil, err
			}
			f, err := flagFromProto(r.GetFlag())
			if err != nil {
				return nil, nil, err
			}
			flags = append(flags, f)
		} else {
			r, err := msg(c.GetSegment(ctx, connect.NewRequest(&flagopsv1.GetSegmentRequest{Workspace: a.workspace, Project: project, Key: name})))
			if err != nil {
				return nil, nil, err
			}
			s, err := segmentFromProto(r.GetSegment())
			if err != nil {
				return nil, nil, err
			}
			segs = append(segs, s)
		}
	} else {
		projects, err := a.projects(ctx, project)
		if err != nil {
			return nil, nil, err
		}
		for _, p := range projects {
			fs, ss, err := a.projectFlags(ctx, kind, p)
			if err != nil {
				return nil, nil, err
			}
			flags, segs = append(flags, fs...), append(segs, ss...)
		}
	}
	var docs []json.RawMessage
	var err error
	var tbl func() *table
	if kind == kFlags {
		docs, err = encodeManifests(a.workspace, flags)
		tbl = func() *table {
			t := flagsTable(flags)
			t.header = append([]string{"PROJECT"}, t.header...)
			for i := range t.rows {
				t.rows[i] = append([]string{flags[i].Project}, t.rows[i]...)
			}
			return t
		}
	} else {
		docs, err = encodeManifests(a.workspace, segs)
		tbl = func() *table {
			t := &table{header: []string{"PROJECT", "KEY", "INCLUDE", "EXCLUDE", "RULES", "REVISION"}}
			for _, s := range segs {
				t.add(s.Project, s.Key, strconv.Itoa(len(s.Include)), strconv.Itoa(len(s.Exclude)), strconv.Itoa(len(s.Rules)), strconv.FormatInt(s.Revision, 10))
			}
			return t
		}
	}
	if err != nil {
		return nil, nil, err
	}
	return manifests{docs: docs, single: name != ""}, tbl, nil
}

// projectFlags lists every flag (kind flags) or segment of a project.
func (a *app) projectFlags(ctx context.Context, kind, project string) ([]flag.Flag, []flag.Segment, error) {
	c := a.clients().flags
	var flags []flag.Flag
	var segs []flag.Segment
	for tok := ""; ; {
		var next string
		if kind == kFlags {
			r, err := msg(c.ListFlags(ctx, connect.NewRequest(&flagopsv1.ListFlagsRequest{Workspace: a.workspace, Project: project, PageSize: listPageSize, PageToken: tok})))
			if err != nil {
				return nil, nil, fmt.Errorf("list flags of %s: %w", project, err)
			}
			for _, m := range r.GetFlags() {
				f, err := flagFromProto(m)
				if err != nil {
					return nil, nil, err
				}
				flags = append(flags, f)
			}
			next = r.GetNextPageToken()
		} else {
			r, err := msg(c.ListSegments(ctx, connect.NewRequest(&flagopsv1.ListSegmentsRequest{Workspace: a.workspace, Project: project, PageSize: listPageSize, PageToken: tok})))
			if err != nil {
				return nil, nil, fmt.Errorf("list segments of %s: %w", project, err)
			}
			for _, m := range r.GetSegments() {
				s, err := segmentFromProto(m)
				if err != nil {
					return nil, nil, err
				}
				segs = append(segs, s)
			}
			next = r.GetNextPageToken()
		}
		if next == "" || next == tok {
			return flags, segs, nil
		}
		tok = next
	}
}

// fetchReleases gets one release (VERSION with --project, or
// PROJECT@VERSION) or lists releases, newest first.
func (a *app) fetchReleases(ctx context.Context, name, project string) (any, func() *table, error) {
	c := a.clients().releases
	if p, v, ok := strings.Cut(name, "@"); ok {
		project, name = p, v
	}
	var rs []domain.Release
	if name != "" {
		if project == "" {
			return nil, nil, usagef("name the release as PROJECT@VERSION, or give --project")
		}
		r, err := msg(c.GetRelease(ctx, connect.NewRequest(&flagopsv1.GetReleaseRequest{Workspace: a.workspace, Project: project, Version: name})))
		if err != nil {
			return nil, nil, err
		}
		rs = append(rs, releaseFromProto(r.GetRelease()))
	} else {
		r, err := msg(c.ListReleases(ctx, connect.NewRequest(&flagopsv1.ListReleasesRequest{Workspace: a.workspace, Project: project, PageSize: 1000})))
		if err != nil {
			return nil, nil, err
		}
		for _, m := range r.GetReleases() {
			rs = append(rs, releaseFromProto(m))
		}
	}
	docs, err := encodeManifests(a.workspace, rs)
	if err != nil {
		return nil, nil, err
	}
	now := a.now()
	return manifests{docs: docs, single: name != ""}, func() *table {
		t := &table{header: []string{"PROJECT", "VERSION", "COMMITS", "ARTIFACTS", "REVISION", "AGE"}}
		for _, r := range rs {
			t.add(r.Project, r.Version, strconv.Itoa(len(r.Commits)), strconv.Itoa(len(r.Artifacts)), strconv.FormatInt(r.Revision, 10), age(now, r.CreatedAt))
		}
		return t
	}, nil
}

// fetchPolicies gets one promotion policy (PROJECT:FROM->TO) or lists them.
func (a *app) fetchPolicies(ctx context.Context, name, project string) (any, func() *table, error) {
	if name != "" {
		p, pair, ok := strings.Cut(name, ":")
		from, to, ok2 := strings.Cut(pair, "->")
		if !ok || !ok2 || p == "" || from == "" || to == "" {
			return nil, nil, usagef("name a promotion policy as PROJECT:FROM->TO (quoted in a shell), not %q", name)
		}
		project, name = p, pair
	}
	res, err := a.clients().promotions.ListPromotionPolicies(ctx, connect.NewRequest(&flagopsv1.ListPromotionPoliciesRequest{Workspace: a.workspace, Project: project}))
	if err != nil {
		return nil, nil, err
	}
	var ps []domain.PromotionPolicy
	for _, m := range res.Msg.GetPolicies() {
		p := policyFromProto(m)
		if name == "" || p.From+"->"+p.To == name {
			ps = append(ps, p)
		}
	}
	if name != "" && len(ps) == 0 {
		return nil, nil, connect.NewError(connect.CodeNotFound, fmt.Errorf("promotion policy %s:%s not found", project, name))
	}
	docs, err := encodeManifests(a.workspace, ps)
	if err != nil {
		return nil, nil, err
	}
	return manifests{docs: docs, single: name != ""}, func() *table {
		t := &table{header: []string{"PROJECT", "FROM", "TO", "SOAK", "SCHEDULE", "REVISION"}}
		for _, p := range ps {
			t.add(p.Project, p.From, p.To, p.Soak.String(), orDash(p.Schedule), strconv.FormatInt(p.Revision, 10))
		}
		return t
	}, nil
}
