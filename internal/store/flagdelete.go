package store

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"

	"github.com/flagops/flagops/internal/domain"
	"github.com/flagops/flagops/internal/errs"
	"github.com/flagops/flagops/internal/flag"
)

// DeleteFlag deletes a flag. While other flags of the project require it
// as a prerequisite the delete is refused (errs.FailedPrecondition, naming
// them) unless o.Force: then those prerequisites are removed from them,
// each removal recorded at the same revision. Pending schedules of the
// flag are cancelled.
func (s *Store) DeleteFlag(ctx context.Context, ws, project, key string, o DeleteOptions) error {
	_, err := s.Write(ctx, func(t *Tx) error { return t.DeleteFlag(ctx, ws, project, key, o) })
	return err
}

// DeleteFlag is Store.DeleteFlag inside t.
func (t *Tx) DeleteFlag(ctx context.Context, ws, project, key string, o DeleteOptions) error {
	if err := t.w.deleteFlag(ctx, ws, project, key, o); err != nil {
		return fmt.Errorf("delete flag %s: %w", FlagKey(project, key), err)
	}
	return nil
}

func (t *wtx) deleteFlag(ctx context.Context, ws, project, key string, o DeleteOptions) error {
	set, err := loadSet(ctx, t.r(), ws, project)
	if err != nil {
		return err
	}
	i := set.flagIndex(key)
	if i < 0 {
		return errs.New(errs.NotFound, "flag %s in workspace %s", FlagKey(project, key), errs.Quote(ws))
	}
	cur := set.flags[i]
	if err := checkExpected("flag "+FlagKey(project, key), o.Expected, cur.Revision); err != nil {
		return err
	}
	isPrereq := func(p flag.Prerequisite) bool { return p.Flag == key }
	err = t.detachFlags(ctx, ws, set, "flag "+FlagKey(project, key), o.Force,
		func(f *flag.Flag) bool {
			return f.Key != key && anyTargeting(f, func(tg flag.Targeting) bool { return slices.ContainsFunc(tg.Prerequisites, isPrereq) })
		},
		func(tg *flag.Targeting) { tg.Prerequisites = nilIfEmpty(slices.DeleteFunc(tg.Prerequisites, isPrereq)) })
	if err != nil {
		return err
	}
	if err := t.deleteDoc(ctx, "flags", domain.KindFlag, ws, project, key, cur); err != nil {
		return err
	}
	return t.cancelSchedules(ctx, ws, project, key)
}

// DeleteSegment deletes a segment. While flag rules use it the delete is
// refused unless o.Force: then those rules are removed from the flags.
func (s *Store) DeleteSegment(ctx context.Context, ws, project, key string, o DeleteOptions) error {
	_, err := s.Write(ctx, func(t *Tx) error { return t.DeleteSegment(ctx, ws, project, key, o) })
	return err
}

// DeleteSegment is Store.DeleteSegment inside t.
func (t *Tx) DeleteSegment(ctx context.Context, ws, project, key string, o DeleteOptions) error {
	if err := t.w.deleteSegment(ctx, ws, project, key, o); err != nil {
		return fmt.Errorf("delete segment %s: %w", FlagKey(project, key), err)
	}
	return nil
}

func (t *wtx) deleteSegment(ctx context.Context, ws, project, key string, o DeleteOptions) error {
	set, err := loadSet(ctx, t.r(), ws, project)
	if err != nil {
		return err
	}
	i := set.segmentIndex(key)
	if i < 0 {
		return errs.New(errs.NotFound, "segment %s in workspace %s", FlagKey(project, key), errs.Quote(ws))
	}
	cur := set.segments[i]
	if err := checkExpected("segment "+FlagKey(project, key), o.Expected, cur.Revision); err != nil {
		return err
	}
	usesIt := func(r flag.Rule) bool { return r.Segment == key }
	err = t.detachFlags(ctx, ws, set, "segment "+FlagKey(project, key), o.Force,
		func(f *flag.Flag) bool {
			return anyTargeting(f, func(tg flag.Targeting) bool { return slices.ContainsFunc(tg.Rules, usesIt) })
		},
		func(tg *flag.Targeting) { tg.Rules = nilIfEmpty(slices.DeleteFunc(tg.Rules, usesIt)) })
	if err != nil {
		return err
	}
	return t.deleteDoc(ctx, "segments", domain.KindSegment, ws, project, key, cur)
}

// detachFlags handles the flags of set that depend on what is being deleted
// (what names it, for the error): it refuses, naming them, unless force;
// with force it strips the dependency from every environment's targeting of
// each such flag and records each rewrite at the write's revision.
func (t *wtx) detachFlags(ctx context.Context, ws string, set *projectSet, what string, force bool,
	depends func(*flag.Flag) bool, strip func(*flag.Targeting)) error {
	var deps dependents
	for j := range set.flags {
		f := &set.flags[j]
		if !depends(f) {
			continue
		}
		deps.add("flag", []string{FlagKey(f.Project, f.Key)})
		if !force {
			continue
		}
		next := cloneFlag(*f)
		for env, tg := range next.Environments {
			strip(&tg)
			next.Environments[env] = tg
		}
		if err := t.rewriteFlag(ctx, ws, *f, next); err != nil {
			return err
		}
	}
	if len(deps) > 0 && !force {
		return deps.refuse(what)
	}
	return nil
}

