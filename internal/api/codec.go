package api

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"

	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
)

// strictJSON is the Connect JSON codec of the server. It differs from
// Connect's own in one way: a field the message does not have is an error
// that names the field's path, instead of being dropped, so that a
// misspelt field ("expectedRevison") is not silently ignored. Connect
// answers a codec error with invalid_argument.
type strictJSON struct{ name string }

// jsonCodecs replace both names Connect registers its JSON codec under.
var jsonCodecs = []strictJSON{{"json"}, {"json; charset=utf-8"}}

func (c strictJSON) Name() string { return c.name }

func (c strictJSON) IsBinary() bool { return false }

func (c strictJSON) Marshal(m any) ([]byte, error) {
	pm, ok := m.(proto.Message)
	if !ok {
		return nil, fmt.Errorf("%T is not a protobuf message", m)
	}
	return protojson.MarshalOptions{}.Marshal(pm)
}

func (c strictJSON) Unmarshal(b []byte, m any) error {
	pm, ok := m.(proto.Message)
	if !ok {
		return fmt.Errorf("%T is not a protobuf message", m)
	}
	if len(bytes.TrimSpace(b)) == 0 {
		return errors.New("the body is empty: send a JSON object")
	}
	err := protojson.UnmarshalOptions{}.Unmarshal(b, pm)
	if err == nil {
		return nil
	}
	if path, msg, found := unknownField(b, pm.ProtoReflect().Descriptor()); found {
		return fmt.Errorf("%s: is not a field of %s", path, msg)
	}
	return errors.New(describeJSONError(err))
}

// maxFieldEcho bounds how much of a client's field name an error quotes.
const maxFieldEcho = 64

// unknownField finds the first key of the JSON document b that is not a
// field of md (recursively through message, list and map fields) and
// returns its path ("environment.meta.nmae") and the message it is not a
// field of. Well-known types (Struct, Value, Timestamp…) have JSON forms of
// their own and are not searched. It is only called once strict decoding
// has failed, so its cost is on the error path.
func unknownField(b []byte, md protoreflect.MessageDescriptor) (path, msg string, found bool) {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	var doc any
	if dec.Decode(&doc) != nil {
		return "", "", false
	}
	return walkUnknown(doc, md, "")
}

func walkUnknown(v any, md protoreflect.MessageDescriptor, path string) (string, string, bool) {
	obj, ok := v.(map[string]any)
	if !ok || strings.HasPrefix(string(md.FullName()), "google.protobuf.") {
		return "", "", false
	}
	for _, key := range slices.Sorted(maps.Keys(obj)) {
		val := obj[key]
		fd := md.Fields().ByJSONName(key)
		if fd == nil {
			fd = md.Fields().ByTextName(key)
		}
		if fd == nil {
			return join(path, echo(key)), string(md.FullName()), true
		}
		child := join(path, echo(key))
		switch {
		case fd.IsMap():
			if fd.MapValue().Kind() != protoreflect.MessageKind {
				continue
			}
			m, _ := val.(map[string]any)
			for _, k := range slices.Sorted(maps.Keys(m)) {
				if p, name, ok := walkUnknown(m[k], fd.MapValue().Message(), child+"."+echo(k)); ok {
					return p, name, true
				}
			}
		case fd.Kind() != protoreflect.MessageKind && fd.Kind() != protoreflect.GroupKind:
		case fd.IsList():
			l, _ := val.([]any)
			for i, e := range l {
				if p, name, ok := walkUnknown(e, fd.Message(), child+"["+strconv.Itoa(i)+"]"); ok {
					return p, name, true
				}
			}
		default:
			if p, name, ok := walkUnknown(val, fd.Message(), child); ok {
				return p, name, true
			}
		}
	}
	return "", "", false
}

func join(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

// echo returns a client's key for a field path: at most maxFieldEcho
// bytes of it, quoted when it holds anything but letters, digits, '_' and
// '-'.
func echo(key string) string {
	cut := len(key) > maxFieldEcho
	if cut {
		key = strings.ToValidUTF8(key[:maxFieldEcho], "")
	}
	plain := key != ""
	for _, r := range key {
		if !(r == '_' || r == '-' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9') {
			plain = false
			break
		}
	}
	if !plain {
		key = strconv.Quote(key)
	}
	if cut {
		key += "…"
	}
	return key
}
