package charttest

import (
	"bufio"
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
)

var (
	binOnce sync.Once
	binPath string
	binErr  error
)

// flagopsBinary builds the flagops command of the repository this chart
// belongs to, once per test run.
func flagopsBinary(t *testing.T) string {
	t.Helper()
	binOnce.Do(func() {
		dir, err := os.MkdirTemp("", "flagops-charttest-")
		if err != nil {
			binErr = err
			return
		}
		binPath = filepath.Join(dir, "flagops")
		ctx, cancel := context.WithTimeout(context.Background(), 15*time.Minute)
		defer cancel()
		cmd := exec.CommandContext(ctx, "go", "build", "-o", binPath, "./cmd/flagops")
		cmd.Dir = filepath.Join("..", "..", "..")
		if out, err := cmd.CombinedOutput(); err != nil {
			binErr = fmt.Errorf("go build ./cmd/flagops: %v\n%s", err, out)
		}
	})
	if binErr != nil {
		t.Fatal(binErr)
	}
	return binPath
}

// pendingFlags are flags the chart passes to edge replicas that a flagops
// build may not have: `serve --replica-of` and its --token come with edge
// replicas (docs/operations.md). The check below reports them and checks
// every other argument.
var pendingFlags = map[string]bool{"--replica-of": true, "--token": true}

// TestRenderedFlagsExist runs the real binary with every container's
// rendered arguments, plus each FLAGOPS_* variable as the flag it stands
// for, and --help: the command parses them all, so the chart passes only
// flags and values the binary knows.
func TestRenderedFlagsExist(t *testing.T) {
	bin := flagopsBinary(t)
	for _, tt := range matrix {
		r := render(t, values(t, tt.values))
		for _, d := range all[appsv1.Deployment](r) {
			for _, c := range d.Spec.Template.Spec.Containers {
				t.Run(tt.name+"/"+d.Name, func(t *testing.T) {
					args := append([]string(nil), c.Args...)
					for _, e := range c.Env {
						// The keyring reads FLAGOPS_MASTER_KEY itself; every
						// other variable is a flag's.
						if strings.HasPrefix(e.Name, "FLAGOPS_") && e.Name != "FLAGOPS_MASTER_KEY" {
							args = append(args, "--"+strings.ReplaceAll(strings.ToLower(strings.TrimPrefix(e.Name, "FLAGOPS_")), "_", "-")+"=x")
						}
					}
					checkParses(t, bin, args)
				})
			}
		}
	}
}

// checkParses runs bin with args and --help and fails unless it parses
// them; a flag in pendingFlags the binary lacks is logged and left out.
func checkParses(t *testing.T, bin string, args []string) {
	t.Helper()
	for {
		out, err := exec.Command(bin, append(args, "--help")...).CombinedOutput()
		if err == nil {
			return
		}
		msg := string(out)
		_, rest, found := strings.Cut(msg, "unknown flag: ")
		flag := strings.Fields(rest + " ")[0]
		if !found || !pendingFlags[flag] {
			t.Fatalf("flagops %s: %v\n%s", strings.Join(args, " "), err, msg)
		}
		t.Logf("this flagops binary has no %s; checking the other arguments", flag)
		args = slicesDeleteFlag(args, flag)
	}
}

func slicesDeleteFlag(args []string, flag string) []string {
	out := args[:0:0]
	for _, a := range args {
		if a != flag && !strings.HasPrefix(a, flag+"=") {
			out = append(out, a)
		}
	}
	return out
}

// serverProcess is the rendered server container run as a local process.
type serverProcess struct {
	addr    string
	dataDir string
	env     []string
	stop    func()
}

