package authhttp

import (
	"bytes"
	"encoding/json"
	"io"
	"mime"
	"net/http"
	"slices"

	"github.com/credstore/credstore/auth"
)

// field is one member of a JSON request body of the API v1.
type field struct {
	name     string
	boolean  bool // true or false; otherwise a string
	required bool // present, and not "" (a string)
}

func optional(name string) field { return field{name: name} }
func required(name string) field { return field{name: name, required: true} }
func flag(name string) field     { return field{name: name, boolean: true} }

// form is a decoded request body: the fields present (and not null); a
// form's fields (formOf) are all there, "" when absent.
type form struct {
	strs  map[string]string
	flags map[string]bool
}

// str is the string field name, "" when absent.
func (f form) str(name string) string { return f.strs[name] }

// strPtr is the string field name, nil when absent.
func (f form) strPtr(name string) *string {
	if v, ok := f.strs[name]; ok {
		return &v
	}
	return nil
}

// flagPtr is the boolean field name, nil when absent.
func (f form) flagPtr(name string) *bool {
	if v, ok := f.flags[name]; ok {
		return &v
	}
	return nil
}

// decodeObject reads a JSON object with the given fields and no others, as
// the API v1's routes take their bodies (jsonOf). A body of another type
// is 415; one over Options.MaxBodyBytes 413; one that is not a JSON object
// 400 invalid_request; an unknown field, a field of the wrong type, or a
// required one missing 400 validation_failed, naming every such field. Strings keep their exact bytes (unquoteJSON), so that
// auth judges them as it judges a form's.
func (h *Handler) decodeObject(w http.ResponseWriter, r *http.Request, fields ...field) (form, error) {
	out := form{strs: map[string]string{}, flags: map[string]bool{}}
	r.Body = http.MaxBytesReader(w, r.Body, h.opts.MaxBodyBytes)
	data, err := io.ReadAll(r.Body)
	if err != nil {
		return out, bodyError(err)
	}
	if mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type")); err != nil || mt != "application/json" {
		if len(data) > 0 || r.Header.Get("Content-Type") != "" {
			return out, errUnsupportedMediaType
		}
		data = []byte("{}") // no body at all: an empty object
	}
	var obj map[string]json.RawMessage
	if err := json.Unmarshal(data, &obj); err != nil || obj == nil {
		return out, &malformedError{"malformed JSON body: expected an object"}
	}
	probs := map[string]string{}
	for name := range obj {
		if !slices.ContainsFunc(fields, func(f field) bool { return f.name == name }) {
			probs[name] = "is not a field of this request"
		}
	}
	for _, f := range fields {
		if rule := f.read(obj[f.name], out); rule != "" {
			probs[f.name] = rule
		}
	}
	if len(probs) > 0 {
		return out, &auth.ValidationError{Fields: probs}
	}
	return out, nil
}

// read puts f's value, raw (nil when absent), into out, and returns the
// rule it breaks, if any. A null is absent.
func (f field) read(raw json.RawMessage, out form) (rule string) {
	if raw == nil || bytes.Equal(raw, []byte("null")) {
		if f.required {
			return "is required"
		}
		return ""
	}
	if f.boolean {
		var b bool
		if json.Unmarshal(raw, &b) != nil {
			return "must be true or false"
		}
		out.flags[f.name] = b
		return ""
	}
	s, err := unquoteJSON(raw)
	if err != nil {
		return "must be a string"
	}
	out.strs[f.name] = s
	if f.required && s == "" {
		return "is required"
	}
	return ""
}
