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
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

DURATION=${DURATION:-10s}
CONNECTIONS=${CONNECTIONS:-64}
ROUNDS=${ROUNDS:-5}
BIN=$REPO_DIR/target/release/auth-service

bench_init metrics
build auth-service

start_server with-metrics "$BIN" SECRET_KEY=bench-secret USERS='{"bench":"bench-pass"}' ENABLE_METRICS=true
WITH=$SERVER_URL
start_server without-metrics "$BIN" SECRET_KEY=bench-secret USERS='{"bench":"bench-pass"}' ENABLE_METRICS=false
WITHOUT=$SERVER_URL

TOKEN=$(curl -sf -u bench:bench-pass -X PUT -H 'Content-Type: application/json' \
    --data '{"resources":[{"dicom-uid":"1.2.3","orthanc-id":"6b1f3e2a-0c5d7e88-1a2b3c4d-5e6f7a8b-9c0d1e2f","level":"study"}],"expiration-date":"2099-12-31T23:59:59Z"}' \
    "$WITH/tokens/viewer-instant-link" | python3 -c 'import json, sys; print(json.load(sys.stdin)["token"])') ||
    die "could not mint a token"
BODY='{"dicom-uid":"1.2.3","level":"study","method":"get","orthanc-id":"6b1f3e2a-0c5d7e88-1a2b3c4d-5e6f7a8b-9c0d1e2f","server-id":null,"token-key":"token","token-value":"'$TOKEN'"}'
for url in "$WITH" "$WITHOUT"; do
    curl -sf -u bench:bench-pass -H 'Content-Type: application/json' -H "token: $TOKEN" --data "$BODY" \
        "$url/tokens/validate" | grep -q '"granted":true' || die "validate on $url did not grant"
done
write_lua "$WORK_DIR/validate.lua" 200 POST "$BODY" "Content-Type=application/json" \
    "Authorization=Basic $(b64 bench:bench-pass)" "token=$TOKEN"

log "warm-up (2 s each, not reported)"
warm_up "$CONNECTIONS" "$WORK_DIR/validate.lua" "$WITH/tokens/validate"
warm_up "$CONNECTIONS" "$WORK_DIR/validate.lua" "$WITHOUT/tokens/validate"
for round in $(seq 1 "$ROUNDS"); do
    # Alternate which goes first so a drift in background load does not favour one side.
    if [ $((round % 2)) -eq 1 ]; then order="with without"; else order="without with"; fi
    for side in $order; do
        if [ "$side" = with ]; then url=$WITH; else url=$WITHOUT; fi
        run_wrk "$side-metrics" "$CONNECTIONS" "$WORK_DIR/validate.lua" "$url/tokens/validate"
        log "round $round $side-metrics: $(tail -1 "$WORK_DIR/rows" | awk '{ print $3 }') req/s"
    done
done
# median LABEL: the median req/s of that label's rounds.
median() {
    awk -v s="$1" '$1 == s { print $3 }' "$WORK_DIR/rows" | sort -n |
        awk '{ v[NR] = $1 } END { if (NR % 2) print v[(NR + 1) / 2]; else printf "%.0f\n", (v[NR / 2] + v[NR / 2 + 1]) / 2 }'
}
MED_WITH=$(median with-metrics)
MED_WITHOUT=$(median without-metrics)
awk -v w="$MED_WITH" -v wo="$MED_WITHOUT" -v rounds="$ROUNDS" -v d="$DURATION" -v c="$CONNECTIONS" 'BEGIN {
    ratio = w / wo
    printf "validate, %s rounds of %s at %s connections (median req/s)\n", rounds, d, c
    printf "  with metrics     %8d\n  without metrics  %8d\n  ratio            %8.3f  (budget >= 0.950: %s)\n",
        w, wo, ratio, (ratio >= 0.95 ? "within" : "OVER")
}'
if awk '$6 > 0 || $7 > 0' "$WORK_DIR/rows" | grep -q .; then
    die "some answers were not 200, or sockets failed: not a valid measurement"
fi
