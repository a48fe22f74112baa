package domain

import "time"

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
	Workspace string        `json:"workspace,omitempty"`
	Name      string        `json:"name"`
	URL       string        `json:"url"`
	Type      string        `json:"type"`
	Filter    WebhookFilter `json:"filter"`
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
	Workspace string    `json:"workspace,omitempty"`
	Name      string    `json:"name"`
	TokenHash []byte    `json:"-"`
	Revision  int64     `json:"revision,omitempty"`
	CreatedAt time.Time `json:"createdAt,omitzero"`
}
