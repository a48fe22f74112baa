package domain

import (
	"context"
	"encoding/json"
	"time"
)

// Kinds of resources as they appear in the change log.
const (
	KindWorkspace      = "workspace"
	KindEnvironment    = "environment"
	KindTarget         = "target"
	KindEnvironmentSet = "environmentset"
	KindProject        = "project"
	KindFact           = "fact"
	// KindFlag and KindSegment are keyed "PROJECT/KEY"; KindFlagSchedule
	// (a scheduled change or progressive rollout) "PROJECT/ID".
	KindFlag         = "flag"
	KindSegment      = "segment"
	KindFlagSchedule = "flagschedule"
)

// Op is what a change did to a resource.
type Op string

// The operations. OpNone is returned by writes that found nothing to change;
// it never appears in the change log.
const (
	OpCreate Op = "create"
	OpUpdate Op = "update"
	OpDelete Op = "delete"
	OpNone   Op = "none"
)

// Change is one entry of the change log. All entries written by one
// transaction share its Revision and are ordered by Seq (from 0). Key names the
// resource inside its kind: the object name for catalog kinds, and
// "SCOPE:KEY" (for example "deployment/shop@eu-1:tier") for facts. Before and
// After are the resource's JSON (nil when it did not exist).
type Change struct {
	Revision  int64           `json:"revision"`
	Seq       int             `json:"seq"`
	Time      time.Time       `json:"time"`
	Actor     string          `json:"actor,omitempty"`
	RequestID string          `json:"requestId,omitempty"`
	Workspace string          `json:"workspace,omitempty"`
	Kind      string          `json:"kind"`
	Key       string          `json:"key"`
	Op        Op              `json:"op"`
	Before    json.RawMessage `json:"before,omitempty"`
	After     json.RawMessage `json:"after,omitempty"`
}

// FactChangeKey is the change-log key of a fact.
func FactChangeKey(s Scope, key string) string { return s.String() + ":" + key }

// ChangeQuery selects change-log entries. Zero fields do not filter. FromRevision
// is exclusive (entries after it), ToRevision inclusive. Since is inclusive,
// Until exclusive. KeyPrefix matches keys that start with it (a scope's facts
// are "SCOPE:"). Limit defaults to 100 and is capped at 1000; PageToken
// continues a previous query. Actor matches the recorded actor exactly.
type ChangeQuery struct {
	Workspace    string
	Actor        string
	Kind         string
	Key          string
	KeyPrefix    string
	FromRevision int64
	ToRevision   int64
	Since        time.Time
	Until        time.Time
	Limit        int
	PageToken    string
}

// Page asks for one page of a list. Size defaults to 100 and is capped at 1000.
// Token is the NextToken of the previous page.
type Page struct {
	Size  int
	Token string
}

// Origin says who made a write and in which request; the store records it in
// every change entry the write appends.
type Origin struct {
	Actor     string
	RequestID string
}

type originKey struct{}

// WithOrigin returns ctx carrying o.
func WithOrigin(ctx context.Context, o Origin) context.Context {
	return context.WithValue(ctx, originKey{}, o)
}

// OriginFrom returns the origin ctx carries, or a zero Origin.
func OriginFrom(ctx context.Context) Origin {
	o, _ := ctx.Value(originKey{}).(Origin)
	return o
}
