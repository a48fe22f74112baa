package webhook

import (
	"context"
	"encoding/json"

	"github.com/flagops/flagops/internal/auth"
	"github.com/flagops/flagops/internal/domain"
)

// ListChangesProcedure is the policy entry a delivery is checked against:
// a subscription receives a change only if its creator could have read it
// with ListChanges.
const ListChangesProcedure = "/flagops.v1.ChangeService/ListChanges"

// Readable reports whether change c may go to subscription h. It must be of
// h's workspace: a change in that workspace, or a server-wide change about
// it (an API key with a binding in it; keys bound to every workspace and
// keys of other workspaces are not about it). And the bindings the
// subscription's creator held when creating it (h.Grants; none: an
// administrator of the workspace) must allow reading it from the change
// log, as auth.Authorize decides for ListChanges: a change of the workspace
// needs changes.read there, a server-wide one changes.read over every
// workspace. The policy is evaluated at delivery, against the grants
// recorded at creation.
func Readable(ctx context.Context, h domain.Webhook, c domain.Change) bool {
	switch {
	case c.Workspace == h.Workspace:
	case c.Workspace == "" && c.Kind == domain.KindAPIKey && keyBoundIn(c, h.Workspace):
	default:
		return false
	}
	grants := h.Grants
	if len(grants) == 0 {
		grants = []domain.Binding{{Role: domain.RoleAdmin, Workspace: h.Workspace, Scope: domain.WorkspaceScope()}}
	}
	creator := auth.Principal{Actor: "webhook/" + h.Name, Key: domain.APIKey{ID: "webhook/" + h.Workspace + "/" + h.Name, Name: "creator of webhook " + h.Name, Bindings: grants}}
	return auth.Authorize(auth.WithPrincipal(ctx, creator), ListChangesProcedure, auth.Request{"workspace": c.Workspace}) == nil
}

// keyBoundIn reports whether the key of an apikey change has a binding in
// workspace ws, before or after the change.
func keyBoundIn(c domain.Change, ws string) bool {
	for _, doc := range []json.RawMessage{c.After, c.Before} {
		var k domain.APIKey
		if doc == nil || json.Unmarshal(doc, &k) != nil {
			continue
		}
		for _, b := range k.Bindings {
			if b.Workspace == ws {
				return true
			}
		}
	}
	return false
}
