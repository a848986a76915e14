#!/usr/bin/env bash
# The store at scale (issue 25): the same measurements on a history of
# 100,000 events and on one of N (default 10,000,000), each over streams of
# about 100 events (N/100 projects, 4 agents each, token usage spread over
# them; bench/sql/rebuild_fixture.sql), in databases of their own:
#   - append: pgbench appending one event to a random existing stream
#     through the store's own table (its indexes; the hash given and the
#     predecessor read in the statement, as the writer does) at a fixed
#     200 appends/s for 15 s — latency average and stddev;
#   - load: pgbench reading one random stream's events in sequence order
#     (what a command's load does without a snapshot), 200 a second for
#     15 s;
#   - catch-up: reading every event from position 0 as a projector
#     starting from nothing does — `zekka-bench catch-up`: batches of the
#     projectors' size through the event store's own catch-up read (one
#     unbounded ORDER BY, what this measured before, is planned at 10 M as
#     a sequential scan and an external sort; docs/performance.md "scale");
#   - rebuild: `zekka rebuild projects` (catch-up into a shadow schema,
#     comparison, swap), events/s.
# Prints one JSON line per size and measurement. Usage: bench/scale.sh [N]
set -euo pipefail
cd "$(dirname "$0")/.."

large="${1:-10000000}"
cargo build --release -p zekka -p zekka-bench
export RUST_LOG="${RUST_LOG:-warn}"
psql_q() { psql -h 127.0.0.1 -U postgres -qAtX "$@"; }
databases=()
cleanup() {
  for db in "${databases[@]}"; do
    psql_q -c "DROP DATABASE IF EXISTS $db WITH (FORCE)" >/dev/null 2>&1 || true
  done
  rm -f "$tmp"/*.sql
  rmdir "$tmp" 2>/dev/null || true
}
tmp="$(mktemp -d)"
trap cleanup EXIT
now() { date +%s.%N; }
since() { awk "BEGIN { print $(now) - $1 }"; }

# Each client appends to streams of its own (n ≡ client_id mod 4): two
# clients appending to one stream at once would collide on its key, which
# pgbench cannot retry; Zekka's writer decides such a command again.
cat > "$tmp/append.sql" <<'SQL'
\set n 1 + :client_id + 4 * random(0, :streams / 4 - 1)
INSERT INTO events (aggregate_type, aggregate_id, sequence, event_type, event_version, payload, metadata, hash)
SELECT 'Project', s.id, last.sequence + 1,
       'ProjectUpdated', '1.0',
       jsonb_build_object('ProjectUpdated', jsonb_build_object('name', 'Renamed', 'description', '', 'budget_usd', null)),
       '{}',
       -- The writer hashes in Rust and sends the link (migration 0035); a
       -- stand-in here, from the predecessor read as the writer's check reads it.
       sha256(last.hash)
  FROM bench_streams s,
       LATERAL (SELECT sequence, hash FROM events
                 WHERE aggregate_type = 'Project' AND aggregate_id = s.id
                 ORDER BY sequence DESC LIMIT 1) last
 WHERE s.n = :n;
SQL
cat > "$tmp/load.sql" <<'SQL'
\set n random(1, :streams)
SELECT e.sequence, e.payload FROM bench_streams s
  JOIN events e ON e.aggregate_type = 'Project' AND e.aggregate_id = s.id
 WHERE s.n = :n ORDER BY e.sequence;
SQL

json_field() { # a number field of a one-line JSON object
  sed -E "s/.*\"$1\":([0-9.]+).*/\1/" <<<"$2"
}

latency() { # the pgbench output's "latency average" and "latency stddev", in ms
  awk '/latency average/ { avg = $4 } /latency stddev/ { sd = $4 } END { printf "%s,%s", avg, sd }'
}

