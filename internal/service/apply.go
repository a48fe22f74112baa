package service

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/flagops/flagops/internal/domain"
	"github.com/flagops/flagops/internal/errs"
	"github.com/flagops/flagops/internal/manifest"
	"github.com/flagops/flagops/internal/store"
)

// ApplyStore is the part of the store an apply needs: one write
// transaction, committed or rehearsed.
type ApplyStore interface {
	Write(ctx context.Context, fn func(*store.Tx) error) (int64, error)
	DryRun(ctx context.Context, fn func(*store.Tx) error) error
}

var _ ApplyStore = (*store.Store)(nil)

// Applier makes the store match a set of manifests, in one transaction. It
// is safe for concurrent use.
type Applier struct {
	store ApplyStore
}

// NewApplier returns the apply use case on st.
func NewApplier(st ApplyStore) *Applier { return &Applier{store: st} }

// Manifest is one source of documents.
type Manifest struct {
	// Source names it in messages ("catalog.yaml", "-"); an empty one is
	// named after its place in the request.
	Source  string
	Content string
}

// ApplyRequest is a set of manifests and what to do with it.
type ApplyRequest struct {
	// Workspace is the workspace of documents that name none.
	Workspace string
	Manifests []Manifest
	DryRun    bool
	// Prune deletes the objects of PruneKinds (document kinds) that the
	// set does not name, in every workspace its documents belong to.
	Prune      bool
	PruneKinds []string
	// Authorize is asked about every write before it is made, and refuses
	// the whole apply by returning an error. Nil allows every write.
	Authorize func(ctx context.Context, w ApplyWrite) error
}

// ApplyWrite is one write an apply makes, for Authorize: the put of a
// document's object (Object is a manifest.Document's Object, its workspace
// filled in for catalog kinds) or, with Delete, the delete of a pruned one
// (Object is a domain.ObjectRef).
type ApplyWrite struct {
	Delete    bool
	Workspace string
	Object    any
}

// ApplyAction is what an apply did, or in a dry run would do, to an object.
type ApplyAction string

// The actions.
const (
	ApplyCreated   ApplyAction = "created"
	ApplyChanged   ApplyAction = "changed"
	ApplyUnchanged ApplyAction = "unchanged"
	ApplyDeleted   ApplyAction = "deleted"
)

// ApplyResult is the result of one document, or of one pruned object
// (Source empty, Index 0).
type ApplyResult struct {
	Source    string
	Index     int
	Kind      string
	Workspace string
	Name      string
	Action    ApplyAction
	// ChangedFields are the paths of the fields that differ, in the
	// document's names, for ApplyChanged.
	ChangedFields []string
}

// ApplyOutcome is what an apply did.
type ApplyOutcome struct {
	// Revision is the committed revision; 0 when nothing changed or in a
	// dry run.
	Revision int64
	DryRun   bool
	Results  []ApplyResult
	// ChangeCount counts the change-log entries written (or, in a dry run,
	// that would be): the results' objects and what their writes did to
	// others.
	ChangeCount int
}

// MaxApplyDocuments caps the documents of one apply. An apply holds the
// single writer for its whole transaction, a few statements per document:
// 1,000 documents take about half a second on SQLite and two on PostgreSQL
// (docs/benchmarks.md), so the cap keeps one request from stalling every
// other write for more than about a minute.
const MaxApplyDocuments = 20_000

// pruneKinds maps the document kinds a prune may name to the store's kinds.
var pruneKinds = map[string]string{
	manifest.KindEnvironment: domain.KindEnvironment, manifest.KindEnvironmentSet: domain.KindEnvironmentSet,
	manifest.KindTarget: domain.KindTarget, manifest.KindProject: domain.KindProject,
	manifest.KindFacts: domain.KindFact, manifest.KindSegment: domain.KindSegment,
	manifest.KindFlag: domain.KindFlag, manifest.KindPromotionPolicy: domain.KindPromotionPolicy,
}

// PrunableKinds returns the document kinds a prune may name, in dependency
// order.
func PrunableKinds() []string {
	var out []string
	for _, k := range manifest.Kinds() {
		if _, ok := pruneKinds[k]; ok {
			out = append(out, k)
		}
	}
	return out
}

// document is a parsed document ready to apply: its workspace defaulted,
// its object complete, and the manifest it came from.
type document struct {
	manifest.Document
	manifestIndex int
	// keys are the change-log keys of what the document names: one for
	// most kinds, one per value for Facts.
	changeKind string
	keys       []string
}

// Apply checks every document of the request, authorizes every write, and
// then applies the set in one transaction: all of it or, when any document
// is refused, none of it. A dry run does exactly the same and rolls back.
func (a *Applier) Apply(ctx context.Context, req ApplyRequest) (ApplyOutcome, error) {
	ws, err := workspace("workspace", req.Workspace)
	if err != nil {
		return ApplyOutcome{}, err
	}
	prune, err := checkPrune(req.Prune, req.PruneKinds)
	if err != nil {
		return ApplyOutcome{}, err
	}
	docs, err := parseManifests(req.Manifests, ws)
	if err != nil {
		return ApplyOutcome{}, err
	}
	if req.Authorize != nil {
		for _, d := range docs {
			if err := req.Authorize(ctx, ApplyWrite{Workspace: d.Workspace, Object: d.Object}); err != nil {
				return ApplyOutcome{}, d.fail(err)
			}
		}
	}
	out := ApplyOutcome{DryRun: req.DryRun}
	run := func(tx *store.Tx) error {
		out.Results = out.Results[:0]
		for _, d := range docs {
			r, err := applyDocument(ctx, tx, d)
			if err != nil {
				return d.fail(err)
			}
			out.Results = append(out.Results, r)
		}
		if len(prune) > 0 {
			pruned, err := pruneUnnamed(ctx, tx, docs, prune, req.Authorize)
			if err != nil {
				return err
			}
			out.Results = append(out.Results, pruned...)
		}
		out.ChangeCount = tx.ChangeCount()
		return nil
	}
	if req.DryRun {
		err = a.store.DryRun(ctx, run)
	} else {
		out.Revision, err = a.store.Write(ctx, run)
	}
	if err != nil {
		// The error names its document (or pruned object) already.
		return ApplyOutcome{}, err
	}
	return out, nil
}

