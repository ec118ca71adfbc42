#!/usr/bin/env bash
# System calls per request, counted by strace on the running release servers, as a user runs
# them (default logging: one access line per request; metrics on; SQLite registry): validate,
# create, decode and the gate (a warm cache, Orthanc behind it), beside the bare actix-web
# ceiling (bench/ceiling) answering the same validate request. A count does not move with the
# VM's load the way req/s does.
#
# Each scenario: strace attaches to every thread of the server (-f -p), wrk sends a fixed number
# of requests over keep-alive connections, strace detaches; twice, with LOW and HIGH requests,
# and the difference divided by the difference in requests answered leaves out what does not
# scale with requests (timers, the registry's flusher). Installs Debian's strace when missing.
#
#   bash bench/syscalls.sh                   # LOW=2000 HIGH=6000 CONNS=8
#
# Prints system calls per request by scenario and the main calls of each, and writes them to
# bench/last-syscalls-run.txt.
set -euo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

LOW=${LOW:-2000}
HIGH=${HIGH:-6000}
CONNS=${CONNS:-8}
DURATION=fixed-count
RESULTS_FILE=$BENCH_DIR/last-syscalls-run.txt
AUTH=(-u bench:bench-pass)

command -v strace >/dev/null || apt_install strace
bench_init syscalls
build auth-service bench-ceiling
start_orthanc_one_instance

start_server ceiling "$REPO_DIR/target/release/bench-ceiling"
CEILING_PID=$SERVER_PID CEILING_URL=$SERVER_URL
start_server auth-service "$REPO_DIR/target/release/auth-service" SECRET_KEY=bench-secret \
    USERS='{"bench":"bench-pass"}' PUBLIC_ORTHANC_ROOT=http://127.0.0.1:8042/ \
    ORTHANC_URL="http://127.0.0.1:$ORTHANC_PORT/" ORTHANC_USER="$ORTHANC_USER" \
    ORTHANC_PASSWORD="$ORTHANC_PASSWORD" GATE_PATH_PREFIX=/orthanc/ GATE_COOKIE_SECURE=false
AUTH_PID=$SERVER_PID AUTH_URL=$SERVER_URL

CREATE_BODY='{"id":"bench","resources":[{"dicom-uid":"'$STUDY_UID'","orthanc-id":"'$STUDY'","level":"study"}],"type":"stone-viewer-publication","expiration-date":"2099-12-31T23:59:59Z"}'
TOKEN=$(curl -sf "${AUTH[@]}" -X PUT -H 'Content-Type: application/json' \
    "$AUTH_URL/tokens/stone-viewer-publication" -d "$CREATE_BODY" |
    python3 -c 'import json, sys; print(json.load(sys.stdin)["token"])') || die "create failed"
VALIDATE_BODY='{"dicom-uid":"'$STUDY_UID'","level":"study","method":"get","orthanc-id":"'$STUDY'","server-id":null,"token-key":"token","token-value":"'$TOKEN'"}'
PREVIEW=/orthanc/instances/$INSTANCE/preview
BASIC="Authorization=Basic $(b64 bench:bench-pass)"

# limited_lua FILE EXPECT METHOD BODY [HEADER=value ...]: write_lua's script, each wrk thread
# stopping after LIMIT answers (set per run through the environment).
limited_lua() {
    local file=$1
    write_lua "$@"
    cat >>"$file" <<'LUA'

local limit = tonumber(os.getenv("LIMIT"))
local answered = 0
local base_response = response
function response(status, headers, body)
    base_response(status, headers, body)
    answered = answered + 1
    if answered >= limit then wrk.thread:stop() end
end
LUA
}
limited_lua "$WORK_DIR/validate.lua" 200 POST "$VALIDATE_BODY" "$BASIC" "token=$TOKEN" "Content-Type=application/json"
limited_lua "$WORK_DIR/create.lua" 200 PUT "$CREATE_BODY" "$BASIC" "Content-Type=application/json"
limited_lua "$WORK_DIR/decode.lua" 200 POST '{"token-key":"token","token-value":"'$TOKEN'"}' "$BASIC" "Content-Type=application/json"
limited_lua "$WORK_DIR/gate.lua" 204 "" "" "$BASIC" "X-Original-URI=$PREVIEW" "X-Original-Method=GET" "token=$TOKEN"

