package render

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"path"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"text/template"

	"github.com/Masterminds/sprig/v3"
	"go.yaml.in/yaml/v3"

	"github.com/flagops/flagops/internal/errs"
)

// ConfigFile is the optional per-application configuration in the source
// directory (see ParseConfig). It is never rendered or passed through.
const ConfigFile = "flagops.yaml"

// Data is what a template sees as dot.
type Data struct {
	// Facts are the resolved facts; JSON integers are int64, other numbers
	// float64, objects map[string]any.
	Facts map[string]any
	// Flags maps a flag key to the value it served. A flag that served no
	// value is absent here and present in FlagDetails.
	Flags map[string]any
	// FlagDetails maps a flag key to its value, variant and reason.
	FlagDetails map[string]FlagValue
	// Version is the desired and deployed version ("" when unknown).
	Version Version
	// Secrets holds the secrets the templates refer to, and no others.
	Secrets map[string]string
	// Argo is what Argo CD told the plugin about the application.
	Argo Argo
}

// NewData returns the template data of a bundle and Argo CD's environment.
func NewData(b *Bundle, argo Argo) (*Data, error) {
	d := &Data{Facts: map[string]any{}, Flags: map[string]any{}, FlagDetails: b.Flags, Secrets: b.Secrets, Argo: argo}
	if d.FlagDetails == nil {
		d.FlagDetails = map[string]FlagValue{}
	}
	if d.Secrets == nil {
		d.Secrets = map[string]string{}
	}
	for k, raw := range b.Facts {
		v, err := decodeJSON(raw)
		if err != nil {
			return nil, fmt.Errorf("fact %q: %w", k, err)
		}
		d.Facts[k] = v
	}
	for k, f := range b.Flags {
		if f.Value != nil {
			d.Flags[k] = normalizeNumbers(f.Value)
		}
	}
	if b.Version != nil {
		d.Version = *b.Version
	}
	return d, nil
}

// decodeJSON decodes raw with integers as int64, so that templates print
// 3 as "3" and compare it with eq against 3.
func decodeJSON(raw []byte) (any, error) {
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, err
	}
	return normalizeNumbers(v), nil
}

func normalizeNumbers(v any) any {
	switch x := v.(type) {
	case json.Number:
		if i, err := x.Int64(); err == nil {
			return i
		}
		f, _ := x.Float64()
		return f
	case float64:
		if x == float64(int64(x)) && x < 1<<53 && x > -(1<<53) {
			return int64(x)
		}
		return x
	case map[string]any:
		for k, e := range x {
			x[k] = normalizeNumbers(e)
		}
	case []any:
		for i, e := range x {
			x[i] = normalizeNumbers(e)
		}
	}
	return v
}

// FuncMap returns the functions templates may call: sprig's text functions
// without env, expandenv (the plugin's environment holds its token and must
// never reach a manifest) and getHostByName (rendering must not depend on
// DNS), plus toYaml, required, and fact, flag and secret, which fail with the
// key's name when the key is unknown (and take keys with dots).
func FuncMap(d *Data) template.FuncMap {
	fm := sprig.TxtFuncMap()
	for _, name := range []string{"env", "expandenv", "getHostByName"} {
		delete(fm, name)
	}
	fm["toYaml"] = func(v any) (string, error) {
		b, err := yaml.Marshal(v)
		return strings.TrimSuffix(string(b), "\n"), err
	}
	fm["required"] = func(msg string, v any) (any, error) {
		if v == nil || v == "" {
			return nil, errors.New(msg)
		}
		return v, nil
	}
	fm["index"] = strictIndex
	fm["fact"] = func(key string) (any, error) {
		if v, ok := d.Facts[key]; ok {
			return v, nil
		}
		return nil, fmt.Errorf("unknown fact %q", key)
	}
	fm["flag"] = func(key string) (any, error) {
		if v, ok := d.Flags[key]; ok {
			return v, nil
		}
		return nil, unknownFlag(d, key)
	}
	fm["secret"] = func(key string) (string, error) {
		if v, ok := d.Secrets[key]; ok {
			return v, nil
		}
		return "", fmt.Errorf("unknown secret %q", key)
	}
	return fm
}

