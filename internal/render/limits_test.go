package render_test

import (
	"encoding/base64"
	"encoding/hex"
	"strings"
	"testing"
	"time"

	"github.com/flagops/flagops/internal/render"
)

// TestLimits: templates that would take unbounded memory or time stop with
// an error naming the limit, quickly (issue 9.11).
func TestLimits(t *testing.T) {
	small := render.Limits{Timeout: 2 * time.Second, MaxOutput: 1 << 20}
	tests := []struct {
		name, tmpl string
		limits     render.Limits
		want       string
	}{
		{"until a billion", `{{range until 1000000000}}x{{end}}`, render.Limits{}, "until would make a value over the size limit"},
		{"untilStep a billion", `{{range untilStep 0 1000000000 1}}x{{end}}`, render.Limits{}, "untilStep would make a value"},
		{"seq a billion", `{{seq 1000000000}}`, render.Limits{}, "seq would make a value"},
		{"repeat a billion", `{{repeat 1000000000 "x"}}`, render.Limits{}, "repeat would make a value"},
		{"indent a billion", `{{indent 1000000000 "x"}}`, render.Limits{}, "indent would make a value"},
		{"randAlpha a billion", `{{randAlpha 1000000000}}`, render.Limits{}, "randAlpha would make a value"},
		{"printf width", `{{printf "%1000000000d" 1}}`, render.Limits{}, "printf would make a value"},
		{"printf star width", `{{printf "%*d" 1000000000 1}}`, render.Limits{}, "printf would make a value"},
		{"replace everywhere", `{{replace "" (repeat 100000 "y") (repeat 100000 "x")}}`, render.Limits{}, "replace would make a value"},
		{"regexReplaceAll everywhere", `{{regexReplaceAll "" (repeat 100000 "x") (repeat 100000 "y")}}`, render.Limits{}, "regexReplaceAll would make a value"},
		{"join with a huge separator", `{{join (repeat 1000000 "x") (until 100000)}}`, render.Limits{}, "join would make a value"},
		{"output of a long loop", `{{range until 60000}}` + strings.Repeat("x", 100) + `{{end}}`, small, "the rendered output exceeds the size limit of 1048576 bytes"},
		{"doubling a string", `{{$s := "x"}}{{range until 64}}{{$s = print $s $s}}{{end}}{{$s}}`, small, "would make a value over the size limit"},
		{"printing a dict shared at every level", `{{$d := dict}}{{range until 64}}{{$d = dict "a" $d "b" $d}}{{end}}{{$d}}`, small, "would make a value over the size limit"},
		{"serialising a dict shared at every level", `{{$d := dict}}{{range until 64}}{{$d = dict "a" $d "b" $d}}{{end}}{{toJson $d}}`, small, "toJson would make a value over the size limit"},
		{"printing a dict that holds itself", `{{$d := dict}}{{$_ := set $d "self" $d}}{{$d}}`, small, "would make a value over the size limit"},
		{"time", `{{range until 60000}}{{range until 60000}}{{end}}{{end}}`, render.Limits{Timeout: 300 * time.Millisecond}, "rendering took longer than the time limit of 300ms"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			start := time.Now()
			_, err := render.ExecuteWith([]render.File{{Path: "a.yaml.tmpl", Template: true, Text: tc.tmpl}}, &render.Data{}, tc.limits)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v, want one containing %q", err, tc.want)
			}
			if !strings.HasPrefix(err.Error(), "a.yaml.tmpl") {
				t.Errorf("the error does not name the file: %v", err)
			}
			if d := time.Since(start); d > 5*time.Second {
				t.Errorf("took %s", d)
			}
		})
	}
	t.Run("a template within the limits renders", func(t *testing.T) {
		out, err := render.ExecuteWith([]render.File{{Path: "a.yaml.tmpl", Template: true,
			Text: `items:{{range until 1000}}{{"\n"}}- {{printf "%05d" .}}{{end}}` + "\n" + `j: {{toJson (dict "a" (list 1 2)) | quote}}`}}, &render.Data{}, small)
		if err != nil || !strings.Contains(string(out), "- 00999") || !strings.Contains(string(out), `j: "{\"a\":[1,2]}"`) {
			t.Fatalf("%v\n%s", err, out)
		}
	})
}

