// Package render builds what Argo CD's config management plugin needs to
// render a deployment's manifests, and renders them.
//
// The server half is Service.Bundle: one call returns everything a template
// may read about a deployment (resolved facts, evaluated flags, the desired
// and deployed version, and the secrets the templates ask for), together with
// an InputsHash that changes exactly when the rendered output can change. The
// client half (Render, ParseArgoEnv, Client) runs inside the plugin sidecar:
// it reads Argo CD's build environment, fetches the bundle in one request and
// renders the *.tmpl files of the application's source directory.
//
// Flags, versions and secrets are reached through the small interfaces
// declared here (FlagEvaluator, VersionReader, SecretReader), so that this
// package depends on none of their implementations; a nil implementation
// means "no flags", "no version" and "secrets unavailable".
package render

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"regexp"
	"slices"
	"strconv"

	"github.com/flagops/flagops/internal/auth"
	"github.com/flagops/flagops/internal/domain"
	"github.com/flagops/flagops/internal/errs"
	"github.com/flagops/flagops/internal/eval"
)

// BundleRoute is the plain HTTP route of the bundle, and the procedure
// auth.Authorize is asked about for it.
const BundleRoute = "POST /v1/render/bundle"

// SecretsProcedure is the procedure auth.Authorize is asked about, with the
// decoded *BundleRequest, before any secret is read for a bundle. The route
// itself only needs the right to read the deployment; reading secret values
// is a separate, stronger right that the authorization policy grants apart.
const SecretsProcedure = "POST /v1/render/bundle#secrets"

// MaxSecretKeys caps the secrets one bundle may ask for.
const MaxSecretKeys = 256

// FactResolver resolves the facts of a deployment; *store.Store and
// *service.Facts implement it. It returns errs.NotFound when the deployment
// does not exist.
type FactResolver interface {
	ResolveFacts(ctx context.Context, ws, project, target string) (domain.Resolved, error)
}

// FlagEvaluator evaluates every flag of a project in one environment against
// evalCtx and returns the results by flag key and the revision of the flag
// snapshot used. The flags branch implements it over its per-environment
// snapshots.
type FlagEvaluator interface {
	EvaluateAll(ctx context.Context, ws, project, env string, evalCtx eval.Context) (map[string]eval.Result, int64, error)
}

// VersionReader returns the desired and deployed version of a deployment
// ("" when not set). The versions branch implements it.
type VersionReader interface {
	Desired(ctx context.Context, ws, project, target string) (desired, deployed string, err error)
}

// SecretReader returns the values of the named secrets of a deployment,
// resolved like facts (most specific scope wins). It must audit the read,
// and fail with errs.NotFound naming a key that does not exist. The secrets
// branch implements it.
type SecretReader interface {
	ResolveSecrets(ctx context.Context, ws, project, target string, keys []string) (map[string]string, error)
}

// RevisionReader reports the last revision of the change log the server has
// seen; *watch.Hub implements it.
type RevisionReader interface {
	Revision() int64
}

// Deps are what a Service reads from. Facts is required; any other may be
// nil.
type Deps struct {
	Facts    FactResolver
	Flags    FlagEvaluator
	Versions VersionReader
	Secrets  SecretReader
	Revision RevisionReader
}

// Service builds bundles. It is safe for concurrent use.
type Service struct {
	deps Deps
}

// NewService returns the bundle use case over deps.
func NewService(deps Deps) *Service { return &Service{deps: deps} }

// BundleRequest asks for the bundle of one deployment. Context holds what
// the caller knows about the render (Argo CD's application name, revision,
// parameters…); it is added to the flag evaluation context, where it wins
// over facts, except for the built-ins project, environment, target and
// version. Secrets lists the secret keys the templates refer to, and nothing
// more.
type BundleRequest struct {
	Workspace string         `json:"workspace,omitempty"`
	Project   string         `json:"project"`
	Target    string         `json:"target"`
	Context   map[string]any `json:"context,omitempty"`
	Secrets   []string       `json:"secrets,omitempty"`
}

