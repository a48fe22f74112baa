package domain

import (
	"encoding/json"
	"slices"
	"strings"
	"time"

	"github.com/flagops/flagops/internal/errs"
)

// Kinds of the access and secret resources in the change log.
const (
	// KindAPIKey entries carry the key's name, bindings, expiry and
	// revocation, never its token or the token's hash.
	KindAPIKey = "apikey"
	// KindSecret entries carry only SecretState: version numbers and the
	// keyed fingerprint, never a value or a ciphertext.
	KindSecret = "secret"
)

// Role names a set of permissions (see internal/auth).
type Role string

// The roles.
const (
	RoleAdmin        Role = "admin"
	RoleEditor       Role = "editor"
	RoleViewer       Role = "viewer"
	RoleSecretReader Role = "secret-reader"
	RoleAgent        Role = "agent"
	RoleEvaluator    Role = "evaluator"
)

// Roles lists every role, for validation and documentation.
var Roles = []Role{RoleAdmin, RoleEditor, RoleViewer, RoleSecretReader, RoleAgent, RoleEvaluator}

// AllWorkspaces in a binding's Workspace grants the role in every workspace.
const AllWorkspaces = "*"

// Binding grants Role on Scope inside Workspace. Scope is one of workspace,
// project/P, environment/E or target/T.
type Binding struct {
	Role      Role
	Workspace string
	Scope     Scope
}

type bindingJSON struct {
	Role      Role   `json:"role"`
	Workspace string `json:"workspace"`
	Scope     string `json:"scope"`
}

// MarshalJSON writes the scope as users write it.
func (b Binding) MarshalJSON() ([]byte, error) {
	return json.Marshal(bindingJSON{Role: b.Role, Workspace: b.Workspace, Scope: b.Scope.String()})
}

// UnmarshalJSON reads what MarshalJSON writes.
func (b *Binding) UnmarshalJSON(data []byte) error {
	var j bindingJSON
	if err := json.Unmarshal(data, &j); err != nil {
		return err
	}
	sc, err := ParseScope(j.Scope)
	if err != nil {
		return err
	}
	*b = Binding{Role: j.Role, Workspace: j.Workspace, Scope: sc}
	return nil
}

// Validate checks the role, the workspace and that the scope is one a
// binding may name.
func (b Binding) Validate() error {
	if !slices.Contains(Roles, b.Role) {
		return errs.Field("role", "unknown role %s; roles are %v", errs.Quote(b.Role), Roles)
	}
	if b.Workspace != AllWorkspaces {
		if err := ValidateName("workspace", b.Workspace); err != nil {
			return err
		}
	}
	switch b.Scope.Kind {
	case ScopeWorkspace, ScopeProject, ScopeEnvironment, ScopeTarget:
	default:
		return errs.Field("scope", "a binding's scope is workspace, project/P, environment/E or target/T, not %s", errs.Quote(b.Scope.String()))
	}
	return b.Scope.Validate()
}

// ParseBinding reads ROLE@SCOPE or WORKSPACE:ROLE@SCOPE ("*:admin@workspace"
// for every workspace); a bare ROLE means ROLE@workspace.
func ParseBinding(s string) (Binding, error) {
	b := Binding{Workspace: DefaultWorkspace}
	if ws, rest, ok := strings.Cut(s, ":"); ok {
		b.Workspace, s = ws, rest
	}
	role, scope, ok := strings.Cut(s, "@")
	if !ok {
		scope = "workspace"
	}
	b.Role = Role(role)
	sc, err := ParseScope(scope)
	if err != nil {
		return Binding{}, err
	}
	b.Scope = sc
	return b, b.Validate()
}

// String writes the binding the way the CLI reads it: ROLE@SCOPE, with the
// workspace in front when it is not the default ("ops:viewer@project/shop").
func (b Binding) String() string {
	s := string(b.Role) + "@" + b.Scope.String()
	if b.Workspace != DefaultWorkspace {
		s = b.Workspace + ":" + s
	}
	return s
}

// APIKey is an API key without its token. ID is public (it appears in the
// change log); the token is shown once, at creation, and only its hash is
// kept.
type APIKey struct {
	ID         string    `json:"id"`
	Name       string    `json:"name"`
	Bindings   []Binding `json:"bindings"`
	ExpiresAt  time.Time `json:"expiresAt,omitzero"`
	LastUsedAt time.Time `json:"lastUsedAt,omitzero"`
	RevokedAt  time.Time `json:"revokedAt,omitzero"`
	CreatedAt  time.Time `json:"createdAt"`
	CreatedBy  string    `json:"createdBy,omitempty"`
	Revision   int64     `json:"revision"`
}

// Usable reports whether the key may authenticate at now: not revoked and
// not expired.
func (k APIKey) Usable(now time.Time) bool {
	return k.RevokedAt.IsZero() && (k.ExpiresAt.IsZero() || now.Before(k.ExpiresAt))
}

// SecretState is everything about a secret that may leave the server without
// its value: it is what change entries of kind "secret" carry.
type SecretState struct {
	Version     int64  `json:"version"`
	Fingerprint string `json:"fingerprint"`
	Deleted     bool   `json:"deleted"`
	// Destroyed names the version a destroy removed (change entries only).
	Destroyed int64 `json:"destroyed,omitempty"`
}

// Secret is a secret's metadata: its current version and fingerprint.
type Secret struct {
	Scope       Scope
	Key         string
	Version     int64
	Fingerprint string
	Deleted     bool
	Revision    int64
	UpdatedAt   time.Time
}

// SecretVersion is one version of a secret, without its value.
type SecretVersion struct {
	Version     int64
	Fingerprint string
	KeyID       string
	CreatedAt   time.Time
	CreatedBy   string
	Destroyed   bool
	Revision    int64
}

// SecretRead is one audited read of a secret value.
type SecretRead struct {
	Time      time.Time
	Actor     string
	RequestID string
	Workspace string
	Scope     string
	Key       string
	Version   int64
}

// SecretChangeKey is the change-log key of a secret: "SCOPE:KEY".
func SecretChangeKey(s Scope, key string) string { return s.String() + ":" + key }

// MaxSecretValue caps a secret value.
const MaxSecretValue = 64 << 10
