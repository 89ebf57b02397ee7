#!/usr/bin/env bash
# Reproduces BENCHMARKS.md: the side-by-side benchmarks of this package and
# the root package's Authenticate/Login/Hash benchmarks, 10 samples each
# (-benchmem), the benchstat tables, the ratios against the targets, and
# pprof CPU and allocation profiles of our first-seen and repeat paths.
#
#   bash bench/run.sh            # from the repository root, or from bench/
#
# Needs Go and the Redis at 127.0.0.1:6379 (AUTH_TEST_REDIS_ADDR overrides
# it; bash .ci/services.sh starts it). Keys live under a prefix unique to
# the run and are deleted at its end. Takes about 10 minutes on 2 cores.
#
# Samples are taken in ROUNDS interleaved rounds of -count COUNT (default
# 10 rounds of -count 1: 10 samples per benchmark, as -count 10, but with
# every contender measured in every round, so that load drifting on a
# shared machine hits all of them alike). ROUNDS=1 COUNT=10 runs a plain
# -count 10. BENCHTIME (default 1s) is passed as -benchtime.
#
# Output in bench/results/ (OUT overrides): machine.txt, bench.txt and
# root.txt (raw go test output), bench.benchstat.txt and
# root.benchstat.txt (the tables), ratios.txt, profiles/*.pprof and
# profiles/*.top.txt (pprof -top of each profile).
set -euo pipefail
cd "$(dirname "$0")"
export PATH="/usr/local/go/bin:$HOME/go/bin:$PATH"
export GOFLAGS="${GOFLAGS:--buildvcs=false}"

ROUNDS=${ROUNDS:-10}
COUNT=${COUNT:-1}
BENCHTIME=${BENCHTIME:-1s}
OUT=${OUT:-results}
BENCHSTAT=golang.org/x/perf/cmd/benchstat@v0.0.0-20260908200009-22c9c6c9d4da
ROOT_BENCH='^(BenchmarkEd25519Verify|BenchmarkParseAccessToken|BenchmarkAuthenticate|BenchmarkLogin|BenchmarkHash)$'

mkdir -p "$OUT/profiles"
OUT=$(cd "$OUT" && pwd)

machine() {
  echo "date: $(date -u +%Y-%m-%dT%H:%M:%SZ)"
  echo "cpu: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//'), family $(grep -m1 'cpu family' /proc/cpuinfo | cut -d: -f2 | tr -d ' ') model $(grep -m1 '^model\s' /proc/cpuinfo | cut -d: -f2 | tr -d ' '), $(grep -m1 'cpu MHz' /proc/cpuinfo | cut -d: -f2 | tr -d ' ') MHz"
  echo "caches: $(lscpu 2>/dev/null | awk -F: '/^(L1d|L2|L3) cache/{gsub(/^ +/, "", $2); printf "%s %s; ", $1, $2}')"
  echo "virtualisation: $(lscpu 2>/dev/null | awk -F: '/^Hypervisor vendor/{gsub(/^ +/, "", $2); print $2 " guest"}')"
  echo "cpu flags (selected): $(grep -m1 '^flags' /proc/cpuinfo | tr ' ' '\n' | grep -xE 'sha_ni|avx2|avx512f|aes|bmi2|adx' | tr '\n' ' ')"
  echo "nproc: $(nproc)"
  echo "memory: $(free -h | awk '/^Mem:/{print $2}')"
  echo "kernel: $(uname -sr)"
  echo "go: $(go version)"
  echo "redis-server: $(redis-server --version 2>/dev/null || echo none)"
  echo "redis (running): $(redis-cli -h 127.0.0.1 -p 6379 INFO server 2>/dev/null | tr -d '\r' | awk -F: '/^redis_version/{print $2}')"
  echo "postgresql: $(psql --version 2>/dev/null || echo none) (not on the hot path)"
  echo "load average at start: $(cut -d' ' -f1-3 /proc/loadavg)"
}
machine | tee "$OUT/machine.txt"

echo "run.sh: building test binaries"
go test -c -o "$OUT/bench.test" .
(cd .. && go test -c -o "$OUT/auth.test" .)

echo "run.sh: correctness (every contender accepts a valid token, rejects a revoked one)"
"$OUT/bench.test" -test.run '^TestContenders$' -test.count 1

: >"$OUT/bench.txt"
: >"$OUT/root.txt"
for i in $(seq 1 "$ROUNDS"); do
  echo "run.sh: round $i/$ROUNDS (load $(cut -d' ' -f1-3 /proc/loadavg))"
  "$OUT/bench.test" -test.run '^$' -test.bench . -test.benchmem -test.count "$COUNT" -test.benchtime "$BENCHTIME" \
    | tee -a "$OUT/bench.txt" | grep -E '^(Benchmark|FAIL|---)' || true
  (cd .. && "$OUT/auth.test" -test.run '^$' -test.bench "$ROOT_BENCH" -test.benchmem -test.count "$COUNT" -test.benchtime "$BENCHTIME") \
    | tee -a "$OUT/root.txt" | grep -E '^(Benchmark|FAIL|---)' || true
