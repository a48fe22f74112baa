package ofrep

import (
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/flagops/flagops/internal/eval"
)

// Header values shared by every response; net/http only reads them.
var (
	ctJSON      = []string{"application/json"}
	noStore     = []string{"no-cache"}
	wwwBearer   = []string{`Bearer realm="ofrep"`}
	resultsPool = sync.Pool{New: func() any { s := make([]eval.Result, 0, 64); return &s }}
)

func (h *Handler) serveSingle(w http.ResponseWriter, r *http.Request, key string) {
	p, f := h.authenticate(r)
	if f != nil {
		h.writeFailure(w, key, f)
		return
	}
	buf := getBuf()
	defer putBuf(buf)
	req, f := h.decode(r, p, buf)
	if f != nil {
		h.writeFailure(w, key, f)
		return
	}
	var res eval.Result
	if req.snap == nil {
		res = eval.ErrorResult(key, eval.ErrFlagNotFound, "flag not found in this environment")
	} else {
		if h.onEvaluate != nil {
			h.onEvaluate()
		}
		res = req.snap.Evaluate(key, req.ctx)
	}
	status := http.StatusOK
	switch res.ErrorCode {
	case "":
	case eval.ErrFlagNotFound:
		status = http.StatusNotFound
	default:
		// TARGETING_KEY_MISSING, INVALID_CONTEXT and GENERAL are
		// evaluationFailure answers to a request the flag cannot serve.
		status = http.StatusBadRequest
	}
	out := appendResult((*buf)[:0], &res)
	*buf = out
	hdr := w.Header()
	hdr["Content-Type"] = ctJSON
	w.WriteHeader(status)
	w.Write(out)
}

func (h *Handler) serveBulk(w http.ResponseWriter, r *http.Request) {
	p, f := h.authenticate(r)
	if f != nil {
		h.writeFailure(w, "", f)
		return
	}
	buf := getBuf()
	defer putBuf(buf)
	req, f := h.decode(r, p, buf)
	if f != nil {
		h.writeFailure(w, "", f)
		return
	}
	// The ETag is known before evaluating, so a match costs no evaluation.
	etag := req.etag(*buf)
	hdr := w.Header()
	hdr["Etag"] = []string{etag}
	hdr["Cache-Control"] = noStore
	if inm := r.Header.Get("If-None-Match"); inm != "" && noneMatch(inm, etag) {
		w.WriteHeader(http.StatusNotModified)
		return
	}
	rs := resultsPool.Get().(*[]eval.Result)
	results := (*rs)[:0]
	if req.snap != nil {
		if h.onEvaluate != nil {
			h.onEvaluate()
		}
		results = req.snap.AppendAll(results, req.ctx)
	}
	b := append((*buf)[:0], `{"flags":[`...)
	for i := range results {
		if i > 0 {
			b = append(b, ',')
		}
		b = appendResult(b, &results[i])
	}
	b = append(b, `],"eventStreams":[{"type":"sse","url":`...)
	b = appendString(b, h.eventsURL(r, &req))
	b = append(b, `,"inactivityDelaySec":`...)
	b = strconv.AppendInt(b, int64(h.inactive), 10)
	b = append(b, `}]}`...)
	*buf = b
	clear(results) // do not pin the snapshot from the pool
	*rs = results[:0]
	resultsPool.Put(rs)
	hdr["Content-Type"] = ctJSON
	w.WriteHeader(http.StatusOK)
	w.Write(b)
}

// eventsURL is the absolute URL of the event stream for the request's
// project and target. It carries no credential: the stream takes the same
// headers as evaluation.
func (h *Handler) eventsURL(r *http.Request, req *request) string {
	base := h.public
	if base == "" {
		scheme := "http"
		if r.TLS != nil {
			scheme = "https"
		}
		base = scheme + "://" + r.Host
	}
	u := base + PathEvents + "?project=" + queryEscape(req.project)
	if req.target != "" {
		u += "&target=" + queryEscape(req.target)
	}
	return u
}

// writeFailure writes f: an OFREP error body for 400, 404, 413, 500 and
// 503, no body
// for 401, 403 and 429 (the specification defines none).
func (h *Handler) writeFailure(w http.ResponseWriter, key string, f *failure) {
	hdr := w.Header()
	switch f.status {
	case http.StatusUnauthorized:
		hdr["Www-Authenticate"] = wwwBearer
		w.WriteHeader(f.status)
		return
	case http.StatusForbidden:
		w.WriteHeader(f.status)
		return
	case http.StatusTooManyRequests:
		// OFREP specifies Retry-After as a date-time (RFC 3339, UTC).
		at := f.retryAfter.UTC().Truncate(time.Second).Add(time.Second)
		hdr.Set("Retry-After", at.Format(time.RFC3339))
		w.WriteHeader(f.status)
		return
	case http.StatusInternalServerError, http.StatusServiceUnavailable:
		key = ""
		f.code = ""
	}
	var arr [256]byte
	b := appendFailure(arr[:0], key, f)
	hdr["Content-Type"] = ctJSON
	w.WriteHeader(f.status)
	w.Write(b)
}
