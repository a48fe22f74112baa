package service

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/flagops/flagops/internal/auth"
	"github.com/flagops/flagops/internal/domain"
	"github.com/flagops/flagops/internal/errs"
	"github.com/flagops/flagops/internal/eval"
)

// EvaluateFactsCheck is the procedure auth.Authorize is asked about, with an
// auth.Request naming the deployment, before an evaluation's result carries
// the deployment's resolved facts. Evaluating needs flags.evaluate; seeing
// the facts an evaluation used needs facts.read on the deployment, as
// ResolveFacts does, so an evaluator key learns the flag's answer and not
// the facts behind it.
const EvaluateFactsCheck = "/flagops.v1.FlagService/Evaluate#facts"

// HiddenFactValue replaces, in an explanation, the value of an attribute
// that came from the deployment's facts when the caller may not read them.
const HiddenFactValue = "(hidden: needs facts.read)"

// EvalRequest is one evaluation. Environment may be empty when Target is
// set (the target's environment is used).
type EvalRequest struct {
	Workspace, Project, Environment, Flag, Target string
	TargetingKey                                  string
	Attributes                                    map[string]any
	Explain                                       bool
}

// EvalResult is an evaluation with the facts it used: nil without a target,
// and nil when the caller may not read the deployment's facts.
type EvalResult struct {
	Result      eval.Result
	Environment string
	Revision    int64
	Facts       *domain.Resolved
}

// Evaluate evaluates one flag against the server's snapshot. With a
// target, the deployment's resolved facts are the context's base, so the
// caller's attributes win over facts; the built-ins project and
// environment are always present. The result carries the facts, and an
// explanation shows the values of attributes taken from them, only when
// the principal in ctx holds facts.read on the deployment
// (EvaluateFactsCheck).
func (s *Flags) Evaluate(ctx context.Context, req EvalRequest) (EvalResult, error) {
	r := FlagRef{Workspace: req.Workspace, Project: req.Project, Key: req.Flag}
	if err := r.check("flag"); err != nil {
		return EvalResult{}, err
	}
	out := EvalResult{Environment: req.Environment}
	base := map[string]any{}
	var facts map[string]any
	showFacts := true
	if req.Target != "" {
		dep, err := s.store.GetDeployment(ctx, r.Workspace, r.Project, req.Target)
		if err != nil {
			return EvalResult{}, err
		}
		if out.Environment == "" {
			out.Environment = dep.Environment
		} else if out.Environment != dep.Environment {
			return EvalResult{}, errs.Field("environment", "target %q is in environment %q, not %q", req.Target, dep.Environment, out.Environment)
		}
		res, err := s.store.ResolveFacts(ctx, r.Workspace, r.Project, req.Target)
		if err != nil {
			return EvalResult{}, err
		}
		if showFacts, err = factsReadable(ctx, r.Workspace, r.Project, req.Target); err != nil {
			return EvalResult{}, err
		}
		if showFacts {
			out.Facts = &res
		}
		facts = make(map[string]any, len(res.Facts))
		for k, raw := range res.Facts {
			var v any
			if err := json.Unmarshal(raw, &v); err != nil {
				return EvalResult{}, fmt.Errorf("decode fact %s: %w", k, err)
			}
			base[k], facts[k] = v, v
		}
	}
	if out.Environment == "" {
		return EvalResult{}, errs.Field("environment", "is required (or a target)")
	}
	base["project"], base["environment"] = r.Project, out.Environment
	snap, err := s.snapshot(ctx, r.Workspace, r.Project, out.Environment)
	if err != nil {
		return EvalResult{}, err
	}
	ec := eval.Context{TargetingKey: req.TargetingKey, Attributes: req.Attributes, Base: base}
	if req.Explain {
		out.Result = snap.Explain(r.Key, ec)
		if !showFacts {
			hideFactValues(out.Result.Explanation, req.Attributes, facts)
		}
	} else {
		out.Result = snap.Evaluate(r.Key, ec)
	}
	out.Revision = snap.Revision()
	return out, nil
}

// factsReadable reports whether the principal in ctx may read the resolved
// facts of deployment project@target, by the one authorization check.
func factsReadable(ctx context.Context, ws, project, target string) (bool, error) {
	err := auth.Authorize(ctx, EvaluateFactsCheck, auth.Request{"workspace": ws, "project": project, "target": target})
	switch errs.KindOf(err) {
	case nil:
		return true, nil
	case errs.Denied, errs.Unauthenticated:
		return false, nil
	}
	return false, fmt.Errorf("may the caller read the facts of %s@%s: %w", project, target, err)
}

// hideFactValues replaces the value of every checked condition whose
// attribute the evaluation took from the deployment's facts (not from the
// caller's own attributes) with HiddenFactValue. What the caller sent, and
// whether each condition matched, stay: they are the caller's or the
// flag's, not the facts'.
func hideFactValues(ex *eval.Explanation, attrs, facts map[string]any) {
	if ex == nil || len(facts) == 0 {
		return
	}
	own, fromFacts := eval.Context{Attributes: attrs}, eval.Context{Base: facts}
	for i := range ex.Rules {
		for j := range ex.Rules[i].Conditions {
			c := &ex.Rules[i].Conditions[j]
			if !c.Found {
				continue
			}
			if _, mine := own.Lookup(c.Attribute); mine {
				continue
			}
			if _, fact := fromFacts.Lookup(c.Attribute); fact {
				c.Value = HiddenFactValue
			}
		}
	}
}

// snapshot returns the server's snapshot, or compiles one from the store
// when there is no registry (or it does not hold the project yet).
func (s *Flags) snapshot(ctx context.Context, ws, project, env string) (*eval.Snapshot, error) {
	if s.fresh != nil {
		s.fresh(ctx)
	}
	if s.snaps != nil {
		if snap := s.snaps.Get(ws, project, env); snap != nil {
			return snap, nil
		}
	}
	p, err := s.store.GetProject(ctx, ws, project)
	if err != nil {
		return nil, err
	}
	found := false
	for _, e := range p.EffectiveEnvironments {
		found = found || e == env
	}
	if !found {
		return nil, errs.Field("environment", "environment %q is not an environment of project %q", env, project)
	}
	flags, segs, rev, err := s.store.ProjectFlags(ctx, ws, project)
	if err != nil {
		return nil, err
	}
	return eval.Compile(env, rev, flags, segs)
}
