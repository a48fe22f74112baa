package web

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"time"

	"connectrpc.com/connect"

	flagopsv1 "github.com/flagops/flagops/gen/flagops/v1"
)

// sseHeartbeat is how often an idle stream sends a comment, so proxies and
// the browser keep it open; sseWriteWindow is how long one write may take
// before the connection is given up.
const (
	sseHeartbeat   = 20 * time.Second
	sseWriteWindow = 30 * time.Second
)

// changeEvent is the data of one "change" event: what moved, so a page can
// decide to refresh without parsing the log.
type changeEvent struct {
	Revision int64    `json:"revision"`
	Kinds    []string `json:"kinds"`
	Keys     []string `json:"keys"`
}

// events is the UI's server-sent events stream: the change log of the
// session's workspace, from the revision the page was rendered at, read
// with ChangeService.Watch and the session's key (so it carries exactly
// what the key may watch). Each revision is one "change" event whose id
// is the revision, so the browser resumes where it stopped after a
// reconnect (Last-Event-ID). The server's write timeout does not cut the
// stream: each write extends the connection's deadline.
func (u *UI) events(w http.ResponseWriter, r *http.Request, v *view) {
	from, _ := strconv.ParseInt(r.Header.Get("Last-Event-ID"), 10, 64)
	if from <= 0 {
		from, _ = strconv.ParseInt(r.URL.Query().Get("from"), 10, 64)
	}
	ctx := r.Context()
	if from <= 0 {
		res, err := v.c.changes.GetRevision(ctx, connect.NewRequest(&flagopsv1.GetRevisionRequest{}))
		if err != nil {
			http.Error(w, toAPIError(err).Message, statusOf(err))
			return
		}
		from = res.Msg.GetRevision()
	}
	stream, err := v.c.changes.Watch(ctx, connect.NewRequest(&flagopsv1.WatchRequest{FromRevision: from, Filter: &flagopsv1.WatchFilter{Workspace: v.ws}}))
	if err != nil {
		http.Error(w, toAPIError(err).Message, http.StatusBadGateway)
		return
	}
	defer stream.Close()
	rc := http.NewResponseController(w)
	h := w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Accel-Buffering", "no")
	w.WriteHeader(http.StatusOK)
	send := func(format string, args ...any) bool {
		// Deadlines are extended before each write; a server without
		// deadlines answers ErrNotSupported, which is fine.
		_ = rc.SetWriteDeadline(time.Now().Add(sseWriteWindow))
		if _, err := fmt.Fprintf(w, format, args...); err != nil {
			return false
		}
		return rc.Flush() == nil
	}
	if !send("retry: 1000\n: watching from revision %d\n\n", from) {
		return
	}
	msgs := make(chan *flagopsv1.WatchResponse)
	done := make(chan error, 1)
	go func() {
		for stream.Receive() {
			select {
			case msgs <- stream.Msg():
			case <-ctx.Done():
				return
			}
		}
		done <- stream.Err()
	}()
	tick := time.NewTicker(sseHeartbeat)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
			if !send(": keep-alive\n\n") {
				return
			}
		case err := <-done:
			// The watch ended: a revoked key, a compacted revision or a
			// server shutting down. Tell the page why; it reloads.
			reason := "ended"
			if err != nil {
				reason = connect.CodeOf(err).String()
			}
			send("event: end\ndata: %q\n\n", reason)
			return
		case m := <-msgs:
			if len(m.GetChanges()) == 0 {
				continue
			}
			ev := changeEvent{Revision: m.GetRevision()}
			for _, c := range m.GetChanges() {
				if !contains(ev.Kinds, c.GetKind()) {
					ev.Kinds = append(ev.Kinds, c.GetKind())
				}
				if len(ev.Keys) < 20 && !contains(ev.Keys, c.GetKey()) {
					ev.Keys = append(ev.Keys, c.GetKey())
				}
			}
			b, _ := json.Marshal(ev)
			if !send("id: %d\nevent: change\ndata: %s\n\n", m.GetRevision(), b) {
				return
			}
		}
	}
}
