package charttest

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	monitoringv1 "github.com/prometheus-operator/prometheus-operator/pkg/apis/monitoring/v1"
	"helm.sh/helm/v3/pkg/action"
	"helm.sh/helm/v3/pkg/chart"
	"helm.sh/helm/v3/pkg/chart/loader"
	"helm.sh/helm/v3/pkg/chartutil"
	"helm.sh/helm/v3/pkg/releaseutil"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	policyv1 "k8s.io/api/policy/v1"
	"sigs.k8s.io/yaml"
)

const (
	releaseName = "flagops"
	namespace   = "flagops"
	// kubeVersion is the oldest Kubernetes the chart supports (policy/v1
	// PodDisruptionBudgets).
	kubeVersion = "v1.21.0"
)

// chartDir is the chart under test.
var chartDir = filepath.Join("..", "flagops")

// kinds maps apiVersion/kind to a new value of its Kubernetes Go type. A
// rendered object of any other kind fails the test: the chart renders only
// these.
var kinds = map[string]func() any{
	"v1/ConfigMap":                            func() any { return new(corev1.ConfigMap) },
	"v1/PersistentVolumeClaim":                func() any { return new(corev1.PersistentVolumeClaim) },
	"v1/Secret":                               func() any { return new(corev1.Secret) },
	"v1/Service":                              func() any { return new(corev1.Service) },
	"v1/ServiceAccount":                       func() any { return new(corev1.ServiceAccount) },
	"apps/v1/Deployment":                      func() any { return new(appsv1.Deployment) },
	"policy/v1/PodDisruptionBudget":           func() any { return new(policyv1.PodDisruptionBudget) },
	"networking.k8s.io/v1/Ingress":            func() any { return new(networkingv1.Ingress) },
	"monitoring.coreos.com/v1/ServiceMonitor": func() any { return new(monitoringv1.ServiceMonitor) },
}

// rendered is one `helm template` of the chart: its objects decoded into
// their API types, by "Kind/name", and its NOTES.txt.
type rendered struct {
	objects map[string]any
	notes   string
}

// loadChart loads the chart from disk.
func loadChart(t *testing.T) *chart.Chart {
	t.Helper()
	c, err := loader.Load(chartDir)
	if err != nil {
		t.Fatalf("load the chart: %v", err)
	}
	return c
}

// template renders the chart with vals the way `helm template` does (client
// only, no cluster, values checked against values.schema.json).
func template(t *testing.T, vals map[string]any) (string, string, error) {
	t.Helper()
	install := action.NewInstall(&action.Configuration{Log: func(string, ...any) {}})
	install.DryRun = true
	install.DryRunOption = "client"
	install.ClientOnly = true
	install.Replace = true
	install.ReleaseName = releaseName
	install.Namespace = namespace
	kv, err := chartutil.ParseKubeVersion(kubeVersion)
	if err != nil {
		t.Fatal(err)
	}
	install.KubeVersion = kv
	rel, err := install.Run(loadChart(t), vals)
	if err != nil {
		return "", "", err
	}
	return rel.Manifest, rel.Info.Notes, nil
}

// render templates the chart and decodes every object strictly.
func render(t *testing.T, vals map[string]any) rendered {
	t.Helper()
	manifest, notes, err := template(t, vals)
	if err != nil {
		t.Fatalf("helm template: %v", err)
	}
	return rendered{objects: decodeManifest(t, manifest), notes: notes}
}

// decodeManifest splits a rendered manifest into its documents and decodes
// each strictly into its Go type: a field the type does not have, a
// duplicate key or a value of the wrong type fails, as the API server's
// strict field validation would.
func decodeManifest(t *testing.T, manifest string) map[string]any {
	t.Helper()
	out := map[string]any{}
	docs := releaseutil.SplitManifests(manifest)
	keys := make([]string, 0, len(docs))
	for k := range docs {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		doc := docs[k]
		if strings.TrimSpace(doc) == "" {
			continue
		}
		obj, id, err := decodeStrict([]byte(doc))
		if err != nil {
			t.Fatalf("%v\n--- the document:\n%s", err, doc)
		}
		if _, dup := out[id]; dup {
			t.Fatalf("%s is rendered twice", id)
		}
		out[id] = obj
	}
	return out
}

// decodeStrict decodes one YAML document into its API type and returns it
// with its "Kind/name".
func decodeStrict(doc []byte) (any, string, error) {
	js, err := yaml.YAMLToJSONStrict(doc)
	if err != nil {
		return nil, "", fmt.Errorf("not strict YAML: %w", err)
	}
	var head struct {
		APIVersion string `json:"apiVersion"`
		Kind       string `json:"kind"`
		Metadata   struct {
			Name string `json:"name"`
		} `json:"metadata"`
	}
	if err := json.Unmarshal(js, &head); err != nil {
		return nil, "", fmt.Errorf("read apiVersion and kind: %w", err)
	}
	newObj, ok := kinds[head.APIVersion+"/"+head.Kind]
	if !ok {
		return nil, "", fmt.Errorf("%s %s: a kind the chart is not expected to render", head.APIVersion, head.Kind)
	}
	obj := newObj()
	dec := json.NewDecoder(bytes.NewReader(js))
	dec.DisallowUnknownFields()
	if err := dec.Decode(obj); err != nil {
		return nil, "", fmt.Errorf("%s %s: %w", head.Kind, head.Metadata.Name, err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, "", fmt.Errorf("%s %s: trailing data after the object", head.Kind, head.Metadata.Name)
	}
	if head.Metadata.Name == "" {
		return nil, "", fmt.Errorf("%s without metadata.name", head.Kind)
	}
	return obj, head.Kind + "/" + head.Metadata.Name, nil
}

// get returns the object id ("Kind/name") as its type, failing the test
// when it is absent or of another type.
func get[T any](t *testing.T, r rendered, id string) *T {
	t.Helper()
	o, ok := r.objects[id]
	if !ok {
		t.Fatalf("%s is not rendered; rendered: %v", id, r.ids())
	}
	v, ok := o.(*T)
	if !ok {
		t.Fatalf("%s is a %T", id, o)
	}
	return v
}

// all returns every rendered object of type T.
func all[T any](r rendered) []*T {
	var out []*T
	for _, id := range r.ids() {
		if v, ok := r.objects[id].(*T); ok {
			out = append(out, v)
		}
	}
	return out
}

func (r rendered) has(id string) bool {
	_, ok := r.objects[id]
	return ok
}

func (r rendered) ids() []string {
	ids := make([]string, 0, len(r.objects))
	for id := range r.objects {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	return ids
}

// values builds a values map from YAML.
func values(t *testing.T, doc string) map[string]any {
	t.Helper()
	m := map[string]any{}
	if err := yaml.Unmarshal([]byte(doc), &m); err != nil {
		t.Fatalf("values %q: %v", doc, err)
	}
	return m
}