// strictIndex is text/template's index, except that a key missing from a
// map is an error, as missingkey=error makes it for .Facts.KEY: index is how
// keys with dots or dashes are read, and must not hide a typo either.
func strictIndex(item any, keys ...any) (any, error) {
	v := reflect.ValueOf(item)
	for _, k := range keys {
		for v.Kind() == reflect.Interface || v.Kind() == reflect.Pointer {
			if v.IsNil() {
				return nil, fmt.Errorf("index of nil")
			}
			v = v.Elem()
		}
		kv := reflect.ValueOf(k)
		switch v.Kind() {
		case reflect.Map:
			if !kv.IsValid() || !kv.Type().AssignableTo(v.Type().Key()) {
				return nil, fmt.Errorf("index: key %v is not a %s", k, v.Type().Key())
			}
			e := v.MapIndex(kv)
			if !e.IsValid() {
				return nil, fmt.Errorf("map has no entry for key %q", fmt.Sprint(k))
			}
			v = e
		case reflect.Slice, reflect.Array, reflect.String:
			i, ok := toInt(kv)
			if !ok || i < 0 || i >= v.Len() {
				return nil, fmt.Errorf("index %v out of range [0,%d)", k, v.Len())
			}
			v = v.Index(i)
		default:
			return nil, fmt.Errorf("cannot index %s", v.Type())
		}
	}
	if !v.IsValid() {
		return nil, nil
	}
	return v.Interface(), nil
}

func toInt(v reflect.Value) (int, bool) {
	switch v.Kind() {
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return int(v.Int()), true
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return int(v.Uint()), true
	}
	return 0, false
}

func unknownFlag(d *Data, key string) error {
	if f, ok := d.FlagDetails[key]; ok {
		if f.Error != "" {
			return fmt.Errorf("flag %q served no value (%s: %s)", key, f.Reason, f.Error)
		}
		return fmt.Errorf("flag %q served no value (%s)", key, f.Reason)
	}
	return fmt.Errorf("unknown flag %q", key)
}

// File is one file of the source directory that goes into the output.
type File struct {
	// Path is slash-separated and relative to the source directory.
	Path string
	// Template is true for *.tmpl files; others are *.yaml or *.yml files
	// passed through unchanged.
	Template bool
	Text     string
}

// LoadFiles reads the files of fsys that make the output: every *.tmpl,
// *.yaml and *.yml file, recursively, sorted by path, skipping hidden
// directories (.git) and ConfigFile at the root.
func LoadFiles(fsys fs.FS) ([]File, error) {
	var out []File
	err := fs.WalkDir(fsys, ".", func(p string, de fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if de.IsDir() {
			if p != "." && strings.HasPrefix(de.Name(), ".") {
				return fs.SkipDir
			}
			return nil
		}
		ext := path.Ext(p)
		if (ext != ".tmpl" && ext != ".yaml" && ext != ".yml") || p == ConfigFile {
			return nil
		}
		b, err := fs.ReadFile(fsys, p)
		if err != nil {
			return err
		}
		out = append(out, File{Path: p, Template: ext == ".tmpl", Text: string(b)})
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("read source directory: %w", err)
	}
	slices.SortFunc(out, func(a, b File) int { return strings.Compare(a.Path, b.Path) })
	return out, nil
}

// Parse parses the templates of files with the functions of d. It is
// separate from Execute so that the secrets the templates refer to can be
// found (SecretKeys) before the bundle is fetched.
func Parse(files []File, d *Data) (map[string]*template.Template, error) {
	out := map[string]*template.Template{}
	for _, f := range files {
		if !f.Template {
			continue
		}
		t, err := template.New(f.Path).Option("missingkey=error").Funcs(FuncMap(d)).Parse(f.Text)
		if err != nil {
			return nil, failure("%s", strings.TrimPrefix(err.Error(), "template: "))
		}
		out[f.Path] = t
	}
	return out, nil
}

// Execute renders files with d into one multi-document YAML stream, each
// file's documents preceded by "---" and a "# Source:" comment. Every
// rendered template must be valid YAML. Nothing is returned on error, so a
// caller never writes partial output; the error names the file, the line
// and the missing key, and never holds a secret value of d.
func Execute(files []File, d *Data) ([]byte, error) {
	tmpls, err := Parse(files, d)
	if err != nil {
		return nil, Redact(err, d.Secrets)
	}
	var out bytes.Buffer
	for _, f := range files {
		text := f.Text
		if f.Template {
			var buf bytes.Buffer
			if err := tmpls[f.Path].Execute(&buf, d); err != nil {
				return nil, Redact(explainExec(err, d), d.Secrets)
			}
			text = buf.String()
		}
		if err := checkYAML(f.Path, text); err != nil {
			return nil, Redact(err, d.Secrets)
		}
		if strings.TrimSpace(text) == "" {
			continue
		}
		fmt.Fprintf(&out, "---\n# Source: %s\n%s", f.Path, strings.TrimPrefix(text, "---\n"))
		if !strings.HasSuffix(text, "\n") {
			out.WriteByte('\n')
		}
	}
	return out.Bytes(), nil
}

// checkYAML reports the first document of text that is not YAML. yaml.v3's
// messages are mostly line numbers, but some quote content (an anchor's
// name), so callers redact them like any other error.
func checkYAML(file, text string) error {
	dec := yaml.NewDecoder(strings.NewReader(text))
	for {
		var n yaml.Node
		err := dec.Decode(&n)
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return failure("%s: rendered output is not YAML: %s", file, strings.TrimPrefix(err.Error(), "yaml: "))
		}
	}
}

