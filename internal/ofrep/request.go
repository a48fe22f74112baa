package ofrep

import (
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"

	"github.com/flagops/flagops/internal/eval"
)

// bufPool holds the buffers request bodies are read into and responses are
// written from, so a steady stream of requests allocates no buffers.
var bufPool = sync.Pool{New: func() any { b := make([]byte, 0, 4096); return &b }}

func getBuf() *[]byte { return bufPool.Get().(*[]byte) }

func putBuf(b *[]byte) {
	if cap(*b) > 1<<20 { // do not keep what one huge request grew
		return
	}
	*b = (*b)[:0]
	bufPool.Put(b)
}

// readBody reads at most max bytes of r's body into *buf.
func readBody(r *http.Request, buf *[]byte, max int) *failure {
	b := (*buf)[:0]
	for {
		if len(b) == cap(b) {
			b = slices.Grow(b, len(b))
		}
		n, err := r.Body.Read(b[len(b):cap(b)])
		b = b[:len(b)+n]
		if len(b) > max {
			*buf = b
			return bodyTooLarge(int64(max))
		}
		if err == io.EOF {
			break
		}
		if err != nil {
			*buf = b
			if mb, ok := errors.AsType[*http.MaxBytesError](err); ok {
				return bodyTooLarge(mb.Limit)
			}
			return &failure{status: http.StatusBadRequest, code: eval.ErrParse, details: "reading request body failed"}
		}
	}
	*buf = b
	return nil
}

// bodyTooLarge is the answer to a body over a size limit: 413, with the
// limit named, so that a client sends less instead of retrying.
func bodyTooLarge(limit int64) *failure {
	return &failure{status: http.StatusRequestEntityTooLarge, code: eval.ErrParse,
		details: "request body exceeds the limit of " + strconv.FormatInt(limit, 10) + " bytes"}
}

// evalRequest is the decoded body of both evaluation endpoints. "context"
// is its only field: any other is refused (unknownKey), so a misspelt
// "contxt" is not evaluated as an empty context.
type evalRequest struct {
	Context map[string]any `json:"context"`
}

// request is one evaluation request, authenticated and decoded.
type request struct {
	p       Principal
	project string
	target  string
	ctx     eval.Context
	snap    *eval.Snapshot
	factRev int64
}

// decode reads and decodes the body and resolves the project, the
// snapshot and the facts. Malformed JSON is PARSE_ERROR; JSON of the wrong
// shape (a context that is not an object, a non-string targetingKey,
// project or target) is INVALID_CONTEXT.
func (h *Handler) decode(r *http.Request, p Principal, buf *[]byte) (request, *failure) {
	if f := readBody(r, buf, h.maxBody); f != nil {
		return request{}, f
	}
	var body evalRequest
	if len(*buf) > 0 {
		if err := json.Unmarshal(*buf, &body); err != nil {
			var te *json.UnmarshalTypeError
			if errors.As(err, &te) {
				return request{}, &failure{status: http.StatusBadRequest, code: eval.ErrInvalidContext,
					details: "context: must be a JSON object"}
			}
			return request{}, &failure{status: http.StatusBadRequest, code: eval.ErrParse, details: "malformed JSON: " + err.Error()}
		}
		if key, ok := unknownKey(*buf); ok {
			return request{}, &failure{status: http.StatusBadRequest, code: eval.ErrParse,
				details: key + ": is not a field of an evaluation request; send {\"context\": {...}}"}
		}
	}
	attrs := body.Context
	req := request{p: p}
	var f *failure
	if req.ctx.TargetingKey, f = stringAttr(attrs, eval.TargetingKeyAttribute); f != nil {
		return request{}, f
	}
	delete(attrs, eval.TargetingKeyAttribute)
	ctxProject, f := stringAttr(attrs, "project")
	if f != nil {
		return request{}, f
	}
	if req.target, f = stringAttr(attrs, "target"); f != nil {
		return request{}, f
	}
	if req.project, f = chooseProject(p, ctxProject); f != nil {
		return request{}, f
	}
	// The built-ins: the project and environment are always present.
	if attrs == nil {
		attrs = make(map[string]any, 2)
	}
	if ctxProject == "" {
		attrs["project"] = req.project
	}
	if _, ok := attrs["environment"]; !ok {
		attrs["environment"] = p.Environment
	}
	req.ctx.Attributes = attrs
	facts, rev, f := h.resolveFacts(r.Context(), p, req.project, req.target)
	if f != nil {
		return request{}, f
	}
	req.ctx.Base, req.factRev = facts, rev
	req.snap = h.snaps.Get(p.Workspace, req.project, p.Environment)
	return req, nil
}

