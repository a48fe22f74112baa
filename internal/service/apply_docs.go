package service

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/flagops/flagops/internal/domain"
	"github.com/flagops/flagops/internal/errs"
	"github.com/flagops/flagops/internal/flag"
	"github.com/flagops/flagops/internal/manifest"
	"github.com/flagops/flagops/internal/store"
)

// complete fills in the document's workspace (ws when it names none), the
// workspace of its catalog object, and the change-log keys it names, and
// checks what the kind's own write RPC checks before the store.
func (d *document) complete(ws string) error {
	if d.Workspace == "" && d.Kind != manifest.KindWorkspace {
		d.Workspace = ws
	}
	key := func(kind string, keys ...string) { d.changeKind, d.keys = kind, keys }
	switch o := d.Object.(type) {
	case domain.Workspace:
		key(domain.KindWorkspace, o.Name)
	case domain.Environment:
		o.Workspace = d.Workspace
		d.Object = o
		key(domain.KindEnvironment, o.Name)
	case domain.Target:
		o.Workspace = d.Workspace
		d.Object = o
		key(domain.KindTarget, o.Name)
	case domain.EnvironmentSet:
		o.Workspace = d.Workspace
		o.Normalize()
		d.Object = o
		key(domain.KindEnvironmentSet, o.Name)
	case domain.Project:
		o.Workspace, o.EffectiveEnvironments = d.Workspace, nil
		o.Normalize()
		d.Object = o
		key(domain.KindProject, o.Name)
	case manifest.Facts:
		vals, err := values("values", o.Values)
		if err != nil {
			return err
		}
		o.Values = vals
		d.Object = o
		var keys []string
		for _, k := range slices.Sorted(maps.Keys(vals)) {
			keys = append(keys, domain.FactChangeKey(o.Scope, k))
		}
		key(domain.KindFact, keys...)
	case flag.Flag:
		o.Revision = 0
		d.Object = o
		key(domain.KindFlag, store.FlagKey(o.Project, o.Key))
	case flag.Segment:
		o.Revision = 0
		d.Object = o
		key(domain.KindSegment, store.FlagKey(o.Project, o.Key))
	case domain.Release:
		o.Workspace = d.Workspace
		d.Object = o
		key(domain.KindRelease, domain.ReleaseChangeKey(o.Project, o.Version))
	case domain.PromotionPolicy:
		o.Workspace = d.Workspace
		d.Object = o
		key(domain.KindPromotionPolicy, o.Key())
	default:
		return fmt.Errorf("apply: no writer for %T", d.Object)
	}
	return nil
}

// result is d's result with the given action.
func (d document) result(a ApplyAction, fields []string) ApplyResult {
	return ApplyResult{Source: d.Source, Index: d.Index, Kind: d.Kind, Workspace: d.Workspace, Name: d.Name(), Action: a, ChangedFields: fields}
}

// applyDocument writes d's object through tx and says what it did.
func applyDocument(ctx context.Context, tx *store.Tx, d document) (ApplyResult, error) {
	n := tx.ChangeCount()
	var op domain.Op
	var err error
	switch o := d.Object.(type) {
	case domain.Workspace:
		_, op, err = tx.PutWorkspace(ctx, o, nil)
	case domain.Environment:
		_, op, err = tx.PutEnvironment(ctx, o, nil)
	case domain.Target:
		_, op, err = tx.PutTarget(ctx, o, nil)
	case domain.EnvironmentSet:
		_, op, err = tx.PutEnvironmentSet(ctx, o, nil)
	case domain.Project:
		_, op, err = tx.PutProject(ctx, o, nil)
	case flag.Flag:
		_, op, err = tx.PutFlag(ctx, d.Workspace, o, nil)
	case flag.Segment:
		_, op, err = tx.PutSegment(ctx, d.Workspace, o, nil)
	case domain.PromotionPolicy:
		_, op, err = tx.PutPromotionPolicy(ctx, d.Workspace, o)
	case manifest.Facts:
		return applyFacts(ctx, tx, d, o)
	case domain.Release:
		return applyRelease(ctx, tx, d, o)
	default:
		return ApplyResult{}, fmt.Errorf("apply: no writer for %T", d.Object)
	}
	if err != nil {
		return ApplyResult{}, err
	}
	switch op {
	case domain.OpCreate:
		return d.result(ApplyCreated, nil), nil
	case domain.OpNone:
		return d.result(ApplyUnchanged, nil), nil
	}
	for _, c := range tx.ChangesSince(n) {
		if c.Kind == d.changeKind && c.Key == d.keys[0] {
			return d.result(ApplyChanged, changedFields(c.Before, c.After)), nil
		}
	}
	return d.result(ApplyChanged, nil), nil
}

