package cli

import (
	"bytes"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/flagops/flagops/internal/domain"
)

var update = flag.Bool("update", false, "rewrite the golden files under testdata/")

// golden compares got with testdata/NAME, rewriting it with -update.
func golden(t *testing.T, name, got string) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run with -update to create it)", err)
	}
	if got != string(want) {
		t.Errorf("output differs from %s (run with -update to accept):\n%s", path, got)
	}
}

func TestParseFactValue(t *testing.T) {
	tests := []struct{ in, want string }{
		{"pro", `"pro"`},
		{"3", `3`},
		{"2.5", `2.5`},
		{"true", `true`},
		{`{"a": 1}`, `{"a":1}`},
		{`[1, "x"]`, `[1,"x"]`},
		{`"3"`, `"3"`},
		{"", `""`},
		{"eu west", `"eu west"`},
		{"{not json", `"{not json"`},
		{"null", `null`},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			if got := string(parseFactValue(tt.in)); got != tt.want {
				t.Errorf("parseFactValue(%q) = %s, want %s", tt.in, got, tt.want)
			}
		})
	}
}

func TestParseAssignments(t *testing.T) {
	tests := []struct {
		name    string
		args    []string
		want    map[string]string
		wantErr string
	}{
		{name: "mixed", args: []string{"tier=pro", "replicas=3", `obj={"a":1}`, "url=http://x?a=b"},
			want: map[string]string{"tier": `"pro"`, "replicas": "3", "obj": `{"a":1}`, "url": `"http://x?a=b"`}},
		{name: "no equals", args: []string{"tier"}, wantErr: "expected key=value"},
		{name: "bad key", args: []string{"9x=1"}, wantErr: "fact key"},
		{name: "builtin key", args: []string{"project=x"}, wantErr: "built in"},
		{name: "null", args: []string{"a=null"}, wantErr: "must not be null"},
		{name: "twice", args: []string{"a=1", "a=2"}, wantErr: "twice"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := parseAssignments(tt.args)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want one containing %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != len(tt.want) {
				t.Fatalf("got %d values, want %d", len(got), len(tt.want))
			}
			for k, w := range tt.want {
				if string(got[k]) != w {
					t.Errorf("%s = %s, want %s", k, got[k], w)
				}
			}
		})
	}
}

func TestEnvName(t *testing.T) {
	for flag, want := range map[string]string{
		"server": "FLAGOPS_SERVER", "data-dir": "FLAGOPS_DATA_DIR",
		"database-url": "FLAGOPS_DATABASE_URL", "max-request-bytes": "FLAGOPS_MAX_REQUEST_BYTES",
	} {
		if got := EnvName(flag); got != want {
			t.Errorf("EnvName(%q) = %q, want %q", flag, got, want)
		}
	}
}

func TestBindEnv(t *testing.T) {
	tests := []struct {
		name    string
		env     map[string]string
		args    []string
		want    map[string]string
		wantErr string
	}{
		{name: "unset flags read the environment",
			env:  map[string]string{"FLAGOPS_SERVER": "http://x:1", "FLAGOPS_DATA_DIR": "/d", "FLAGOPS_MAX_REQUEST_BYTES": "10"},
			want: map[string]string{"server": "http://x:1", "data-dir": "/d", "max-request-bytes": "10"}},
		{name: "the command line wins",
			env:  map[string]string{"FLAGOPS_SERVER": "http://env"},
			args: []string{"--server", "http://flag"},
			want: map[string]string{"server": "http://flag"}},
		{name: "no variable keeps the default",
			want: map[string]string{"server": "http://default", "data-dir": "./d"}},
		{name: "repeatable flags take a list",
			env:  map[string]string{"FLAGOPS_KIND": "fact,target"},
			want: map[string]string{"kind": "[fact,target]"}},
		{name: "a bad value names the variable",
			env:     map[string]string{"FLAGOPS_MAX_REQUEST_BYTES": "lots"},
			wantErr: "FLAGOPS_MAX_REQUEST_BYTES"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fs := pflag.NewFlagSet("t", pflag.ContinueOnError)
			fs.String("server", "http://default", "")
			fs.String("data-dir", "./d", "")
			fs.Int64("max-request-bytes", 4, "")
			fs.StringSlice("kind", nil, "")
			if err := fs.Parse(tt.args); err != nil {
				t.Fatal(err)
			}
			err := bindEnv(fs, func(k string) (string, bool) { v, ok := tt.env[k]; return v, ok })
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want one containing %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			for name, want := range tt.want {
				if got := fs.Lookup(name).Value.String(); got != want {
					t.Errorf("--%s = %q, want %q", name, got, want)
				}
			}
		})
	}
}