done
echo "load average at end: $(cut -d' ' -f1-3 /proc/loadavg)" | tee -a "$OUT/machine.txt"
if grep -q '^FAIL' "$OUT/bench.txt" "$OUT/root.txt"; then
  echo "run.sh: a benchmark failed" >&2
  exit 1
fi

echo "run.sh: benchstat"
(cd "$OUT" && go run "$BENCHSTAT" bench.txt >bench.benchstat.txt && go run "$BENCHSTAT" root.txt >root.benchstat.txt)

# Ratios of medians, against the targets.
awk '
/^Benchmark/ {
  name = $1; sub(/-[0-9]+$/, "", name)
  for (i = 3; i < NF; i++) {
    if ($(i+1) == "ns/op") ns[name] = ns[name] " " $i
    if ($(i+1) == "B/op") by[name] = by[name] " " $i
    if ($(i+1) == "allocs/op") al[name] = al[name] " " $i
  }
}
function median(list,   a, n, i, j, t) {
  n = split(list, a, " ")
  if (n == 0) return -1
  for (i = 1; i <= n; i++) for (j = i + 1; j <= n; j++) if (a[j] + 0 < a[i] + 0) { t = a[i]; a[i] = a[j]; a[j] = t }
  return n % 2 ? a[(n + 1) / 2] : (a[n / 2] + a[n / 2 + 1]) / 2
}
function m(n) { if (!(n in ns)) { missing = missing " " n; return -1 } return median(ns[n]) }
function verdict(ok) { return ok ? "met" : "NOT met" }
function ratio(label, num, den, op, target,   a, b, r, ok) {
  a = m(num); b = m(den)
  if (a < 0 || b < 0) return
  r = a / b
  ok = (op == "<=") ? r <= target : r >= target
  printf "%-58s %10.2f   (target %s %s: %s)\n", label, r, op, target, verdict(ok)
}
function abs_ns(label, n, target,   a) {
  a = m(n)
  if (a < 0) return
  printf "%-58s %10.0f ns (target <= %d ns: %s)\n", label, a, target, verdict(a <= target)
}
function mem(label, n, maxB, maxA,   b, c) {
  if (!(n in by)) return
  b = median(by[n]); c = median(al[n])
  printf "%-58s %6d B, %3d allocs (target <= %d B, <= %d allocs: %s)\n", label, b, c, maxB, maxA, verdict(b <= maxB && c <= maxA)
}
END {
  T = "BenchmarkToken/impl="; P = "BenchmarkTokenParallel/impl="; M = "BenchmarkMiddleware/impl="; MP = "BenchmarkMiddlewareParallel/impl="
  print "Ratios of medians (ns/op) from bench.txt and root.txt"
  print ""
  print "1. First-seen token vs a raw ed25519.Verify"
  ratio("   bench: ours-first-seen-memstore / ed25519-verify", T "ours-first-seen-memstore", T "ed25519-verify", "<=", 1.3)
  ratio("   root:  Authenticate/first-seen / Ed25519Verify", "BenchmarkAuthenticate/first-seen", "BenchmarkEd25519Verify", "<=", 1.3)
  ratio("   bench: ours-first-seen-redisstore / ed25519-verify", T "ours-first-seen-redisstore", T "ed25519-verify", "<=", 1.3)
  ratio("   bench: ours-new-token-memstore / ed25519-verify", T "ours-new-token-memstore", T "ed25519-verify", "<=", 1.3)
  mem("   bench: ours-first-seen-memstore memory", T "ours-first-seen-memstore", 5120, 60)
  mem("   root:  Authenticate/first-seen memory", "BenchmarkAuthenticate/first-seen", 5120, 60)
  mem("   bench: ours-new-token-memstore memory", T "ours-new-token-memstore", 5120, 60)
  print ""
  print "2. Repeat token (verified-token cache + cached revocation check)"
  abs_ns("   bench: ours-repeat-redisstore", T "ours-repeat-redisstore", 3000)
  abs_ns("   bench: ours-repeat-redisstore (parallel)", P "ours-repeat-redisstore", 3000)
  ratio("   bench: golang-jwt+redis-get / ours-repeat-redisstore", T "golang-jwt+redis-get", T "ours-repeat-redisstore", ">=", 100)
  ratio("   bench: same, parallel", P "golang-jwt+redis-get", P "ours-repeat-redisstore", ">=", 100)
  ratio("   bench: same, middleware", M "golang-jwt+redis-get", M "ours-repeat-redisstore", ">=", 100)
  ratio("   bench: same, middleware, parallel", MP "golang-jwt+redis-get", MP "ours-repeat-redisstore", ">=", 100)
  print ""
  print "3. The revocation replica (redisstore.WithReplica): no round trip for any token"
  ratio("   bench: ours-first-seen-redisstore-replica / ed25519-verify", T "ours-first-seen-redisstore-replica", T "ed25519-verify", "<=", 1.1)
  ratio("   bench: ours-new-token-redisstore-replica / ed25519-verify", T "ours-new-token-redisstore-replica", T "ed25519-verify", "<=", 1.1)
  ratio("   bench: golang-jwt+redis-get / ours-new-token-redisstore-replica", T "golang-jwt+redis-get", T "ours-new-token-redisstore-replica", ">=", 1.5)
  abs_ns("   bench: ours-repeat-redisstore-replica", T "ours-repeat-redisstore-replica", 500)
  mem("   bench: ours-repeat-redisstore-replica memory", T "ours-repeat-redisstore-replica", 1024, 2)
  ratio("   bench: golang-jwt+redis-get / ours-repeat-redisstore-replica", T "golang-jwt+redis-get", T "ours-repeat-redisstore-replica", ">=", 100)
  ratio("   bench: same, parallel", P "golang-jwt+redis-get", P "ours-repeat-redisstore-replica", ">=", 100)
  ratio("   bench: same, middleware", M "golang-jwt+redis-get", M "ours-repeat-redisstore-replica", ">=", 100)
  print ""
  print "4. Login vs one argon2id hash at the configured parameters"
  ratio("   root:  Login/success / Hash", "BenchmarkLogin/success", "BenchmarkHash", "<=", 1.05)
  ratio("   root:  Login/wrong-password / Hash", "BenchmarkLogin/wrong-password", "BenchmarkHash", "<=", 1.05)
  ratio("   root:  Login/unknown-email / Hash", "BenchmarkLogin/unknown-email", "BenchmarkHash", "<=", 1.05)
  print ""
  print "Context (no target)"
  ratio("   golang-jwt+redis-get / ours-new-token-redisstore", T "golang-jwt+redis-get", T "ours-new-token-redisstore", ">=", 1)
  ratio("   golang-jwt-parse / ours-first-seen-memstore", T "golang-jwt-parse", T "ours-first-seen-memstore", ">=", 1)
  ratio("   jwx-parse / ours-first-seen-memstore", T "jwx-parse", T "ours-first-seen-memstore", ">=", 1)
  ratio("   go-pkgz-auth (HS256) / ours-repeat-redisstore, middleware", M "go-pkgz-auth", M "ours-repeat-redisstore", ">=", 1)
  ratio("   Redis: rueidis-cached-get-miss / go-redis-get", "BenchmarkRedis/impl=rueidis-cached-get-miss", "BenchmarkRedis/impl=go-redis-get", ">=", 1)
  if (missing != "") print "\nmissing benchmarks:" missing
}' "$OUT/bench.txt" "$OUT/root.txt" | tee "$OUT/ratios.txt"

