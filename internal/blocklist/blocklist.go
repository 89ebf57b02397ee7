// Package blocklist holds the common-password list that the password policy
// rejects (NIST SP 800-63B §3.1.1.2).
//
// passwords.txt is passwords.json from the npm package
// @zxcvbn-ts/language-common 4.1.3 (MIT licence, copyright 2012-2016 Dan
// Wheeler and Dropbox, Inc., 2021 @zxcvbn-ts; see NOTICE at the repository
// root), one entry per line in rank order, most common first. gen.sh
// regenerates it.
package blocklist

import (
	_ "embed"
	"slices"
	"strings"
	"sync"
)

//go:embed passwords.txt
var raw string

// List is the sorted, deduplicated set of lower-case common passwords. The
// zero value is ready to use; the index is built on first use.
type List struct {
	once   sync.Once
	sorted []string // substrings of raw; no copies
}

func (l *List) index() {
	l.once.Do(func() {
		s := strings.Split(strings.TrimSuffix(raw, "\n"), "\n")
		slices.Sort(s)
		l.sorted = slices.Compact(s)
	})
}

// Contains reports whether the lower-case form of password is on the list.
func (l *List) Contains(password string) bool {
	l.index()
	_, found := slices.BinarySearch(l.sorted, strings.ToLower(password))
	return found
}

// Len returns the number of distinct entries.
func (l *List) Len() int {
	l.index()
	return len(l.sorted)
}
