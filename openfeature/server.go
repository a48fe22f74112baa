package openfeature

import (
	"cmp"
	"context"
	"encoding/json"
	"fmt"

	"connectrpc.com/connect"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"

	flagopsv1 "github.com/flagops/flagops/gen/flagops/v1"
	"github.com/flagops/flagops/gen/flagops/v1/flagopsv1connect"
	"github.com/flagops/flagops/internal/domain"
	"github.com/flagops/flagops/internal/flag"
)

// ServerSource is the SnapshotSource of a flagops server: Load calls
// FlagService.GetSnapshot for one project, and Changes follows
// ChangeService.Watch filtered to that project's flags and segments. It
// is safe for concurrent use.
type ServerSource struct {
	flags     flagopsv1connect.FlagServiceClient
	changes   flagopsv1connect.ChangeServiceClient
	workspace string
	project   string
}

var _ SnapshotSource = (*ServerSource)(nil)

// NewServerSource returns the source of project (workspace "" is the
// default) on the server at baseURL. hc must not time out whole requests,
// since the watch stream is long-lived; pass connect.WithGRPC() and the
// like in opts.
func NewServerSource(hc connect.HTTPClient, baseURL, workspace, project string, opts ...connect.ClientOption) *ServerSource {
	return &ServerSource{
		flags:     flagopsv1connect.NewFlagServiceClient(hc, baseURL, opts...),
		changes:   flagopsv1connect.NewChangeServiceClient(hc, baseURL, opts...),
		workspace: cmp.Or(workspace, domain.DefaultWorkspace), project: project,
	}
}

// Load implements SnapshotSource.
func (s *ServerSource) Load(ctx context.Context) ([]flag.Flag, []flag.Segment, int64, error) {
	resp, err := s.flags.GetSnapshot(ctx, connect.NewRequest(&flagopsv1.GetSnapshotRequest{Workspace: s.workspace, Project: s.project}))
	if err != nil {
		return nil, nil, 0, fmt.Errorf("get snapshot of %s: %w", s.project, err)
	}
	flags := make([]flag.Flag, len(resp.Msg.GetFlags()))
	for i, m := range resp.Msg.GetFlags() {
		m = proto.CloneOf(m)
		m.Revision = 0 // protojson writes int64 as a string encoding/json will not read
		if err := fromProto(m, &flags[i]); err != nil {
			return nil, nil, 0, err
		}
	}
	segs := make([]flag.Segment, len(resp.Msg.GetSegments()))
	for i, m := range resp.Msg.GetSegments() {
		m = proto.CloneOf(m)
		m.Revision = 0
		if err := fromProto(m, &segs[i]); err != nil {
			return nil, nil, 0, err
		}
	}
	return flags, segs, resp.Msg.GetRevision(), nil
}

// fromProto converts a flag message to its internal/flag type: the
// messages mirror the JSON shape field for field.
func fromProto(m proto.Message, out any) error {
	b, err := protojson.Marshal(m)
	if err != nil {
		return fmt.Errorf("encode %T: %w", m, err)
	}
	if err := json.Unmarshal(b, out); err != nil {
		return fmt.Errorf("decode %T: %w", m, err)
	}
	return nil
}

// Changes implements SnapshotSource: it sends the revision of every change
// of the project's flags or segments after from, and closes the channel
// when the stream ends.
func (s *ServerSource) Changes(ctx context.Context, from int64) (<-chan int64, error) {
	stream, err := s.changes.Watch(ctx, connect.NewRequest(&flagopsv1.WatchRequest{
		FromRevision: from,
		Filter:       &flagopsv1.WatchFilter{Workspace: s.workspace, Kinds: []string{"flag", "segment"}, KeyPrefixes: []string{s.project + "/"}},
	}))
	if err != nil {
		return nil, fmt.Errorf("watch flags of %s: %w", s.project, err)
	}
	ch := make(chan int64, 1)
	go func() {
		defer close(ch)
		defer stream.Close()
		for stream.Receive() {
			msg := stream.Msg()
			if len(msg.GetChanges()) == 0 {
				continue
			}
			select {
			case ch <- msg.GetRevision():
			case <-ctx.Done():
				return
			}
		}
	}()
	return ch, nil
}
