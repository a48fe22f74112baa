package render

import (
	"errors"
	"fmt"
	"regexp"
	"strings"
	"text/template"
	"text/template/parse"

	"github.com/flagops/flagops/internal/errs"
)

// Argo CD shows a plugin's stderr in its UI, so an error of rendering must
// never hold template data: a secret, or any value a template computed or
// passed to a function (an encoding of a secret is a secret too). Errors
// name the file, the line and column, the action (the template's own text)
// and what failed; a key or a fail message is shown only when it is written
// in the templates (literals), since a template may compute one from data.
// Redact then removes any secret, or a piece or an encoding of one, that
// reached a message anyway.

// keyError is a fact, flag, secret or map key that is not there.
type keyError struct {
	what string // "fact", "flag", "secret" or "key" (index of a map)
	key  string
}

func (e *keyError) Error() string { return "unknown " + e.what }

// messageError is the message of fail or required.
type messageError struct{ fn, msg string }

func (e *messageError) Error() string { return e.fn + " failed" }

// indexError is any other failure of index; rule holds no value.
type indexError struct{ rule string }

func (e *indexError) Error() string { return e.rule }

// limitError says which limit of a rendering was reached.
type limitError struct{ msg string }

func (e *limitError) Error() string { return e.msg }

// literals are the strings written in templates: string constants, field
// names, variable and function names. An error may show a key or a message
// that is one of them, because it is the template's text, not its data.
type literals map[string]bool

// literalsOf collects the literals of every template.
func literalsOf(tmpls map[string]*template.Template) literals {
	lit := literals{}
	var walk func(n parse.Node)
	walk = func(n parse.Node) {
		switch n := n.(type) {
		case *parse.ListNode:
			if n != nil {
				for _, c := range n.Nodes {
					walk(c)
				}
			}
		case *parse.ActionNode:
			walk(n.Pipe)
		case *parse.IfNode:
			walk(n.Pipe)
			walk(n.List)
			walk(n.ElseList)
		case *parse.RangeNode:
			walk(n.Pipe)
			walk(n.List)
			walk(n.ElseList)
		case *parse.WithNode:
			walk(n.Pipe)
			walk(n.List)
			walk(n.ElseList)
		case *parse.TemplateNode:
			walk(n.Pipe)
		case *parse.PipeNode:
			if n != nil {
				for _, c := range n.Cmds {
					for _, a := range c.Args {
						walk(a)
					}
				}
			}
		case *parse.ChainNode:
			walk(n.Node)
			for _, f := range n.Field {
				lit[f] = true
			}
		case *parse.StringNode:
			lit[n.Text] = true
		case *parse.FieldNode:
			for _, f := range n.Ident {
				lit[f] = true
			}
		case *parse.VariableNode:
			for _, f := range n.Ident {
				lit[f] = true
			}
		}
	}
	for _, t := range tmpls {
		for _, tt := range t.Templates() {
			if tt.Tree != nil {
				walk(tt.Tree.Root)
			}
		}
	}
	return lit
}

// quoteIf quotes s when it is a literal of the templates, and otherwise
// says that it is not shown.
func (lit literals) quoteIf(s, what string) string {
	if lit[s] {
		return fmt.Sprintf("%q", s)
	}
	return "(" + what + " is computed from template data and not shown)"
}

// execPosRE matches the position part of a template execution error,
// `template: FILE:LINE:COL: executing "NAME" at <ACTION>: REST`.
var execPosRE = regexp.MustCompile(`(?s)^template: (.+?):(\d+):(\d+): executing ".*?" at <(.*?)>: (.*)$`)

// missingKeyRE matches text/template's missingkey=error failure; its key is
// a field name written in the template.
var missingKeyRE = regexp.MustCompile(`^map has no entry for key "(.*)"$`)

// plainExecRE matches the errors of text/template itself that hold no
// value, only the template's own text and types. Any other message (a
// function's error, "range can't iterate over VALUE") is not shown.
var plainExecRE = regexp.MustCompile(`^(undefined variable: \S+|template ".*" not defined|".*" is an incomplete or empty template|` +
	`exceeded maximum template depth.*|can't give argument to non-function .*|nil is not a command|can't evaluate command .*|` +
	`\S+ overflows int|indirection through explicit nil in .*|".*" is not a defined function|nil data; no entry for key ".*"|` +
	`nil pointer evaluating .+|\S+ is an unexported field of struct type .+|\S+ has arguments but cannot be invoked as function|` +
	`\S+ is not a method but has arguments|can't evaluate field \S+ in type .+|wrong number of args for \S+: want( at least)? \d+ got \d+|` +
	`invalid value; expected .+|dereference of nil pointer of type .+|wrong type for value; expected .+; got .+|cannot assign nil to .+|` +
	`expected (bool|string|integer|unsigned integer|float|complex); found .*|can't print .* of type .+)$`)