// TestErrorsHoldNoTemplateData: failing templates that hand a secret to
// fail, to YAML, to index, to range and to other functions report the
// file, line, column and action, and none of the secret, its base64 or hex
// encodings, nor any 8-byte piece of them (issue 9.5).
func TestErrorsHoldNoTemplateData(t *testing.T) {
	canary := "Canary-7f3a9c2e-b81d-4e55-a0f6-91d2c3e4b5a6"
	d := &render.Data{Facts: map[string]any{"tier": "pro", "n": int64(3)}, Secrets: map[string]string{"db": canary},
		Flags: map[string]any{}, FlagDetails: map[string]render.FlagValue{}}
	tests := []struct {
		name, tmpl, want string
	}{
		{"fail with the secret", `{{fail (secret "db")}}`, "fail: the message is computed from template data and not shown"},
		{"fail with the secret in base64", `{{fail (secret "db" | b64enc)}}`, "a.yaml.tmpl:1:"},
		{"fail with part of the secret", `{{fail (printf "x%s" (secret "db" | trunc 30))}}`, "a.yaml.tmpl:1:"},
		{"fail with the secret in hex", `{{fail (printf "%x" (secret "db"))}}`, "a.yaml.tmpl:1:"},
		{"fail with an upper-cased secret", `{{fail (secret "db" | upper)}}`, "a.yaml.tmpl:1:"},
		{"required with the secret", `{{required (secret "db") ""}}`, "required: the message is computed"},
		{"a literal fail message is shown", `{{fail "replicas must be set"}}`, "fail: replicas must be set"},
		{"YAML quoting the secret", "a: *{{secret \"db\"}}\n", "rendered output is not YAML"},
		{"YAML error near the secret", "a: {{secret \"db\"}}\n  b: [\n", "rendered output is not YAML"},
		{"missing key computed from the secret", `{{index .Facts (secret "db")}}`, "unknown fact (its key is computed from template data and not shown)"},
		{"missing fact", `{{.Facts.colour}}`, `unknown fact "colour"`},
		{"fact with a computed key", `{{fact (secret "db")}}`, "unknown fact (its key"},
		{"range over the secret", `{{range (secret "db")}}{{end}}`, "a.yaml.tmpl:1:"},
		{"if over a map", `{{if (dict "k" (secret "db")) | len | eq "x"}}{{end}}`, "a.yaml.tmpl:1:"},
		{"type error", `{{add (secret "db") 1 | printf "%s" | index .Facts}}`, "a.yaml.tmpl:1:"},
		{"semver of the secret", `{{semverCompare ">1" (secret "db")}}`, "error calling semverCompare (its message is not shown"},
		{"mustFromJson of the secret", `{{mustFromJson (secret "db")}}`, "error calling mustFromJson"},
		{"regex of the secret", `{{mustRegexMatch (secret "db" | printf "(%s") "x"}}`, "error calling mustRegexMatch"},
		{"field of a string", `{{.Facts.tier.name}}`, "a.yaml.tmpl:1:"},
		{"index out of range", `{{index (list (secret "db")) 3}}`, "index out of range [0,1)"},
	}
	forms := []string{canary, strings.ToLower(canary), base64.StdEncoding.EncodeToString([]byte(canary)),
		base64.RawURLEncoding.EncodeToString([]byte(canary)), hex.EncodeToString([]byte(canary))}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := render.Execute([]render.File{{Path: "a.yaml.tmpl", Template: true, Text: tc.tmpl}}, d)
			if err == nil {
				t.Fatal("no error")
			}
			msg := err.Error()
			if !strings.Contains(msg, tc.want) {
				t.Errorf("error %q does not say %q", msg, tc.want)
			}
			for _, f := range forms {
				for i := 0; i+8 <= len(f); i++ {
					if strings.Contains(msg, f[i:i+8]) {
						t.Fatalf("the error holds %q, a piece of the secret or of an encoding of it: %s", f[i:i+8], msg)
					}
				}
			}
		})
	}
}
