#!/usr/bin/env bash
# Share-registry benchmarks (issue 12), wrk against release builds on loopback:
#  - validate against an auth-service whose registry holds $SHARES recorded shares, $REVOKED of them
#    revoked, next to the same validate against an auth-service with an empty registry, interleaved
#    in the same run; prints the ratio (the target is >= 90 %);
#  - share creation (every request a distinct share, so every one is a database write) on SQLite
#    and on PostgreSQL (Debian's postgresql, started here in a temp dir on a free port).
# DURATION=10s CONNECTIONS=64 SHARES=100000 REVOKED=10000 bash bench/registry.sh
set -euo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

DURATION=${DURATION:-10s}
CONNECTIONS=${CONNECTIONS:-64}
SHARES=${SHARES:-100000}
REVOKED=${REVOKED:-10000}
USER_NAME=bench
USER_PASSWORD=bench-pass
BIN=$REPO_DIR/target/release/auth-service

bench_init registry
SUDO=""; [ "$(id -u)" = 0 ] || SUDO="sudo"
PG_BIN=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1 || true)
if [ -z "$PG_BIN" ]; then
    $SUDO apt-get install -y postgresql
    PG_BIN=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -1)
fi
build auth-service
chmod 755 "$WORK_DIR"
PG_DATA=""
bench_cleanup_extra() {
    if [ -n "$PG_DATA" ] && [ -f "$PG_DATA/postmaster.pid" ]; then
        kill -INT "$(head -1 "$PG_DATA/postmaster.pid")" 2>/dev/null || true
        sleep 1
    fi
}

# start NAME DATABASE_URL [VAR=value ...]: auth-service on that registry; sets URL and PID.
start() {
    local name=$1 db=$2
    shift 2
    start_server "$name" "$BIN" SECRET_KEY=bench-secret USERS="{\"$USER_NAME\":\"$USER_PASSWORD\"}" \
        PUBLIC_ORTHANC_ROOT=http://127.0.0.1:8042/ DATABASE_URL="$db" "$@"
    URL=$SERVER_URL PID=$SERVER_PID
}

HEADERS=("Content-Type=application/json" "Authorization=Basic $(b64 "$USER_NAME:$USER_PASSWORD")")

# --- validate: 100k recorded / 10k revoked vs an empty registry --------------------------------
log "seeding a SQLite registry with $SHARES shares ($REVOKED revoked)"
SEEDED="sqlite://$WORK_DIR/seeded.sqlite"
start seed "$SEEDED"
stop_server "$PID"
python3 - "$WORK_DIR/seeded.sqlite" "$SHARES" "$REVOKED" <<'PY'
import os, sqlite3, sys
db = sqlite3.connect(sys.argv[1]); shares, revoked = int(sys.argv[2]), int(sys.argv[3])
rows = [(os.urandom(16).hex(), "stone-viewer-publication",
         '[{"dicom-uid":"1.2.3","orthanc-id":"aaaa-bbbb","url":null,"level":"study"}]', 1_700_000_000_000 + n, "bench",
         1_700_000_000_000 if n < revoked else None) for n in range(shares)]
db.executemany("INSERT INTO shares (id, token_type, resources, created_at, created_by, use_count, revoked_at) VALUES (?,?,?,?,?,0,?)", rows)
db.commit()
PY
start seeded "$SEEDED"; SEEDED_URL=$URL
start empty "sqlite://$WORK_DIR/empty.sqlite"; EMPTY_URL=$URL
TOKEN=$(curl -sf -u "$USER_NAME:$USER_PASSWORD" -X PUT -H 'Content-Type: application/json' \
    -d '{"id":"bench","resources":[{"dicom-uid":"1.2.3","orthanc-id":"aaaa-bbbb","level":"study"}],"expiration-date":"2099-01-01T00:00:00Z"}' \
    "$SEEDED_URL/tokens/stone-viewer-publication" | python3 -c 'import json,sys; print(json.load(sys.stdin)["token"])')
BODY='{"dicom-uid":"1.2.3","level":"study","method":"get","orthanc-id":"aaaa-bbbb","server-id":null,"token-key":"token","token-value":"'$TOKEN'"}'
for u in "$SEEDED_URL" "$EMPTY_URL"; do
    curl -sf -u "$USER_NAME:$USER_PASSWORD" -H 'Content-Type: application/json' -d "$BODY" "$u/tokens/validate" |
        grep -q '"granted":true' || die "validate does not grant on $u"
done
write_lua "$WORK_DIR/validate.lua" 2xx POST "$BODY" "${HEADERS[@]}"
warm_up "$CONNECTIONS" "$WORK_DIR/validate.lua" "$EMPTY_URL/tokens/validate"
warm_up "$CONNECTIONS" "$WORK_DIR/validate.lua" "$SEEDED_URL/tokens/validate"
for _ in 1 2; do
    run_wrk validate-plain "$CONNECTIONS" "$WORK_DIR/validate.lua" "$EMPTY_URL/tokens/validate"
    run_wrk validate-100k/10k "$CONNECTIONS" "$WORK_DIR/validate.lua" "$SEEDED_URL/tokens/validate"
done

# --- creation on SQLite and PostgreSQL -----------------------------------------------------------
# Every request a new share: the body's id is the thread's number and a counter.
write_lua "$WORK_DIR/create.lua" 2xx PUT "" "${HEADERS[@]}"
cat >>"$WORK_DIR/create.lua" <<'LUA'
local n = 0
function request()
    n = n + 1
    local body = '{"id":"bench-' .. tid .. '-' .. n .. '","resources":[{"dicom-uid":"1.2.3","orthanc-id":"aaaa-bbbb","level":"study"}],"expiration-date":"2099-01-01T00:00:00Z"}'
    return wrk.format(nil, nil, nil, body)
end
LUA
start create-sqlite "sqlite://$WORK_DIR/create.sqlite"
run_wrk create-sqlite "$CONNECTIONS" "$WORK_DIR/create.lua" "$URL/tokens/stone-viewer-publication"
stop_server "$PID"

log "starting PostgreSQL ($PG_BIN)"
PG_DATA=$WORK_DIR/pg
PG_PORT=$(free_port)
AS=(); [ "$(id -u)" = 0 ] && AS=(runuser -u postgres --) && chown postgres: "$WORK_DIR"
"${AS[@]}" "$PG_BIN/initdb" -A trust -U postgres --no-sync -D "$PG_DATA" >/dev/null
"${AS[@]}" "$PG_BIN/postgres" -D "$PG_DATA" -p "$PG_PORT" -c listen_addresses=127.0.0.1 \
    -c unix_socket_directories="$WORK_DIR" >"$WORK_DIR/pg.log" 2>&1 &
STARTED_PIDS+=($!)
for _ in $(seq 1 200); do "$PG_BIN/pg_isready" -q -h 127.0.0.1 -p "$PG_PORT" && break; sleep 0.05; done
start create-postgres "postgres://postgres@127.0.0.1:$PG_PORT/postgres"
run_wrk create-postgres "$CONNECTIONS" "$WORK_DIR/create.lua" "$URL/tokens/stone-viewer-publication"

echo
header_line
print_rows
sum() { awk -v s="$1" '$1 == s { t += $3 } END { print t + 0 }' "$WORK_DIR/rows"; }
ratio "validate with registry / plain" "$(sum validate-100k/10k)" "$(sum validate-plain)"