// TestEnvReachesCommands checks the binding end to end: FLAGOPS_SERVER and
// FLAGOPS_TOKEN steer a real command, and the token arrives as a bearer token.
func TestEnvReachesCommands(t *testing.T) {
	f, url := newFake(t)
	env := map[string]string{"FLAGOPS_SERVER": url, "FLAGOPS_TOKEN": "s3cret"}
	code, _, stderr := runCLI(t, env, "", "get", "environments")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	if f.auth != "Bearer s3cret" {
		t.Errorf("Authorization = %q, want Bearer s3cret", f.auth)
	}
}

func TestEveryCommandIsDocumented(t *testing.T) {
	a := &app{}
	var walk func(c *cobra.Command)
	walk = func(c *cobra.Command) {
		t.Run(c.CommandPath(), func(t *testing.T) {
			if c.Long == "" {
				t.Error("no Long description")
			}
			if c.Example == "" {
				t.Error("no Example")
			}
		})
		for _, sub := range c.Commands() {
			if sub.Name() != "help" {
				walk(sub)
			}
		}
	}
	walk(a.rootCommand())
}

func TestOutputFormats(t *testing.T) {
	now := fakeTime.Add(3 * time.Hour)
	envs := []domain.Environment{
		{Meta: domain.Meta{Workspace: "default", Name: "dev", Revision: 3, CreatedAt: fakeTime}},
		{Meta: domain.Meta{Workspace: "default", Name: "prod", Description: "Production.", Labels: map[string]string{"tier": "1"}, Revision: 12, CreatedAt: fakeTime.Add(-72 * time.Hour)}},
	}
	tbl := func() *table {
		t := &table{header: []string{"NAME", "DESCRIPTION", "REVISION", "AGE"}}
		for _, e := range envs {
			t.add(e.Name, orDash(e.Description), strconv.FormatInt(e.Revision, 10), age(now, e.CreatedAt))
		}
		return t
	}
	resolved := resolvedView{Facts: json.RawMessage(`{"big":12345678901234567,"obj":{"a":[1,2.5]},"tier":"pro"}`),
		Sources: map[string]string{"tier": "deployment/shop@eu-1"}, Revision: 9}
	tests := []struct {
		name, format string
		value        any
		tbl          func() *table
	}{
		{"environments.table", formatTable, envs, tbl},
		{"environments.json", formatJSON, envs, tbl},
		{"environments.yaml", formatYAML, envs, tbl},
		{"environment.json", formatJSON, envs[1], tbl},
		{"resolved.json", formatJSON, resolved, nil},
		{"resolved.yaml", formatYAML, resolved, nil},
		{"resolved.table", formatTable, resolved, func() *table { return resolvedTable(resolved) }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var buf bytes.Buffer
			if err := printValue(&buf, tt.format, tt.value, tt.tbl); err != nil {
				t.Fatal(err)
			}
			golden(t, "output/"+tt.name, buf.String())
		})
	}
}

func TestAge(t *testing.T) {
	now := fakeTime
	tests := []struct {
		ago  time.Duration
		want string
	}{{5 * time.Second, "5s"}, {3 * time.Minute, "3m"}, {5 * time.Hour, "5h"}, {72 * time.Hour, "3d"}, {-time.Second, "0s"}}
	for _, tt := range tests {
		t.Run(tt.want, func(t *testing.T) {
			if got := age(now, now.Add(-tt.ago)); got != tt.want {
				t.Errorf("age(%s) = %q, want %q", tt.ago, got, tt.want)
			}
		})
	}
}

func TestParseSince(t *testing.T) {
	now := fakeTime
	tests := []struct {
		in      string
		want    time.Time
		wantErr bool
	}{
		{"1h", now.Add(-time.Hour), false},
		{"2026-01-01T00:00:00Z", time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC), false},
		{"yesterday", time.Time{}, true},
		{"-1h", time.Time{}, true},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := parseSince(tt.in, now)
			if (err != nil) != tt.wantErr {
				t.Fatalf("err = %v, wantErr %v", err, tt.wantErr)
			}
			if !got.Equal(tt.want) {
				t.Errorf("got %s, want %s", got, tt.want)
			}
		})
	}
}

func TestParseBulkFacts(t *testing.T) {
	tests := []struct {
		name, in string
		want     int
		wantErr  string
	}{
		{name: "yaml", in: "- scope: environment/prod\n  values: {region: eu}\n- scope: deployment/shop@eu-1\n  values: {n: 3}\n", want: 2},
		{name: "json", in: `[{"scope":"environment/prod","values":{"big":12345678901234567890}}]`, want: 1},
		{name: "bad scope", in: `[{"scope":"nope","values":{"a":1}}]`, wantErr: "entries[0].scope"},
		{name: "bad key", in: "- scope: environment/prod\n  values: {project: x}\n", wantErr: "entries[0].values.project"},
		{name: "unknown field", in: `[{"scope":"environment/prod","valeus":{}}]`, wantErr: "valeus"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := parseBulkFacts([]byte(tt.in))
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want one containing %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != tt.want {
				t.Errorf("got %d entries, want %d", len(got), tt.want)
			}
		})
	}
}
