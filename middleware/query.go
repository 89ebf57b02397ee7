package middleware

import (
	"maps"
	"net/http"
	"net/url"
	"slices"
	"strconv"
)

// queryParams parses the query string of r and calls set with each
// parameter, in name order; set reports whether the name is known and the
// value valid. A malformed query string is errInvalidParameter; a
// parameter given more than once, unknown or invalid, errInvalidParameter
// with its name.
func queryParams(r *http.Request, set func(name, value string) bool) error {
	values, err := url.ParseQuery(r.URL.RawQuery)
	if err != nil {
		return errInvalidParameter
	}
	for _, name := range slices.Sorted(maps.Keys(values)) {
		if v := values[name]; len(v) != 1 || !set(name, v[0]) {
			return withField(errInvalidParameter, name)
		}
	}
	return nil
}

// pageLimit parses a page-size parameter, 1 to 100, into dst.
func pageLimit(v string, dst *int) bool {
	n, err := strconv.Atoi(v)
	*dst = n
	return err == nil && n >= 1 && n <= 100
}