// startRendered runs the server container of the rendered Deployment as a
// process: its arguments, with --listen on loopback and --data-dir at
// dataDir, and its environment, with every secretKeyRef read from the
// rendered Secrets or, for Secrets outside the chart, from outside; set
// replaces variables (a rotated master key).
func startRendered(t *testing.T, r rendered, outside map[string]map[string]string, dataDir string, set map[string]string) *serverProcess {
	t.Helper()
	d := get[appsv1.Deployment](t, r, "Deployment/flagops")
	c := container(t, d, "flagops")
	p := &serverProcess{dataDir: dataDir}
	mounts := mountSecrets(t, r, outside, d, c)
	var args []string
	for _, a := range c.Args {
		switch {
		case strings.HasPrefix(a, "--listen="):
			a = "--listen=127.0.0.1:0"
		case strings.HasPrefix(a, "--data-dir="):
			a = "--data-dir=" + dataDir
		}
		for mountPath, dir := range mounts {
			if flag, path, ok := strings.Cut(a, "="+mountPath+"/"); ok {
				a = flag + "=" + filepath.Join(dir, path)
			}
		}
		args = append(args, a)
	}
	p.env = []string{"PATH=" + os.Getenv("PATH")}
	for _, e := range c.Env {
		v := e.Value
		if ref := e.ValueFrom; ref != nil {
			v = secretValue(t, r, outside, ref.SecretKeyRef)
		}
		if o, ok := set[e.Name]; ok {
			v = o
		}
		p.env = append(p.env, e.Name+"="+v)
	}
	cmd := exec.Command(flagopsBinary(t), args...)
	cmd.Env = p.env
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var logBuf bytes.Buffer
	logs := func() string { mu.Lock(); defer mu.Unlock(); return logBuf.String() }
	addrc := make(chan string, 1)
	exited := make(chan struct{})
	go func() {
		defer close(exited)
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			mu.Lock()
			logBuf.Write(append(sc.Bytes(), '\n'))
			mu.Unlock()
			var rec struct{ Msg, Addr string }
			if json.Unmarshal(sc.Bytes(), &rec) == nil && rec.Msg == "flagops serving" {
				addrc <- rec.Addr
			}
		}
		_ = cmd.Wait()
	}()
	var once sync.Once
	p.stop = func() {
		once.Do(func() {
			_ = cmd.Process.Signal(os.Interrupt)
			select {
			case <-exited:
			case <-time.After(20 * time.Second):
				_ = cmd.Process.Kill()
				<-exited
			}
		})
	}
	t.Cleanup(p.stop)
	select {
	case p.addr = <-addrc:
	case <-exited:
		t.Fatalf("the rendered server exited:\n%s", logs())
	case <-time.After(2 * time.Minute):
		t.Fatalf("the rendered server did not listen within 2 minutes:\n%s", logs())
	}
	for _, route := range []string{"/healthz", "/readyz"} {
		resp, err := http.Get("http://" + p.addr + route)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("GET %s: %d %s", route, resp.StatusCode, body)
		}
	}
	return p
}

// mountSecrets writes each Secret volume the container mounts to a local
// directory (its items, or every key, with the volume's mode) the way the
// kubelet would, and returns the directories by mount path. Secrets come
// from the rendered objects or, for Secrets outside the chart, outside.
func mountSecrets(t *testing.T, r rendered, outside map[string]map[string]string, d *appsv1.Deployment, c *corev1.Container) map[string]string {
	t.Helper()
	dirs := map[string]string{}
	for _, m := range c.VolumeMounts {
		v := volume(t, d, m.Name)
		if v.Secret == nil {
			continue
		}
		dir := t.TempDir()
		mode := os.FileMode(0o644)
		if v.Secret.DefaultMode != nil {
			mode = os.FileMode(*v.Secret.DefaultMode)
		}
		items := v.Secret.Items
		if len(items) == 0 {
			if r.has("Secret/" + v.Secret.SecretName) {
				for k := range get[corev1.Secret](t, r, "Secret/"+v.Secret.SecretName).Data {
					items = append(items, corev1.KeyToPath{Key: k, Path: k})
				}
			}
			for k := range outside[v.Secret.SecretName] {
				items = append(items, corev1.KeyToPath{Key: k, Path: k})
			}
		}
		for _, it := range items {
			val := secretValue(t, r, outside, &corev1.SecretKeySelector{LocalObjectReference: corev1.LocalObjectReference{Name: v.Secret.SecretName}, Key: it.Key})
			if err := os.WriteFile(filepath.Join(dir, it.Path), []byte(val), mode); err != nil {
				t.Fatal(err)
			}
		}
		dirs[m.MountPath] = dir
	}
	return dirs
}

// secretValue reads one key of a Secret the pod refers to.
func secretValue(t *testing.T, r rendered, outside map[string]map[string]string, ref *corev1.SecretKeySelector) string {
	t.Helper()
	if r.has("Secret/" + ref.Name) {
		s := get[corev1.Secret](t, r, "Secret/"+ref.Name)
		v, ok := s.Data[ref.Key]
		if !ok {
			t.Fatalf("Secret %s has no key %s", ref.Name, ref.Key)
		}
		return string(v)
	}
	v, ok := outside[ref.Name][ref.Key]
	if !ok {
		t.Fatalf("Secret %s (key %s) is neither rendered nor given", ref.Name, ref.Key)
	}
	return v
}

// cli runs the flagops CLI the way NOTES.txt and docs/operations.md tell
// the operator to, inside the server's "pod": the server's environment, its
// data directory and its address, plus extraEnv; stdin feeds the command.
func (p *serverProcess) cli(t *testing.T, stdin string, extraEnv []string, args ...string) (string, error) {
	t.Helper()
	cmd := exec.Command(flagopsBinary(t), args...)
	cmd.Env = append(append(append([]string(nil), p.env...),
		"FLAGOPS_DATA_DIR="+p.dataDir, "FLAGOPS_SERVER=http://"+p.addr), extraEnv...)
	cmd.Stdin = strings.NewReader(stdin)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Run(); err != nil {
		return out.String(), fmt.Errorf("flagops %s: %w: %s", strings.Join(args, " "), err, errb.String())
	}
	return strings.TrimSpace(out.String()), nil
}

