package server_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"io"
	"maps"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"connectrpc.com/connect"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/reflect/protoregistry"
	"google.golang.org/protobuf/types/dynamicpb"

	flagopsv1 "github.com/flagops/flagops/gen/flagops/v1"
	"github.com/flagops/flagops/internal/api"
	"github.com/flagops/flagops/internal/auth"
	"github.com/flagops/flagops/internal/domain"
	"github.com/flagops/flagops/internal/server"
	"github.com/flagops/flagops/internal/server/servertest"
	"github.com/flagops/flagops/web"
)

// rpc is one procedure of the API, found in the generated descriptors.
type rpc struct {
	procedure string
	method    protoreflect.MethodDescriptor
}

// allRPCs enumerates every method of every service in package flagops.v1,
// so that an RPC added later is part of the matrix without anyone listing it.
func allRPCs(t *testing.T) []rpc {
	t.Helper()
	_ = flagopsv1.File_flagops_v1_access_proto // link every generated file in
	var out []rpc
	protoregistry.GlobalFiles.RangeFilesByPackage("flagops.v1", func(fd protoreflect.FileDescriptor) bool {
		for i := range fd.Services().Len() {
			sd := fd.Services().Get(i)
			for j := range sd.Methods().Len() {
				md := sd.Methods().Get(j)
				out = append(out, rpc{procedure: "/" + string(sd.FullName()) + "/" + string(md.Name()), method: md})
			}
		}
		return true
	})
	if len(out) < 40 {
		t.Fatalf("found only %d RPCs in the descriptors", len(out))
	}
	return out
}

// sample fills a request so that it names the deployment shop@eu-1 wherever
// the message has a place for it: scope, project and target fields, and one
// element of each repeated message field (bulk entries, key bindings).
func sample(md protoreflect.MessageDescriptor) *dynamicpb.Message {
	m := dynamicpb.NewMessage(md)
	fields := md.Fields()
	for i := range fields.Len() {
		fd := fields.Get(i)
		if fd.Kind() == protoreflect.StringKind && !fd.IsList() && !fd.IsMap() {
			switch fd.Name() {
			case "scope":
				m.Set(fd, protoreflect.ValueOfString("deployment/shop@eu-1"))
			case "project":
				m.Set(fd, protoreflect.ValueOfString("shop"))
			case "target":
				m.Set(fd, protoreflect.ValueOfString("eu-1"))
			}
		}
		if fd.Kind() == protoreflect.MessageKind && fd.IsList() {
			l := m.Mutable(fd).List()
			l.Append(protoreflect.ValueOfMessage(sample(fd.Message())))
		}
	}
	return m
}

// class is how a request's resources relate to bindings.
type class string

const (
	classNone      class = "none"      // public or self: no resource
	classGlobal    class = "global"    // any binding of a role with the permission
	classAll       class = "all"       // every workspace: only "*" bindings
	classWorkspace class = "workspace" // the default workspace as a whole
	classScoped    class = "scoped"    // inside the default workspace: shop@eu-1
	classProject   class = "project"   // project shop, no target
	classKeyEnv    class = "key-env"   // the environment the key is bound to (OFREP)
)

// classes are every class, for making one key per binding.
var classes = []class{classAll, classScoped, classProject, classKeyEnv, classWorkspace}

func classify(t *testing.T, rs []auth.Resource) class {
	t.Helper()
	if len(rs) == 0 {
		return classNone
	}
	c := classWorkspace
	for _, r := range rs {
		switch {
		case r.Global:
			return classGlobal
		case r.AllWorkspaces:
			return classAll
		case r.KeyEnvironment:
			return classKeyEnv
		case r.Target != "":
			c = classScoped
		case r.Environment != "":
			t.Fatalf("resource %v names an environment but no target: the sample names none, so the matrix has no binding for it", r)
		case r.Project != "" && c == classWorkspace:
			c = classProject
		}
	}
	return c
}

// bindingsFor are the matching and the non-matching binding of a role for a
// class of request.
func bindingsFor(c class, role domain.Role) (match, miss string) {
	r := string(role)
	switch c {
	case classAll:
		return "*:" + r + "@workspace", "default:" + r + "@workspace"
	case classScoped:
		return "default:" + r + "@target/eu-1", "default:" + r + "@target/us-1"
	case classProject:
		return "default:" + r + "@project/shop", "default:" + r + "@project/other"
	case classKeyEnv:
		// Any environment binding names the environment evaluated in; a
		// workspace binding names none, so it is refused.
		return "default:" + r + "@environment/prod", "default:" + r + "@workspace"
	}
	return "default:" + r + "@workspace", "elsewhere:" + r + "@workspace"
}

