package cli

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
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
// by tbl. value is anything encoding/json can write, or a proto message
// (written by protojson). Fields keep their order in json and yaml alike.
func printValue(w io.Writer, format string, value any, tbl func() *table) error {
	if m, ok := value.(manifests); ok && format != formatTable {
		return m.write(w, format)
	}
	switch format {
	case formatJSON:
		raw, err := encodeJSON(value)
		if err != nil {
			return err
		}
		var buf bytes.Buffer
		if err := json.Indent(&buf, raw, "", "  "); err != nil {
			return fmt.Errorf("write JSON: %w", err)
		}
		buf.WriteByte('\n')
		_, err = buf.WriteTo(w)
		return err
	case formatYAML:
		raw, err := encodeJSON(value)
		if err != nil {
			return err
		}
		return writeYAML(w, raw)
	case formatTable:
		if tbl == nil {
			return usagef("this command has no table output; use -o json or -o yaml")
		}
		return tbl().write(w)
	}
	return usagef("unknown output format %q", format)
}

// encodeJSON writes v as compact JSON; proto messages go through protojson.
func encodeJSON(v any) ([]byte, error) {
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
	return raw, nil
}

// writeYAML writes a JSON value as block YAML. JSON is YAML, so yaml.v3
// reads it into nodes that keep the order of the fields and the exact
// spelling of numbers; clearing the flow and quoting styles makes the
// encoder write it the way people write YAML, quoting only the strings that
// need it.
func writeYAML(w io.Writer, raw []byte) error {
	var n yaml.Node
	if err := yaml.Unmarshal(raw, &n); err != nil {
		return fmt.Errorf("write YAML: %w", err)
	}
	blockStyle(&n)
	enc := yaml.NewEncoder(w)
	enc.SetIndent(2)
	if err := enc.Encode(&n); err != nil {
		return fmt.Errorf("write YAML: %w", err)
	}
	return enc.Close()
}

func blockStyle(n *yaml.Node) {
	n.Style = 0
	for _, c := range n.Content {
		blockStyle(c)
	}
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
