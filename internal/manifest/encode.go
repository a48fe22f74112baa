package manifest

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/flagops/flagops/internal/domain"
	"github.com/flagops/flagops/internal/flag"
)

// Encode writes an object as the document Parse reads back: JSON (which is
// YAML) with kind first, then workspace (omitted for a workspace), then the
// kind's fields in the order manifests write them, then the read-only fields
// the server fills in (revision, times, derived lists), which Parse accepts
// and ignores. obj is what Document.Object holds for the kind: a
// domain.Workspace, domain.Environment, domain.Target, domain.EnvironmentSet,
// domain.Project, Facts, flag.Segment, flag.Flag, domain.Release or
// domain.PromotionPolicy. revision is the Facts document's read-only
// revision (the scope's facts revision); the other kinds carry their own.
//
// Encode then Parse gives back the object with its read-only fields
// cleared, which is what makes "get -o yaml" output apply unchanged.
func Encode(ws string, obj any, revision int64) (json.RawMessage, error) {
	var kind string
	var body any
	switch o := obj.(type) {
	case domain.Workspace:
		kind, ws, body = KindWorkspace, "", catalogDoc(o.Meta)
	case domain.Environment:
		kind, body = KindEnvironment, catalogDoc(o.Meta)
	case domain.Target:
		d := catalogDoc(o.Meta)
		d.Environment = o.Environment
		kind, body = KindTarget, d
	case domain.EnvironmentSet:
		d := catalogDoc(o.Meta)
		d.Environments = o.Environments
		kind, body = KindEnvironmentSet, d
	case domain.Project:
		d := catalogDoc(o.Meta)
		d.Environments, d.EnvironmentSets, d.EffectiveEnvironments = o.Environments, o.EnvironmentSets, o.EffectiveEnvironments
		kind, body = KindProject, d
	case Facts:
		kind, body = KindFacts, struct {
			Scope    string                     `json:"scope"`
			Values   map[string]json.RawMessage `json:"values"`
			Revision int64                      `json:"revision,omitempty"`
		}{o.Scope.String(), o.Values, revision}
	case flag.Segment:
		kind, body = KindSegment, o
	case flag.Flag:
		kind, body = KindFlag, o
	case domain.Release:
		o.Workspace = ""
		kind, body = KindRelease, o
	case domain.PromotionPolicy:
		kind, body = KindPromotionPolicy, policyDoc(o)
	default:
		return nil, fmt.Errorf("encode manifest: %T is not the object of a document kind", obj)
	}
	raw, err := json.Marshal(body)
	if err != nil {
		return nil, fmt.Errorf("encode %s manifest: %w", kind, err)
	}
	head, err := json.Marshal(struct {
		Kind      string `json:"kind"`
		Workspace string `json:"workspace,omitempty"`
	}{kind, ws})
	if err != nil {
		return nil, err
	}
	// Splice {"kind":…,"workspace":…} and the object's fields into one
	// object, keeping both orders.
	raw = bytes.TrimPrefix(raw, []byte("{"))
	if string(raw) == "}" {
		return head, nil
	}
	return append(append(head[:len(head)-1], ','), raw...), nil
}

// catalogJSON is a catalog object as its document writes it.
type catalogJSON struct {
	Name                  string            `json:"name"`
	Description           string            `json:"description,omitempty"`
	Labels                map[string]string `json:"labels,omitempty"`
	Environment           string            `json:"environment,omitempty"`
	Environments          []string          `json:"environments,omitempty"`
	EnvironmentSets       []string          `json:"environmentSets,omitempty"`
	Revision              int64             `json:"revision,omitempty"`
	CreatedAt             time.Time         `json:"createdAt,omitzero"`
	UpdatedAt             time.Time         `json:"updatedAt,omitzero"`
	EffectiveEnvironments []string          `json:"effectiveEnvironments,omitempty"`
}

func catalogDoc(m domain.Meta) catalogJSON {
	return catalogJSON{Name: m.Name, Description: m.Description, Labels: m.Labels,
		Revision: m.Revision, CreatedAt: m.CreatedAt, UpdatedAt: m.UpdatedAt}
}

// policyJSON is a promotion policy as its document writes it: soak as a
// duration ("30m"), not the nanoseconds of the change log's JSON.
type policyJSON struct {
	Project         string          `json:"project"`
	From            string          `json:"from"`
	To              string          `json:"to"`
	Soak            string          `json:"soak,omitempty"`
	Schedule        string          `json:"schedule,omitempty"`
	Timezone        string          `json:"timezone,omitempty"`
	AllowedWindows  []domain.Window `json:"allowedWindows,omitempty"`
	FreezeWindows   []domain.Window `json:"freezeWindows,omitempty"`
	RequireApproval bool            `json:"requireApproval,omitempty"`
	Disabled        bool            `json:"disabled,omitempty"`
	Revision        int64           `json:"revision,omitempty"`
	UpdatedAt       time.Time       `json:"updatedAt,omitzero"`
}

func policyDoc(p domain.PromotionPolicy) policyJSON {
	out := policyJSON{Project: p.Project, From: p.From, To: p.To, Schedule: p.Schedule, Timezone: p.Timezone,
		AllowedWindows: p.AllowedWindows, FreezeWindows: p.FreezeWindows, RequireApproval: p.RequireApproval,
		Disabled: p.Disabled, Revision: p.Revision, UpdatedAt: p.UpdatedAt}
	if p.Soak != 0 {
		out.Soak = shortDuration(p.Soak)
	}
	return out
}

// shortDuration writes d as people do: "45m" and "2h", not "45m0s" and
// "2h0m0s".
func shortDuration(d time.Duration) string {
	s := d.String()
	if strings.HasSuffix(s, "m0s") {
		s = s[:len(s)-2]
	}
	if strings.HasSuffix(s, "h0m") {
		s = s[:len(s)-2]
	}
	return s
}
