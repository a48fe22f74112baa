package charttest

import (
	"slices"
	"strings"
	"testing"

	monitoringv1 "github.com/prometheus-operator/prometheus-operator/pkg/apis/monitoring/v1"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	policyv1 "k8s.io/api/policy/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
)

// checkSQLite: one pod, Recreate, its database on a kept claim.
func checkSQLite(t *testing.T, r rendered) {
	d := get[appsv1.Deployment](t, r, "Deployment/flagops")
	if *d.Spec.Replicas != 1 || d.Spec.Strategy.Type != appsv1.RecreateDeploymentStrategyType {
		t.Fatalf("replicas %d strategy %s, want 1 and Recreate", *d.Spec.Replicas, d.Spec.Strategy.Type)
	}
	if v := volume(t, d, "data"); v.PersistentVolumeClaim == nil || v.PersistentVolumeClaim.ClaimName != "flagops-data" {
		t.Fatalf("data volume %+v, want the claim flagops-data", v.VolumeSource)
	}
	pvc := get[corev1.PersistentVolumeClaim](t, r, "PersistentVolumeClaim/flagops-data")
	if pvc.Annotations["helm.sh/resource-policy"] != "keep" || pvc.Spec.Resources.Requests.Storage().String() != "1Gi" {
		t.Fatalf("claim annotations %v size %v", pvc.Annotations, pvc.Spec.Resources.Requests.Storage())
	}
	c := container(t, d, "flagops")
	if _, ok := env(c, "FLAGOPS_DATABASE_URL"); ok {
		t.Fatal("SQLite pod gets FLAGOPS_DATABASE_URL")
	}
	for _, want := range []string{"serve", "--listen=:8080", "--data-dir=/var/lib/flagops", "--log-format=json"} {
		if !slices.Contains(c.Args, want) {
			t.Errorf("args %q lack %q", c.Args, want)
		}
	}
	if c.Image != "ghcr.io/flagops/flagops:0.1.0" {
		t.Errorf("image %q, want the chart's appVersion tag", c.Image)
	}
	if c.LivenessProbe == nil || c.LivenessProbe.HTTPGet.Path != "/healthz" ||
		c.ReadinessProbe == nil || c.ReadinessProbe.HTTPGet.Path != "/readyz" ||
		c.StartupProbe == nil || c.StartupProbe.HTTPGet.Path != "/healthz" {
		t.Errorf("probes: liveness %+v readiness %+v startup %+v", c.LivenessProbe, c.ReadinessProbe, c.StartupProbe)
	}
	ref := secretRef(t, c, "FLAGOPS_MASTER_KEY")
	if ref.Name != "flagops-master-key" || ref.Key != "masterKey" {
		t.Errorf("FLAGOPS_MASTER_KEY from %s/%s", ref.Name, ref.Key)
	}
	for _, id := range []string{"PodDisruptionBudget/flagops", "Secret/flagops-database", "ServiceMonitor/flagops", "Ingress/flagops"} {
		if r.has(id) {
			t.Errorf("%s is rendered by default", id)
		}
	}
}

// checkPostgres: N pods rolling, the URL from the chart's Secret, a PDB.
func checkPostgres(t *testing.T, r rendered) {
	d := get[appsv1.Deployment](t, r, "Deployment/flagops")
	if *d.Spec.Replicas != 3 || d.Spec.Strategy.Type != appsv1.RollingUpdateDeploymentStrategyType ||
		d.Spec.Strategy.RollingUpdate.MaxUnavailable.IntValue() != 0 {
		t.Fatalf("replicas %d strategy %+v, want 3 rolling with none unavailable", *d.Spec.Replicas, d.Spec.Strategy)
	}
	c := container(t, d, "flagops")
	ref := secretRef(t, c, "FLAGOPS_DATABASE_URL")
	s := get[corev1.Secret](t, r, "Secret/"+ref.Name)
	if got := string(s.Data[ref.Key]); got != "postgres://flagops:pw@db:5432/flagops" {
		t.Fatalf("database Secret %s[%s] = %q", ref.Name, ref.Key, got)
	}
	if v := volume(t, d, "data"); v.EmptyDir == nil {
		t.Fatalf("data volume %+v, want an emptyDir (the database holds the state)", v.VolumeSource)
	}
	if r.has("PersistentVolumeClaim/flagops-data") {
		t.Fatal("a claim is rendered for PostgreSQL")
	}
	pdb := get[policyv1.PodDisruptionBudget](t, r, "PodDisruptionBudget/flagops")
	if pdb.Spec.MaxUnavailable.IntValue() != 1 {
		t.Fatalf("PDB maxUnavailable %v, want 1", pdb.Spec.MaxUnavailable)
	}
	// Every pod mounts the one admin token Secret: the first start makes the
	// key with it, the others find the key.
	checkAdminToken(t, r, "flagops-admin-token", "token")
}

