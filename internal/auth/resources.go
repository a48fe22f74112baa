package auth

import (
	"net/http"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"

	"github.com/flagops/flagops/internal/domain"
	"github.com/flagops/flagops/internal/errs"
)

// Resource is what a request touches, as far as access goes: a workspace
// (or every workspace), and inside it optionally a project, an environment
// and a target. A binding covers a resource when its workspace matches and
// its scope contains the resource: a workspace binding contains everything
// in the workspace, a project binding the resources naming that project, an
// environment binding those naming that environment or a target in it, and
// a target binding those naming that target.
type Resource struct {
	Workspace string
	// AllWorkspaces: the request spans every workspace (ListChanges without
	// a workspace, key management, master key rotation).
	AllWorkspaces bool
	// Global resources (metrics, the revision) belong to no workspace: any
	// binding of a role with the permission covers them.
	Global      bool
	Project     string
	Environment string
	Target      string
	// KeyEnvironment: the request evaluates in the environment the key is
	// bound to (OFREP names no environment). Only an environment binding
	// covers it.
	KeyEnvironment bool
}

// ResourceOf returns the resource of a fact or secret scope in workspace ws.
func ResourceOf(ws string, sc domain.Scope) Resource {
	return Resource{Workspace: ws, Project: sc.Project, Environment: sc.Environment, Target: sc.Target}
}

// Request stands for a request that is not a protobuf message, given to
// Authorize by a second check a handler or a background job makes (the facts
// of an evaluation, the change a webhook is about to deliver): its entries
// are the request's fields by their protobuf names ("workspace", "project",
// "target"), so the policy's resource functions read it as they read the
// message it stands for.
type Request map[string]string

// field returns the string field name of msg, or "".
func field(req any, name string) string {
	if r, ok := req.(Request); ok {
		return r[name]
	}
	m, ok := req.(proto.Message)
	if !ok || m == nil {
		return ""
	}
	r := m.ProtoReflect()
	fd := r.Descriptor().Fields().ByName(protoreflect.Name(name))
	if fd == nil || fd.Kind() != protoreflect.StringKind || fd.IsList() {
		return ""
	}
	return r.Get(fd).String()
}

// nestedWorkspace finds the workspace of a request: its own "workspace"
// field, else that of a message field's "meta" (the Put requests).
func nestedWorkspace(req any) string {
	if ws := field(req, "workspace"); ws != "" {
		return ws
	}
	return firstInSubMessages(req, func(sub proto.Message) string {
		if meta := fieldMessage(sub, "meta"); meta != nil {
			return field(meta, "workspace")
		}
		return ""
	})
}

// firstInSubMessages returns the first non-empty get(sub) over the set,
// singular message fields of req, in field order.
func firstInSubMessages(req any, get func(sub proto.Message) string) string {
	m, ok := req.(proto.Message)
	if !ok || m == nil {
		return ""
	}
	r := m.ProtoReflect()
	fields := r.Descriptor().Fields()
	for i := range fields.Len() {
		fd := fields.Get(i)
		if fd.Kind() != protoreflect.MessageKind || fd.IsList() || fd.IsMap() || !r.Has(fd) {
			continue
		}
		if v := get(r.Get(fd).Message().Interface()); v != "" {
			return v
		}
	}
	return ""
}

func fieldMessage(m proto.Message, name string) proto.Message {
	r := m.ProtoReflect()
	fd := r.Descriptor().Fields().ByName(protoreflect.Name(name))
	if fd == nil || fd.Kind() != protoreflect.MessageKind || !r.Has(fd) {
		return nil
	}
	return r.Get(fd).Message().Interface()
}

func orDefault(ws string) string {
	if ws == "" {
		return domain.DefaultWorkspace
	}
	return ws
}

func one(r Resource) ([]Resource, error) { return []Resource{r}, nil }

// The resource functions of the policy table.

func nothing(any) ([]Resource, error)       { return nil, nil }
func global(any) ([]Resource, error)        { return one(Resource{Global: true}) }
func allWorkspaces(any) ([]Resource, error) { return one(Resource{AllWorkspaces: true}) }

func inWorkspace(req any) ([]Resource, error) {
	return one(Resource{Workspace: orDefault(nestedWorkspace(req))})
}

// namedWorkspace is the workspace a workspace request names ("name", or the
// workspace's meta.name).
func namedWorkspace(req any) ([]Resource, error) {
	name := field(req, "name")
	if name == "" {
		if m, ok := req.(proto.Message); ok && m != nil {
			if ws := fieldMessage(m, "workspace"); ws != nil {
				if meta := fieldMessage(ws, "meta"); meta != nil {
					name = field(meta, "name")
				}
			}
		}
	}
	return one(Resource{Workspace: orDefault(name)})
}

// namedObject is the catalog object a Get request names; without a name the
// request is taken as workspace-wide.
func namedObject(set func(r *Resource, name string)) func(req any) ([]Resource, error) {
	return func(req any) ([]Resource, error) {
		r := Resource{Workspace: orDefault(field(req, "workspace"))}
		if name := field(req, "name"); name != "" {
			set(&r, name)
		}
		return one(r)
	}
}

func namedEnvironment(req any) ([]Resource, error) {
	return namedObject(func(r *Resource, n string) { r.Environment = n })(req)
}

func namedTarget(req any) ([]Resource, error) {
	return namedObject(func(r *Resource, n string) { r.Target = n })(req)
}

func namedProject(req any) ([]Resource, error) {
	return namedObject(func(r *Resource, n string) { r.Project = n })(req)
}

