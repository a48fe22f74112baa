package ofrep

import (
	"context"

	"github.com/flagops/flagops/internal/errs"
)

// StaticAuth is an Authenticator over a fixed set of keys, for tests,
// development and benchmarks. A key mapped to a principal with an empty
// Environment is known but denied (errs.Denied). The real, store-backed
// keys are another package's work.
type StaticAuth map[string]Principal

var _ Authenticator = StaticAuth(nil)

// Authenticate implements Authenticator.
func (a StaticAuth) Authenticate(_ context.Context, token string) (Principal, error) {
	p, ok := a[token]
	if !ok {
		return Principal{}, errs.New(errs.Unauthenticated, "unknown API key")
	}
	if p.Environment == "" {
		return Principal{}, errs.New(errs.Denied, "API key may not evaluate flags")
	}
	return p, nil
}
