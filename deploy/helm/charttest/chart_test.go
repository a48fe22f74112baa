package charttest

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"helm.sh/helm/v3/pkg/action"
	"helm.sh/helm/v3/pkg/lint/support"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/util/validation"
	"sigs.k8s.io/yaml"
)

// The values matrix: every case is linted, rendered, decoded strictly and
// held to the rules every object must keep, then to its own checks.
var matrix = []struct {
	name   string
	values string
	check  func(t *testing.T, r rendered)
}{
	{"sqlite", ``, checkSQLite},
	{"sqlite without persistence", `persistence: {enabled: false}`, func(t *testing.T, r rendered) {
		d := get[appsv1.Deployment](t, r, "Deployment/flagops")
		if v := volume(t, d, "data"); v.EmptyDir == nil {
			t.Fatalf("data volume %+v, want an emptyDir", v.VolumeSource)
		}
		if r.has("PersistentVolumeClaim/flagops-data") {
			t.Fatal("a claim is rendered with persistence off")
		}
		if !strings.Contains(r.notes, "LOST when the pod goes") {
			t.Fatalf("NOTES do not warn that the data is lost:\n%s", r.notes)
		}
	}},
	{"postgresql", `
database: {type: postgresql, url: "postgres://flagops:pw@db:5432/flagops"}
replicaCount: 3`, checkPostgres},
	{"postgresql in production", `
database: {type: postgresql, existingSecret: flagops-db, existingSecretKey: DATABASE_URL}
masterKey: {existingSecret: flagops-keys, existingSecretKey: FLAGOPS_MASTER_KEY}
replicaCount: 2
image: {digest: "sha256:` + strings.Repeat("ab", 32) + `"}
server:
  publicURL: https://flagops.example.com
  tlsSecret: flagops-tls
  ofrepRateLimit: 50
  ofrepRateBurst: 100
  gitWritebackConfig: |
    rules: []
metrics: {serviceMonitor: {enabled: true, tokenSecret: {name: flagops-metrics}}}
ingress: {enabled: true, className: nginx, tls: [{hosts: [flagops.example.com], secretName: flagops-tls}]}`, checkProduction},
	{"admin token from an existing Secret", `adminToken: {existingSecret: ops-admin, existingSecretKey: admin}`, func(t *testing.T, r rendered) {
		checkAdminToken(t, r, "ops-admin", "admin")
		if r.has("Secret/flagops-admin-token") {
			t.Fatal("the chart renders its admin token Secret next to an existing one")
		}
	}},
	{"no bootstrap admin", `adminToken: {bootstrap: false}`, func(t *testing.T, r rendered) {
		d := get[appsv1.Deployment](t, r, "Deployment/flagops")
		c := container(t, d, "flagops")
		if !slices.Contains(c.Args, "--no-bootstrap-admin") || slices.ContainsFunc(c.Args, func(a string) bool { return strings.HasPrefix(a, "--admin-token-file") }) {
			t.Fatalf("args %q, want --no-bootstrap-admin and no --admin-token-file", c.Args)
		}
		if r.has("Secret/flagops-admin-token") || slices.ContainsFunc(d.Spec.Template.Spec.Volumes, func(v corev1.Volume) bool { return v.Name == "admin-token" }) {
			t.Fatal("an admin token Secret or volume with bootstrap off")
		}
		if !strings.Contains(r.notes, "made no admin key") {
			t.Fatalf("NOTES do not say no admin key was made:\n%s", r.notes)
		}
	}},
	{"agent", `
agent:
  enabled: true
  argocdServer: https://argocd-server.argocd.svc
  argocdTokenSecret: {name: argocd-token}
  tokenSecret: {name: agent-token}
  versionField: helm:image.tag
  targets:
    - name: eu-1
    - name: US_East.2
      sync: true
      tokenSecret: {name: agent-us-token, key: key}
      appsFile: |
        applications:
          shop-us: shop`, checkAgent},
	{"edge", `
database: {type: postgresql, url: "postgres://flagops@db/flagops"}
replicaCount: 2
edge: {enabled: true, replicaCount: 3, tokenSecret: {name: edge-token}}`, checkEdge},
	{"everything", `
database: {type: postgresql, existingSecret: flagops-db}
replicaCount: 2
metrics: {serviceMonitor: {enabled: true, tokenSecret: {name: flagops-metrics}}}
ingress: {enabled: true}
agent:
  enabled: true
  argocdServer: https://argocd.example.com
  argocdTokenSecret: {name: argocd-token}
  tokenSecret: {name: agent-token}
  targets: [{name: eu-1}, {name: eu-2, selector: "team=shop"}]
edge: {enabled: true, tokenSecret: {name: edge-token}}`, func(t *testing.T, r rendered) {
		for _, id := range []string{"Deployment/flagops", "Deployment/flagops-agent-eu-1", "Deployment/flagops-agent-eu-2",
			"Deployment/flagops-edge", "PodDisruptionBudget/flagops", "PodDisruptionBudget/flagops-edge",
			"ServiceMonitor/flagops", "Ingress/flagops", "Service/flagops-edge"} {
			if !r.has(id) {
				t.Errorf("%s is not rendered", id)
			}
		}
	}},
}

