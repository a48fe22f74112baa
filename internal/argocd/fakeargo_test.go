package argocd_test

import (
	"encoding/json"
	"fmt"
	"hash/fnv"
	"maps"
	"net/http"
	"net/http/httptest"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
)

const argoToken = "argo-test-token"

// argoNS is the fake server's own namespace (--namespace of argocd-server).
const argoNS = "argocd"

// fakeArgo is an HTTP fake of Argo CD's API server on 127.0.0.1 that
// behaves as the real one does, not as its documentation suggests. It was
// written against Argo CD's source, the v2 module with Applications in any
// namespace (v2.5 and later; the handlers read are unchanged in substance
// through v3.x), and each behaviour cites the function it follows:
//
//   - server/application/application.go: List, Get (refresh waits for the
//     controller), Update (PUT ignores resourceVersion), Patch (JSON patch
//     on the current object), Sync (body only, refused while another
//     operation runs), getAppEnforceRBAC (403 for a missing Application);
//   - server/application/application.proto: which routes read the body
//     only (Patch and Sync take body "*");
//   - pkg/apis/application/v1alpha1/types.go: ExplicitType (one source
//     type), ComparedTo, SyncStatus, OperationState;
//   - reposerver/cache/cache.go: manifestCacheKey (what a render depends
//     on, hence when the controller renders again);
//   - util/argo/argo.go: SetAppOperation, AppInstanceName.
//
// The controller is modelled by reconcile (the comparison after a refresh
// or a spec change) and finishOp (an operation ending).
type fakeArgo struct {
	t   *testing.T
	srv *httptest.Server

	mu   sync.Mutex
	apps map[string]map[string]any // by "NAMESPACE/NAME"
	rv   int                       // the last resourceVersion given out
	// commits resolves targetRevisions to commits, as the repo server's
	// ResolveRevision would; unknown ones resolve to themselves.
	commits map[string]string
	// autoReconcile makes the controller compare an Application at once
	// after a spec change; without it the status lags until reconcile.
	autoReconcile bool
	// holdOps keeps every sync operation Running until finishOp.
	holdOps bool
	// failOps, when set, ends every operation Failed with this message.
	failOps string
	// failRefreshes makes that many refresh requests fail with 503, as an
	// ingress in front of an unavailable argocd-server answers.
	failRefreshes int
	// stuck names Applications whose hard refresh never completes: their
	// controller does not reconcile them.
	stuck map[string]bool
	// concurrent is an edit someone else makes between the agent's read
	// and its next write: applied, once, when that write arrives.
	concurrent func(app map[string]any)

	refreshes []string // "KEY:MODE" of every GET with refresh
	writes    []string // "KEY:PUT" or "KEY:PATCH" of every accepted write
	rejected  []string // "KEY: MESSAGE" of every refused write
	syncs     []string // keys of accepted syncs
	renders   []string // "KEY" each time the repo server generated manifests
	cacheKey  map[string]string
	live      map[string]string // the cache key of what was last synced
}