func scopeResource(ws, scope, fieldName string) (Resource, error) {
	sc, err := domain.ParseScope(scope)
	if err != nil {
		return Resource{}, errs.Prefix(fieldName, errs.Field("", "%v", err))
	}
	return ResourceOf(orDefault(ws), sc), nil
}

func atScope(req any) ([]Resource, error) {
	r, err := scopeResource(field(req, "workspace"), field(req, "scope"), "scope")
	if err != nil {
		return nil, err
	}
	return one(r)
}

func atScopeOrWorkspace(req any) ([]Resource, error) {
	if field(req, "scope") == "" {
		return inWorkspace(req)
	}
	return atScope(req)
}

func atDeployment(req any) ([]Resource, error) {
	return one(Resource{Workspace: orDefault(field(req, "workspace")), Project: field(req, "project"), Target: field(req, "target")})
}

// atEntryScopes is every scope of a bulk write: the caller must cover all.
func atEntryScopes(req any) ([]Resource, error) {
	m, ok := req.(proto.Message)
	if !ok || m == nil {
		return nil, nil
	}
	ws := field(req, "workspace")
	r := m.ProtoReflect()
	fd := r.Descriptor().Fields().ByName("entries")
	if fd == nil || !fd.IsList() {
		return inWorkspace(req)
	}
	list := r.Get(fd).List()
	out := make([]Resource, 0, list.Len())
	for i := range list.Len() {
		res, err := scopeResource(ws, field(list.Get(i).Message().Interface(), "scope"), "entries")
		if err != nil {
			return nil, err
		}
		out = append(out, res)
	}
	return out, nil
}

func changesWorkspace(req any) ([]Resource, error) {
	if ws := field(req, "workspace"); ws != "" {
		return one(Resource{Workspace: ws})
	}
	return allWorkspaces(req)
}

func watchWorkspace(req any) ([]Resource, error) {
	if m, ok := req.(proto.Message); ok && m != nil {
		if f := fieldMessage(m, "filter"); f != nil {
			if ws := field(f, "workspace"); ws != "" {
				return one(Resource{Workspace: ws})
			}
		}
	}
	return allWorkspaces(req)
}

// bindingsOf is every binding a CreateKey request grants: granting a role
// somewhere needs access.write there.
func bindingsOf(req any) ([]Resource, error) {
	m, ok := req.(proto.Message)
	if !ok || m == nil {
		return nil, nil
	}
	r := m.ProtoReflect()
	fd := r.Descriptor().Fields().ByName("bindings")
	if fd == nil || !fd.IsList() {
		return allWorkspaces(req)
	}
	list := r.Get(fd).List()
	out := make([]Resource, 0, list.Len())
	for i := range list.Len() {
		b := list.Get(i).Message().Interface()
		ws := field(b, "workspace")
		if ws == domain.AllWorkspaces {
			out = append(out, Resource{AllWorkspaces: true})
			continue
		}
		res, err := scopeResource(ws, field(b, "scope"), "bindings")
		if err != nil {
			return nil, err
		}
		out = append(out, res)
	}
	if len(out) == 0 {
		return inWorkspace(req)
	}
	return out, nil
}

// subField returns the string field name of req, else that of the first set
// singular message field of req holding one (flag.project, policy.to,
// hold.environment, release.workspace).
func subField(req any, name string) string {
	if v := field(req, name); v != "" {
		return v
	}
	return firstInSubMessages(req, func(sub proto.Message) string { return field(sub, name) })
}

// atObject is the project, environment and target a flag, version, release
// or promotion request names, at its top level or in its one object field
// (PutFlag's flag, SetHold's hold, CreateSchedule's change or rollout). A
// promotion's environment is its "to". A request naming none of them spans
// the workspace.
func atObject(req any) ([]Resource, error) {
	ws := subField(req, "workspace")
	if ws == "" {
		ws = nestedWorkspace(req)
	}
	r := Resource{
		Workspace:   orDefault(ws),
		Project:     subField(req, "project"),
		Environment: subField(req, "environment"),
		Target:      subField(req, "target"),
	}
	if r.Environment == "" {
		r.Environment = subField(req, "to")
	}
	return one(r)
}

// keyEnvironment is the resource of an OFREP request: the environment of
// the caller's key.
func keyEnvironment(any) ([]Resource, error) { return one(Resource{KeyEnvironment: true}) }

// DeploymentRequest is implemented by the plain-route requests that name a
// deployment (the render bundle), so that their policy entries can scope
// them without this package importing theirs.
type DeploymentRequest interface {
	AuthDeployment() (workspace, project, target string)
}

// renderDeployment is the deployment of a decoded bundle request. Before
// the body is read (the route check, req is the *http.Request) it is no
// resource: the key must hold the permission somewhere, and the handler
// authorizes again with the decoded request.
func renderDeployment(req any) ([]Resource, error) {
	d, ok := req.(DeploymentRequest)
	if !ok {
		return nil, nil
	}
	ws, project, target := d.AuthDeployment()
	return one(Resource{Workspace: orDefault(ws), Project: project, Target: target})
}

// resolvePath is the project and environment of the resolve route's path
// and the workspace of its query. Without a request (the policy listing) it
// is the default workspace.
func resolvePath(req any) ([]Resource, error) {
	r, ok := req.(*http.Request)
	if !ok || r == nil {
		return one(Resource{Workspace: domain.DefaultWorkspace})
	}
	return one(Resource{Workspace: orDefault(r.URL.Query().Get("workspace")),
		Project: r.PathValue("project"), Environment: r.PathValue("environment")})
}
