#!/usr/bin/env bash
# Who spends the cores (issue 25): over a window in the middle of a
# saturated run, the CPU time of PostgreSQL's processes, the server, the
# load generator and pgbench, per event appended in that window — for
# `commands` (Zekka over HTTP, every projection running), for `peer` (bare
# cqrs-es + postgres-es in process) and for pgbench's append on the store's
# own schema (`limit`'s `store_append`, the ceiling `commands` is judged
# against). All on this one machine, as in bench/all.sh. Prints one JSON
# line per run.
# Usage: bash bench/cpu.sh [window seconds, default 15]
set -euo pipefail
cd "$(dirname "$0")/.."

window="${1:-15}"
cargo build --release -p zekka -p zekka-bench
tmp="$(mktemp -d)"
own_db=""
cleanup() {
  [ -n "$own_db" ] && psql_q -c "DROP DATABASE IF EXISTS $own_db WITH (FORCE)" >/dev/null 2>&1
  rm -rf "$tmp"
}
trap cleanup EXIT
psql_q() { psql -h 127.0.0.1 -U postgres -qAtX "$@"; }

# Every process's CPU ticks and name, and the machine's busy and total
# ticks, to a file.
snapshot() {
  python3 - "$1" <<'PY'
import json, os, sys
processes = {}
for pid in filter(str.isdigit, os.listdir('/proc')):
    try:
        with open(f'/proc/{pid}/stat') as f:
            stat = f.read()
    except OSError:
        continue
    name = stat[stat.index('(') + 1:stat.rindex(')')]
    fields = stat[stat.rindex(')') + 2:].split()
    processes[pid] = [name, int(fields[11]) + int(fields[12])]
with open('/proc/stat') as f:
    cpu = [int(v) for v in f.readline().split()[1:]]
json.dump({'processes': processes, 'busy': sum(cpu) - cpu[3] - cpu[4], 'total': sum(cpu)},
          open(sys.argv[1], 'w'))
PY
}

# The CPU between two snapshots by process name (processes alive at both),
# in cores and in microseconds per event.
report() { # before after events seconds label
  python3 - "$@" <<'PY'
import json, os, sys
before, after = (json.load(open(p)) for p in sys.argv[1:3])
events, seconds, label = int(sys.argv[3]), float(sys.argv[4]), sys.argv[5]
tick = os.sysconf('SC_CLK_TCK')
groups = {}
for pid, (name, ticks) in after['processes'].items():
    if pid in before['processes'] and before['processes'][pid][0] == name:
        groups[name] = groups.get(name, 0) + ticks - before['processes'][pid][1]
cores = {n: t / tick / seconds for n, t in groups.items() if t / tick / seconds >= 0.01}
busy = (after['busy'] - before['busy']) / max(1, after['total'] - before['total'])
print(json.dumps({
    'scenario': 'cpu', 'run': label, 'seconds': seconds, 'events': events,
    'per_second': round(events / seconds),
    'machine_busy': round(busy, 3),
    'cores': {n: round(c, 3) for n, c in sorted(cores.items(), key=lambda kv: -kv[1])},
    'us_per_event': {n: round(c * 1e6 / max(1, events / seconds)) for n, c in
                     sorted(cores.items(), key=lambda kv: -kv[1])},
}))
PY
}

# One window: snapshots around `window` seconds, events counted by `$1`
# (a SQL count in database `$2`).
measure_window() { # count_sql database label
  local before; before=$(psql_q -d "$2" -c "$1")
  snapshot "$tmp/before.json"
  local start; start=$(date +%s.%N)
  sleep "$window"
  snapshot "$tmp/after.json"
  local after; after=$(psql_q -d "$2" -c "$1")
  local seconds; seconds=$(awk "BEGIN { print $(date +%s.%N) - $start }")
  report "$tmp/before.json" "$tmp/after.json" $(( after - before )) "$seconds" "$3"
}

wait_for_database() { # name pattern; prints the newest such database
  for _ in $(seq 1 100); do
    local db; db=$(psql_q -c "SELECT datname FROM pg_database WHERE datname LIKE '$1%'
                               ORDER BY datname DESC LIMIT 1")
    [ -n "$db" ] && { echo "$db"; return 0; }
    sleep 0.2
  done
  return 1
}

# A `zekka-bench` scenario on a migrated database of its own, the window
# starting `delay` seconds after it does.
measure_scenario() { # label count_sql delay scenario [options]
  local label="$1" count="$2" delay="$3"; shift 3
  own_db="zekka_cpu_$(date +%s)"
  local url="postgres://postgres@127.0.0.1:5432/$own_db"
  DATABASE_URL="$url" target/release/zekka migrate >/dev/null 2>&1
  DATABASE_URL="$url" target/release/zekka-bench "$@" > "$tmp/$label.log" 2>&1 &
  local run=$!
  sleep "$delay"
  measure_window "$count" "$own_db" "$label"
  wait "$run"
  psql_q -c "DROP DATABASE IF EXISTS $own_db WITH (FORCE)" >/dev/null
  own_db=""
}

# Zekka: `commands` without the ceiling, its saturated phase long enough to
# hold the window after a few seconds of setup and warm-up.
bash bench/run.sh commands --no-ceiling --seconds $(( window + 15 )) > "$tmp/commands.log" 2>&1 &
run=$!
db=$(wait_for_database zekka_bench_)
sleep 8
measure_window "SELECT coalesce(max(global_position), 0) FROM events" "$db" commands
wait "$run"

# The peer: bare cqrs-es + postgres-es, in process.
measure_scenario peer "SELECT count(*) FROM peer_events" 5 peer --seconds $(( window + 10 ))

# pgbench's append on the store's schema: `limit` runs its three scripts
# (bare append, insert, store append) for `window + 10` seconds each; the
# window sits in the middle of the third.
measure_scenario store_append "SELECT count(*) FROM bench_ceiling_store" $(( 2 * (window + 10) + 5 )) \
  limit --seconds $(( window + 10 ))
