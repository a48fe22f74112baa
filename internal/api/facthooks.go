package api

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"

	"github.com/flagops/flagops/internal/domain"
	"github.com/flagops/flagops/internal/errs"
	"github.com/flagops/flagops/internal/service"
)

// FactHookRoute is the route of inbound fact hooks, also the procedure
// string auth.Authorize sees for them.
const FactHookRoute = "POST /v1/hooks/facts/{hook}"

// MaxFactHookBytes caps a fact hook request body.
const MaxFactHookBytes = 1 << 20

// factHookItem is one entry of a fact hook body: a deployment
// ("shop@eu-1") or a scope ("environment/prod"), and the facts to set.
type factHookItem struct {
	Deployment string                     `json:"deployment"`
	Scope      string                     `json:"scope"`
	Facts      map[string]json.RawMessage `json:"facts"`
}

// FactHookHandler serves POST /v1/hooks/facts/{hook}: an outside system
// (a CMS, billing) sets facts with the hook's own token. The body is one
// item or a JSON list of items, applied in one revision; the answer is
// {"revision": N}, or {"code", "message", "field"} with a 4xx status for
// bad input. Serve it behind Route, which authorizes the route itself;
// the hook token is checked here.
func FactHookHandler(svc *service.Webhooks, opt Options) http.Handler {
	opt.defaults()
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ctx := r.Context()
		fail := func(err error) { writeError(w, toConnect(ctx, opt.Logger, FactHookRoute, err)) }
		name := r.PathValue("hook")
		token, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
		if !ok || token == "" {
			fail(errs.New(errs.Unauthenticated, "fact hook %s: send the hook token as Authorization: Bearer TOKEN", errs.Quote(name)))
			return
		}
		ws := r.URL.Query().Get("workspace")
		// Authenticate before reading the body, so that an unauthenticated
		// caller learns nothing about its content's validity.
		if err := svc.AuthenticateFactHook(ctx, ws, name, token); err != nil {
			fail(err)
			return
		}
		body, err := io.ReadAll(io.LimitReader(r.Body, MaxFactHookBytes+1))
		if err != nil {
			if mb, tooBig := errors.AsType[*http.MaxBytesError](err); tooBig {
				fail(&errs.FieldError{Field: "body", Rule: fmt.Sprintf("must be at most %d bytes (the server's request limit)", mb.Limit), Kind: errs.TooLarge})
				return
			}
			fail(errs.Field("body", "could not be read"))
			return
		}
		if len(body) > MaxFactHookBytes {
			fail(&errs.FieldError{Field: "body", Rule: fmt.Sprintf("must be at most %d bytes", MaxFactHookBytes), Kind: errs.TooLarge})
			return
		}
		items, list, err := parseFactHookBody(body)
		if err != nil {
			fail(err)
			return
		}
		entries, err := factHookEntries(items, list)
		if err != nil {
			fail(err)
			return
		}
		rev, err := svc.ApplyFactHook(ctx, ws, name, token, entries)
		if err != nil {
			fail(renameEntries(err, items, list))
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(map[string]int64{"revision": rev})
	})
}

// parseFactHookBody decodes one item or a list of items, strictly: unknown
// fields are errors that name the field.
func parseFactHookBody(body []byte) ([]factHookItem, bool, error) {
	trimmed := bytes.TrimSpace(body)
	if len(trimmed) == 0 {
		return nil, false, errs.Field("body", "is empty: send a JSON object or a list of them")
	}
	list := trimmed[0] == '['
	dec := json.NewDecoder(bytes.NewReader(trimmed))
	dec.DisallowUnknownFields()
	var items []factHookItem
	var err error
	if list {
		err = dec.Decode(&items)
	} else {
		var one factHookItem
		err = dec.Decode(&one)
		items = []factHookItem{one}
	}
	if err != nil {
		return nil, list, jsonFieldError(err)
	}
	if dec.More() {
		return nil, list, errs.Field("body", "must hold one JSON value")
	}
	return items, list, nil
}

// jsonFieldError turns a decoding error into a field error naming where it is.
func jsonFieldError(err error) error {
	if te, ok := errors.AsType[*json.UnmarshalTypeError](err); ok {
		field := te.Field
		if field == "" {
			field = "body"
		}
		// te.Value is "number 12345…" for a number: name only its kind.
		kind, _, _ := strings.Cut(te.Value, " ")
		return errs.Field(field, "must be a JSON %s, not %s", jsonKind(te.Type.Kind().String()), kind)
	}
	if msg := err.Error(); strings.HasPrefix(msg, "json: unknown field ") {
		return errs.Field(strings.Trim(strings.TrimPrefix(msg, "json: unknown field "), `"`), "is not a field: use deployment or scope, and facts")
	}
	return errs.Field("body", "is not valid JSON: %v", err)
}

func jsonKind(k string) string {
	switch k {
	case "map", "struct":
		return "object"
	case "slice":
		return "list"
	}
	return k
}

func itemField(i int, list bool, field string) string {
	if list {
		return fmt.Sprintf("[%d].%s", i, field)
	}
	return field
}

// factHookEntries checks each item and turns it into a bulk entry.
func factHookEntries(items []factHookItem, list bool) ([]domain.FactsEntry, error) {
	out := make([]domain.FactsEntry, 0, len(items))
	for i, it := range items {
		var sc domain.Scope
		switch {
		case (it.Deployment == "") == (it.Scope == ""):
			return nil, errs.Field(itemField(i, list, "deployment"), "give exactly one of deployment (PROJECT@TARGET) and scope")
		case it.Deployment != "":
			p, t, ok := strings.Cut(it.Deployment, "@")
			sc = domain.DeploymentScope(p, t)
			if !ok || sc.Validate() != nil {
				return nil, errs.Field(itemField(i, list, "deployment"), "%s is not a deployment: write PROJECT@TARGET", errs.Quote(it.Deployment))
			}
		default:
			var err error
			if sc, err = domain.ParseScope(it.Scope); err != nil {
				return nil, errs.Field(itemField(i, list, "scope"), "%s is not a scope: %s", errs.Quote(it.Scope), domain.ScopeSyntax)
			}
		}
		if len(it.Facts) == 0 {
			return nil, errs.Field(itemField(i, list, "facts"), "at least one fact is required")
		}
		out = append(out, domain.FactsEntry{Scope: sc, Values: it.Facts})
	}
	return out, nil
}

// renameEntries rewrites the store's "entries[i].scope…" field paths into
// the body's own: "[i].deployment" or "[i].scope" (without "[i]." for a
// single object), so the caller sees the field it sent.
func renameEntries(err error, items []factHookItem, list bool) error {
	fe, ok := errors.AsType[*errs.FieldError](err)
	if !ok || !strings.HasPrefix(fe.Field, "entries[") {
		return err
	}
	var i int
	var rest string
	if _, serr := fmt.Sscanf(fe.Field, "entries[%d]", &i); serr != nil || i < 0 || i >= len(items) {
		return err
	}
	rest = fe.Field[strings.Index(fe.Field, "]")+1:]
	rest = strings.TrimPrefix(rest, ".")
	if strings.HasPrefix(rest, "scope") && items[i].Deployment != "" {
		rest = "deployment"
	}
	cp := *fe
	cp.Field = itemField(i, list, rest)
	return &cp
}