// TestLint runs helm lint --strict over the matrix: the chart's structure,
// its templates and values.schema.json.
func TestLint(t *testing.T) {
	for _, tt := range matrix {
		t.Run(tt.name, func(t *testing.T) {
			lint := action.NewLint()
			lint.Strict = true
			lint.Namespace = namespace
			res := lint.Run([]string{chartDir}, values(t, tt.values))
			for _, m := range res.Messages {
				if m.Severity > support.InfoSev {
					t.Errorf("helm lint: %s", m.Error())
				}
			}
			for _, err := range res.Errors {
				t.Errorf("helm lint: %v", err)
			}
		})
	}
}

// TestTemplate renders the matrix and holds every case to the common rules
// and its own checks.
func TestTemplate(t *testing.T) {
	for _, tt := range matrix {
		t.Run(tt.name, func(t *testing.T) {
			r := render(t, values(t, tt.values))
			checkCommon(t, r)
			tt.check(t, r)
		})
	}
}

// TestRefused renders values the chart must refuse, each with an error that
// names the value and the rule.
func TestRefused(t *testing.T) {
	tests := []struct {
		name, values, want string
	}{
		{"typo at the top", `replicaCont: 2`, "replicaCont"},
		{"typo inside", `server: {logLevle: debug}`, "logLevle"},
		{"unknown database", `database: {type: mysql}`, "/database/type': value must be one of 'sqlite', 'postgresql'"},
		{"wrong type", `replicaCount: "two"`, "replicaCount"},
		{"sqlite with two pods", `replicaCount: 2`, "replicaCount: SQLite allows exactly one server pod, got 2"},
		{"postgresql without a URL", `database: {type: postgresql}`, "database: with database.type=postgresql set database.existingSecret"},
		{"postgresql with two URLs", `database: {type: postgresql, url: "postgres://db/x", existingSecret: s}`, "not both"},
		{"sqlite with a URL", `database: {url: "postgres://db/x"}`, "apply to database.type=postgresql only"},
		{"not a postgres URL", `database: {type: postgresql, url: "mysql://db/x"}`, "/database/url'"},
		{"service monitor without a key", `metrics: {serviceMonitor: {enabled: true}}`, "metrics.serviceMonitor.tokenSecret.name"},
		{"agent without targets", `agent: {enabled: true, argocdServer: "https://a", argocdTokenSecret: {name: a}, tokenSecret: {name: b}}`, "agent.targets"},
		{"agent without Argo CD", `agent: {enabled: true, tokenSecret: {name: b}, argocdTokenSecret: {name: a}, targets: [{name: eu-1}]}`, "agent.argocdServer"},
		{"agent without its key", `agent: {enabled: true, argocdServer: "https://a", argocdTokenSecret: {name: a}, targets: [{name: eu-1}]}`, "agent.tokenSecret.name"},
		{"two targets, one name", `agent: {enabled: true, argocdServer: "https://a", argocdTokenSecret: {name: a}, tokenSecret: {name: b}, targets: [{name: eu-1}, {name: EU_1}]}`, "names the same Deployment"},
		{"target with selector and apps file", `agent: {enabled: true, argocdServer: "https://a", argocdTokenSecret: {name: a}, tokenSecret: {name: b}, targets: [{name: eu-1, selector: x=y, appsFile: "a: b"}]}`, "selector or appsFile"},
		{"bad version field", `agent: {versionField: image}`, "/agent/versionField'"},
		{"edge without a key", `edge: {enabled: true}`, "edge.tokenSecret.name"},
		{"admin token Secret without bootstrap", `adminToken: {bootstrap: false, existingSecret: a}`, "with adminToken.bootstrap=false no key is made"},
		{"admin token key not a file name", `adminToken: {existingSecretKey: "../x"}`, "/adminToken/existingSecretKey'"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, _, err := template(t, values(t, tt.values))
			if err == nil {
				t.Fatalf("rendered; want an error containing %q", tt.want)
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("error %q, want it to contain %q", err, tt.want)
			}
		})
	}
}

