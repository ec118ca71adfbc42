#!/usr/bin/env bash
# Profiles auth-service's validate route under wrk load with perf (Debian's linux-perf) and prints
# the top functions by own CPU time; with inferno installed (`cargo install inferno`), also writes
# a flamegraph SVG. Rerunnable; traffic goes to 127.0.0.1 only; every process is stopped on exit.
#
#   bash bench/profile.sh                  # defaults: ROUTE=validate CONNECTIONS=64 DURATION=10s
#   ROUTE=decode bash bench/profile.sh
#   FLAMEGRAPH=1 bash bench/profile.sh     # + call graphs and bench/profile-ROUTE.svg (needs inferno)
#
# Output: bench/profile-ROUTE.txt (perf report, top entries by self time) of the release build
# (symbols are kept, so names read without debug info). With FLAMEGRAPH=1 it profiles a build of
# cargo profile `profiling` (release plus line tables, so perf unwinds through DWARF) and writes a
# flamegraph with inferno (`cargo install inferno`).
set -euo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

ROUTE=${ROUTE:-validate}
CONNECTIONS=${CONNECTIONS:-64}
DURATION=${DURATION:-10s}
FLAMEGRAPH=${FLAMEGRAPH:-}
if [ -n "$FLAMEGRAPH" ]; then
    command -v inferno-flamegraph >/dev/null || die "FLAMEGRAPH=1 needs inferno: cargo install inferno"
    PROFILE=profiling CALL_GRAPH=(--call-graph dwarf,16384)
else
    PROFILE=release CALL_GRAPH=()
fi
BIN=$REPO_DIR/target/$PROFILE/auth-service

command -v perf >/dev/null || die "perf is needed: apt-get install linux-perf"
perf stat -e task-clock true >/dev/null 2>&1 || die "perf cannot count on this machine (perf_event_paranoid?)"

(cd "$REPO_DIR" && cargo build --profile "$PROFILE" -p auth-service)

bench_init profile
printf '{"roles":{},"available-labels":[]}\n' >"$WORK_DIR/permissions.json"
start_server auth-service "$BIN" SECRET_KEY=bench-secret USERS='{"bench":"bench-pass"}' \
    PUBLIC_ORTHANC_ROOT=http://127.0.0.1:8042/ PERMISSIONS_FILE_PATH="$WORK_DIR/permissions.json"
PID=$SERVER_PID
URL=$SERVER_URL

CREATE='{"resources":[{"dicom-uid":"1.2.3","orthanc-id":"6b1f3e2a-0c5d7e88-1a2b3c4d-5e6f7a8b-9c0d1e2f","level":"study"}],"type":"stone-viewer-publication","expiration-date":"2099-12-31T23:59:59Z"}'
TOKEN=$(curl -sf -u bench:bench-pass -X PUT -H 'Content-Type: application/json' --data-binary "$CREATE" \
    "$URL/tokens/stone-viewer-publication" | python3 -c 'import json, sys; print(json.load(sys.stdin)["token"])')
case $ROUTE in
    validate) METHOD=POST; PATH_=/tokens/validate
        BODY='{"dicom-uid":"1.2.3","level":"study","method":"get","orthanc-id":"6b1f3e2a-0c5d7e88-1a2b3c4d-5e6f7a8b-9c0d1e2f","server-id":null,"token-key":"token","token-value":"'$TOKEN'"}' ;;
    decode) METHOD=POST; PATH_=/tokens/decode; BODY='{"token-key":"token","token-value":"'$TOKEN'"}' ;;
    create) METHOD=PUT; PATH_=/tokens/stone-viewer-publication; BODY=$CREATE ;;
    *) die "ROUTE must be validate, decode or create" ;;
esac
write_lua "$WORK_DIR/req.lua" 2xx "$METHOD" "$BODY" "Content-Type=application/json" \
    "Authorization=Basic $(b64 bench:bench-pass)"
warm_up "$CONNECTIONS" "$WORK_DIR/req.lua" "$URL$PATH_"
perf record -F 2999 "${CALL_GRAPH[@]}" -o "$WORK_DIR/perf.data" -p "$PID" -- sleep "${DURATION%s}" \
    2>"$WORK_DIR/perf.log" &
PERF=$!
wrk -t2 -c"$CONNECTIONS" -d"$DURATION" --latency -s "$WORK_DIR/req.lua" "$URL$PATH_" | tee "$WORK_DIR/wrk.txt" >&2
wait "$PERF" || true

OUT=$BENCH_DIR/profile-$ROUTE.txt
{
    printf '# auth-service %s, wrk -t2 -c%s -d%s, perf record -F 2999 (self time)\n' "$ROUTE" "$CONNECTIONS" "$DURATION"
    grep -E 'Requests/sec|99%' "$WORK_DIR/wrk.txt"
    printf '## by object (kernel = network stack and scheduling)\n'
    perf report -i "$WORK_DIR/perf.data" --no-children --sort dso --stdio -g none 2>/dev/null |
        grep -v '^#' | grep -v '^$' | sed 's/[[:space:]-]*$//' | head -6
    printf '## top functions by self time\n'
    perf report -i "$WORK_DIR/perf.data" --no-children --sort symbol --stdio --percent-limit 0.5 -g none 2>/dev/null |
        grep -v '^#' | grep -v '^$' | sed 's/[[:space:]-]*$//' | cut -c1-150 | head -45
} >"$OUT"
cat "$OUT"
if [ -n "$FLAMEGRAPH" ]; then
    perf script -i "$WORK_DIR/perf.data" 2>/dev/null | inferno-collapse-perf | inferno-flamegraph >"$BENCH_DIR/profile-$ROUTE.svg"
    printf 'flamegraph: %s\n' "$BENCH_DIR/profile-$ROUTE.svg"
fi
