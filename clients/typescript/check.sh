#!/usr/bin/env bash
# The TypeScript client against the live server (issue 24): starts `zekka up`
# on a fresh database, generates the types from its /openapi.json and fails
# when they differ from the committed src/schema.d.ts (run `npm run
# generate` and commit), type-checks, builds, and runs the example (sign in,
# list projects, open the socket, hear an event). The database is dropped
# afterwards.
#
#   bash clients/typescript/check.sh        # what CI runs
#
# Needs node and npm (installed from Debian's packages by .ci/run when
# missing), curl and psql.
set -euo pipefail
cd "$(dirname "$0")"
here=$(pwd)
repo=$(cd ../.. && pwd)
binary=${ZEKKA_BIN:-$repo/target/debug/zekka}
server=${TEST_DATABASE_SERVER:-postgres://postgres@127.0.0.1:5432}
database="zekka_ts_$$"
work=$(mktemp -d)

log() { printf '\n== typescript: %s\n' "$*" >&2; }

[ -x "$binary" ] || (cd "$repo" && cargo build --quiet --bin zekka)
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
base="http://127.0.0.1:$port"

cleanup() {
  status=$?
  if [ -n "${server_pid:-}" ]; then
    kill "$server_pid" 2>/dev/null || true
    wait "$server_pid" 2>/dev/null || true
  fi
  psql "$server/postgres" -qAt -c "DROP DATABASE IF EXISTS $database WITH (FORCE)" >/dev/null 2>&1 || true
  if [ "$status" != 0 ] && [ -s "$work/server.log" ]; then
    tail -n 30 "$work/server.log" >&2
  fi
  rm -rf "$work"
  exit "$status"
}
trap cleanup EXIT

log "npm ci"
npm ci --no-audit --no-fund --loglevel=error

log "starting zekka up on $base"
DATABASE_URL="$server/$database" HOST=127.0.0.1 PORT="$port" RUST_LOG=warn SOURCES_DIR="$work/sources" \
  "$binary" up >"$work/server.log" 2>&1 &
server_pid=$!
for _ in $(seq 1 150); do
  curl -sf "$base/readyz" >/dev/null && break
  sleep 0.2
done
curl -sf "$base/readyz" >/dev/null

log "the committed types are the served document's"
ZEKKA_URL="$base" npx openapi-typescript "$base/openapi.json" -o "$work/schema.d.ts" >/dev/null
if ! diff -q "$work/schema.d.ts" "$here/src/schema.d.ts" >/dev/null; then
  diff "$work/schema.d.ts" "$here/src/schema.d.ts" | head -40 >&2
  echo "src/schema.d.ts is not the served /openapi.json's: run 'npm run generate' against zekka up and commit it" >&2
  exit 1
fi

log "tsc"
npx tsc

log "the example against zekka up"
ZEKKA_URL="$base" node --experimental-websocket dist/example.js
