#!/usr/bin/env bash
# Statements per command (issue 25): runs the `commands` scenario (no
# pgbench ceiling) against a release `zekka up` on a database of its own
# with pg_stat_statements counting, then divides the statements PostgreSQL
# executed in that database (top-level, every connection: command-api,
# projectors, hub, sessions) by the events appended meanwhile (one per
# command in that scenario), and lists the statements that cost the most.
# Needs pg_stat_statements preloaded: once, as a superuser,
#   ALTER SYSTEM SET shared_preload_libraries = 'pg_stat_statements';
# and restart PostgreSQL. Usage: bench/statements.sh [seconds per phase]
set -euo pipefail
cd "$(dirname "$0")/.."

seconds="${1:-10}"
psql_q() { psql -h 127.0.0.1 -U postgres -qAtX "$@"; }
if ! psql_q -c "SHOW shared_preload_libraries" | grep -q pg_stat_statements; then
  echo "pg_stat_statements is not preloaded: ALTER SYSTEM SET shared_preload_libraries = 'pg_stat_statements'; then restart PostgreSQL" >&2
  exit 1
fi
cargo build --release -p zekka -p zekka-bench
db="zekka_statements_$(date +%s)"
port="${BENCH_PORT:-18182}"
export DATABASE_URL="postgres://postgres@127.0.0.1:5432/$db"
export ZEKKA_RATE_LIMIT_MULTIPLIER=100000 LOGIN_LOCKOUT_THRESHOLD=1000000 RUST_LOG="${RUST_LOG:-warn}"
PORT="$port" HOST=127.0.0.1 target/release/zekka up &
server=$!
cleanup() {
  kill "$server" 2>/dev/null || true
  wait "$server" 2>/dev/null || true
  psql_q -c "DROP DATABASE IF EXISTS $db WITH (FORCE)" >/dev/null 2>&1 || true
}
trap cleanup EXIT
for _ in $(seq 1 100); do
  (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && break
  sleep 0.2
done
psql_q -d "$db" -c "CREATE EXTENSION IF NOT EXISTS pg_stat_statements" >/dev/null
events_before=$(psql_q -d "$db" -c "SELECT count(*) FROM events")
psql_q -d "$db" -c "SELECT pg_stat_statements_reset()" >/dev/null
result=$(target/release/zekka-bench --server "http://127.0.0.1:$port" commands --no-ceiling --seconds "$seconds" \
  | grep -E '^\{')
# Let the projectors finish what was written.
sleep 3
events=$(( $(psql_q -d "$db" -c "SELECT count(*) FROM events") - events_before ))
calls=$(psql_q -d "$db" -c "SELECT sum(calls) FROM pg_stat_statements s JOIN pg_database d ON d.oid = s.dbid
                            WHERE d.datname = current_database()")
echo "# $(nproc) cores, $(date -u +%FT%TZ), commit $(git rev-parse --short HEAD)"
echo "# the statements that ran most, per command:"
psql_q -d "$db" -F ' | ' -c "SELECT round(calls::numeric / $events, 3), left(regexp_replace(query, '\s+', ' ', 'g'), 110)
                              FROM pg_stat_statements s JOIN pg_database d ON d.oid = s.dbid
                             WHERE d.datname = current_database() ORDER BY calls DESC LIMIT 15"
printf '{"scenario":"statements","events":%s,"statements":%s,"statements_per_command":%s,"commands":%s}\n' \
  "$events" "$calls" "$(awk "BEGIN { printf \"%.2f\", $calls / $events }")" "$result"
