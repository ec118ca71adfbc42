#!/usr/bin/env bash
# Share-registry benchmarks (issue 12), wrk against release builds on loopback:
#  - validate against an auth-service whose registry holds $SHARES recorded shares, $REVOKED of them
#    revoked, next to the same validate against an auth-service with an empty registry, interleaved
#    in the same run; prints the ratio (the target is >= 90 %);
#  - share creation (every request a distinct share, so every one is a database write) on SQLite
#    and on PostgreSQL (Debian's postgresql, started here in a temp dir on a free port).
# DURATION=10s CONNECTIONS=64 SHARES=100000 REVOKED=10000 bash bench/registry.sh
set -euo pipefail
cd "$(dirname "$0")/.."
DURATION=${DURATION:-10s}
CONNECTIONS=${CONNECTIONS:-64}
SHARES=${SHARES:-100000}
REVOKED=${REVOKED:-10000}
USER_NAME=bench
USER_PASSWORD=bench-pass

log() { printf '==> %s\n' "$*" >&2; }
die() { printf 'bench: %s\n' "$*" >&2; exit 1; }
SUDO=""; [ "$(id -u)" = 0 ] || SUDO="sudo"
if ! command -v wrk >/dev/null || ! command -v curl >/dev/null; then
    $SUDO apt-get install -y wrk curl
fi
PG_BIN=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1 || true)
if [ -z "$PG_BIN" ]; then
    $SUDO apt-get install -y postgresql
    PG_BIN=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -1)
fi

log "building auth-service (release)"
cargo build --release -q -p auth-service
BIN=$PWD/target/release/auth-service

WORK=$(mktemp -d /tmp/bench-registry.XXXXXX)
chmod 755 "$WORK"
PIDS=()
PG_DATA=""
cleanup() {
    for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; done
    if [ -n "$PG_DATA" ] && [ -f "$PG_DATA/postmaster.pid" ]; then
        kill -INT "$(head -1 "$PG_DATA/postmaster.pid")" 2>/dev/null || true
        sleep 1
    fi
    rm -rf "$WORK"
}
trap cleanup EXIT
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

# start NAME DATABASE_URL [VAR=value ...]: sets URL and PID
start() {
    local name=$1 db=$2 port
    shift 2
    port=$(free_port)
    mkdir -p "$WORK/$name"
    (cd "$WORK/$name" && exec env -i PATH="$PATH" HOME="$HOME" SECRET_KEY=bench-secret \
        USERS="{\"$USER_NAME\":\"$USER_PASSWORD\"}" PUBLIC_ORTHANC_ROOT=http://127.0.0.1:8042/ \
        RUST_LOG=warn BIND_ADDRESS="127.0.0.1:$port" \
        DATABASE_URL="$db" "$@" "$BIN") >"$WORK/$name/log" 2>&1 &
    PID=$!
    PIDS+=("$PID")
    URL=http://127.0.0.1:$port
    for _ in $(seq 1 600); do
        curl -sf -o /dev/null "$URL/health" && return 0
        kill -0 "$PID" 2>/dev/null || { cat "$WORK/$name/log" >&2; die "$name exited"; }
        sleep 0.05
    done
    die "$name did not start"
}
stop() { kill "$1"; wait "$1" 2>/dev/null || true; }

BASIC=$(printf '%s:%s' "$USER_NAME" "$USER_PASSWORD" | base64 | tr -d '\n')
lua_common() {
    cat <<LUA
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Basic $BASIC"
non2xx = 0
local threads = {}
local count = 0
function setup(thread)
    count = count + 1
    thread:set("tid", count)
    table.insert(threads, thread)
end
function response(status, headers, body)
    if status < 200 or status > 299 then non2xx = non2xx + 1 end
end
function done(summary, latency, requests)
    local bad = 0
    for _, t in ipairs(threads) do bad = bad + t:get("non2xx") end
    io.write(string.format("BENCH %.0f %.2f %.2f %d\n", summary.requests / (summary.duration / 1e6),
        latency:percentile(50) / 1000, latency:percentile(99) / 1000, bad))
end
LUA
}
# run LABEL LUA URL -> prints "LABEL req/s p50_ms p99_ms non2xx", remembers req/s in RPS
run() {
    local line
    line=$(wrk -t2 -c"$CONNECTIONS" -d"$DURATION" --latency -s "$2" "$3" | grep '^BENCH ')
    set -- "$1" $line
    RPS=$3
    printf '%-22s %10s req/s  p50 %6s ms  p99 %6s ms  non-2xx %s\n' "$1" "$3" "$4" "$5" "$6" | tee -a "$WORK/table"
}

# --- validate: 100k recorded / 10k revoked vs an empty registry --------------------------------
log "seeding a SQLite registry with $SHARES shares ($REVOKED revoked)"
SEEDED="sqlite://$WORK/seeded.sqlite"
start seed "$SEEDED"
stop "$PID"
python3 - "$WORK/seeded.sqlite" "$SHARES" "$REVOKED" <<'PY'
import os, sqlite3, sys
db = sqlite3.connect(sys.argv[1]); shares, revoked = int(sys.argv[2]), int(sys.argv[3])
rows = [(os.urandom(16).hex(), "stone-viewer-publication",
         '[{"dicom-uid":"1.2.3","orthanc-id":"aaaa-bbbb","url":null,"level":"study"}]', 1_700_000_000_000 + n, "bench",
         1_700_000_000_000 if n < revoked else None) for n in range(shares)]