func newFakeArgo(t *testing.T, apps ...map[string]any) *fakeArgo {
	f := &fakeArgo{t: t, apps: map[string]map[string]any{}, commits: map[string]string{"HEAD": "c0ffee1"},
		stuck: map[string]bool{}, cacheKey: map[string]string{}, live: map[string]string{}}
	for _, a := range apps {
		f.add(a)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /api/v1/applications", f.list)
	mux.HandleFunc("GET /api/v1/applications/{name}", f.get)
	mux.HandleFunc("PUT /api/v1/applications/{name}", f.put)
	mux.HandleFunc("PATCH /api/v1/applications/{name}", f.patch)
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

// add stores an Application as synced and healthy, as if its controller
// had compared and synced it.
func (f *fakeArgo) add(a map[string]any) {
	f.mu.Lock()
	defer f.mu.Unlock()
	meta := a["metadata"].(map[string]any)
	if meta["namespace"] == nil {
		meta["namespace"] = argoNS
	}
	key := meta["namespace"].(string) + "/" + meta["name"].(string)
	f.rv++
	meta["resourceVersion"] = strconv.Itoa(f.rv)
	a["status"] = map[string]any{"health": map[string]any{"status": "Healthy"}, "summary": map[string]any{"images": []any{"registry.example.com/app:1"}}}
	f.apps[key] = a
	f.reconcileLocked(key, false)
	f.live[key] = f.cacheKey[key]
	f.setSyncStatus(key)
}

// appOf builds an Application labelled for project@target (labels nil:
// none) with the given spec.source.
func appOf(name string, labels map[string]any, source map[string]any) map[string]any {
	meta := map[string]any{"name": name, "namespace": argoNS}
	if labels != nil {
		meta["labels"] = labels
	}
	return map[string]any{"metadata": meta, "spec": map[string]any{"project": "default", "source": source,
		"destination": map[string]any{"server": "https://kubernetes.default.svc", "namespace": name}}}
}

func labelled(project, target string) map[string]any {
	return map[string]any{"flagops.dev/project": project, "flagops.dev/target": target}
}

// helmApp is a Helm Application whose image.tag parameter is tag.
func helmApp(name, project, target, tag string) map[string]any {
	return appOf(name, labelled(project, target), map[string]any{"repoURL": "https://git.example.com/apps.git", "path": "charts/" + project,
		"targetRevision": "HEAD", "helm": map[string]any{"parameters": []any{
			map[string]any{"name": "image.tag", "value": tag}, map[string]any{"name": "replicas", "value": "2"}}}})
}

// kustomizeApp is a Kustomize Application overriding image
// registry.example.com:5000/PROJECT with tag.
func kustomizeApp(name, project, target, tag string) map[string]any {
	return appOf(name, labelled(project, target), map[string]any{"repoURL": "https://git.example.com/apps.git", "path": "overlays/" + project,
		"targetRevision": "HEAD", "kustomize": map[string]any{"images": []any{"registry.example.com:5000/" + project + ":" + tag}}})
}

// pluginApp is an Application rendered by the flagops plugin, with a
// string parameter version.
func pluginApp(name, project, target, version string) map[string]any {
	return appOf(name, labelled(project, target), map[string]any{"repoURL": "https://git.example.com/apps.git", "path": "apps/" + project,
		"targetRevision": "HEAD", "plugin": map[string]any{"name": "flagops-v1", "parameters": []any{
			map[string]any{"name": "target", "string": target}, map[string]any{"name": "version", "string": version}}}})
}

func inNamespace(app map[string]any, ns string) map[string]any {
	app["metadata"].(map[string]any)["namespace"] = ns
	return app
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

// lookup finds an Application, or answers as getAppEnforceRBAC does when
// the request names no project: 403 "permission denied" for one that does
// not exist, so that existence does not leak.
func (f *fakeArgo) lookup(w http.ResponseWriter, ns, name string) (string, map[string]any, bool) {
	if ns == "" {
		ns = argoNS // appNamespaceOrDefault
	}
	key := ns + "/" + name
	a, ok := f.apps[key]
	if !ok {
		argoError(w, http.StatusForbidden, 7, "permission denied")
	}
	return key, a, ok
}

// list follows Server.List: every enabled namespace, or appNamespace
// only; items sorted by name.
func (f *fakeArgo) list(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	defer f.mu.Unlock()
	ns := r.URL.Query().Get("appNamespace")
	items := []any{}
	for _, key := range slices.Sorted(maps.Keys(f.apps)) {
		a := f.apps[key]
		meta := a["metadata"].(map[string]any)
		labels, _ := meta["labels"].(map[string]any)
		if (ns == "" || meta["namespace"] == ns) && labelsMatch(r.URL.Query().Get("selector"), labels) {
			items = append(items, a)
		}
	}
	slices.SortStableFunc(items, func(x, y any) int {
		return strings.Compare(x.(map[string]any)["metadata"].(map[string]any)["name"].(string), y.(map[string]any)["metadata"].(map[string]any)["name"].(string))
	})
	writeJSON(w, map[string]any{"metadata": map[string]any{"resourceVersion": strconv.Itoa(f.rv)}, "items": items})
}

// get follows Server.Get: the namespace is the appNamespace query
// parameter; with refresh, any value but "hard" is a normal refresh, and
// the answer waits until the controller has reconciled the Application
// (or the request's context ends: "application refresh deadline
// exceeded").
func (f *fakeArgo) get(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	key, a, ok := f.lookup(w, r.URL.Query().Get("appNamespace"), r.PathValue("name"))
	if !ok {
		f.mu.Unlock()
		return
	}
	mode := r.URL.Query().Get("refresh")
	if mode == "" {
		defer f.mu.Unlock()
		writeJSON(w, a)
		return
	}
	if mode != "hard" {
		mode = "normal"
	}
	if f.failRefreshes > 0 {
		f.failRefreshes--
		f.mu.Unlock()
		argoError(w, http.StatusServiceUnavailable, 14, "service unavailable")
		return
	}
	f.refreshes = append(f.refreshes, key+":"+mode)
	if f.stuck[key] {
		f.mu.Unlock()
		<-r.Context().Done()
		argoError(w, http.StatusInternalServerError, 2, "application refresh deadline exceeded")
		return
	}
	defer f.mu.Unlock()
	f.reconcileLocked(key, mode == "hard")
	writeJSON(w, f.apps[key])
}

// put follows Server.Update and updateApp: the namespace is the body's
// metadata.namespace; the current Application is read again and its spec,
// labels, annotations and finalizers are replaced by those sent, whatever
// resourceVersion the body carries. An edit made since the client read
// the Application is lost, and no 409 ever comes back.
func (f *fakeArgo) put(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	defer f.mu.Unlock()
	var next map[string]any
	if err := json.NewDecoder(r.Body).Decode(&next); err != nil {
		argoError(w, http.StatusBadRequest, 3, err.Error())
		return
	}
	meta, _ := next["metadata"].(map[string]any)
	ns, _ := meta["namespace"].(string)
	key, cur, ok := f.lookup(w, ns, r.PathValue("name"))
	if !ok {
		return
	}
	f.applyConcurrent(cur)
	if !f.validate(w, key, next) {
		return
	}
	f.update(key, cur, next)
	f.writes = append(f.writes, key+":PUT")
	writeJSON(w, cur)
}

// patch follows Server.Patch: the request (name, appNamespace, patch,
// patchType) is the body alone (body "*"); a "json" patch is applied to
// the current Application with evanphx/json-patch, whose failure (a test
// that does not hold, a path that is gone) is returned unwrapped as
// "error applying patch: …" with no gRPC code, hence HTTP 500; the result
// is validated and written as Update writes.
func (f *fakeArgo) patch(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	defer f.mu.Unlock()
	var req struct {
		AppNamespace string `json:"appNamespace"`
		Patch        string `json:"patch"`
		PatchType    string `json:"patchType"`
	}
	if err := json.NewDecoder(r.Body).Decode(&req); err != nil {
		argoError(w, http.StatusBadRequest, 3, err.Error())
		return
	}
	key, cur, ok := f.lookup(w, req.AppNamespace, r.PathValue("name"))
	if !ok {
		return
	}
	if req.PatchType != "json" && req.PatchType != "" {
		argoError(w, http.StatusBadRequest, 3, fmt.Sprintf("Patch type '%s' is not supported", req.PatchType))
		return
	}
	f.applyConcurrent(cur)
	var ops []map[string]any
	if err := json.Unmarshal([]byte(req.Patch), &ops); err != nil {
		argoError(w, http.StatusInternalServerError, 2, "error decoding json patch: "+err.Error())
		return
	}
	next, err := applyJSONPatch(deepCopy(cur), ops)
	if err != nil {
		argoError(w, http.StatusInternalServerError, 2, "error applying patch: "+err.Error())
		return
	}
	if !f.validate(w, key, next.(map[string]any)) {
		return
	}
	f.update(key, cur, next.(map[string]any))
	f.writes = append(f.writes, key+":PATCH")
	writeJSON(w, cur)
}

// sync follows Server.Sync and SetAppOperation: name and appNamespace
// come from the body only (body "*": a query parameter is ignored); an
// Application with an operation already set is refused with
// FailedPrecondition (HTTP 400) "another operation is already in
// progress"; else the operation is set and the status' operationState
// cleared.
func (f *fakeArgo) sync(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	defer f.mu.Unlock()
	var req struct {
		AppNamespace string `json:"appNamespace"`
	}
	if err := json.NewDecoder(r.Body).Decode(&req); err != nil {
		argoError(w, http.StatusBadRequest, 3, err.Error())
		return
	}
	key, a, ok := f.lookup(w, req.AppNamespace, r.PathValue("name"))
	if !ok {
		return
	}
	if a["operation"] != nil {
		argoError(w, http.StatusBadRequest, 9, "another operation is already in progress")
		return
	}
	a["operation"] = map[string]any{"sync": map[string]any{"revision": f.commitOf(a)}, "initiatedBy": map[string]any{"username": "flagops-agent"}}
	delete(a["status"].(map[string]any), "operationState")
	f.bump(a)
	f.syncs = append(f.syncs, key)
	if !f.holdOps {
		f.finishOpLocked(key)
	}
	writeJSON(w, a)
}

// applyConcurrent makes the pending concurrent edit, once.
func (f *fakeArgo) applyConcurrent(cur map[string]any) {
	if f.concurrent != nil {
		f.concurrent(cur)
		f.concurrent = nil
		f.bump(cur)
	}
}

// validate refuses, as validateAndNormalizeApp (ValidateRepo, then
// GetAppSourceType and ExplicitType) does, a source with more than one of
// helm, kustomize, directory and plugin: InvalidArgument, HTTP 400.
func (f *fakeArgo) validate(w http.ResponseWriter, key string, app map[string]any) bool {
	spec, _ := app["spec"].(map[string]any)
	srcs := []any{spec["source"]}
	if list, _ := spec["sources"].([]any); len(list) > 0 {
		srcs = list
	}
	for _, s := range srcs {
		src, _ := s.(map[string]any)
		var types []string
		for _, t := range []struct{ field, name string }{{"kustomize", "Kustomize"}, {"helm", "Helm"}, {"directory", "Directory"}, {"plugin", "Plugin"}} {
			if src[t.field] != nil {
				types = append(types, t.name)
			}
		}
		if len(types) > 1 {
			msg := fmt.Sprintf("application spec for %s is invalid: InvalidSpecError: Unable to determine app source type: multiple application sources defined: %s",
				app["metadata"].(map[string]any)["name"], strings.Join(types, ","))
			f.rejected = append(f.rejected, key+": "+msg)
			argoError(w, http.StatusBadRequest, 3, msg)
			return false
		}
	}
	return true
}

// update copies what updateApp copies (spec, labels, annotations,
// finalizers) from next onto cur, and lets the controller see the change.
func (f *fakeArgo) update(key string, cur, next map[string]any) {
	cur["spec"] = next["spec"]
	meta, nmeta := cur["metadata"].(map[string]any), next["metadata"].(map[string]any)
	for _, k := range []string{"labels", "annotations", "finalizers"} {
		if v, ok := nmeta[k]; ok {
			meta[k] = v
		} else {
			delete(meta, k)
		}
	}
	f.bump(cur)
	if f.autoReconcile {
		f.reconcileLocked(key, false)
	}
}

func (f *fakeArgo) bump(a map[string]any) {
	f.rv++
	a["metadata"].(map[string]any)["resourceVersion"] = strconv.Itoa(f.rv)
}

// reconcile is the controller comparing an Application with its spec.
func (f *fakeArgo) reconcile(key string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.reconcileLocked(key, false)
}

// reconcileLocked compares: the repo server generates manifests again
// when the manifest cache key moved (reposerver/cache, manifestCacheKey:
// the commit, the source without repoURL and targetRevision for a git
// source, the instance name, the destination namespace) or on a hard
// refresh; status.sync.comparedTo becomes the spec's source(s), and the
// status Synced when what was rendered is what was last synced.
func (f *fakeArgo) reconcileLocked(key string, hard bool) {
	a := f.apps[key]
	spec := a["spec"].(map[string]any)
	ck := f.manifestKey(a)
	if hard || ck != f.cacheKey[key] {
		f.renders = append(f.renders, key)
	}
	f.cacheKey[key] = ck
	status := a["status"].(map[string]any)
	cmp := map[string]any{"destination": spec["destination"]}
	sync := map[string]any{"comparedTo": cmp}
	if list, _ := spec["sources"].([]any); len(list) > 0 {
		cmp["sources"] = deepCopy(list)
		var revs []any
		for _, s := range list {
			revs = append(revs, f.resolve(s.(map[string]any)))
		}
		sync["revisions"] = revs
	} else {
		cmp["source"] = deepCopy(spec["source"])
		sync["revision"] = f.resolve(spec["source"].(map[string]any))
	}
	status["sync"] = sync
	f.setSyncStatus(key)
}

func (f *fakeArgo) setSyncStatus(key string) {
	sync := f.apps[key]["status"].(map[string]any)["sync"].(map[string]any)
	if f.live[key] == f.cacheKey[key] {
		sync["status"] = "Synced"
	} else {
		sync["status"] = "OutOfSync"
	}
}

// finishOp ends an Application's running operation.
func (f *fakeArgo) finishOp(key string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.finishOpLocked(key)
}

// finishOpLocked is the controller ending an operation: it is removed,
// operationState records the phase, and a successful sync makes what was
// rendered live.
func (f *fakeArgo) finishOpLocked(key string) {
	a := f.apps[key]
	delete(a, "operation")
	status := a["status"].(map[string]any)
	if f.failOps != "" {
		status["operationState"] = map[string]any{"phase": "Failed", "message": f.failOps}
	} else {
		f.reconcileLocked(key, false)
		f.live[key] = f.cacheKey[key]
		status["operationState"] = map[string]any{"phase": "Succeeded", "message": "successfully synced (all tasks run)"}
	}
	f.setSyncStatus(key)
	f.bump(a)
}

func (f *fakeArgo) resolve(src map[string]any) string {
	rev, _ := src["targetRevision"].(string)
	if rev == "" {
		rev = "HEAD"
	}
	if src["chart"] != nil {
		return rev // a Helm repository's revision is the chart version
	}
	if c, ok := f.commits[rev]; ok {
		return c
	}
	return rev
}

func (f *fakeArgo) commitOf(a map[string]any) string {
	spec := a["spec"].(map[string]any)
	if src, ok := spec["source"].(map[string]any); ok {
		return f.resolve(src)
	}
	return ""
}

// manifestKey is reposerver/cache's manifestCacheKey, per source.
func (f *fakeArgo) manifestKey(a map[string]any) string {
	meta, spec := a["metadata"].(map[string]any), a["spec"].(map[string]any)
	name := meta["name"].(string)
	if ns := meta["namespace"]; ns != argoNS {
		name = fmt.Sprint(ns) + "_" + name // AppInstanceName
	}
	srcs := []any{spec["source"]}
	if list, _ := spec["sources"].([]any); len(list) > 0 {
		srcs = list
	}
	var parts []string
	for _, s := range srcs {
		src := deepCopy(s).(map[string]any)
		commit := f.resolve(src)
		if src["chart"] == nil { // appSourceKeyJSON keeps them for Helm repositories
			delete(src, "repoURL")
			delete(src, "targetRevision")
		}
		b, _ := json.Marshal(src)
		h := fnv.New32a()
		h.Write(b)
		parts = append(parts, fmt.Sprintf("mfst|%s|%s|%v|%d", name, commit, spec["destination"].(map[string]any)["namespace"], h.Sum32()))
	}
	return strings.Join(parts, ";")
}

// snapshot returns copies of what the fake recorded.
func (f *fakeArgo) snapshot() (refreshes, writes, syncs []string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.refreshes), slices.Clone(f.writes), slices.Clone(f.syncs)
}

func (f *fakeArgo) rejections() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.rejected)
}

