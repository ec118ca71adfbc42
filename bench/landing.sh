#!/usr/bin/env bash
# Benchmarks the landing redirect: wrk opens a publication link on the landing page (release
# build), which asks auth-service (release build, beside it) to decode the token and answers 302
# to the viewer. In the same run, the bare actix-web ceiling answers GET /health, for the ratio.
# Rerunnable; every process it starts is stopped on exit; traffic goes to 127.0.0.1 only.
#
#   bash bench/landing.sh                      # defaults: DURATION=10s CONNECTIONS="64"
#   DURATION=3s CONNECTIONS=16 bash bench/landing.sh   # a quick sanity run
#   BUILD=0 bash bench/landing.sh              # use the release binaries already in target/release
#
# Prints one row per wrk run (scenario conns req/s p50_ms p99_ms bad sock_err) and the ratio, and
# writes them to bench/last-landing-run.txt. "bad" counts answers other than the expected status.
set -euo pipefail

DURATION=${DURATION:-10s}
CONNECTIONS=${CONNECTIONS:-64}
WRK_THREADS=2

BENCH_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO_DIR=$(cd "$BENCH_DIR/.." && pwd)
RESULTS_FILE=$BENCH_DIR/last-landing-run.txt

log() { printf '==> %s\n' "$*" >&2; }
die() { printf 'bench: %s\n' "$*" >&2; exit 1; }

if ! command -v wrk >/dev/null || ! command -v curl >/dev/null; then
    log "installing wrk and curl (Debian packages)"
    SUDO=
    [ "$(id -u)" -eq 0 ] || SUDO=sudo
    $SUDO apt-get update
    $SUDO apt-get install -y wrk curl
fi
command -v python3 >/dev/null || die "python3 is needed (ports, JSON)"

if [ "${BUILD:-1}" != 0 ]; then
    log "building release binaries"
    (cd "$REPO_DIR" && cargo build --release -p auth-service -p landing-page -p bench-ceiling)
fi
BIN=$REPO_DIR/target/release

WORK_DIR=$(mktemp -d "${TMPDIR:-/tmp}/landing-bench.XXXXXX")
STARTED_PIDS=()
cleanup() {
    local pid
    for pid in "${STARTED_PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
    for pid in "${STARTED_PIDS[@]}"; do wait "$pid" 2>/dev/null || true; done
    rm -rf "$WORK_DIR"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

free_port() {
    python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()'
}

# start NAME BINARY PORT [VAR=value ...]: clean environment, own temp cwd; waits for GET /health.
start() {
    local name=$1 binary=$2 port=$3 code=000 tries=0
    shift 3
    mkdir -p "$WORK_DIR/$name"
    (cd "$WORK_DIR/$name" && exec env -i PATH="$PATH" HOME="$HOME" SECRETS_DIR=/nonexistent \
        BIND_ADDRESS="127.0.0.1:$port" RUST_LOG=warn "$@" "$binary") >"$WORK_DIR/$name/log" 2>&1 &
    STARTED_PIDS+=("$!")
    until [ "$code" = 200 ]; do
        code=$(curl -s -o /dev/null -w '%{http_code}' -u bench:bench-pass "http://127.0.0.1:$port/health" || true)
        tries=$((tries + 1))
        [ "$tries" -lt 3000 ] || { cat "$WORK_DIR/$name/log" >&2; die "$name did not answer GET /health"; }
    done
    log "$name up on 127.0.0.1:$port"
}

printf '{"roles":{},"available-labels":[]}\n' >"$WORK_DIR/permissions.json"
AUTH_PORT=$(free_port)
LANDING_PORT=$(free_port)
CEILING_PORT=$(free_port)
start auth-service "$BIN/auth-service" "$AUTH_PORT" SECRET_KEY=bench-secret \
    USERS='{"bench":"bench-pass"}' PUBLIC_ORTHANC_ROOT=http://127.0.0.1:8042/ \
    PUBLIC_LANDING_ROOT="http://127.0.0.1:$LANDING_PORT/" PERMISSIONS_FILE_PATH="$WORK_DIR/permissions.json"
start landing-page "$BIN/landing-page" "$LANDING_PORT" AUTH_SERVICE_URL="http://127.0.0.1:$AUTH_PORT/" \
    AUTH_SERVICE_USER=bench AUTH_SERVICE_PASSWORD=bench-pass
start ceiling "$BIN/bench-ceiling" "$CEILING_PORT"

CREATED=$(curl -s -u bench:bench-pass -X PUT -H 'Content-Type: application/json' \
    --data '{"resources":[{"dicom-uid":"1.2.3","level":"study"}],"expiration-date":"2099-12-31T23:59:59Z"}' \
    "http://127.0.0.1:$AUTH_PORT/tokens/stone-viewer-publication")
LINK=$(printf '%s' "$CREATED" | python3 -c 'import json, sys; print(json.load(sys.stdin)["url"])') ||
    die "no link in the creation answer: $CREATED"
case $LINK in "http://127.0.0.1:$LANDING_PORT/?token="*) ;; *) die "the link does not go through the landing page: $LINK" ;; esac
FIRST=$(curl -s -o /dev/null -w '%{http_code} %{redirect_url}' "$LINK")
case $FIRST in "302 http://127.0.0.1:8042/stone-webviewer/"*) ;; *) die "the link did not redirect to the viewer: $FIRST" ;; esac

