package render

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"strings"

	"go.yaml.in/yaml/v3"

	"github.com/flagops/flagops/internal/errs"
)

// ArgoEnvPrefix prefixes the variables Argo CD passes from an Application's
// plugin env: "FLAGOPS_TARGET: eu-1" in the Application reaches the plugin
// as ARGOCD_ENV_FLAGOPS_TARGET.
const ArgoEnvPrefix = "ARGOCD_ENV_"

// Argo is what Argo CD tells a config management plugin about the
// application it renders, read from the build environment the repo server
// gives the plugin (reposerver/repository/repository.go, newEnv and
// getPluginEnvs).
type Argo struct {
	// AppName is ARGOCD_APP_NAME as Argo CD sets it: the Application's
	// instance name, which is NAMESPACE_NAME for an Application outside
	// Argo CD's own namespace (Application.InstanceName).
	AppName string `json:"appName,omitempty"`
	// Application and ApplicationNamespace are AppName split: the
	// Application's own name, and its namespace when AppName carries one.
	Application          string `json:"application,omitempty"`
	ApplicationNamespace string `json:"applicationNamespace,omitempty"`
	// AppNamespace is ARGOCD_APP_NAMESPACE: the Application's destination
	// namespace (spec.destination.namespace), not the namespace the
	// Application lives in.
	AppNamespace   string `json:"appNamespace,omitempty"`
	ProjectName    string `json:"projectName,omitempty"`
	Revision       string `json:"revision,omitempty"`
	RevisionShort  string `json:"revisionShort,omitempty"`
	SourcePath     string `json:"sourcePath,omitempty"`
	SourceRepoURL  string `json:"sourceRepoURL,omitempty"`
	TargetRevision string `json:"targetRevision,omitempty"`
	KubeVersion    string `json:"kubeVersion,omitempty"`
	// KubeAPIVersions is KUBE_API_VERSIONS split at commas: the API
	// versions the destination cluster serves ("apps/v1", "apps/v1/Deployment"…).
	KubeAPIVersions []string `json:"kubeAPIVersions,omitempty"`
	// Parameters are the plugin parameters by name: a string, a []string
	// (an array parameter) or a map[string]string (a map parameter).
	Parameters map[string]any `json:"parameters,omitempty"`
	// Env holds the Application's plugin env, ARGOCD_ENV_ removed.
	Env map[string]string `json:"env,omitempty"`
}

// Parameter is one entry of ARGOCD_APP_PARAMETERS, as Argo CD writes it:
// a name and exactly one of string, array or map.
type Parameter struct {
	Name   string            `json:"name"`
	String *string           `json:"string,omitempty"`
	Array  []string          `json:"array,omitempty"`
	Map    map[string]string `json:"map,omitempty"`
}

// ParseArgoEnv reads Argo CD's build environment from environ (os.Environ
// form, KEY=VALUE). Outside Argo CD every field is simply empty. Only
// ARGOCD_*, PARAM_* and KUBE_* variables are read, so nothing else of the
// plugin's environment (its token) can reach a template.
func ParseArgoEnv(environ []string) (Argo, error) {
	env := map[string]string{}
	a := Argo{Env: map[string]string{}, Parameters: map[string]any{}}
	for _, kv := range environ {
		k, v, _ := strings.Cut(kv, "=")
		env[k] = v
		if name, ok := strings.CutPrefix(k, ArgoEnvPrefix); ok && name != "" && name != "FLAGOPS_TOKEN" {
			a.Env[name] = v
		}
	}
	a.AppName, a.AppNamespace = env["ARGOCD_APP_NAME"], env["ARGOCD_APP_NAMESPACE"]
	a.ApplicationNamespace, a.Application = splitInstanceName(a.AppName)
	a.ProjectName = env["ARGOCD_APP_PROJECT_NAME"]
	a.Revision, a.RevisionShort = env["ARGOCD_APP_REVISION"], env["ARGOCD_APP_REVISION_SHORT"]
	a.SourcePath, a.SourceRepoURL = env["ARGOCD_APP_SOURCE_PATH"], env["ARGOCD_APP_SOURCE_REPO_URL"]
	a.TargetRevision, a.KubeVersion = env["ARGOCD_APP_SOURCE_TARGET_REVISION"], env["KUBE_VERSION"]
	if v := env["KUBE_API_VERSIONS"]; v != "" {
		a.KubeAPIVersions = strings.Split(v, ",")
	}
	if raw := env["ARGOCD_APP_PARAMETERS"]; raw != "" {
		var params []Parameter
		if err := json.Unmarshal([]byte(raw), &params); err != nil {
			return Argo{}, errs.New(errs.Invalid, "ARGOCD_APP_PARAMETERS is not Argo CD's parameter list: %v", err)
		}
		for _, p := range params {
			switch {
			case p.String != nil:
				a.Parameters[p.Name] = *p.String
			case p.Map != nil:
				a.Parameters[p.Name] = p.Map
			default:
				a.Parameters[p.Name] = p.Array
			}
		}
	} else {
		// Without the JSON, the PARAM_ variables carry string parameters,
		// their names upper-cased; only those flagops itself reads are taken.
		for _, name := range []string{"workspace", "project", "target"} {
			if v, ok := env["PARAM_"+strings.ToUpper(name)]; ok {
				a.Parameters[name] = v
			}
		}
	}
	return a, nil
}

