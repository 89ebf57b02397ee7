package middleware

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"mime"
	"net/http"
	"reflect"
	"slices"
	"strings"
	"unicode"
	"unicode/utf8"
)

// maxJSONDepth bounds the nesting of request bodies (meta may hold
// objects); encoding/json's own limit is 10000.
const maxJSONDepth = 32

// readBody returns the body of r after checking its media type and size:
// errUnsupportedMediaType unless the one Content-Type is application/json
// (parameters allowed; a charset, if any, must be UTF-8, RFC 8259 §8.1),
// errBodyTooLarge above limit, before reading when Content-Length says so.
func readBody(w http.ResponseWriter, r *http.Request, limit int64) ([]byte, error) {
	cts := r.Header.Values("Content-Type")
	if len(cts) != 1 {
		return nil, errUnsupportedMediaType
	}
	mt, params, err := mime.ParseMediaType(cts[0])
	if err != nil || mt != "application/json" {
		return nil, errUnsupportedMediaType
	}
	if cs, ok := params["charset"]; ok && !strings.EqualFold(cs, "utf-8") {
		return nil, errUnsupportedMediaType
	}
	if r.ContentLength > limit {
		return nil, errBodyTooLarge
	}
	b, err := io.ReadAll(http.MaxBytesReader(w, r.Body, limit))
	if err != nil {
		if _, ok := errors.AsType[*http.MaxBytesError](err); ok {
			return nil, errBodyTooLarge
		}
		return nil, errBodyRead
	}
	return b, nil
}

// decodeObject decodes body, a JSON object, into v, a pointer to a struct
// whose json tags name the accepted fields, and checks that every name in
// required is present. It is stricter than encoding/json, whose leniency
// is a known source of parser differentials and mass assignment:
//
//   - the body must be valid UTF-8 with no escaped lone surrogate
//     (RFC 7493 §2.1), where encoding/json substitutes U+FFFD silently;
//   - field names are case-sensitive (encoding/json matches them
//     case-insensitively, so "Role" would fill a field "role");
//   - no name may appear twice in an object, and at the top level two
//     names that encoding/json would fold together ("email", "EMAIL",
//     "ſ" and "s") are duplicates (RFC 8259 §4 leaves duplicates
//     undefined; RFC 7493 §2.3 forbids them);
//   - an unknown field, a null field, a value of the wrong type, data
//     after the object or nesting deeper than maxJSONDepth is an error.
//
// Errors: errInvalidUTF8, errEmptyBody, errMalformedJSON, errNotObject,
// errTooDeep, errTrailingData, and errDuplicateField, errUnknownField,
// errFieldType or errMissingField wrapped with the field name.
func decodeObject(body []byte, v any, required ...string) error {
	if !utf8.Valid(body) || hasLoneSurrogate(body) {
		return errInvalidUTF8
	}
	if len(bytes.TrimSpace(body)) == 0 {
		return errEmptyBody
	}
	keys, err := scanObject(body)
	if err != nil {
		return err
	}
	fields := jsonFields(v)
	for _, k := range keys {
		if !fields[k] {
			return withField(errUnknownField, k)
		}
	}
	for _, f := range required {
		if !slices.Contains(keys, f) {
			return withField(errMissingField, f)
		}
	}
	if err := json.Unmarshal(body, v); err != nil {
		if te, ok := errors.AsType[*json.UnmarshalTypeError](err); ok {
			return withField(errFieldType, te.Field)
		}
		return errMalformedJSON
	}
	return nil
}

