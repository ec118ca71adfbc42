#!/usr/bin/env bash
# Benchmarks the nginx token gate (GET /gate) in one run, everything on 127.0.0.1:
#   gate       GET /gate as nginx's auth_request sends it, straight to auth-service, cache warm
#   preview    GET /orthanc/instances/ID/preview (token header) through nginx with the shipped
#              snippet (minimal-setup/nginx/share-gate.conf.template): nginx -> gate -> Orthanc
#   no-gate    the same preview through nginx -> Orthanc with no gate (the ceiling)
#   ceiling    the bare actix-web server of bench/ceiling answering the same GET (no work at all)
# and prints preview/no-gate and gate/ceiling. Debian's Orthanc 1.10 (+ DICOMweb) and nginx, auth-service in release
# mode; every process it starts is stopped on exit.
#
#   bash bench/gate.sh                       # defaults: DURATION=10s CONNECTIONS="16 64"
#   DURATION=3s CONNECTIONS=16 bash bench/gate.sh   # a sanity check
#
# Results go to stdout and bench/last-gate-run.txt.
set -euo pipefail

DURATION=${DURATION:-10s}
CONNECTIONS=${CONNECTIONS:-16 64}
WRK_THREADS=2
USER_NAME=bench
USER_PASSWORD=bench-pass
ORTHANC_USER=bench-gate
ORTHANC_PASSWORD=bench-gate-pass

BENCH_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO_DIR=$(cd "$BENCH_DIR/.." && pwd)
AUTH_SERVICE_BIN=$REPO_DIR/target/release/auth-service
SNIPPET=$REPO_DIR/minimal-setup/nginx/share-gate.conf.template
RESULTS_FILE=$BENCH_DIR/last-gate-run.txt

log() { printf '==> %s\n' "$*" >&2; }
die() { printf 'bench/gate: %s\n' "$*" >&2; exit 1; }

