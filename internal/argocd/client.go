// Package argocd is flagops' Argo CD agent: a client of Argo CD's REST API
// and the loop that keeps each managed Application in step with flagops.
//
// The agent follows flagops' change log. On any change that can affect a
// deployment it fetches the deployment's render bundle and (a) when the
// bundle's desired version differs from the version field of the
// Application, it writes that field (and optionally syncs); (b) when the
// bundle's inputsHash moved, it asks Argo CD for a hard refresh of that
// Application only, so that the flagops plugin renders again. It reports
// the deployed version and health back through a VersionReporter.
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
	// AppNamespace, when set, is sent as appNamespace, for Applications
	// outside Argo CD's own namespace.
	AppNamespace string
	HTTP         *http.Client
}

// Application is an Argo CD Application as the API returns it. Raw keeps
// the whole object, so that an update sends back every field, including
// those this package does not know.
type Application struct {
	Metadata ObjectMeta `json:"metadata"`
	Spec     struct {
		Source *Source `json:"source,omitempty"`
	} `json:"spec"`
	Status AppStatus `json:"status"`

	Raw json.RawMessage `json:"-"`
}

// ObjectMeta is the part of Kubernetes' metadata the agent reads.
type ObjectMeta struct {
	Name            string            `json:"name"`
	Namespace       string            `json:"namespace,omitempty"`
	Labels          map[string]string `json:"labels,omitempty"`
	ResourceVersion string            `json:"resourceVersion,omitempty"`
}

// Source is the part of spec.source the agent reads.
type Source struct {
	RepoURL        string `json:"repoURL"`
	Path           string `json:"path,omitempty"`
	TargetRevision string `json:"targetRevision,omitempty"`
	Helm           *struct {
		Parameters []HelmParameter `json:"parameters,omitempty"`
	} `json:"helm,omitempty"`
	Kustomize *struct {
		Images []string `json:"images,omitempty"`
	} `json:"kustomize,omitempty"`
}

// HelmParameter is one spec.source.helm.parameters entry.
type HelmParameter struct {
	Name        string `json:"name"`
	Value       string `json:"value"`
	ForceString bool   `json:"forceString,omitempty"`
}

// AppStatus is the part of status the agent reads.
type AppStatus struct {
	Sync struct {
		Status   string `json:"status"`
		Revision string `json:"revision,omitempty"`
	} `json:"sync"`
	Health struct {
		Status string `json:"status"`
	} `json:"health"`
	Summary struct {
		Images []string `json:"images,omitempty"`
	} `json:"summary"`
}

// List returns the Applications matching the label selector
// (GET /api/v1/applications?selector=…).
func (c *Client) List(ctx context.Context, selector string) ([]*Application, error) {
	q := url.Values{}
	if selector != "" {
		q.Set("selector", selector)
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

// Get returns one Application (GET /api/v1/applications/NAME). refresh is
// "", "normal" or "hard"; "hard" makes Argo CD drop its manifest cache and
// ask the repo server (the flagops plugin) to render again.
func (c *Client) Get(ctx context.Context, name, refresh string) (*Application, error) {
	q := url.Values{}
	if refresh != "" {
		q.Set("refresh", refresh)
	}
	var raw json.RawMessage
	if err := c.do(ctx, http.MethodGet, "/api/v1/applications/"+url.PathEscape(name), q, nil, &raw); err != nil {
		return nil, fmt.Errorf("get application %s: %w", name, err)
	}
	return decodeApp(raw)
}

// Update writes an Application back (PUT /api/v1/applications/NAME) from
// its Raw JSON. The resourceVersion it carries makes Argo CD refuse the
// write (errs.Conflict) if the Application changed since it was read.
func (c *Client) Update(ctx context.Context, app *Application) (*Application, error) {
	name := app.Metadata.Name
	var raw json.RawMessage
	if err := c.do(ctx, http.MethodPut, "/api/v1/applications/"+url.PathEscape(name), nil, app.Raw, &raw); err != nil {
		return nil, fmt.Errorf("update application %s: %w", name, err)
	}
	return decodeApp(raw)
}

// Sync asks Argo CD to sync an Application to its current spec
// (POST /api/v1/applications/NAME/sync).
func (c *Client) Sync(ctx context.Context, name string) error {
	body, _ := json.Marshal(map[string]any{"name": name}) // a string always marshals
	if err := c.do(ctx, http.MethodPost, "/api/v1/applications/"+url.PathEscape(name)+"/sync", nil, body, nil); err != nil {
		return fmt.Errorf("sync application %s: %w", name, err)
	}
	return nil
}

func decodeApp(raw json.RawMessage) (*Application, error) {
	var app Application
	if err := json.Unmarshal(raw, &app); err != nil {
		return nil, fmt.Errorf("decode application: %w", err)
	}
	app.Raw = raw
	return &app, nil
}

// do sends one request and decodes a 2xx answer into out (when not nil).
// Argo CD's error answers ({"error","message","code"}) keep their message
// and get the errs kind of their HTTP status.
func (c *Client) do(ctx context.Context, method, path string, q url.Values, body []byte, out any) error {
	if c.AppNamespace != "" {
		if q == nil {
			q = url.Values{}
		}
		q.Set("appNamespace", c.AppNamespace)
	}
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
		var e struct{ Error, Message string }
		_ = json.Unmarshal(data, &e)
		msg := e.Message
		if msg == "" {
			msg = e.Error
		}
		if msg == "" {
			msg = http.StatusText(resp.StatusCode)
		}
		kind := map[int]error{
			http.StatusBadRequest: errs.Invalid, http.StatusUnauthorized: errs.Unauthenticated,
			http.StatusForbidden: errs.Denied, http.StatusNotFound: errs.NotFound, http.StatusConflict: errs.Conflict,
			http.StatusTooManyRequests: errs.RateLimited, http.StatusServiceUnavailable: errs.Unavailable,
			http.StatusBadGateway: errs.Unavailable, http.StatusGatewayTimeout: errs.Unavailable,
		}[resp.StatusCode]
		if kind == nil {
			return fmt.Errorf("argo cd answered %d: %s", resp.StatusCode, msg)
		}
		return errs.New(kind, "argo cd answered %d: %s", resp.StatusCode, msg)
	}
	if out == nil {
		return nil
	}
	if err := json.Unmarshal(data, out); err != nil {
		return fmt.Errorf("decode argo cd answer: %w", err)
	}
	return nil
}
