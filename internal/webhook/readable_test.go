package webhook

import (
	"context"
	"encoding/json"
	"testing"

	"github.com/flagops/flagops/internal/domain"
)

func TestReadable(t *testing.T) {
	key := func(bindings ...domain.Binding) domain.Change {
		b, _ := json.Marshal(domain.APIKey{ID: "k", Name: "k", Bindings: bindings})
		return domain.Change{Kind: domain.KindAPIKey, Key: "k", Op: domain.OpCreate, After: b}
	}
	bind := func(ws string, role domain.Role) domain.Binding {
		return domain.Binding{Role: role, Workspace: ws, Scope: domain.WorkspaceScope()}
	}
	fact := func(ws string) domain.Change {
		return domain.Change{Workspace: ws, Kind: domain.KindFact, Key: "workspace:x", Op: domain.OpUpdate}
	}
	wsAdmin := []domain.Binding{bind("default", domain.RoleAdmin)}
	serverAdmin := []domain.Binding{bind(domain.AllWorkspaces, domain.RoleAdmin)}
	tests := []struct {
		name   string
		grants []domain.Binding
		change domain.Change
		want   bool
	}{
		{"own workspace's change", wsAdmin, fact("default"), true},
		{"another workspace's change", serverAdmin, fact("rival"), false},
		{"no grants recorded: own workspace", nil, fact("default"), true},
		{"no grants recorded: key of the workspace", nil, key(bind("default", domain.RoleViewer)), false},
		{"workspace admin: key of the workspace", wsAdmin, key(bind("default", domain.RoleViewer)), false},
		{"server admin: key of the workspace", serverAdmin, key(bind("default", domain.RoleViewer)), true},
		{"server admin: key of another workspace", serverAdmin, key(bind("rival", domain.RoleViewer)), false},
		{"server admin: key of every workspace", serverAdmin, key(bind(domain.AllWorkspaces, domain.RoleViewer)), false},
		{"server viewer: key of the workspace", []domain.Binding{bind(domain.AllWorkspaces, domain.RoleViewer)}, key(bind("default", domain.RoleViewer)), true},
		{"evaluator grants read no log", []domain.Binding{bind("default", domain.RoleEvaluator)}, fact("default"), false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h := domain.Webhook{Workspace: "default", Name: "w", Grants: tc.grants}
			if got := Readable(context.Background(), h, tc.change); got != tc.want {
				t.Fatalf("Readable = %v, want %v", got, tc.want)
			}
		})
	}
}
