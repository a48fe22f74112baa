package service

import (
	"context"
	"fmt"

	"github.com/flagops/flagops/internal/domain"
	"github.com/flagops/flagops/internal/errs"
	"github.com/flagops/flagops/internal/store"
)

// CatalogStore is the part of the store the catalog use cases need.
type CatalogStore interface {
	PutWorkspace(ctx context.Context, w domain.Workspace, expected *int64) (domain.Workspace, domain.Op, error)
	GetWorkspace(ctx context.Context, name string) (domain.Workspace, error)
	ListWorkspaces(ctx context.Context, p domain.Page) ([]domain.Workspace, string, error)
	DeleteWorkspace(ctx context.Context, name string, o store.DeleteOptions) error

	PutEnvironment(ctx context.Context, e domain.Environment, expected *int64) (domain.Environment, domain.Op, error)
	GetEnvironment(ctx context.Context, ws, name string) (domain.Environment, error)
	ListEnvironments(ctx context.Context, ws string, p domain.Page) ([]domain.Environment, string, error)
	DeleteEnvironment(ctx context.Context, ws, name string, o store.DeleteOptions) error

	PutTarget(ctx context.Context, t domain.Target, expected *int64) (domain.Target, domain.Op, error)
	GetTarget(ctx context.Context, ws, name string) (domain.Target, error)
	ListTargets(ctx context.Context, ws string, p domain.Page) ([]domain.Target, string, error)
	DeleteTarget(ctx context.Context, ws, name string, o store.DeleteOptions) error

	PutEnvironmentSet(ctx context.Context, es domain.EnvironmentSet, expected *int64) (domain.EnvironmentSet, domain.Op, error)
	GetEnvironmentSet(ctx context.Context, ws, name string) (domain.EnvironmentSet, error)
	ListEnvironmentSets(ctx context.Context, ws string, p domain.Page) ([]domain.EnvironmentSet, string, error)
	DeleteEnvironmentSet(ctx context.Context, ws, name string, o store.DeleteOptions) error

	PutProject(ctx context.Context, p domain.Project, expected *int64) (domain.Project, domain.Op, error)
	GetProject(ctx context.Context, ws, name string) (domain.Project, error)
	ListProjects(ctx context.Context, ws string, p domain.Page) ([]domain.Project, string, error)
	DeleteProject(ctx context.Context, ws, name string, o store.DeleteOptions) error

	GetDeployment(ctx context.Context, ws, project, target string) (domain.Deployment, error)
	ListDeployments(ctx context.Context, ws string, f store.DeploymentFilter, p domain.Page) ([]domain.Deployment, string, error)
}

var _ CatalogStore = (*store.Store)(nil)

// Catalog manages workspaces, environments, targets, environment sets and
// projects. It is safe for concurrent use.
type Catalog struct {
	store CatalogStore
}

// NewCatalog returns the catalog use cases on st.
func NewCatalog(st CatalogStore) *Catalog { return &Catalog{store: st} }

// Ref names one catalog object in a Get or Delete.
type Ref struct {
	Workspace string
	Name      string
}

// DeleteRequest is a Ref plus the delete options.
type DeleteRequest struct {
	Ref
	Force    bool
	Expected *int64
}

// ListRequest asks for one page of one workspace's objects.
type ListRequest struct {
	Workspace string
	PageSize  int
	PageToken string
}

// ref checks a Ref, defaulting its workspace.
func (r Ref) check() (Ref, error) {
	ws, err := workspace("workspace", r.Workspace)
	if err != nil {
		return r, err
	}
	r.Workspace = ws
	return r, domain.ValidateName("name", r.Name)
}

func (r ListRequest) check() (string, domain.Page, error) {
	ws, err := workspace("workspace", r.Workspace)
	if err != nil {
		return "", domain.Page{}, err
	}
	p, err := page(r.PageSize, r.PageToken)
	return ws, p, err
}

func (r DeleteRequest) check() (Ref, store.DeleteOptions, error) {
	ref, err := r.Ref.check()
	if err != nil {
		return ref, store.DeleteOptions{}, err
	}
	if err := expectedRevision(r.Expected); err != nil {
		return ref, store.DeleteOptions{}, err
	}
	return ref, store.DeleteOptions{Force: r.Force, Expected: r.Expected}, nil
}

