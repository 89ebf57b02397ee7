// Package sqlitetest runs the bunstore and migrate tests on SQLite, through
// the pure-Go driver modernc.org/sqlite. It is a module of its own so that
// the driver never enters the go.mod of the library, which leaves the
// choice of SQLite driver to the application.
package sqlitetest
