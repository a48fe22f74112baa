package cli

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"
	"go.yaml.in/yaml/v3"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
)

// The output formats of -o.
const (
	formatTable = "table"
	formatJSON  = "json"
	formatYAML  = "yaml"
)

// addOutputFlag adds -o/--output with the given formats, the first being the
// default.
func addOutputFlag(cmd *cobra.Command, dst *string, formats ...string) {
	if len(formats) == 0 {
		formats = []string{formatTable, formatJSON, formatYAML}
	}
	cmd.Flags().StringVarP(dst, "output", "o", formats[0], "output format: "+strings.Join(formats, "|"))
}

func checkFormat(format string, formats ...string) error {
	if len(formats) == 0 {
		formats = []string{formatTable, formatJSON, formatYAML}
	}
	if !slices.Contains(formats, format) {
		return usagef("--output %q: must be one of %s", format, strings.Join(formats, ", "))
	}
	return nil
}

// table is rows under a header, written aligned by tabwriter.
type table struct {
	header []string
	rows   [][]string
}

func (t *table) add(cells ...string) { t.rows = append(t.rows, cells) }

func (t *table) write(w io.Writer) error {
	tw := tabwriter.NewWriter(w, 0, 4, 3, ' ', 0)
	fmt.Fprintln(tw, strings.Join(t.header, "\t"))
	for _, r := range t.rows {
		fmt.Fprintln(tw, strings.Join(r, "\t"))
	}
	return tw.Flush()
}

// printValue writes value in format: json indented, yaml, or the table built
// by tbl. value is anything encoding/json can write, or a proto message.
func printValue(w io.Writer, format string, value any, tbl func() *table) error {
	switch format {
	case formatJSON:
		shaped, err := jsonShape(value)
		if err != nil {
			return err
		}
		out, err := json.MarshalIndent(shaped, "", "  ")
		if err != nil {
			return fmt.Errorf("write JSON: %w", err)
		}
		_, err = fmt.Fprintf(w, "%s\n", out)
		return err
	case formatYAML:
		shaped, err := jsonShape(value)
		if err != nil {
			return err
		}
		out, err := yaml.Marshal(yamlShape(shaped))
		if err != nil {
			return fmt.Errorf("write YAML: %w", err)
		}
		_, err = w.Write(out)
		return err
	case formatTable:
		if tbl == nil {
			return usagef("this command has no table output; use -o json or -o yaml")
		}
		return tbl().write(w)
	}
	return usagef("unknown output format %q", format)
}

// jsonShape turns v into the generic JSON value (maps, slices, json.Number,
// strings, bools, nil) it is written as, so that json and yaml show the same
// thing. Proto messages go through protojson.
func jsonShape(v any) (any, error) {
	var raw []byte
	var err error
	if m, ok := v.(proto.Message); ok {
		raw, err = protojson.Marshal(m)
	} else {
		raw, err = json.Marshal(v)
	}
	if err != nil {
		return nil, fmt.Errorf("encode output: %w", err)
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	var out any
	if err := dec.Decode(&out); err != nil {
		return nil, fmt.Errorf("encode output: %w", err)
	}
	return out, nil
}

// yamlShape replaces json.Numbers (which yaml would quote) by ints or floats.
func yamlShape(v any) any {
	switch x := v.(type) {
	case map[string]any:
		for k, e := range x {
			x[k] = yamlShape(e)
		}
	case []any:
		for i, e := range x {
			x[i] = yamlShape(e)
		}
	case json.Number:
		if i, err := x.Int64(); err == nil {
			return i
		}
		if f, err := x.Float64(); err == nil && !math.IsInf(f, 0) {
			return f
		}
		return x.String()
	}
	return v
}

// compactJSON writes a JSON value on one line for a table cell.
func compactJSON(raw []byte) string {
	var buf bytes.Buffer
	if err := json.Compact(&buf, raw); err != nil {
		return string(raw)
	}
	return buf.String()
}

// age writes how long ago t was, the way kubectl does: 45s, 12m, 5h, 3d.
func age(now, t time.Time) string {
	if t.IsZero() {
		return "-"
	}
	d := now.Sub(t)
	switch {
	case d < 0:
		return "0s"
	case d < 2*time.Minute:
		return strconv.Itoa(int(d.Seconds())) + "s"
	case d < 2*time.Hour:
		return strconv.Itoa(int(d.Minutes())) + "m"
	case d < 48*time.Hour:
		return strconv.Itoa(int(d.Hours())) + "h"
	}
	return strconv.Itoa(int(d.Hours()/24)) + "d"
}

// timestamp writes a time for tables, in UTC so output does not depend on
// where it runs.
func timestamp(t time.Time) string {
	if t.IsZero() {
		return "-"
	}
	return t.UTC().Format(time.RFC3339)
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func joinOrDash(s []string) string { return orDash(strings.Join(s, ",")) }
