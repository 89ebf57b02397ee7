#!/usr/bin/env bash
# Load test of the reference server on PostgreSQL + Redis, and the
# propagation of a revocation between two instances. Bounded in time, on
# 127.0.0.1 only; cleans up after itself (database, Redis keys, processes).
#
#   bash bench/load.sh            # from the repository root
#
# Needs: PostgreSQL and Redis as in README (bash .ci/services.sh), wrk
# (Debian: apt-get install wrk), psql, redis-cli, curl.
# Tunables: DURATION (default 20s), CONNECTIONS (32), THREADS (1: the
# machine has 2 cores, one is left to the server), ROUNDS (200).
set -euo pipefail
cd "$(dirname "$0")/.."
DURATION=${DURATION:-20s} CONNECTIONS=${CONNECTIONS:-32} THREADS=${THREADS:-1} ROUNDS=${ROUNDS:-200}
PG=${AUTH_TEST_POSTGRES_URL:-postgres://postgres@127.0.0.1:5432/test?sslmode=disable}
REDIS=${AUTH_TEST_REDIS_ADDR:-127.0.0.1:6379}
for cmd in wrk psql redis-cli curl go; do
  command -v "$cmd" >/dev/null || { echo "load.sh: $cmd is required (wrk: apt-get install wrk)" >&2; exit 1; }
done

work=$(mktemp -d)
db="auth_load_$$"
prefix="auth-load-$$:"
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  psql "$PG" -qc "DROP DATABASE IF EXISTS $db" >/dev/null 2>&1 || true
  redis-cli -h "${REDIS%:*}" -p "${REDIS#*:}" --scan --pattern "${prefix}*" | xargs -r redis-cli -h "${REDIS%:*}" -p "${REDIS#*:}" del >/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

psql "$PG" -qc "CREATE DATABASE $db" >/dev/null
dburl="${PG%%/test*}/$db?sslmode=disable"
go build -o "$work/server" ./examples/server

start() { # port
  ( cd "$work" && LISTEN_ADDR="127.0.0.1:$1" DATABASE_URL="$dburl" REDIS_URL="redis://$REDIS/0" REDIS_PREFIX="$prefix" \
      KEY_FILE="$work/keys.json" TRUSTED_PROXIES=127.0.0.1/32 LOG_LEVEL=warn REDIS_TIMEOUT=1s \
      exec ./server serve ) > "$work/server-$1.log" 2>&1 &
  pids+=($!)
  for _ in $(seq 1 100); do
    curl -fs "http://127.0.0.1:$1/readyz" >/dev/null && return 0
    sleep 0.1
  done
  echo "load.sh: the server on port $1 did not become ready" >&2; cat "$work/server-$1.log" >&2; exit 1
}
start 18081  # creates the key file and migrates
start 18082  # shares the key file, the database and Redis

password='load test passphrase 2026'
curl -fs -X POST http://127.0.0.1:18081/api/v1/auth/register -H 'Content-Type: application/json' \
  -d "{\"email\":\"load@example.com\",\"password\":\"$password\"}" >/dev/null
token=$(curl -fs -X POST http://127.0.0.1:18081/api/v1/auth/login -H 'Content-Type: application/json' \
  -d "{\"email\":\"load@example.com\",\"password\":\"$password\"}" | sed -E 's/.*"access_token":"([^"]+)".*/\1/')
[ -n "$token" ] || { echo "load.sh: login failed" >&2; exit 1; }

echo "## Machine"
echo "$(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), $(go version | cut -d' ' -f3)"
echo
echo "## GET /api/v1/hello, $THREADS wrk thread(s), $CONNECTIONS connections, $DURATION each"
echo
echo "### without a token (OptionalAuthenticate passes anonymous requests through)"
wrk -t"$THREADS" -c"$CONNECTIONS" -d"$DURATION" --latency http://127.0.0.1:18081/api/v1/hello
echo
echo "### with a valid access token (signature or verified-token cache, revocation from Redis' client-side cache)"
wrk -t"$THREADS" -c"$CONNECTIONS" -d"$DURATION" --latency -H "Authorization: Bearer $token" http://127.0.0.1:18081/api/v1/hello
echo
echo "## Revocation propagation between two instances on one Redis"
(cd bench && go run ./cmd/propagation -a http://127.0.0.1:18081 -b http://127.0.0.1:18082 \
  -email load@example.com -password "$password" -rounds "$ROUNDS")
