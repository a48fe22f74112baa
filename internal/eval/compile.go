// Package eval is flagops' pure evaluation engine. Compile turns one
// project's flags and segments into an immutable Snapshot for one
// environment, with everything a hot evaluation needs prepared once:
// regexes compiled, semvers and times parsed, numbers converted, value lists
// turned into sets, attribute paths split, segments indexed, variation
// values decoded and encoded. Evaluating does not allocate (except for
// Explain) and a Snapshot is safe for concurrent use; the server swaps
// snapshots behind an atomic pointer when flags change.
package eval

import (
	"bytes"
	"encoding/json"
	"fmt"
	"regexp"
	"slices"
	"time"

	"github.com/flagops/flagops/internal/flag"
)

// Snapshot is the compiled state of one environment's flags at a revision.
// It is immutable and safe for concurrent use.
type Snapshot struct {
	env      string
	revision int64
	flags    map[string]*cflag
	list     []*cflag // sorted by key
}

// Environment returns the environment the snapshot was compiled for.
func (s *Snapshot) Environment() string { return s.env }

// Revision returns the revision the snapshot was compiled at.
func (s *Snapshot) Revision() int64 { return s.revision }

// Len returns the number of flags.
func (s *Snapshot) Len() int { return len(s.list) }

// Keys returns the flag keys, sorted.
func (s *Snapshot) Keys() []string {
	keys := make([]string, len(s.list))
	for i, f := range s.list {
		keys[i] = f.key
	}
	return keys
}

// maxDepth bounds prerequisite chains (validation already refuses cycles).
const maxDepth = 32

type cflag struct {
	key        string
	typ        flag.Type
	salt       string
	variations []cvariation
	configured bool
	enabled    bool
	static     bool
	off        int // index into variations, or -1
	prereqs    []cprereq
	rules      []crule
	fall       cserve
}

type cvariation struct {
	key   string
	value any
	json  json.RawMessage
}

type cprereq struct {
	flag      *cflag
	variation string
	meta      map[string]any // {"prerequisiteFailed": key}, shared by results
}

type crule struct {
	conds []ccond
	seg   *csegment
	serve cserve
}

type cserve struct {
	variation int      // index, or -1 for a rollout
	rollout   []cslice // cumulative upper bounds
	bucketBy  *attrPath
}

type cslice struct {
	variation int
	upper     int // exclusive cumulative weight
}

type csegment struct {
	key     string
	include map[string]struct{}
	exclude map[string]struct{}
	rules   [][]ccond
}

// ccond is a compiled condition: only the fields its operator needs are set.
type ccond struct {
	attr   attrPath
	op     flag.Operator
	negate bool
	values []any // as written, for explanations

	// equals: the single value, by kind.
	kind byte // 's', 'n', 'b'
	str  string
	num  float64
	b    bool

	// in, contains: sets by kind; contains, starts_with, ends_with: strs.
	strs     []string
	strSet   map[string]struct{}
	numSet   map[float64]struct{}
	hasTrue  bool
	hasFalse bool

	re  *regexp.Regexp
	ver flag.Semver
	t   time.Time
}

// Compile validates flags and segments together (flag.ValidateSet) and
// compiles them for environment env at revision. The slices are not
// retained. Flags without targeting for env evaluate as disabled with no
// value.
func Compile(env string, revision int64, flags []flag.Flag, segments []flag.Segment) (*Snapshot, error) {
	if err := flag.ValidateSet(flags, segments); err != nil {
		return nil, fmt.Errorf("compile flags for %s: %w", env, err)
	}
	s := &Snapshot{env: env, revision: revision, flags: make(map[string]*cflag, len(flags))}
	segs := make(map[string]*csegment, len(segments))
	for i := range segments {
		cs, err := compileSegment(&segments[i])
		if err != nil {
			return nil, fmt.Errorf("compile segment %s: %w", segments[i].Key, err)
		}
		segs[cs.key] = cs
	}
	for i := range flags {
		cf := &cflag{key: flags[i].Key}
		s.flags[cf.key] = cf
		s.list = append(s.list, cf)
	}
	for i := range flags {
		if err := s.compileFlag(s.flags[flags[i].Key], &flags[i], segs); err != nil {
			return nil, fmt.Errorf("compile flag %s: %w", flags[i].Key, err)
		}
	}
	slices.SortFunc(s.list, func(a, b *cflag) int {
		if a.key < b.key {
			return -1
		}
		if a.key > b.key {
			return 1
		}
		return 0
	})
	return s, nil
}