// scanObject walks body with the tokenizer and returns the names of the
// top-level object's fields, checking structure, duplicates, depth,
// top-level nulls and trailing data.
func scanObject(body []byte) ([]string, error) {
	type frame struct {
		object bool
		key    bool // the next token is a name
		seen   map[string]struct{}
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	var stack []*frame
	var keys []string
	lastKey := ""
scan:
	for {
		tok, err := dec.Token()
		if err != nil {
			return nil, errMalformedJSON
		}
		depth := len(stack)
		if d, ok := tok.(json.Delim); ok {
			switch d {
			case '{', '[':
				if depth == 0 && d != '{' {
					return nil, errNotObject
				}
				if depth >= maxJSONDepth {
					return nil, errTooDeep
				}
				if depth > 0 && stack[depth-1].object {
					stack[depth-1].key = true
				}
				stack = append(stack, &frame{object: d == '{', key: d == '{', seen: map[string]struct{}{}})
			case '}', ']':
				stack = stack[:depth-1]
			}
			if len(stack) == 0 {
				break scan
			}
			continue
		}
		if depth == 0 {
			return nil, errNotObject
		}
		top := stack[depth-1]
		if top.object && top.key {
			name := tok.(string)
			k := name
			if depth == 1 {
				k = foldName(name)
			}
			if _, dup := top.seen[k]; dup {
				return nil, withField(errDuplicateField, name)
			}
			top.seen[k] = struct{}{}
			top.key = false
			if depth == 1 {
				keys = append(keys, name)
				lastKey = name
			}
			continue
		}
		if depth == 1 && tok == nil {
			return nil, withField(errFieldType, lastKey)
		}
		if top.object {
			top.key = true
		}
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, errTrailingData
	}
	return keys, nil
}

// foldName folds a field name as encoding/json does when it matches names
// to struct fields: every rune becomes the smallest rune of its simple
// case-folding orbit, so "EMAIL", "email" and "Email" fold alike, and so
// do "K" (Kelvin sign) and "k", "ſ" (long s) and "s".
func foldName(s string) string {
	var b strings.Builder
	b.Grow(len(s))
	for _, r := range s {
		for {
			f := unicode.SimpleFold(r)
			if f <= r {
				r = f
				break
			}
			r = f
		}
		b.WriteRune(r)
	}
	return b.String()
}

// hasLoneSurrogate reports whether a JSON string in body escapes a UTF-16
// surrogate that is not part of a pair ("\ud800"), which encoding/json
// would replace with U+FFFD. body must be valid UTF-8.
func hasLoneSurrogate(body []byte) bool {
	inString := false
	for i := 0; i < len(body); i++ {
		c := body[i]
		if !inString {
			inString = c == '"'
			continue
		}
		switch c {
		case '"':
			inString = false
		case '\\':
			if i+1 >= len(body) {
				return false // malformed; the tokenizer reports it
			}
			if body[i+1] != 'u' {
				i++
				continue
			}
			u, ok := hex4(body, i+2)
			if !ok {
				return false // malformed; the tokenizer reports it
			}
			i += 5
			switch {
			case u >= 0xdc00 && u <= 0xdfff:
				return true // a low surrogate first
			case u >= 0xd800 && u <= 0xdbff:
				if i+6 >= len(body) || body[i+1] != '\\' || body[i+2] != 'u' {
					return true
				}
				lo, ok := hex4(body, i+3)
				if !ok || lo < 0xdc00 || lo > 0xdfff {
					return true
				}
				i += 6
			}
		}
	}
	return false
}

// hex4 decodes the four hex digits at body[i:i+4].
func hex4(body []byte, i int) (rune, bool) {
	if i+4 > len(body) {
		return 0, false
	}
	var r rune
	for _, c := range body[i : i+4] {
		switch {
		case c >= '0' && c <= '9':
			r = r<<4 | rune(c-'0')
		case c >= 'a' && c <= 'f':
			r = r<<4 | rune(c-'a'+10)
		case c >= 'A' && c <= 'F':
			r = r<<4 | rune(c-'A'+10)
		default:
			return 0, false
		}
	}
	return r, true
}

// jsonFields returns the JSON names of the exported fields of the struct v
// points to.
func jsonFields(v any) map[string]bool {
	t := reflect.TypeOf(v).Elem()
	fields := make(map[string]bool, t.NumField())
	for f := range t.Fields() {
		name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
		if f.IsExported() && name != "-" && name != "" {
			fields[name] = true
		}
	}
	return fields
}