# write_lua FILE EXPECTED_STATUS
write_lua() {
    cat >"$1" <<LUA
expected = $2
bad = 0
local threads = {}
function setup(thread) table.insert(threads, thread) end
function response(status, headers, body)
    if status ~= expected then bad = bad + 1 end
end
function done(summary, latency, requests)
    local b = 0
    for _, thread in ipairs(threads) do b = b + thread:get("bad") end
    local e = summary.errors
    io.write(string.format("BENCH requests=%d duration_us=%d p50_us=%d p99_us=%d bad=%d socket_errors=%d\n",
        summary.requests, summary.duration, latency:percentile(50), latency:percentile(99), b,
        e.connect + e.read + e.write + e.timeout))
end
LUA
}
write_lua "$WORK_DIR/landing.lua" 302
write_lua "$WORK_DIR/ceiling.lua" 200

: >"$WORK_DIR/rows"
run_wrk() { # run_wrk LABEL CONNS LUA URL
    local out line
    log "wrk $1: -t$WRK_THREADS -c$2 -d$DURATION"
    out=$(wrk -t"$WRK_THREADS" -c"$2" -d"$DURATION" --latency -s "$3" "$4")
    line=$(printf '%s\n' "$out" | grep '^BENCH ') || die "$1: wrk printed no summary"
    printf '%s\n' "$line" | awk -v label="$1" -v conns="$2" '{
        for (i = 2; i <= NF; i++) { split($i, kv, "="); v[kv[1]] = kv[2] }
        printf "%s %s %.0f %.2f %.2f %d %d\n", label, conns, v["requests"] / (v["duration_us"] / 1e6),
            v["p50_us"] / 1000, v["p99_us"] / 1000, v["bad"], v["socket_errors"]
    }' >>"$WORK_DIR/rows"
}

log "warm-up (2 s, not reported)"
wrk -t"$WRK_THREADS" -c16 -d2s "$LINK" >/dev/null
for conns in $CONNECTIONS; do
    run_wrk landing-redirect "$conns" "$WORK_DIR/landing.lua" "$LINK"
    run_wrk ceiling "$conns" "$WORK_DIR/ceiling.lua" "http://127.0.0.1:$CEILING_PORT/health"
done

rate() { awk -v s="$1" -v c="$2" '$1 == s && $2 == c { print $3 }' "$WORK_DIR/rows"; }
{
    printf '# landing bench: %s, nproc %s, commit %s, wrk -t%s -d%s\n' "$(date -u +%Y-%m-%dT%H:%M:%SZ)" \
        "$(nproc)" "$(git -C "$REPO_DIR" rev-parse --short HEAD 2>/dev/null || echo unknown)" "$WRK_THREADS" "$DURATION"
    printf '%-17s %5s %10s %8s %8s %6s %8s\n' scenario conns 'req/s' p50_ms p99_ms bad sock_err
    awk '{ printf "%-17s %5s %10s %8s %8s %6s %8s\n", $1, $2, $3, $4, $5, $6, $7 }' "$WORK_DIR/rows"
    for conns in $CONNECTIONS; do
        printf 'landing/ceiling c%s: %s\n' "$conns" \
            "$(awk -v a="$(rate landing-redirect "$conns")" -v b="$(rate ceiling "$conns")" 'BEGIN { printf "%.1f %%", 100 * a / b }')"
    done
} >"$WORK_DIR/report"
echo
cat "$WORK_DIR/report"
cp "$WORK_DIR/report" "$RESULTS_FILE"
if awk '$6 > 0 || $7 > 0' "$WORK_DIR/rows" | grep -q .; then
    die "some answers were not the expected status, or sockets failed: not a valid measurement"
fi