// checkCommon holds every rendered set to the rules no case may break.
func checkCommon(t *testing.T, r rendered) {
	t.Helper()
	for _, id := range r.ids() {
		name := id[strings.Index(id, "/")+1:]
		if errs := validation.IsDNS1123Label(name); len(errs) > 0 {
			t.Errorf("%s: name is not a DNS label: %v", id, errs)
		}
	}
	deployments := all[appsv1.Deployment](r)
	for _, d := range deployments {
		checkPod(t, d)
		sel, err := metav1LabelSelector(d.Spec.Selector)
		if err != nil {
			t.Fatalf("Deployment %s selector: %v", d.Name, err)
		}
		for _, other := range deployments {
			matches := sel.Matches(labels.Set(other.Spec.Template.Labels))
			if matches != (other.Name == d.Name) {
				t.Errorf("Deployment %s's selector matches the pods of %s: %v", d.Name, other.Name, matches)
			}
		}
		for k, v := range d.Spec.Template.Labels {
			if errs := validation.IsValidLabelValue(v); len(errs) > 0 {
				t.Errorf("Deployment %s label %s=%q: %v", d.Name, k, v, errs)
			}
		}
	}
	for _, s := range all[corev1.Service](r) {
		if n := matching(deployments, labels.SelectorFromSet(s.Spec.Selector)); n != 1 {
			t.Errorf("Service %s selects the pods of %d Deployments, want 1", s.Name, n)
		}
	}
	for _, p := range all[policyv1.PodDisruptionBudget](r) {
		sel, err := metav1LabelSelector(p.Spec.Selector)
		if err != nil {
			t.Fatal(err)
		}
		if n := matching(deployments, sel); n != 1 {
			t.Errorf("PodDisruptionBudget %s selects the pods of %d Deployments, want 1", p.Name, n)
		}
	}
	if r.has("Secret/flagops-master-key") {
		s := get[corev1.Secret](t, r, "Secret/flagops-master-key")
		if s.Annotations["helm.sh/resource-policy"] != "keep" {
			t.Errorf("master key Secret annotations %v, want helm.sh/resource-policy: keep", s.Annotations)
		}
		checkMasterKey(t, string(s.Data["masterKey"]))
	}
	if r.has("Secret/flagops-admin-token") {
		s := get[corev1.Secret](t, r, "Secret/flagops-admin-token")
		if s.Annotations["helm.sh/resource-policy"] != "keep" {
			t.Errorf("admin token Secret annotations %v, want helm.sh/resource-policy: keep", s.Annotations)
		}
		if !adminTokenFormat.Match(s.Data["token"]) {
			t.Errorf("the admin token Secret holds %d characters, not a flagops token", len(s.Data["token"]))
		}
		checkAdminToken(t, r, "flagops-admin-token", "token")
	}
	if !strings.Contains(r.notes, "flagops keys create ops --role '*:admin'") {
		t.Errorf("NOTES do not say how to make an admin key:\n%s", r.notes)
	}
}

// checkAdminToken: the server reads the bootstrap admin token from Secret
// name's key, mounted read-only with mode 0400, and NOTES tell the operator
// how to read that Secret.
func checkAdminToken(t *testing.T, r rendered, name, key string) {
	t.Helper()
	d := get[appsv1.Deployment](t, r, "Deployment/flagops")
	c := container(t, d, "flagops")
	if want := "--admin-token-file=/etc/flagops/admin-token/" + key; !slices.Contains(c.Args, want) {
		t.Errorf("args %q lack %q", c.Args, want)
	}
	v := volume(t, d, "admin-token")
	if v.Secret == nil || v.Secret.SecretName != name || v.Secret.DefaultMode == nil || *v.Secret.DefaultMode != 0o400 ||
		len(v.Secret.Items) != 1 || v.Secret.Items[0].Key != key {
		t.Errorf("admin-token volume %+v, want Secret %s key %s mode 0400", v.VolumeSource, name, key)
	}
	if !slices.ContainsFunc(c.VolumeMounts, func(m corev1.VolumeMount) bool {
		return m.Name == "admin-token" && m.MountPath == "/etc/flagops/admin-token" && m.ReadOnly
	}) {
		t.Errorf("the admin token is not mounted read-only at /etc/flagops/admin-token: %+v", c.VolumeMounts)
	}
	if want := "get secret " + name + " -o jsonpath='{.data." + key + "}' | base64 -d"; !strings.Contains(r.notes, want) {
		t.Errorf("NOTES do not say how to read the admin token (%q):\n%s", want, r.notes)
	}
}

