// Package argocd is flagops' Argo CD agent: a client of Argo CD's REST API
// and the loop that keeps each managed Application in step with flagops.
//
// The agent follows flagops' change log. On any change that can affect a
// deployment it fetches the deployment's render bundle and (a) when the
// bundle's desired version differs from the version field of the
// Application, it patches that field (and optionally syncs); (b) when the
// bundle's inputsHash moved and no patch made Argo CD render anyway, it
// asks Argo CD for a hard refresh of that Application only, so that the
// flagops plugin renders again. It reports the deployed version, health
// and failed syncs back through a VersionReporter.
package argocd

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/flagops/flagops/internal/errs"
)

// Client calls Argo CD's REST API (/api/v1/applications…) with a bearer
// token. It is safe for concurrent use. The token is never logged or put in
// an error.
type Client struct {
	// BaseURL is Argo CD's server, https://argocd.example.com.
	BaseURL string
	// Token is an Argo CD API token (an account's or a project role's JWT).
	Token string
	// AppNamespace, when set, limits List to the Applications of that
	// namespace. Every other call names the namespace of its AppKey.
	AppNamespace string
	// Timeout bounds each call, a hard refresh included (default 30s):
	// Argo CD answers GET ?refresh=hard only once its controller has
	// reconciled the Application, which may take long or never come.
	Timeout time.Duration
	HTTP    *http.Client
}

// PatchOp is one operation of an RFC 6902 JSON patch.
type PatchOp struct {
	Op    string `json:"op"`
	Path  string `json:"path"`
	Value any    `json:"value"`
}

// List returns the Applications matching the label selector
// (GET /api/v1/applications?selector=…), in every namespace Argo CD serves
// or only in AppNamespace.
func (c *Client) List(ctx context.Context, selector string) ([]*Application, error) {
	q := url.Values{}
	if selector != "" {
		q.Set("selector", selector)
	}
	if c.AppNamespace != "" {
		q.Set("appNamespace", c.AppNamespace)
	}
	var list struct {
		Items []json.RawMessage `json:"items"`
	}
	if err := c.do(ctx, http.MethodGet, "/api/v1/applications", q, nil, &list); err != nil {
		return nil, fmt.Errorf("list applications %q: %w", selector, err)
	}
	out := make([]*Application, 0, len(list.Items))
	for _, raw := range list.Items {
		app, err := decodeApp(raw)
		if err != nil {
			return nil, fmt.Errorf("list applications %q: %w", selector, err)
		}
		out = append(out, app)
	}
	return out, nil
}

// Get returns one Application (GET /api/v1/applications/NAME?appNamespace=NS).
// refresh is "", "normal" or "hard"; "hard" makes Argo CD drop its manifest
// cache and ask the repo server (the flagops plugin) to render again, and
// the answer comes once the controller has reconciled.
func (c *Client) Get(ctx context.Context, key AppKey, refresh string) (*Application, error) {
	q := url.Values{}
	if key.Namespace != "" {
		q.Set("appNamespace", key.Namespace)
	}
	if refresh != "" {
		q.Set("refresh", refresh)
	}
	var raw json.RawMessage
	if err := c.do(ctx, http.MethodGet, "/api/v1/applications/"+url.PathEscape(key.Name), q, nil, &raw); err != nil {
		return nil, fmt.Errorf("get application %s: %w", key, err)
	}
	return decodeApp(raw)
}

// Patch applies a JSON patch to an Application (PATCH
// /api/v1/applications/NAME, patchType "json"). Argo CD's PUT re-reads the
// Application and overwrites it with what it is sent, whatever changed
// meanwhile; a patch changes only the fields it names, and its "test"
// operations make Argo CD refuse it when those fields moved since they were
// read: that refusal is errs.Conflict.
func (c *Client) Patch(ctx context.Context, key AppKey, ops []PatchOp) (*Application, error) {
	patch, err := json.Marshal(ops)
	if err != nil {
		return nil, fmt.Errorf("patch application %s: encode: %w", key, err)
	}
	// The route takes its whole request from the body (body "*"): the
	// namespace goes there, not in the query.
	body, _ := json.Marshal(map[string]string{"name": key.Name, "appNamespace": key.Namespace, "patch": string(patch), "patchType": "json"})
	var raw json.RawMessage
	if err := c.do(ctx, http.MethodPatch, "/api/v1/applications/"+url.PathEscape(key.Name), nil, body, &raw); err != nil {
		return nil, fmt.Errorf("patch application %s: %w", key, err)
	}
	return decodeApp(raw)
}

