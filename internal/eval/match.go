package eval

import (
	"strings"
	"time"

	"github.com/flagops/flagops/internal/flag"
)

// Matching rules, segments and conditions. Operators are a switch on a
// compiled condition rather than one type per operator behind an interface:
// an interface call would make the *Context escape to the heap on every
// evaluation.

func (s *Snapshot) matchRule(r *crule, ctx *Context, rc *RuleCheck) bool {
	for i := range r.conds {
		c := &r.conds[i]
		ok := c.match(ctx, rc)
		if !ok {
			return false
		}
	}
	if r.seg != nil {
		var sc *SegmentCheck
		if rc != nil {
			rc.Segment = &SegmentCheck{Key: r.seg.key, Rule: -1}
			sc = rc.Segment
		}
		return r.seg.match(ctx, sc)
	}
	return true
}

func (sg *csegment) match(ctx *Context, sc *SegmentCheck) bool {
	k := ctx.key()
	if k != "" {
		if _, ok := sg.exclude[k]; ok {
			if sc != nil {
				sc.Excluded = true
			}
			return false
		}
		if _, ok := sg.include[k]; ok {
			if sc != nil {
				sc.Included, sc.Matched = true, true
			}
			return true
		}
	}
	for i, conds := range sg.rules {
		all := true
		for j := range conds {
			if !conds[j].match(ctx, nil) {
				all = false
				break
			}
		}
		if all {
			if sc != nil {
				sc.Rule, sc.Matched = i, true
			}
			return true
		}
	}
	return false
}

// match reports whether the condition holds for ctx. A missing or
// wrong-typed attribute never matches, negated or not, except for exists.
func (c *ccond) match(ctx *Context, rc *RuleCheck) bool {
	v, found := ctx.lookup(&c.attr)
	var m bool
	switch {
	case c.op == flag.OpExists:
		m = found != c.negate
	case !found:
		m = false
	default:
		res, typed := c.test(v)
		m = typed && res != c.negate
	}
	if rc != nil {
		rc.Conditions = append(rc.Conditions, ConditionCheck{Attribute: c.attr.full, Operator: c.op,
			Negate: c.negate, Values: c.values, Value: v, Found: found, Matched: m})
	}
	return m
}

// test applies the operator to a present attribute value; typed is false
// when v has the wrong type for the operator.
func (c *ccond) test(v any) (res, typed bool) {
	switch c.op {
	case flag.OpEquals:
		switch c.kind {
		case 's':
			s, ok := v.(string)
			return ok && s == c.str, ok
		case 'b':
			b, ok := v.(bool)
			return ok && b == c.b, ok
		default:
			n, ok := flag.Number(v)
			return ok && n == c.num, ok
		}
	case flag.OpIn:
		return c.inSet(v)
	case flag.OpContains:
		switch v := v.(type) {
		case string:
			for _, s := range c.strs {
				if strings.Contains(v, s) {
					return true, true
				}
			}
			return false, true
		case []any:
			for _, e := range v {
				if in, _ := c.inSet(e); in {
					return true, true
				}
			}
			return false, true
		}
		return false, false
	case flag.OpStartsWith, flag.OpEndsWith:
		s, ok := v.(string)
		if !ok {
			return false, false
		}
		for _, p := range c.strs {
			if c.op == flag.OpStartsWith && strings.HasPrefix(s, p) || c.op == flag.OpEndsWith && strings.HasSuffix(s, p) {
				return true, true
			}
		}
		return false, true
	case flag.OpMatches:
		s, ok := v.(string)
		return ok && c.re.MatchString(s), ok
	case flag.OpLT, flag.OpLTE, flag.OpGT, flag.OpGTE:
		n, ok := flag.Number(v)
		if !ok {
			return false, false
		}
		switch c.op {
		case flag.OpLT:
			return n < c.num, true
		case flag.OpLTE:
			return n <= c.num, true
		case flag.OpGT:
			return n > c.num, true
		}
		return n >= c.num, true
	case flag.OpSemverEQ, flag.OpSemverLT, flag.OpSemverLTE, flag.OpSemverGT, flag.OpSemverGTE:
		s, ok := v.(string)
		if !ok {
			return false, false
		}
		ver, err := flag.ParseSemver(s)
		if err != nil {
			return false, false
		}
		cmp := ver.Compare(c.ver)
		switch c.op {
		case flag.OpSemverEQ:
			return cmp == 0, true
		case flag.OpSemverLT:
			return cmp < 0, true
		case flag.OpSemverLTE:
			return cmp <= 0, true
		case flag.OpSemverGT:
			return cmp > 0, true
		}
		return cmp >= 0, true
	case flag.OpBefore, flag.OpAfter:
		t, ok := toTime(v)
		if !ok {
			return false, false
		}
		if c.op == flag.OpBefore {
			return t.Before(c.t), true
		}
		return t.After(c.t), true
	}
	return false, false
}

func (c *ccond) inSet(v any) (res, typed bool) {
	switch v := v.(type) {
	case string:
		_, ok := c.strSet[v]
		return ok, true
	case bool:
		return v && c.hasTrue || !v && c.hasFalse, true
	}
	if n, ok := flag.Number(v); ok {
		_, in := c.numSet[n]
		return in, true
	}
	return false, false
}

// toTime reads an RFC 3339 string or a number of seconds since the epoch.
func toTime(v any) (time.Time, bool) {
	if s, ok := v.(string); ok {
		if !looksRFC3339(s) {
			return time.Time{}, false // spare time.Parse its error allocation
		}
		t, err := time.Parse(time.RFC3339Nano, s)
		return t, err == nil
	}
	if n, ok := flag.Number(v); ok {
		sec := int64(n)
		return time.Unix(sec, int64((n-float64(sec))*1e9)), true
	}
	return time.Time{}, false
}

// looksRFC3339 is a cheap shape check: 2006-01-02T15:04:05 and a zone.
func looksRFC3339(s string) bool {
	return len(s) >= 20 && s[4] == '-' && s[7] == '-' && (s[10] == 'T' || s[10] == 't') && s[13] == ':' && s[16] == ':'
}
