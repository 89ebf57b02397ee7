// Package migrate runs the tests of package migrate that only PostgreSQL
// can answer: Up, Down and Status on a real server, concurrent Up from
// several pools, and the advisory lock that makes them take turns.
package migrate
