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
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

DURATION=${DURATION:-10s}
CONNECTIONS=${CONNECTIONS:-16 64}
USER_NAME=bench
USER_PASSWORD=bench-pass

AUTH_SERVICE_BIN=$REPO_DIR/target/release/auth-service
SNIPPET=$REPO_DIR/minimal-setup/nginx/share-gate.conf.template
RESULTS_FILE=$BENCH_DIR/last-gate-run.txt

command -v nginx >/dev/null || [ -x /usr/sbin/nginx ] || apt_install nginx
NGINX=$(command -v nginx || echo /usr/sbin/nginx)

bench_init gate
build auth-service bench-ceiling

# --- Orthanc with one instance ---------------------------------------------------------------
start_orthanc_one_instance

# --- auth-service with the gate --------------------------------------------------------------
start_server auth-service "$AUTH_SERVICE_BIN" SECRET_KEY=bench-secret \
    USERS="{\"$USER_NAME\":\"$USER_PASSWORD\"}" ORTHANC_URL="http://127.0.0.1:$ORTHANC_PORT/" \
    ORTHANC_USER="$ORTHANC_USER" ORTHANC_PASSWORD="$ORTHANC_PASSWORD" GATE_PATH_PREFIX=/orthanc/ \
    GATE_COOKIE_SECURE=false
AUTH_PORT=$SERVER_PORT
TOKEN=$(curl -sf -u "$USER_NAME:$USER_PASSWORD" -X PUT -H 'Content-Type: application/json' \
    "http://127.0.0.1:$AUTH_PORT/tokens/viewer-instant-link" \
    -d '{"resources":[{"dicom-uid":"'$STUDY_UID'","orthanc-id":"'$STUDY'","level":"study"}]}' |
    python3 -c 'import json, sys; print(json.load(sys.stdin)["token"])') || die "token creation failed"

# --- the bare actix-web ceiling, for gate/ceiling ----------------------------------------------
start_server ceiling "$REPO_DIR/target/release/bench-ceiling"
CEILING_PORT=$SERVER_PORT

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
write_lua "$WORK_DIR/gate.lua" 204 "" "" "Authorization=Basic $(b64 "$USER_NAME:$USER_PASSWORD")" \
    "X-Original-URI=$PREVIEW" "X-Original-Method=GET" "token=$TOKEN"
write_lua "$WORK_DIR/ceiling.lua" 200 "" "" "Authorization=Basic $(b64 "$USER_NAME:$USER_PASSWORD")" \
    "X-Original-URI=$PREVIEW" "X-Original-Method=GET" "token=$TOKEN"
write_lua "$WORK_DIR/preview.lua" 200 "" "" "token=$TOKEN"

MAX_CONNS=$(printf '%s\n' $CONNECTIONS | sort -n | tail -1)
log "warm-up (2 s each, not reported)"
warm_up "$MAX_CONNS" "$WORK_DIR/gate.lua" "http://127.0.0.1:$AUTH_PORT/gate"
warm_up "$MAX_CONNS" "$WORK_DIR/preview.lua" "http://127.0.0.1:$GATED_PORT$PREVIEW"
# Each gate run and its ceiling run follow each other at each load, and so do the gated and
# ungated previews below: a background load that comes and goes hits both alike.
for conns in $CONNECTIONS; do
    run_wrk gate "$conns" "$WORK_DIR/gate.lua" "http://127.0.0.1:$AUTH_PORT/gate"
    run_wrk ceiling "$conns" "$WORK_DIR/ceiling.lua" "http://127.0.0.1:$CEILING_PORT/health"
done
for conns in $CONNECTIONS; do
    run_wrk preview "$conns" "$WORK_DIR/preview.lua" "http://127.0.0.1:$GATED_PORT$PREVIEW"
    run_wrk no-gate "$conns" "$WORK_DIR/preview.lua" "http://127.0.0.1:$PLAIN_PORT$PREVIEW"
done

# --- report ----------------------------------------------------------------------------------
{
    header_line
    print_rows
    for conns in $CONNECTIONS; do
        ratio "preview/no-gate c$conns" "$(rate preview "$conns")" "$(rate no-gate "$conns")"
    done
    for conns in $CONNECTIONS; do
        ratio "gate/ceiling c$conns" "$(rate gate "$conns")" "$(rate ceiling "$conns")"
    done
} | tee "$RESULTS_FILE"
