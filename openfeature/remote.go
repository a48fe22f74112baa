package openfeature

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	of "github.com/open-feature/go-sdk/openfeature"
)

// RemoteOptions configures remote (OFREP) mode.
type RemoteOptions struct {
	// APIKey is sent as "Authorization: Bearer"; it selects the environment.
	APIKey string
	// Client is the HTTP client (default: one with a 5s timeout).
	Client *http.Client
}

// NewRemote returns a provider that evaluates each flag with OFREP
// (POST {baseURL}/ofrep/v1/evaluate/flags/{key}). OFREP errors become
// OpenFeature resolution errors; 401, 403, 429 and 5xx are GENERAL, and
// after a 429 the provider answers GENERAL locally until Retry-After.
func NewRemote(baseURL string, o RemoteOptions) *Provider {
	if o.Client == nil {
		o.Client = &http.Client{Timeout: 5 * time.Second}
	}
	return newProvider("flagops-remote", &remote{base: strings.TrimRight(baseURL, "/"), o: o})
}

type remote struct {
	base string
	o    RemoteOptions
	// until is the unix-nano time before which the server asked us not to
	// call (Retry-After of a 429).
	until atomic.Int64
}

func (r *remote) init(context.Context, func(of.Event)) error { return nil }
func (r *remote) shutdown()                                  {}

// ofrepResponse is the union of OFREP's success and failure bodies.
type ofrepResponse struct {
	Key          string          `json:"key"`
	Value        json.RawMessage `json:"value"`
	Reason       string          `json:"reason"`
	Variant      string          `json:"variant"`
	Metadata     map[string]any  `json:"metadata"`
	ErrorCode    string          `json:"errorCode"`
	ErrorDetails string          `json:"errorDetails"`
}

func (r *remote) evaluate(ctx context.Context, key string, flat of.FlattenedContext) result {
	if u := r.until.Load(); u != 0 && time.Now().UnixNano() < u {
		return errorResult(of.NewGeneralResolutionError("rate limited by the flagops server"))
	}
	body, err := json.Marshal(struct {
		Context of.FlattenedContext `json:"context"`
	}{flat})
	if err != nil {
		return errorResult(of.NewInvalidContextResolutionError("context is not JSON-encodable: " + err.Error()))
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, r.base+"/ofrep/v1/evaluate/flags/"+url.PathEscape(key), bytes.NewReader(body))
	if err != nil {
		return errorResult(of.NewGeneralResolutionError(err.Error()))
	}
	req.Header.Set("Content-Type", "application/json")
	if r.o.APIKey != "" {
		req.Header.Set("Authorization", "Bearer "+r.o.APIKey)
	}
	resp, err := r.o.Client.Do(req)
	if err != nil {
		return errorResult(of.NewGeneralResolutionError("OFREP request failed: " + err.Error()))
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, 4<<20))
	if err != nil {
		return errorResult(of.NewGeneralResolutionError("reading OFREP response: " + err.Error()))
	}
	switch resp.StatusCode {
	case http.StatusOK, http.StatusBadRequest, http.StatusNotFound:
	case http.StatusUnauthorized, http.StatusForbidden:
		return errorResult(of.NewGeneralResolutionError("OFREP: " + resp.Status + ": check the API key"))
	case http.StatusTooManyRequests:
		r.until.Store(retryAfter(resp.Header.Get("Retry-After"), time.Now()).UnixNano())
		return errorResult(of.NewGeneralResolutionError("OFREP: rate limited"))
	default:
		return errorResult(of.NewGeneralResolutionError("OFREP: " + resp.Status))
	}
	var or ofrepResponse
	if err := json.Unmarshal(data, &or); err != nil {
		return errorResult(of.NewParseErrorResolutionError("OFREP response is not JSON: " + err.Error()))
	}
	if or.ErrorCode != "" {
		return errorResult(resolutionError(or.ErrorCode, or.ErrorDetails))
	}
	if resp.StatusCode != http.StatusOK {
		return errorResult(of.NewGeneralResolutionError("OFREP: " + resp.Status))
	}
	res := result{reason: of.Reason(or.Reason), variant: or.Variant}
	if len(or.Metadata) > 0 {
		res.meta = of.FlagMetadata(or.Metadata)
	}
	if len(or.Value) > 0 {
		if err := json.Unmarshal(or.Value, &res.value); err != nil {
			return errorResult(of.NewParseErrorResolutionError("OFREP value: " + err.Error()))
		}
		res.hasValue = true
	}
	return res
}

// retryAfter parses a Retry-After header: OFREP's RFC 3339 date-time, an
// HTTP-date or delta-seconds; a value that parses as none means one second.
func retryAfter(h string, now time.Time) time.Time {
	if t, err := time.Parse(time.RFC3339, h); err == nil {
		return t
	}
	if t, err := http.ParseTime(h); err == nil {
		return t
	}
	if s, err := strconv.Atoi(h); err == nil && s >= 0 {
		return now.Add(time.Duration(s) * time.Second)
	}
	return now.Add(time.Second)
}
