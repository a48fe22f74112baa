package web

import (
	"fmt"
	"io"
	"net/http"
	"sync"
)

// inProcess is an http.RoundTripper that serves each request with a
// handler in this process instead of a connection: the UI's API calls go
// through exactly the middleware, interceptor and authorization every other
// client's calls do, without a network hop, a TLS client set-up or the
// server's connection timeouts (which would cut a long Watch). Responses
// stream: the body is a pipe the handler writes as it goes, so server
// streams (Watch) work.
type inProcess struct{ handler func() http.Handler }

func (t inProcess) RoundTrip(r *http.Request) (*http.Response, error) {
	h := t.handler()
	if h == nil {
		return nil, fmt.Errorf("web: no API handler to call %s", r.URL.Path)
	}
	req := r.Clone(r.Context())
	req.RequestURI = req.URL.RequestURI()
	req.RemoteAddr = "127.0.0.1:0"
	if req.Body == nil {
		req.Body = http.NoBody
	}
	if req.Host == "" {
		req.Host = req.URL.Host
	}
	pr, pw := io.Pipe()
	w := &pipeWriter{header: http.Header{}, pw: pw, ready: make(chan struct{})}
	go func() {
		defer func() {
			if p := recover(); p != nil {
				w.start(http.StatusInternalServerError)
				_ = pw.CloseWithError(fmt.Errorf("web: API handler panicked: %v", p))
				return
			}
			w.start(http.StatusOK)
			_ = pw.Close()
		}()
		h.ServeHTTP(w, req)
	}()
	select {
	case <-w.ready:
	case <-r.Context().Done():
		_ = pr.CloseWithError(r.Context().Err())
		return nil, r.Context().Err()
	}
	return &http.Response{
		Status:        fmt.Sprintf("%d %s", w.code, http.StatusText(w.code)),
		StatusCode:    w.code,
		Proto:         "HTTP/1.1",
		ProtoMajor:    1,
		ProtoMinor:    1,
		Header:        w.sent,
		Body:          pr,
		ContentLength: -1,
		Request:       r,
	}, nil
}

// pipeWriter is the handler's side of an in-process response.
type pipeWriter struct {
	header http.Header
	sent   http.Header // the header as it was when the status was written
	pw     *io.PipeWriter
	once   sync.Once
	ready  chan struct{}
	code   int
}

func (w *pipeWriter) Header() http.Header { return w.header }

func (w *pipeWriter) start(code int) {
	w.once.Do(func() {
		w.code = code
		w.sent = w.header.Clone()
		close(w.ready)
	})
}

func (w *pipeWriter) WriteHeader(code int) {
	if code >= 100 && code < 200 {
		return
	}
	w.start(code)
}

func (w *pipeWriter) Write(b []byte) (int, error) {
	w.start(http.StatusOK)
	return w.pw.Write(b)
}

// Flush sends the status and headers; the body is unbuffered already.
func (w *pipeWriter) Flush() { w.start(http.StatusOK) }
