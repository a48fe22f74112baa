package domain

// ObjectRef names one stored object by its kind (a Kind* constant of the
// change log) and the parts of its identity that kind has: Name alone for
// catalog objects; Project and Name (the key) for flags and segments;
// Project, From and To for promotion policies; Scope and Name (the key) for
// a fact. The workspace is given beside it.
type ObjectRef struct {
	Kind     string
	Name     string
	Project  string
	From, To string
	Scope    Scope
}

// ChangeKey is the key the change log records the object under, which is
// also how a set of objects (an apply) names it.
func (r ObjectRef) ChangeKey() string {
	switch r.Kind {
	case KindFlag, KindSegment:
		return r.Project + "/" + r.Name
	case KindPromotionPolicy:
		return PromotionPolicy{Project: r.Project, From: r.From, To: r.To}.Key()
	case KindFact:
		return FactChangeKey(r.Scope, r.Name)
	}
	return r.Name
}