# One request of each must answer as expected before counting (and warms the gate's cache).
for check in "validate.lua $AUTH_URL/tokens/validate" "create.lua $AUTH_URL/tokens/stone-viewer-publication" \
    "decode.lua $AUTH_URL/tokens/decode" "gate.lua $AUTH_URL/gate" "validate.lua $CEILING_URL/tokens/validate"; do
    read -r lua url <<<"$check"
    out=$(LIMIT=200 wrk -t1 -c1 -d10s -s "$WORK_DIR/$lua" "$url" | grep '^BENCH ')
    case $out in *" bad=0 "*) ;; *) die "$lua on $url: not every answer as expected: $out" ;; esac
done

# counted PID LUA URL REQUESTS -> "SYSCALLS ANSWERED TABLE_FILE"
counted() {
    local pid=$1 lua=$2 url=$3 requests=$4 out=$WORK_DIR/strace.$RANDOM strace_pid answered
    strace -f -c -p "$pid" -o "$out" 2>/dev/null &
    strace_pid=$!
    sleep 1 # attached to every thread before the first request
    answered=$(LIMIT=$requests wrk -t1 -c"$CONNS" -d120s -s "$lua" "$url" |
        sed -n 's/^BENCH requests=\([0-9]*\).*/\1/p')
    kill -INT "$strace_pid"
    wait "$strace_pid" 2>/dev/null || true
    echo "$(awk '$NF == "total" { print $4 }' "$out") $answered $out"
}

declare -A PER
{
    printf '# system calls per request (strace -f -c, %s and %s requests over %s connections)\n' "$LOW" "$HIGH" "$CONNS"
    header_line
    printf '%-10s %12s   %s\n' scenario "per request" "main calls per request"
    for scenario in ceiling validate create decode gate; do
        case $scenario in
            ceiling) pid=$CEILING_PID lua=validate.lua url=$CEILING_URL/tokens/validate ;;
            validate) pid=$AUTH_PID lua=validate.lua url=$AUTH_URL/tokens/validate ;;
            create) pid=$AUTH_PID lua=create.lua url=$AUTH_URL/tokens/stone-viewer-publication ;;
            decode) pid=$AUTH_PID lua=decode.lua url=$AUTH_URL/tokens/decode ;;
            gate) pid=$AUTH_PID lua=gate.lua url=$AUTH_URL/gate ;;
        esac
        read -r low_calls low_answered low_table < <(counted "$pid" "$WORK_DIR/$lua" "$url" "$LOW")
        read -r high_calls high_answered high_table < <(counted "$pid" "$WORK_DIR/$lua" "$url" "$HIGH")
        [ -n "$low_calls" ] && [ -n "$high_calls" ] && [ "$high_answered" -gt "$low_answered" ] ||
            die "$scenario: no count (strace or wrk failed)"
        PER[$scenario]=$(python3 -c "print(f'{($high_calls - $low_calls) / ($high_answered - $low_answered):.2f}')")
        # The calls that make most of it, per request, from the same difference.
        main=$(python3 - "$low_table" "$high_table" "$((high_answered - low_answered))" <<'PY'
import sys
def calls(path):
    out = {}
    for line in open(path):
        f = line.split()
        if len(f) >= 5 and f[-1] not in ("total", "syscall") and f[3].isdigit():
            out[f[-1]] = int(f[3])
    return out
low, high, n = calls(sys.argv[1]), calls(sys.argv[2]), int(sys.argv[3])
per = {k: (high.get(k, 0) - low.get(k, 0)) / n for k in high}
print(" ".join(f"{k} {v:.2f}" for k, v in sorted(per.items(), key=lambda kv: -kv[1]) if v >= 0.05))
PY
)
        printf '%-10s %12s   %s\n' "$scenario" "${PER[$scenario]}" "$main"
    done
    for scenario in validate create decode gate; do
        printf '%-18s %s\n' "$scenario/ceiling" "$(python3 -c "print(f'{${PER[$scenario]} / ${PER[ceiling]}:.2f} x')")"
    done
} | tee "$RESULTS_FILE"
