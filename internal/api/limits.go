package api

import (
	"compress/gzip"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"

	"connectrpc.com/connect"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/reflect/protoregistry"

	"github.com/flagops/flagops/internal/errs"
)

// UnknownProcedure is the procedure label of every request to a path that
// is not a registered procedure, so that made-up paths cannot grow the
// metrics without bound.
const UnknownProcedure = "unknown"

// procedures are the procedures of the mounted services, found in the
// generated descriptors.
type procedures struct {
	known map[string]bool
}

// add records every method of the service mounted at path
// ("/flagops.v1.FactService/").
func (p *procedures) add(path string) {
	name := strings.Trim(path, "/")
	d, err := protoregistry.GlobalFiles.FindDescriptorByName(protoreflect.FullName(name))
	if err != nil {
		return
	}
	sd, ok := d.(protoreflect.ServiceDescriptor)
	if !ok {
		return
	}
	if p.known == nil {
		p.known = map[string]bool{}
	}
	for i := range sd.Methods().Len() {
		p.known["/"+name+"/"+string(sd.Methods().Get(i).Name())] = true
	}
}

// label is the metrics label of a request path.
func (p *procedures) label(path string) string {
	if p.known[path] {
		return path
	}
	return UnknownProcedure
}

// tooLarge is the error of a request over a size limit: invalid_argument
// (the same request will fail again, so it is not resource_exhausted) with
// the limit named. Connect passes a *connect.Error returned by a body read
// or a decompressor through unchanged.
func tooLarge(what string, limit int64) *connect.Error {
	return connect.NewError(connect.CodeInvalidArgument, &wireError{kind: errs.TooLarge,
		msg: fmt.Sprintf("%s is larger than the server's limit of %d bytes (max-request-bytes)", what, limit)})
}

// limitBody caps the body of a Connect request at limit bytes. Connect's
// own limit (WithReadMaxBytes) would answer resource_exhausted, so the
// handlers are mounted without it and this reader enforces the limit.
func limitBody(w http.ResponseWriter, r *http.Request, limit int64) {
	if limit <= 0 {
		return
	}
	r.Body = &limitedBody{ReadCloser: http.MaxBytesReader(w, r.Body, limit), limit: limit}
}

type limitedBody struct {
	io.ReadCloser
	limit int64
}

func (b *limitedBody) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	if _, over := errors.AsType[*http.MaxBytesError](err); over {
		err = tooLarge("the request body", b.limit)
	}
	return n, err
}

// limitedGzip is Connect's gzip decompressor with a bound on what one
// message may decompress to, so a small compressed body cannot expand
// into gigabytes.
type limitedGzip struct {
	gz    gzip.Reader
	n     int64
	limit int64
}

func (d *limitedGzip) Read(p []byte) (int, error) {
	n, err := d.gz.Read(p)
	d.n += int64(n)
	if d.n > d.limit {
		return n, tooLarge("the decompressed message", d.limit)
	}
	return n, err
}

func (d *limitedGzip) Reset(r io.Reader) error {
	d.n = 0
	return d.gz.Reset(r)
}

func (d *limitedGzip) Close() error { return d.gz.Close() }