func (s *Snapshot) compileFlag(cf *cflag, f *flag.Flag, segs map[string]*csegment) error {
	cf.typ, cf.salt, cf.off = f.Type, f.Salt, -1
	idx := make(map[string]int, len(f.Variations))
	for i, v := range f.Variations {
		var buf bytes.Buffer
		if err := json.Compact(&buf, v.Value); err != nil {
			return fmt.Errorf("variation %s: %w", v.Key, err)
		}
		var val any
		if err := json.Unmarshal(buf.Bytes(), &val); err != nil {
			return fmt.Errorf("variation %s: %w", v.Key, err)
		}
		cf.variations = append(cf.variations, cvariation{key: v.Key, value: val, json: buf.Bytes()})
		idx[v.Key] = i
	}
	t, ok := f.Environments[s.env]
	if !ok {
		return nil
	}
	cf.configured, cf.enabled = true, t.Enabled
	if t.OffVariation != "" {
		cf.off = idx[t.OffVariation]
	}
	for _, p := range t.Prerequisites {
		cf.prereqs = append(cf.prereqs, cprereq{
			flag:      s.flags[p.Flag],
			variation: p.Variation,
			meta:      map[string]any{MetaPrerequisiteFailed: p.Flag},
		})
	}
	for _, r := range t.Rules {
		cr := crule{serve: compileServe(&r.Serve, idx)}
		if r.Segment != "" {
			cr.seg = segs[r.Segment]
		}
		for _, c := range r.Conditions {
			cc, err := compileCond(c)
			if err != nil {
				return err
			}
			cr.conds = append(cr.conds, cc)
		}
		cf.rules = append(cf.rules, cr)
	}
	cf.fall = compileServe(&t.Fallthrough, idx)
	cf.static = len(cf.rules) == 0 && len(cf.prereqs) == 0 && cf.fall.variation >= 0
	return nil
}

func compileServe(sv *flag.Serve, idx map[string]int) cserve {
	if len(sv.Rollout) == 0 {
		return cserve{variation: idx[sv.Variation]}
	}
	c := cserve{variation: -1}
	sum := 0
	for _, w := range sv.Rollout {
		if w.Weight == 0 {
			continue
		}
		sum += w.Weight
		c.rollout = append(c.rollout, cslice{variation: idx[w.Variation], upper: sum})
	}
	if sv.BucketBy != "" && sv.BucketBy != TargetingKeyAttribute {
		p := newPath(sv.BucketBy)
		c.bucketBy = &p
	}
	return c
}

func compileSegment(sg *flag.Segment) (*csegment, error) {
	cs := &csegment{key: sg.Key, include: set(sg.Include), exclude: set(sg.Exclude)}
	for _, r := range sg.Rules {
		var conds []ccond
		for _, c := range r.Conditions {
			cc, err := compileCond(c)
			if err != nil {
				return nil, err
			}
			conds = append(conds, cc)
		}
		cs.rules = append(cs.rules, conds)
	}
	return cs, nil
}

func set(keys []string) map[string]struct{} {
	if len(keys) == 0 {
		return nil
	}
	m := make(map[string]struct{}, len(keys))
	for _, k := range keys {
		m[k] = struct{}{}
	}
	return m
}

// compileCond prepares a condition that flag validation accepted.
func compileCond(c flag.Condition) (ccond, error) {
	cc := ccond{attr: newPath(c.Attribute), op: c.Operator, negate: c.Negate, values: slices.Clone(c.Values)}
	var first any
	if len(c.Values) > 0 {
		first = c.Values[0]
	}
	switch c.Operator {
	case flag.OpEquals:
		switch v := first.(type) {
		case string:
			cc.kind, cc.str = 's', v
		case bool:
			cc.kind, cc.b = 'b', v
		default:
			cc.kind = 'n'
			cc.num, _ = flag.Number(v)
		}
	case flag.OpIn, flag.OpContains, flag.OpStartsWith, flag.OpEndsWith:
		for _, v := range c.Values {
			switch v := v.(type) {
			case string:
				cc.strs = append(cc.strs, v)
				if cc.strSet == nil {
					cc.strSet = map[string]struct{}{}
				}
				cc.strSet[v] = struct{}{}
			case bool:
				if v {
					cc.hasTrue = true
				} else {
					cc.hasFalse = true
				}
			default:
				if n, ok := flag.Number(v); ok {
					if cc.numSet == nil {
						cc.numSet = map[float64]struct{}{}
					}
					cc.numSet[n] = struct{}{}
				}
			}
		}
	case flag.OpMatches:
		re, err := regexp.Compile(first.(string))
		if err != nil {
			return cc, err
		}
		cc.re = re
	case flag.OpLT, flag.OpLTE, flag.OpGT, flag.OpGTE:
		cc.num, _ = flag.Number(first)
	case flag.OpSemverEQ, flag.OpSemverLT, flag.OpSemverLTE, flag.OpSemverGT, flag.OpSemverGTE:
		v, err := flag.ParseSemver(first.(string))
		if err != nil {
			return cc, err
		}
		cc.ver = v
	case flag.OpBefore, flag.OpAfter:
		t, err := time.Parse(time.RFC3339Nano, first.(string))
		if err != nil {
			return cc, err
		}
		cc.t = t
	}
	return cc, nil
}