func (f *fakeArgo) renderCount(key string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	n := 0
	for _, r := range f.renders {
		if r == key {
			n++
		}
	}
	return n
}

// app returns a copy of an Application.
func (f *fakeArgo) app(key string) map[string]any {
	f.mu.Lock()
	defer f.mu.Unlock()
	return deepCopy(f.apps[key]).(map[string]any)
}

// source returns spec.source of an Application.
func (f *fakeArgo) source(key string) map[string]any {
	return f.app(key)["spec"].(map[string]any)["source"].(map[string]any)
}

// do runs fn on an Application under the fake's lock.
func (f *fakeArgo) do(key string, fn func(a map[string]any)) {
	f.mu.Lock()
	defer f.mu.Unlock()
	fn(f.apps[key])
}

func deepCopy(v any) any {
	b, _ := json.Marshal(v)
	var out any
	_ = json.Unmarshal(b, &out)
	return out
}

// applyJSONPatch applies an RFC 6902 patch (add, remove, replace, test)
// as evanphx/json-patch, the library Argo CD's Patch uses, does; notably,
// testing a missing object member against null succeeds.
func applyJSONPatch(doc any, ops []map[string]any) (any, error) {
	for _, op := range ops {
		path, _ := op["path"].(string)
		kind, _ := op["op"].(string)
		if !strings.HasPrefix(path, "/") {
			return nil, fmt.Errorf("%s operation: invalid path %q", kind, path)
		}
		var toks []string
		for _, t := range strings.Split(path[1:], "/") {
			toks = append(toks, strings.ReplaceAll(strings.ReplaceAll(t, "~1", "/"), "~0", "~"))
		}
		var err error
		if doc, err = patchAt(doc, toks, kind, op["value"], path); err != nil {
			return nil, err
		}
	}
	return doc, nil
}