// missingKeyRE matches text/template's error for a missing map key under
// missingkey=error, e.g.
// `template: app.yaml.tmpl:3:12: executing "app.yaml.tmpl" at <.Facts.nope>: map has no entry for key "nope"`.
var missingKeyRE = regexp.MustCompile(`^template: (.+?):(\d+):(\d+): executing ".*?" at <(.*?)>: map has no entry for key "(.*)"$`)

// execPosRE matches the position part of any other execution error.
var execPosRE = regexp.MustCompile(`^template: (.+?):(\d+):(\d+): executing ".*?" at <(.*?)>: (.*)$`)

// explainExec rewrites a template execution error for people: FILE:LINE:COL,
// what was unknown (a fact, a flag, a secret) and its name.
func explainExec(err error, d *Data) error {
	msg := err.Error()
	if m := missingKeyRE.FindStringSubmatch(msg); m != nil {
		file, line, col, expr, key := m[1], m[2], m[3], m[4], m[5]
		what := "key " + fmt.Sprintf("%q", key)
		switch root := rootField(expr); {
		case root == "Facts" && strings.Count(expr, ".") == 2:
			what = fmt.Sprintf("unknown fact %q", key)
		case root == "Flags" || root == "FlagDetails":
			what = unknownFlag(d, key).Error()
		case root == "Secrets":
			what = fmt.Sprintf("unknown secret %q", key)
		default:
			what = fmt.Sprintf("no key %q in %s", key, strings.TrimSuffix(expr, "."+key))
		}
		return failure("%s:%s:%s: %s (at %s)", file, line, col, what, expr)
	}
	if m := execPosRE.FindStringSubmatch(msg); m != nil {
		if key, ok := strings.CutPrefix(m[5], "error calling index: map has no entry for key "); ok {
			// index .Facts "KEY": name what was unknown, as for .Facts.KEY.
			if f := strings.Fields(m[4]); len(f) == 3 {
				var k string
				if json.Unmarshal([]byte(key), &k) == nil {
					switch rootField(f[1]) {
					case "Facts":
						return failure("%s:%s:%s: unknown fact %q (at %s)", m[1], m[2], m[3], k, m[4])
					case "Flags", "FlagDetails":
						return failure("%s:%s:%s: %s (at %s)", m[1], m[2], m[3], unknownFlag(d, k), m[4])
					case "Secrets":
						return failure("%s:%s:%s: unknown secret %q (at %s)", m[1], m[2], m[3], k, m[4])
					}
				}
			}
		}
		// A function's error (fact, flag, secret, required, fail) ends the
		// message after "error calling NAME: ".
		return failure("%s:%s:%s: %s (at %s)", m[1], m[2], m[3], m[5], m[4])
	}
	return failure("%s", strings.TrimPrefix(msg, "template: "))
}

// rootField returns the first field of a template expression such as
// ".Facts.tier" or "$.Facts.tier" ("Facts").
func rootField(expr string) string {
	expr = strings.TrimPrefix(strings.TrimPrefix(expr, "$"), ".")
	root, _, _ := strings.Cut(expr, ".")
	return root
}

// Redact returns err with every secret value in its message replaced by
// "[redacted]", keeping its kind. Argo CD shows a plugin's stderr in its UI,
// so no error may carry a secret; longer values are replaced first so that
// a value containing another is not half-redacted.
func Redact(err error, secrets map[string]string) error {
	if err == nil || len(secrets) == 0 {
		return err
	}
	vals := make([]string, 0, len(secrets))
	for _, v := range secrets {
		if v != "" {
			vals = append(vals, v)
		}
	}
	slices.SortFunc(vals, func(a, b string) int { return len(b) - len(a) })
	msg := err.Error()
	clean := msg
	for _, v := range vals {
		clean = strings.ReplaceAll(clean, v, "[redacted]")
	}
	if clean == msg {
		return err
	}
	kind := errs.KindOf(err)
	if kind == nil {
		return errors.New(clean)
	}
	return &kindError{msg: clean, kind: kind}
}

// failure returns an errs.Invalid error whose text is exactly the message,
// as a person reading Argo CD's UI should see it.
func failure(format string, args ...any) error {
	return &kindError{msg: fmt.Sprintf(format, args...), kind: errs.Invalid}
}

// kindError is an error of a kind whose text is only its message (errs.New
// appends the kind's name). Redact uses it to keep the kind of an error it
// cleaned: it does not wrap the original, whose text holds the secrets.
type kindError struct {
	msg  string
	kind error
}

func (e *kindError) Error() string        { return e.msg }
func (e *kindError) Is(target error) bool { return target == e.kind }