# --- tools -----------------------------------------------------------------------------------
find_plugin() {
    for f in /usr/share/orthanc/plugins/libOrthancDicomWeb.so /usr/lib/orthanc/libOrthancDicomWeb.so*; do
        [ -f "$f" ] && { echo "$f"; return; }
    done
}
need=()
command -v wrk >/dev/null || need+=(wrk)
command -v curl >/dev/null || need+=(curl)
command -v nginx >/dev/null || [ -x /usr/sbin/nginx ] || need+=(nginx)
command -v Orthanc >/dev/null || [ -x /usr/sbin/Orthanc ] || need+=(orthanc)
[ -n "$(find_plugin)" ] || need+=(orthanc-dicomweb)
if [ ${#need[@]} -gt 0 ]; then
    log "installing ${need[*]} (Debian packages)"
    SUDO=
    [ "$(id -u)" -eq 0 ] || SUDO=sudo
    $SUDO apt-get update
    $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "${need[@]}"
fi
command -v python3 >/dev/null || die "python3 is needed (ports, JSON); install the python3 package"
NGINX=$(command -v nginx || echo /usr/sbin/nginx)
ORTHANC=$(command -v Orthanc || echo /usr/sbin/Orthanc)
PLUGIN=$(find_plugin)

log "building auth-service and the ceiling (release)"
(cd "$REPO_DIR" && cargo build --release -p auth-service -p bench-ceiling)

# --- process bookkeeping ---------------------------------------------------------------------
WORK_DIR=$(mktemp -d "${TMPDIR:-/tmp}/gate-bench.XXXXXX")
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
b64() { printf '%s' "$1" | base64 | tr -d '\n'; }

# wait_http NAME PID URL CODE [curl args...]: polls until URL answers CODE (30 s at most).
wait_http() {
    local name=$1 pid=$2 url=$3 want=$4 code=000
    shift 4
    for _ in $(seq 600); do
        code=$(curl -s -o /dev/null -w '%{http_code}' "$@" "$url" || true)
        [ "$code" = "$want" ] && return 0
        kill -0 "$pid" 2>/dev/null || die "$name exited at start (see $WORK_DIR)"
        sleep 0.05
    done
    die "$name did not answer $want on $url within 30 s (last: $code)"
}

# --- Orthanc with one instance ---------------------------------------------------------------
ORTHANC_PORT=$(free_port)
mkdir -p "$WORK_DIR/orthanc"
python3 - "$WORK_DIR/orthanc" "$ORTHANC_PORT" "$PLUGIN" "$ORTHANC_USER" "$ORTHANC_PASSWORD" <<'PY'
import json, sys
d, port, plugin, user, pw = sys.argv[1:]
json.dump({"Name": "gate-bench", "StorageDirectory": d + "/db", "IndexDirectory": d + "/db",
           "HttpPort": int(port), "DicomServerEnabled": False, "DicomPort": 0,
           "RemoteAccessAllowed": False, "AuthenticationEnabled": True,
           "RegisteredUsers": {user: pw}, "Plugins": [plugin], "HttpCompressionEnabled": False},
          open(d + "/orthanc.json", "w"))
PY
"$ORTHANC" "$WORK_DIR/orthanc/orthanc.json" >"$WORK_DIR/orthanc/log" 2>&1 &
STARTED_PIDS+=($!)
wait_http Orthanc $! "http://127.0.0.1:$ORTHANC_PORT/system" 200 -u "$ORTHANC_USER:$ORTHANC_PASSWORD"
PNG=iVBORw0KGgoAAAANSUhEUgAAAAgAAAAICAAAAADhZOFXAAAAFElEQVR4nGNgUHBIaFhw4AEDZQwAxnUcAVpktvoAAAAASUVORK5CYII=
CREATED=$(curl -sf -u "$ORTHANC_USER:$ORTHANC_PASSWORD" "http://127.0.0.1:$ORTHANC_PORT/tools/create-dicom" \
    -d '{"Force":true,"Tags":{"PatientID":"BENCH","StudyInstanceUID":"1.2.826.0.1.3680043.10.543.77","SeriesInstanceUID":"1.2.826.0.1.3680043.10.543.77.1","SOPInstanceUID":"1.2.826.0.1.3680043.10.543.77.1.1","Modality":"OT"},"Content":"data:image/png;base64,'$PNG'"}') ||
    die "create-dicom failed"
read -r INSTANCE STUDY < <(printf '%s' "$CREATED" | python3 -c 'import json, sys; c = json.load(sys.stdin); print(c["ID"], c["ParentStudy"])')

# --- auth-service with the gate --------------------------------------------------------------
AUTH_PORT=$(free_port)
mkdir -p "$WORK_DIR/auth"
(cd "$WORK_DIR/auth" && exec env -i PATH="$PATH" HOME="$HOME" BIND_ADDRESS="127.0.0.1:$AUTH_PORT" \
    SECRET_KEY=bench-secret USERS="{\"$USER_NAME\":\"$USER_PASSWORD\"}" RUST_LOG=warn \
    ORTHANC_URL="http://127.0.0.1:$ORTHANC_PORT/" ORTHANC_USER="$ORTHANC_USER" \
    ORTHANC_PASSWORD="$ORTHANC_PASSWORD" GATE_PATH_PREFIX=/orthanc/ GATE_COOKIE_SECURE=false \
    "$AUTH_SERVICE_BIN") >"$WORK_DIR/auth/log" 2>&1 &
AUTH_PID=$!
STARTED_PIDS+=("$AUTH_PID")
wait_http auth-service "$AUTH_PID" "http://127.0.0.1:$AUTH_PORT/health" 200
TOKEN=$(curl -sf -u "$USER_NAME:$USER_PASSWORD" -X PUT -H 'Content-Type: application/json' \
    "http://127.0.0.1:$AUTH_PORT/tokens/viewer-instant-link" \
    -d '{"resources":[{"dicom-uid":"1.2.826.0.1.3680043.10.543.77","orthanc-id":"'$STUDY'","level":"study"}]}' |
    python3 -c 'import json, sys; print(json.load(sys.stdin)["token"])') || die "token creation failed"

# --- the bare actix-web ceiling, for gate/ceiling ----------------------------------------------
CEILING_PORT=$(free_port)
(cd "$WORK_DIR" && exec env -i PATH="$PATH" BIND_ADDRESS="127.0.0.1:$CEILING_PORT" \
    "$REPO_DIR/target/release/bench-ceiling") >"$WORK_DIR/ceiling.log" 2>&1 &
STARTED_PIDS+=("$!")
wait_http ceiling "$!" "http://127.0.0.1:$CEILING_PORT/health" 200

# --- nginx: the shipped snippet, plus a server with no gate ----------------------------------
GATED_PORT=$(free_port)
PLAIN_PORT=$(free_port)
mkdir -p "$WORK_DIR/nginx"
python3 - "$SNIPPET" "$WORK_DIR/nginx/share-gate.conf" <<PY
import sys
text = open(sys.argv[1]).read()
for k, v in {"SHARE_GATE_LISTEN": "127.0.0.1:$GATED_PORT",
             "SHARE_GATE_AUTH_SERVICE": "127.0.0.1:$AUTH_PORT",
             "SHARE_GATE_AUTH_BASIC": "$(b64 "$USER_NAME:$USER_PASSWORD")",
             "SHARE_GATE_ORTHANC": "127.0.0.1:$ORTHANC_PORT",
             "SHARE_GATE_ORTHANC_BASIC": "$(b64 "$ORTHANC_USER:$ORTHANC_PASSWORD")",
             "SHARE_GATE_DENIED_URL": "http://127.0.0.1:9/denied"}.items():
    text = text.replace("\${" + k + "}", v)
assert "\${" not in text
open(sys.argv[2], "w").write(text)
PY
USER_LINE=
[ "$(id -u)" -eq 0 ] && USER_LINE="user root;"
cat >"$WORK_DIR/nginx/nginx.conf" <<CONF
$USER_LINE
worker_processes 1;
pid $WORK_DIR/nginx/nginx.pid;
error_log $WORK_DIR/nginx/error.log warn;
events { worker_connections 1024; }
http {
    access_log off;
    client_body_temp_path $WORK_DIR/nginx/body;
    proxy_temp_path $WORK_DIR/nginx/proxy;
    fastcgi_temp_path $WORK_DIR/nginx/fastcgi;
    uwsgi_temp_path $WORK_DIR/nginx/uwsgi;
    scgi_temp_path $WORK_DIR/nginx/scgi;
    include $WORK_DIR/nginx/share-gate.conf;
    # The ceiling: the same proxying, no gate.
    server {
        listen 127.0.0.1:$PLAIN_PORT;
        location /orthanc/ {
            proxy_pass http://share_gate_orthanc/;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_set_header Authorization "Basic $(b64 "$ORTHANC_USER:$ORTHANC_PASSWORD")";
        }
    }
}
CONF
"$NGINX" -p "$WORK_DIR/nginx" -e "$WORK_DIR/nginx/error.log" -c "$WORK_DIR/nginx/nginx.conf" -g 'daemon off;' &
NGINX_PID=$!
STARTED_PIDS+=("$NGINX_PID")
PREVIEW=/orthanc/instances/$INSTANCE/preview
wait_http nginx "$NGINX_PID" "http://127.0.0.1:$PLAIN_PORT$PREVIEW" 200

# --- checks: each scenario answers what it should before it is loaded ------------------------
[ "$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$GATED_PORT$PREVIEW")" = 302 ] ||
    die "the gated preview without a token is not redirected"
[ "$(curl -s -o /dev/null -w '%{http_code} %{content_type}' -H "token: $TOKEN" "http://127.0.0.1:$GATED_PORT$PREVIEW")" = "200 image/png" ] ||
    die "the gated preview with the token is not a PNG"
GATE_HEADERS=(-u "$USER_NAME:$USER_PASSWORD" -H "X-Original-URI: $PREVIEW" -H "X-Original-Method: GET" -H "token: $TOKEN")
[ "$(curl -s -o /dev/null -w '%{http_code}' "${GATE_HEADERS[@]}" "http://127.0.0.1:$AUTH_PORT/gate")" = 204 ] ||
    die "the gate does not allow the preview"

# --- wrk -------------------------------------------------------------------------------------
write_lua() { # write_lua FILE [HEADER=value ...]
    local file=$1 header
    shift
    {
        for header in "$@"; do
            printf 'wrk.headers["%s"] = [==[%s]==]\n' "${header%%=*}" "${header#*=}"
        done
        cat <<'LUA'
non2xx = 0
local threads = {}
function setup(thread) table.insert(threads, thread) end
function response(status, headers, body)
    if status < 200 or status > 299 then non2xx = non2xx + 1 end
end
function done(summary, latency, requests)
    local bad = 0
    for _, thread in ipairs(threads) do bad = bad + thread:get("non2xx") end
    local e = summary.errors
    io.write(string.format("BENCH requests=%d duration_us=%d p50_us=%d p99_us=%d non2xx=%d socket_errors=%d\n",
        summary.requests, summary.duration, latency:percentile(50), latency:percentile(99), bad,
        e.connect + e.read + e.write + e.timeout))
end
LUA
    } >"$file"
}
write_lua "$WORK_DIR/gate.lua" "Authorization=Basic $(b64 "$USER_NAME:$USER_PASSWORD")" \
    "X-Original-URI=$PREVIEW" "X-Original-Method=GET" "token=$TOKEN"
write_lua "$WORK_DIR/preview.lua" "token=$TOKEN"

: >"$WORK_DIR/rows"
run_wrk() { # run_wrk LABEL CONNECTIONS LUA URL
    local label=$1 conns=$2 out line
    log "wrk $label: -t$WRK_THREADS -c$conns -d$DURATION"
    out=$(wrk -t"$WRK_THREADS" -c"$conns" -d"$DURATION" --latency -s "$3" "$4")
    line=$(printf '%s\n' "$out" | grep '^BENCH ') || die "$label: wrk printed no summary"
    printf '%s\n' "$line" | awk -v label="$label" -v conns="$conns" '{
        for (i = 2; i <= NF; i++) { split($i, kv, "="); v[kv[1]] = kv[2] }
        printf "%s %s %.0f %.2f %.2f %d %d\n", label, conns, v["requests"] / (v["duration_us"] / 1e6),
            v["p50_us"] / 1000, v["p99_us"] / 1000, v["non2xx"], v["socket_errors"]
    }' >>"$WORK_DIR/rows"
}

MAX_CONNS=$(printf '%s\n' $CONNECTIONS | sort -n | tail -1)
log "warm-up (2 s each, not reported)"
wrk -t"$WRK_THREADS" -c"$MAX_CONNS" -d2s -s "$WORK_DIR/gate.lua" "http://127.0.0.1:$AUTH_PORT/gate" >/dev/null
wrk -t"$WRK_THREADS" -c"$MAX_CONNS" -d2s -s "$WORK_DIR/preview.lua" "http://127.0.0.1:$GATED_PORT$PREVIEW" >/dev/null
# Each gate run and its ceiling run follow each other at each load, and so do the gated and
# ungated previews below: a background load that comes and goes hits both alike.
for conns in $CONNECTIONS; do
    run_wrk gate "$conns" "$WORK_DIR/gate.lua" "http://127.0.0.1:$AUTH_PORT/gate"
    run_wrk ceiling "$conns" "$WORK_DIR/gate.lua" "http://127.0.0.1:$CEILING_PORT/health"
done
for conns in $CONNECTIONS; do
    run_wrk preview "$conns" "$WORK_DIR/preview.lua" "http://127.0.0.1:$GATED_PORT$PREVIEW"
    run_wrk no-gate "$conns" "$WORK_DIR/preview.lua" "http://127.0.0.1:$PLAIN_PORT$PREVIEW"
done

# --- report ----------------------------------------------------------------------------------
{
    printf '# %s nproc=%s commit=%s wrk -t%s -d%s\n' "$(date -u +%FT%TZ)" "$(nproc)" \
        "$(git -C "$REPO_DIR" rev-parse --short HEAD 2>/dev/null || echo unknown)" "$WRK_THREADS" "$DURATION"
    printf '%-10s %6s %10s %9s %9s %7s %8s\n' scenario conns req/s p50_ms p99_ms non2xx sockerr
    awk '{ printf "%-10s %6s %10s %9s %9s %7s %8s\n", $1, $2, $3, $4, $5, $6, $7 }' "$WORK_DIR/rows"
    for conns in $CONNECTIONS; do
        awk -v c="$conns" '$2 == c && $1 == "preview" { p = $3 } $2 == c && $1 == "no-gate" { n = $3 }
            END { if (n > 0) printf "preview/no-gate c%s %.1f %%\n", c, 100 * p / n }' "$WORK_DIR/rows"
    done
    for conns in $CONNECTIONS; do
        awk -v c="$conns" '$2 == c && $1 == "gate" { g = $3 } $2 == c && $1 == "ceiling" { n = $3 }
            END { if (n > 0) printf "gate/ceiling c%s %.1f %%\n", c, 100 * g / n }' "$WORK_DIR/rows"
    done
} | tee "$RESULTS_FILE"
