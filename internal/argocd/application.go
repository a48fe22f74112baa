package argocd

import (
	"encoding/json"
	"fmt"
	"strconv"
)

// AppKey names an Application. Argo CD's API takes the name in the path and
// the namespace as appNamespace; an empty Namespace means Argo CD's own
// namespace. Two Applications of one name in two namespaces are two keys.
type AppKey struct {
	Namespace, Name string
}

// String is "NAMESPACE/NAME", or the name alone without a namespace.
func (k AppKey) String() string {
	if k.Namespace == "" {
		return k.Name
	}
	return k.Namespace + "/" + k.Name
}

// Application is an Argo CD Application as the API returns it. Raw keeps
// the whole object: the version field is read from it, and patches are
// computed against it, so fields this package does not know are never
// lost.
type Application struct {
	Metadata ObjectMeta `json:"metadata"`
	Spec     AppSpec    `json:"spec"`
	Status   AppStatus  `json:"status"`
	// Operation is set while an operation (a sync) is requested or
	// running; Argo CD refuses another one meanwhile.
	Operation json.RawMessage `json:"operation,omitempty"`

	Raw json.RawMessage `json:"-"`
}

// Key returns the Application's key.
func (a *Application) Key() AppKey {
	return AppKey{Namespace: a.Metadata.Namespace, Name: a.Metadata.Name}
}

// ObjectMeta is the part of Kubernetes' metadata the agent reads.
type ObjectMeta struct {
	Name            string            `json:"name"`
	Namespace       string            `json:"namespace,omitempty"`
	Labels          map[string]string `json:"labels,omitempty"`
	ResourceVersion string            `json:"resourceVersion,omitempty"`
}

// AppSpec is the part of spec the agent reads. An Application has either
// one source (spec.source) or several (spec.sources, which then wins).
type AppSpec struct {
	Project     string   `json:"project,omitempty"`
	Source      *Source  `json:"source,omitempty"`
	Sources     []Source `json:"sources,omitempty"`
	Destination struct {
		Server    string `json:"server,omitempty"`
		Name      string `json:"name,omitempty"`
		Namespace string `json:"namespace,omitempty"`
	} `json:"destination"`
}

// Source is the part of one source the agent reads for display; the
// version field works on the raw JSON.
type Source struct {
	RepoURL        string `json:"repoURL"`
	Path           string `json:"path,omitempty"`
	Chart          string `json:"chart,omitempty"`
	TargetRevision string `json:"targetRevision,omitempty"`
	Ref            string `json:"ref,omitempty"`
	Name           string `json:"name,omitempty"`
}

// AppStatus is the part of status the agent reads.
type AppStatus struct {
	Sync struct {
		// Status is Synced, OutOfSync or Unknown, for the source recorded
		// in ComparedTo, which lags spec until the controller compares
		// again.
		Status     string   `json:"status"`
		Revision   string   `json:"revision,omitempty"`
		Revisions  []string `json:"revisions,omitempty"`
		ComparedTo struct {
			Source  json.RawMessage   `json:"source,omitempty"`
			Sources []json.RawMessage `json:"sources,omitempty"`
		} `json:"comparedTo"`
	} `json:"sync"`
	Health struct {
		Status  string `json:"status"`
		Message string `json:"message,omitempty"`
	} `json:"health"`
	// OperationState is the last operation's state: Phase Running,
	// Terminating, Succeeded, Failed or Error.
	OperationState *OperationState `json:"operationState,omitempty"`
	Summary        struct {
		Images []string `json:"images,omitempty"`
	} `json:"summary"`
}

// OperationState is the part of status.operationState the agent reads.
type OperationState struct {
	Phase      string `json:"phase"`
	Message    string `json:"message,omitempty"`
	FinishedAt string `json:"finishedAt,omitempty"`
}

// Operation phases (gitops-engine's OperationPhase).
const (
	PhaseRunning     = "Running"
	PhaseTerminating = "Terminating"
	PhaseSucceeded   = "Succeeded"
	PhaseFailed      = "Failed"
	PhaseError       = "Error"
)

// SyncFailed reports whether the last operation ended in Failed or Error.
func (a *Application) SyncFailed() bool {
	op := a.Status.OperationState
	return op != nil && (op.Phase == PhaseFailed || op.Phase == PhaseError)
}

func decodeApp(raw json.RawMessage) (*Application, error) {
	var app Application
	if err := json.Unmarshal(raw, &app); err != nil {
		return nil, fmt.Errorf("decode application: %w", err)
	}
	app.Raw = raw
	return &app, nil
}

// source is one source of an Application's raw JSON: the JSON pointer it
// lives at (for patches) and its object.
type source struct {
	path string
	obj  map[string]any
}

// specSources returns the sources of the raw Application: spec.sources
// when it has any (Argo CD then ignores spec.source), else spec.source.
func specSources(obj map[string]any) []source {
	spec, _ := obj["spec"].(map[string]any)
	if list, _ := spec["sources"].([]any); len(list) > 0 {
		out := make([]source, 0, len(list))
		for i, s := range list {
			m, _ := s.(map[string]any)
			out = append(out, source{path: "/spec/sources/" + strconv.Itoa(i), obj: m})
		}
		return out
	}
	if m, ok := spec["source"].(map[string]any); ok {
		return []source{{path: "/spec/source", obj: m}}
	}
	return nil
}

// comparedSources returns status.sync.comparedTo in the shape of spec:
// comparedTo.sources for a multi-source Application, else comparedTo.source.
func comparedSources(obj map[string]any, multi bool) []map[string]any {
	status, _ := obj["status"].(map[string]any)
	sync, _ := status["sync"].(map[string]any)
	cmp, _ := sync["comparedTo"].(map[string]any)
	if multi {
		list, _ := cmp["sources"].([]any)
		out := make([]map[string]any, 0, len(list))
		for _, s := range list {
			m, _ := s.(map[string]any)
			out = append(out, m)
		}
		return out
	}
	if m, ok := cmp["source"].(map[string]any); ok {
		return []map[string]any{m}
	}
	return nil
}

func rawObject(app *Application) (map[string]any, error) {
	var obj map[string]any
	if err := json.Unmarshal(app.Raw, &obj); err != nil {
		return nil, fmt.Errorf("decode application %s: %w", app.Key(), err)
	}
	return obj, nil
}