// AuthDeployment names the deployment req is about, for the authorization
// policy (auth.DeploymentRequest). The workspace is defaulted by validate.
func (req *BundleRequest) AuthDeployment() (workspace, project, target string) {
	return req.Workspace, req.Project, req.Target
}

var _ auth.DeploymentRequest = (*BundleRequest)(nil)

// Bundle is everything a template may read about one deployment.
type Bundle struct {
	// Revision is a change-log revision the bundle is at least as new as.
	Revision   int64                      `json:"revision"`
	Deployment Deployment                 `json:"deployment"`
	Facts      map[string]json.RawMessage `json:"facts"`
	Sources    map[string]string          `json:"sources"`
	Flags      map[string]FlagValue       `json:"flags"`
	Version    *Version                   `json:"version"`
	Secrets    map[string]string          `json:"secrets,omitempty"`
	// InputsHash is InputsHash(facts, flags, version): it changes exactly
	// when what a template can read (secrets aside) changes.
	InputsHash string `json:"inputsHash"`
}

// Deployment names the deployment a bundle is about.
type Deployment struct {
	Workspace   string `json:"workspace"`
	Project     string `json:"project"`
	Environment string `json:"environment"`
	Target      string `json:"target"`
}

// FlagValue is one evaluated flag. Value is null when the flag served no
// variation (disabled without an off variation, or an evaluation error,
// which Error then names).
type FlagValue struct {
	Value   any    `json:"value"`
	Variant string `json:"variant,omitempty"`
	Reason  string `json:"reason"`
	Error   string `json:"error,omitempty"`
}

// Version is the desired and deployed version of a deployment.
type Version struct {
	Desired  string `json:"desired"`
	Deployed string `json:"deployed"`
}

// Bundle builds the bundle of req's deployment.
//
// Secrets are read only when req asks for some; they then need the
// SecretsProcedure permission and a SecretReader, else the call fails
// (errs.FailedPrecondition when the server has no secrets, errs.Denied from
// the policy) rather than rendering without them.
func (s *Service) Bundle(ctx context.Context, req *BundleRequest) (*Bundle, error) {
	if err := req.validate(); err != nil {
		return nil, err
	}
	var rev int64
	if s.deps.Revision != nil {
		// Read before anything else: every read below sees at least this.
		rev = s.deps.Revision.Revision()
	}
	res, err := s.deps.Facts.ResolveFacts(ctx, req.Workspace, req.Project, req.Target)
	if err != nil {
		return nil, fmt.Errorf("bundle of %s@%s: %w", req.Project, req.Target, err)
	}
	b := &Bundle{
		Revision:   max(rev, res.Revision),
		Deployment: Deployment{Workspace: req.Workspace, Project: req.Project, Environment: res.Environment, Target: req.Target},
		Facts:      res.Facts, Sources: res.Sources, Flags: map[string]FlagValue{},
	}
	if s.deps.Versions != nil {
		desired, deployed, err := s.deps.Versions.Desired(ctx, req.Workspace, req.Project, req.Target)
		if err != nil {
			return nil, fmt.Errorf("bundle of %s@%s: read version: %w", req.Project, req.Target, err)
		}
		b.Version = &Version{Desired: desired, Deployed: deployed}
	}
	if s.deps.Flags != nil {
		results, frev, err := s.deps.Flags.EvaluateAll(ctx, req.Workspace, req.Project, res.Environment, evalContext(req, b))
		if err != nil {
			return nil, fmt.Errorf("bundle of %s@%s: evaluate flags: %w", req.Project, req.Target, err)
		}
		b.Revision = max(b.Revision, frev)
		for k, r := range results {
			b.Flags[k] = FlagValue{Value: r.Value, Variant: r.Variant, Reason: string(r.Reason), Error: r.ErrorMessage}
		}
	}
	if b.InputsHash, err = InputsHash(b.Facts, b.Flags, b.Version); err != nil {
		return nil, fmt.Errorf("bundle of %s@%s: %w", req.Project, req.Target, err)
	}
	if len(req.Secrets) > 0 {
		if b.Secrets, err = s.secrets(ctx, req); err != nil {
			return nil, fmt.Errorf("bundle of %s@%s: %w", req.Project, req.Target, err)
		}
	}
	return b, nil
}

