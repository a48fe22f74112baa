package render

import (
	"bytes"
	"fmt"
	"reflect"
	"regexp"
	"strings"
	"sync/atomic"
	"text/template"
	"text/template/parse"
	"time"
)

// Limits bound one rendering, so that a template cannot exhaust the time or
// the memory of the process rendering it (the Argo CD repo server's
// sidecar): {{range until 1000000000}} must fail quickly with an error, not
// take the machine down. The zero value takes the defaults.
type Limits struct {
	// Timeout bounds the time the templates execute (DefaultTimeout).
	Timeout time.Duration
	// MaxOutput bounds the rendered output in bytes, and any one value a
	// template function makes (DefaultMaxOutput). Lists made by until,
	// untilStep and seq hold at most MaxOutput/16 items.
	MaxOutput int64
}

// The default limits.
const (
	DefaultTimeout   = 10 * time.Second
	DefaultMaxOutput = 16 << 20
)

// budget is one rendering's limits and what it has used of them. It is
// shared by the goroutine that executes the templates and by ExecuteWith,
// which may give up on it; written is atomic for that reason.
type budget struct {
	l        Limits
	deadline time.Time
	written  atomic.Int64
	// file is the path of the file executing, for the time limit's error.
	file atomic.Pointer[string]
}

func newBudget(l Limits) *budget {
	if l.Timeout <= 0 {
		l.Timeout = DefaultTimeout
	}
	if l.MaxOutput <= 0 {
		l.MaxOutput = DefaultMaxOutput
	}
	return &budget{l: l, deadline: time.Now().Add(l.Timeout)}
}

func (b *budget) maxItems() int64 { return b.l.MaxOutput / 16 }

func (b *budget) timeErr() error {
	return &limitError{msg: fmt.Sprintf("rendering took longer than the time limit of %s (--render-timeout)", b.l.Timeout)}
}

func (b *budget) outputErr() error {
	return &limitError{msg: fmt.Sprintf("the rendered output exceeds the size limit of %d bytes (--max-output)", b.l.MaxOutput)}
}

func (b *budget) valueErr(fn string) error {
	return &limitError{msg: fmt.Sprintf("%s would make a value over the size limit of %d bytes or %d items (--max-output)", fn, b.l.MaxOutput, b.maxItems())}
}

// checkTime returns the time limit's error once it has passed.
func (b *budget) checkTime() error {
	if time.Now().After(b.deadline) {
		return b.timeErr()
	}
	return nil
}

// boundedWriter is the writer templates execute into: every write checks
// the time limit and counts against the output limit. text/template stops
// at a writer's error.
type boundedWriter struct {
	b *budget
	w *bytes.Buffer
}

func (w *boundedWriter) Write(p []byte) (int, error) {
	if err := w.b.checkTime(); err != nil {
		return 0, err
	}
	if w.b.written.Add(int64(len(p))) > w.b.l.MaxOutput {
		return 0, w.b.outputErr()
	}
	return w.w.Write(p)
}

// cheapFuncs take containers without walking or copying them whole, so
// their arguments are not measured (measuring is as costly as walking).
// Every other function's arguments are measured first, with the templates'
// printing (guardPrints): serialising, printing, joining or deep-copying a
// value that shares its parts many times over (a dict holding itself twice,
// sixty levels down) would otherwise make more than any limit before a
// result could be checked.
var cheapFuncs = map[string]bool{}

func init() {
	for _, n := range strings.Fields(`fact flag secret required index default empty hasKey get set unset keys values
		list tuple dict append mustAppend prepend mustPrepend push mustPush first mustFirst last mustLast rest mustRest
		initial mustInitial slice mustSlice has mustHas without mustWithout coalesce ternary typeOf kindOf typeIs kindIs
		typeIsLike dig pick omit concat compact mustCompact reverse mustReverse pluck chunk mustChunk sortAlpha uniq mustUniq`) {
		cheapFuncs[n] = true
	}
}

// bound returns fm with every function bound to the budget: a call checks
// the time limit, measures its arguments (but for cheapFuncs), refuses
// what would make more than the size limit (amplifiers), and checks the
// size of its result. A refusal panics with a *limitError, which
// text/template turns into the call's error.
func (b *budget) bound(fm template.FuncMap) template.FuncMap {
	out := make(template.FuncMap, len(fm))
	for name, fn := range fm {
		out[name] = b.wrap(name, fn)
	}
	return out
}

