package ofrep

import (
	"net/http"
	"net/url"
	"strconv"
	"time"

	"github.com/flagops/flagops/internal/snapshot"
)

func queryEscape(s string) string { return url.QueryEscape(s) }

// serveEvents streams OFREP ADR-0008 events: a "refetchEvaluation" message
// whenever the snapshot of the key's environment and the requested project
// changes, or the resolved facts of project@target change, plus keep-alive
// comments. It ends when the client goes away, when Close is called, or
// when the key is revoked or expires (Options.Streams).
//
// Query: project (else the key's project), target (optional).
func (h *Handler) serveEvents(w http.ResponseWriter, r *http.Request) {
	p, f := h.authenticate(r)
	if f != nil {
		h.writeFailure(w, "", f)
		return
	}
	q := r.URL.Query()
	project, f := chooseProject(p, q.Get("project"))
	if f != nil {
		h.writeFailure(w, "", f)
		return
	}
	target := q.Get("target")
	rc := http.NewResponseController(w)
	ctx := r.Context()
	if h.streams != nil {
		var release func()
		ctx, release = h.streams.Guard(ctx, p)
		defer release()
	}

	// Subscribe before reading the current version, so a change between the
	// two is not lost.
	sub := h.snaps.Subscribe(snapshot.Topic{Key: snapshot.Key{Workspace: p.Workspace, Project: project, Environment: p.Environment}, Target: target})
	defer sub.Close()
	last, f := h.version(r, p, project, target)
	if f != nil {
		h.writeFailure(w, "", f)
		return
	}

	hdr := w.Header()
	hdr.Set("Content-Type", "text/event-stream")
	hdr.Set("Cache-Control", "no-cache")
	hdr.Set("X-Accel-Buffering", "no")
	w.WriteHeader(http.StatusOK)
	if _, err := w.Write([]byte("retry: 2000\n: connected\n\n")); err != nil {
		return
	}
	if rc.Flush() != nil {
		return
	}
	tick := time.NewTicker(h.keep)
	defer tick.Stop()
	for {
		var msg []byte
		select {
		case <-ctx.Done():
			return
		case <-h.done:
			return
		case <-tick.C:
			msg = []byte(": keep-alive\n\n")
		case <-sub.C():
			v, f := h.version(r, p, project, target)
			if f != nil {
				// A failing resolver: tell the client to re-fetch; the
				// evaluation endpoint reports the error properly.
				v = version{snap: last.snap, facts: -1}
			}
			if v == last {
				continue
			}
			last = v
			msg = appendEvent(nil, v, h.now())
		}
		if ctx.Err() != nil {
			return // the key was revoked or expired meanwhile
		}
		if _, err := w.Write(msg); err != nil {
			return
		}
		if rc.Flush() != nil {
			return
		}
	}
}

// version is what an event stream watches.
type version struct{ snap, facts int64 }

func (h *Handler) version(r *http.Request, p Principal, project, target string) (version, *failure) {
	var v version
	if s := h.snaps.Get(p.Workspace, project, p.Environment); s != nil {
		v.snap = s.Revision()
	}
	_, rev, f := h.resolveFacts(r.Context(), p, project, target)
	v.facts = rev
	return v, f
}

// appendEvent appends one SSE message per ADR-0008: event "message", a
// JSON data payload of type refetchEvaluation, and an id naming the
// version (snapshot and facts revisions).
func appendEvent(b []byte, v version, now time.Time) []byte {
	var idb [48]byte
	id := strconv.AppendInt(idb[:0], v.snap, 36)
	id = append(id, '.')
	id = strconv.AppendInt(id, v.facts, 36)
	b = append(b, "id: "...)
	b = append(b, id...)
	b = append(b, "\nevent: message\ndata: "...)
	b = append(b, `{"type":"refetchEvaluation","etag":`...)
	b = appendString(b, `"`+string(id)+`"`)
	b = append(b, `,"lastModified":`...)
	b = strconv.AppendInt(b, now.Unix(), 10)
	return append(b, "}\n\n"...)
}
