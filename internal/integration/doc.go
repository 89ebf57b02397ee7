// Package integration tests the library together with the software it
// meets in production: the Authenticator's flows over PostgreSQL
// (bunstore) with revocations and rate limits on Redis (redisstore), and
// the metrics and spans it reports, read through the OpenTelemetry SDK.
// It holds tests only, and is a module of its own so that the PostgreSQL
// driver and the OpenTelemetry SDK never enter the library's go.mod.
// PostgreSQL (AUTH_TEST_POSTGRES_URL) and Redis (AUTH_TEST_REDIS_ADDR) are
// required: without them the tests fail.
package integration