func (b *budget) wrap(name string, fn any) any {
	v := reflect.ValueOf(fn)
	t := v.Type()
	check := amplifiers[name]
	return reflect.MakeFunc(t, func(args []reflect.Value) []reflect.Value {
		if err := b.checkTime(); err != nil {
			panic(err)
		}
		if !cheapFuncs[name] {
			budget := b.l.MaxOutput
			for _, a := range args {
				if budget -= deepSize(a, budget); budget < 0 {
					panic(b.valueErr(name))
				}
			}
		}
		if check != nil && !check(b, args) {
			panic(b.valueErr(name))
		}
		var out []reflect.Value
		if t.IsVariadic() {
			out = v.CallSlice(args)
		} else {
			out = v.Call(args)
		}
		if len(out) > 0 && !b.shallowOK(out[0]) {
			panic(b.valueErr(name))
		}
		return out
	}).Interface()
}

// shallowOK checks a function's result without walking it: a string or
// bytes within the size limit, a list or map within the item limit.
func (b *budget) shallowOK(v reflect.Value) bool {
	for v.Kind() == reflect.Interface && !v.IsNil() {
		v = v.Elem()
	}
	switch v.Kind() {
	case reflect.String:
		return int64(v.Len()) <= b.l.MaxOutput
	case reflect.Slice, reflect.Array, reflect.Map:
		if v.Kind() == reflect.Slice && v.Type().Elem().Kind() == reflect.Uint8 {
			return int64(v.Len()) <= b.l.MaxOutput
		}
		return int64(v.Len()) <= b.maxItems()
	}
	return true
}

// deepSize returns roughly how many bytes printing v would make, counting
// a shared part each time it is reached, and stops counting past limit
// (so a value that contains itself is measured in bounded time). It walks
// with its own stack: values built in templates can nest deeper than is
// safe to recurse.
func deepSize(v reflect.Value, limit int64) int64 {
	var n int64
	stack := []reflect.Value{v}
	for len(stack) > 0 && n <= limit {
		v := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		n++
		switch v.Kind() {
		case reflect.Interface, reflect.Pointer:
			if !v.IsNil() {
				stack = append(stack, v.Elem())
			}
		case reflect.String:
			n += int64(v.Len())
		case reflect.Slice, reflect.Array:
			if v.Kind() == reflect.Slice && v.Type().Elem().Kind() == reflect.Uint8 {
				n += int64(v.Len())
				continue
			}
			for i := 0; i < v.Len() && n+int64(len(stack)) <= limit; i++ {
				stack = append(stack, v.Index(i))
			}
		case reflect.Map:
			it := v.MapRange()
			for it.Next() && n+int64(len(stack)) <= limit {
				stack = append(stack, it.Key(), it.Value())
			}
		case reflect.Struct:
			for i := 0; i < v.NumField(); i++ {
				stack = append(stack, v.Field(i))
			}
		default:
			n += 8
		}
	}
	return n
}

// amplifiers check the functions whose result can be far larger than their
// arguments, before they run: they report whether the result stays within
// the limits. Arguments arrive converted to the function's parameter types
// (a variadic tail as one slice).
var amplifiers = map[string]func(b *budget, args []reflect.Value) bool{
	"until": func(b *budget, a []reflect.Value) bool { return a[0].Int() <= b.maxItems() },
	"untilStep": func(b *budget, a []reflect.Value) bool {
		return steps(a[0].Int(), a[1].Int(), a[2].Int()) <= b.maxItems()
	},
	"seq": func(b *budget, a []reflect.Value) bool {
		p := a[0]
		switch p.Len() {
		case 1:
			return steps(1, p.Index(0).Int(), 1) <= b.maxItems()
		case 2:
			return steps(p.Index(0).Int(), p.Index(1).Int(), 1) <= b.maxItems() &&
				steps(p.Index(1).Int(), p.Index(0).Int(), 1) <= b.maxItems()
		case 3:
			step := p.Index(1).Int()
			if step < 0 {
				step = -step
			}
			return steps(p.Index(0).Int(), p.Index(2).Int(), step) <= b.maxItems() &&
				steps(p.Index(2).Int(), p.Index(0).Int(), step) <= b.maxItems()
		}
		return true
	},
	"repeat": func(b *budget, a []reflect.Value) bool {
		return a[0].Int() <= 0 || mulWithin(a[0].Int(), int64(a[1].Len()), b.l.MaxOutput)
	},
	"indent":       indentWithin,
	"nindent":      indentWithin,
	"randAlphaNum": countWithin, "randAlpha": countWithin, "randAscii": countWithin,
	"randNumeric": countWithin, "randBytes": countWithin,
	"replace": func(b *budget, a []reflect.Value) bool {
		old, repl, src := a[0].String(), a[1].String(), a[2].String()
		n := int64(len(src) + 1)
		if old != "" {
			n = int64(strings.Count(src, old))
		}
		return mulWithin(n, int64(len(repl)), b.l.MaxOutput-int64(len(src)))
	},
	"regexReplaceAll":            regexReplaceWithin,
	"mustRegexReplaceAll":        regexReplaceWithin,
	"regexReplaceAllLiteral":     regexReplaceWithin,
	"mustRegexReplaceAllLiteral": regexReplaceWithin,
	"join": func(b *budget, a []reflect.Value) bool {
		list := a[1]
		for list.Kind() == reflect.Interface && !list.IsNil() {
			list = list.Elem()
		}
		if list.Kind() != reflect.Slice && list.Kind() != reflect.Array {
			return true
		}
		return mulWithin(int64(list.Len()), int64(a[0].Len()), b.l.MaxOutput)
	},
	"wrapWith": func(b *budget, a []reflect.Value) bool {
		width := max(a[0].Int(), 1)
		return mulWithin(int64(a[2].Len())/width+1, int64(a[1].Len()), b.l.MaxOutput-int64(a[2].Len()))
	},
	"printf": func(b *budget, a []reflect.Value) bool {
		return printfWidth(a[0].String(), a[1]) <= b.l.MaxOutput
	},
}