// checkProduction: existing Secrets, digest, TLS, write-back config,
// ServiceMonitor with a key, Ingress.
func checkProduction(t *testing.T, r rendered) {
	d := get[appsv1.Deployment](t, r, "Deployment/flagops")
	c := container(t, d, "flagops")
	if !strings.HasSuffix(c.Image, "@sha256:"+strings.Repeat("ab", 32)) {
		t.Errorf("image %q, want the digest", c.Image)
	}
	if ref := secretRef(t, c, "FLAGOPS_DATABASE_URL"); ref.Name != "flagops-db" || ref.Key != "DATABASE_URL" {
		t.Errorf("database URL from %s/%s", ref.Name, ref.Key)
	}
	if ref := secretRef(t, c, "FLAGOPS_MASTER_KEY"); ref.Name != "flagops-keys" || ref.Key != "FLAGOPS_MASTER_KEY" {
		t.Errorf("master key from %s/%s", ref.Name, ref.Key)
	}
	for _, id := range []string{"Secret/flagops-master-key", "Secret/flagops-database"} {
		if r.has(id) {
			t.Errorf("%s is rendered although an existing Secret is named", id)
		}
	}
	for _, want := range []string{"--tls-cert=/etc/flagops/tls/tls.crt", "--tls-key=/etc/flagops/tls/tls.key",
		"--public-url=https://flagops.example.com", "--ofrep-rate-limit=50", "--ofrep-rate-burst=100",
		"--git-writeback-config=/etc/flagops/config/git-writeback.yaml"} {
		if !slices.Contains(c.Args, want) {
			t.Errorf("args %q lack %q", c.Args, want)
		}
	}
	if c.ReadinessProbe.HTTPGet.Scheme != corev1.URISchemeHTTPS {
		t.Errorf("readiness probe scheme %s with TLS", c.ReadinessProbe.HTTPGet.Scheme)
	}
	cm := get[corev1.ConfigMap](t, r, "ConfigMap/flagops-config")
	if cm.Data["git-writeback.yaml"] != "rules: []" && cm.Data["git-writeback.yaml"] != "rules: []\n" {
		t.Errorf("write-back config %q", cm.Data["git-writeback.yaml"])
	}
	sm := get[monitoringv1.ServiceMonitor](t, r, "ServiceMonitor/flagops")
	ep := sm.Spec.Endpoints[0]
	if ep.Path != "/metrics" || ep.Authorization == nil || ep.Authorization.Credentials.Name != "flagops-metrics" ||
		ep.Scheme == nil || string(*ep.Scheme) != "https" {
		t.Errorf("ServiceMonitor endpoint %+v", ep)
	}
	sel, err := metav1LabelSelector(&sm.Spec.Selector)
	if err != nil {
		t.Fatal(err)
	}
	svc := get[corev1.Service](t, r, "Service/flagops")
	if !sel.Matches(labels.Set(svc.Labels)) {
		t.Errorf("ServiceMonitor selector %v does not match the Service's labels %v", sm.Spec.Selector, svc.Labels)
	}
	ing := get[networkingv1.Ingress](t, r, "Ingress/flagops")
	if b := ing.Spec.Rules[0].HTTP.Paths[0].Backend.Service; b.Name != "flagops" || b.Port.Name != "http" {
		t.Errorf("Ingress backend %+v", b)
	}
}