// anyTargeting reports whether some environment's targeting of f satisfies pred.
func anyTargeting(f *flag.Flag, pred func(flag.Targeting) bool) bool {
	for _, tg := range f.Environments {
		if pred(tg) {
			return true
		}
	}
	return false
}

// nilIfEmpty keeps stored documents canonical: an emptied list is omitted.
func nilIfEmpty[T any](s []T) []T {
	if len(s) == 0 {
		return nil
	}
	return s
}

// cloneFlag deep-copies a flag through JSON, so that editing the copy's
// targeting cannot alias the original's slices.
func cloneFlag(f flag.Flag) flag.Flag {
	b, _ := json.Marshal(f)
	var out flag.Flag
	_ = json.Unmarshal(b, &out)
	return out
}

// rewriteFlag saves a flag changed as a side effect of another write (a
// forced delete, a scheduled step) and records the update.
func (t *wtx) rewriteFlag(ctx context.Context, ws string, cur, next flag.Flag) error {
	next.Revision = t.rev
	doc, err := json.Marshal(next)
	if err != nil {
		return fmt.Errorf("encode flag: %w", err)
	}
	if err := t.saveDoc(ctx, "flags", ws, next.Project, next.Key, doc, false); err != nil {
		return err
	}
	return t.record(ws, domain.KindFlag, FlagKey(next.Project, next.Key), domain.OpUpdate, cur, json.RawMessage(doc))
}

func (t *wtx) deleteDoc(ctx context.Context, table, kind, ws, project, key string, before any) error {
	if _, err := t.exec(ctx, "DELETE FROM "+table+" WHERE workspace = ? AND project = ? AND key = ?", ws, project, key); err != nil {
		return fmt.Errorf("delete %s %s: %w", kind, FlagKey(project, key), err)
	}
	return t.record(ws, kind, FlagKey(project, key), domain.OpDelete, before, nil)
}

// dropProjectFlags is part of deleting a project: it refuses while the
// project has flags or segments unless force, and with force deletes them
// and the project's schedules, recording each removal.
func (t *wtx) dropProjectFlags(ctx context.Context, ws, project string, force bool) error {
	set, err := loadSet(ctx, t.r(), ws, project)
	if err != nil {
		return err
	}
	if len(set.flags)+len(set.segments) > 0 && !force {
		var deps dependents
		for _, f := range set.flags {
			deps.add("flag", []string{f.Key})
		}
		for _, sg := range set.segments {
			deps.add("segment", []string{sg.Key})
		}
		return deps.refuse(fmt.Sprintf("project %s", errs.Quote(project)))
	}
	for _, f := range set.flags {
		if err := t.deleteDoc(ctx, "flags", domain.KindFlag, ws, project, f.Key, f); err != nil {
			return err
		}
		if err := t.cancelSchedules(ctx, ws, project, f.Key); err != nil {
			return err
		}
	}
	for _, sg := range set.segments {
		if err := t.deleteDoc(ctx, "segments", domain.KindSegment, ws, project, sg.Key, sg); err != nil {
			return err
		}
	}
	// Finished schedules are history: the change log keeps them, the
	// state table drops them with the project.
	if _, err := t.exec(ctx, "DELETE FROM flag_schedules WHERE workspace = ? AND project = ?", ws, project); err != nil {
		return fmt.Errorf("delete schedules of %s: %w", errs.Quote(project), err)
	}
	return nil
}

// dropOrphanFlagEnvironments removes, from every flag of ws, the targeting
// of environments its project no longer has (an environment removed from
// the project or its sets, or deleted), recording each flag update.
func (t *wtx) dropOrphanFlagEnvironments(ctx context.Context, ws string, c *catalog) error {
	rows, err := t.query(ctx, "SELECT doc FROM flags WHERE workspace = ? ORDER BY project, key", ws)
	if err != nil {
		return fmt.Errorf("read flags of %s: %w", errs.Quote(ws), err)
	}
	var stale []flag.Flag
	for rows.Next() {
		var doc []byte
		var f flag.Flag
		if err := rows.Scan(&doc); err != nil {
			rows.Close()
			return fmt.Errorf("read flags of %s: %w", errs.Quote(ws), err)
		}
		if err := json.Unmarshal(doc, &f); err != nil {
			rows.Close()
			return fmt.Errorf("decode flag: %w", err)
		}
		for env := range f.Environments {
			if !c.effective[f.Project][env] {
				stale = append(stale, f)
				break
			}
		}
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return fmt.Errorf("read flags of %s: %w", errs.Quote(ws), err)
	}
	for _, f := range stale {
		next := cloneFlag(f)
		for env := range next.Environments {
			if !c.effective[f.Project][env] {
				delete(next.Environments, env)
			}
		}
		if err := t.rewriteFlag(ctx, ws, f, next); err != nil {
			return err
		}
	}
	return nil
}
