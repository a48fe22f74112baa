package api

import (
	"encoding/json"
	"fmt"
	"time"

	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/types/known/structpb"
	"google.golang.org/protobuf/types/known/timestamppb"

	flagopsv1 "github.com/flagops/flagops/gen/flagops/v1"
	"github.com/flagops/flagops/internal/domain"
	"github.com/flagops/flagops/internal/errs"
)

// Conversion between protobuf messages and domain types. Output-only fields
// of a request (revision, times, effective environments) are ignored.

func metaIn(m *flagopsv1.ObjectMeta) domain.Meta {
	return domain.Meta{
		Workspace:   m.GetWorkspace(),
		Name:        m.GetName(),
		Description: m.GetDescription(),
		Labels:      m.GetLabels(),
	}
}

func metaOut(m domain.Meta) *flagopsv1.ObjectMeta {
	return &flagopsv1.ObjectMeta{
		Workspace:   m.Workspace,
		Name:        m.Name,
		Description: m.Description,
		Labels:      m.Labels,
		Revision:    m.Revision,
		CreateTime:  timeOut(m.CreatedAt),
		UpdateTime:  timeOut(m.UpdatedAt),
	}
}

func timeOut(t time.Time) *timestamppb.Timestamp {
	if t.IsZero() {
		return nil
	}
	return timestamppb.New(t)
}

// timeIn reads an optional timestamp of a request.
func timeIn(field string, ts *timestamppb.Timestamp) (time.Time, error) {
	if ts == nil {
		return time.Time{}, nil
	}
	if err := ts.CheckValid(); err != nil {
		return time.Time{}, errs.Field(field, "is not a valid timestamp")
	}
	return ts.AsTime(), nil
}

func opOut(op domain.Op) flagopsv1.Operation {
	switch op {
	case domain.OpCreate:
		return flagopsv1.Operation_OPERATION_CREATE
	case domain.OpUpdate:
		return flagopsv1.Operation_OPERATION_UPDATE
	case domain.OpDelete:
		return flagopsv1.Operation_OPERATION_DELETE
	case domain.OpNone:
		return flagopsv1.Operation_OPERATION_NONE
	}
	return flagopsv1.Operation_OPERATION_UNSPECIFIED
}

func workspaceOut(w domain.Workspace) *flagopsv1.Workspace {
	return &flagopsv1.Workspace{Meta: metaOut(w.Meta)}
}

func environmentOut(e domain.Environment) *flagopsv1.Environment {
	return &flagopsv1.Environment{Meta: metaOut(e.Meta)}
}

func targetOut(t domain.Target) *flagopsv1.Target {
	return &flagopsv1.Target{Meta: metaOut(t.Meta), Environment: t.Environment}
}

func environmentSetOut(s domain.EnvironmentSet) *flagopsv1.EnvironmentSet {
	return &flagopsv1.EnvironmentSet{Meta: metaOut(s.Meta), Environments: s.Environments}
}

func projectOut(p domain.Project) *flagopsv1.Project {
	return &flagopsv1.Project{Meta: metaOut(p.Meta), Environments: p.Environments,
		EnvironmentSets: p.EnvironmentSets, EffectiveEnvironments: p.EffectiveEnvironments}
}

func deploymentOut(d domain.Deployment) *flagopsv1.Deployment {
	return &flagopsv1.Deployment{Workspace: d.Workspace, Project: d.Project, Target: d.Target, Environment: d.Environment}
}

// mapOut converts a slice with f.
func mapOut[T, P any](in []T, f func(T) P) []P {
	out := make([]P, len(in))
	for i, v := range in {
		out[i] = f(v)
	}
	return out
}

// valueIn turns a google.protobuf.Value into JSON. The service checks and
// compacts it; here only a value that is absent or cannot be JSON is refused.
func valueIn(field string, v *structpb.Value) (json.RawMessage, error) {
	if v == nil || v.GetKind() == nil {
		return nil, errs.Field(field, "value is required")
	}
	b, err := protojson.Marshal(v)
	if err != nil {
		return nil, errs.Field(field, "value cannot be written as JSON (NaN or infinity?)")
	}
	return b, nil
}

func valuesIn(field string, in map[string]*structpb.Value) (map[string]json.RawMessage, error) {
	out := make(map[string]json.RawMessage, len(in))
	for k, v := range in {
		raw, err := valueIn(field+"."+k, v)
		if err != nil {
			return nil, err
		}
		out[k] = raw
	}
	return out, nil
}

// valueOut turns stored JSON into a google.protobuf.Value (nil for none).
func valueOut(raw json.RawMessage) (*structpb.Value, error) {
	if len(raw) == 0 {
		return nil, nil
	}
	v := &structpb.Value{}
	if err := protojson.Unmarshal(raw, v); err != nil {
		return nil, fmt.Errorf("stored value is not JSON: %w", err)
	}
	return v, nil
}

func factOut(f domain.Fact) (*flagopsv1.Fact, error) {
	v, err := valueOut(f.Value)
	if err != nil {
		return nil, fmt.Errorf("fact %s:%s: %w", f.Scope, f.Key, err)
	}
	return &flagopsv1.Fact{Scope: f.Scope.String(), Key: f.Key, Value: v, Revision: f.Revision, UpdateTime: timeOut(f.UpdatedAt)}, nil
}

func changeOut(c domain.Change) (*flagopsv1.Change, error) {
	before, err := valueOut(c.Before)
	if err != nil {
		return nil, fmt.Errorf("change %d.%d before: %w", c.Revision, c.Seq, err)
	}
	after, err := valueOut(c.After)
	if err != nil {
		return nil, fmt.Errorf("change %d.%d after: %w", c.Revision, c.Seq, err)
	}
	return &flagopsv1.Change{
		Revision:  c.Revision,
		Seq:       int32(c.Seq),
		Time:      timeOut(c.Time),
		Actor:     c.Actor,
		RequestId: c.RequestID,
		Workspace: c.Workspace,
		Kind:      c.Kind,
		Key:       c.Key,
		Operation: opOut(c.Op),
		Before:    before,
		After:     after,
	}, nil
}

func changesOut(in []domain.Change) ([]*flagopsv1.Change, error) {
	out := make([]*flagopsv1.Change, len(in))
	for i, c := range in {
		pc, err := changeOut(c)
		if err != nil {
			return nil, err
		}
		out[i] = pc
	}
	return out, nil
}

func resolvedOut(r domain.Resolved) (*flagopsv1.ResolveFactsResponse, error) {
	facts := &structpb.Struct{Fields: make(map[string]*structpb.Value, len(r.Facts))}
	for k, raw := range r.Facts {
		v, err := valueOut(raw)
		if err != nil {
			return nil, fmt.Errorf("resolved fact %s: %w", k, err)
		}
		facts.Fields[k] = v
	}
	return &flagopsv1.ResolveFactsResponse{Workspace: r.Workspace, Project: r.Project, Environment: r.Environment,
		Target: r.Target, Facts: facts, Sources: r.Sources, Revision: r.Revision}, nil
}
