#!/usr/bin/env bash
# Black-box fuzzing of the whole HTTP API with schemathesis (issue 10).
#
# Starts `zekka up` on a fresh database, seeds two people who each own a
# project (tests/fuzz/seed.py), then runs every schemathesis check against
# /openapi.json as both of them (object-level authorization compares what
# each can read of the other's), with the settings and their reasons in
# tests/fuzz/schemathesis.toml. The routes that end a session or erase the
# account run last, each as a disposable person of its own.
# Exits non-zero on any failure; the database is dropped afterwards.
#
#   bash tests/fuzz/run.sh            # what CI runs
#   FUZZ_EXAMPLES=50 bash tests/fuzz/run.sh
#
# Needs python3 (the venv is made on first use, from PyPI), curl and psql.
set -euo pipefail
cd "$(dirname "$0")/../.."
repo=$(pwd)

schemathesis_version=4.32.5
venv=${FUZZ_VENV:-$repo/target/schemathesis-venv}
examples=${FUZZ_EXAMPLES:-10}
binary=${ZEKKA_BIN:-$repo/target/debug/zekka}
server=${TEST_DATABASE_SERVER:-postgres://postgres@127.0.0.1:5432}
database="zekka_fuzz_$$"
work=$(mktemp -d)

log() { printf '\n== fuzz: %s\n' "$*" >&2; }

if [ ! -x "$venv/bin/schemathesis" ] ||
  ! "$venv/bin/schemathesis" --version 2>/dev/null | grep -q "$schemathesis_version"; then
  log "installing schemathesis $schemathesis_version into $venv"
  python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet --disable-pip-version-check "schemathesis==$schemathesis_version"
fi
[ -x "$binary" ] || cargo build --quiet --bin zekka

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
    echo "-- last lines of the server's log:" >&2
    tail -n 40 "$work/server.log" >&2
  fi
  rm -rf "$work"
  exit "$status"
}
trap cleanup EXIT

log "starting zekka up on $base (database $database)"
# Rate limits are scaled up: the fuzzer sends hundreds of writes a minute
# as one person, and a 429 would hide the route behind it. Webhooks may
# name `localhost` (which the schema's host-name rule allows): a generated
# one is a valid request, not an attempt on the network.
(
  cd "$work"
  DATABASE_URL="$server/$database" REDIS_PREFIX="zekka-fuzz-$$:" PORT="$port" HOST=127.0.0.1 \
    ZEKKA_RATE_LIMIT_MULTIPLIER=1000 WEBHOOK_ALLOW_PRIVATE_TARGETS=yes LOG_FORMAT=json RUST_LOG=warn \
    exec "$binary" up
) >"$work/server.log" 2>&1 &
server_pid=$!
for _ in $(seq 1 120); do
  curl -fsS "$base/readyz" >/dev/null 2>&1 && break
  kill -0 "$server_pid" 2>/dev/null || { echo "zekka up exited" >&2; exit 1; }
  sleep 0.5
done
curl -fsS "$base/readyz" >/dev/null

password="fuzzing passphrase $$"
log "seeding alice and bob (tests/fuzz/seed.py)"
python3 tests/fuzz/seed.py "$base" "$$" "$password" "$work"
# shellcheck disable=SC1091
source "$work/seed.env"
export FUZZ_PEOPLE="$work/people.json" FUZZ_PROJECT FUZZ_CONVERSATION FUZZ_MESSAGE FUZZ_AGENT \
  FUZZ_TASK FUZZ_CONFLICT FUZZ_CONSISTENCY_TOKEN FUZZ_BOB

# Routes that end the session or erase the account would sign the fuzzer
# out half-way; they run last, each as a person of its own.
session_enders=("POST /api/v1/auth/logout" "DELETE /api/v1/users/me")

run_schemathesis() { # config file, then schemathesis arguments
  local config=$1
  shift
  # One worker: CPython 3.11's parser is not safe across hypothesis's
  # threads ("AST constructor recursion depth mismatch").
  (cd "$work" && touch closing.toml && "$venv/bin/schemathesis" --config-file "$config" run "$base/openapi.json" \
    --max-examples "$examples" --workers 1 --seed 1 \
    --request-timeout 10 --suppress-health-check all "$@")
}

log "schemathesis: every operation, as alice and bob"
excluded=()
for name in "${session_enders[@]}"; do excluded+=(--exclude-name "$name"); done
run_schemathesis "$repo/tests/fuzz/schemathesis.toml" "${excluded[@]}"

# Each session-ending operation runs as a person of its own, so one does
# not sign the next one out.
for name in "${session_enders[@]}"; do
  person="closing.$RANDOM.$$@fuzz.example.com"
  log "schemathesis: $name, as $person"
  curl -fsS -X POST "$base/api/v1/auth/register" -H 'content-type: application/json' \
    -d "{\"email\":\"$person\",\"password\":\"$password\",\"display_name\":\"closing\"}" >/dev/null
  token=$(curl -fsS -X POST "$base/api/v1/auth/login" -H 'content-type: application/json' \
    -d "{\"email\":\"$person\",\"password\":\"$password\"}" |
    python3 -c 'import json,sys; print(json.load(sys.stdin)["access_token"])')
  run_schemathesis "$work/closing.toml" -H "Authorization: Bearer $token" --include-name "$name"
done

# Nothing the fuzzer got accepted may stop a projection (issue 20, F1):
# once the projectors have caught up with everything written, none failed.
log "every projection applied what the fuzzer wrote"
behind_sql="SELECT count(*) FROM projection_checkpoints c,
              (SELECT transaction_id, global_position FROM events
                ORDER BY transaction_id DESC, global_position DESC LIMIT 1) h
             WHERE c.name NOT LIKE '%@rebuild'
               AND (c.transaction_id, c.global_position) < (h.transaction_id, h.global_position)"
failed_sql="SELECT name || ': ' || coalesce(error, '') FROM projection_checkpoints WHERE status = 'failed'"
for _ in $(seq 1 60); do
  failed=$(psql "$server/$database" -qAt -c "$failed_sql")
  behind=$(psql "$server/$database" -qAt -c "$behind_sql")
  [ -n "$failed" ] && break
  [ "$behind" = 0 ] && break
  sleep 0.5
done
if [ -n "$failed" ]; then
  echo "projections failed after fuzzing:" >&2
  echo "$failed" >&2
  exit 1
fi
if [ "$behind" != 0 ]; then
  echo "$behind projections never caught up with what the fuzzer wrote" >&2
  exit 1
fi

log "no failures"