func (s *Service) secrets(ctx context.Context, req *BundleRequest) (map[string]string, error) {
	if err := auth.Authorize(ctx, SecretsProcedure, req); err != nil {
		return nil, fmt.Errorf("read secrets %v: %w", req.Secrets, err)
	}
	if s.deps.Secrets == nil {
		return nil, errs.New(errs.FailedPrecondition, "the templates refer to secrets %v, but this server serves no secrets", req.Secrets)
	}
	vals, err := s.deps.Secrets.ResolveSecrets(ctx, req.Workspace, req.Project, req.Target, req.Secrets)
	if err != nil {
		// The reader's error names keys, never values.
		return nil, fmt.Errorf("read secrets %v: %w", req.Secrets, err)
	}
	for _, k := range req.Secrets {
		if _, ok := vals[k]; !ok {
			return nil, errs.New(errs.NotFound, "secret %q of %s@%s", k, req.Project, req.Target)
		}
	}
	return vals, nil
}

// secretKeyRE is the grammar of secret keys, the one of fact keys.
var secretKeyRE = regexp.MustCompile(`^[A-Za-z][A-Za-z0-9_-]*(\.[A-Za-z][A-Za-z0-9_-]*)*$`)

// validate checks req and fills in its defaults.
func (req *BundleRequest) validate() error {
	if req.Workspace == "" {
		req.Workspace = "default"
	}
	if err := domain.ValidateName("workspace", req.Workspace); err != nil {
		return err
	}
	if err := domain.ValidateName("project", req.Project); err != nil {
		return err
	}
	if err := domain.ValidateName("target", req.Target); err != nil {
		return err
	}
	if len(req.Secrets) > MaxSecretKeys {
		return &errs.FieldError{Field: "secrets", Rule: "must name at most " + strconv.Itoa(MaxSecretKeys) + " keys", Kind: errs.TooLarge}
	}
	for i, k := range req.Secrets {
		if len(k) > 128 || !secretKeyRE.MatchString(k) {
			return errs.Field("secrets["+strconv.Itoa(i)+"]", "secret key %q %s", k, domain.FactKeyRule)
		}
	}
	slices.Sort(req.Secrets)
	req.Secrets = slices.Compact(req.Secrets)
	return nil
}

// evalContext is the flag evaluation context of a bundle: the caller's
// context over the resolved facts, with the built-ins forced so that a
// caller cannot pretend to be another deployment. The targeting key is the
// deployment, so percentage rollouts split deployments.
func evalContext(req *BundleRequest, b *Bundle) eval.Context {
	base := make(map[string]any, len(b.Facts)+1)
	for k, raw := range b.Facts {
		var v any
		if json.Unmarshal(raw, &v) == nil {
			base[k] = v
		}
	}
	attrs := make(map[string]any, len(req.Context)+4)
	for k, v := range req.Context {
		attrs[k] = v
	}
	for _, k := range []string{"workspace", "project", "environment", "target"} {
		attrs[k] = base[k]
	}
	delete(attrs, "version")
	if b.Version != nil && b.Version.Desired != "" {
		attrs["version"] = b.Version.Desired
	}
	return eval.Context{TargetingKey: req.Project + "@" + req.Target, Attributes: attrs, Base: base}
}

// InputsHash is the hex SHA-256 of the canonical JSON of facts, flags and
// version ({"facts":…,"flags":…,"version":…}, object keys sorted as
// encoding/json sorts map keys, no insignificant space). Secret values never
// enter it; a later change may add their versions or fingerprints.
func InputsHash(facts map[string]json.RawMessage, flags map[string]FlagValue, version *Version) (string, error) {
	// Facts are compacted JSON already (the store normalises them), so they
	// can be embedded as they are; re-encoding would change nothing.
	canon, err := json.Marshal(struct {
		Facts   map[string]json.RawMessage `json:"facts"`
		Flags   map[string]FlagValue       `json:"flags"`
		Version *Version                   `json:"version"`
	}{facts, flags, version})
	if err != nil {
		return "", fmt.Errorf("inputs hash: %w", err)
	}
	sum := sha256.Sum256(canon)
	return hex.EncodeToString(sum[:]), nil
}
