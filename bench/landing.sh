#!/usr/bin/env bash
# Benchmarks the landing redirect: wrk opens a publication link on the landing page (release
# build), which asks auth-service (release build, beside it) to decode the token and answers 302
# to the viewer. In the same run, the bare actix-web ceiling answers GET /health, for the ratio.
# Rerunnable; every process it starts is stopped on exit; traffic goes to 127.0.0.1 only.
#
#   bash bench/landing.sh                      # defaults: DURATION=10s CONNECTIONS="16 64"
#   DURATION=3s CONNECTIONS=16 bash bench/landing.sh   # a quick sanity run
#   BUILD=0 bash bench/landing.sh              # use the release binaries already in target/release
#
# Prints one row per wrk run (scenario conns req/s p50_ms p99_ms bad sock_err) and the ratio, and
# writes them to bench/last-landing-run.txt. "bad" counts answers other than the expected status.
set -euo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

DURATION=${DURATION:-10s}
CONNECTIONS=${CONNECTIONS:-16 64}
RESULTS_FILE=$BENCH_DIR/last-landing-run.txt
BIN=$REPO_DIR/target/release

bench_init landing
[ "${BUILD:-1}" = 0 ] || build auth-service landing-page bench-ceiling

printf '{"roles":{},"available-labels":[]}\n' >"$WORK_DIR/permissions.json"
# auth-service's links must point at the landing page, so its port is chosen first.
LANDING_PORT=$(free_port)
start_server auth-service "$BIN/auth-service" SECRET_KEY=bench-secret \
    USERS='{"bench":"bench-pass"}' PUBLIC_ORTHANC_ROOT=http://127.0.0.1:8042/ \
    PUBLIC_LANDING_ROOT="http://127.0.0.1:$LANDING_PORT/" PERMISSIONS_FILE_PATH="$WORK_DIR/permissions.json"
AUTH_URL=$SERVER_URL
# One client opening one link all the time: the open limits off (they are per link and per
# visitor, the redirect path's cost is what is measured); the viewer's root as a deployment gives it.
PORT=$LANDING_PORT start_server landing-page "$BIN/landing-page" AUTH_SERVICE_URL="$AUTH_URL/" \
    AUTH_SERVICE_USER=bench AUTH_SERVICE_PASSWORD=bench-pass PUBLIC_ORTHANC_ROOT=http://127.0.0.1:8042/ \
    LANDING_LINK_OPENS_PER_MINUTE=0 LANDING_CLIENT_OPENS_PER_MINUTE=0
start_server ceiling "$BIN/bench-ceiling"
CEILING_URL=$SERVER_URL

CREATED=$(curl -s -u bench:bench-pass -X PUT -H 'Content-Type: application/json' \
    --data '{"resources":[{"dicom-uid":"1.2.3","level":"study"}],"expiration-date":"2099-12-31T23:59:59Z"}' \
    "$AUTH_URL/tokens/stone-viewer-publication")
LINK=$(printf '%s' "$CREATED" | python3 -c 'import json, sys; print(json.load(sys.stdin)["url"])') ||
    die "no link in the creation answer: $CREATED"
case $LINK in "http://127.0.0.1:$LANDING_PORT/?token="*) ;; *) die "the link does not go through the landing page: $LINK" ;; esac
FIRST=$(curl -s -o /dev/null -w '%{http_code} %{redirect_url}' "$LINK")
case $FIRST in "302 http://127.0.0.1:8042/stone-webviewer/"*) ;; *) die "the link did not redirect to the viewer: $FIRST" ;; esac

write_lua "$WORK_DIR/landing.lua" 302 "" ""
write_lua "$WORK_DIR/ceiling.lua" 200 "" ""

log "warm-up (2 s, not reported)"
warm_up 16 "$WORK_DIR/landing.lua" "$LINK"
for conns in $CONNECTIONS; do
    run_wrk landing-redirect "$conns" "$WORK_DIR/landing.lua" "$LINK"
    run_wrk ceiling "$conns" "$WORK_DIR/ceiling.lua" "$CEILING_URL/health"
done

{
    header_line
    print_rows
    for conns in $CONNECTIONS; do
        ratio "landing/ceiling c$conns" "$(rate landing-redirect "$conns")" "$(rate ceiling "$conns")"
    done
} | tee "$RESULTS_FILE"
if awk '$6 > 0 || $7 > 0' "$WORK_DIR/rows" | grep -q .; then
    die "some answers were not the expected status, or sockets failed: not a valid measurement"
fi