// meta defaults and checks the workspace of an object's Meta. The field
// errors of the object are reported under noun ("target.name").
func meta(noun string, m *domain.Meta) error {
	ws, err := workspace("workspace", m.Workspace)
	if err != nil {
		return errs.Prefix(noun, err)
	}
	m.Workspace = ws
	return nil
}

// PutWorkspace creates or updates a workspace.
func (c *Catalog) PutWorkspace(ctx context.Context, w domain.Workspace, expected *int64) (domain.Workspace, domain.Op, error) {
	if w.Workspace != "" {
		return w, "", errs.Field("workspace.workspace", "must be empty: a workspace belongs to no workspace")
	}
	if err := w.Validate(); err != nil {
		return w, "", errs.Prefix("workspace", err)
	}
	if err := expectedRevision(expected); err != nil {
		return w, "", err
	}
	out, op, err := c.store.PutWorkspace(ctx, w, expected)
	if err != nil {
		return out, op, fmt.Errorf("put workspace %s: %w", w.Name, errs.Prefix("workspace", err))
	}
	return out, op, nil
}

// GetWorkspace returns a workspace.
func (c *Catalog) GetWorkspace(ctx context.Context, name string) (domain.Workspace, error) {
	if err := domain.ValidateName("name", name); err != nil {
		return domain.Workspace{}, err
	}
	w, err := c.store.GetWorkspace(ctx, name)
	if err != nil {
		return w, fmt.Errorf("get workspace %s: %w", name, err)
	}
	return w, nil
}

// ListWorkspaces lists workspaces by name (r.Workspace is ignored).
func (c *Catalog) ListWorkspaces(ctx context.Context, r ListRequest) ([]domain.Workspace, string, error) {
	p, err := page(r.PageSize, r.PageToken)
	if err != nil {
		return nil, "", err
	}
	return wrapList[domain.Workspace]("list workspaces")(c.store.ListWorkspaces(ctx, p))
}

// DeleteWorkspace deletes a workspace (r.Workspace is ignored).
func (c *Catalog) DeleteWorkspace(ctx context.Context, r DeleteRequest) error {
	if err := domain.ValidateName("name", r.Name); err != nil {
		return err
	}
	if err := expectedRevision(r.Expected); err != nil {
		return err
	}
	if err := c.store.DeleteWorkspace(ctx, r.Name, store.DeleteOptions{Force: r.Force, Expected: r.Expected}); err != nil {
		return fmt.Errorf("delete workspace %s: %w", r.Name, err)
	}
	return nil
}

// PutEnvironment creates or updates an environment.
func (c *Catalog) PutEnvironment(ctx context.Context, e domain.Environment, expected *int64) (domain.Environment, domain.Op, error) {
	if err := meta("environment", &e.Meta); err != nil {
		return e, "", err
	}
	if err := e.Validate(); err != nil {
		return e, "", errs.Prefix("environment", err)
	}
	if err := expectedRevision(expected); err != nil {
		return e, "", err
	}
	out, op, err := c.store.PutEnvironment(ctx, e, expected)
	if err != nil {
		return out, op, fmt.Errorf("put environment %s/%s: %w", e.Workspace, e.Name, errs.Prefix("environment", err))
	}
	return out, op, nil
}

// GetEnvironment returns an environment.
func (c *Catalog) GetEnvironment(ctx context.Context, r Ref) (domain.Environment, error) {
	r, err := r.check()
	if err != nil {
		return domain.Environment{}, err
	}
	e, err := c.store.GetEnvironment(ctx, r.Workspace, r.Name)
	if err != nil {
		return e, fmt.Errorf("get environment %s/%s: %w", r.Workspace, r.Name, err)
	}
	return e, nil
}

// ListEnvironments lists one workspace's environments by name.
func (c *Catalog) ListEnvironments(ctx context.Context, r ListRequest) ([]domain.Environment, string, error) {
	ws, p, err := r.check()
	if err != nil {
		return nil, "", err
	}
	return wrapList[domain.Environment]("list environments of " + ws)(c.store.ListEnvironments(ctx, ws, p))
}