// TestAuthorizationMatrix calls every RPC and every plain route with every
// role at a matching and a non-matching scope, and with no key at all, and
// checks that each call is allowed or denied exactly as the policy table
// and the role table say.
func TestAuthorizationMatrix(t *testing.T) {
	s := servertest.Start(t, server.Config{})
	admin := servertest.NewClients(servertest.HTTP1Client(), s.URL())
	ctx := context.Background()
	catalog(t, admin)

	// One key per binding, created by the bootstrap admin.
	tokens := map[string]string{}
	for _, role := range domain.Roles {
		for _, c := range classes {
			match, miss := bindingsFor(c, role)
			for _, b := range []string{match, miss} {
				if _, ok := tokens[b]; ok {
					continue
				}
				parsed, err := domain.ParseBinding(b)
				if err != nil {
					t.Fatal(err)
				}
				res, err := admin.Access.CreateKey(ctx, connect.NewRequest(&flagopsv1.CreateKeyRequest{
					Name:     "k" + string(rune('a'+len(tokens)/26)) + string(rune('a'+len(tokens)%26)),
					Bindings: []*flagopsv1.Binding{{Role: string(parsed.Role), Workspace: parsed.Workspace, Scope: parsed.Scope.String()}}}))
				if err != nil {
					t.Fatalf("create key %s: %v", b, err)
				}
				tokens[b] = res.Msg.GetToken()
			}
		}
	}

	hc := &http.Client{Timeout: 10 * time.Second}
	covered := map[string]bool{}
	check := func(t *testing.T, name string, call func(token string) (denied bool, code string), rule auth.Rule, c class) {
		t.Run(name, func(t *testing.T) {
			if ownCredential[name] {
				// Authorize lets everyone through; the handler then wants
				// its own token, which no API key is.
				for _, tok := range append([]string{""}, slices.Collect(maps.Values(tokens))...) {
					if denied, code := call(tok); !denied {
						t.Errorf("a call without the route's own credential was allowed (%s)", code)
					}
				}
				return
			}
			denied, code := call("")
			if want := rule.Permission != auth.Public; denied != want {
				t.Errorf("no key: denied=%v (%s), want denied=%v", denied, code, want)
			}
			for _, role := range domain.Roles {
				match, miss := bindingsFor(c, role)
				has := auth.RoleHas(role, rule.Permission)
				for _, tc := range []struct {
					binding string
					allow   bool
				}{
					{match, has},
					{miss, has && (c == classGlobal || c == classNone)},
				} {
					denied, code := call(tokens[tc.binding])
					if denied == tc.allow {
						t.Errorf("%s (%s): denied=%v (%s), want allowed=%v", tc.binding, rule.Permission, denied, code, tc.allow)
					}
				}
			}
		})
	}

	for _, r := range allRPCs(t) {
		rule, ok := auth.RuleFor(r.procedure)
		if !ok {
			t.Errorf("%s has no entry in the policy table (internal/auth/policy.go)", r.procedure)
			continue
		}
		covered[r.procedure] = true
		req := sample(r.method.Input())
		rs, err := rule.Resources(req)
		if err != nil {
			t.Fatalf("%s: resources of the sample request: %v", r.procedure, err)
		}
		body, err := protojson.Marshal(req)
		if err != nil {
			t.Fatal(err)
		}
		streaming := r.method.IsStreamingServer()
		check(t, r.procedure, func(token string) (bool, string) {
			return callRPC(t, hc, s.URL()+r.procedure, token, body, streaming)
		}, rule, classify(t, rs))
	}
	for _, route := range s.Routes() {
		rule, ok := auth.RuleFor(route)
		if !ok {
			t.Errorf("route %q has no entry in the policy table (internal/auth/policy.go)", route)
			continue
		}
		covered[route] = true
		rs, _ := rule.Resources(nil)
		method, path, _ := strings.Cut(route, " ")
		path = strings.TrimSuffix(path, "{$}") // "GET /{$}" is the exact path "/"
		check(t, route, func(token string) (bool, string) {
			req, _ := http.NewRequest(method, s.URL()+path, nil)
			if token != "" {
				req.Header.Set("Authorization", "Bearer "+token)
			}
			resp, err := hc.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			_, _ = io.Copy(io.Discard, resp.Body)
			return resp.StatusCode == http.StatusUnauthorized || resp.StatusCode == http.StatusForbidden, resp.Status
		}, rule, classify(t, rs))
	}
	for _, p := range auth.Procedures() {
		// "ROUTE#CHECK" entries are second checks a handler makes (reading
		// secrets for a render bundle), not routes of their own.
		if base, _, sub := strings.Cut(p, "#"); sub && covered[base] {
			continue
		}
		if !covered[p] {
			t.Errorf("policy entry %q names no RPC or route of the server", p)
		}
	}
	t.Logf("%d procedures and routes × (%d roles × 2 scopes + no key)", len(covered), len(domain.Roles))

	t.Run("a procedure without a policy entry is denied", func(t *testing.T) {
		p := auth.Principal{Actor: "key/root", Key: domain.APIKey{ID: "k", Name: "root", Bindings: []domain.Binding{
			{Role: domain.RoleAdmin, Workspace: domain.AllWorkspaces, Scope: domain.WorkspaceScope()}}}}
		if err := auth.Authorize(auth.WithPrincipal(ctx, p), "/flagops.v1.Later/Added", nil); err == nil {
			t.Fatal("Authorize allows a procedure without a policy entry")
		}
	})
}

