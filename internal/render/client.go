package render

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"

	"github.com/flagops/flagops/internal/errs"
)

// MaxBundleBytes caps the bundle a client accepts.
const MaxBundleBytes = 32 << 20

// Client fetches bundles from a flagops server. Its zero value is not
// usable; it is safe for concurrent use.
type Client struct {
	// BaseURL is the server, http(s)://host:port.
	BaseURL string
	// Token is sent as "Authorization: Bearer TOKEN" when set. It is never
	// logged or put in an error.
	Token string
	// HTTP is the client used (http.DefaultClient when nil).
	HTTP *http.Client
}

// Fetch asks the server for req's bundle in one request.
//
// Errors say what failed without ever quoting the token or the body of a
// successful answer: an unreachable server is errs.Unavailable, and the
// server's own errors keep their kind (NotFound for a missing deployment,
// Denied, Invalid…) and message.
func (c *Client) Fetch(ctx context.Context, req *BundleRequest) (*Bundle, error) {
	body, err := json.Marshal(req)
	if err != nil {
		return nil, fmt.Errorf("encode bundle request: %w", err)
	}
	url := strings.TrimRight(c.BaseURL, "/") + "/v1/render/bundle"
	hr, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		return nil, errs.New(errs.Invalid, "flagops server %q: %v", c.BaseURL, err)
	}
	hr.Header.Set("Content-Type", "application/json")
	if c.Token != "" {
		hr.Header.Set("Authorization", "Bearer "+c.Token)
	}
	hc := c.HTTP
	if hc == nil {
		hc = http.DefaultClient
	}
	resp, err := hc.Do(hr)
	if err != nil {
		if ctx.Err() != nil {
			return nil, fmt.Errorf("fetch bundle from %s: %w", c.BaseURL, ctx.Err())
		}
		return nil, errs.New(errs.Unavailable, "fetch bundle from %s: server unreachable (%v)", c.BaseURL, unwrapURLError(err))
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, MaxBundleBytes+1))
	if err != nil {
		return nil, errs.New(errs.Unavailable, "fetch bundle from %s: read answer: %v", c.BaseURL, err)
	}
	if resp.StatusCode != http.StatusOK {
		return nil, serverError(resp.StatusCode, data)
	}
	if len(data) > MaxBundleBytes {
		return nil, errs.New(errs.TooLarge, "bundle from %s is over %d bytes", c.BaseURL, MaxBundleBytes)
	}
	var b Bundle
	if err := json.Unmarshal(data, &b); err != nil {
		// Do not quote the body: it may hold secret values.
		return nil, fmt.Errorf("fetch bundle from %s: the answer is not a bundle", c.BaseURL)
	}
	return &b, nil
}

// unwrapURLError drops the *url.Error wrapper, whose text repeats the URL
// and method, keeping the cause (connection refused, no such host…).
func unwrapURLError(err error) error {
	if u := errors.Unwrap(err); u != nil {
		return u
	}
	return err
}

// serverError turns a server's error answer ({"code","message"}) back into
// an error of the matching kind.
func serverError(status int, data []byte) error {
	var e struct{ Code, Message string }
	if json.Unmarshal(data, &e) != nil || e.Message == "" {
		e.Message = http.StatusText(status)
	}
	// The Connect code names the kind more precisely than the status.
	kind := map[string]error{
		"invalid_argument": errs.Invalid, "not_found": errs.NotFound, "already_exists": errs.AlreadyExists,
		"aborted": errs.Conflict, "failed_precondition": errs.FailedPrecondition, "out_of_range": errs.Compacted,
		"unauthenticated": errs.Unauthenticated, "permission_denied": errs.Denied,
		"resource_exhausted": errs.TooLarge, "unavailable": errs.Unavailable,
	}[e.Code]
	if kind == nil {
		kind = map[int]error{
			http.StatusBadRequest: errs.Invalid, http.StatusNotFound: errs.NotFound,
			http.StatusUnauthorized: errs.Unauthenticated, http.StatusForbidden: errs.Denied,
			http.StatusServiceUnavailable: errs.Unavailable,
		}[status]
	}
	if kind == nil {
		return fmt.Errorf("flagops server answered %d: %s", status, e.Message)
	}
	return errs.New(kind, "flagops server: %s", e.Message)
}
