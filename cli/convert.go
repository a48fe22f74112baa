package cli

import (
	"encoding/json"
	"fmt"
	"time"

	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/types/known/structpb"
	"google.golang.org/protobuf/types/known/timestamppb"

	flagopsv1 "github.com/flagops/flagops/gen/flagops/v1"
	"github.com/flagops/flagops/internal/domain"
)

// The CLI shows objects as domain types: their JSON (camelCase, numbers as
// numbers, times as RFC 3339) is the documented shape of -o json and -o yaml,
// and it is the same shape the manifests are written in.

func metaToProto(m domain.Meta) *flagopsv1.ObjectMeta {
	return &flagopsv1.ObjectMeta{Workspace: m.Workspace, Name: m.Name, Description: m.Description, Labels: m.Labels}
}

func metaFromProto(m *flagopsv1.ObjectMeta) domain.Meta {
	return domain.Meta{
		Workspace:   m.GetWorkspace(),
		Name:        m.GetName(),
		Description: m.GetDescription(),
		Labels:      m.GetLabels(),
		Revision:    m.GetRevision(),
		CreatedAt:   timeFromProto(m.GetCreateTime()),
		UpdatedAt:   timeFromProto(m.GetUpdateTime()),
	}
}

func timeFromProto(t *timestamppb.Timestamp) time.Time {
	if t == nil {
		return time.Time{}
	}
	return t.AsTime().UTC()
}

func workspaceFromProto(w *flagopsv1.Workspace) domain.Workspace {
	return domain.Workspace{Meta: metaFromProto(w.GetMeta())}
}

func environmentFromProto(e *flagopsv1.Environment) domain.Environment {
	return domain.Environment{Meta: metaFromProto(e.GetMeta())}
}

func targetFromProto(t *flagopsv1.Target) domain.Target {
	return domain.Target{Meta: metaFromProto(t.GetMeta()), Environment: t.GetEnvironment()}
}

func environmentSetFromProto(s *flagopsv1.EnvironmentSet) domain.EnvironmentSet {
	return domain.EnvironmentSet{Meta: metaFromProto(s.GetMeta()), Environments: s.GetEnvironments()}
}

func projectFromProto(p *flagopsv1.Project) domain.Project {
	return domain.Project{
		Meta:                  metaFromProto(p.GetMeta()),
		Environments:          p.GetEnvironments(),
		EnvironmentSets:       p.GetEnvironmentSets(),
		EffectiveEnvironments: p.GetEffectiveEnvironments(),
	}
}

func deploymentFromProto(d *flagopsv1.Deployment) domain.Deployment {
	return domain.Deployment{Workspace: d.GetWorkspace(), Project: d.GetProject(), Target: d.GetTarget(), Environment: d.GetEnvironment()}
}

func changeFromProto(c *flagopsv1.Change) domain.Change {
	return domain.Change{
		Revision:  c.GetRevision(),
		Seq:       int(c.GetSeq()),
		Time:      timeFromProto(c.GetTime()),
		Actor:     c.GetActor(),
		RequestID: c.GetRequestId(),
		Workspace: c.GetWorkspace(),
		Kind:      c.GetKind(),
		Key:       c.GetKey(),
		Op:        opFromProto(c.GetOperation()),
		Before:    valueJSON(c.GetBefore()),
		After:     valueJSON(c.GetAfter()),
	}
}

func opFromProto(op flagopsv1.Operation) domain.Op {
	switch op {
	case flagopsv1.Operation_OPERATION_CREATE:
		return domain.OpCreate
	case flagopsv1.Operation_OPERATION_UPDATE:
		return domain.OpUpdate
	case flagopsv1.Operation_OPERATION_DELETE:
		return domain.OpDelete
	case flagopsv1.Operation_OPERATION_NONE:
		return domain.OpNone
	}
	return ""
}

// valueJSON returns the JSON of a protobuf Value, or nil for none.
func valueJSON(v *structpb.Value) json.RawMessage {
	if v == nil {
		return nil
	}
	raw, err := protojson.Marshal(v)
	if err != nil {
		return nil
	}
	return json.RawMessage(compactJSON(raw))
}

// valueFromJSON reads a JSON value into a protobuf Value.
func valueFromJSON(raw json.RawMessage) (*structpb.Value, error) {
	v := &structpb.Value{}
	if err := protojson.Unmarshal(raw, v); err != nil {
		return nil, fmt.Errorf("convert %s to a protobuf value: %w", raw, err)
	}
	return v, nil
}

func valuesToProto(values map[string]json.RawMessage) (map[string]*structpb.Value, error) {
	out := make(map[string]*structpb.Value, len(values))
	for k, raw := range values {
		v, err := valueFromJSON(raw)
		if err != nil {
			return nil, fmt.Errorf("value of %s: %w", k, err)
		}
		out[k] = v
	}
	return out, nil
}
