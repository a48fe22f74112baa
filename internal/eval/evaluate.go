package eval

import (
	"strconv"

	"github.com/flagops/flagops/internal/flag"
)

// Error messages are constants so error results do not allocate.
const (
	msgNotFound     = "flag not found in this environment"
	msgTypeMismatch = "flag is of a different type"
	msgNoKey        = "a rollout needs a targeting key"
	msgBucketBy     = "the rollout's bucketBy attribute is missing or not a string or number"
	msgDepth        = "prerequisite chain too deep"
)

// Evaluate evaluates flag key for ctx. It does not allocate.
func (s *Snapshot) Evaluate(key string, ctx Context) Result {
	f := s.flags[key]
	if f == nil {
		return errResult(key, ErrFlagNotFound, msgNotFound)
	}
	r, _ := s.eval(f, &ctx, nil, 0)
	return r
}

// EvaluateType is Evaluate for a caller that expects a flag of type t: a
// flag of another type gives a TYPE_MISMATCH error result.
func (s *Snapshot) EvaluateType(key string, t flag.Type, ctx Context) Result {
	f := s.flags[key]
	if f == nil {
		return errResult(key, ErrFlagNotFound, msgNotFound)
	}
	if f.typ != t {
		return errResult(key, ErrTypeMismatch, msgTypeMismatch)
	}
	r, _ := s.eval(f, &ctx, nil, 0)
	return r
}

// Explain is Evaluate with Result.Explanation filled in. It allocates; use
// it for tools, not for serving.
func (s *Snapshot) Explain(key string, ctx Context) Result {
	f := s.flags[key]
	if f == nil {
		return errResult(key, ErrFlagNotFound, msgNotFound)
	}
	ex := &Explanation{Environment: s.env, Revision: s.revision, MatchedRule: -1, Bucket: -1}
	r, _ := s.eval(f, &ctx, ex, 0)
	r.Explanation = ex
	return r
}

// EvaluateAll evaluates every flag, in key order, and calls fn with each
// result.
func (s *Snapshot) EvaluateAll(ctx Context, fn func(Result)) {
	for _, f := range s.list {
		r, _ := s.eval(f, &ctx, nil, 0)
		fn(r)
	}
}

// AppendAll appends the results of every flag, in key order, to dst and
// returns it; it allocates only when dst lacks capacity.
func (s *Snapshot) AppendAll(dst []Result, ctx Context) []Result {
	for _, f := range s.list {
		r, _ := s.eval(f, &ctx, nil, 0)
		dst = append(dst, r)
	}
	return dst
}

// ErrorResult returns the result of an evaluation of key that failed with
// code, for layers that fail before the engine runs (a context that does not
// parse, for example).
func ErrorResult(key string, code ErrorCode, msg string) Result {
	return errResult(key, code, msg)
}

func errResult(key string, code ErrorCode, msg string) Result {
	return Result{FlagKey: key, Reason: ReasonError, ErrorCode: code, ErrorMessage: msg}
}

// eval evaluates f. ok is true when f was served by its targeting (not
// off, not an error): only then does it satisfy a prerequisite. ex, when
// not nil, collects the explanation.
func (s *Snapshot) eval(f *cflag, ctx *Context, ex *Explanation, depth int) (Result, bool) {
	if depth > maxDepth {
		return errResult(f.key, ErrGeneral, msgDepth), false
	}
	if ex != nil {
		ex.Configured, ex.Enabled = f.configured, f.enabled
	}
	if !f.configured || !f.enabled {
		return f.serveIndex(f.off, ReasonDisabled), false
	}
	for i := range f.prereqs {
		p := &f.prereqs[i]
		pr, ok := s.eval(p.flag, ctx, nil, depth+1)
		met := ok && pr.Variant == p.variation
		if ex != nil {
			ex.Prerequisites = append(ex.Prerequisites, PrerequisiteCheck{Flag: p.flag.key, Want: p.variation, Got: pr.Variant, Met: met})
		}
		if !met {
			r := f.serveIndex(f.off, ReasonDefault)
			r.Metadata = p.meta
			return r, false
		}
	}
	for i := range f.rules {
		rule := &f.rules[i]
		var rc *RuleCheck
		if ex != nil {
			ex.Rules = append(ex.Rules, RuleCheck{Index: i})
			rc = &ex.Rules[len(ex.Rules)-1]
		}
		if s.matchRule(rule, ctx, rc) {
			if ex != nil {
				rc.Matched, ex.MatchedRule = true, i
			}
			return s.serve(f, &rule.serve, ctx, ReasonTargetingMatch, ex)
		}
	}
	reason := ReasonDefault
	if f.static {
		reason = ReasonStatic
	}
	return s.serve(f, &f.fall, ctx, reason, ex)
}

func (f *cflag) serveIndex(i int, reason Reason) Result {
	r := Result{FlagKey: f.key, Reason: reason}
	if i >= 0 {
		v := &f.variations[i]
		r.Value, r.JSON, r.Variant = v.value, v.json, v.key
	}
	return r
}

func (s *Snapshot) serve(f *cflag, sv *cserve, ctx *Context, reason Reason, ex *Explanation) (Result, bool) {
	if sv.variation >= 0 {
		return f.serveIndex(sv.variation, reason), true
	}
	var b int
	if sv.bucketBy == nil {
		k := ctx.key()
		if k == "" {
			return errResult(f.key, ErrTargetingKeyMissing, msgNoKey), false
		}
		b = Bucket(f.key, f.salt, k)
	} else {
		v, _ := ctx.lookup(sv.bucketBy)
		switch v := v.(type) {
		case string:
			b = Bucket(f.key, f.salt, v)
		default:
			n, ok := flag.Number(v)
			if !ok {
				return errResult(f.key, ErrInvalidContext, msgBucketBy), false
			}
			var buf [32]byte
			b = bucketBytes(f.key, f.salt, strconv.AppendFloat(buf[:0], n, 'g', -1, 64))
		}
	}
	if ex != nil {
		ex.Bucket = b
		if sv.bucketBy != nil {
			ex.BucketBy = sv.bucketBy.full
		}
	}
	for _, sl := range sv.rollout {
		if b < sl.upper {
			return f.serveIndex(sl.variation, ReasonSplit), true
		}
	}
	// Unreachable for a validated rollout (weights sum to 100000).
	return f.serveIndex(sv.rollout[len(sv.rollout)-1].variation, ReasonSplit), true
}
