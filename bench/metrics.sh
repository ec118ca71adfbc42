#!/usr/bin/env bash
# The cost of metrics on the validate hot path: two release auth-service processes side by side,
# one with ENABLE_METRICS=true (default), one with ENABLE_METRICS=false, the same validate load
# sent to each in turn for ROUNDS rounds (interleaved, so background load hits both alike).
# Prints each round's req/s, the medians and the ratio; the budget is 5 % (ratio >= 0.95).
# Traffic goes to 127.0.0.1 only; every process it starts is stopped on exit.
#
#   bash bench/metrics.sh                          # DURATION=10s CONNECTIONS=64 ROUNDS=5
#   DURATION=2s ROUNDS=1 bash bench/metrics.sh     # a sanity check
set -euo pipefail

DURATION=${DURATION:-10s}
CONNECTIONS=${CONNECTIONS:-64}
ROUNDS=${ROUNDS:-5}
WRK_THREADS=2
BENCH_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO_DIR=$(cd "$BENCH_DIR/.." && pwd)
BIN=$REPO_DIR/target/release/auth-service

log() { printf '==> %s\n' "$*" >&2; }
die() { printf 'bench/metrics: %s\n' "$*" >&2; exit 1; }

if ! command -v wrk >/dev/null || ! command -v curl >/dev/null; then
    log "installing wrk and curl (Debian packages)"
    SUDO=
    [ "$(id -u)" -eq 0 ] || SUDO=sudo
    $SUDO apt-get update
    $SUDO apt-get install -y wrk curl
fi
command -v python3 >/dev/null || die "python3 is needed (free ports, JSON)"

log "building auth-service (release)"
(cd "$REPO_DIR" && cargo build --release -p auth-service)

WORK_DIR=$(mktemp -d "${TMPDIR:-/tmp}/auth-metrics-bench.XXXXXX")
PIDS=()
cleanup() {
    local pid
    for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
    for pid in "${PIDS[@]}"; do wait "$pid" 2>/dev/null || true; done
    rm -rf "$WORK_DIR"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

free_port() {
    python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()'
}

# start NAME ENABLE_METRICS -> prints the base URL once GET /health answers 200
start() {
    local name=$1 enabled=$2 port tries=0
    port=$(free_port)
    mkdir -p "$WORK_DIR/$name"
    (cd "$WORK_DIR/$name" && exec env -i PATH="$PATH" BIND_ADDRESS="127.0.0.1:$port" \
        SECRET_KEY=bench-secret USERS='{"bench":"bench-pass"}' RUST_LOG=warn \
        ENABLE_METRICS="$enabled" "$BIN") >"$WORK_DIR/$name/log" 2>&1 &
    PIDS+=("$!")
    until [ "$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$port/health")" = 200 ]; do
        tries=$((tries + 1))
        [ "$tries" -lt 3000 ] || { cat "$WORK_DIR/$name/log" >&2; die "$name did not start"; }
        sleep 0.01
    done
    printf 'http://127.0.0.1:%s' "$port"
}

WITH=$(start with-metrics true)
WITHOUT=$(start without-metrics false)
log "with metrics: $WITH, without: $WITHOUT"

TOKEN=$(curl -sf -u bench:bench-pass -X PUT -H 'Content-Type: application/json' \
    --data '{"resources":[{"dicom-uid":"1.2.3","orthanc-id":"aaaa-bbbb","level":"study"}],"expiration-date":"2099-12-31T23:59:59Z"}' \
    "$WITH/tokens/viewer-instant-link" | python3 -c 'import json, sys; print(json.load(sys.stdin)["token"])') ||
    die "could not mint a token"
BODY='{"dicom-uid":"1.2.3","level":"study","method":"get","orthanc-id":"aaaa-bbbb","server-id":null,"token-key":"token","token-value":"'$TOKEN'"}'
for url in "$WITH" "$WITHOUT"; do
    curl -sf -u bench:bench-pass -H 'Content-Type: application/json' -H "token: $TOKEN" --data "$BODY" \
        "$url/tokens/validate" | grep -q '"granted":true' || die "validate on $url did not grant"
done
BASIC=$(printf 'bench:bench-pass' | base64 | tr -d '\n')
cat >"$WORK_DIR/validate.lua" <<LUA
wrk.method = "POST"
wrk.body = [==[$BODY]==]
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Basic $BASIC"
wrk.headers["token"] = "$TOKEN"
LUA

rps() { # rps URL DURATION -> requests per second
    wrk -t"$WRK_THREADS" -c"$CONNECTIONS" -d"$2" -s "$WORK_DIR/validate.lua" "$1/tokens/validate" |
        awk '/^Requests\/sec:/ { printf "%.0f", $2 }'
}

log "warm-up (2 s each, not reported)"
rps "$WITH" 2s >/dev/null
rps "$WITHOUT" 2s >/dev/null
: >"$WORK_DIR/with"
: >"$WORK_DIR/without"
for round in $(seq 1 "$ROUNDS"); do
    # Alternate which goes first so a drift in background load does not favour one side.
    if [ $((round % 2)) -eq 1 ]; then order="with without"; else order="without with"; fi
    for side in $order; do
        if [ "$side" = with ]; then url=$WITH; else url=$WITHOUT; fi
        r=$(rps "$url" "$DURATION")
        printf '%s\n' "$r" >>"$WORK_DIR/$side"
        log "round $round $side-metrics: $r req/s"
    done
done
median() { sort -n "$1" | awk '{ v[NR] = $1 } END { if (NR % 2) print v[(NR + 1) / 2]; else printf "%.0f\n", (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
MED_WITH=$(median "$WORK_DIR/with")
MED_WITHOUT=$(median "$WORK_DIR/without")
awk -v w="$MED_WITH" -v wo="$MED_WITHOUT" -v rounds="$ROUNDS" -v d="$DURATION" -v c="$CONNECTIONS" 'BEGIN {
    ratio = w / wo
    printf "validate, %s rounds of %s at %s connections (median req/s)\n", rounds, d, c
    printf "  with metrics     %8d\n  without metrics  %8d\n  ratio            %8.3f  (budget >= 0.950: %s)\n",
        w, wo, ratio, (ratio >= 0.95 ? "within" : "OVER")
}'
