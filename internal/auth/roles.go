package auth

import (
	"slices"

	"github.com/flagops/flagops/internal/domain"
)

// Permission is a verb on a kind of resource. Policy entries name exactly
// one; roles are sets of them. The verbs are coarse on purpose: a reviewer
// can read this file and the policy table and know who may do what.
type Permission string

// The permissions.
const (
	// Public routes need no key at all (/healthz, /readyz).
	Public Permission = "public"
	// Self is any valid key asking about itself (whoami).
	Self Permission = "self"
	// EachObject is any valid key sending a request of many objects
	// (ApplyService/Apply): the handler then authorizes each object with
	// the policy entry of the RPC that writes it alone, so a key may apply
	// exactly what it may write.
	EachObject Permission = "each-object"

	CatalogRead  Permission = "catalog.read"
	CatalogWrite Permission = "catalog.write"
	FactsRead    Permission = "facts.read"
	FactsWrite   Permission = "facts.write"
	// ChangesRead covers the change log: history, revision and Watch. The
	// log carries no secret values, so it needs no secret permission.
	ChangesRead  Permission = "changes.read"
	ChangesAdmin Permission = "changes.admin" // compaction

	// SecretsList shows keys, versions and fingerprints, never values.
	SecretsList  Permission = "secrets.list"
	SecretsRead  Permission = "secrets.read" // values; every read is audited
	SecretsWrite Permission = "secrets.write"
	SecretsAudit Permission = "secrets.audit"
	SecretsAdmin Permission = "secrets.admin" // master key rotation

	AccessRead  Permission = "access.read"
	AccessWrite Permission = "access.write"

	MetricsRead Permission = "metrics.read"

	// For the flag and version services merged from other branches.
	FlagsRead      Permission = "flags.read"
	FlagsWrite     Permission = "flags.write"
	FlagsEvaluate  Permission = "flags.evaluate" // OFREP and provider sync
	VersionsRead   Permission = "versions.read"
	VersionsWrite  Permission = "versions.write"
	VersionsReport Permission = "versions.report" // agents report what is deployed
	// PromotionsApprove approves or rejects a promotion waiting for one.
	PromotionsApprove Permission = "promotions.approve"

	// Integrations are webhooks and inbound fact hooks. Creating or
	// deleting one is an administrator's act: it decides where change data
	// goes and who may write facts from outside.
	IntegrationsRead  Permission = "integrations.read"
	IntegrationsWrite Permission = "integrations.write" // redelivery
	IntegrationsAdmin Permission = "integrations.admin"
)

// rolePermissions is the role table. admin holds every permission; the
// others are listed. A new permission is given to admin automatically and
// to the other roles only by adding it here.
var rolePermissions = map[domain.Role][]Permission{
	domain.RoleEditor: {CatalogRead, CatalogWrite, FactsRead, FactsWrite, ChangesRead, ChangesAdmin,
		SecretsList, SecretsWrite, SecretsAudit, MetricsRead,
		FlagsRead, FlagsWrite, FlagsEvaluate, VersionsRead, VersionsWrite, VersionsReport, PromotionsApprove,
		IntegrationsRead, IntegrationsWrite},
	// A viewer may evaluate flags (Evaluate, OFREP): it reads the flags
	// already, and evaluation changes nothing.
	domain.RoleViewer: {CatalogRead, FactsRead, ChangesRead, SecretsList, SecretsAudit, MetricsRead,
		FlagsRead, FlagsEvaluate, VersionsRead, IntegrationsRead},
	domain.RoleSecretReader: {SecretsList, SecretsRead},
	domain.RoleAgent: {CatalogRead, FactsRead, SecretsList, SecretsRead, FlagsRead, FlagsEvaluate,
		VersionsRead, VersionsReport},
	domain.RoleEvaluator: {FlagsEvaluate},
}

// RoleHas reports whether role grants p. Public, Self and EachObject are
// granted to every role.
func RoleHas(role domain.Role, p Permission) bool {
	switch {
	case p == Public || p == Self || p == EachObject:
		return true
	case role == domain.RoleAdmin:
		return true
	}
	return slices.Contains(rolePermissions[role], p)
}
