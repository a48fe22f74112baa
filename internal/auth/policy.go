package auth

// The policy table: every Connect procedure and every plain HTTP route the
// server serves, with the permission it needs and how to find the resource
// it touches in the request. Authorize consults only this table; a procedure
// or route missing from it is denied, and the authorization matrix test in
// internal/server fails until it has an entry.
//
// # Adding an entry
//
// When a service gains an RPC (FlagService, VersionService and the like when
// their branches merge), add one line per procedure below, keyed by its
// generated constant's value "/flagops.v1.Service/Method":
//
//	"/flagops.v1.FlagService/PutFlag":       {FlagsWrite, inWorkspace},
//	"/flagops.v1.VersionService/ReportVersion": {VersionsReport, atDeployment},
//
// Pick the permission verb from roles.go (catalog.read, catalog.write,
// facts.write, secrets.read, flags.evaluate, versions.report…; add a verb
// there, and to the roles that should hold it, if none fits), and a resource
// function from resources.go: inWorkspace for whole-workspace operations,
// atScope for requests with a "scope" field, atDeployment for "project" and
// "target" fields, atEnvironment for an "environment" field, global for
// server-wide reads, and so on. A plain route is keyed by its mux pattern
// ("GET /ofrep/v1/evaluate/flags/{key}").
var policy = map[string]Rule{
	// Operator endpoints. Probes are public so that load balancers and
	// orchestrators need no key; metrics are not.
	"GET /healthz": {Public, nothing},
	"GET /readyz":  {Public, nothing},
	"GET /metrics": {MetricsRead, global},

	// CatalogService. Reading one object is scoped to it (an agent bound to
	// a target may read that target); lists and writes span the workspace.
	"/flagops.v1.CatalogService/PutWorkspace":         {CatalogWrite, namedWorkspace},
	"/flagops.v1.CatalogService/GetWorkspace":         {CatalogRead, namedWorkspace},
	"/flagops.v1.CatalogService/ListWorkspaces":       {CatalogRead, global},
	"/flagops.v1.CatalogService/DeleteWorkspace":      {CatalogWrite, namedWorkspace},
	"/flagops.v1.CatalogService/PutEnvironment":       {CatalogWrite, inWorkspace},
	"/flagops.v1.CatalogService/GetEnvironment":       {CatalogRead, namedEnvironment},
	"/flagops.v1.CatalogService/ListEnvironments":     {CatalogRead, inWorkspace},
	"/flagops.v1.CatalogService/DeleteEnvironment":    {CatalogWrite, inWorkspace},
	"/flagops.v1.CatalogService/PutTarget":            {CatalogWrite, inWorkspace},
	"/flagops.v1.CatalogService/GetTarget":            {CatalogRead, namedTarget},
	"/flagops.v1.CatalogService/ListTargets":          {CatalogRead, inWorkspace},
	"/flagops.v1.CatalogService/DeleteTarget":         {CatalogWrite, inWorkspace},
	"/flagops.v1.CatalogService/PutEnvironmentSet":    {CatalogWrite, inWorkspace},
	"/flagops.v1.CatalogService/GetEnvironmentSet":    {CatalogRead, inWorkspace},
	"/flagops.v1.CatalogService/ListEnvironmentSets":  {CatalogRead, inWorkspace},
	"/flagops.v1.CatalogService/DeleteEnvironmentSet": {CatalogWrite, inWorkspace},
	"/flagops.v1.CatalogService/PutProject":           {CatalogWrite, inWorkspace},
	"/flagops.v1.CatalogService/GetProject":           {CatalogRead, namedProject},
	"/flagops.v1.CatalogService/ListProjects":         {CatalogRead, inWorkspace},
	"/flagops.v1.CatalogService/DeleteProject":        {CatalogWrite, inWorkspace},
	"/flagops.v1.CatalogService/GetDeployment":        {CatalogRead, atDeployment},
	"/flagops.v1.CatalogService/ListDeployments":      {CatalogRead, inWorkspace},

	// FactService. A key bound to a project, environment or target reads and
	// writes the facts of the scopes inside it.
	"/flagops.v1.FactService/SetFacts":     {FactsWrite, atScope},
	"/flagops.v1.FactService/UnsetFacts":   {FactsWrite, atScope},
	"/flagops.v1.FactService/GetFacts":     {FactsRead, atScope},
	"/flagops.v1.FactService/BulkSetFacts": {FactsWrite, atEntryScopes},
	"/flagops.v1.FactService/ResolveFacts": {FactsRead, atDeployment},
	"/flagops.v1.FactService/FactHistory":  {FactsRead, atScope},

	// ChangeService. The log spans the workspace (and lists every workspace
	// when the request names none).
	"/flagops.v1.ChangeService/GetRevision": {ChangesRead, global},
	"/flagops.v1.ChangeService/ListChanges": {ChangesRead, changesWorkspace},
	"/flagops.v1.ChangeService/Watch":       {ChangesRead, watchWorkspace},
	"/flagops.v1.ChangeService/Compact":     {ChangesAdmin, allWorkspaces},

	// SecretService. Only GetSecret and ReadDeploymentSecrets return values.
	"/flagops.v1.SecretService/PutSecret":             {SecretsWrite, atScope},
	"/flagops.v1.SecretService/GetSecret":             {SecretsRead, atScope},
	"/flagops.v1.SecretService/ListSecrets":           {SecretsList, atScopeOrWorkspace},
	"/flagops.v1.SecretService/ListSecretVersions":    {SecretsList, atScope},
	"/flagops.v1.SecretService/DeleteSecret":          {SecretsWrite, atScope},
	"/flagops.v1.SecretService/RestoreSecret":         {SecretsWrite, atScope},
	"/flagops.v1.SecretService/DestroySecretVersion":  {SecretsWrite, atScope},
	"/flagops.v1.SecretService/ListSecretReads":       {SecretsAudit, atScopeOrWorkspace},
	"/flagops.v1.SecretService/ResolveSecrets":        {SecretsList, atDeployment},
	"/flagops.v1.SecretService/ReadDeploymentSecrets": {SecretsRead, atDeployment},
	"/flagops.v1.SecretService/RotateMasterKey":       {SecretsAdmin, allWorkspaces},

	// AccessService. Keys are server-wide; creating one needs access.write
	// over every binding it grants, so an admin of project/shop can hand out
	// keys for project/shop and nothing wider.
	"/flagops.v1.AccessService/CreateKey": {AccessWrite, bindingsOf},
	"/flagops.v1.AccessService/ListKeys":  {AccessRead, allWorkspaces},
	"/flagops.v1.AccessService/RevokeKey": {AccessWrite, allWorkspaces},
	"/flagops.v1.AccessService/WhoAmI":    {Self, nothing},
}

func init() {
	// The tables of the services merged after auth live in policy_*.go, one
	// file per area, so that no file grows past review size.
	for _, t := range []map[string]Rule{flagPolicy, versionPolicy, integrationPolicy, applyPolicy, uiPolicy} {
		for k, r := range t {
			if _, dup := policy[k]; dup {
				panic("auth: two policy entries for " + k)
			}
			policy[k] = r
		}
	}
}

// Rule is one entry of the policy table.
type Rule struct {
	// Permission is what the caller's role must grant.
	Permission Permission
	// Resources returns what the request touches; the caller needs a
	// binding granting Permission that covers each of them.
	Resources func(req any) ([]Resource, error)
}

// RuleFor returns the policy entry of a procedure or route.
func RuleFor(procedure string) (Rule, bool) {
	r, ok := policy[procedure]
	return r, ok
}

// Procedures returns every procedure and route the policy names.
func Procedures() []string {
	out := make([]string, 0, len(policy))
	for p := range policy {
		out = append(out, p)
	}
	return out
}