func patchAt(node any, toks []string, kind string, value any, path string) (any, error) {
	tok, last := toks[0], len(toks) == 1
	switch n := node.(type) {
	case map[string]any:
		cur, exists := n[tok]
		if !last {
			if !exists {
				return nil, fmt.Errorf("%s operation does not apply: doc is missing path: %s", kind, path)
			}
			next, err := patchAt(cur, toks[1:], kind, value, path)
			n[tok] = next
			return n, err
		}
		switch kind {
		case "add":
			n[tok] = value
		case "replace", "remove":
			if !exists {
				return nil, fmt.Errorf("%s operation does not apply: doc is missing key: %s", kind, path)
			}
			if kind == "remove" {
				delete(n, tok)
			} else {
				n[tok] = value
			}
		case "test":
			if (cur == nil && value == nil) || reflect.DeepEqual(cur, value) {
				return n, nil
			}
			return nil, fmt.Errorf("testing value %s failed: test failed", path)
		default:
			return nil, fmt.Errorf("unexpected operation kind: %s", kind)
		}
		return n, nil
	case []any:
		i, err := strconv.Atoi(tok)
		if tok == "-" && last && kind == "add" {
			return append(n, value), nil
		}
		if err != nil || i < 0 || i > len(n) || (i == len(n) && !(last && kind == "add")) {
			return nil, fmt.Errorf("%s operation does not apply: doc is missing path: %s", kind, path)
		}
		if !last {
			next, err := patchAt(n[i], toks[1:], kind, value, path)
			n[i] = next
			return n, err
		}
		switch kind {
		case "add":
			return slices.Insert(n, i, value), nil
		case "replace":
			n[i] = value
		case "remove":
			return slices.Delete(n, i, i+1), nil
		case "test":
			if !reflect.DeepEqual(n[i], value) {
				return nil, fmt.Errorf("testing value %s failed: test failed", path)
			}
		default:
			return nil, fmt.Errorf("unexpected operation kind: %s", kind)
		}
		return n, nil
	}
	return nil, fmt.Errorf("%s operation does not apply: doc is missing path: %s", kind, path)
}