// DeleteEnvironment deletes an environment.
func (c *Catalog) DeleteEnvironment(ctx context.Context, r DeleteRequest) error {
	ref, o, err := r.check()
	if err != nil {
		return err
	}
	if err := c.store.DeleteEnvironment(ctx, ref.Workspace, ref.Name, o); err != nil {
		return fmt.Errorf("delete environment %s/%s: %w", ref.Workspace, ref.Name, err)
	}
	return nil
}

// PutTarget creates or updates a target; its environment must exist.
func (c *Catalog) PutTarget(ctx context.Context, t domain.Target, expected *int64) (domain.Target, domain.Op, error) {
	if err := meta("target", &t.Meta); err != nil {
		return t, "", err
	}
	if err := t.Validate(); err != nil {
		return t, "", errs.Prefix("target", err)
	}
	if err := expectedRevision(expected); err != nil {
		return t, "", err
	}
	out, op, err := c.store.PutTarget(ctx, t, expected)
	if err != nil {
		return out, op, fmt.Errorf("put target %s/%s: %w", t.Workspace, t.Name, errs.Prefix("target", err))
	}
	return out, op, nil
}

// GetTarget returns a target.
func (c *Catalog) GetTarget(ctx context.Context, r Ref) (domain.Target, error) {
	r, err := r.check()
	if err != nil {
		return domain.Target{}, err
	}
	t, err := c.store.GetTarget(ctx, r.Workspace, r.Name)
	if err != nil {
		return t, fmt.Errorf("get target %s/%s: %w", r.Workspace, r.Name, err)
	}
	return t, nil
}

// ListTargets lists one workspace's targets by name.
func (c *Catalog) ListTargets(ctx context.Context, r ListRequest) ([]domain.Target, string, error) {
	ws, p, err := r.check()
	if err != nil {
		return nil, "", err
	}
	return wrapList[domain.Target]("list targets of " + ws)(c.store.ListTargets(ctx, ws, p))
}

// DeleteTarget deletes a target.
func (c *Catalog) DeleteTarget(ctx context.Context, r DeleteRequest) error {
	ref, o, err := r.check()
	if err != nil {
		return err
	}
	if err := c.store.DeleteTarget(ctx, ref.Workspace, ref.Name, o); err != nil {
		return fmt.Errorf("delete target %s/%s: %w", ref.Workspace, ref.Name, err)
	}
	return nil
}

// PutEnvironmentSet creates or updates an environment set.
func (c *Catalog) PutEnvironmentSet(ctx context.Context, es domain.EnvironmentSet, expected *int64) (domain.EnvironmentSet, domain.Op, error) {
	if err := meta("environment_set", &es.Meta); err != nil {
		return es, "", err
	}
	if err := es.Validate(); err != nil {
		return es, "", errs.Prefix("environment_set", err)
	}
	if err := expectedRevision(expected); err != nil {
		return es, "", err
	}
	es.Normalize()
	out, op, err := c.store.PutEnvironmentSet(ctx, es, expected)
	if err != nil {
		return out, op, fmt.Errorf("put environment set %s/%s: %w", es.Workspace, es.Name, errs.Prefix("environment_set", err))
	}
	return out, op, nil
}

// GetEnvironmentSet returns an environment set.
func (c *Catalog) GetEnvironmentSet(ctx context.Context, r Ref) (domain.EnvironmentSet, error) {
	r, err := r.check()
	if err != nil {
		return domain.EnvironmentSet{}, err
	}
	es, err := c.store.GetEnvironmentSet(ctx, r.Workspace, r.Name)
	if err != nil {
		return es, fmt.Errorf("get environment set %s/%s: %w", r.Workspace, r.Name, err)
	}
	return es, nil
}

// ListEnvironmentSets lists one workspace's environment sets by name.
func (c *Catalog) ListEnvironmentSets(ctx context.Context, r ListRequest) ([]domain.EnvironmentSet, string, error) {
	ws, p, err := r.check()
	if err != nil {
		return nil, "", err
	}
	return wrapList[domain.EnvironmentSet]("list environment sets of " + ws)(c.store.ListEnvironmentSets(ctx, ws, p))
}

