#!/usr/bin/env bash
# Starts (if needed) and checks the services the integration tests require:
# PostgreSQL on 127.0.0.1:5432 (database "test", trust auth) and Redis on
# 127.0.0.1:6379. redis-server must be installed: the Redis Cluster tests
# start their own nodes from it. Exits non-zero if a service is missing.
set -euo pipefail

wait_for() { # name, command...
  local name=$1; shift
  for _ in $(seq 1 30); do
    if "$@" >/dev/null 2>&1; then return 0; fi
    sleep 1
  done
  echo "services: $name is not reachable" >&2
  return 1
}

if ! pg_isready -h 127.0.0.1 -p 5432 -q 2>/dev/null; then
  echo "services: starting PostgreSQL"
  pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql)" main start || true
fi
wait_for PostgreSQL psql "postgres://postgres@127.0.0.1:5432/test?sslmode=disable" -Atc 'select 1'

if ! redis-cli -h 127.0.0.1 -p 6379 ping 2>/dev/null | grep -q PONG; then
  echo "services: starting Redis"
  mkdir -p /var/lib/redis /var/log/redis
  redis-server --daemonize yes --bind 127.0.0.1 -::1 --port 6379 --save "" --appendonly no \
    --dir /var/lib/redis --logfile /var/log/redis/ci.log
fi
wait_for Redis sh -c 'redis-cli -h 127.0.0.1 -p 6379 ping | grep -q PONG'

command -v redis-server >/dev/null || { echo "services: redis-server is not installed" >&2; exit 1; }
echo "services: PostgreSQL and Redis are up"