// stringAttr returns attrs[name] when it is a string, "" when it is absent
// or null, and an INVALID_CONTEXT failure otherwise.
func stringAttr(attrs map[string]any, name string) (string, *failure) {
	v, ok := attrs[name]
	if !ok || v == nil {
		return "", nil
	}
	s, ok := v.(string)
	if !ok {
		return "", &failure{status: http.StatusBadRequest, code: eval.ErrInvalidContext,
			details: "context." + name + ": must be a string"}
	}
	return s, nil
}

// etag returns the bulk response's entity tag: the snapshot revision, the
// facts revision and a hash of the canonical request (principal scope,
// project, targeting key and attributes with keys sorted), so it changes
// exactly when the answer may change and is computed without evaluating.
func (req *request) etag(buf []byte) string {
	b := buf[:0]
	b = append(b, req.p.Workspace...)
	b = append(b, 0)
	b = append(b, req.p.Environment...)
	b = append(b, 0)
	b = append(b, req.project...)
	b = append(b, 0)
	b = append(b, req.ctx.TargetingKey...)
	b = append(b, 0)
	b = appendCanonical(b, req.ctx.Attributes)
	var snapRev int64
	if req.snap != nil {
		snapRev = req.snap.Revision()
	}
	var out [64]byte
	e := append(out[:0], '"')
	e = strconv.AppendInt(e, snapRev, 36)
	e = append(e, '.')
	e = strconv.AppendInt(e, req.factRev, 36)
	e = append(e, '.')
	e = strconv.AppendUint(e, fnv64a(b), 36)
	e = append(e, '"')
	return string(e)
}

// appendCanonical appends an unambiguous encoding of v with map keys
// sorted; it is hashed, never parsed.
func appendCanonical(b []byte, v any) []byte {
	switch v := v.(type) {
	case nil:
		return append(b, 'n')
	case bool:
		if v {
			return append(b, 't')
		}
		return append(b, 'f')
	case float64:
		b = append(b, 'd')
		return strconv.AppendFloat(b, v, 'g', -1, 64)
	case string:
		b = append(b, 's')
		return strconv.AppendQuote(b, v)
	case []any:
		b = append(b, '[')
		for _, e := range v {
			b = appendCanonical(b, e)
			b = append(b, ',')
		}
		return append(b, ']')
	case map[string]any:
		var stack [16]string
		keys := stack[:0]
		for k := range v {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		b = append(b, '{')
		for _, k := range keys {
			b = strconv.AppendQuote(b, k)
			b = append(b, ':')
			b = appendCanonical(b, v[k])
			b = append(b, ',')
		}
		return append(b, '}')
	default:
		// Not produced by encoding/json; hash its type so it is not silently
		// equal to anything else.
		return append(b, '?')
	}
}

// fnv64a is FNV-1a, stable across processes so ETags survive restarts and
// agree between server instances.
func fnv64a(b []byte) uint64 {
	h := uint64(14695981039346656037)
	for _, c := range b {
		h ^= uint64(c)
		h *= 1099511628211
	}
	return h
}

// noneMatch reports whether an If-None-Match header matches etag.
func noneMatch(header, etag string) bool {
	for header != "" {
		var tag string
		tag, header, _ = strings.Cut(header, ",")
		tag = strings.TrimSpace(tag)
		tag = strings.TrimPrefix(tag, "W/")
		if tag == "*" || tag == etag {
			return true
		}
	}
	return false
}