// steps is how many items a range from start to stop (exclusive) by step
// makes; 0 when step does not lead from start to stop.
func steps(start, stop, step int64) int64 {
	if step == 0 || (step > 0) != (stop > start) {
		return 0
	}
	// Divide before subtracting large values could overflow.
	return stop/step - start/step + 1
}

// mulWithin reports whether a*b <= limit without overflowing.
func mulWithin(a, b, limit int64) bool {
	if a <= 0 || b <= 0 {
		return limit >= 0
	}
	return a <= limit/b
}

func countWithin(b *budget, a []reflect.Value) bool { return a[0].Int() <= b.l.MaxOutput }

func indentWithin(b *budget, a []reflect.Value) bool {
	lines := int64(strings.Count(a[1].String(), "\n") + 1)
	return a[0].Int() <= 0 || mulWithin(a[0].Int(), lines, b.l.MaxOutput-int64(a[1].Len()))
}

// regexReplaceWithin bounds regexReplaceAll REGEX SRC REPL: every match
// gets REPL, each $group in it at most the whole source.
func regexReplaceWithin(b *budget, a []reflect.Value) bool {
	re, err := regexp.Compile(a[0].String())
	if err != nil {
		return true // the function reports the bad expression itself
	}
	src, repl := a[1].String(), a[2].String()
	matches := int64(len(re.FindAllStringIndex(src, -1)))
	per := int64(len(repl)) + int64(strings.Count(repl, "$"))*int64(len(src))
	return mulWithin(matches, per, b.l.MaxOutput-int64(len(src)))
}

// printfWidthRE finds the widths and precisions of a format's verbs.
var printfWidthRE = regexp.MustCompile(`%[-+# 0]*(\[\d+\])?(\d+|\*)?(\.(\[\d+\])?(\d+|\*)?)?`)

// printfWidth returns the most a format's widths and precisions can pad,
// counting each * as the largest integer argument.
func printfWidth(format string, args reflect.Value) int64 {
	var star int64
	for i := 0; i < args.Len(); i++ {
		a := args.Index(i)
		for a.Kind() == reflect.Interface && !a.IsNil() {
			a = a.Elem()
		}
		switch a.Kind() {
		case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
			star = max(star, a.Int())
		case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr:
			star = max(star, int64(min(a.Uint(), 1<<62)))
		}
	}
	var total int64
	for _, m := range printfWidthRE.FindAllStringSubmatch(format, -1) {
		for _, w := range []string{m[2], m[5]} {
			switch {
			case w == "*":
				total += star
			case w != "":
				var n int64
				for _, c := range w {
					n = min(n*10+int64(c-'0'), 1<<40)
				}
				total += n
			}
		}
	}
	return total
}

// printGuard is the function guardPrints adds to every printing action.
const printGuard = "flagopsPrintGuard"

// guardPrints makes every action that prints a value pass it through
// printGuard first, so that the value is measured (bound) before
// text/template formats it: fmt builds the whole text of a value before
// writing any of it. Actions that declare or assign variables print
// nothing and are left alone.
func guardPrints(t *template.Template) {
	for _, tt := range t.Templates() {
		if tt.Tree == nil {
			continue
		}
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
				if len(n.Pipe.Decl) == 0 {
					id := parse.NewIdentifier(printGuard).SetTree(tt.Tree).SetPos(n.Pos)
					n.Pipe.Cmds = append(n.Pipe.Cmds, &parse.CommandNode{NodeType: parse.NodeCommand, Pos: n.Pos, Args: []parse.Node{id}})
				}
			case *parse.IfNode:
				walk(n.List)
				walk(n.ElseList)
			case *parse.RangeNode:
				walk(n.List)
				walk(n.ElseList)
			case *parse.WithNode:
				walk(n.List)
				walk(n.ElseList)
			}
		}
		walk(tt.Tree.Root)
	}
}
