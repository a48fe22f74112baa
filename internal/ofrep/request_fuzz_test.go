package ofrep

import (
	"encoding/json"
	"net/http"
	"testing"
)

// FuzzRequestBody sends any bytes as the body of both evaluation endpoints
// (OFREP bodies come from any client holding a key): the handler must not
// panic, must answer a status the protocol defines (with a JSON body when
// it has one), and
// must refuse exactly the bodies whose top level holds a key other than
// "context" (compared against a plain decoding of the body).
func FuzzRequestBody(f *testing.F) {
	for _, s := range []string{
		`{"context":{"targetingKey":"u1","tier":"pro"}}`, `{"context":{"target":"eu"}}`, `{}`, ``, `{"context":[1]}`,
		`{"context":{},"contxt":1}`, `{"cont\u0065xt":{}}`, `{"context":{"a":"}\""},"x":[{"y":"]"}]}`, `[1,2]`, `{"context":`,
		`{"context":{"targetingKey":5}}`, `{"context":{"project":"other"}}`, " {\"context\" : {} } ",
	} {
		f.Add([]byte(s))
	}
	fx := newFixture(f, nil)
	f.Fuzz(func(t *testing.T, body []byte) {
		for _, path := range []string{PathBulk, PathSingle + "tier-replicas"} {
			w := fx.do(http.MethodPost, path, string(body), bearerKey("k-shop")...)
			switch w.Code {
			case http.StatusOK, http.StatusBadRequest, http.StatusNotFound, http.StatusRequestEntityTooLarge:
			case http.StatusForbidden: // a context naming a project the key may not evaluate
			default:
				t.Fatalf("%s answered %d to %q: %s", path, w.Code, body, w.Body)
			}
			if w.Body.Len() > 0 && !json.Valid(w.Body.Bytes()) {
				t.Fatalf("%s answered a body that is not JSON to %q: %q", path, body, w.Body)
			}
		}
		var top map[string]json.RawMessage
		if len(body) == 0 || json.Unmarshal(body, &top) != nil {
			return
		}
		other := false
		for k := range top {
			other = other || k != "context"
		}
		if _, found := unknownKey(body); found != other {
			t.Fatalf("unknownKey(%q) = %v, want %v", body, found, other)
		}
	})
}