# Profiles of our hot path: CPU, then allocations (a separate run, since
# -memprofilerate 1 slows the code down). Each top is focused on the
# request path, so fixture setup (two argon2id hashes) is left out.
echo "run.sh: profiles"
profile() { # name, benchmark regexp, pprof focus regexp
  local name=$1 bench=$2 focus=$3 p="$OUT/profiles/$1"
  "$OUT/bench.test" -test.run '^$' -test.bench "$bench" -test.benchmem -test.benchtime 3s \
    -test.cpuprofile "$p.cpu.pprof" | grep '^Benchmark'
  "$OUT/bench.test" -test.run '^$' -test.bench "$bench" -test.benchmem -test.benchtime 1s \
    -test.memprofile "$p.mem.pprof" -test.memprofilerate 1 | grep '^Benchmark'
  {
    echo "# $bench: CPU, flat (focus $focus)"
    go tool pprof -top -nodecount 30 -focus "$focus" "$OUT/bench.test" "$p.cpu.pprof" 2>/dev/null
    echo
    echo "# $bench: CPU, cumulative (focus $focus)"
    go tool pprof -top -cum -nodecount 30 -focus "$focus" "$OUT/bench.test" "$p.cpu.pprof" 2>/dev/null
  } >"$p.cpu.top.txt"
  {
    echo "# $bench: allocated bytes, flat (focus $focus)"
    go tool pprof -top -sample_index alloc_space -nodecount 20 -focus "$focus" "$OUT/bench.test" "$p.mem.pprof" 2>/dev/null
    echo
    echo "# $bench: allocations, flat (focus $focus)"
    go tool pprof -top -sample_index alloc_objects -nodecount 20 -focus "$focus" "$OUT/bench.test" "$p.mem.pprof" 2>/dev/null
  } >"$p.mem.top.txt"
}
AUTH='auth\.\(\*Authenticator\)\.Authenticate$'
profile first-seen-memstore 'BenchmarkToken$/^impl=ours-first-seen-memstore$' "$AUTH"
profile first-seen-redisstore 'BenchmarkToken$/^impl=ours-first-seen-redisstore$' "$AUTH"
profile repeat-memstore 'BenchmarkToken$/^impl=ours-repeat-memstore$' "$AUTH"
profile repeat-redisstore 'BenchmarkToken$/^impl=ours-repeat-redisstore$' "$AUTH"
profile middleware-repeat-memstore 'BenchmarkMiddleware$/^impl=ours-repeat-memstore$' 'bench\.serve$'

rm -f "$OUT/bench.test" "$OUT/auth.test" # the profiles carry their symbols
echo "run.sh: done; results in $OUT"
