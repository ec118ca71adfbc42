#!/usr/bin/env bash
# Brings a stack up exactly as committed, checks the share path through nginx, brings it down.
#   minimal-setup/smoke-test.sh basic-auth
# Images: whatever `docker compose up` finds or gets. With internet it pulls the real images and
# builds ours from their Dockerfiles; without, run minimal-setup/stand-ins/build.sh first.
# Only the environment differs from a real deployment: a loopback port, PUBLIC_URL to match, and
# secrets made in a temporary folder (the stack's own secrets/ is left alone).
# COMPOSE picks the compose command (default: `docker compose` when present, else docker-compose).
# SMOKE_HTTPS=1 runs the stack's HTTPS variant (docker-compose.https.yml, a self-signed pair made
# by make-certificate.sh in the temporary folder; curl trusts only that certificate).
set -euo pipefail
stack="${1:?usage: $0 basic-auth}"
here="$(cd "$(dirname "$0")" && pwd)"
repo="$(cd "$here/.." && pwd)"
dir="$here/$stack"
[ -f "$dir/docker-compose.yml" ] || { echo "no stack $stack in $here" >&2; exit 2; }
# The checks store studies through Orthanc's basic auth at /orthanc/ and read the gate at
# /shares/: the keycloak and full stacks have neither a published basic-auth Orthanc nor, on
# machines without the registries, stand-ins for Keycloak, PostgreSQL, mailpit and OHIF.
if [ "$stack" != basic-auth ]; then
    echo "smoke-test: only basic-auth so far ($stack: see its README, 'Tested how')" >&2
    exit 2
fi
if [ -z "${COMPOSE:-}" ]; then
    if docker compose version >/dev/null 2>&1; then COMPOSE="docker compose"; else COMPOSE=docker-compose; fi
fi
for tool in docker curl python3; do
    command -v "$tool" >/dev/null || { echo "smoke-test: $tool is missing" >&2; exit 2; }
done