// checkAgent: one Deployment per target with its own flags and keys.
func checkAgent(t *testing.T, r rendered) {
	eu := container(t, get[appsv1.Deployment](t, r, "Deployment/flagops-agent-eu-1"), "agent")
	for _, want := range []string{"agent", "argocd", "--target=eu-1", "--server=http://flagops.flagops.svc:8080",
		"--argocd-server=https://argocd-server.argocd.svc", "--version-field=helm:image.tag"} {
		if !slices.Contains(eu.Args, want) {
			t.Errorf("eu-1 args %q lack %q", eu.Args, want)
		}
	}
	if slices.Contains(eu.Args, "--sync") {
		t.Errorf("eu-1 syncs: %q", eu.Args)
	}
	if ref := secretRef(t, eu, "FLAGOPS_TOKEN"); ref.Name != "agent-token" || ref.Key != "token" {
		t.Errorf("eu-1 token from %s/%s", ref.Name, ref.Key)
	}
	if ref := secretRef(t, eu, "FLAGOPS_ARGOCD_TOKEN"); ref.Name != "argocd-token" {
		t.Errorf("eu-1 Argo CD token from %s/%s", ref.Name, ref.Key)
	}
	usd := get[appsv1.Deployment](t, r, "Deployment/flagops-agent-us-east-2")
	if usd.Spec.Template.Labels["flagops.dev/target"] != "us-east-2" || *usd.Spec.Replicas != 1 {
		t.Errorf("us target labels %v replicas %d", usd.Spec.Template.Labels, *usd.Spec.Replicas)
	}
	us := container(t, usd, "agent")
	for _, want := range []string{"--target=US_East.2", "--sync", "--apps-file=/etc/flagops/agent/apps.yaml"} {
		if !slices.Contains(us.Args, want) {
			t.Errorf("us args %q lack %q", us.Args, want)
		}
	}
	if ref := secretRef(t, us, "FLAGOPS_TOKEN"); ref.Name != "agent-us-token" || ref.Key != "key" {
		t.Errorf("us token from %s/%s", ref.Name, ref.Key)
	}
	cm := get[corev1.ConfigMap](t, r, "ConfigMap/flagops-agent-us-east-2")
	if !strings.Contains(cm.Data["apps.yaml"], "shop-us: shop") {
		t.Errorf("apps file %q", cm.Data["apps.yaml"])
	}
	if v := volume(t, usd, "apps"); v.ConfigMap == nil || v.ConfigMap.Name != cm.Name {
		t.Errorf("apps volume %+v", v.VolumeSource)
	}
}

// checkEdge: replicas of the release's server, with their own Service.
func checkEdge(t *testing.T, r rendered) {
	d := get[appsv1.Deployment](t, r, "Deployment/flagops-edge")
	if *d.Spec.Replicas != 3 {
		t.Errorf("edge replicas %d, want 3", *d.Spec.Replicas)
	}
	c := container(t, d, "edge")
	for _, want := range []string{"serve", "--replica-of=http://flagops.flagops.svc:8080", "--data-dir=/var/lib/flagops"} {
		if !slices.Contains(c.Args, want) {
			t.Errorf("edge args %q lack %q", c.Args, want)
		}
	}
	if ref := secretRef(t, c, "FLAGOPS_TOKEN"); ref.Name != "edge-token" {
		t.Errorf("edge token from %s/%s", ref.Name, ref.Key)
	}
	secretRef(t, c, "FLAGOPS_MASTER_KEY")
	if _, ok := env(c, "FLAGOPS_DATABASE_URL"); ok {
		t.Error("edge replicas get the primary's database URL")
	}
	get[corev1.Service](t, r, "Service/flagops-edge")
	get[policyv1.PodDisruptionBudget](t, r, "PodDisruptionBudget/flagops-edge")
}

func container(t *testing.T, d *appsv1.Deployment, name string) *corev1.Container {
	t.Helper()
	for i := range d.Spec.Template.Spec.Containers {
		if c := &d.Spec.Template.Spec.Containers[i]; c.Name == name {
			return c
		}
	}
	t.Fatalf("Deployment %s has no container %s", d.Name, name)
	return nil
}

func volume(t *testing.T, d *appsv1.Deployment, name string) *corev1.Volume {
	t.Helper()
	for i := range d.Spec.Template.Spec.Volumes {
		if v := &d.Spec.Template.Spec.Volumes[i]; v.Name == name {
			return v
		}
	}
	t.Fatalf("Deployment %s has no volume %s", d.Name, name)
	return nil
}

func env(c *corev1.Container, name string) (corev1.EnvVar, bool) {
	for _, e := range c.Env {
		if e.Name == name {
			return e, true
		}
	}
	return corev1.EnvVar{}, false
}

// secretRef returns the Secret key a variable comes from.
func secretRef(t *testing.T, c *corev1.Container, name string) *corev1.SecretKeySelector {
	t.Helper()
	e, ok := env(c, name)
	if !ok || e.ValueFrom == nil || e.ValueFrom.SecretKeyRef == nil {
		t.Fatalf("container %s: %s does not come from a Secret (%+v)", c.Name, name, e)
	}
	return e.ValueFrom.SecretKeyRef
}

func metav1LabelSelector(s *metav1.LabelSelector) (labels.Selector, error) {
	return metav1.LabelSelectorAsSelector(s)
}

// matching counts the Deployments whose pods sel selects.
func matching(ds []*appsv1.Deployment, sel labels.Selector) int {
	n := 0
	for _, d := range ds {
		if sel.Matches(labels.Set(d.Spec.Template.Labels)) {
			n++
		}
	}
	return n
}