// checkPod holds a Deployment's pod to the security rules: non-root,
// read-only root file system, no privilege escalation, no capabilities,
// no service account token, resources set, secrets only by reference.
func checkPod(t *testing.T, d *appsv1.Deployment) {
	t.Helper()
	spec := d.Spec.Template.Spec
	psc := spec.SecurityContext
	if psc == nil || psc.RunAsNonRoot == nil || !*psc.RunAsNonRoot || psc.RunAsUser == nil || *psc.RunAsUser != 65532 ||
		psc.SeccompProfile == nil || psc.SeccompProfile.Type != corev1.SeccompProfileTypeRuntimeDefault {
		t.Errorf("Deployment %s pod security context %+v, want non-root 65532 with RuntimeDefault seccomp", d.Name, psc)
	}
	if spec.AutomountServiceAccountToken == nil || *spec.AutomountServiceAccountToken {
		t.Errorf("Deployment %s mounts a service account token", d.Name)
	}
	for _, c := range spec.Containers {
		sc := c.SecurityContext
		if sc == nil || sc.ReadOnlyRootFilesystem == nil || !*sc.ReadOnlyRootFilesystem ||
			sc.AllowPrivilegeEscalation == nil || *sc.AllowPrivilegeEscalation ||
			sc.Capabilities == nil || !slices.Equal(sc.Capabilities.Drop, []corev1.Capability{"ALL"}) {
			t.Errorf("Deployment %s container %s security context %+v", d.Name, c.Name, sc)
		}
		if c.Resources.Requests.Memory().IsZero() || c.Resources.Limits.Memory().IsZero() {
			t.Errorf("Deployment %s container %s: memory request and limit are required", d.Name, c.Name)
		}
		if !slices.ContainsFunc(c.VolumeMounts, func(m corev1.VolumeMount) bool { return m.MountPath == "/tmp" }) {
			t.Errorf("Deployment %s container %s: no writable /tmp under a read-only root", d.Name, c.Name)
		}
		for _, e := range c.Env {
			secret := e.Name == "FLAGOPS_MASTER_KEY" || e.Name == "FLAGOPS_DATABASE_URL" ||
				strings.HasSuffix(e.Name, "TOKEN")
			if secret && (e.Value != "" || e.ValueFrom == nil || e.ValueFrom.SecretKeyRef == nil) {
				t.Errorf("Deployment %s container %s: %s must come from a Secret", d.Name, c.Name, e.Name)
			}
		}
		for _, a := range c.Args {
			if strings.Contains(a, "postgres://") || strings.Contains(a, "token=") {
				t.Errorf("Deployment %s container %s: argument %q carries a secret", d.Name, c.Name, a)
			}
		}
	}
}

// checkMasterKey checks the generated FLAGOPS_MASTER_KEY value: a pinned
// fingerprint key and one master key, each the base64 of 32 bytes.
func checkMasterKey(t *testing.T, v string) {
	t.Helper()
	entries := strings.Split(v, ",")
	if len(entries) != 2 {
		t.Fatalf("master key value has %d entries, want fingerprint and k1", len(entries))
	}
	for i, want := range []string{"fingerprint", "k1"} {
		id, b64, _ := strings.Cut(entries[i], ":")
		raw, err := base64.StdEncoding.DecodeString(b64)
		if id != want || err != nil || len(raw) != 32 {
			t.Fatalf("master key entry %d: id %q, %d bytes (%v); want %s and 32 bytes", i+1, id, len(raw), err, want)
		}
	}
}

// TestSidecarPatchNamesTheImage keeps deploy/argocd/repo-server-patch.yaml on
// the image this repository builds and the chart runs: its repository and
// the chart's appVersion. The patch is decoded strictly too.
func TestSidecarPatchNamesTheImage(t *testing.T) {
	raw, err := os.ReadFile(filepath.Join("..", "..", "argocd", "repo-server-patch.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	js, err := yaml.YAMLToJSONStrict(raw)
	if err != nil {
		t.Fatal(err)
	}
	var patch struct {
		Spec struct {
			Template corev1.PodTemplateSpec `json:"template"`
		} `json:"spec"`
	}
	dec := json.NewDecoder(bytes.NewReader(js))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&patch); err != nil {
		t.Fatalf("repo-server-patch.yaml: %v", err)
	}
	c := loadChart(t)
	want := c.Values["image"].(map[string]any)["repository"].(string) + ":" + c.Metadata.AppVersion
	containers := patch.Spec.Template.Spec.Containers
	if len(containers) != 1 || containers[0].Image != want {
		t.Fatalf("the sidecar runs %+v, want the image %s", containers, want)
	}
}
