package api

import (
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strconv"

	"github.com/flagops/flagops/internal/auth"
	"github.com/flagops/flagops/internal/errs"
	"github.com/flagops/flagops/internal/render"
)

// RenderBundle serves render.BundleRoute: it decodes a render.BundleRequest,
// asks svc for the bundle and answers it as JSON in one response. Mount it
// behind Route, which authenticates the caller and authorizes the route;
// reading secrets is authorized again inside the service. Errors are mapped
// by the one error mapping (toConnect) and written as Connect writes them.
func RenderBundle(svc *render.Service, opt Options) http.Handler {
	opt.defaults()
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var req render.BundleRequest
		dec := json.NewDecoder(r.Body)
		dec.DisallowUnknownFields()
		if err := dec.Decode(&req); err != nil {
			if mb, ok := errors.AsType[*http.MaxBytesError](err); ok {
				err = &errs.FieldError{Field: "body", Rule: "must be at most " + strconv.FormatInt(mb.Limit, 10) + " bytes (the server's request limit)", Kind: errs.TooLarge}
			} else {
				err = errs.Field("body", "not a bundle request: %v", err)
			}
			writeError(w, toConnect(r.Context(), opt.Logger, render.BundleRoute, err))
			return
		}
		if _, err := dec.Token(); err != io.EOF {
			writeError(w, toConnect(r.Context(), opt.Logger, render.BundleRoute, errs.Field("body", "must hold one JSON object")))
			return
		}
		// The route check ran before the body was read; this one scopes the
		// call to the deployment the body names.
		if err := auth.Authorize(r.Context(), render.BundleRoute, &req); err != nil {
			writeError(w, toConnect(r.Context(), opt.Logger, render.BundleRoute, err))
			return
		}
		b, err := svc.Bundle(r.Context(), &req)
		if err != nil {
			writeError(w, toConnect(r.Context(), opt.Logger, render.BundleRoute, err))
			return
		}
		// Secret values may be in the body: no cache on the way may keep it.
		w.Header().Set("Cache-Control", "no-store")
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(b)
	})
}
