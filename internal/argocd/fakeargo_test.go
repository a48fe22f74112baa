package argocd_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
)

const argoToken = "argo-test-token"

// fakeArgo is an HTTP fake of Argo CD's API server on 127.0.0.1. It follows
// the documented paths and payloads: Applications as Kubernetes objects
// (metadata, spec.source, status), lists as {"metadata":{},"items":[…]},
// errors as {"error","code","message"}, a bearer token on every call,
// refresh=hard as a query parameter of GET, PUT with resourceVersion
// checks, and POST …/sync with an ApplicationSyncRequest body.
type fakeArgo struct {
	t   *testing.T
	srv *httptest.Server

	mu        sync.Mutex
	apps      map[string]map[string]any // by name
	version   int
	refreshes []string // "NAME:MODE" of every GET with refresh
	updates   []string // names of PUT Applications
	syncs     []string // names of synced Applications
	// failRefreshes makes that many refresh requests fail with 503.
	failRefreshes int
}

func newFakeArgo(t *testing.T, apps ...map[string]any) *fakeArgo {
	f := &fakeArgo{t: t, apps: map[string]map[string]any{}}
	for _, a := range apps {
		f.version++
		meta := a["metadata"].(map[string]any)
		meta["resourceVersion"] = strconv.Itoa(f.version)
		f.apps[meta["name"].(string)] = a
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /api/v1/applications", f.list)
	mux.HandleFunc("GET /api/v1/applications/{name}", f.get)
	mux.HandleFunc("PUT /api/v1/applications/{name}", f.put)
	mux.HandleFunc("POST /api/v1/applications/{name}/sync", f.sync)
	f.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != "Bearer "+argoToken {
			argoError(w, http.StatusUnauthorized, 16, "no session information")
			return
		}
		mux.ServeHTTP(w, r)
	}))
	t.Cleanup(f.srv.Close)
	return f
}

// app builds an Application labelled for project@target whose spec.source
// has a Helm parameter image.tag and targetRevision HEAD.
func app(name, project, target, tag string) map[string]any {
	var m map[string]any
	_ = json.Unmarshal([]byte(fmt.Sprintf(`{
	  "metadata": {"name": %q, "namespace": "argocd", "labels": {"flagops.dev/project": %q, "flagops.dev/target": %q}},
	  "spec": {"project": "default",
	    "source": {"repoURL": "https://git.example.com/apps.git", "path": "apps/%s", "targetRevision": "HEAD",
	      "plugin": {"name": "flagops-v1.0"},
	      "helm": {"parameters": [{"name": "image.tag", "value": %q}, {"name": "replicas", "value": "2"}]},
	      "kustomize": {"images": ["registry.example.com:5000/%s:%s"]}},
	    "destination": {"server": "https://kubernetes.default.svc", "namespace": %q}},
	  "status": {"sync": {"status": "Synced", "revision": "abc123"}, "health": {"status": "Healthy"},
	    "summary": {"images": ["registry.example.com:5000/%s:%s"]}}
	}`, name, project, target, project, tag, project, tag, project, project, tag)), &m)
	return m
}

func argoError(w http.ResponseWriter, status, code int, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(map[string]any{"error": msg, "code": code, "message": msg})
}

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(v)
}

// labelsMatch applies an equality-based label selector ("a=b,c=d").
func labelsMatch(selector string, labels map[string]any) bool {
	for _, term := range strings.Split(selector, ",") {
		if term == "" {
			continue
		}
		k, v, _ := strings.Cut(term, "=")
		if labels[k] != v {
			return false
		}
	}
	return true
}

func (f *fakeArgo) list(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	defer f.mu.Unlock()
	items := []any{}
	for _, a := range f.apps {
		labels, _ := a["metadata"].(map[string]any)["labels"].(map[string]any)
		if labelsMatch(r.URL.Query().Get("selector"), labels) {
			items = append(items, a)
		}
	}
	writeJSON(w, map[string]any{"metadata": map[string]any{"resourceVersion": strconv.Itoa(f.version)}, "items": items})
}

func (f *fakeArgo) get(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	defer f.mu.Unlock()
	name := r.PathValue("name")
	a, ok := f.apps[name]
	if !ok {
		argoError(w, http.StatusNotFound, 5, fmt.Sprintf("applications.argoproj.io %q not found", name))
		return
	}
	if mode := r.URL.Query().Get("refresh"); mode != "" {
		if mode != "hard" && mode != "normal" {
			argoError(w, http.StatusBadRequest, 3, "unknown refresh mode "+mode)
			return
		}
		if f.failRefreshes > 0 {
			f.failRefreshes--
			argoError(w, http.StatusServiceUnavailable, 14, "repo server unavailable")
			return
		}
		f.refreshes = append(f.refreshes, name+":"+mode)
	}
	writeJSON(w, a)
}

func (f *fakeArgo) put(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	defer f.mu.Unlock()
	name := r.PathValue("name")
	cur, ok := f.apps[name]
	if !ok {
		argoError(w, http.StatusNotFound, 5, fmt.Sprintf("applications.argoproj.io %q not found", name))
		return
	}
	var next map[string]any
	if err := json.NewDecoder(r.Body).Decode(&next); err != nil {
		argoError(w, http.StatusBadRequest, 3, err.Error())
		return
	}
	meta, _ := next["metadata"].(map[string]any)
	if meta["name"] != name {
		argoError(w, http.StatusBadRequest, 3, "metadata.name does not match the path")
		return
	}
	if meta["resourceVersion"] != cur["metadata"].(map[string]any)["resourceVersion"] {
		argoError(w, http.StatusConflict, 10, "the object has been modified; please apply your changes to the latest version and try again")
		return
	}
	f.version++
	meta["resourceVersion"] = strconv.Itoa(f.version)
	f.apps[name] = next
	f.updates = append(f.updates, name)
	writeJSON(w, next)
}

func (f *fakeArgo) sync(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	defer f.mu.Unlock()
	var req struct {
		Name string `json:"name"`
	}
	if err := json.NewDecoder(r.Body).Decode(&req); err != nil || req.Name != r.PathValue("name") {
		argoError(w, http.StatusBadRequest, 3, "sync request must name the application")
		return
	}
	f.syncs = append(f.syncs, req.Name)
	writeJSON(w, f.apps[req.Name])
}

// snapshot returns copies of what the fake recorded.
func (f *fakeArgo) snapshot() (refreshes, updates, syncs []string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.refreshes...), append([]string(nil), f.updates...), append([]string(nil), f.syncs...)
}

// source returns spec.source of an Application.
func (f *fakeArgo) source(name string) map[string]any {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.apps[name]["spec"].(map[string]any)["source"].(map[string]any)
}
