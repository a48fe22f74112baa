package eval

import (
	"encoding/json"
	"strings"

	"github.com/flagops/flagops/internal/errs"
)

// Context is what a flag is evaluated against: a targeting key and
// attributes as decoded from JSON (strings, float64, bool, nil, []any and
// nested map[string]any). Attributes are looked up in Attributes (the
// caller's) first, then in Base (for example the resolved facts of a
// deployment), so a caller's attributes win without either map being copied
// per evaluation. A null attribute counts as missing but still hides the
// same attribute in Base.
//
// The engine only reads the maps; they must not be modified while an
// evaluation runs. A Context is small and passed by value.
type Context struct {
	TargetingKey string
	Attributes   map[string]any
	Base         map[string]any
}

// NewContext returns a context with the given targeting key and attributes.
func NewContext(targetingKey string, attrs map[string]any) Context {
	return Context{TargetingKey: targetingKey, Attributes: attrs}
}

// WithBase returns c with base as the map looked up after c's attributes.
func (c Context) WithBase(base map[string]any) Context {
	c.Base = base
	return c
}

// TargetingKeyAttribute is the attribute path that names the targeting key.
const TargetingKeyAttribute = "targetingKey"

// key returns the targeting key: TargetingKey, else a string
// "targetingKey" attribute (as OpenFeature clients send over OFREP).
func (c *Context) key() string {
	if c.TargetingKey != "" {
		return c.TargetingKey
	}
	if s, ok := c.Attributes[TargetingKeyAttribute].(string); ok {
		return s
	}
	if s, ok := c.Base[TargetingKeyAttribute].(string); ok {
		return s
	}
	return ""
}

// Lookup returns the attribute at path ("tier", "account.tier"), as the
// engine sees it. It is meant for tools; the engine uses pre-split paths.
func (c Context) Lookup(path string) (any, bool) {
	p := newPath(path)
	return c.lookup(&p)
}

// attrPath is an attribute path split once, at compile time.
type attrPath struct {
	full  string
	parts []string
	isKey bool
}

func newPath(s string) attrPath {
	return attrPath{full: s, parts: strings.Split(s, "."), isKey: s == TargetingKeyAttribute}
}

func (c *Context) lookup(p *attrPath) (any, bool) {
	if p.isKey {
		if k := c.key(); k != "" {
			return k, true
		}
		return nil, false
	}
	if v, found := lookupIn(c.Attributes, p); found {
		return v, v != nil
	}
	v, _ := lookupIn(c.Base, p)
	return v, v != nil
}

// lookupIn finds p in m: the whole path as a flat key first (fact keys may
// contain dots), then walking nested maps.
func lookupIn(m map[string]any, p *attrPath) (any, bool) {
	if m == nil {
		return nil, false
	}
	if v, ok := m[p.full]; ok {
		return v, true
	}
	if len(p.parts) < 2 {
		return nil, false
	}
	cur := m
	last := len(p.parts) - 1
	for i, part := range p.parts {
		v, ok := cur[part]
		if !ok {
			return nil, false
		}
		if i == last {
			return v, true
		}
		if cur, ok = v.(map[string]any); !ok {
			return nil, false
		}
	}
	return nil, false
}

// ParseContext decodes an OpenFeature evaluation context sent as JSON (as
// OFREP and the eval CLI receive it): an object whose "targetingKey" string,
// if any, becomes the targeting key and whose other members are attributes.
// A caller evaluating after an error here should answer PARSE_ERROR
// (ErrorResult(key, ErrParse, err.Error())).
func ParseContext(data []byte) (Context, error) {
	var m map[string]any
	if err := json.Unmarshal(data, &m); err != nil {
		return Context{}, errs.Field("context", "not a JSON object: %v", err)
	}
	var c Context
	if k, ok := m[TargetingKeyAttribute]; ok {
		s, isStr := k.(string)
		if !isStr && k != nil {
			return Context{}, errs.Field("context.targetingKey", "must be a string, got %T", k)
		}
		c.TargetingKey = s
		delete(m, TargetingKeyAttribute)
	}
	c.Attributes = m
	return c, nil
}
