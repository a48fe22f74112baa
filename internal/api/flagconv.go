package api

import (
	"encoding/json"
	"fmt"

	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/structpb"

	flagopsv1 "github.com/flagops/flagops/gen/flagops/v1"
	"github.com/flagops/flagops/internal/errs"
	"github.com/flagops/flagops/internal/flag"
	"github.com/flagops/flagops/internal/store"
)

// The flag messages mirror the internal/flag JSON shape field for field
// (protojson's lowerCamelCase names), so conversion goes through JSON:
// one place defines the shape, and a field added to both cannot be
// forgotten by hand-written copying. Output-only int64 fields (revisions)
// are cleared on the way in, since protojson writes int64 as a string that
// encoding/json will not read into an int64.

var (
	pjOut = protojson.MarshalOptions{UseProtoNames: false}
	pjIn  = protojson.UnmarshalOptions{DiscardUnknown: true}
)

// viaJSON converts a protobuf message into a domain value; field names the
// request field for errors.
func viaJSON(field string, m proto.Message, out any) error {
	b, err := pjOut.Marshal(m)
	if err != nil {
		return errs.Field(field, "cannot encode: %v", err)
	}
	if err := json.Unmarshal(b, out); err != nil {
		return errs.Field(field, "%v", err)
	}
	return nil
}

// fromJSON converts a domain value into a protobuf message.
func fromJSON(in any, m proto.Message) error {
	b, err := json.Marshal(in)
	if err != nil {
		return fmt.Errorf("encode %T: %w", in, err)
	}
	if err := pjIn.Unmarshal(b, m); err != nil {
		return fmt.Errorf("convert %T: %w", in, err)
	}
	return nil
}

func flagIn(m *flagopsv1.Flag) (flag.Flag, error) {
	var f flag.Flag
	if m == nil {
		return f, errs.Field("flag", "is required")
	}
	m = proto.CloneOf(m)
	m.Revision = 0
	return f, viaJSON("flag", m, &f)
}

func flagOut(f flag.Flag) (*flagopsv1.Flag, error) {
	m := &flagopsv1.Flag{}
	return m, fromJSON(f, m)
}

func flagsOut(in []flag.Flag) ([]*flagopsv1.Flag, error) {
	out := make([]*flagopsv1.Flag, len(in))
	for i, f := range in {
		var err error
		if out[i], err = flagOut(f); err != nil {
			return nil, err
		}
	}
	return out, nil
}

func segmentIn(m *flagopsv1.Segment) (flag.Segment, error) {
	var s flag.Segment
	if m == nil {
		return s, errs.Field("segment", "is required")
	}
	m = proto.CloneOf(m)
	m.Revision = 0
	return s, viaJSON("segment", m, &s)
}

func segmentOut(s flag.Segment) (*flagopsv1.Segment, error) {
	m := &flagopsv1.Segment{}
	return m, fromJSON(s, m)
}

func segmentsOut(in []flag.Segment) ([]*flagopsv1.Segment, error) {
	out := make([]*flagopsv1.Segment, len(in))
	for i, s := range in {
		var err error
		if out[i], err = segmentOut(s); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// scheduleIn reads a CreateScheduleRequest. The change's patch is a
// TargetingPatch document carried as a Struct.
func scheduleIn(m *flagopsv1.CreateScheduleRequest) (store.Schedule, error) {
	sc := store.Schedule{ID: m.GetId()}
	if m.GetChange() != nil {
		sc.Change = &flag.ScheduledChange{}
		if err := viaJSON("change", m.GetChange(), sc.Change); err != nil {
			return sc, err
		}
	}
	if m.GetRollout() != nil {
		sc.Rollout = &flag.ProgressiveRollout{}
		if err := viaJSON("rollout", m.GetRollout(), sc.Rollout); err != nil {
			return sc, err
		}
	}
	return sc, nil
}

func scheduleOut(sc store.Schedule) (*flagopsv1.Schedule, error) {
	m := &flagopsv1.Schedule{}
	return m, fromJSON(sc, m)
}

func schedulesOut(in []store.Schedule) ([]*flagopsv1.Schedule, error) {
	out := make([]*flagopsv1.Schedule, len(in))
	for i, s := range in {
		var err error
		if out[i], err = scheduleOut(s); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// structOut converts any JSON-encodable value to a Struct (nil for nil).
func structOut(v any) (*structpb.Struct, error) {
	if v == nil {
		return nil, nil
	}
	b, err := json.Marshal(v)
	if err != nil {
		return nil, fmt.Errorf("encode %T: %w", v, err)
	}
	s := &structpb.Struct{}
	if err := protojson.Unmarshal(b, s); err != nil {
		return nil, fmt.Errorf("convert %T: %w", v, err)
	}
	return s, nil
}
