package render

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"path"
	"slices"
	"strings"
	"text/template"
	"time"

	"go.yaml.in/yaml/v3"
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
// found (SecretKeys) before the bundle is fetched. Functions are bound to
// the limits of a rendering when it executes.
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

// Execute is ExecuteWith under the default limits.
func Execute(files []File, d *Data) ([]byte, error) { return ExecuteWith(files, d, Limits{}) }

// ExecuteWith renders files with d into one multi-document YAML stream,
// each file's documents preceded by "---" and a "# Source:" comment. Every
// rendered template must be valid YAML. Rendering stops with an error at
// the limits l sets (time, output size). Nothing is returned on error, so a
// caller never writes partial output; the error names the file, the line
// and column and what failed, and never holds template data (a secret, a
// value a function was given).
func ExecuteWith(files []File, d *Data, l Limits) ([]byte, error) {
	tmpls, err := Parse(files, d)
	if err != nil {
		return nil, Redact(err, d.Secrets)
	}
	lit := literalsOf(tmpls)
	b := newBudget(l)
	type result struct {
		out []byte
		err error
	}
	done := make(chan result, 1)
	go func() {
		out, err := execute(files, tmpls, d, b, lit)
		done <- result{out, err}
	}()
	timer := time.NewTimer(b.l.Timeout)
	defer timer.Stop()
	select {
	case r := <-done:
		if r.err != nil {
			return nil, Redact(r.err, d.Secrets)
		}
		return r.out, nil
	case <-timer.C:
		// The execution goroutine stops at its next function call or
		// write, which see the deadline; its result is dropped.
		file := "the templates"
		if p := b.file.Load(); p != nil {
			file = *p
		}
		return nil, failure("%s: %s", file, b.timeErr())
	}
}

func execute(files []File, tmpls map[string]*template.Template, d *Data, b *budget, lit literals) ([]byte, error) {
	out := bytes.Buffer{}
	funcs := b.bound(FuncMap(d))
	for _, f := range files {
		b.file.Store(&f.Path)
		text := f.Text
		if f.Template {
			t := tmpls[f.Path]
			guardPrints(t)
			var buf bytes.Buffer
			if err := t.Funcs(funcs).Execute(&boundedWriter{b: b, w: &buf}, d); err != nil {
				return nil, explainExec(f.Path, err, d, lit)
			}
			text = buf.String()
		}
		if err := checkYAML(f.Path, text); err != nil {
			return nil, err
		}
		if strings.TrimSpace(text) == "" {
			continue
		}
		fmt.Fprintf(&out, "---\n# Source: %s\n%s", f.Path, strings.TrimPrefix(text, "---\n"))
		if !strings.HasSuffix(text, "\n") {
			out.WriteByte('\n')
		}
		if int64(out.Len()) > b.l.MaxOutput {
			return nil, failure("%s: %s", f.Path, b.outputErr())
		}
	}
	return out.Bytes(), nil
}

// checkYAML reports the first document of text that is not YAML, by line
// and without the content yaml.v3 quotes (an anchor's name, which may be
// part of a secret).
func checkYAML(file, text string) error {
	dec := yaml.NewDecoder(strings.NewReader(text))
	for {
		var n yaml.Node
		err := dec.Decode(&n)
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return failure("%s: rendered output is not YAML: %s", file, describeYAMLError(err))
		}
	}
}
