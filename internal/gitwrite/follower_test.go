package gitwrite

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/flagops/flagops/internal/domain"
	"github.com/flagops/flagops/internal/store"
	"github.com/flagops/flagops/internal/store/pgtest"
)

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

func TestValueAt(t *testing.T) {
	tests := []struct {
		path, after, want string
		err               bool
	}{
		{"", `"1.2.3"`, "1.2.3", false},
		{"", `42`, "42", false},
		{"", `1.10`, "1.10", false},
		{"desired", `{"desired":"v2","deployed":"v1"}`, "v2", false},
		{"a.b", `{"a":{"b":true}}`, "true", false},
		{"desired", `{"deployed":"v1"}`, "", true},
		{"", `{"x":1}`, "", true},
		{"", `""`, "", true},
	}
	for _, tc := range tests {
		t.Run(tc.path+" "+tc.after, func(t *testing.T) {
			got, err := ValueAt(tc.path)(json.RawMessage(tc.after))
			if (err != nil) != tc.err || got != tc.want {
				t.Fatalf("ValueAt(%q)(%s) = %q, %v; want %q (error %v)", tc.path, tc.after, got, err, tc.want, tc.err)
			}
		})
	}
}

// TestFollowerWritesFactToGit follows fact image.tag of project/shop@prod
// (standing in for a version change), writes it into the bare repository
// and calls a Flux receiver whose signature check is Flux's algorithm.
func TestFollowerWritesFactToGit(t *testing.T) {
	backends := map[string]func(t *testing.T) store.Options{
		"sqlite":   func(t *testing.T) store.Options { return store.Options{DataDir: t.TempDir()} },
		"postgres": func(t *testing.T) store.Options { return store.Options{DatabaseURL: pgtest.URL(t)} },
	}
	for _, name := range []string{"sqlite", "postgres"} {
		t.Run(name, func(t *testing.T) {
			opt := backends[name](t)
			opt.Logger = quiet
			ctx := context.Background()
			st, err := store.Open(ctx, opt)
			if err != nil {
				t.Fatal(err)
			}
			defer st.Close()
			if _, err := st.Migrate(ctx); err != nil {
				t.Fatal(err)
			}
			ws := domain.DefaultWorkspace
			if _, _, err := st.PutEnvironment(ctx, domain.Environment{Meta: domain.Meta{Workspace: ws, Name: "prod"}}, nil); err != nil {
				t.Fatal(err)
			}
			if _, _, err := st.PutProject(ctx, domain.Project{Meta: domain.Meta{Workspace: ws, Name: "shop"}, Environments: []string{"prod"}}, nil); err != nil {
				t.Fatal(err)
			}

			var mu sync.Mutex
			var calls []string
			flux := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				body, _ := io.ReadAll(r.Body)
				m := hmac.New(sha256.New, []byte("flux-token"))
				m.Write(body)
				if r.Header.Get("X-Signature") != "sha256="+hex.EncodeToString(m.Sum(nil)) {
					http.Error(w, "bad signature", http.StatusUnauthorized)
					return
				}
				mu.Lock()
				calls = append(calls, string(body))
				mu.Unlock()
			}))
			defer flux.Close()
			t.Setenv("TEST_FLUX_TOKEN", "flux-token")

			bare := bareRepo(t)
			rule := Rule{Name: "shop-prod", Kind: domain.KindFact, Key: "project/shop@prod:image.tag",
				File: "apps/shop/kustomization.yaml", Field: Field{KustomizeImage: "shop"}}
			rule.Repository.URL = bare
			rule.Receiver.URL, rule.Receiver.TokenEnv = flux.URL, "TEST_FLUX_TOKEN"
			f := Followers(Config{Rules: []Rule{rule}}, st, quiet)[0]
			f.PollInterval = 20 * time.Millisecond
			if err := f.catchUp(ctx); err != nil { // the first run starts at the current revision
				t.Fatal(err)
			}
			rctx, cancel := context.WithCancel(ctx)
			done := make(chan struct{})
			go func() { defer close(done); f.Run(rctx) }()
			defer func() { cancel(); <-done }()

			scope := domain.ProjectEnvScope("shop", "prod")
			if _, err := st.SetFacts(ctx, ws, scope, map[string]json.RawMessage{"replicas": json.RawMessage(`3`)}, nil); err != nil {
				t.Fatal(err)
			}
			rev, err := st.SetFacts(ctx, ws, scope, map[string]json.RawMessage{"image.tag": json.RawMessage(`"2.5.0"`)}, nil)
			if err != nil {
				t.Fatal(err)
			}
			f.Notify(rev)
			deadline := time.Now().Add(20 * time.Second)
			for {
				mu.Lock()
				n := len(calls)
				mu.Unlock()
				if n > 0 {
					break
				}
				if time.Now().After(deadline) {
					t.Fatal("the Flux receiver was never called")
				}
				time.Sleep(10 * time.Millisecond)
			}
			head := headOf(t, bare)
			if got := fileAt(t, head, rule.File); !strings.Contains(got, "newTag: 2.5.0 # bumped by flagops") {
				t.Fatalf("file at head:\n%s", got)
			}
			if !strings.Contains(head.Message, "flagops revision "+itoa(rev)) {
				t.Fatalf("commit message %q does not name revision %d", head.Message, rev)
			}
			// The receiver is called inside Apply, before the cursor moves.
			for c, _, _ := st.FollowerCursor(ctx, f.Name); c.Revision < rev; c, _, _ = st.FollowerCursor(ctx, f.Name) {
				if time.Now().After(deadline) {
					t.Fatalf("cursor %+v did not pass revision %d", c, rev)
				}
				time.Sleep(10 * time.Millisecond)
			}
		})
	}
}

func itoa(n int64) string { b, _ := json.Marshal(n); return string(b) }
