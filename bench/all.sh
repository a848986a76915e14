#!/usr/bin/env bash
# Runs every benchmark of issue 9, each scenario against a fresh release
# `zekka up` on a database of its own, then rewrites the summary at the top
# of docs/performance.md with the figures, the machine and the date.
# Usage: bash bench/all.sh            (about 30 minutes on 2 cores)
# Nothing else should run on the machine meanwhile.
set -euo pipefail
cd "$(dirname "$0")/.."

cargo build --release -p zekka -p zekka-bench
results="$(mktemp)"
trap 'rm -f "$results"' EXIT

pg_version=$(psql -h 127.0.0.1 -U postgres -qAtX -c "SHOW server_version" | cut -d' ' -f1)
cpu=$(grep -m1 "model name" /proc/cpuinfo | cut -d: -f2 | sed 's/^ *//' || echo unknown)
mem=$(awk '/MemTotal/ { printf "%.0f", $2 / 1048576 }' /proc/meminfo)
printf '{"scenario":"machine","date":"%s","commit":"%s","cores":%s,"cpu":"%s","memory_gib":%s,"postgres":"%s"}\n' \
  "$(date -u +%F)" "$(git rev-parse --short HEAD)" "$(nproc)" "$cpu" "$mem" "$pg_version" >> "$results"

# `tee -a`: with stderr sent to a file, a plain tee would reopen and
# truncate it at each scenario.
scenario() {
  echo "== $*" >&2
  bash bench/run.sh "$@" | tee -a /dev/stderr | grep -E '^\{.*"scenario":' >> "$results"
}

# `commands` measures the pgbench ceiling (`limit`) right before itself;
# `peer` (bare cqrs-es + postgres-es, same clients and seconds) runs first.
# Two more `commands` runs follow at once: the half-rate p99 goal is met
# only in three runs in a row.
scenario peer --clients 16 --seconds 20
scenario commands --clients 16 --seconds 20
scenario commands --clients 16 --seconds 20 --no-ceiling
scenario commands --clients 16 --seconds 20 --no-ceiling
scenario lag --rate 1000 --seconds 20
scenario queries --rate 2000 --seconds 20
scenario login-storm --concurrency 50 --seconds 20
scenario stream-length --long 100000 --short 10 --samples 500
scenario upload --small 20 --large 5
scenario search --messages 100000 --sources 1000 --projects 100 --rate 50 --seconds 10
echo "== rebuild" >&2
bash bench/rebuild.sh 1000000 | tee -a /dev/stderr | grep -E '^\{.*"scenario":' >> "$results"

target/release/zekka-bench report --results "$results" --doc docs/performance.md
