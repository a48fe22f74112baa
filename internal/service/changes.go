package service

import (
	"context"
	"errors"
	"fmt"

	"github.com/flagops/flagops/internal/domain"
	"github.com/flagops/flagops/internal/errs"
	"github.com/flagops/flagops/internal/store"
)

// ChangeStore is the part of the store the change-log use cases need.
type ChangeStore interface {
	Revision(ctx context.Context) (int64, error)
	CompactedRevision(ctx context.Context) (int64, error)
	Compact(ctx context.Context, through int64) error
	ListChanges(ctx context.Context, q domain.ChangeQuery) ([]domain.Change, string, error)
}

var _ ChangeStore = (*store.Store)(nil)

// Changes reads and compacts the change log. It is safe for concurrent use.
type Changes struct {
	store ChangeStore
}

// NewChanges returns the change-log use cases on st.
func NewChanges(st ChangeStore) *Changes { return &Changes{store: st} }

// Revision returns the current and the compacted revision.
func (c *Changes) Revision(ctx context.Context) (rev, compacted int64, err error) {
	if rev, err = c.store.Revision(ctx); err != nil {
		return 0, 0, fmt.Errorf("read revision: %w", err)
	}
	if compacted, err = c.store.CompactedRevision(ctx); err != nil {
		return 0, 0, fmt.Errorf("read compacted revision: %w", err)
	}
	return rev, compacted, nil
}

// ListChanges answers a history query.
func (c *Changes) ListChanges(ctx context.Context, q domain.ChangeQuery) ([]domain.Change, string, error) {
	if q.Workspace != "" {
		if err := domain.ValidateName("workspace", q.Workspace); err != nil {
			return nil, "", err
		}
	}
	switch {
	case q.FromRevision < 0:
		return nil, "", errs.Field("from_revision", "must not be negative")
	case q.ToRevision < 0:
		return nil, "", errs.Field("to_revision", "must not be negative")
	case q.ToRevision != 0 && q.ToRevision < q.FromRevision:
		return nil, "", errs.Field("to_revision", "must not be lower than from_revision")
	case !q.Since.IsZero() && !q.Until.IsZero() && q.Until.Before(q.Since):
		return nil, "", errs.Field("until", "must not be before since")
	case q.Limit < 0:
		return nil, "", errs.Field("page_size", "must not be negative")
	}
	return wrapList[domain.Change]("list changes")(c.store.ListChanges(ctx, q))
}

// Compact removes change entries up to and including through and returns
// the compacted revision. Compacting past the current revision is refused.
func (c *Changes) Compact(ctx context.Context, through int64) (int64, error) {
	if through <= 0 {
		return 0, errs.Field("through_revision", "must be positive")
	}
	rev, err := c.store.Revision(ctx)
	if err != nil {
		return 0, fmt.Errorf("read revision: %w", err)
	}
	if through > rev {
		return 0, errs.Field("through_revision", "must not be beyond the current revision %d", rev)
	}
	if err := c.store.Compact(ctx, through); err != nil {
		return 0, fmt.Errorf("compact through %d: %w", through, err)
	}
	compacted, err := c.store.CompactedRevision(ctx)
	if err != nil {
		return 0, fmt.Errorf("read compacted revision: %w", err)
	}
	return compacted, nil
}

// asField is errors.As for *errs.FieldError, kept here so the scope parser
// reads plainly.
func asField(err error, fe **errs.FieldError) bool { return errors.As(err, fe) }
