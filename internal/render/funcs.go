package render

import (
	"fmt"
	"reflect"
	"strconv"
	"strings"
	"text/template"

	"github.com/Masterminds/sprig/v3"
	"go.yaml.in/yaml/v3"
)

// FuncMap returns the functions templates may call: sprig's text functions
// without env, expandenv (the plugin's environment holds its token and must
// never reach a manifest) and getHostByName (rendering must not depend on
// DNS), plus toYaml, required, fail, and fact, flag and secret, which fail
// naming the key when the key is unknown (and take keys with dots).
//
// The functions' errors never carry the values they were given: a key or a
// fail message is kept apart from the error's text, and the error a person
// reads shows it only when it is written in the templates (explainExec).
// Execution binds every function to the rendering's limits (budget.bound).
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
			return nil, &messageError{fn: "required", msg: msg}
		}
		return v, nil
	}
	fm["fail"] = func(msg string) (string, error) {
		return "", &messageError{fn: "fail", msg: msg}
	}
	fm["index"] = strictIndex
	fm["fact"] = func(key string) (any, error) {
		if v, ok := d.Facts[key]; ok {
			return v, nil
		}
		return nil, &keyError{what: "fact", key: key}
	}
	fm["flag"] = func(key string) (any, error) {
		if v, ok := d.Flags[key]; ok {
			return v, nil
		}
		return nil, &keyError{what: "flag", key: key}
	}
	fm["secret"] = func(key string) (string, error) {
		if v, ok := d.Secrets[key]; ok {
			return v, nil
		}
		return "", &keyError{what: "secret", key: key}
	}
	// text/template's printing builtins format their arguments whole; as
	// functions of the map they are bound like the others (budget.bound).
	fm["print"], fm["printf"], fm["println"] = fmt.Sprint, fmt.Sprintf, fmt.Sprintln
	fm["html"], fm["js"], fm["urlquery"] = template.HTMLEscaper, template.JSEscaper, template.URLQueryEscaper
	fm[printGuard] = func(v any) any { return v }
	return fm
}

// strictIndex is text/template's index, except that a key missing from a
// map is an error, as missingkey=error makes it for .Facts.KEY: index is how
// keys with dots or dashes are read, and must not hide a typo either. Its
// errors describe the key by kind, never by value.
func strictIndex(item any, keys ...any) (any, error) {
	v := reflect.ValueOf(item)
	for _, k := range keys {
		for v.Kind() == reflect.Interface || v.Kind() == reflect.Pointer {
			if v.IsNil() {
				return nil, &indexError{rule: "index of nil"}
			}
			v = v.Elem()
		}
		kv := reflect.ValueOf(k)
		switch v.Kind() {
		case reflect.Map:
			if !kv.IsValid() || !kv.Type().AssignableTo(v.Type().Key()) {
				return nil, &indexError{rule: "a key of this map must be a " + v.Type().Key().String()}
			}
			e := v.MapIndex(kv)
			if !e.IsValid() {
				return nil, &keyError{what: "key", key: kv.String()}
			}
			v = e
		case reflect.Slice, reflect.Array, reflect.String:
			i, ok := toInt(kv)
			if !ok || i < 0 || i >= v.Len() {
				return nil, &indexError{rule: "index out of range [0," + strconv.Itoa(v.Len()) + ")"}
			}
			v = v.Index(i)
		default:
			return nil, &indexError{rule: "cannot index " + v.Type().String()}
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