// plainBuiltinRE matches the errors of text/template's builtins (eq, lt,
// len, slice…) that hold no value.
var plainBuiltinRE = regexp.MustCompile(`^(incompatible types for comparison|invalid type for comparison|missing argument for comparison|` +
	`non-comparable types? .*|len of nil pointer|len of type .+|slice of untyped nil|can't slice item of type .+|index of untyped nil|` +
	`index of nil pointer|cannot index slice/array with nil|can't index item of type .+)$`)

// explainExec rewrites the execution error of file for people, without
// template data: FILE:LINE:COL, what failed, and the action.
func explainExec(file string, err error, d *Data, lit literals) error {
	m := execPosRE.FindStringSubmatch(err.Error())
	if le, ok := errors.AsType[*limitError](err); ok && m == nil {
		return failure("%s: %s", file, le.msg) // a write past the limit has no position
	}
	if m == nil {
		return failure("%s: the template could not be executed (the reason is not shown: it may hold template data)", file)
	}
	pos, action, rest := m[1]+":"+m[2]+":"+m[3], strings.ReplaceAll(m[4], " | "+printGuard, ""), m[5]
	return failure("%s: %s (at %s)", pos, describe(err, action, rest, d, lit), action)
}

// describe says what failed in an action, from the typed errors of this
// package's functions, or from text/template's message when it holds no
// value.
func describe(err error, action, rest string, d *Data, lit literals) string {
	if le, ok := errors.AsType[*limitError](err); ok {
		return le.msg
	}
	if ke, ok := errors.AsType[*keyError](err); ok {
		what := ke.what
		if what == "key" {
			// index .Facts "KEY": name what was unknown, as for .Facts.KEY.
			if f := strings.Fields(action); len(f) >= 2 && f[0] == "index" {
				switch rootField(f[1]) {
				case "Facts":
					what = "fact"
				case "Flags", "FlagDetails":
					what = "flag"
				case "Secrets":
					what = "secret"
				}
			}
		}
		if what == "flag" && lit[ke.key] {
			return unknownFlag(d, ke.key)
		}
		if what == "key" {
			return "no key " + lit.quoteIf(ke.key, "the key") + " in this map"
		}
		return "unknown " + what + " " + lit.quoteIf(ke.key, "its key")
	}
	if me, ok := errors.AsType[*messageError](err); ok {
		if lit[me.msg] {
			return me.fn + ": " + me.msg
		}
		return me.fn + ": the message is computed from template data and not shown"
	}
	if ie, ok := errors.AsType[*indexError](err); ok {
		return "error calling index: " + ie.rule
	}
	if km := missingKeyRE.FindStringSubmatch(rest); km != nil {
		key := km[1]
		switch root := rootField(action); {
		case root == "Facts" && strings.Count(action, ".") == 2:
			return "unknown fact " + lit.quoteIf(key, "its key")
		case root == "Flags" || root == "FlagDetails":
			if lit[key] {
				return unknownFlag(d, key)
			}
			return "unknown flag " + lit.quoteIf(key, "its key")
		case root == "Secrets":
			return "unknown secret " + lit.quoteIf(key, "its key")
		}
		return "no key " + lit.quoteIf(key, "the key") + " in " + strings.TrimSuffix(action, "."+key)
	}
	if fn, msg, ok := strings.Cut(strings.TrimPrefix(rest, "error calling "), ": "); ok && strings.HasPrefix(rest, "error calling ") {
		if plainBuiltinRE.MatchString(msg) {
			return "error calling " + fn + ": " + msg
		}
		return "error calling " + fn + " (its message is not shown: it may quote template data)"
	}
	if plainExecRE.MatchString(rest) {
		return rest
	}
	return "the action failed (the reason is not shown: it may quote template data)"
}

// unknownFlag describes a flag with no value: absent from the bundle, or
// present and serving no value (disabled, or an evaluation error).
func unknownFlag(d *Data, key string) string {
	if f, ok := d.FlagDetails[key]; ok {
		if f.Error != "" {
			return fmt.Sprintf("flag %q served no value (%s: %s)", key, f.Reason, f.Error)
		}
		return fmt.Sprintf("flag %q served no value (%s)", key, f.Reason)
	}
	return fmt.Sprintf("unknown flag %q", key)
}

// rootField returns the first field of a template expression such as
// ".Facts.tier" or "$.Facts.tier" ("Facts").
func rootField(expr string) string {
	expr = strings.TrimPrefix(strings.TrimPrefix(expr, "$"), ".")
	root, _, _ := strings.Cut(expr, ".")
	return root
}

// yamlQuotedRE matches what yaml.v3 quotes in its messages (an anchor's
// name, a tag), which comes from the rendered output.
var yamlQuotedRE = regexp.MustCompile("'[^']*'|\"[^\"]*\"|`[^`]*`")

// describeYAMLError returns yaml.v3's message without what it quotes.
func describeYAMLError(err error) string {
	msg := strings.TrimPrefix(err.Error(), "yaml: ")
	return yamlQuotedRE.ReplaceAllString(msg, "'…'")
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
