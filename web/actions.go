package web

import (
	"encoding/json"
	"net/http"
	"strconv"
	"strings"

	"connectrpc.com/connect"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/types/known/structpb"

	flagopsv1 "github.com/flagops/flagops/gen/flagops/v1"
)

// action runs one change a page's form or control asks for. Every change
// is one API call (or a read and a conditional write) with the session's
// key; withSession has checked the CSRF token already. A form posted by
// the browser gets a redirect back (with the outcome as a one-shot
// message); the page's script posts with X-Requested-With and gets JSON.
func (u *UI) action(w http.ResponseWriter, r *http.Request, v *view) {
	ctx := v.ctx()
	name := r.PathValue("action")
	var (
		err error
		msg string
	)
	switch name {
	case "workspace":
		ws := trimmed(r, "workspace")
		if ws == "" {
			ws = "default"
		}
		u.sessions.update(v.sess, func(s *session) { s.workspace = ws })
		msg = "Workspace " + ws + "."
	case "flag-toggle":
		on := r.PostFormValue("on") == "true"
		err = v.toggleFlag(ctx, trimmed(r, "project"), trimmed(r, "key"), trimmed(r, "env"), on)
		msg = "Turned " + trimmed(r, "key") + map[bool]string{true: " on", false: " off"}[on] + " in " + trimmed(r, "env") + "."
	case "flag-save":
		u.saveFlag(w, r, v)
		return
	case "schedule-cancel":
		_, err = v.c.flags.CancelSchedule(ctx, connect.NewRequest(&flagopsv1.CancelScheduleRequest{Workspace: v.ws, Project: trimmed(r, "project"), Id: trimmed(r, "id")}))
		msg = "Cancelled the schedule."
	case "fact-set":
		val := &structpb.Value{}
		raw := strings.TrimSpace(r.PostFormValue("value"))
		if perr := protojson.Unmarshal([]byte(raw), val); perr != nil {
			// A bare word is taken as a string, as people type them.
			val = structpb.NewStringValue(raw)
		}
		key := trimmed(r, "key")
		_, err = v.c.facts.SetFacts(ctx, connect.NewRequest(&flagopsv1.SetFactsRequest{Workspace: v.ws, Scope: trimmed(r, "scope"),
			Values: map[string]*structpb.Value{key: val}}))
		msg = "Set " + key + " at " + trimmed(r, "scope") + "."
	case "fact-unset":
		_, err = v.c.facts.UnsetFacts(ctx, connect.NewRequest(&flagopsv1.UnsetFactsRequest{Workspace: v.ws, Scope: trimmed(r, "scope"), Keys: []string{trimmed(r, "key")}}))
		msg = "Unset " + trimmed(r, "key") + " at " + trimmed(r, "scope") + "."
	case "secret-put":
		// The value goes to the API and nowhere else: not into the
		// message, the redirect or the log.
		_, err = v.c.secrets.PutSecret(ctx, connect.NewRequest(&flagopsv1.PutSecretRequest{Workspace: v.ws, Scope: trimmed(r, "scope"),
			Key: trimmed(r, "key"), Value: []byte(r.PostFormValue("value"))}))
		msg = "Stored a new version of secret " + trimmed(r, "key") + "."
	case "version-set":
		_, err = v.c.versions.SetVersion(ctx, connect.NewRequest(&flagopsv1.SetVersionRequest{Workspace: v.ws, Project: trimmed(r, "project"),
			Environment: trimmed(r, "environment"), Target: trimmed(r, "target"), Version: trimmed(r, "version"), Reason: trimmed(r, "reason")}))
		msg = "Set " + trimmed(r, "project") + " to " + trimmed(r, "version") + "."
	case "version-unpin":
		_, err = v.c.versions.SetVersion(ctx, connect.NewRequest(&flagopsv1.SetVersionRequest{Workspace: v.ws, Project: trimmed(r, "project"),
			Environment: trimmed(r, "environment"), Target: trimmed(r, "target"), Unpin: true, Reason: trimmed(r, "reason")}))
		msg = "Unpinned " + trimmed(r, "target") + "."
	case "version-rollback":
		_, err = v.c.versions.Rollback(ctx, connect.NewRequest(&flagopsv1.RollbackRequest{Workspace: v.ws, Project: trimmed(r, "project"),
			Environment: trimmed(r, "environment"), Target: trimmed(r, "target"), ToVersion: trimmed(r, "to_version"), Reason: trimmed(r, "reason")}))
		msg = "Rolled back " + trimmed(r, "project") + " in " + trimmed(r, "environment") + "."
	case "promotion-approve", "promotion-reject":
		id, perr := strconv.ParseInt(trimmed(r, "id"), 10, 64)
		if perr != nil {
			err = &apiError{Code: "invalid_argument", Field: "id", Message: "not a promotion id"}
			break
		}
		if name == "promotion-approve" {
			_, err = v.c.promotions.ApprovePromotion(ctx, connect.NewRequest(&flagopsv1.ApprovePromotionRequest{Workspace: v.ws, Id: id, Comment: trimmed(r, "comment")}))
			msg = "Approved promotion " + strconv.FormatInt(id, 10) + "."
		} else {
			_, err = v.c.promotions.RejectPromotion(ctx, connect.NewRequest(&flagopsv1.RejectPromotionRequest{Workspace: v.ws, Id: id, Comment: trimmed(r, "comment")}))
			msg = "Rejected promotion " + strconv.FormatInt(id, 10) + "."
		}
	case "promote":
		_, err = v.c.promotions.Promote(ctx, connect.NewRequest(&flagopsv1.PromoteRequest{Workspace: v.ws, Project: trimmed(r, "project"), From: trimmed(r, "from"), To: trimmed(r, "to")}))
		msg = "Promoted " + trimmed(r, "project") + " from " + trimmed(r, "from") + " to " + trimmed(r, "to") + "."
	case "hold":
		on := r.PostFormValue("on") == "true"
		_, err = v.c.promotions.SetHold(ctx, connect.NewRequest(&flagopsv1.SetHoldRequest{On: on, Hold: &flagopsv1.Hold{Workspace: v.ws,
			Project: trimmed(r, "project"), Environment: trimmed(r, "environment"), Reason: trimmed(r, "reason")}}))
		msg = holdMessage(trimmed(r, "project"), trimmed(r, "environment"), on)
	case "key-create":
		u.createKey(w, r, v)
		return
	case "key-revoke":
		_, err = v.c.access.RevokeKey(ctx, connect.NewRequest(&flagopsv1.RevokeKeyRequest{Key: trimmed(r, "key")}))
		msg = "Revoked key " + trimmed(r, "key") + "."
	case "webhook-delete":
		_, err = v.c.webhooks.DeleteWebhook(ctx, connect.NewRequest(&flagopsv1.DeleteWebhookRequest{Workspace: v.ws, Name: trimmed(r, "name")}))
		msg = "Deleted webhook " + trimmed(r, "name") + "."
	case "facthook-delete":
		_, err = v.c.webhooks.DeleteFactHook(ctx, connect.NewRequest(&flagopsv1.DeleteFactHookRequest{Workspace: v.ws, Name: trimmed(r, "name")}))
		msg = "Deleted fact hook " + trimmed(r, "name") + "."
	default:
		http.Error(w, "no action "+strconv.Quote(name), http.StatusNotFound)
		return
	}
	u.answer(w, r, v, msg, err)
}

