package web

import (
	"bytes"
	"encoding/json"
	"fmt"
	"html/template"
	"io/fs"
	"log/slog"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"google.golang.org/protobuf/types/known/structpb"
	"google.golang.org/protobuf/types/known/timestamppb"

	flagopsv1 "github.com/flagops/flagops/gen/flagops/v1"
)

// pages are the parsed templates: one set per page, each the layout plus
// the page's own file.
type pages struct {
	sets map[string]*template.Template
}

// bare pages render without the layout (sign-in).
var barePages = map[string]bool{"signin": true, "signinlink": true}

func mustParsePages() *pages {
	base := template.Must(template.New("").Funcs(funcs).ParseFS(assets, "templates/layout.html", "templates/parts.html"))
	names, err := fs.Glob(assets, "templates/*.html")
	if err != nil {
		panic(err)
	}
	p := &pages{sets: map[string]*template.Template{}}
	for _, n := range names {
		name := strings.TrimSuffix(strings.TrimPrefix(n, "templates/"), ".html")
		if name == "layout" || name == "parts" {
			continue
		}
		p.sets[name] = template.Must(template.Must(base.Clone()).ParseFS(assets, n))
	}
	return p
}

// layout is what every page's frame shows.
type layout struct {
	Title     string
	Nav       string
	Actor     string
	Workspace string
	CSRF      string
	Revision  int64
	Flash     string
	FlashErr  string
	// CanAccess shows the Access tab.
	CanAccess bool
	Page      any
}

// render writes a page in the layout. It renders into a buffer first, so a
// template error is a clean 500 and never half a page.
func (v *view) render(w http.ResponseWriter, status int, name, title string, data any) {
	l := layout{Title: title, Nav: name, Actor: v.p.Actor, Workspace: v.ws, CSRF: v.sess.csrf, Page: data,
		CanAccess: v.can(proc("AccessService", "ListKeys"), &flagopsv1.ListKeysRequest{})}
	l.Revision = v.rev
	l.Flash, l.FlashErr = v.u.sessions.takeFlash(v.sess)
	v.u.pages.write(w, status, name, "layout", l, v.u.log)
}

func (p *pages) renderBare(w http.ResponseWriter, status int, name string, data any) {
	p.write(w, status, name, "bare", data, slog.Default())
}

func (p *pages) write(w http.ResponseWriter, status int, name, root string, data any, log *slog.Logger) {
	set, ok := p.sets[name]
	if !ok {
		http.Error(w, "no page "+name, http.StatusInternalServerError)
		return
	}
	var buf bytes.Buffer
	if err := set.ExecuteTemplate(&buf, root, data); err != nil {
		log.Error("web: render page", "page", name, "err", err)
		http.Error(w, "the page could not be rendered; see the server log", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(status)
	_, _ = w.Write(buf.Bytes())
}

// funcs are the template helpers.
var funcs = template.FuncMap{
	"ago":     ago,
	"ts":      tsString,
	"json":    jsonText,
	"value":   valueText,
	"jsonc":   compactJSON,
	"join":    strings.Join,
	"percent": func(w int32) string { return strconv.FormatFloat(float64(w)/1000, 'f', -1, 64) + "%" },
	"add":     func(a, b int) int { return a + b },
	"query":   queryWith,
	"eq1":     func(a, b string) bool { return a == b },
	"upper":   strings.ToUpper,
	"has":     func(list []string, s string) bool { return contains(list, s) },
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// ago writes a time as an age ("3m", "2h", "5d"), or "" for none.
func ago(t any) string {
	var tt time.Time
	switch x := t.(type) {
	case time.Time:
		tt = x
	case *timestamppb.Timestamp:
		if x == nil {
			return ""
		}
		tt = x.AsTime()
	}
	if tt.IsZero() {
		return ""
	}
	d := time.Since(tt)
	switch {
	case d < time.Minute:
		return strconv.Itoa(int(d/time.Second)) + "s"
	case d < time.Hour:
		return strconv.Itoa(int(d/time.Minute)) + "m"
	case d < 48*time.Hour:
		return strconv.Itoa(int(d/time.Hour)) + "h"
	}
	return strconv.Itoa(int(d/(24*time.Hour))) + "d"
}

func tsString(t any) string {
	switch x := t.(type) {
	case time.Time:
		if x.IsZero() {
			return ""
		}
		return x.UTC().Format("2006-01-02 15:04:05Z")
	case *timestamppb.Timestamp:
		if x == nil {
			return ""
		}
		return x.AsTime().UTC().Format("2006-01-02 15:04:05Z")
	}
	return ""
}

// jsonText writes any value as indented JSON.
func jsonText(v any) string {
	switch x := v.(type) {
	case *structpb.Value:
		if x == nil {
			return ""
		}
		v = x.AsInterface()
	case *structpb.Struct:
		if x == nil {
			return ""
		}
		v = x.AsMap()
	}
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return fmt.Sprint(v)
	}
	return string(b)
}

// valueText writes a value compactly: strings bare, the rest as JSON.
func valueText(v any) string {
	if x, ok := v.(*structpb.Value); ok {
		if x == nil {
			return ""
		}
		v = x.AsInterface()
	}
	if s, ok := v.(string); ok {
		return s
	}
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Sprint(v)
	}
	return string(b)
}

// queryWith returns "?"+q with key set to value (empty removes it), for
// links that change one filter or the page and keep the others.
func queryWith(q url.Values, kv ...string) string {
	out := url.Values{}
	for k, v := range q {
		out[k] = v
	}
	for i := 0; i+1 < len(kv); i += 2 {
		if kv[i+1] == "" {
			out.Del(kv[i])
		} else {
			out.Set(kv[i], kv[i+1])
		}
	}
	if len(out) == 0 {
		return "?"
	}
	return "?" + out.Encode()
}

// pager is one page of a longer list.
type pager struct {
	Page, Pages, Total, From, To int
	Query                        url.Values
}

// paginate returns the bounds of page (1-based, from the "page" query
// value) of n items, size per page.
func paginate(q url.Values, n, size int) (lo, hi int, p pager) {
	page, _ := strconv.Atoi(q.Get("page"))
	pages := (n + size - 1) / size
	if pages < 1 {
		pages = 1
	}
	if page < 1 {
		page = 1
	}
	if page > pages {
		page = pages
	}
	lo = (page - 1) * size
	hi = min(lo+size, n)
	return lo, hi, pager{Page: page, Pages: pages, Total: n, From: lo + 1, To: hi, Query: q}
}

// Prev and Next are the neighbouring page numbers as strings (empty at the
// ends), for queryWith.
func (p pager) Prev() string {
	if p.Page <= 1 {
		return ""
	}
	return strconv.Itoa(p.Page - 1)
}

func (p pager) Next() string {
	if p.Page >= p.Pages {
		return ""
	}
	return strconv.Itoa(p.Page + 1)
}

func itoa(n int) string { return strconv.Itoa(n) }

// compactJSON writes a value as compact JSON.
func compactJSON(v any) string {
	if x, ok := v.(*structpb.Value); ok {
		if x == nil {
			return "null"
		}
		v = x.AsInterface()
	}
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Sprint(v)
	}
	return string(b)
}