// mustCLI is cli that fails the test on error.
func (p *serverProcess) mustCLI(t *testing.T, stdin string, extraEnv []string, args ...string) string {
	t.Helper()
	out, err := p.cli(t, stdin, extraEnv, args...)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// adminKey follows NOTES.txt: it reads the bootstrap admin token from the
// chart's Secret (kubectl get secret … | base64 -d), makes an admin key with
// it and revokes the bootstrap key with the new one. It returns the variable
// that authenticates as the new key.
func adminKey(t *testing.T, r rendered, p *serverProcess) []string {
	t.Helper()
	bootstrap := []string{"FLAGOPS_TOKEN=" + bootstrapToken(t, r)}
	token := p.mustCLI(t, "", bootstrap, "keys", "create", "ops", "--role", "*:admin")
	if !strings.HasPrefix(token, "fo_") {
		t.Fatalf("keys create printed %q, want a token", token)
	}
	auth := []string{"FLAGOPS_TOKEN=" + token}
	p.mustCLI(t, "", auth, "keys", "revoke", "admin")
	if _, err := p.cli(t, "", bootstrap, "keys", "list"); err == nil {
		t.Fatal("the bootstrap token still works after its key was revoked")
	}
	return auth
}

// bootstrapToken is the token of the chart's admin token Secret.
func bootstrapToken(t *testing.T, r rendered) string {
	t.Helper()
	token := string(get[corev1.Secret](t, r, "Secret/flagops-admin-token").Data["token"])
	if !adminTokenFormat.MatchString(token) {
		t.Fatalf("the admin token Secret holds %d characters, not a flagops token", len(token))
	}
	return token
}

// adminTokenFormat is the format of the tokens flagops generates.
var adminTokenFormat = regexp.MustCompile(`^fo_[0-9A-Za-z]{43}$`)

// putSecret creates the environment prod and stores a secret on it.
func putSecret(t *testing.T, p *serverProcess, auth []string, value string) {
	t.Helper()
	manifest := filepath.Join(t.TempDir(), "estate.yaml")
	if err := os.WriteFile(manifest, []byte("kind: Environment\nname: prod\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	p.mustCLI(t, "", auth, "apply", "-f", manifest)
	p.mustCLI(t, value+"\n", auth, "secrets", "put", "environment/prod", "dbPassword")
}

// TestRenderedSQLiteServes starts the rendered SQLite server with its own
// arguments and the master key the chart generated, follows NOTES.txt to
// an admin key, and then rotates the master key as docs/operations.md
// says: append k2 to the Secret's value and restart, re-wrap, drop k1 and
// restart; the stored secret reads back the same at every step.
func TestRenderedSQLiteServes(t *testing.T) {
	r := render(t, values(t, ``))
	dataDir := filepath.Join(t.TempDir(), "data")
	p := startRendered(t, r, nil, dataDir, nil)
	if _, err := os.Stat(filepath.Join(dataDir, "admin.token")); !os.IsNotExist(err) {
		t.Fatalf("the rendered server wrote admin.token next to its Secret: %v", err)
	}
	auth := adminKey(t, r, p)
	putSecret(t, p, auth, "s3cr3t")

	generated := string(get[corev1.Secret](t, r, "Secret/flagops-master-key").Data["masterKey"])
	k2 := "k2:" + base64.StdEncoding.EncodeToString(bytes.Repeat([]byte{7}, 32))
	fingerprint, _, _ := strings.Cut(generated, ",")
	steps := []struct {
		name, masterKey string
		rotate          bool
	}{
		{"k2 appended", generated + "," + k2, true},
		{"k1 removed", fingerprint + "," + k2, false},
	}
	for _, st := range steps {
		t.Run(st.name, func(t *testing.T) {
			p.stop()
			p = startRendered(t, r, nil, dataDir, map[string]string{"FLAGOPS_MASTER_KEY": st.masterKey})
			if st.rotate {
				out := p.mustCLI(t, "", auth, "secrets", "rotate-master-key")
				if !strings.Contains(out, "master key k2 active; 1 record re-wrapped") {
					t.Fatalf("rotate-master-key: %q", out)
				}
			}
			if got := p.mustCLI(t, "", auth, "secrets", "get", "environment/prod", "dbPassword"); got != "s3cr3t" {
				t.Fatalf("the secret reads %q after %s", got, st.name)
			}
		})
	}
}

// TestRenderedNoBootstrap starts the rendered server with
// adminToken.bootstrap false: it makes no key and writes no admin.token, so
// the CLI next to it is refused.
func TestRenderedNoBootstrap(t *testing.T) {
	r := render(t, values(t, `adminToken: {bootstrap: false}`))
	dataDir := filepath.Join(t.TempDir(), "data")
	p := startRendered(t, r, nil, dataDir, nil)
	if _, err := os.Stat(filepath.Join(dataDir, "admin.token")); !os.IsNotExist(err) {
		t.Fatalf("admin.token with bootstrap off: %v", err)
	}
	if _, err := p.cli(t, "", nil, "keys", "list"); err == nil {
		t.Fatal("keys list worked with no key made")
	}
}