db.executemany("INSERT INTO shares (id, token_type, resources, created_at, created_by, use_count, revoked_at) VALUES (?,?,?,?,?,0,?)", rows)
db.commit()
PY
start seeded "$SEEDED"; SEEDED_URL=$URL
start empty "sqlite://$WORK/empty.sqlite"; EMPTY_URL=$URL
TOKEN=$(curl -sf -u "$USER_NAME:$USER_PASSWORD" -X PUT -H 'Content-Type: application/json' \
    -d '{"id":"bench","resources":[{"dicom-uid":"1.2.3","orthanc-id":"aaaa-bbbb","level":"study"}],"expiration-date":"2099-01-01T00:00:00Z"}' \
    "$SEEDED_URL/tokens/stone-viewer-publication" | python3 -c 'import json,sys; print(json.load(sys.stdin)["token"])')
BODY='{"dicom-uid":"1.2.3","level":"study","method":"get","orthanc-id":"aaaa-bbbb","server-id":null,"token-key":"token","token-value":"'$TOKEN'"}'
for u in "$SEEDED_URL" "$EMPTY_URL"; do
    curl -sf -u "$USER_NAME:$USER_PASSWORD" -H 'Content-Type: application/json' -d "$BODY" "$u/tokens/validate" |
        grep -q '"granted":true' || die "validate does not grant on $u"
done
{ lua_common; printf 'wrk.method = "POST"\nwrk.body = [==[%s]==]\n' "$BODY"; } >"$WORK/validate.lua"
wrk -t2 -c"$CONNECTIONS" -d2s -s "$WORK/validate.lua" "$EMPTY_URL/tokens/validate" >/dev/null
wrk -t2 -c"$CONNECTIONS" -d2s -s "$WORK/validate.lua" "$SEEDED_URL/tokens/validate" >/dev/null
run "validate plain" "$WORK/validate.lua" "$EMPTY_URL/tokens/validate"; PLAIN1=$RPS
run "validate 100k/10k" "$WORK/validate.lua" "$SEEDED_URL/tokens/validate"; SEEDED1=$RPS
run "validate plain" "$WORK/validate.lua" "$EMPTY_URL/tokens/validate"; PLAIN2=$RPS
run "validate 100k/10k" "$WORK/validate.lua" "$SEEDED_URL/tokens/validate"; SEEDED2=$RPS
awk -v a="$SEEDED1" -v b="$SEEDED2" -v c="$PLAIN1" -v d="$PLAIN2" \
    'BEGIN { printf "validate with registry / plain: %.1f %%\n", 100 * (a + b) / (c + d) }' | tee -a "$WORK/table"

# --- creation on SQLite and PostgreSQL -----------------------------------------------------------
{ lua_common; cat <<'LUA'; } >"$WORK/create.lua"
wrk.method = "PUT"
local n = 0
function request()
    n = n + 1
    local body = '{"id":"bench-' .. tid .. '-' .. n .. '","resources":[{"dicom-uid":"1.2.3","orthanc-id":"aaaa-bbbb","level":"study"}],"expiration-date":"2099-01-01T00:00:00Z"}'
    return wrk.format(nil, nil, nil, body)
end
LUA
start create-sqlite "sqlite://$WORK/create.sqlite"
run "create sqlite" "$WORK/create.lua" "$URL/tokens/stone-viewer-publication"
stop "$PID"

log "starting PostgreSQL ($PG_BIN)"
PG_DATA=$WORK/pg
PG_PORT=$(free_port)
AS=(); [ "$(id -u)" = 0 ] && AS=(runuser -u postgres --) && chown postgres: "$WORK"
"${AS[@]}" "$PG_BIN/initdb" -A trust -U postgres --no-sync -D "$PG_DATA" >/dev/null
"${AS[@]}" "$PG_BIN/postgres" -D "$PG_DATA" -p "$PG_PORT" -c listen_addresses=127.0.0.1 \
    -c unix_socket_directories="$WORK" >"$WORK/pg.log" 2>&1 &
PIDS+=($!)
for _ in $(seq 1 200); do "$PG_BIN/pg_isready" -q -h 127.0.0.1 -p "$PG_PORT" && break; sleep 0.05; done
chown -R "$(id -u)" "$WORK/seed" "$WORK/seeded" 2>/dev/null || true
start create-postgres "postgres://postgres@127.0.0.1:$PG_PORT/postgres"
run "create postgres" "$WORK/create.lua" "$URL/tokens/stone-viewer-publication"

printf '\n%s, nproc %s, commit %s, wrk -t2 -c%s -d%s\n' "$(date -u +%F)" "$(nproc)" \
    "$(git rev-parse --short HEAD)" "$CONNECTIONS" "$DURATION"
cat "$WORK/table"