// splitInstanceName splits Argo CD's instance name NAMESPACE_NAME. Neither
// a namespace nor an Application name may hold '_' (both are DNS names), so
// the first '_' is the separator; a name without one is in Argo CD's own
// namespace.
func splitInstanceName(s string) (namespace, name string) {
	if ns, n, ok := strings.Cut(s, "_"); ok {
		return ns, n
	}
	return "", s
}

// Context is the part of a bundle request's context that comes from Argo
// CD: flag rules can test "argocd.appName", "argocd.parameters.NAME"…
func (a Argo) Context() map[string]any {
	b, _ := json.Marshal(a) // plain strings and maps: always marshals
	var m map[string]any
	_ = json.Unmarshal(b, &m)
	delete(m, "env")
	return map[string]any{"argocd": m}
}

// Config is the optional flagops.yaml of a source directory.
type Config struct {
	Workspace string `yaml:"workspace"`
	Project   string `yaml:"project"`
	Target    string `yaml:"target"`
}

// ParseConfig reads ConfigFile from fsys; a missing file is an empty Config.
func ParseConfig(fsys fs.FS) (Config, error) {
	b, err := fs.ReadFile(fsys, ConfigFile)
	if errors.Is(err, fs.ErrNotExist) {
		return Config{}, nil
	}
	if err != nil {
		return Config{}, fmt.Errorf("read %s: %w", ConfigFile, err)
	}
	var c Config
	dec := yaml.NewDecoder(strings.NewReader(string(b)))
	dec.KnownFields(true)
	// An empty file is an empty Config.
	if err := dec.Decode(&c); err != nil && !errors.Is(err, io.EOF) {
		return Config{}, errs.New(errs.Invalid, "%s: %v", ConfigFile, err)
	}
	return c, nil
}

// Target names the deployment to render and says where each part came from.
type Target struct {
	Workspace, Project, Target string
}

// Choose works out the deployment an application renders. Each of
// workspace, project and target is taken from the first of these that sets
// it:
//
//  1. explicit (command-line flags, or FLAGOPS_PROJECT / FLAGOPS_TARGET /
//     FLAGOPS_WORKSPACE in the sidecar's environment);
//  2. the Application's plugin env: FLAGOPS_PROJECT, FLAGOPS_TARGET,
//     FLAGOPS_WORKSPACE (ARGOCD_ENV_FLAGOPS_… in the plugin);
//  3. the plugin parameters project, target, workspace;
//  4. flagops.yaml in the source directory;
//  5. for project and target only, the Application's name PROJECT--TARGET,
//     when it holds exactly one "--" (catalog names may hold "--" too, so
//     a name with two is refused rather than guessed). The name is the
//     Application's own: the NAMESPACE_ prefix Argo CD puts in
//     ARGOCD_APP_NAME for Applications outside its namespace is dropped.
//
// The workspace defaults to "default".
func Choose(explicit Target, a Argo, cfg Config) (Target, error) {
	pick := func(first, envName, param, fromCfg string) string {
		if first != "" {
			return first
		}
		if v := a.Env["FLAGOPS_"+envName]; v != "" {
			return v
		}
		if v, ok := a.Parameters[param].(string); ok && v != "" {
			return v
		}
		return fromCfg
	}
	t := Target{
		Workspace: pick(explicit.Workspace, "WORKSPACE", "workspace", cfg.Workspace),
		Project:   pick(explicit.Project, "PROJECT", "project", cfg.Project),
		Target:    pick(explicit.Target, "TARGET", "target", cfg.Target),
	}
	if t.Workspace == "" {
		t.Workspace = "default"
	}
	name := a.Application
	if name == "" {
		_, name = splitInstanceName(a.AppName)
	}
	if (t.Project == "" || t.Target == "") && strings.Count(name, "--") == 1 {
		p, tg, _ := strings.Cut(name, "--")
		if t.Project == "" {
			t.Project = p
		}
		if t.Target == "" {
			t.Target = tg
		}
	}
	if t.Project == "" || t.Target == "" {
		return Target{}, errs.New(errs.Invalid, "no deployment to render: set the plugin parameters project and target, "+
			"or FLAGOPS_PROJECT and FLAGOPS_TARGET in the Application's plugin env, or project and target in %s, "+
			"or name the Application PROJECT--TARGET (application name %q)", ConfigFile, a.AppName)
	}
	return t, nil
}