// checkPrune checks the prune settings and returns the store kinds to prune.
func checkPrune(prune bool, kinds []string) ([]string, error) {
	allowed := strings.Join(PrunableKinds(), ", ")
	switch {
	case !prune && len(kinds) > 0:
		return nil, errs.Field("prune_kinds", "are given without prune: a prune deletes objects, so it must be asked for")
	case prune && len(kinds) == 0:
		return nil, errs.Field("prune_kinds", "at least one kind is required with prune (%s)", allowed)
	}
	var out []string
	for i, k := range kinds {
		sk, ok := pruneKinds[k]
		switch {
		case k == manifest.KindWorkspace:
			return nil, errs.Field(fmt.Sprintf("prune_kinds[%d]", i), "workspaces are never pruned: delete one with \"flagops delete workspace\"")
		case k == manifest.KindRelease:
			return nil, errs.Field(fmt.Sprintf("prune_kinds[%d]", i), "releases are immutable records and are never pruned")
		case !ok:
			return nil, errs.Field(fmt.Sprintf("prune_kinds[%d]", i), "%q is not a kind a prune deletes (%s)", short(k), allowed)
		}
		if !slices.Contains(out, sk) {
			out = append(out, sk)
		}
	}
	return out, nil
}

// short quotes at most 40 bytes of what a caller sent.
func short(s string) string {
	if len(s) > 40 {
		return s[:40] + "…"
	}
	return s
}

// parseManifests parses every manifest, fills in workspaces, and refuses
// the set when any document is invalid or two documents name the same
// object. Documents come back in dependency order.
func parseManifests(ms []Manifest, ws string) ([]document, error) {
	if len(ms) == 0 {
		return nil, errs.Field("manifests", "at least one manifest is required")
	}
	var docs []document
	var problems []error
	for i, m := range ms {
		src := m.Source
		if src == "" {
			src = fmt.Sprintf("manifests[%d]", i)
		}
		parsed, err := manifest.Parse(src, []byte(m.Content))
		for _, d := range parsed {
			docs = append(docs, document{Document: d, manifestIndex: i})
		}
		for _, e := range unjoin(err) {
			problems = append(problems, docProblem(i, e))
		}
	}
	if len(problems) > 0 {
		return nil, firstOf(problems)
	}
	if len(docs) == 0 {
		return nil, errs.Field("manifests", "hold no documents")
	}
	if len(docs) > MaxApplyDocuments {
		return nil, errs.Field("manifests", "hold %d documents; one apply takes at most %d (apply the set in parts)", len(docs), MaxApplyDocuments)
	}
	seen := map[string]document{}
	for i := range docs {
		d := &docs[i]
		if err := d.complete(ws); err != nil {
			return nil, d.fail(err)
		}
		for _, k := range d.keys {
			id := d.Workspace + "\x00" + d.changeKind + "\x00" + k
			if other, dup := seen[id]; dup {
				return nil, d.fail(errs.Field("", "names the same object as %s: document %d; a set names each object once", other.Source, other.Index))
			}
			seen[id] = *d
		}
	}
	slices.SortStableFunc(docs, func(a, b document) int {
		return slices.Index(manifest.Kinds(), a.Kind) - slices.Index(manifest.Kinds(), b.Kind)
	})
	return docs, nil
}

// unjoin splits a joined error into its parts.
func unjoin(err error) []error {
	if err == nil {
		return nil
	}
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		return j.Unwrap()
	}
	return []error{err}
}

// firstOf returns the first problem, saying how many others there are.
func firstOf(problems []error) error {
	if len(problems) == 1 {
		return problems[0]
	}
	more := fmt.Sprintf(" (and %d more invalid documents)", len(problems)-1)
	if fe, ok := errors.AsType[*errs.FieldError](problems[0]); ok {
		cp := *fe
		cp.Rule += more
		return &cp
	}
	return fmt.Errorf("%w%s", problems[0], more)
}

// docProblem re-roots a parse error of manifest i at its document.
func docProblem(i int, err error) error {
	de, ok := errors.AsType[*manifest.DocError](err)
	if !ok {
		return errs.Prefix(fmt.Sprintf("manifests[%d]", i), errs.Field("content", "%v", err))
	}
	return rootAt(i, de.Index, fmt.Sprintf("%s: document %d", de.Source, de.Index), de.Kind, de.Err)
}

// fail re-roots an error about d at d.
func (d document) fail(err error) error {
	return rootAt(d.manifestIndex, d.Index, d.Where()+" "+d.Name(), "", err)
}

// rootAt puts a document's error in the shape a client sees: a field error
// keeps its field, under manifests[M].documents[N] (N counting from 0), and
// its rule starts with where the document is, since a field error's
// message is all that reaches the client; another error is prefixed with
// where.
func rootAt(mi, index int, where, kind string, err error) error {
	if kind != "" {
		where += " (" + kind + ")"
	}
	fe, ok := errors.AsType[*errs.FieldError](err)
	if !ok {
		return fmt.Errorf("%s: %w", where, err)
	}
	cp := *errs.Prefix(fmt.Sprintf("manifests[%d].documents[%d]", mi, index-1), fe).(*errs.FieldError)
	cp.Rule = where + ": " + fe.Rule
	return &cp
}
