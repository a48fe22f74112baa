package webhook

import (
	"encoding/json"
	"slices"
	"strings"

	"github.com/flagops/flagops/internal/domain"
)

// Attrs are the catalog names a change is about, as far as its key tells.
type Attrs struct {
	Project     string
	Environment string
	Target      string
}

// AttrsOf derives the project, environment and target of a change from its
// kind and key. This is the one place that mapping lives:
//
//	fact         SCOPE:KEY, by scope: environment/E → E; target/T → T;
//	             project/P → P; project/P@E → P, E; deployment/P@T → P, T;
//	             workspace → nothing
//	environment  NAME → environment NAME
//	target       NAME → target NAME, and its environment from before/after
//	project      NAME → project NAME
//	version      P@E → project P, environment E
//	anything else (workspace, environmentset, webhook…) → nothing
func AttrsOf(c domain.Change) Attrs {
	switch c.Kind {
	case domain.KindFact:
		scope, _, ok := strings.Cut(c.Key, ":")
		if !ok {
			return Attrs{}
		}
		sc, err := domain.ParseScope(scope)
		if err != nil {
			return Attrs{}
		}
		return Attrs{Project: sc.Project, Environment: sc.Environment, Target: sc.Target}
	case domain.KindEnvironment:
		return Attrs{Environment: c.Key}
	case domain.KindTarget:
		a := Attrs{Target: c.Key}
		for _, doc := range []json.RawMessage{c.After, c.Before} {
			var t struct {
				Environment string `json:"environment"`
			}
			if doc != nil && json.Unmarshal(doc, &t) == nil && t.Environment != "" {
				a.Environment = t.Environment
				break
			}
		}
		return a
	case domain.KindProject:
		return Attrs{Project: c.Key}
	case "version":
		if p, e, ok := strings.Cut(c.Key, "@"); ok {
			return Attrs{Project: p, Environment: e}
		}
	}
	return Attrs{}
}

// Match reports whether a change passes a subscription's filter: every
// non-empty list must contain the change's kind or attribute.
func Match(f domain.WebhookFilter, c domain.Change) bool {
	if len(f.Kinds) > 0 && !slices.Contains(f.Kinds, c.Kind) {
		return false
	}
	a := AttrsOf(c)
	in := func(list []string, v string) bool { return len(list) == 0 || (v != "" && slices.Contains(list, v)) }
	return in(f.Projects, a.Project) && in(f.Environments, a.Environment) && in(f.Targets, a.Target)
}
