#!/usr/bin/env bash
# Runs a benchmark scenario against a release `zekka up` on a database of its
# own (created, then dropped). Usage: bench/run.sh login-healthz [options]
set -euo pipefail
cd "$(dirname "$0")/.."

cargo build --release -p zekka -p zekka-bench
# The websocket scenario holds thousands of sockets on both ends.
ulimit -n 65536 2>/dev/null || true
db="zekka_bench_$(date +%s)"
port="${BENCH_PORT:-18181}"
export DATABASE_URL="postgres://postgres@127.0.0.1:5432/$db"
# Sign-ins from one address would otherwise hit the per-address limits.
export ZEKKA_RATE_LIMIT_MULTIPLIER="${ZEKKA_RATE_LIMIT_MULTIPLIER:-100000}"
export LOGIN_LOCKOUT_THRESHOLD=1000000
export RUST_LOG="${RUST_LOG:-warn}"
# A server left over from an earlier run would answer in this one's place.
if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
  echo "something already listens on 127.0.0.1:$port (an earlier run's server?); set BENCH_PORT" >&2
  exit 1
fi
PORT="$port" HOST=127.0.0.1 target/release/zekka up &
server=$!
cleanup() {
  kill "$server" 2>/dev/null || true
  wait "$server" 2>/dev/null || true
  psql -h 127.0.0.1 -U postgres -qc "DROP DATABASE IF EXISTS $db WITH (FORCE)" >/dev/null 2>&1 || true
}
trap cleanup EXIT
for _ in $(seq 1 100); do
  (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && break
  sleep 0.2
done
echo "# $(nproc) cores, $(date -u +%FT%TZ), commit $(git rev-parse --short HEAD)"
ZEKKA_SERVER_PID="$server" target/release/zekka-bench --server "http://127.0.0.1:$port" "$@"
