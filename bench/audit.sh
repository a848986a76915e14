#!/usr/bin/env bash
# The audit benchmark (issue 26): the rebuild's million-event fixture
# (bench/sql/rebuild_fixture.sql: 100 projects, their agents and token
# usage), a release `zekka up` caught up with it, then `zekka-bench audit`:
# a member's page of /audit/events (their own small project among the whole
# history), the next page, an auditor's page, and a verification job on the
# whole store followed to its end. For comparison in the same run, the
# per-row filter the member's listing used before its index, timed in psql.
# Usage: bench/audit.sh [usage records, default 1000000]
set -euo pipefail
cd "$(dirname "$0")/.."

usage="${1:-1000000}"
cargo build --release -p zekka -p zekka-bench
db="zekka_audit_bench_$(date +%s)"
port="${BENCH_PORT:-18183}"
base="http://127.0.0.1:$port"
export DATABASE_URL="postgres://postgres@127.0.0.1:5432/$db"
export ZEKKA_RATE_LIMIT_MULTIPLIER="${ZEKKA_RATE_LIMIT_MULTIPLIER:-100000}"
export RUST_LOG="${RUST_LOG:-warn}"
psql_db() { psql -h 127.0.0.1 -U postgres -d "$db" "$@"; }
cleanup() {
  kill "${server:-}" 2>/dev/null || true
  wait "${server:-}" 2>/dev/null || true
  psql -h 127.0.0.1 -U postgres -qc "DROP DATABASE IF EXISTS $db WITH (FORCE)" >/dev/null 2>&1 || true
}
trap cleanup EXIT

target/release/zekka migrate
echo "# $(nproc) cores, $(date -u +%FT%TZ), commit $(git rev-parse --short HEAD), $usage usage records"
start=$(date +%s.%N)
psql_db -q -v projects=100 -v usage="$usage" -f bench/sql/rebuild_fixture.sql
echo "# fixture written in $(awk "BEGIN { print $(date +%s.%N) - $start }") s"

PORT="$port" HOST=127.0.0.1 target/release/zekka up &
server=$!
for _ in $(seq 1 150); do
  curl -sf "$base/readyz" >/dev/null && break
  sleep 0.2
done
start=$(date +%s.%N)
until curl -sf -H 'Accept: application/json' "$base/readyz" |
  python3 -c 'import json,sys; sys.exit(0 if json.load(sys.stdin)["projections"]["behind"] == 0 else 1)'; do
  sleep 1
done
echo "# projections caught up in $(awk "BEGIN { print $(date +%s.%N) - $start }") s"

email="auditor-$(date +%s)@example.com"
password="benchmark passphrase"
curl -sf -o /dev/null -H 'Content-Type: application/json' \
  -d "{\"email\":\"$email\",\"password\":\"$password\",\"display_name\":\"Auditor\"}" "$base/api/v1/auth/register"
target/release/zekka users grant-role "$email" auditor >/dev/null

out=$(mktemp)
target/release/zekka-bench --server "$base" audit --auditor-email "$email" --auditor-password "$password" | tee "$out"
member=$(tail -n 1 "$out" | python3 -c 'import json,sys; print(json.load(sys.stdin)["member_id"])')
rm -f "$out"

# The listing as it was before the index: the whole log, filtered row by row.
echo "# before the index (per-row filter of the global stream), 5 runs of the member's first page:"
for _ in 1 2 3 4 5; do
  psql_db -qAt -c '\timing on' -c "
    SELECT count(*) FROM (SELECT e.global_position FROM events e
     WHERE e.transaction_id < pg_snapshot_xmin(pg_current_snapshot())
       AND EXISTS (SELECT 1 FROM rm_streams s
                    WHERE s.aggregate_type = e.aggregate_type AND s.aggregate_id = e.aggregate_id
                      AND (s.user_id = '$member' OR EXISTS (
                           SELECT 1 FROM visible_projects('$member') v WHERE v.project_id = s.project_id)))
     ORDER BY e.transaction_id, e.global_position LIMIT 51) page" | grep -E '^Time'
done
