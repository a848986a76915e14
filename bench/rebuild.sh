#!/usr/bin/env bash
# The rebuild benchmark: fills a database of its own with a history of
# projects, agents and token usage (bench/sql/rebuild_fixture.sql), then
# rebuilds each analytics projection with `zekka rebuild` and reports
# events/s. Usage: bench/rebuild.sh [usage records, default 1000000]
set -euo pipefail
cd "$(dirname "$0")/.."

usage="${1:-1000000}"
cargo build --release -p zekka
db="zekka_rebuild_bench_$(date +%s)"
export DATABASE_URL="postgres://postgres@127.0.0.1:5432/$db"
export RUST_LOG="${RUST_LOG:-warn}"
cleanup() {
  psql -h 127.0.0.1 -U postgres -qc "DROP DATABASE IF EXISTS $db WITH (FORCE)" >/dev/null 2>&1 || true
}
trap cleanup EXIT
target/release/zekka migrate
echo "# $(nproc) cores, $(date -u +%FT%TZ), commit $(git rev-parse --short HEAD), $usage usage records"
start=$(date +%s.%N)
psql -h 127.0.0.1 -U postgres -d "$db" -q -v projects=100 -v usage="$usage" -f bench/sql/rebuild_fixture.sql
echo "# fixture written in $(awk "BEGIN { print $(date +%s.%N) - $start }") s"
# The raw read the rebuild is bounded by, for comparison in the same run.
start=$(date +%s.%N)
psql -h 127.0.0.1 -U postgres -d "$db" -qAt -c "COPY (SELECT transaction_id, global_position, aggregate_type, aggregate_id, sequence, event_type, event_version, payload, metadata, recorded_at FROM events ORDER BY transaction_id, global_position) TO STDOUT" > /dev/null
copy=$(awk "BEGIN { print $(date +%s.%N) - $start }")
events=$(psql -h 127.0.0.1 -U postgres -d "$db" -qAt -c "SELECT count(*) FROM events")
echo "{\"scenario\":\"rebuild\",\"step\":\"copy\",\"events\":$events,\"seconds\":$copy,\"events_per_second\":$(awk "BEGIN { printf \"%d\", $events / $copy }")}"
# Build every projection once, as a live deployment would have it.
target/release/zekka rebuild all > /dev/null
for projection in usage projects agents conflicts; do
  line=$(target/release/zekka rebuild "$projection" 2>/dev/null | grep -E "^$projection: ")
  echo "# $line"
  rate=$(echo "$line" | sed -E 's/.*\(([0-9]+) events\/s\).*/\1/')
  seconds=$(echo "$line" | sed -E 's/.* in ([0-9.]+) s .*/\1/')
  echo "{\"scenario\":\"rebuild\",\"projection\":\"$projection\",\"events\":$events,\"seconds\":$seconds,\"events_per_second\":$rate}"
done
