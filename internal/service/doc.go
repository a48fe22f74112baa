// Package service holds flagops' use cases: it validates and normalizes what
// a caller asks for, fills in defaults (the workspace), and calls the store.
// It speaks domain types only; protobuf stops at internal/api.
//
// Each service declares the small slice of the store it needs, so that
// *store.Store satisfies it and a test can substitute a hand-written fake.
package service

import (
	"github.com/flagops/flagops/internal/domain"
	"github.com/flagops/flagops/internal/errs"
)

// workspace defaults an empty workspace to domain.DefaultWorkspace and checks
// the name; field is the request field it came from.
func workspace(field, ws string) (string, error) {
	if ws == "" {
		return domain.DefaultWorkspace, nil
	}
	if err := domain.ValidateName(field, ws); err != nil {
		return "", err
	}
	return ws, nil
}

// page checks a page request. The store applies the default and the cap.
func page(size int, token string) (domain.Page, error) {
	if size < 0 {
		return domain.Page{}, errs.Field("page_size", "must not be negative")
	}
	return domain.Page{Size: size, Token: token}, nil
}

// expectedRevision checks an expected revision (nil: unconditional).
func expectedRevision(expected *int64) error {
	if expected != nil && *expected < 0 {
		return errs.Field("expected_revision", "must not be negative")
	}
	return nil
}
