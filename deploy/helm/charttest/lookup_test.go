package charttest

import (
	"fmt"
	"strings"
	"testing"

	"helm.sh/helm/v3/pkg/chartutil"
	"helm.sh/helm/v3/pkg/engine"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/dynamic"
	dynamicfake "k8s.io/client-go/dynamic/fake"
	"k8s.io/client-go/kubernetes/scheme"
)

// cluster answers the chart's lookup calls from a fake API server holding
// objs, the way Helm's engine asks a real one on install and upgrade.
type cluster struct {
	client *dynamicfake.FakeDynamicClient
}

func newCluster(objs ...runtime.Object) cluster {
	return cluster{client: dynamicfake.NewSimpleDynamicClient(scheme.Scheme, objs...)}
}

func (c cluster) GetClientFor(apiVersion, kind string) (dynamic.NamespaceableResourceInterface, bool, error) {
	if apiVersion != "v1" || kind != "Secret" {
		return nil, false, fmt.Errorf("the chart looks up %s %s; the test cluster serves Secrets only", apiVersion, kind)
	}
	return c.client.Resource(schema.GroupVersionResource{Version: "v1", Resource: "secrets"}), true, nil
}

// renderAgainst renders the chart as an install (upgrade false) or upgrade
// against the cluster, and returns the master key Secret it renders.
func renderAgainst(t *testing.T, c cluster, upgrade bool) *corev1.Secret {
	return renderSecretAgainst(t, c, upgrade, "secret-master-key.yaml")
}

// renderSecretAgainst is renderAgainst for the Secret of template file.
func renderSecretAgainst(t *testing.T, c cluster, upgrade bool, file string) *corev1.Secret {
	t.Helper()
	chrt := loadChart(t)
	caps := chartutil.DefaultCapabilities.Copy()
	vals, err := chartutil.ToRenderValues(chrt, map[string]any{},
		chartutil.ReleaseOptions{Name: releaseName, Namespace: namespace, IsInstall: !upgrade, IsUpgrade: upgrade}, caps)
	if err != nil {
		t.Fatal(err)
	}
	files, err := engine.RenderWithClientProvider(chrt, vals, c)
	if err != nil {
		t.Fatalf("render: %v", err)
	}
	doc := files["flagops/templates/"+file]
	if strings.TrimSpace(doc) == "" {
		t.Fatalf("%s renders nothing", file)
	}
	obj, _, err := decodeStrict([]byte(doc))
	if err != nil {
		t.Fatal(err)
	}
	return obj.(*corev1.Secret)
}

// TestMasterKeyGeneratedOnceKept renders the master key Secret against a
// cluster: without the Secret a new key is generated (and differs per
// install); with it, every upgrade renders the Secret's value back byte for
// byte — also a value the operator changed to rotate — so Helm never
// replaces the key.
func TestMasterKeyGeneratedOnceKept(t *testing.T) {
	first := renderAgainst(t, newCluster(), false)
	key := string(first.Data["masterKey"])
	checkMasterKey(t, key)
	if again := string(renderAgainst(t, newCluster(), false).Data["masterKey"]); again == key {
		t.Fatal("two installs generated the same master key")
	}

	rotated := key + ",k2:" + strings.Repeat("A", 43) + "="
	tests := []struct {
		name, inCluster string
	}{
		{"as generated", key},
		{"as the operator rotated it", rotated},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			existing := &corev1.Secret{
				TypeMeta:   metav1.TypeMeta{APIVersion: "v1", Kind: "Secret"},
				ObjectMeta: metav1.ObjectMeta{Name: first.Name, Namespace: namespace},
				Data:       map[string][]byte{"masterKey": []byte(tt.inCluster)},
			}
			for range 3 {
				got := renderAgainst(t, newCluster(existing), true)
				if string(got.Data["masterKey"]) != tt.inCluster {
					t.Fatalf("upgrade rendered a different master key than the cluster's")
				}
				if got.Annotations["helm.sh/resource-policy"] != "keep" {
					t.Fatalf("annotations %v, want helm.sh/resource-policy: keep", got.Annotations)
				}
			}
		})
	}
}

// TestAdminTokenGeneratedOnceKept: the admin token Secret is generated per
// install in the format flagops generates, and every upgrade renders the
// cluster's value back, so Helm never replaces the token of the admin key
// the first start made.
func TestAdminTokenGeneratedOnceKept(t *testing.T) {
	first := renderSecretAgainst(t, newCluster(), false, "secret-admin-token.yaml")
	token := string(first.Data["token"])
	if !adminTokenFormat.MatchString(token) {
		t.Fatalf("generated admin token has %d characters, not a flagops token", len(token))
	}
	if again := renderSecretAgainst(t, newCluster(), false, "secret-admin-token.yaml"); string(again.Data["token"]) == token {
		t.Fatal("two installs generated the same admin token")
	}
	existing := &corev1.Secret{
		TypeMeta:   metav1.TypeMeta{APIVersion: "v1", Kind: "Secret"},
		ObjectMeta: metav1.ObjectMeta{Name: first.Name, Namespace: namespace},
		Data:       map[string][]byte{"token": []byte(token)},
	}
	for range 3 {
		got := renderSecretAgainst(t, newCluster(existing), true, "secret-admin-token.yaml")
		if string(got.Data["token"]) != token || got.Annotations["helm.sh/resource-policy"] != "keep" {
			t.Fatalf("upgrade rendered another admin token, or without keep (%v)", got.Annotations)
		}
	}
}