work="$(mktemp -d)"
# Both ports come from one process that holds both sockets at once: two separate picks can get
# the same port back from the kernel, and Docker then refuses the second mapping.
read -r port https_port < <(python3 -c 'import socket
a, b = socket.socket(), socket.socket()
a.bind(("127.0.0.1", 0)); b.bind(("127.0.0.1", 0))
print(a.getsockname()[1], b.getsockname()[1])')
export SECRETS_DIR="$work/secrets" HTTP_BIND=127.0.0.1 HTTP_PORT="$port" PUBLIC_URL="http://127.0.0.1:$port"
curl_tls=()
if [ "${SMOKE_HTTPS:-0}" = 1 ]; then
    export HTTPS_PORT="$https_port" PUBLIC_URL="https://127.0.0.1:$https_port" TLS_DIR="$work/tls" \
        COMPOSE_FILE=docker-compose.yml:docker-compose.https.yml
    (cd "$dir" && ../make-certificate.sh >/dev/null)
    curl_tls=(--cacert "$TLS_DIR/cert.pem")
fi
project="sharesmoke${stack//-/}"
compose() { (cd "$dir" && $COMPOSE -p "$project" "$@"); }
base="$PUBLIC_URL"
failures=0
pending=()

say() { echo "== smoke-test $stack: $*"; }
pass() { echo "   ok   $*"; }
fail() { echo "   FAIL $*"; failures=$((failures + 1)); }
pend() { echo "   PENDING $*"; pending+=("$*"); }
finish() {
    local rc=$?
    if [ "$rc" != 0 ] || [ "$failures" != 0 ]; then
        say "state and logs of the stack"
        compose ps || true
        compose logs --no-color --tail=60 || true
    fi
    say "down"
    compose down -v --remove-orphans >/dev/null 2>&1 || true
    rm -rf "$work"
}
trap finish EXIT

# What exists in this checkout decides which checks can run yet.
services=()
while read -r s; do services+=("$s"); done < <(compose config --services)
# Both are part of the stack now: the checks below are not optional.
has_landing=1
has_gate=1

say "secrets ($SECRETS_DIR)"
"$dir/make-secrets.sh" >/dev/null
admin_password="$(tr -d '\n' <"$SECRETS_DIR/admin-password")"
share_password="$(tr -d '\n' <"$SECRETS_DIR/share-user-password")"

say "up (${services[*]}) on $base"
start=$(date +%s)
compose up -d ${services[*]}

# Every started container healthy, or give up after 4 minutes (health checks, never a fixed sleep).
deadline=$((start + 240))
while :; do
    states="$(docker ps -a --filter "label=com.docker.compose.project=$project" \
        --format '{{.Names}} {{.State}} {{.Status}}')"
    if ! grep -qv '(healthy)' <<<"$states"; then break; fi
    if grep -q 'unhealthy\|exited\|dead' <<<"$states" || [ "$(date +%s)" -gt "$deadline" ]; then
        echo "$states"; fail "every container healthy"; exit 1
    fi
    sleep 2
done
pass "every container healthy after $(( $(date +%s) - start )) s"

# curl wrappers: status code, and the body or a header.
curl() { command curl "${curl_tls[@]}" "$@"; }
code() { curl -s -o /dev/null -w '%{http_code}' "$@"; }
json() { python3 -c 'import json,sys; d=json.load(sys.stdin); print(eval(sys.argv[1], {}, {"d": d}))' "$1"; }
expect() { # description expected actual
    if [ "$2" = "$3" ]; then pass "$1"; else fail "$1: expected $2, got $3"; fi
}

expect "nginx answers" 200 "$(code "$base/nginx-health")"
if [ "${SMOKE_HTTPS:-0}" = 1 ]; then
    expect "plain HTTP is sent to PUBLIC_URL" "301 $base/orthanc/system" \
        "$(curl -s -o /dev/null -w '%{http_code} %{redirect_url}' "http://127.0.0.1:$port/orthanc/system")"
fi
expect "Orthanc refuses a visitor without credentials" 401 "$(code "$base/orthanc/system")"
expect "Orthanc lets the admin in" 200 "$(code -u "admin:$admin_password" "$base/orthanc/system")"

# Two studies made by Orthanc itself (a 1x1 PNG turned into DICOM): A is shared, B is not.
png="iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAAAAAA6fptVAAAACklEQVR4nGNgAAAAAgABSK+kcQAAAABJRU5ErkJggg=="
make_study() { # patient id -> "instance-id study-id study-uid"
    local inst study
    inst="$(curl -sf -u "admin:$admin_password" "$base/orthanc/tools/create-dicom" \
        -d "{\"Tags\": {\"PatientID\": \"$1\", \"PatientName\": \"SMOKE^$1\", \"Modality\": \"OT\"}, \"Content\": \"data:image/png;base64,$png\"}" \
        | json 'd["ID"]')"
    study="$(curl -sf -u "admin:$admin_password" "$base/orthanc/instances/$inst/study")"
    echo "$inst $(json 'd["ID"]' <<<"$study") $(json 'd["MainDicomTags"]["StudyInstanceUID"]' <<<"$study")"
}
read -r inst_a study_a uid_a < <(make_study SMOKE-A)
read -r inst_b _ _ < <(make_study SMOKE-B)
[ -n "$inst_a" ] && [ -n "$inst_b" ] && pass "two studies stored through nginx" || fail "store studies"

say "share study A"
created="$(curl -s -u "share-user:$share_password" -X PUT "$base/share-api/tokens/stone-viewer-publication" \
    -H 'Content-Type: application/json' \
    -d "{\"id\": \"smoke\", \"resources\": [{\"dicom-uid\": \"$uid_a\", \"orthanc-id\": \"$study_a\", \"level\": \"study\"}], \"type\": \"stone-viewer-publication\", \"expiration-date\": null}")"
token="$(json 'd["token"]' <<<"$created" 2>/dev/null || true)"
link="$(json 'd["url"]' <<<"$created" 2>/dev/null || true)"
[ -n "$token" ] && pass "share created through nginx" || fail "share created: $created"
expect "the share link goes to the landing page" "$base/share/?token=$token" "$link"
expect "share creation refuses a wrong password" 401 \
    "$(code -u share-user:wrong -X PUT "$base/share-api/tokens/stone-viewer-publication" -H 'Content-Type: application/json' -d '{}')"

viewer="$base/shares/stone-webviewer/index.html?study=$uid_a&selectedStudies=$uid_a&token=$token"
if [ "$has_landing" = 1 ]; then
    say "open the link through the landing page"
    location="$(curl -s -o /dev/null -w '%{redirect_url}' "$link")"
    expect "the landing page sends the visitor to the viewer" "$viewer" "$location"
else
    pend "open the link through the landing page: no landing-page crate in this checkout yet"
fi

preview_a="$base/shares/instances/$inst_a/preview"
preview_b="$base/shares/instances/$inst_b/preview"
if [ "$has_gate" = 1 ]; then
    say "previews through the token gate"
    expect "preview of A with the token in the query" 200 "$(code "$preview_a?token=$token")"
    expect "preview of A with the token in a header" 200 "$(code -H "token: $token" "$preview_a")"
    expect "the preview is a PNG" image/png "$(curl -s -o /dev/null -w '%{content_type}' "$preview_a?token=$token")"
    jar="$work/cookies"
    curl -s -o /dev/null -c "$jar" "$preview_a?token=$token"
    expect "a viewer's next request opens with the cookie the gate set" 200 "$(code -b "$jar" "$preview_a")"
    expect "preview without a token is sent to the landing page" "302 $base/share/?reason=missing" \
        "$(curl -s -o /dev/null -w '%{http_code} %{redirect_url}' "$preview_a")"
    expect "A's token does not open study B" "302 $base/share/?reason=forbidden" \
        "$(curl -s -o /dev/null -w '%{http_code} %{redirect_url}' "$preview_b?token=$token")"
    expect "a forged token is refused" "302 $base/share/?reason=invalid" \
        "$(curl -s -o /dev/null -w '%{http_code} %{redirect_url}' "$preview_a?token=${token%?}x")"
    expect "no writes through the share path" 405 "$(code -X DELETE "$preview_a?token=$token")"
else
    pend "previews through the token gate: auth-service has no GET /gate in this checkout yet"
    expect "meanwhile the share path lets nothing through" 503 "$(code "$preview_a?token=$token")"
fi

say "no secret in any log line"
logs="$(compose logs --no-color 2>&1)"
for secret in SECRET_KEY share-user-password share-gate-password admin-password; do
    if grep -qF "$(tr -d '\n' <"$SECRETS_DIR/$secret")" <<<"$logs"; then fail "$secret appears in the logs"; else pass "$secret not in the logs"; fi
done
if grep -qF "$token" <<<"$logs"; then fail "the share token appears in the logs"; else pass "the share token is not in the logs"; fi

say "$failures failure(s), ${#pending[@]} pending, $(( $(date +%s) - start )) s since up"
for p in "${pending[@]}"; do echo "   PENDING $p"; done
[ "$failures" = 0 ]
