// Package integration tests the library together with the software it
// meets in production: the Authenticator's flows over PostgreSQL
// (bunstore) with revocations and rate limits on Redis (redisstore); the
// metrics and spans it reports, read through the OpenTelemetry SDK; the
// endpoints mounted on the chi router; and the summary of openapi.yaml
// that the middleware tests hold the handlers against. It holds tests
// only, and is a module of its own so that the PostgreSQL driver, the
// OpenTelemetry SDK, chi and a YAML parser never enter the library's
// go.mod. PostgreSQL (AUTH_TEST_POSTGRES_URL) and Redis
// (AUTH_TEST_REDIS_ADDR) are required: without them the tests fail.
package integration
