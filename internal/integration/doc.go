// Package integration runs the Authenticator's flows over the production
// pairing of stores: users, tenants, sessions and action tokens on
// PostgreSQL (bunstore) with revocations and rate limits on Redis
// (redisstore). It holds tests only.
package integration
