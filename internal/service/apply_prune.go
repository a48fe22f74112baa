package service

import (
	"context"
	"errors"
	"fmt"
	"slices"

	"github.com/flagops/flagops/internal/domain"
	"github.com/flagops/flagops/internal/errs"
	"github.com/flagops/flagops/internal/manifest"
	"github.com/flagops/flagops/internal/store"
)

// pruneUnnamed deletes, through tx, the stored objects of kinds (store
// kinds) that no document of docs names, in every workspace a document
// belongs to (the Workspace documents themselves belong to none). Each
// delete is authorized as the delete of its kind. Kinds are pruned in
// store.PruneKinds order, so what refers to others goes first.
func pruneUnnamed(ctx context.Context, tx *store.Tx, docs []document, kinds []string, authorize func(context.Context, ApplyWrite) error) ([]ApplyResult, error) {
	named := map[string]bool{}
	var workspaces []string
	for _, d := range docs {
		if d.Kind == manifest.KindWorkspace {
			continue
		}
		if !slices.Contains(workspaces, d.Workspace) {
			workspaces = append(workspaces, d.Workspace)
		}
		for _, k := range d.keys {
			named[d.Workspace+"\x00"+d.changeKind+"\x00"+k] = true
		}
	}
	slices.Sort(workspaces)
	var out []ApplyResult
	for _, kind := range store.PruneKinds {
		if !slices.Contains(kinds, kind) {
			continue
		}
		for _, ws := range workspaces {
			refs, err := tx.Refs(ctx, ws, kind)
			if err != nil {
				return nil, err
			}
			var pending []domain.ObjectRef
			for _, r := range refs {
				if named[ws+"\x00"+kind+"\x00"+r.ChangeKey()] {
					continue
				}
				if authorize != nil {
					if err := authorize(ctx, ApplyWrite{Delete: true, Workspace: ws, Object: r}); err != nil {
						return nil, pruneDenied(docKind(kind), ws, err)
					}
				}
				pending = append(pending, r)
			}
			deleted, err := deleteAll(ctx, tx, ws, pending)
			if err != nil {
				return nil, err
			}
			for _, r := range deleted {
				out = append(out, ApplyResult{Kind: docKind(r.Kind), Workspace: ws, Name: refName(r), Action: ApplyDeleted})
			}
		}
	}
	return out, nil
}

// pruneDenied is the error of a prune that would delete an object the key
// may not delete. It does not name the object, nor repeat the refusal
// (which names the object's project or scope): the key may not be allowed
// to know it exists.
func pruneDenied(kind, ws string, err error) error {
	if !errors.Is(err, errs.Denied) && !errors.Is(err, errs.Unauthenticated) {
		return fmt.Errorf("prune %s objects in workspace %q: %w", kind, ws, err)
	}
	return errs.New(errs.Denied, "the key may not delete every %s object of workspace %q that the set does not name; "+
		"narrow the prune kinds, or apply with a key that may delete them all", kind, ws)
}

// deleteAll deletes refs. A delete refused because another object depends
// on the one deleted (a flag that a pruned flag requires) is tried again
// once the others are gone; the store refuses before it writes anything,
// so the transaction stays usable. What is still refused when no delete
// succeeds any more fails the prune: the set keeps something that needs it.
func deleteAll(ctx context.Context, tx *store.Tx, ws string, refs []domain.ObjectRef) ([]domain.ObjectRef, error) {
	var done []domain.ObjectRef
	for len(refs) > 0 {
		var refused []domain.ObjectRef
		var first error
		for _, r := range refs {
			err := tx.Delete(ctx, ws, r)
			switch {
			case errors.Is(err, errs.FailedPrecondition):
				refused = append(refused, r)
				if first == nil {
					first = fmt.Errorf("prune %s in workspace %q: %w", refName(r), ws, err)
				}
			case err != nil:
				return nil, fmt.Errorf("prune %s in workspace %q: %w", refName(r), ws, err)
			default:
				done = append(done, r)
			}
		}
		if len(refused) == len(refs) {
			return nil, first
		}
		refs = refused
	}
	return done, nil
}

// docKind is the document kind of a store kind a prune deletes.
func docKind(kind string) string {
	for dk, k := range pruneKinds {
		if k == kind {
			return dk
		}
	}
	return kind
}

// refName shows a pruned object the way a document's object is shown
// (manifest.Document.Name): "environment/prod", "flag/shop/replicas", and
// "fact SCOPE:KEY" for one key of a scope's facts.
func refName(r domain.ObjectRef) string {
	switch r.Kind {
	case domain.KindFlag, domain.KindSegment:
		return r.Kind + "/" + r.Project + "/" + r.Name
	case domain.KindPromotionPolicy:
		return "promotionpolicy/" + r.Project + ":" + r.From + "->" + r.To
	case domain.KindFact:
		return "fact " + r.ChangeKey()
	}
	return r.Kind + "/" + r.Name
}