measure() {
  local events="$1" projects=$(( $1 / 100 ))
  local db="zekka_scale_${events}_$(date +%s)"
  databases+=("$db")
  export DATABASE_URL="postgres://postgres@127.0.0.1:5432/$db"
  target/release/zekka migrate >/dev/null
  local start; start=$(now)
  psql -h 127.0.0.1 -U postgres -d "$db" -q -v projects="$projects" -v usage="$events" \
    -f bench/sql/rebuild_fixture.sql >/dev/null
  local written; written=$(since "$start")
  local stored; stored=$(psql_q -d "$db" -c "SELECT count(*) FROM events")
  psql_q -d "$db" -c "CREATE TABLE bench_streams AS
                        SELECT row_number() OVER () AS n, aggregate_id AS id FROM events
                         WHERE aggregate_type = 'Project' AND sequence = 1;
                      CREATE UNIQUE INDEX ON bench_streams (n);" >/dev/null
  psql_q -d "$db" -c "VACUUM ANALYZE events" -c "ANALYZE bench_streams" >/dev/null
  # The load and the vacuum leave gigabytes of dirty pages at 10 M events;
  # written out now, they do not stall the measurements below (what is
  # measured is the store at that size, not the bulk load's write-back).
  psql_q -d "$db" -c "CHECKPOINT" >/dev/null
  local bytes; bytes=$(psql_q -d "$db" -c "SELECT pg_total_relation_size('events')")
  echo "# events: $(( bytes / 1048576 )) MiB with indexes; page cache $(awk '/^Cached:/ { printf "%d", $2 / 1024 }' /proc/meminfo) MiB" >&2
  local streams; streams=$(psql_q -d "$db" -c "SELECT count(*) FROM bench_streams")
  echo "# $events: $stored events over $streams project streams written in ${written} s" >&2

  # The latencies first: right after the catch-up has read all 10 GB, the
  # disk answered this machine's random reads slowly for a minute (a
  # stream's load 18.8 ms on average then, 2.1-2.8 ms before and after;
  # docs/performance.md "scale").
  local load; load=$(pgbench -h 127.0.0.1 -U postgres -n -c 1 -R 200 -T 15 -D streams="$streams" \
    -f "$tmp/load.sql" "$db" 2>/dev/null | latency)
  local append; append=$(pgbench -h 127.0.0.1 -U postgres -n -c 4 -R 200 -T 15 -D streams="$streams" \
    -f "$tmp/append.sql" "$db" 2>/dev/null | latency)

  local catchup; catchup=$(target/release/zekka-bench catch-up | grep -E '^\{')
  echo "# catch-up: $catchup" >&2

  # The first build of the model; the second, measured, is a rebuild.
  target/release/zekka rebuild projects >/dev/null 2>&1 || true
  local line; line=$(target/release/zekka rebuild projects 2>/dev/null | grep -E "^projects: ")
  local rebuild_rate; rebuild_rate=$(echo "$line" | sed -E 's/.*\(([0-9]+) events\/s\).*/\1/')
  local rebuild_seconds; rebuild_seconds=$(echo "$line" | sed -E 's/.* in ([0-9.]+) s .*/\1/')

  printf '{"scenario":"scale","events":%s,"streams":%s,"events_bytes":%s,"fixture_seconds":%s,' \
    "$stored" "$streams" "$bytes" "$written"
  printf '"append_ms":{"avg":%s,"stddev":%s},' "${append%,*}" "${append#*,}"
  printf '"load_ms":{"avg":%s,"stddev":%s},' "${load%,*}" "${load#*,}"
  printf '"catch_up":{"seconds":%s,"events_per_second":%s,"batch_p99_ms":%s},' \
    "$(json_field seconds "$catchup")" "$(json_field events_per_second "$catchup")" \
    "$(json_field p99_ms "$catchup")"
  printf '"rebuild_projects":{"seconds":%s,"events_per_second":%s}}\n' "$rebuild_seconds" "$rebuild_rate"
  psql_q -c "DROP DATABASE IF EXISTS $db WITH (FORCE)" >/dev/null
}

echo "# $(nproc) cores, $(date -u +%FT%TZ), commit $(git rev-parse --short HEAD)"
measure 100000
measure "$large"
