package domain

import (
	"net/url"
	"strings"
	"time"
)

// Kinds of the integration resources in the change log.
const (
	KindWebhook  = "webhook"
	KindFactHook = "facthook"
)

// Webhook types: how a delivery is signed and shaped.
const (
	// WebhookGeneric posts CloudEvents signed with X-Flagops-Signature.
	WebhookGeneric = "generic"
	// WebhookFlux posts to a Flux notification-controller Receiver of type
	// generic-hmac, signed with X-Signature.
	WebhookFlux = "flux-generic-hmac"
)

// WebhookFilter selects the changes a webhook receives. Every non-empty list
// must match; an empty list matches everything. A change that says nothing
// about a dimension (a workspace fact has no project) does not match a
// non-empty list of that dimension.
type WebhookFilter struct {
	Kinds        []string `json:"kinds,omitempty"`
	Projects     []string `json:"projects,omitempty"`
	Environments []string `json:"environments,omitempty"`
	Targets      []string `json:"targets,omitempty"`
}

// Cursor is a position in the change log: everything up to and including
// (Revision, Seq) has been handled.
type Cursor struct {
	Revision int64 `json:"revision"`
	Seq      int   `json:"seq"`
}

// CursorAfterRevision is the cursor that has handled all of rev.
func CursorAfterRevision(rev int64) Cursor { return Cursor{Revision: rev, Seq: MaxSeq} }

// MaxSeq is larger than any change's Seq.
const MaxSeq = 1 << 30

// Before reports whether change (rev, seq) comes after the cursor.
func (c Cursor) Before(rev int64, seq int) bool {
	return rev > c.Revision || (rev == c.Revision && seq > c.Seq)
}

// Webhook is an outbound subscription to the change log. Secret signs the
// deliveries; it is tagged json:"-" so it never reaches the change log, and
// the API returns it only from the create call.
type Webhook struct {
	Workspace string `json:"workspace,omitempty"`
	Name      string `json:"name"`
	// URL is the receiver's URL on its way in (create); read back from the
	// store, and so in every listing, change entry and event, it has its
	// credentials redacted (RedactURL). The whole URL is kept sealed in
	// SealedURL and opened only to deliver.
	URL    string        `json:"url"`
	Type   string        `json:"type"`
	Filter WebhookFilter `json:"filter"`
	// SealedURL is the stored, sealed form of a URL with credentials (base64
	// of secrets.Sealed.Marshal), or "" when the URL has none; only the
	// store opens it.
	SealedURL string `json:"-"`
	// Grants are the bindings of the key that created the subscription, as
	// they were then: it receives only the changes those bindings may read
	// from the change log. Empty for a subscription created before grants
	// were recorded, which is taken as created by an administrator of its
	// workspace, the least CreateWebhook required.
	Grants []Binding `json:"-"`
	// Secret is the signing secret in plain text. It is set only on its
	// way in (create), out (the create response) and, in memory, by the
	// dispatcher that signs with it; the store keeps it sealed in
	// SealedSecret and never returns it.
	Secret string `json:"-"`
	// SealedSecret is the stored, sealed form of Secret (base64 of
	// secrets.Sealed.Marshal); only the store opens it.
	SealedSecret string    `json:"-"`
	Revision     int64     `json:"revision,omitempty"`
	CreatedAt    time.Time `json:"createdAt,omitzero"`
	// Cursor is the delivery position; it moves outside the change log.
	Cursor Cursor `json:"-"`
}

// Delivery states.
const (
	DeliveryRetrying  = "retrying"
	DeliverySucceeded = "succeeded"
	// DeliveryParked is an event the dispatcher gave up on after its retry
	// budget: the subscription moved past it, and a redelivery from it
	// sends it again.
	DeliveryParked = "parked"
)

// Delivery is one event sent (or being sent) to one webhook: the attempts it
// took and how the last one ended.
type Delivery struct {
	ID        string `json:"id"`
	Webhook   string `json:"webhook"`
	Revision  int64  `json:"revision"`
	Seq       int    `json:"seq"`
	EventType string `json:"eventType"`
	Status    string `json:"status"`
	Attempts  int    `json:"attempts"`
	// LastError is the error of the latest failed attempt; it stays after a
	// later success, so the log shows what the receiver went through.
	LastError    string    `json:"lastError,omitempty"`
	ResponseCode int       `json:"responseCode,omitempty"`
	CreatedAt    time.Time `json:"createdAt"`
	UpdatedAt    time.Time `json:"updatedAt"`
}

// FactHook is an inbound endpoint that sets facts, authenticated by its own
// token. Only the token's hash is stored, and never in the change log.
type FactHook struct {
	Workspace string `json:"workspace,omitempty"`
	Name      string `json:"name"`
	// Scopes are the scope patterns (ParseScopePattern) the hook may write
	// facts to; a hook with none may write nothing.
	Scopes    []string  `json:"scopes"`
	TokenHash []byte    `json:"-"`
	Revision  int64     `json:"revision,omitempty"`
	CreatedAt time.Time `json:"createdAt,omitzero"`
}

// RedactedPart replaces the secret parts of a URL in what flagops shows.
const RedactedPart = "***"

// RedactURL returns raw with the parts that commonly carry credentials
// replaced by RedactedPart, and whether it replaced any: the password of
// the userinfo (the user name too when there is no password, since a lone
// user name is usually a token), every query value (a parameter without a
// value as a whole) and the fragment. Scheme, host, port, path and query
// parameter names stay, so the URL is still recognisable:
// https://user:***@host/path?token=***. A URL that does not parse is
// RedactedPart whole. Secrets in the path (some receivers put a token
// there) are not recognised; put credentials in the userinfo or the query.
func RedactURL(raw string) (string, bool) {
	u, err := url.Parse(raw)
	if err != nil {
		return RedactedPart, true
	}
	secret := false
	// The userinfo is written by hand: url.URL.String would escape the
	// asterisks.
	userinfo := ""
	if u.User != nil {
		userinfo = RedactedPart + "@"
		if _, has := u.User.Password(); has {
			userinfo = url.User(u.User.Username()).String() + ":" + RedactedPart + "@"
		}
		u.User = nil
		secret = true
	}
	if u.RawQuery != "" {
		parts := strings.Split(u.RawQuery, "&")
		for i, p := range parts {
			if name, _, ok := strings.Cut(p, "="); ok {
				parts[i] = name + "=" + RedactedPart
			} else if p != "" {
				parts[i] = RedactedPart
			}
		}
		u.RawQuery = strings.Join(parts, "&")
		secret = true
	}
	if u.Fragment != "" || u.RawFragment != "" {
		u.Fragment, u.RawFragment = RedactedPart, ""
		secret = true
	}
	out := u.String()
	if prefix := u.Scheme + "://"; userinfo != "" && strings.HasPrefix(out, prefix) {
		out = prefix + userinfo + out[len(prefix):]
	}
	return out, secret
}
