package domain_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/flagops/flagops/internal/domain"
	"github.com/flagops/flagops/internal/errs"
)

func TestParseScope(t *testing.T) {
	tests := []struct {
		in      string
		want    domain.Scope
		wantErr string // a substring of the error; empty when the scope is valid
	}{
		{in: "workspace", want: domain.WorkspaceScope()},
		{in: "environment/prod", want: domain.EnvironmentScope("prod")},
		{in: "target/eu-1", want: domain.TargetScope("eu-1")},
		{in: "project/shop", want: domain.ProjectScope("shop")},
		{in: "project/shop@prod", want: domain.ProjectEnvScope("shop", "prod")},
		{in: "deployment/shop@eu-1", want: domain.DeploymentScope("shop", "eu-1")},
		{in: "deployment/shop", wantErr: "deployment/PROJECT@TARGET"},
		{in: "cluster/x", wantErr: "is not a scope"},
		{in: "environment/", wantErr: "is not a scope"},
		{in: "environment/Prod", wantErr: "scope.environment"},
		{in: "project/shop@", wantErr: "scope.environment"},
		{in: "", wantErr: "is not a scope"},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := domain.ParseScope(tt.in)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) || !errors.Is(err, errs.Invalid) {
					t.Fatalf("ParseScope(%q) error = %v, want Invalid containing %q", tt.in, err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("ParseScope(%q): %v", tt.in, err)
			}
			if got != tt.want {
				t.Fatalf("ParseScope(%q) = %+v, want %+v", tt.in, got, tt.want)
			}
			if got.String() != tt.in {
				t.Fatalf("String() = %q, want %q", got.String(), tt.in)
			}
		})
	}
}

func TestValidateFactKey(t *testing.T) {
	tests := []struct {
		key string
		ok  bool
	}{
		{"tier", true},
		{"maxReplicas", true},
		{"db.pool-size", true},
		{"a_b.c2", true},
		{"", false},
		{"1tier", false},
		{"tier.", false},
		{"a..b", false},
		{"has space", false},
		{"project", false}, // built in
		{"target", false},  // built in
		{strings.Repeat("a", 129), false},
	}
	for _, tt := range tests {
		t.Run(tt.key, func(t *testing.T) {
			err := domain.ValidateFactKey("values."+tt.key, tt.key)
			if (err == nil) != tt.ok {
				t.Fatalf("ValidateFactKey(%q) = %v, want ok=%v", tt.key, err, tt.ok)
			}
			if err != nil && errs.FieldOf(err) != errs.ClipPath("values."+tt.key) {
				t.Fatalf("field = %q", errs.FieldOf(err))
			}
		})
	}
}

func TestNormalizeFactValue(t *testing.T) {
	tests := []struct {
		in, want string
		kind     error
	}{
		{in: `"pro"`, want: `"pro"`},
		{in: ` { "a" : [1, 2] } `, want: `{"a":[1,2]}`},
		{in: `3`, want: `3`},
		{in: `true`, want: `true`},
		{in: `null`, kind: errs.Invalid},
		{in: `{"a":`, kind: errs.Invalid},
		{in: `"` + strings.Repeat("x", domain.MaxFactValue) + `"`, kind: errs.TooLarge},
	}
	for _, tt := range tests {
		name := tt.in
		if len(name) > 20 {
			name = name[:20]
		}
		t.Run(name, func(t *testing.T) {
			got, err := domain.NormalizeFactValue("values.x", []byte(tt.in))
			if tt.kind != nil {
				if !errors.Is(err, tt.kind) {
					t.Fatalf("error = %v, want kind %v", err, tt.kind)
				}
				return
			}
			if err != nil || string(got) != tt.want {
				t.Fatalf("got %s, %v; want %s", got, err, tt.want)
			}
		})
	}
}

func TestValidateCatalog(t *testing.T) {
	tests := []struct {
		name  string
		err   error
		field string
	}{
		{"bad name", domain.Environment{Meta: domain.Meta{Name: "Prod"}}.Validate(), "name"},
		{"target without environment", domain.Target{Meta: domain.Meta{Name: "eu-1"}}.Validate(), "environment"},
		{"project duplicate env", domain.Project{Meta: domain.Meta{Name: "shop"}, Environments: []string{"prod", "prod"}}.Validate(), "environments[1]"},
		{"set bad env", domain.EnvironmentSet{Meta: domain.Meta{Name: "all"}, Environments: []string{"ok", "NO"}}.Validate(), "environments[1]"},
		{"valid project", domain.Project{Meta: domain.Meta{Name: "shop"}, Environments: []string{"prod"}}.Validate(), ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.field == "" {
				if tt.err != nil {
					t.Fatalf("unexpected error %v", tt.err)
				}
				return
			}
			if got := errs.FieldOf(tt.err); got != tt.field {
				t.Fatalf("field = %q (%v), want %q", got, tt.err, tt.field)
			}
		})
	}
}

func TestRedactURL(t *testing.T) {
	tests := []struct {
		raw, want string
		secret    bool
	}{
		{"https://hooks.example/flagops", "https://hooks.example/flagops", false},
		{"https://user:pa55@hooks.example/p", "https://user:***@hooks.example/p", true},
		{"https://ghp_token@hooks.example/p", "https://***@hooks.example/p", true},
		{"https://hooks.example/p?token=abc&x=1", "https://hooks.example/p?token=***&x=***", true},
		{"https://hooks.example/p?abc123", "https://hooks.example/p?***", true},
		{"https://u:p@hooks.example:8443/p?sig=a%2Fb#frag", "https://u:***@hooks.example:8443/p?sig=***#***", true},
		{"http://[::1]:9/p", "http://[::1]:9/p", false},
		{"://not a url", "***", true},
	}
	for _, tc := range tests {
		t.Run(tc.raw, func(t *testing.T) {
			got, secret := domain.RedactURL(tc.raw)
			if got != tc.want || secret != tc.secret {
				t.Fatalf("RedactURL(%q) = %q, %v; want %q, %v", tc.raw, got, secret, tc.want, tc.secret)
			}
		})
	}
}