// applyFacts sets the keys of a Facts document whose value differs, by
// meaning, from the scope's: key order and number spelling do not count, so
// what get prints applies unchanged.
func applyFacts(ctx context.Context, tx *store.Tx, d document, f manifest.Facts) (ApplyResult, error) {
	cur, _, err := tx.GetFacts(ctx, d.Workspace, f.Scope)
	if err != nil {
		return ApplyResult{}, err
	}
	current := make(map[string]json.RawMessage, len(cur))
	for _, c := range cur {
		current[c.Key] = c.Value
	}
	changed := map[string]json.RawMessage{}
	var fields []string
	for _, k := range slices.Sorted(maps.Keys(f.Values)) {
		if old, ok := current[k]; !ok || !sameJSON(old, f.Values[k]) {
			changed[k] = f.Values[k]
			fields = append(fields, "values."+k)
		}
	}
	if len(changed) == 0 {
		return d.result(ApplyUnchanged, nil), nil
	}
	if _, err := tx.SetFacts(ctx, d.Workspace, f.Scope, changed, nil); err != nil {
		return ApplyResult{}, err
	}
	if len(current) == 0 {
		return d.result(ApplyCreated, nil), nil
	}
	return d.result(ApplyChanged, fields), nil
}

// applyRelease creates a release. Releases are immutable: a document equal
// to the stored release is unchanged, and one that differs is refused
// naming what differs (a correction is a new version).
func applyRelease(ctx context.Context, tx *store.Tx, d document, r domain.Release) (ApplyResult, error) {
	cur, err := tx.GetRelease(ctx, d.Workspace, r.Project, r.Version)
	if errors.Is(err, errs.NotFound) {
		if _, err := tx.CreateRelease(ctx, d.Workspace, r); err != nil {
			return ApplyResult{}, err
		}
		return d.result(ApplyCreated, nil), nil
	}
	if err != nil {
		return ApplyResult{}, err
	}
	strip := func(r domain.Release) json.RawMessage {
		r.Workspace, r.Actor, r.Revision, r.CreatedAt = "", "", 0, time.Time{}
		raw, _ := json.Marshal(r)
		return raw
	}
	if fields := changedFields(strip(cur), strip(r)); len(fields) > 0 {
		return ApplyResult{}, errs.New(errs.AlreadyExists, "release %s of %s exists with other %s; releases are immutable, so publish a new version",
			r.Version, r.Project, strings.Join(fields, ", "))
	}
	return d.result(ApplyUnchanged, nil), nil
}

// sameJSON compares two JSON values by meaning: object key order and number
// spelling (2 and 2.0) do not count.
func sameJSON(a, b json.RawMessage) bool {
	var x, y any
	if json.Unmarshal(a, &x) != nil || json.Unmarshal(b, &y) != nil {
		return false
	}
	return reflect.DeepEqual(x, y)
}

// readOnlyFields are what the server fills in; a diff does not report them.
var readOnlyFields = []string{"revision", "createdAt", "updatedAt", "effectiveEnvironments", "actor"}

// changedFields lists the paths of the fields that differ between two JSON
// objects, in order: "description", "labels.team", "environments[1]",
// "environments.prod.rules[0].variation". A list of another length is one
// change at its own path; an object that appears or goes is a change of
// each of its keys. The read-only top-level fields are left out.
func changedFields(before, after json.RawMessage) []string {
	var a, b any
	if json.Unmarshal(before, &a) != nil || json.Unmarshal(after, &b) != nil {
		return nil
	}
	am, _ := a.(map[string]any)
	bm, _ := b.(map[string]any)
	for _, f := range readOnlyFields {
		delete(am, f)
		delete(bm, f)
	}
	var out []string
	diffJSON("", am, bm, &out)
	return out
}

func diffJSON(path string, a, b any, out *[]string) {
	// A map that appears or goes is reported by its keys.
	if _, ok := b.(map[string]any); ok && a == nil {
		a = map[string]any{}
	}
	if _, ok := a.(map[string]any); ok && b == nil {
		b = map[string]any{}
	}
	switch x := a.(type) {
	case map[string]any:
		y, ok := b.(map[string]any)
		if !ok {
			break
		}
		keys := slices.Sorted(maps.Keys(x))
		for k := range y {
			if _, had := x[k]; !had {
				keys = append(keys, k)
			}
		}
		slices.Sort(keys)
		for _, k := range keys {
			p := k
			if path != "" {
				p = path + "." + k
			}
			diffJSON(p, x[k], y[k], out)
		}
		return
	case []any:
		y, ok := b.([]any)
		if !ok || len(x) != len(y) {
			break
		}
		for i := range x {
			diffJSON(path+"["+strconv.Itoa(i)+"]", x[i], y[i], out)
		}
		return
	}
	if !reflect.DeepEqual(a, b) {
		*out = append(*out, path)
	}
}
