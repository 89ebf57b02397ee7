// Package pgtest runs the bunstore and migrate tests on PostgreSQL,
// through bun's pgdriver and pgdialect. It is a module of its own so that
// neither enters the go.mod of the library, which leaves the choice of
// PostgreSQL driver to the application. The tests need the server at
// AUTH_TEST_POSTGRES_URL (default
// postgres://postgres@127.0.0.1:5432/test?sslmode=disable) and fail
// without it.
package pgtest
