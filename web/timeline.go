package web

import (
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"google.golang.org/protobuf/types/known/timestamppb"

	flagopsv1 "github.com/flagops/flagops/gen/flagops/v1"
)

// timelinePageSize is the number of entries one timeline page shows.
const timelinePageSize = 50

// changeKinds are the kinds the timeline's filter offers.
var changeKinds = []string{"workspace", "environment", "target", "environmentset", "project", "fact", "secret",
	"flag", "segment", "flagschedule", "version", "deployed-version", "release", "promotion", "promotion-policy",
	"hold", "apikey", "webhook", "facthook"}

type diffLine struct {
	Op   string // "+", "-" or " "
	Text string
}

type changeRow struct {
	Revision  int64
	Seq       int32
	Time      *timestamppb.Timestamp
	Actor     string
	RequestID string
	Kind      string
	Key       string
	Op        string
	Diff      []diffLine
}

func opName(op flagopsv1.Operation) string {
	switch op {
	case flagopsv1.Operation_OPERATION_CREATE:
		return "create"
	case flagopsv1.Operation_OPERATION_UPDATE:
		return "update"
	case flagopsv1.Operation_OPERATION_DELETE:
		return "delete"
	}
	return "none"
}

func changeRows(cs []*flagopsv1.Change) []changeRow {
	out := make([]changeRow, 0, len(cs))
	for _, c := range cs {
		before, after := "", ""
		if c.GetBefore() != nil {
			before = jsonText(c.GetBefore())
		}
		if c.GetAfter() != nil {
			after = jsonText(c.GetAfter())
		}
		out = append(out, changeRow{Revision: c.GetRevision(), Seq: c.GetSeq(), Time: c.GetTime(), Actor: c.GetActor(),
			RequestID: c.GetRequestId(), Kind: c.GetKind(), Key: c.GetKey(), Op: opName(c.GetOperation()),
			Diff: lineDiff(before, after)})
	}
	return out
}

type timelineData struct {
	Error  string
	Kinds  []string
	Filter map[string]string
	Rows   []changeRow
	Older  string // the "before" value of the next page, or ""
	Newer  bool
	Query  url.Values
}

func (u *UI) timeline(w http.ResponseWriter, r *http.Request, v *view) {
	q := r.URL.Query()
	f := map[string]string{}
	for _, k := range []string{"kind", "project", "environment", "target", "actor", "since", "until"} {
		f[k] = strings.TrimSpace(q.Get(k))
	}
	data := timelineData{Kinds: changeKinds, Filter: f, Query: q}
	req := &flagopsv1.ListChangesRequest{Kind: f["kind"], Actor: f["actor"]}
	for _, k := range []string{"since", "until"} {
		if f[k] == "" {
			continue
		}
		t, err := parseTime(f[k])
		if err != nil {
			data.Error = k + ": " + err.Error()
			v.render(w, http.StatusBadRequest, "timeline", "Timeline", data)
			return
		}
		if k == "since" {
			req.Since = timestamppb.New(t)
		} else {
			req.Until = timestamppb.New(t)
		}
	}
	before, _ := strconv.ParseInt(q.Get("before"), 10, 64)
	data.Newer = before > 0
	keep := func(c *flagopsv1.Change) bool {
		return (f["project"] == "" || changeConcerns(c, f["project"])) &&
			(f["environment"] == "" || changeNamesEnvironment(c, f["environment"])) &&
			(f["target"] == "" || changeNamesTarget(c, f["target"]))
	}
	changes, more, err := v.recentChanges(v.ctx(), req, before, timelinePageSize, keep)
	if err != nil {
		data.Error = toAPIError(err).Message
	}
	data.Rows = changeRows(changes)
	if more && len(changes) > 0 {
		data.Older = strconv.FormatInt(changes[len(changes)-1].GetRevision()-1, 10)
	}
	v.render(w, http.StatusOK, "timeline", "Timeline", data)
}

// parseTime reads the timeline's time filters: RFC 3339, or the
// "2006-01-02T15:04" of an <input type=datetime-local> (taken as UTC).
func parseTime(s string) (time.Time, error) {
	for _, layout := range []string{time.RFC3339, "2006-01-02T15:04", "2006-01-02T15:04:05", "2006-01-02"} {
		if t, err := time.Parse(layout, s); err == nil {
			return t, nil
		}
	}
	return time.Time{}, errTime
}

type timeError struct{}

func (timeError) Error() string {
	return "not a time: write 2006-01-02T15:04 (UTC) or RFC 3339"
}

var errTime = timeError{}

// changeNamesEnvironment reports whether a change concerns environment
// env: by its key (versions, facts, the environment itself) or, for flags,
// by the environments its before or after image configures.
func changeNamesEnvironment(c *flagopsv1.Change, env string) bool {
	k := c.GetKey()
	switch c.GetKind() {
	case "environment":
		return k == env
	case "fact", "secret":
		scope, _, _ := strings.Cut(k, ":")
		return scope == "environment/"+env || strings.HasSuffix(scope, "@"+env)
	case "flag":
		for _, img := range []map[string]any{structOf(c.GetBefore()), structOf(c.GetAfter())} {
			if envs, ok := img["environments"].(map[string]any); ok {
				if _, ok := envs[env]; ok {
					return true
				}
			}
		}
		return false
	}
	_, rest, ok := strings.Cut(k, "@")
	if !ok {
		return false
	}
	e, _, _ := strings.Cut(rest, "/")
	return e == env
}

// changeNamesTarget reports whether a change's key names target t.
func changeNamesTarget(c *flagopsv1.Change, t string) bool {
	k := c.GetKey()
	switch c.GetKind() {
	case "target":
		return k == t
	case "fact", "secret":
		scope, _, _ := strings.Cut(k, ":")
		return scope == "target/"+t || strings.HasPrefix(scope, "deployment/") && strings.HasSuffix(scope, "@"+t)
	}
	return strings.HasSuffix(k, "/"+t) && strings.Contains(k, "@")
}

func structOf(v interface{ AsInterface() any }) map[string]any {
	if v == nil {
		return nil
	}
	if m, ok := v.AsInterface().(map[string]any); ok {
		return m
	}
	return nil
}

// maxDiffLines bounds a diff: a huge document shows its first lines.
const maxDiffLines = 400

// lineDiff is a line diff of two texts (longest common subsequence): the
// lines only in a are "-", only in b "+", common ones " ".
func lineDiff(a, b string) []diffLine {
	split := func(s string) []string {
		if s == "" {
			return nil
		}
		l := strings.Split(s, "\n")
		if len(l) > maxDiffLines {
			l = append(l[:maxDiffLines], "…")
		}
		return l
	}
	x, y := split(a), split(b)
	n, m := len(x), len(y)
	lcs := make([][]int, n+1)
	for i := range lcs {
		lcs[i] = make([]int, m+1)
	}
	for i := n - 1; i >= 0; i-- {
		for j := m - 1; j >= 0; j-- {
			if x[i] == y[j] {
				lcs[i][j] = lcs[i+1][j+1] + 1
			} else {
				lcs[i][j] = max(lcs[i+1][j], lcs[i][j+1])
			}
		}
	}
	var out []diffLine
	i, j := 0, 0
	for i < n || j < m {
		switch {
		case i < n && j < m && x[i] == y[j]:
			out = append(out, diffLine{" ", x[i]})
			i++
			j++
		case j < m && (i == n || lcs[i][j+1] >= lcs[i+1][j]):
			out = append(out, diffLine{"+", y[j]})
			j++
		default:
			out = append(out, diffLine{"-", x[i]})
			i++
		}
	}
	return out
}
