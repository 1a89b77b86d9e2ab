package authhttp

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/url"
)

// Decoding errors, mapped to statuses in WriteError.
var (
	errUnsupportedMediaType = errors.New("unsupported content type: send application/x-www-form-urlencoded, multipart/form-data or application/json")
	errBodyTooLarge         = errors.New("request body too large")
)

// body is how a route reads its request body: not at all, as a form
// (formOf), or as a JSON object (jsonOf).
type body struct {
	kind   bodyKind
	names  []string // formOf's
	fields []field  // jsonOf's
}

type bodyKind uint8

const (
	noBody   bodyKind = iota // the body is not read
	formBody                 // decode
	jsonBody                 // decodeObject
)

// formOf is a body that is an HTML form, multipart or JSON, of which the
// named string fields are read and any others ignored: the Holberton
// routes' bodies, and the token endpoint's, which OAuth clients send as a
// form.
func formOf(names ...string) body { return body{kind: formBody, names: names} }

// jsonOf is a body that is a JSON object of these fields and no others: the
// API v1's bodies.
func jsonOf(fields ...field) body { return body{kind: jsonBody, fields: fields} }

// decodeBody reads the request's body as b says.
func (h *Handler) decodeBody(w http.ResponseWriter, r *http.Request, b body) (form, error) {
	switch b.kind {
	case formBody:
		strs, err := h.decode(w, r, b.names...)
		return form{strs: strs}, err
	case jsonBody:
		return h.decodeObject(w, r, b.fields...)
	}
	return form{}, nil
}

// malformedError is a body that cannot be decoded; its message is safe to
// return (it never quotes the body).
type malformedError struct{ msg string }

func (e *malformedError) Error() string { return e.msg }

// decode reads the named fields from the request body, which may be
// HTML-form encoded (as the API's existing clients send it), multipart, or
// a JSON object with the same fields as strings. Missing fields are "": auth
// decides what is required. An empty body without a content type is an
// empty form.
func (h *Handler) decode(w http.ResponseWriter, r *http.Request, fields ...string) (map[string]string, error) {
	r.Body = http.MaxBytesReader(w, r.Body, h.opts.MaxBodyBytes)
	out := make(map[string]string, len(fields))
	ct := r.Header.Get("Content-Type")
	if ct == "" {
		// Read one byte: a body without a content type is refused, an
		// empty one is an empty form.
		n, err := r.Body.Read(make([]byte, 1))
		if n == 0 && (err == io.EOF || err == nil) {
			return out, nil
		}
		return nil, errUnsupportedMediaType
	}
	mt, _, err := mime.ParseMediaType(ct)
	if err != nil {
		return nil, errUnsupportedMediaType
	}
	switch mt {
	case "application/x-www-form-urlencoded":
		// Read here rather than by r.ParseForm, which leaves the body of a
		// DELETE unread (DELETE /profile/totp takes a form), and otherwise
		// does just this.
		data, err := io.ReadAll(r.Body)
		if err != nil {
			return nil, bodyError(err)
		}
		v, err := url.ParseQuery(string(data))
		if err != nil {
			return nil, bodyError(err)
		}
		for _, f := range fields {
			out[f] = v.Get(f)
		}
		return out, nil
	case "multipart/form-data":
		if err := r.ParseMultipartForm(h.opts.MaxBodyBytes); err != nil {
			return nil, bodyError(err)
		}
		for _, f := range fields {
			out[f] = r.PostForm.Get(f)
		}
		return out, nil
	case "application/json":
		return decodeJSON(r.Body, fields)
	}
	return nil, errUnsupportedMediaType
}

// decodeJSON reads the named string fields of a JSON object. The object's
// syntax is encoding/json's to check; each field's value keeps its exact
// bytes (unquoteJSON), so that auth judges it as it judges a form's.
func decodeJSON(body io.Reader, fields []string) (map[string]string, error) {
	data, err := io.ReadAll(body)
	if err != nil {
		return nil, bodyError(err)
	}
	var obj map[string]json.RawMessage
	if err := json.Unmarshal(data, &obj); err != nil || obj == nil {
		return nil, &malformedError{"malformed JSON body: expected an object with string fields"}
	}
	out := make(map[string]string, len(fields))
	for _, f := range fields {
		raw, ok := obj[f]
		if !ok || bytes.Equal(raw, []byte("null")) {
			continue
		}
		// Not json.Unmarshal: it would replace invalid UTF-8 and lone
		// surrogates with U+FFFD, and so accept as valid what the same
		// bytes in a form are refused for.
		s, err := unquoteJSON(raw)
		if err != nil {
			return nil, &malformedError{fmt.Sprintf("field %q must be a string", f)}
		}
		out[f] = s
	}
	return out, nil
}

// bodyError tells a body over the limit from a malformed one.
func bodyError(err error) error {
	var tooLarge *http.MaxBytesError
	if errors.As(err, &tooLarge) {
		return errBodyTooLarge
	}
	return &malformedError{"malformed request body"}
}