// ownCredential are the public routes whose handler checks a credential of
// its own instead of an API key: the fact hook's token (fhk_…), and the web
// UI's session cookie (its pages, event stream and actions) or sign-in
// credentials (the sign-in form's cookie, a one-time code).
var ownCredential = func() map[string]bool {
	m := map[string]bool{api.FactHookRoute: true}
	for _, p := range web.SessionPatterns {
		m[p] = true
	}
	return m
}()

// callRPC calls a procedure with the Connect protocol (JSON) and reports
// whether authorization refused it, and the code.
func callRPC(t *testing.T, hc *http.Client, url, token string, body []byte, streaming bool) (bool, string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	ctype := "application/json"
	if streaming {
		var env bytes.Buffer
		env.WriteByte(0)
		_ = binary.Write(&env, binary.BigEndian, uint32(len(body)))
		env.Write(body)
		body, ctype = env.Bytes(), "application/connect+json"
	}
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(body))
	req.Header.Set("Content-Type", ctype)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := hc.Do(req)
	if err != nil {
		t.Fatalf("%s: %v", url, err)
	}
	defer resp.Body.Close()
	var e struct {
		Code  string `json:"code"`
		Error struct {
			Code string `json:"code"`
		} `json:"error"`
	}
	if !streaming {
		if resp.StatusCode == http.StatusOK {
			return false, "ok"
		}
		_ = json.NewDecoder(resp.Body).Decode(&e)
		return isDenial(e.Code), e.Code
	}
	// A stream answers 200; its first frame is a message (allowed) or the
	// end-of-stream frame, flag 2, carrying the error.
	br := bufio.NewReader(resp.Body)
	var head [5]byte
	if _, err := io.ReadFull(br, head[:]); err != nil {
		t.Fatalf("%s: read frame: %v", url, err)
	}
	if head[0]&2 == 0 {
		return false, "ok"
	}
	frame := make([]byte, binary.BigEndian.Uint32(head[1:]))
	_, _ = io.ReadFull(br, frame)
	_ = json.Unmarshal(frame, &e)
	return isDenial(e.Error.Code), e.Error.Code
}

func isDenial(code string) bool {
	return slices.Contains([]string{"permission_denied", "unauthenticated"}, code)
}

// catalog makes environments prod and dev, targets eu-1 (prod) and us-1
// (dev), and project shop on both.
func catalog(t *testing.T, c servertest.Clients) {
	t.Helper()
	ctx := context.Background()
	meta := func(name string) *flagopsv1.ObjectMeta { return &flagopsv1.ObjectMeta{Name: name} }
	for _, env := range []string{"prod", "dev"} {
		if _, err := c.Catalog.PutEnvironment(ctx, connect.NewRequest(&flagopsv1.PutEnvironmentRequest{Environment: &flagopsv1.Environment{Meta: meta(env)}})); err != nil {
			t.Fatal(err)
		}
	}
	for tg, env := range map[string]string{"eu-1": "prod", "us-1": "dev"} {
		if _, err := c.Catalog.PutTarget(ctx, connect.NewRequest(&flagopsv1.PutTargetRequest{Target: &flagopsv1.Target{Meta: meta(tg), Environment: env}})); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := c.Catalog.PutProject(ctx, connect.NewRequest(&flagopsv1.PutProjectRequest{Project: &flagopsv1.Project{Meta: meta("shop"), Environments: []string{"prod", "dev"}}})); err != nil {
		t.Fatal(err)
	}
}
