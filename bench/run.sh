#!/usr/bin/env bash
# Benchmarks auth-service (release build) with wrk against a bare actix-web ceiling measured in the
# same run. Rerunnable; every process it starts is stopped on exit; traffic goes to 127.0.0.1 only.
#
#   bash bench/run.sh                       # defaults: DURATION=10s CONNECTIONS="16 64"
#   DURATION=30s CONNECTIONS="64" bash bench/run.sh
#   AUTH_SERVICE_BIN=/tmp/old bash bench/run.sh   # another build (the working tree is then not built)
#
# Prints a table (scenario, connections, req/s, p50, p99, non-2xx) plus startup time, RSS and the
# validate/ceiling ratios, and writes the same text to bench/last-run.txt. The get-profile scenario
# (Keycloak access tokens) needs node and npm; without them it is skipped, loudly.
set -euo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

DURATION=${DURATION:-10s}
CONNECTIONS=${CONNECTIONS:-16 64}
USER_NAME=bench
USER_PASSWORD=bench-pass

AUTH_SERVICE_BIN_GIVEN=${AUTH_SERVICE_BIN:-}
AUTH_SERVICE_BIN=${AUTH_SERVICE_BIN:-$REPO_DIR/target/release/auth-service}
CEILING_BIN=$REPO_DIR/target/release/bench-ceiling
PERMISSIONS_FIXTURE=${PERMISSIONS_FIXTURE:-$REPO_DIR/../shared/compat-sample/fixtures/permissions.jsonc}
RESULTS_FILE=$BENCH_DIR/last-run.txt
# The tests' stand-in Keycloak realm (npm oidc-provider) and the client whose tokens the
# get-profile scenario sends: persona "Doctor Who", realm role doctor-role.
REALM_DIR=$REPO_DIR/auth-service/tests/support/oidc
REALM_CLIENT=doctor-app
REALM_CLIENT_SECRET=doctor-app-secret
# The realm's access tokens live 300 s (auth-service allows 30 s of leeway): a fresh one is taken
# for every wrk run, so one run may last at most this long.
REALM_TOKEN_MAX_RUN_S=300

bench_init auth-service

