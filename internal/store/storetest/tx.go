package storetest

import (
	"encoding/json"
	"errors"
	"slices"
	"testing"

	"github.com/flagops/flagops/internal/domain"
	"github.com/flagops/flagops/internal/errs"
	"github.com/flagops/flagops/internal/store"
)

// testWriteTx checks Store.Write and DryRun: writes of several kinds made
// through one Tx share one revision, an error rolls all of them back, a dry
// run commits nothing, and Refs and Delete see the Tx's own writes.
func testWriteTx(t *testing.T, h *harness) {
	h.env("prod")
	start := h.rev()

	t.Run("one revision for every write", func(t *testing.T) {
		rev, err := h.s.Write(h.ctx, func(tx *store.Tx) error {
			if _, _, err := tx.PutEnvironment(h.ctx, domain.Environment{Meta: meta("dev")}, nil); err != nil {
				return err
			}
			if _, _, err := tx.PutTarget(h.ctx, domain.Target{Meta: meta("eu-1"), Environment: "dev"}, nil); err != nil {
				return err
			}
			if _, err := tx.SetFacts(h.ctx, ws, domain.Scope{Kind: domain.ScopeTarget, Target: "eu-1"}, map[string]json.RawMessage{"region": json.RawMessage(`"eu"`)}, nil); err != nil {
				return err
			}
			if got := tx.ChangeCount(); got != 3 {
				t.Errorf("ChangeCount = %d inside the transaction, want 3", got)
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		if rev != start+1 {
			t.Fatalf("Write committed revision %d, want %d", rev, start+1)
		}
		cs := h.since(start)
		if len(cs) != 3 {
			t.Fatalf("%d change entries, want 3: %v", len(cs), summary(t, cs))
		}
		for i, c := range cs {
			if c.Revision != rev || c.Seq != i {
				t.Errorf("entry %d: revision %d seq %d, want %d and %d", i, c.Revision, c.Seq, rev, i)
			}
		}
	})

	t.Run("an error rolls back every write", func(t *testing.T) {
		before := h.rev()
		_, err := h.s.Write(h.ctx, func(tx *store.Tx) error {
			if _, _, err := tx.PutEnvironment(h.ctx, domain.Environment{Meta: meta("qa")}, nil); err != nil {
				return err
			}
			_, _, err := tx.PutTarget(h.ctx, domain.Target{Meta: meta("qa-1"), Environment: "nope"}, nil)
			return err
		})
		wantKind(t, err, errs.Invalid, "environment")
		if got := h.rev(); got != before {
			t.Errorf("revision moved from %d to %d", before, got)
		}
		if _, err := h.s.GetEnvironment(h.ctx, ws, "qa"); !errors.Is(err, errs.NotFound) {
			t.Errorf("the environment written before the error is there: %v", err)
		}
	})

	t.Run("a dry run commits nothing", func(t *testing.T) {
		before := h.rev()
		var seen []domain.Change
		var wouldBe int64
		err := h.s.DryRun(h.ctx, func(tx *store.Tx) error {
			if _, _, err := tx.PutEnvironment(h.ctx, domain.Environment{Meta: meta("staging")}, nil); err != nil {
				return err
			}
			if err := tx.Delete(h.ctx, ws, domain.ObjectRef{Kind: domain.KindTarget, Name: "eu-1"}); err != nil {
				return err
			}
			seen, wouldBe = tx.Changes(), tx.Revision()
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		if wouldBe != before+1 {
			t.Errorf("the dry run would commit revision %d, want %d", wouldBe, before+1)
		}
		// The environment, the target and the target's fact.
		if len(seen) != 3 {
			t.Errorf("the dry run saw %d changes, want 3: %v", len(seen), summary(t, seen))
		}
		if got := h.rev(); got != before {
			t.Errorf("a dry run moved the revision from %d to %d", before, got)
		}
		if _, err := h.s.GetEnvironment(h.ctx, ws, "staging"); !errors.Is(err, errs.NotFound) {
			t.Errorf("a dry run created an environment: %v", err)
		}
		if _, err := h.s.GetTarget(h.ctx, ws, "eu-1"); err != nil {
			t.Errorf("a dry run deleted a target: %v", err)
		}
	})

	t.Run("refs and delete", func(t *testing.T) {
		_, err := h.s.Write(h.ctx, func(tx *store.Tx) error {
			refs, err := tx.Refs(h.ctx, ws, domain.KindEnvironment)
			if err != nil {
				return err
			}
			var names []string
			for _, r := range refs {
				names = append(names, r.ChangeKey())
			}
			if !slices.Equal(names, []string{"dev", "prod"}) {
				t.Errorf("environments %v, want [dev prod]", names)
			}
			// dev still has target eu-1: refused, and nothing written.
			err = tx.Delete(h.ctx, ws, domain.ObjectRef{Kind: domain.KindEnvironment, Name: "dev"})
			if !errors.Is(err, errs.FailedPrecondition) || tx.ChangeCount() != 0 {
				t.Errorf("deleting a used environment: %v, %d changes", err, tx.ChangeCount())
			}
			for _, r := range []domain.ObjectRef{{Kind: domain.KindTarget, Name: "eu-1"}, {Kind: domain.KindEnvironment, Name: "dev"}} {
				if err := tx.Delete(h.ctx, ws, r); err != nil {
					return err
				}
			}
			facts, err := tx.Refs(h.ctx, ws, domain.KindFact)
			if err != nil || len(facts) != 0 {
				t.Errorf("facts of the deleted target remain: %v, %v", facts, err)
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := h.s.GetEnvironment(h.ctx, ws, "dev"); !errors.Is(err, errs.NotFound) {
			t.Errorf("dev is still there: %v", err)
		}
	})
}