// Sync asks Argo CD to sync an Application to its current spec
// (POST /api/v1/applications/NAME/sync). Argo CD refuses while another
// operation runs; the caller retries later.
func (c *Client) Sync(ctx context.Context, key AppKey) error {
	// As for Patch, the route reads name and appNamespace from the body.
	body, _ := json.Marshal(map[string]string{"name": key.Name, "appNamespace": key.Namespace})
	if err := c.do(ctx, http.MethodPost, "/api/v1/applications/"+url.PathEscape(key.Name)+"/sync", nil, body, nil); err != nil {
		return fmt.Errorf("sync application %s: %w", key, err)
	}
	return nil
}

// do sends one request within the client's timeout and decodes a 2xx
// answer into out (when not nil). Argo CD's error answers
// ({"error","message","code"}) keep their message and get the errs kind of
// their HTTP status.
func (c *Client) do(ctx context.Context, method, path string, q url.Values, body []byte, out any) error {
	timeout := c.Timeout
	if timeout <= 0 {
		timeout = 30 * time.Second
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	u := strings.TrimRight(c.BaseURL, "/") + path
	if len(q) > 0 {
		u += "?" + q.Encode()
	}
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, u, rd)
	if err != nil {
		return errs.New(errs.Invalid, "argo cd server %q: %v", c.BaseURL, err)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	req.Header.Set("Accept", "application/json")
	if c.Token != "" {
		req.Header.Set("Authorization", "Bearer "+c.Token)
	}
	hc := c.HTTP
	if hc == nil {
		hc = http.DefaultClient
	}
	resp, err := hc.Do(req)
	if err != nil {
		if errors.Is(ctx.Err(), context.DeadlineExceeded) {
			return errs.New(errs.Unavailable, "argo cd did not answer within %s", timeout)
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		return errs.New(errs.Unavailable, "argo cd unreachable: %v", err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, 16<<20))
	if err != nil {
		return errs.New(errs.Unavailable, "read argo cd answer: %v", err)
	}
	if resp.StatusCode/100 != 2 {
		return argoError(resp.StatusCode, data)
	}
	if out == nil {
		return nil
	}
	if err := json.Unmarshal(data, out); err != nil {
		return fmt.Errorf("decode argo cd answer: %w", err)
	}
	return nil
}

// argoError gives an Argo CD error answer its errs kind.
func argoError(status int, data []byte) error {
	var e struct{ Error, Message string }
	_ = json.Unmarshal(data, &e)
	msg := e.Message
	if msg == "" {
		msg = e.Error
	}
	if msg == "" {
		msg = http.StatusText(status)
	}
	// A JSON patch whose test failed (or whose path vanished) comes back
	// as Argo CD's Patch handler wraps it, "error applying patch: …", with
	// no gRPC code of its own, hence 500 (server/application/application.go,
	// Patch). Its text is the only sign, and it means that the Application
	// changed since it was read.
	if status == http.StatusInternalServerError && strings.Contains(msg, "error applying patch") {
		return errs.New(errs.Conflict, "argo cd refused the patch, the application changed since it was read: %s", msg)
	}
	kind := map[int]error{
		http.StatusBadRequest: errs.Invalid, http.StatusUnauthorized: errs.Unauthenticated,
		http.StatusForbidden: errs.Denied, http.StatusNotFound: errs.NotFound, http.StatusConflict: errs.Conflict,
		http.StatusTooManyRequests: errs.RateLimited, http.StatusServiceUnavailable: errs.Unavailable,
		http.StatusBadGateway: errs.Unavailable, http.StatusGatewayTimeout: errs.Unavailable,
	}[status]
	if kind == nil {
		return fmt.Errorf("argo cd answered %d: %s", status, msg)
	}
	return errs.New(kind, "argo cd answered %d: %s", status, msg)
}