func holdMessage(project, env string, on bool) string {
	verb := map[bool]string{true: "Paused", false: "Resumed"}[on]
	switch {
	case project == "":
		return map[bool]string{true: "Stopped", false: "Restarted"}[on] + " the line of the workspace."
	case env == "":
		return map[bool]string{true: "Stopped", false: "Restarted"}[on] + " the line of " + project + "."
	}
	return verb + " promotion of " + project + " into " + env + "."
}

// actionResult is the JSON answer of an action posted by the page's script.
type actionResult struct {
	OK      bool   `json:"ok"`
	Message string `json:"message"`
	Field   string `json:"field,omitempty"`
	Code    string `json:"code,omitempty"`
}

// answer reports an action's outcome: JSON to the page's script, else a
// redirect back to the page with a one-shot message.
func (u *UI) answer(w http.ResponseWriter, r *http.Request, v *view, msg string, err error) {
	res := actionResult{OK: err == nil, Message: msg}
	status := http.StatusOK
	if err != nil {
		ae, ok := err.(*apiError)
		if !ok {
			ae = toAPIError(err)
		}
		res.Message, res.Field, res.Code = ae.Message, ae.Field, ae.Code
		if ae.Field != "" {
			res.Message = ae.Field + ": " + ae.Message
		}
		status = http.StatusBadRequest
		if denied(err) || ae.Code == connect.CodePermissionDenied.String() {
			status = http.StatusForbidden
		}
	}
	if r.Header.Get("X-Requested-With") == "fetch" {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		_ = json.NewEncoder(w).Encode(res)
		return
	}
	u.sessions.update(v.sess, func(s *session) {
		if res.OK {
			s.flash = res.Message
		} else {
			s.flashErr = res.Message
		}
	})
	http.Redirect(w, r, localPath(r.PostFormValue("return")), http.StatusSeeOther)
}
