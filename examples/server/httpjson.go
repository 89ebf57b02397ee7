package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"mime"
	"net/http"
	"reflect"
	"strings"
	"unicode/utf8"

	"github.com/maestro-ml/auth/middleware"
)

// maxBodyBytes bounds the request bodies of the example's own endpoints,
// as middleware.DefaultBodyLimit does for the library's.
const maxBodyBytes = middleware.DefaultBodyLimit

// problemError is an error the example's handlers answer with an RFC 9457
// problem of their own, in the style of the library's (middleware.Problem:
// a stable code, a fixed detail, the offending field).
type problemError struct {
	status       int
	code, detail string
	field        string
}

func (e *problemError) Error() string { return e.code }

// Errors of the example's endpoints.
var (
	errUnsupportedMediaType = &problemError{status: http.StatusUnsupportedMediaType, code: "unsupported_media_type", detail: "The request body must be application/json (UTF-8)."}
	errBodyTooLarge         = &problemError{status: http.StatusRequestEntityTooLarge, code: "body_too_large", detail: "The request body is too large."}
	errMalformedJSON        = &problemError{status: http.StatusBadRequest, code: "malformed_json", detail: "The request body must be one valid JSON object."}
	errTrailingData         = &problemError{status: http.StatusBadRequest, code: "trailing_data", detail: "The request body has data after the JSON object."}
	errNotFound             = &problemError{status: http.StatusNotFound, code: "not_found", detail: "The resource does not exist."}
	errNameTaken            = &problemError{status: http.StatusConflict, code: "conflict", detail: "A project with this name already exists."}
)

// fieldProblem returns a 400 or 422 problem naming a body field or query
// parameter. The name is echoed only if it is short printable ASCII.
func fieldProblem(status int, code, detail, field string) *problemError {
	if len(field) > 64 || strings.ContainsFunc(field, func(r rune) bool { return r < 0x20 || r > 0x7e }) {
		field = ""
	}
	return &problemError{status: status, code: code, detail: detail, field: field}
}

// writeProblem answers with err: the example's own problems as they are,
// anything else (the library's errors, an unavailable database) through
// mw.WriteError, so that every error looks the same to clients, is logged
// like the library's own, and nothing from below the HTTP layer reaches
// them.
func writeProblem(mw *middleware.Handler, w http.ResponseWriter, r *http.Request, err error) {
	var p *problemError
	if !errors.As(err, &p) {
		mw.WriteError(w, r, err)
		return
	}
	body, _ := json.Marshal(middleware.Problem{
		Type: "about:blank", Title: http.StatusText(p.status), Status: p.status, Detail: p.detail, Code: p.code, Field: p.field,
	})
	h := w.Header()
	h.Set("Content-Type", "application/problem+json")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(p.status)
	_, _ = w.Write(append(body, '\n'))
}

// writeJSON answers with v as JSON.
func writeJSON(w http.ResponseWriter, status int, v any) {
	body, err := json.Marshal(v)
	if err != nil {
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(status)
	_, _ = w.Write(append(body, '\n'))
}

// decodeJSON reads the body of r into v, a pointer to a struct, strictly:
// the media type must be application/json, the body at most maxBodyBytes
// of valid UTF-8 holding exactly one object whose field names are exactly
// (case-sensitively) the json tags of v, each at most once and none null.
// encoding/json alone would match names case-insensitively, let the last
// of duplicate fields win and ignore unknown ones: differences between
// parsers and mass assignment hide there.
func decodeJSON(w http.ResponseWriter, r *http.Request, v any) error {
	mt, params, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if err != nil || mt != "application/json" || (params["charset"] != "" && !strings.EqualFold(params["charset"], "utf-8")) {
		return errUnsupportedMediaType
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxBodyBytes))
	if err != nil {
		if _, ok := errors.AsType[*http.MaxBytesError](err); ok {
			return errBodyTooLarge
		}
		return errMalformedJSON
	}
	if !utf8.Valid(body) {
		return errMalformedJSON
	}
	known := jsonFields(v)
	dec := json.NewDecoder(bytes.NewReader(body))
	if tok, err := dec.Token(); err != nil || tok != json.Delim('{') {
		return errMalformedJSON
	}
	seen := map[string]bool{}
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return errMalformedJSON
		}
		name := tok.(string) // inside an object, the tokenizer yields names here
		var raw json.RawMessage
		if err := dec.Decode(&raw); err != nil {
			return errMalformedJSON
		}
		switch {
		case seen[name]:
			return fieldProblem(http.StatusBadRequest, "duplicate_field", "The request body has the same field twice.", name)
		case !known[name]:
			return fieldProblem(http.StatusBadRequest, "unknown_field", "The request body has a field this operation does not accept (names are case-sensitive).", name)
		case string(raw) == "null":
			return fieldProblem(http.StatusBadRequest, "invalid_field_type", "A field of the request body has the wrong type or is null.", name)
		}
		seen[name] = true
	}
	if _, err := dec.Token(); err != nil { // the closing brace
		return errMalformedJSON
	}
	if _, err := dec.Token(); err != io.EOF {
		return errTrailingData
	}
	if err := json.Unmarshal(body, v); err != nil {
		if te, ok := errors.AsType[*json.UnmarshalTypeError](err); ok {
			return fieldProblem(http.StatusBadRequest, "invalid_field_type", "A field of the request body has the wrong type or is null.", te.Field)
		}
		return errMalformedJSON
	}
	return nil
}

// jsonFields returns the JSON names of the fields of the struct v points to.
func jsonFields(v any) map[string]bool {
	fields := map[string]bool{}
	for f := range reflect.TypeOf(v).Elem().Fields() {
		if name, _, _ := strings.Cut(f.Tag.Get("json"), ","); f.IsExported() && name != "" && name != "-" {
			fields[name] = true
		}
	}
	return fields
}
