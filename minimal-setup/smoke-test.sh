#!/usr/bin/env bash
# Brings a stack up exactly as committed and uses it as its people would: staff store two studies
# and share one the way OE2's share button does (the authorization plugin's /auth/tokens/), a
# visitor opens the link in Chromium (landing page, viewer, the viewer's own data requests), an
# attacker tries what a share token must not do; revocations must survive a recreated
# auth-service. Then it brings the stack down.
#   minimal-setup/smoke-test.sh basic-auth|demo|keycloak
# Images: whatever `docker compose up` finds or gets. With internet it pulls the real images and
# builds ours from their Dockerfiles; without, run minimal-setup/stand-ins/build.sh first.
# Only the environment differs from a real deployment: a loopback port, PUBLIC_URL to match, and
# secrets made in a temporary folder (the stack's own secrets/ is left alone; the demo uses its
# published demo-secrets/).
# COMPOSE picks the compose command (default: `docker compose` when present, else docker-compose).
# SMOKE_HTTPS=1 runs the stack's HTTPS variant (docker-compose.https.yml, a self-signed pair made
# by make-certificate.sh in the temporary folder; curl trusts only that certificate).
# SHARE_API=on|off overrides the stack's .env (on: the throttle step below runs).
set -euo pipefail
stack="${1:?usage: $0 basic-auth|demo|keycloak}"
here="$(cd "$(dirname "$0")" && pwd)"
repo="$(cd "$here/.." && pwd)"
case "$stack" in
    basic-auth|keycloak) dir="$here/$stack" ;;
    demo) dir="$repo/demo-setup" ;;
    *) echo "smoke-test: no stack $stack (basic-auth, demo, keycloak)" >&2; exit 2 ;;
esac
if [ -z "${COMPOSE:-}" ]; then
    if docker compose version >/dev/null 2>&1; then COMPOSE="docker compose"; else COMPOSE=docker-compose; fi
fi
for tool in docker curl python3; do
    command -v "$tool" >/dev/null || { echo "smoke-test: $tool is missing" >&2; exit 2; }
done
https="${SMOKE_HTTPS:-0}"
if [ "$https" = 1 ] && [ ! -f "$dir/docker-compose.https.yml" ]; then
    echo "smoke-test: $stack has no HTTPS variant" >&2
    exit 2
fi

