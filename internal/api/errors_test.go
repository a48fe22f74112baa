package api_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"connectrpc.com/connect"
	"google.golang.org/protobuf/types/known/structpb"

	flagopsv1 "github.com/flagops/flagops/gen/flagops/v1"
	"github.com/flagops/flagops/internal/server"
	"github.com/flagops/flagops/internal/server/servertest"
)

// TestErrors checks that every refused request answers the right code and
// field, and leaves the revision where it was.
func TestErrors(t *testing.T) {
	servertest.Backends(t, func(t *testing.T, cfg server.Config) {
		s, c := setup(t, cfg)
		ctx := context.Background()
		catalog(t, c)
		envRev := must(c.Catalog.GetEnvironment(ctx, req(&flagopsv1.GetEnvironmentRequest{Name: "prod"})))(t).Msg.Environment.Meta.Revision
		wrong := envRev + 100
		zero := int64(0)
		big := strings.Repeat("x", 10<<20)

		// rawPost sends body to a procedure as Connect JSON and returns the
		// status and the error's code.
		rawPost := func(procedure string, body []byte) (int, string, error) {
			resp, err := servertest.HTTP1Client().Post(s.URL()+procedure, "application/json", bytes.NewReader(body))
			if err != nil {
				return 0, "", err
			}
			defer resp.Body.Close()
			var e struct{ Code, Message string }
			_ = json.NewDecoder(resp.Body).Decode(&e)
			return resp.StatusCode, e.Code, nil
		}

		tests := []struct {
			name      string
			call      func() error
			code      connect.Code
			field     string // the ErrorDetail field, "" for none
			msgSubstr string
		}{
			{"bad fact key", func() error {
				_, err := c.Facts.SetFacts(ctx, req(&flagopsv1.SetFactsRequest{Scope: "workspace", Values: map[string]*structpb.Value{"9lives": value(t, 1)}}))
				return err
			}, connect.CodeInvalidArgument, "values.9lives", "values.9lives: fact key"},
			{"built-in fact key", func() error {
				_, err := c.Facts.SetFacts(ctx, req(&flagopsv1.SetFactsRequest{Scope: "workspace", Values: map[string]*structpb.Value{"project": value(t, "x")}}))
				return err
			}, connect.CodeInvalidArgument, "values.project", "built in"},
			{"null fact value", func() error {
				_, err := c.Facts.SetFacts(ctx, req(&flagopsv1.SetFactsRequest{Scope: "workspace", Values: map[string]*structpb.Value{"a": structpb.NewNullValue()}}))
				return err
			}, connect.CodeInvalidArgument, "values.a", "null"},
			{"fact value over 64 KiB", func() error {
				_, err := c.Facts.SetFacts(ctx, req(&flagopsv1.SetFactsRequest{Scope: "workspace", Values: map[string]*structpb.Value{"a": value(t, strings.Repeat("x", 70<<10))}}))
				return err
			}, connect.CodeInvalidArgument, "values.a", "at most"},
			{"bad scope", func() error {
				_, err := c.Facts.SetFacts(ctx, req(&flagopsv1.SetFactsRequest{Scope: "cluster/x", Values: map[string]*structpb.Value{"a": value(t, 1)}}))
				return err
			}, connect.CodeInvalidArgument, "scope", "not a scope"},
			{"scope of a missing object", func() error {
				_, err := c.Facts.SetFacts(ctx, req(&flagopsv1.SetFactsRequest{Scope: "deployment/shop@nowhere", Values: map[string]*structpb.Value{"a": value(t, 1)}}))
				return err
			}, connect.CodeInvalidArgument, "scope", "does not exist"},
			{"bulk entry with bad key", func() error {
				_, err := c.Facts.BulkSetFacts(ctx, req(&flagopsv1.BulkSetFactsRequest{Entries: []*flagopsv1.FactsEntry{
					{Scope: "workspace", Values: map[string]*structpb.Value{"ok": value(t, 1)}},
					{Scope: "environment/prod", Values: map[string]*structpb.Value{"not ok": value(t, 1)}},
				}}))
				return err
			}, connect.CodeInvalidArgument, "entries[1].values.not ok", ""},
			{"target in a missing environment", func() error {
				_, err := c.Catalog.PutTarget(ctx, req(&flagopsv1.PutTargetRequest{Target: &flagopsv1.Target{Meta: meta("ap-1"), Environment: "nope"}}))
				return err
			}, connect.CodeInvalidArgument, "target.environment", "target.environment: "},
			{"bad name", func() error {
				_, err := c.Catalog.PutEnvironment(ctx, req(&flagopsv1.PutEnvironmentRequest{Environment: &flagopsv1.Environment{Meta: meta("Prod!")}}))
				return err
			}, connect.CodeInvalidArgument, "environment.name", "lowercase"},
			{"missing environment", func() error {
				_, err := c.Catalog.GetEnvironment(ctx, req(&flagopsv1.GetEnvironmentRequest{Name: "qa"}))
				return err
			}, connect.CodeNotFound, "", ""},
			{"stale expected revision", func() error {
				_, err := c.Catalog.PutEnvironment(ctx, req(&flagopsv1.PutEnvironmentRequest{Environment: &flagopsv1.Environment{Meta: &flagopsv1.ObjectMeta{Name: "prod", Description: "x"}}, ExpectedRevision: &wrong}))
				return err
			}, connect.CodeAborted, "", ""},
			{"create over an existing object", func() error {
				_, err := c.Catalog.PutEnvironment(ctx, req(&flagopsv1.PutEnvironmentRequest{Environment: &flagopsv1.Environment{Meta: &flagopsv1.ObjectMeta{Name: "prod", Description: "x"}}, ExpectedRevision: &zero}))
				return err
			}, 0, "", ""},
			{"delete an environment in use", func() error {
				_, err := c.Catalog.DeleteEnvironment(ctx, req(&flagopsv1.DeleteEnvironmentRequest{Name: "prod"}))
				return err
			}, connect.CodeFailedPrecondition, "", ""},
			{"compact past the head", func() error {
				_, err := c.Changes.Compact(ctx, req(&flagopsv1.CompactRequest{ThroughRevision: 1 << 40}))
				return err
			}, connect.CodeInvalidArgument, "through_revision", ""},
			{"10 MB message", func() error {
				_, err := c.Facts.SetFacts(ctx, req(&flagopsv1.SetFactsRequest{Scope: "workspace", Values: map[string]*structpb.Value{"a": value(t, big)}}))
				return err
			}, connect.CodeInvalidArgument, "", ""},
			{"malformed Connect JSON", func() error {
				status, code, err := rawPost("/flagops.v1.FactService/SetFacts", []byte(`{"scope": "workspace", "values": {"a": `))
				if err != nil {
					return err
				}
				return connect.NewError(codeNamed(code), fmt.Errorf("HTTP %d", status))
			}, connect.CodeInvalidArgument, "", ""},
			{"10 MB Connect JSON body", func() error {
				body := []byte(`{"scope": "workspace", "values": {"a": "` + big + `"}}`)
				status, code, err := rawPost("/flagops.v1.FactService/SetFacts", body)
				if err != nil {
					return err
				}
				if status >= 500 {
					t.Errorf("a 10 MB body answered HTTP %d", status)
				}
				return connect.NewError(codeNamed(code), fmt.Errorf("HTTP %d", status))
			}, connect.CodeInvalidArgument, "", ""},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				before := must(c.Changes.GetRevision(ctx, req(&flagopsv1.GetRevisionRequest{})))(t).Msg.Revision
				err := tt.call()
				if err == nil {
					t.Fatal("want an error, got none")
				}
				code := connect.CodeOf(err)
				if tt.code != 0 && code != tt.code {
					t.Errorf("code %v, want %v (%v)", code, tt.code, err)
				}
				if tt.code == 0 && (code == connect.CodeInternal || code == connect.CodeUnknown) {
					t.Errorf("code %v: %v", code, err)
				}
				if got := fieldOf(err); got != tt.field {
					t.Errorf("field %q, want %q (%v)", got, tt.field, err)
				}
				if tt.msgSubstr != "" && !strings.Contains(err.Error(), tt.msgSubstr) {
					t.Errorf("message %q does not contain %q", err.Error(), tt.msgSubstr)
				}
				after := must(c.Changes.GetRevision(ctx, req(&flagopsv1.GetRevisionRequest{})))(t).Msg.Revision
				if after != before {
					t.Errorf("revision moved from %d to %d", before, after)
				}
			})
		}
	})
}

// codeNamed parses a Connect code name ("invalid_argument").
func codeNamed(name string) connect.Code {
	var c connect.Code
	if err := c.UnmarshalText([]byte(name)); err != nil {
		return connect.CodeUnknown
	}
	return c
}