duration_s() { # wrk's duration syntax (10, 10s, 2m, 1h) -> seconds; 0 when unrecognised
    [[ $1 =~ ^([0-9]+)([smh]?)$ ]] || { echo 0; return; }
    case ${BASH_REMATCH[2]} in
        h) echo $((10#${BASH_REMATCH[1]} * 3600)) ;;
        m) echo $((10#${BASH_REMATCH[1]} * 60)) ;;
        *) echo $((10#${BASH_REMATCH[1]})) ;;
    esac
}

# get-profile: node and npm, and the realm's packages (installed as the tests do: `npm ci` once,
# serialised with the tests through their lock folder, then a marker file). Decided here so that a
# failing npm ci stops the script before the long runs.
GET_PROFILE_SKIPPED=
if ! command -v node >/dev/null || ! command -v npm >/dev/null; then
    GET_PROFILE_SKIPPED="node or npm not found (apt-get install nodejs npm)"
elif [ "$(duration_s "$DURATION")" -gt "$REALM_TOKEN_MAX_RUN_S" ]; then
    GET_PROFILE_SKIPPED="DURATION=$DURATION outlives the realm's 300 s access tokens"
fi
if [ -n "$GET_PROFILE_SKIPPED" ]; then
    printf '\n!!!!! get-profile SKIPPED: %s !!!!!\n\n' "$GET_PROFILE_SKIPPED" >&2
elif [ ! -e "$REALM_DIR/node_modules/.auth-service-installed" ]; then
    log "npm ci in ${REALM_DIR#"$REPO_DIR"/} (the stand-in Keycloak realm)"
    waited=0
    until mkdir "$REALM_DIR/.npm-ci.lock" 2>/dev/null; do
        [ "$waited" -lt 600 ] || die "waited 10 minutes for $REALM_DIR/.npm-ci.lock (another npm ci?)"
        sleep 1
        waited=$((waited + 1))
    done
    if [ ! -e "$REALM_DIR/node_modules/.auth-service-installed" ]; then
        if (cd "$REALM_DIR" && npm ci --no-audit --no-fund --loglevel=error); then
            : >"$REALM_DIR/node_modules/.auth-service-installed"
        else
            rmdir "$REALM_DIR/.npm-ci.lock"
            die "npm ci in $REALM_DIR failed"
        fi
    fi
    rmdir "$REALM_DIR/.npm-ci.lock"
fi

if [ -n "${AUTH_SERVICE_BIN_GIVEN:-}" ]; then
    # Another build given: leave the working tree alone (an A/B loop must not rebuild it between
    # runs, nor fail when it is being edited).
    build bench-ceiling
else
    build auth-service bench-ceiling
fi

kib_field() { # kib_field PID VmRSS|VmHWM -> value in KiB
    awk -v f="$2:" '$1 == f { print $2 }' "/proc/$1/status"
}

mib() { awk -v k="$1" 'BEGIN { printf "%.1f", k / 1024 }'; }

# --- wrk scripts -----------------------------------------------------------------------------
BASIC=$(printf '%s:%s' "$USER_NAME" "$USER_PASSWORD" | base64 | tr -d '\n')

# api_lua FILE METHOD BODY [HEADER=value ...]: a wrk script of JSON calls with the bench user's
# credentials; answers other than 2xx are counted as bad.
api_lua() {
    local file=$1 method=$2 body=$3
    shift 3
    write_lua "$file" 2xx "$method" "$body" "Content-Type=application/json" "Authorization=Basic $BASIC" "$@"
}

# check_first NAME URL METHOD BODY [HEADER=value ...]: one request like the ones wrk will send;
# must answer 200. Prints the body.
check_first() {
    local name=$1 url=$2 method=$3 body=$4 header out code
    shift 4
    local args=(-s -o "$WORK_DIR/first-$name" -w '%{http_code}' -X "$method" -u "$USER_NAME:$USER_PASSWORD"
        -H 'Content-Type: application/json' --data-binary "$body")
    for header in "$@"; do
        args+=(-H "${header%%=*}: ${header#*=}")
    done
    code=$(curl "${args[@]}" "$url") || die "$name: request to $url failed"
    out=$(cat "$WORK_DIR/first-$name")
    [ "$code" = 200 ] || die "$name: first answer was $code, not 200: $out"
    printf '%s' "$out"
}

# start_rss_sampler PID FILE: writes the peak VmRSS (KiB) of PID to FILE until stopped; sets SAMPLER_PID.
start_rss_sampler() {
    (
        peak=0
        while kill -0 "$1" 2>/dev/null; do
            rss=$(kib_field "$1" VmRSS 2>/dev/null || echo 0)
            [ "${rss:-0}" -gt "$peak" ] && peak=$rss && echo "$peak" >"$2"
            sleep 0.1
        done
    ) &
    SAMPLER_PID=$!
    STARTED_PIDS+=("$SAMPLER_PID")
}
MAX_CONNS=$(printf '%s\n' $CONNECTIONS | sort -n | tail -1)

# --- auth-service ----------------------------------------------------------------------------
PERMISSIONS_FILE=$WORK_DIR/permissions.jsonc
if [ -f "$PERMISSIONS_FIXTURE" ]; then
    cp "$PERMISSIONS_FIXTURE" "$PERMISSIONS_FILE"
else
    printf '{"roles":{"doctor-role":{"authorized-labels":["*"],"permissions":["view","download","share","send"]}},"available-labels":[]}\n' \
        >"$PERMISSIONS_FILE"
fi

start_server auth-service "$AUTH_SERVICE_BIN" \
    SECRET_KEY=bench-secret \
    USERS='{"bench":"bench-pass"}' \
    PUBLIC_ORTHANC_ROOT=http://127.0.0.1:8042/ \
    PERMISSIONS_FILE_PATH="$PERMISSIONS_FILE"
AUTH_PID=$SERVER_PID
AUTH_URL=$SERVER_URL
# Startup: the median of 15 fresh starts timed in-process by bench/startup.py (the curl loop of
# start_server costs a few ms per poll, more than the startup itself).
AUTH_STARTUP_MS=$(python3 "$BENCH_DIR/startup.py" "$AUTH_SERVICE_BIN" SECRET_KEY=bench-secret \
    USERS='{"bench":"bench-pass"}' PUBLIC_ORTHANC_ROOT=http://127.0.0.1:8042/ \
    PERMISSIONS_FILE_PATH="$PERMISSIONS_FILE")
sleep 1
AUTH_RSS_IDLE_KIB=$(kib_field "$AUTH_PID" VmRSS)

CREATE_BODY='{"id":"bench","resources":[{"dicom-uid":"1.2.3","orthanc-id":"6b1f3e2a-0c5d7e88-1a2b3c4d-5e6f7a8b-9c0d1e2f","level":"study"}],"type":"stone-viewer-publication","expiration-date":"2099-12-31T23:59:59Z"}'
CREATED=$(check_first create "$AUTH_URL/tokens/stone-viewer-publication" PUT "$CREATE_BODY")
TOKEN=$(printf '%s' "$CREATED" | python3 -c 'import json, sys; print(json.load(sys.stdin)["token"])') ||
    die "create: no .token in $CREATED"

VALIDATE_BODY='{"dicom-uid":"1.2.3","level":"study","method":"get","orthanc-id":"6b1f3e2a-0c5d7e88-1a2b3c4d-5e6f7a8b-9c0d1e2f","server-id":null,"token-key":"token","token-value":"'$TOKEN'"}'
DECODE_BODY='{"token-key":"token","token-value":"'$TOKEN'"}'

check_granted() { # check_granted NAME URL
    local answer
    answer=$(check_first "$1" "$2/tokens/validate" POST "$VALIDATE_BODY" "token=$TOKEN")
    printf '%s' "$answer" | python3 -c 'import json, sys; sys.exit(0 if json.load(sys.stdin).get("granted") is True else 1)' ||
        die "$1: validate did not grant the token: $answer"
}
check_granted validate "$AUTH_URL"
check_first decode "$AUTH_URL/tokens/decode" POST "$DECODE_BODY" >/dev/null

api_lua "$WORK_DIR/validate.lua" POST "$VALIDATE_BODY" "token=$TOKEN"
api_lua "$WORK_DIR/create.lua" PUT "$CREATE_BODY"
api_lua "$WORK_DIR/decode.lua" POST "$DECODE_BODY"

# 100,000 distinct valid tokens (signed like PyJWT with the same key), for the memory bound of the
# verified-share cache: a flood of distinct tokens must evict, never grow memory.
DISTINCT_TOKENS=${DISTINCT_TOKENS:-100000}
python3 - "$WORK_DIR/tokens.txt" "$DISTINCT_TOKENS" <<'PY'
import base64, hashlib, hmac, json, sys
b64 = lambda b: base64.urlsafe_b64encode(b).rstrip(b"=")
head = b64(b'{"alg":"HS256","typ":"JWT"}')
with open(sys.argv[1], "w") as out:
    for n in range(int(sys.argv[2])):
        claims = {"id": f"bench-{n}", "resources": [{"dicom_uid": "1.2.3", "orthanc_id": "6b1f3e2a-0c5d7e88-1a2b3c4d-5e6f7a8b-9c0d1e2f", "url": None, "level": "study"}],
                  "type": "stone-viewer-publication", "expiration_date": None, "validity_duration": None}
        signing = head + b"." + b64(json.dumps(claims, separators=(",", ":")).encode())
        sig = b64(hmac.new(b"bench-secret", signing, hashlib.sha256).digest())
        out.write((signing + b"." + sig).decode() + "\n")
PY
api_lua "$WORK_DIR/validate-distinct.lua" POST "$VALIDATE_BODY"
cat >>"$WORK_DIR/validate-distinct.lua" <<LUA

-- Each thread walks the token list from its own offset: every request sends another token.
local tokens = {}
for line in io.lines("$WORK_DIR/tokens.txt") do tokens[#tokens + 1] = line end
local next_index = math.random(#tokens)
function request()
    next_index = next_index % #tokens + 1
    local body = '{"dicom-uid":"1.2.3","level":"study","method":"get","orthanc-id":"6b1f3e2a-0c5d7e88-1a2b3c4d-5e6f7a8b-9c0d1e2f","server-id":null,"token-key":"token","token-value":"' .. tokens[next_index] .. '"}'
    return wrk.format(nil, nil, nil, body)
end
LUA

# The ceiling runs beside auth-service (an idle server costs no CPU) so that each validate run and
# its ceiling run follow each other: a background load that comes and goes hits both alike.
start_server ceiling "$CEILING_BIN"
CEILING_PID=$SERVER_PID
CEILING_URL=$SERVER_URL
CEILING_STARTUP_MS=$(python3 "$BENCH_DIR/startup.py" "$CEILING_BIN")
sleep 1
CEILING_RSS_IDLE_KIB=$(kib_field "$CEILING_PID" VmRSS)
check_granted ceiling "$CEILING_URL"

# Discarded warm-up: first connections, page faults, allocator growth.
log "warm-up (2 s each, not reported)"
warm_up "$MAX_CONNS" "$WORK_DIR/validate.lua" "$AUTH_URL/tokens/validate"
warm_up "$MAX_CONNS" "$WORK_DIR/validate.lua" "$CEILING_URL/tokens/validate"

for conns in $CONNECTIONS; do
    if [ "$conns" = "$MAX_CONNS" ]; then
        # Sample RSS while the heaviest validate load runs.
        start_rss_sampler "$AUTH_PID" "$WORK_DIR/rss-peak"
        run_wrk validate "$conns" "$WORK_DIR/validate.lua" "$AUTH_URL/tokens/validate"
        stop_server "$SAMPLER_PID"
    else
        run_wrk validate "$conns" "$WORK_DIR/validate.lua" "$AUTH_URL/tokens/validate"
    fi
    run_wrk ceiling "$conns" "$WORK_DIR/validate.lua" "$CEILING_URL/tokens/validate"
done
stop_server "$CEILING_PID"
AUTH_RSS_LOAD_KIB=$(cat "$WORK_DIR/rss-peak" 2>/dev/null || echo 0)
start_rss_sampler "$AUTH_PID" "$WORK_DIR/rss-distinct"
run_wrk validate-100k "$MAX_CONNS" "$WORK_DIR/validate-distinct.lua" "$AUTH_URL/tokens/validate"
stop_server "$SAMPLER_PID"
AUTH_RSS_DISTINCT_KIB=$(cat "$WORK_DIR/rss-distinct" 2>/dev/null || echo 0)
# The split right after that load: anonymous memory (heap, caches, stacks) is what the service
# holds; file-backed pages are the binary's own code, read in as it runs and shared/reclaimable.
AUTH_ANON_DISTINCT_KIB=$(kib_field "$AUTH_PID" RssAnon)
AUTH_FILE_DISTINCT_KIB=$(kib_field "$AUTH_PID" RssFile)
for conns in $CONNECTIONS; do
    run_wrk create "$conns" "$WORK_DIR/create.lua" "$AUTH_URL/tokens/stone-viewer-publication"
done
for conns in $CONNECTIONS; do
    run_wrk decode "$conns" "$WORK_DIR/decode.lua" "$AUTH_URL/tokens/decode"
done
AUTH_HWM_KIB=$(kib_field "$AUTH_PID" VmHWM)
stop_server "$AUTH_PID"

# --- get-profile: Keycloak access tokens -----------------------------------------------------
# A second auth-service, ENABLE_KEYCLOAK=true, pointed at the tests' stand-in realm. Every request
# carries a real RS256 access token issued by the realm; the realm keys must come from the cache.
cpu_ms() { # cpu_ms PID -> user + system CPU time in ms
    awk -v hz="$(getconf CLK_TCK)" '{ sub(/^.*\) /, ""); printf "%d", ($12 + $13) * 1000 / hz }' "/proc/$1/stat"
}
realm_stat() { # realm_stat jwks|discovery|token -> how many such requests the realm answered
    curl -s "$REALM_URL/__test/stats" | python3 -c 'import json, sys; print(json.load(sys.stdin)[sys.argv[1]])' "$1"
}
realm_token() { # a fresh access token for REALM_CLIENT (client-credentials grant)
    local answer
    answer=$(curl -s -u "$REALM_CLIENT:$REALM_CLIENT_SECRET" -d grant_type=client_credentials \
        "$REALM_URL/realms/orthanc/protocol/openid-connect/token") || die "realm: token request failed"
    printf '%s' "$answer" | python3 -c 'import json, sys; print(json.load(sys.stdin)["access_token"])' ||
        die "realm: no access_token in $answer"
}
# profile_lua: takes a fresh token, checks that auth-service answers 200 with the user's profile
# (named, with permissions: not the anonymous one), and writes get-profile.lua sending it.
profile_lua() {
    local token body answer
    token=$(realm_token)
    body='{"token-key":"Authorization","token-value":"Bearer '$token'","server-id":null}'
    answer=$(check_first get-profile "$KC_URL/user/get-profile" POST "$body")
    printf '%s' "$answer" | python3 -c '
import json, sys
p = json.load(sys.stdin)
sys.exit(0 if p.get("name") not in (None, "", "Anonymous") and p.get("permissions") else 1)' ||
        die "get-profile: the access token gave no user profile (anonymous?): $answer"
    api_lua "$WORK_DIR/get-profile.lua" POST "$body"
    PROFILE_ANSWER=$answer
}

if [ -z "$GET_PROFILE_SKIPPED" ]; then
    mkdir -p "$WORK_DIR/realm"
    (cd "$REALM_DIR" && exec env -i PATH="$PATH" HOME="$HOME" PORT=0 KEY_ID=bench-key node realm.mjs) \
        >"$WORK_DIR/realm/out" 2>"$WORK_DIR/realm/log" &
    REALM_PID=$!
    STARTED_PIDS+=("$REALM_PID")
    for _ in $(seq 300); do
        [ -s "$WORK_DIR/realm/out" ] && break
        kill -0 "$REALM_PID" 2>/dev/null || { cat "$WORK_DIR/realm/log" >&2; die "the realm exited at start"; }
        sleep 0.1
    done
    REALM_PORT=$(head -1 "$WORK_DIR/realm/out" | python3 -c 'import json, sys; print(json.load(sys.stdin)["port"])') ||
        die "the realm did not print its port within 30 s"
    REALM_URL=http://127.0.0.1:$REALM_PORT
    log "realm up on $REALM_URL (pid $REALM_PID)"

    start_server auth-service-keycloak "$AUTH_SERVICE_BIN" \
        SECRET_KEY=bench-secret \
        USERS='{"bench":"bench-pass"}' \
        PUBLIC_ORTHANC_ROOT=http://127.0.0.1:8042/ \
        PERMISSIONS_FILE_PATH="$PERMISSIONS_FILE" \
        ENABLE_KEYCLOAK=true \
        KEYCLOAK_URI="$REALM_URL/realms/orthanc/"
    KC_PID=$SERVER_PID
    KC_URL=$SERVER_URL

    profile_lua
    log "get-profile answers: $PROFILE_ANSWER"
    # Keys are cached from here on: count what the realm serves from now until the last run.
    REALM_JWKS_BEFORE=$(realm_stat jwks)
    REALM_DISCOVERY_BEFORE=$(realm_stat discovery)
    REALM_CPU_BEFORE=$(cpu_ms "$REALM_PID")
    log "warm-up (2 s, not reported)"
    warm_up "$MAX_CONNS" "$WORK_DIR/get-profile.lua" "$KC_URL/user/get-profile"
    for conns in $CONNECTIONS; do
        profile_lua # a fresh token per run: they live 300 s
        run_wrk get-profile "$conns" "$WORK_DIR/get-profile.lua" "$KC_URL/user/get-profile"
    done
    REALM_CPU_MS=$(($(cpu_ms "$REALM_PID") - REALM_CPU_BEFORE))
    REALM_JWKS_LOAD=$(($(realm_stat jwks) - REALM_JWKS_BEFORE))
    REALM_DISCOVERY_LOAD=$(($(realm_stat discovery) - REALM_DISCOVERY_BEFORE))
    REALM_JWKS_TOTAL=$(realm_stat jwks)
    stop_server "$KC_PID"
    stop_server "$REALM_PID"
fi

# --- report ----------------------------------------------------------------------------------
{
    header_line
    print_rows
    [ -z "$GET_PROFILE_SKIPPED" ] || printf 'get-profile SKIPPED: %s\n' "$GET_PROFILE_SKIPPED"
    echo
    printf '%-42s %s\n' 'startup_ms auth-service' "$AUTH_STARTUP_MS"
    printf '%-42s %s\n' 'startup_ms ceiling' "$CEILING_STARTUP_MS"
    printf '%-42s %s\n' 'rss_idle_mib auth-service' "$(mib "$AUTH_RSS_IDLE_KIB")"
    printf '%-42s %s\n' 'rss_idle_mib ceiling' "$(mib "$CEILING_RSS_IDLE_KIB")"
    printf '%-42s %s\n' "rss_load_mib auth-service (validate c$MAX_CONNS)" "$(mib "$AUTH_RSS_LOAD_KIB")"
    printf '%-42s %s\n' "rss_load_mib auth-service ($DISTINCT_TOKENS tokens c$MAX_CONNS)" "$(mib "$AUTH_RSS_DISTINCT_KIB")"
    printf '%-42s %s\n' "rss_anon_mib auth-service (after $DISTINCT_TOKENS tokens)" "$(mib "$AUTH_ANON_DISTINCT_KIB")"
    printf '%-42s %s\n' "rss_file_mib auth-service (after $DISTINCT_TOKENS tokens)" "$(mib "$AUTH_FILE_DISTINCT_KIB")"
    printf '%-42s %s\n' 'rss_hwm_mib auth-service (whole run)' "$(mib "$AUTH_HWM_KIB")"
    share() { awk -v a="$(rate "$1" "$3")" -v b="$(rate "$2" "$3")" 'BEGIN { if (a && b) printf "%.1f %%", 100 * a / b; else print "n/a" }'; }
    for conns in $CONNECTIONS; do
        for scenario in validate create decode get-profile; do
            printf '%-42s %s\n' "$scenario/ceiling c$conns" "$(share "$scenario" ceiling "$conns")"
        done
        for scenario in create decode; do
            printf '%-42s %s\n' "$scenario/validate c$conns" "$(share "$scenario" validate "$conns")"
        done
    done
    printf '%-42s %s\n' "validate-100k/ceiling c$MAX_CONNS" "$(share validate-100k ceiling "$MAX_CONNS")"
    if [ -z "$GET_PROFILE_SKIPPED" ]; then
        printf '%-42s %s\n' 'realm_jwks_calls get-profile (load)' "$REALM_JWKS_LOAD"
        printf '%-42s %s\n' 'realm_discovery_calls get-profile (load)' "$REALM_DISCOVERY_LOAD"
        printf '%-42s %s\n' 'realm_jwks_calls get-profile (whole)' "$REALM_JWKS_TOTAL"
        printf '%-42s %s\n' 'realm_cpu_ms get-profile (load)' "$REALM_CPU_MS"
    fi
} >"$WORK_DIR/report"
echo
cat "$WORK_DIR/report"
cp "$WORK_DIR/report" "$RESULTS_FILE"
log "written to ${RESULTS_FILE#"$REPO_DIR"/}"
[ -z "$GET_PROFILE_SKIPPED" ] || printf '\n!!!!! get-profile SKIPPED: %s !!!!!\n\n' "$GET_PROFILE_SKIPPED" >&2
# Keys cached means the realm's JWKS is not fetched during the load at all (a key refetch happens
# only for an unknown key id); anything beyond a couple of fetches means per-request fetching.
if [ -z "$GET_PROFILE_SKIPPED" ] && [ $((REALM_JWKS_LOAD + REALM_DISCOVERY_LOAD)) -gt 2 ]; then
    die "get-profile: the realm served $REALM_JWKS_LOAD JWKS and $REALM_DISCOVERY_LOAD discovery requests during the load: keys are not cached"
fi
