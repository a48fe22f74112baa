package render_test

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/flagops/flagops/internal/errs"
	"github.com/flagops/flagops/internal/render"
)

var update = flag.Bool("update", false, "rewrite the golden files under testdata/apps")

// fakeFetcher serves one bundle, as the server would: NotFound for another
// deployment, and only the secrets asked for.
type fakeFetcher struct {
	bundle render.Bundle
	got    *render.BundleRequest
}

func (f *fakeFetcher) Fetch(_ context.Context, req *render.BundleRequest) (*render.Bundle, error) {
	f.got = req
	d := f.bundle.Deployment
	if req.Project != d.Project || req.Target != d.Target {
		return nil, errs.New(errs.NotFound, "deployment %s@%s", req.Project, req.Target)
	}
	b := f.bundle
	b.Secrets = nil
	for _, k := range req.Secrets {
		v, ok := f.bundle.Secrets[k]
		if !ok {
			return nil, errs.New(errs.NotFound, "secret %q", k)
		}
		if b.Secrets == nil {
			b.Secrets = map[string]string{}
		}
		b.Secrets[k] = v
	}
	return &b, nil
}

// TestGolden renders every testdata/apps/NAME/src under the simulated Argo
// CD environment env.txt with the bundle bundle.json, and compares the
// output with want.yaml, or the error with want.err, and the bundle
// request with request.json. Run with -update to rewrite them.
func TestGolden(t *testing.T) {
	dirs, err := filepath.Glob("testdata/apps/*")
	if err != nil || len(dirs) == 0 {
		t.Fatalf("no apps: %v", err)
	}
	for _, dir := range dirs {
		t.Run(filepath.Base(dir), func(t *testing.T) {
			envText, err := os.ReadFile(filepath.Join(dir, "env.txt"))
			if err != nil {
				t.Fatal(err)
			}
			environ := strings.Split(strings.TrimSpace(string(envText)), "\n")
			f := &fakeFetcher{}
			raw, err := os.ReadFile(filepath.Join(dir, "bundle.json"))
			if err != nil {
				t.Fatal(err)
			}
			if err := json.Unmarshal(raw, &f.bundle); err != nil {
				t.Fatal(err)
			}
			argo, err := render.ParseArgoEnv(environ)
			if err != nil {
				t.Fatal(err)
			}
			src := os.DirFS(filepath.Join(dir, "src"))
			cfg, err := render.ParseConfig(src)
			if err != nil {
				t.Fatal(err)
			}
			target, err := render.Choose(render.Target{}, argo, cfg)
			if err != nil {
				t.Fatal(err)
			}
			out, err := render.Generate(context.Background(), src, target, argo, f)
			if err != nil {
				if out != nil {
					t.Errorf("output %q with an error; want none", out)
				}
				golden(t, filepath.Join(dir, "want.err"), []byte(err.Error()+"\n"))
				for k, v := range f.bundle.Secrets {
					if strings.Contains(err.Error(), v) {
						t.Errorf("error %q holds the value of secret %s", err, k)
					}
				}
			} else {
				golden(t, filepath.Join(dir, "want.yaml"), out)
			}
			if strings.Contains(string(out), "must-never-show") {
				t.Error("the plugin's token reached the output")
			}
			req, _ := json.MarshalIndent(f.got, "", "  ")
			golden(t, filepath.Join(dir, "request.json"), append(req, '\n'))
		})
	}
}

func golden(t *testing.T, path string, got []byte) {
	t.Helper()
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run with -update to create it)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s differs (run with -update to accept):\ngot:\n%s\nwant:\n%s", path, got, want)
	}
	// A golden file must be the only one of want.yaml / want.err.
	other := map[string]string{"want.yaml": "want.err", "want.err": "want.yaml"}[filepath.Base(path)]
	if other != "" {
		if _, err := os.Stat(filepath.Join(filepath.Dir(path), other)); err == nil {
			t.Errorf("both %s and %s exist; remove the stale one", filepath.Base(path), other)
		}
	}
}