work="$(mktemp -d)"
# Both ports come from one process that holds both sockets at once: two separate picks can get
# the same port back from the kernel, and Docker then refuses the second mapping.
read -r port https_port < <(python3 -c 'import socket
a, b = socket.socket(), socket.socket()
a.bind(("127.0.0.1", 0)); b.bind(("127.0.0.1", 0))
print(a.getsockname()[1], b.getsockname()[1])')
export HTTP_BIND=127.0.0.1 HTTP_PORT="$port" PUBLIC_URL="http://127.0.0.1:$port"
if [ "$stack" = demo ]; then
    secrets="$dir/demo-secrets"
else
    export SECRETS_DIR="$work/secrets"
    secrets="$SECRETS_DIR"
fi
share_api="${SHARE_API:-$(sed -n 's/^SHARE_API=//p' "$dir/.env")}"
export SHARE_API="$share_api"
curl_tls=()
if [ "$https" = 1 ]; then
    export HTTPS_PORT="$https_port" PUBLIC_URL="https://127.0.0.1:$https_port" TLS_DIR="$work/tls" \
        COMPOSE_FILE=docker-compose.yml:docker-compose.https.yml
    (cd "$dir" && ../make-certificate.sh >/dev/null)
    curl_tls=(--cacert "$TLS_DIR/cert.pem")
fi
project="sharesmoke${stack//-/}"
compose() { (cd "$dir" && $COMPOSE -p "$project" "$@"); }
base="$PUBLIC_URL"
failures=0
start=$(date +%s)

say() { echo "== smoke-test $stack$([ "$https" = 1 ] && echo ' (HTTPS)'): $*"; }
pass() { echo "   ok   $*"; }
fail() { echo "   FAIL $*"; failures=$((failures + 1)); }
finish() {
    local rc=$?
    if [ "$rc" != 0 ] || [ "$failures" != 0 ]; then
        say "state and logs of the stack"
        compose ps || true
        compose logs --no-color --tail=80 || true
    fi
    say "down"
    compose down -v --remove-orphans >/dev/null 2>&1 || true
    rm -rf "$work"
}
trap finish EXIT

# curl wrappers: status code, status and Location, a header, JSON fields.
curl() { command curl -s "${curl_tls[@]}" "$@"; }
code() { curl -o /dev/null -w '%{http_code}' "$@"; }
went() { curl -o /dev/null -w '%{http_code} %{redirect_url}' "$@"; }
header() { curl -o /dev/null -D - "${@:2}" | tr -d '\r' | sed -n "s/^$1: //Ip" | head -1; }
json() { python3 -c 'import json,sys; d=json.load(sys.stdin); print(eval(sys.argv[1], {}, {"d": d}))' "$1"; }
expect() { # description expected actual
    if [ "$2" = "$3" ]; then pass "$1"; else fail "$1: expected $2, got $3"; fi
}
secret() { tr -d '\n' <"$secrets/$1"; }

# Calls auth-service from inside the network, as the authorization plugin does (its password is
# the orthanc container's secret): revocation and the roles, which are not published.
# shellcheck disable=SC2016
AUTH_API='import base64, sys, urllib.error, urllib.request
method, path = sys.argv[1:3]
body = sys.argv[3].encode() if len(sys.argv) > 3 else None
with open("/run/secrets/ORTHANC__AUTHORIZATION__WEB_SERVICE_PASSWORD") as f:
    password = f.read().strip()
request = urllib.request.Request("http://auth-service:8000" + path, data=body, method=method)
request.add_header("Authorization", "Basic " + base64.b64encode(f"share-user:{password}".encode()).decode())
request.add_header("Content-Type", "application/json")
try:
    with urllib.request.urlopen(request, timeout=10) as answer:
        print(answer.status, answer.read().decode())
except urllib.error.HTTPError as e:
    print(e.code, e.read().decode())'
auth_api() { compose exec -T orthanc python3 -c "$AUTH_API" "$@"; }

# Every started container healthy (a one-shot job: exited 0) and none restarted, within 4 minutes
# (health checks, never a fixed sleep). A restart is a failure: a dependency said "ready" too soon.
wait_healthy() {
    local deadline=$(($(date +%s) + 240)) states bad
    while :; do
        states="$(docker ps -aq --filter "label=com.docker.compose.project=$project" | xargs docker inspect \
            --format '{{.Name}} {{.State.Status}} {{if .State.Health}}{{.State.Health.Status}}{{else}}none{{end}} {{.State.ExitCode}} {{.RestartCount}}')"
        bad="$(awk '$2 == "restarting" || $5 != "0" || $3 == "unhealthy" || ($2 == "exited" && $4 != "0")' <<<"$states")"
        if [ -n "$bad" ]; then
            echo "$states"
            fail "every container healthy, none restarted: $bad"
            exit 1
        fi
        if ! awk '!(($2 == "running" && $3 == "healthy") || ($2 == "exited" && $3 == "none"))' <<<"$states" | grep -q .; then
            return
        fi
        if [ "$(date +%s)" -gt "$deadline" ]; then
            echo "$states"
            fail "every container healthy within 4 minutes"
            exit 1
        fi
        sleep 2
    done
}

if [ "$stack" != demo ]; then
    say "secrets ($secrets)"
    "$dir/make-secrets.sh" >/dev/null
fi

services=()
while read -r s; do services+=("$s"); done < <(compose config --services)
say "up (${services[*]}) on $base, SHARE_API=$share_api"
compose up -d || fail "docker compose up -d (a dependency never became healthy?)"
wait_healthy
pass "every container healthy, none restarted, after $(( $(date +%s) - start )) s"

say "auth-service doctor, inside the stack"
doctor="$(compose exec -T auth-service /usr/local/bin/auth-service doctor 2>&1)" && doctor_rc=0 || doctor_rc=$?
expect "auth-service doctor passes" 0 "$doctor_rc"
if grep -q '^✓ share registry folder /orthanc_auth_service/data is on a mounted volume' <<<"$doctor"; then
    pass "the share registry is on a volume (doctor)"
else
    fail "the share registry is on a volume (doctor): $(grep -i 'registry' <<<"$doctor" | head -3)"
fi
[ "$doctor_rc" = 0 ] || echo "$doctor" | sed 's/^/      /'

say "nginx"
expect "nginx answers" 200 "$(code "$base/nginx-health")"
if [ "$https" = 1 ]; then
    expect "plain HTTP is sent to PUBLIC_URL" "301 $base/orthanc/system" \
        "$(went "http://127.0.0.1:$port/orthanc/system")"
fi
if [ "$share_api" = on ]; then
    expect "/share-api/ is published (SHARE_API=on) and wants a password" 401 \
        "$(code -u share-user:wrong -X PUT "$base/share-api/tokens/stone-viewer-publication" -H 'Content-Type: application/json' -d '{}')"
else
    # nginx's own 404 (or 405 where no location takes PUT), never auth-service's 401.
    unpublished="$(code -u share-user:wrong -X PUT "$base/share-api/tokens/stone-viewer-publication" -H 'Content-Type: application/json' -d '{}')"
    expect "/share-api/ is not published (SHARE_API=off)" "nginx refuses" \
        "$(case "$unpublished" in 404|405) echo "nginx refuses" ;; *) echo "$unpublished" ;; esac)"
fi

# Staff: Orthanc's basic auth, or a Keycloak access token (the realm stand-in's login client of
# each realm user, whose secret is the user's generated password).
realm_token() { # user
    curl -u "stand-in-login-$1:$(secret "realm-$1-password")" -d grant_type=client_credentials \
        "$base/keycloak/realms/orthanc/protocol/openid-connect/token" | json 'd["access_token"]'
}
if [ "$stack" = keycloak ]; then
    say "Keycloak and the authorization plugin"
    admin_token="$(realm_token admin)"
    doctor_token="$(realm_token doctor)"
    [ -n "$admin_token" ] && [ -n "$doctor_token" ] && pass "realm users admin and doctor log in" \
        || fail "realm users log in"
    staff=(-H "Authorization: Bearer $admin_token")
    viewer_staff=(-H "Authorization: Bearer $doctor_token")
    expect "the plugin leaves GET /system open (the stack's Orthanc health check)" 200 "$(code "$base/orthanc/system")"
    expect "the plugin refuses GET /changes without a token (the image's own probe)" 403 "$(code "$base/orthanc/changes?last")"
    expect "the plugin lets the doctor read /changes" 200 "$(code "${viewer_staff[@]}" "$base/orthanc/changes?last")"
    profile="$(curl "${viewer_staff[@]}" "$base/orthanc/auth/user/profile")"
    roles="$(auth_api GET /settings/roles)"
    expect "the doctor's profile through nginx and the plugin has doctor-role's permissions" \
        "$(sed 's/^200 //' <<<"$roles" | json 'sorted(d["roles"]["doctor-role"]["permissions"])')" \
        "$(json 'sorted(d["permissions"])' <<<"$profile" 2>/dev/null || echo "$profile")"
    expect "... and its name (the token's)" "Doctor Orthanc" "$(json 'd["name"]' <<<"$profile" 2>/dev/null)"
else
    admin_password="$(secret admin-password)"
    staff=(-u "admin:$admin_password")
    viewer_staff=("${staff[@]}")
    expect "Orthanc refuses staff pages without credentials" 401 "$(code "$base/orthanc/system")"
    expect "Orthanc lets the admin in" 200 "$(code "${staff[@]}" "$base/orthanc/system")"
fi

say "two studies, one shared the way OE2 shares it"
# Made by Orthanc itself from a 1x1 PNG: A is shared, B is not.
png="iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAAAAAA6fptVAAAACklEQVR4nGNgAAAAAgABSK+kcQAAAABJRU5ErkJggg=="
make_study() { # patient id -> "instance-id study-id study-uid"
    local inst study
    inst="$(curl "${staff[@]}" "$base/orthanc/tools/create-dicom" \
        -d "{\"Tags\": {\"PatientID\": \"$1\", \"PatientName\": \"SMOKE^$1\", \"Modality\": \"OT\"}, \"Content\": \"data:image/png;base64,$png\"}" \
        | json 'd["ID"]')"
    study="$(curl "${staff[@]}" "$base/orthanc/instances/$inst/study")"
    echo "$inst $(json 'd["ID"]' <<<"$study") $(json 'd["MainDicomTags"]["StudyInstanceUID"]' <<<"$study")"
}
read -r inst_a study_a uid_a < <(make_study SMOKE-A)
read -r inst_b study_b uid_b < <(make_study SMOKE-B)
[ -n "$uid_a" ] && [ -n "$uid_b" ] && pass "two studies stored through nginx" || { fail "store studies"; exit 1; }
share() { # type study-id study-uid -> "token url" (PUT /auth/tokens/{type}: OE2's share button)
    curl "${viewer_staff[@]}" -X PUT "$base/orthanc/auth/tokens/$1" -H 'Content-Type: application/json' \
        -d "{\"ID\": \"smoke\", \"Resources\": [{\"DicomUid\": \"$3\", \"OrthancId\": \"$2\", \"Level\": \"study\"}]}" \
        | json 'd["Token"] + " " + d["Url"]'
}
read -r token_a link_a < <(share stone-viewer-publication "$study_a" "$uid_a")
read -r token_b link_b < <(share stone-viewer-publication "$study_b" "$uid_b")
expect "the share link goes to the landing page" "$base/share/?token=$token_a" "$link_a"

if [ "$stack" = keycloak ]; then
    orthanc_root="$base/orthanc"
    cookie=none
else
    orthanc_root="$base/shares"
    if [ "$https" = 1 ]; then cookie=secure; else cookie=plain; fi
fi
visitor() { # visitor.py's checks; its exit status is its number of failures
    local tls=()
    [ "$https" = 1 ] && tls=(--insecure-tls)
    python3 "$here/visitor.py" "${tls[@]}" "$@" || failures=$((failures + $?))
}

say "a visitor opens the link in Chromium"
visitor --kind stone --link "$link_a" --viewer "$orthanc_root/stone-webviewer/index.html?" --cookie "$cookie" \
    --refused "studies?0020000D=$uid_b&includefield=00081030" \
    --refused "series?0020000D=$uid_b&includefield=00081030,00200011" \
    --refused "studies/$uid_b/series"
if [ "$stack" = demo ]; then
    say "the demo loader's link, and VolView"
    loader_link="$(compose logs --no-color demo-loader | grep -o "$base/share/?token=[A-Za-z0-9._-]*" | head -1)"
    [ -n "$loader_link" ] && pass "demo-loader printed a share link" || fail "demo-loader printed a share link"
    visitor --kind stone --link "$loader_link" --viewer "$orthanc_root/stone-webviewer/index.html?" --cookie "$cookie" \
        --refused "studies?0020000D=$uid_b&includefield=00081030"
    read -r _ link_v < <(share volview-viewer-publication "$study_a" "$uid_a")
    visitor --kind volview --link "$link_v" --viewer "$orthanc_root/volview/index.html?" --cookie "$cookie" \
        --refused "studies/$study_b/archive"
fi

if [ "$stack" != keycloak ]; then
    say "the token gate, from a plain browser"
    preview_a="$base/shares/instances/$inst_a/preview"
    preview_b="$base/shares/instances/$inst_b/preview"
    expect "preview of A with the token in the query" 200 "$(code "$preview_a?token=$token_a")"
    expect "preview of A with the token in a header" 200 "$(code -H "token: $token_a" "$preview_a")"
    expect "the preview is a PNG" image/png "$(curl -o /dev/null -w '%{content_type}' "$preview_a?token=$token_a")"
    set_cookie="$(header Set-Cookie "$preview_a?token=$token_a")"
    if [ "$https" = 1 ]; then
        grep -q '; Secure' <<<"$set_cookie" && pass "the gate's cookie is Secure (https:// PUBLIC_URL)" \
            || fail "the gate's cookie is Secure: ${set_cookie%%=*}=…${set_cookie#*;}"
        expect "HSTS on a gated answer" "max-age=31536000" "$(header Strict-Transport-Security "$preview_a?token=$token_a")"
        expect "HSTS on a refusal" "max-age=31536000" "$(header Strict-Transport-Security "$preview_b?token=$token_a")"
        expect "HSTS on the viewer's files" "max-age=31536000" "$(header Strict-Transport-Security "$base/shares/stone-webviewer/configuration.json")"
    else
        grep -q '; Secure' <<<"$set_cookie" && fail "the gate's cookie is Secure on a plain-HTTP PUBLIC_URL" \
            || pass "the gate's cookie is not Secure (http:// PUBLIC_URL: the browser keeps it)"
        expect "no HSTS over plain HTTP" "" "$(header Strict-Transport-Security "$preview_a?token=$token_a")"
    fi
    jar="$work/cookies"
    curl -o /dev/null -c "$jar" "$preview_a?token=$token_a"
    expect "a viewer's next request opens with the cookie the gate set" 200 "$(code -b "$jar" "$preview_a")"
    expect "preview without a token is sent to the landing page" "302 $base/share/?reason=missing" "$(went "$preview_a")"
    expect "A's token does not open study B" "302 $base/share/?reason=forbidden" "$(went "$preview_b?token=$token_a")"
    expect "a forged token is refused" "302 $base/share/?reason=invalid" "$(went "$preview_a?token=${token_a%?}x")"
    expect "no writes through the share path" 403 "$(code -X DELETE "$preview_a?token=$token_a")"
    expect "... not even with a body" 403 "$(code -X PUT -d '{}' "$base/shares/studies/$study_a/metadata/x?token=$token_a")"
    expect "the viewer's files open without a token" 200 "$(code "$base/shares/stone-webviewer/index.html")"
    expect "... and nothing else of Orthanc's that way" 404 "$(code --path-as-is "$base/shares/stone-webviewer/..%5Cstudies")"
fi

say "revocation survives a recreated auth-service"
# B's link opens, is revoked, and stays revoked after `up -d --force-recreate auth-service` (the
# registry is on a volume); A's link keeps working.
if [ "$stack" = keycloak ]; then
    b_opens() { code -H "Authorization: Bearer $token_b" "$base/orthanc/dicom-web/studies?0020000D=$uid_b&includefield=00081030"; }
    opened=200 refused=403
else
    b_opens() { went "$base/shares/instances/$inst_b/preview?token=$token_b"; }
    opened="200 " refused="302 $base/share/?reason=revoked"
fi
if [ "$stack" = keycloak ]; then
    a_opens() { code -H "Authorization: Bearer $token_a" "$base/orthanc/dicom-web/studies?0020000D=$uid_a&includefield=00081030"; }
else
    a_opens() { code "$base/shares/instances/$inst_a/preview?token=$token_a"; }
fi
expect "B's link opens before it is revoked" "$opened" "$(b_opens)"
revoked="$(auth_api POST /shares/revoke "{\"resource\": \"$uid_b\"}")"
expect "revoking B's shares" 200 "${revoked%% *}"
expect "B's revoked link is refused" "$refused" "$(b_opens)"
expect "the landing page says B's link is revoked" 410 "$(code "$link_b")"
compose up -d --force-recreate auth-service >/dev/null 2>&1
wait_healthy
if [ "$share_api" = on ] && [ "$https" != 1 ]; then
    say "a stranger's wrong passwords do not lock visitors out (TRUSTED_PROXIES)"
    # Right after the recreate, before any gate check: nobody has logged in yet. Before
    # TRUSTED_PROXIES and the gate's X-Forwarded-For, the stranger's failures and every gate check
    # shared nginx's bucket, and the visitor got the 503 page.
    statuses="$(compose exec -T orthanc python3 -c 'import urllib.error, urllib.request
codes = []
for _ in range(12):
    r = urllib.request.Request("http://nginx/share-api/tokens/stone-viewer-publication", data=b"{}", method="PUT",
                               headers={"Authorization": "Basic c2hhcmUtdXNlcjp3cm9uZw==", "Content-Type": "application/json"})
    try:
        codes.append(urllib.request.urlopen(r, timeout=10).status)
    except urllib.error.HTTPError as e:
        codes.append(e.code)
print(" ".join(map(str, codes)))')"
    expect "the stranger (another container) is throttled after ten wrong passwords" 429 "${statuses##* }"
    expect "a visitor's link still opens through the gate" 200 "$(a_opens)"
fi
expect "after the recreate, B's revoked link is still refused" "$refused" "$(b_opens)"
expect "... the landing page still says so" 410 "$(code "$link_b")"
expect "... and A's link still opens" 200 "$(a_opens)"

say "method overrides never reach Orthanc (Orthanc would run them as DELETE/PUT; last: it may delete)"
if [ "$stack" = keycloak ]; then
    # Fresh logins: the recreate above may have restarted Keycloak (a dependency), with new keys.
    staff=(-H "Authorization: Bearer $(realm_token admin)")
    viewer_staff=(-H "Authorization: Bearer $(realm_token doctor)")
fi
with_token=(-H "Authorization: Bearer $token_a")
for query in "_method=DELETE" "%5Fmethod=DELETE" "_%6Dethod=DELETE" "_METHOD=DELETE" "x=1%26_method=DELETE"; do
    expect "GET …/studies/A?$query with A's token is refused" 403 \
        "$(code --path-as-is "${with_token[@]}" "$orthanc_root/studies/$study_a?$query")"
done
expect "GET …/studies/A with X-HTTP-Method-Override: DELETE is refused" 403 \
    "$(code "${with_token[@]}" -H 'X-HTTP-Method-Override: DELETE' "$orthanc_root/studies/$study_a")"
expect "HEAD …/studies/A with X-HTTP-Method-Override: DELETE is refused" 403 \
    "$(code -I "${with_token[@]}" -H 'X-HTTP-Method-Override: DELETE' "$orthanc_root/studies/$study_a")"
expect "the staff path refuses them too" 403 "$(code "${staff[@]}" "$base/orthanc/studies/$study_b?_method=DELETE")"
expect "study A still exists" 200 "$(code "${viewer_staff[@]}" "$base/orthanc/studies/$study_a")"
expect "study B still exists" 200 "$(code "${viewer_staff[@]}" "$base/orthanc/studies/$study_b")"

say "no secret in any log line"
logs="$(compose logs --no-color 2>&1)"
for file in "$secrets"/*; do
    value="$(tr -d '\n' <"$file")"
    # Derived files (JSON, nginx snippets) hold the same secrets; short or README text is skipped.
    case "$value" in *'{'*|*proxy_set_header*|*' '*) continue ;; esac
    [ "${#value}" -ge 10 ] || continue
    if grep -qF "$value" <<<"$logs"; then fail "$(basename "$file") appears in the logs"; else pass "$(basename "$file") not in the logs"; fi
done
for t in "$token_a" "$token_b"; do
    if grep -qF "$t" <<<"$logs"; then fail "a share token appears in the logs"; else pass "the share token is not in the logs"; fi
done

say "$failures failure(s), $(( $(date +%s) - start )) s"
[ "$failures" = 0 ]