// DeleteEnvironmentSet deletes an environment set.
func (c *Catalog) DeleteEnvironmentSet(ctx context.Context, r DeleteRequest) error {
	ref, o, err := r.check()
	if err != nil {
		return err
	}
	if err := c.store.DeleteEnvironmentSet(ctx, ref.Workspace, ref.Name, o); err != nil {
		return fmt.Errorf("delete environment set %s/%s: %w", ref.Workspace, ref.Name, err)
	}
	return nil
}

// PutProject creates or updates a project; its environments and sets must exist.
func (c *Catalog) PutProject(ctx context.Context, p domain.Project, expected *int64) (domain.Project, domain.Op, error) {
	if err := meta("project", &p.Meta); err != nil {
		return p, "", err
	}
	// EffectiveEnvironments is derived by the store; a caller cannot set it.
	p.EffectiveEnvironments = nil
	if err := p.Validate(); err != nil {
		return p, "", errs.Prefix("project", err)
	}
	if err := expectedRevision(expected); err != nil {
		return p, "", err
	}
	p.Normalize()
	out, op, err := c.store.PutProject(ctx, p, expected)
	if err != nil {
		return out, op, fmt.Errorf("put project %s/%s: %w", p.Workspace, p.Name, errs.Prefix("project", err))
	}
	return out, op, nil
}

// GetProject returns a project.
func (c *Catalog) GetProject(ctx context.Context, r Ref) (domain.Project, error) {
	r, err := r.check()
	if err != nil {
		return domain.Project{}, err
	}
	p, err := c.store.GetProject(ctx, r.Workspace, r.Name)
	if err != nil {
		return p, fmt.Errorf("get project %s/%s: %w", r.Workspace, r.Name, err)
	}
	return p, nil
}

// ListProjects lists one workspace's projects by name.
func (c *Catalog) ListProjects(ctx context.Context, r ListRequest) ([]domain.Project, string, error) {
	ws, p, err := r.check()
	if err != nil {
		return nil, "", err
	}
	return wrapList[domain.Project]("list projects of " + ws)(c.store.ListProjects(ctx, ws, p))
}

// DeleteProject deletes a project.
func (c *Catalog) DeleteProject(ctx context.Context, r DeleteRequest) error {
	ref, o, err := r.check()
	if err != nil {
		return err
	}
	if err := c.store.DeleteProject(ctx, ref.Workspace, ref.Name, o); err != nil {
		return fmt.Errorf("delete project %s/%s: %w", ref.Workspace, ref.Name, err)
	}
	return nil
}

// GetDeployment returns the deployment of project on target.
func (c *Catalog) GetDeployment(ctx context.Context, ws, project, target string) (domain.Deployment, error) {
	ws, err := workspace("workspace", ws)
	if err != nil {
		return domain.Deployment{}, err
	}
	if err := domain.ValidateName("project", project); err != nil {
		return domain.Deployment{}, err
	}
	if err := domain.ValidateName("target", target); err != nil {
		return domain.Deployment{}, err
	}
	d, err := c.store.GetDeployment(ctx, ws, project, target)
	if err != nil {
		return d, fmt.Errorf("get deployment %s/%s@%s: %w", ws, project, target, err)
	}
	return d, nil
}

// ListDeployments lists deployments, filtered by any of project, environment
// and target.
func (c *Catalog) ListDeployments(ctx context.Context, r ListRequest, f store.DeploymentFilter) ([]domain.Deployment, string, error) {
	ws, p, err := r.check()
	if err != nil {
		return nil, "", err
	}
	for _, nv := range [][2]string{{"project", f.Project}, {"environment", f.Environment}, {"target", f.Target}} {
		if nv[1] != "" {
			if err := domain.ValidateName(nv[0], nv[1]); err != nil {
				return nil, "", err
			}
		}
	}
	return wrapList[domain.Deployment]("list deployments of " + ws)(c.store.ListDeployments(ctx, ws, f, p))
}

// wrapList adds context to a list error.
func wrapList[T any](what string) func([]T, string, error) ([]T, string, error) {
	return func(items []T, next string, err error) ([]T, string, error) {
		if err != nil {
			return nil, "", fmt.Errorf("%s: %w", what, err)
		}
		return items, next, nil
	}
}
