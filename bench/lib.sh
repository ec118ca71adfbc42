# Shared by the bench/*.sh scripts (sourced, not run): tools, a temp work folder, the processes a
# script starts (all stopped on exit), free loopback ports, waiting for a server, wrk's Lua script
# and its result rows. Traffic goes to 127.0.0.1 only.
#
#   . "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
#   bench_init NAME          # log/die prefix, wrk and curl (apt) if missing, WORK_DIR, exit trap

BENCH_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO_DIR=$(cd "$BENCH_DIR/.." && pwd)
WRK_THREADS=${WRK_THREADS:-2}
STARTED_PIDS=()

log() { printf '==> %s\n' "$*" >&2; }
die() { printf 'bench/%s: %s\n' "${BENCH_NAME:-bench}" "$*" >&2; exit 1; }

# bench_init NAME: installs wrk and curl (Debian packages) when missing, needs python3, makes
# WORK_DIR and stops every process in STARTED_PIDS on exit (then calls bench_cleanup_extra, when
# the script defines it, and removes WORK_DIR).
bench_init() {
    BENCH_NAME=$1
    command -v wrk >/dev/null || apt_install wrk
    command -v curl >/dev/null || apt_install curl
    command -v python3 >/dev/null || die "python3 is needed (free ports, JSON)"
    WORK_DIR=$(mktemp -d "${TMPDIR:-/tmp}/bench-$BENCH_NAME.XXXXXX")
    : >"$WORK_DIR/rows"
    trap bench_cleanup EXIT
    trap 'exit 130' INT
    trap 'exit 143' TERM
}

# apt_install PACKAGE...: Debian packages (through sudo when not root).
apt_install() {
    local sudo=
    [ "$(id -u)" -eq 0 ] || sudo=sudo
    log "installing $* (Debian packages)"
    $sudo apt-get update
    $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "$@"
}

bench_cleanup() {
    local pid
    for pid in "${STARTED_PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
    for pid in "${STARTED_PIDS[@]}"; do wait "$pid" 2>/dev/null || true; done
    if declare -F bench_cleanup_extra >/dev/null; then bench_cleanup_extra || true; fi
    rm -rf "$WORK_DIR"
}

# build PACKAGE...: the release binaries of these workspace packages.
build() {
    local args=() package
    for package in "$@"; do args+=(-p "$package"); done
    log "building $* (release)"
    (cd "$REPO_DIR" && cargo build --release "${args[@]}")
}

# free_port: a loopback port free now and not handed out before in this run (the kernel can give
# a just-closed port back to the next pick, and two servers would then race for it).
free_port() {
    python3 - "$WORK_DIR/ports" <<'PY'
import socket, sys
with open(sys.argv[1], "a+") as taken:
    taken.seek(0)
    used = set(taken.read().split())
    held = []
    while True:
        s = socket.socket()
        s.bind(("127.0.0.1", 0))
        held.append(s)
        port = str(s.getsockname()[1])
        if port not in used:
            break
    taken.write(port + "\n")
    print(port)
PY
}

now_us() { local t=${EPOCHREALTIME/[.,]/}; echo $((10#$t)); }

# wait_http NAME PID URL CODE [curl args...]: polls until URL answers CODE (30 s at most); dies,
# showing the log in the process's folder when there is one, if PID exits first.
wait_http() {
    local name=$1 pid=$2 url=$3 want=$4 code=000
    shift 4
    for _ in $(seq 3000); do
        code=$(curl -s -o /dev/null -w '%{http_code}' "$@" "$url" || true)
        [ "$code" = "$want" ] && return 0
        if ! kill -0 "$pid" 2>/dev/null; then
            [ -f "$WORK_DIR/$name/log" ] && cat "$WORK_DIR/$name/log" >&2
            die "$name exited at start"
        fi
        sleep 0.01
    done
    [ -f "$WORK_DIR/$name/log" ] && cat "$WORK_DIR/$name/log" >&2
    die "$name did not answer $want on $url within 30 s (last: $code)"
}

# start_server NAME BINARY [VAR=value ...]: runs BINARY on a free port in its own folder under
# WORK_DIR (log there too) with a clean environment plus the given variables, BIND_ADDRESS and no
# /run/secrets (SECRETS_DIR points nowhere); waits for 200 on GET /health. Nothing else is set:
# logging (RUST_LOG, one access line per request) and metrics are as a user runs them; a script
# that measures a trimmed configuration passes RUST_LOG=... itself and labels the row. Sets SERVER_PID, SERVER_PORT, SERVER_URL and
# STARTUP_MS (from spawn to that first 200). `PORT=N start_server ...` picks the port.
start_server() {
    local name=$1 binary=$2 started
    shift 2
    SERVER_PORT=${PORT:-$(free_port)}
    SERVER_URL=http://127.0.0.1:$SERVER_PORT
    mkdir -p "$WORK_DIR/$name"
    started=$(now_us)
    (cd "$WORK_DIR/$name" && exec env -i PATH="$PATH" HOME="$HOME" SECRETS_DIR=/nonexistent \
        BIND_ADDRESS="127.0.0.1:$SERVER_PORT" "$@" "$binary") >"$WORK_DIR/$name/log" 2>&1 &
    SERVER_PID=$!
    STARTED_PIDS+=("$SERVER_PID")
    wait_http "$name" "$SERVER_PID" "$SERVER_URL/health" 200
    STARTUP_MS=$(awk -v d="$(($(now_us) - started))" 'BEGIN { printf "%.1f", d / 1000 }')
    log "$name up on $SERVER_URL (pid $SERVER_PID) in $STARTUP_MS ms"
}

stop_server() {
    kill "$1" 2>/dev/null || true
    wait "$1" 2>/dev/null || true
}

b64() { printf '%s' "$1" | base64 | tr -d '\n'; }

# write_lua FILE EXPECT METHOD BODY [HEADER=value ...]: a wrk script sending METHOD (GET when
# empty) with BODY (none when empty) and the headers. EXPECT is the status every answer should
# have, or 2xx; the others are counted as "bad". Each thread gets a number in `tid` (scripts that
# append a request() use it to make bodies distinct). done() prints one "BENCH ..." line.
write_lua() {
    local file=$1 expect=$2 method=$3 body=$4 header check
    shift 4
    if [ "$expect" = 2xx ]; then
        check='status < 200 or status > 299'
    else
        check="status ~= $expect"
    fi
    {
        [ -z "$method" ] || printf 'wrk.method = "%s"\n' "$method"
        [ -z "$body" ] || printf 'wrk.body = [==[%s]==]\n' "$body"
        for header in "$@"; do
            printf 'wrk.headers["%s"] = [==[%s]==]\n' "${header%%=*}" "${header#*=}"
        done
        cat <<LUA

-- Each wrk thread has its own Lua state: count there, sum in done() through the thread handles.
bad = 0
local threads = {}

function setup(thread)
    table.insert(threads, thread)
    thread:set("tid", #threads)
end

function response(status, headers, body)
    if $check then bad = bad + 1 end
end

function done(summary, latency, requests)
    local b = 0
    for _, thread in ipairs(threads) do b = b + thread:get("bad") end
    local e = summary.errors
    io.write(string.format("BENCH requests=%d duration_us=%d p50_us=%d p99_us=%d bad=%d socket_errors=%d\n",
        summary.requests, summary.duration, latency:percentile(50), latency:percentile(99), b,
        e.connect + e.read + e.write + e.timeout))
end
LUA
    } >"$file"
}

# run_wrk LABEL CONNECTIONS LUA URL: runs wrk for DURATION (wrk's output goes to stderr) and
# appends "LABEL CONNECTIONS req/s p50_ms p99_ms bad sock_err" to WORK_DIR/rows.
run_wrk() {
    local label=$1 conns=$2 lua=$3 url=$4 out line
    log "wrk $label: -t$WRK_THREADS -c$conns -d$DURATION"
    out=$(wrk -t"$WRK_THREADS" -c"$conns" -d"$DURATION" --latency -s "$lua" "$url")
    printf '%s\n' "$out" | sed 's/^/    /' >&2
    line=$(printf '%s\n' "$out" | grep '^BENCH ') || die "$label: wrk printed no summary"
    printf '%s\n' "$line" | awk -v label="$label" -v conns="$conns" '{
        for (i = 2; i <= NF; i++) { split($i, kv, "="); v[kv[1]] = kv[2] }
        printf "%s %s %.0f %.2f %.2f %d %d\n", label, conns, v["requests"] / (v["duration_us"] / 1e6),
            v["p50_us"] / 1000, v["p99_us"] / 1000, v["bad"], v["socket_errors"]
    }' >>"$WORK_DIR/rows"
}

# warm_up CONNECTIONS LUA URL: 2 s of wrk, not reported.
warm_up() {
    wrk -t"$WRK_THREADS" -c"$1" -d2s -s "$2" "$3" >/dev/null
}

# rate LABEL CONNECTIONS: req/s of that row.
rate() { awk -v s="$1" -v c="$2" '$1 == s && $2 == c { print $3 }' "$WORK_DIR/rows"; }

# print_rows: the rows as a table.
print_rows() {
    printf '%-18s %6s %10s %8s %8s %6s %8s\n' scenario conns req/s p50_ms p99_ms bad sock_err
    awk '{ printf "%-18s %6s %10s %8s %8s %6s %8s\n", $1, $2, $3, $4, $5, $6, $7 }' "$WORK_DIR/rows"
}

# ratio TEXT A B: prints "TEXT: A/B %", or "TEXT: n/a" when B is missing or zero.
ratio() {
    awk -v t="$1" -v a="${2:-0}" -v b="${3:-0}" \
        'BEGIN { if (b > 0) printf "%s: %.1f %%\n", t, 100 * a / b; else printf "%s: n/a\n", t }'
}

# header_line: when, where and what was measured, for the results files.
header_line() {
    printf '# %s %s, nproc %s, commit %s, wrk -t%s -d%s\n' "$BENCH_NAME" "$(date -u +%FT%TZ)" "$(nproc)" \
        "$(git -C "$REPO_DIR" rev-parse --short HEAD 2>/dev/null || echo unknown)" "$WRK_THREADS" "$DURATION"
}

# Orthanc (Debian's, with the DICOMweb plugin) on a free port in WORK_DIR/orthanc, one
# registered user, and one instance with a small image. Installs the packages when missing.
# Sets ORTHANC_PORT, ORTHANC_USER, ORTHANC_PASSWORD, INSTANCE, STUDY, STUDY_UID.
start_orthanc_one_instance() {
    local need=() plugin orthanc created f
    for f in /usr/share/orthanc/plugins/libOrthancDicomWeb.so /usr/lib/orthanc/libOrthancDicomWeb.so*; do
        [ -f "$f" ] && { plugin=$f; break; }
    done
    command -v Orthanc >/dev/null || [ -x /usr/sbin/Orthanc ] || need+=(orthanc)
    [ -n "${plugin:-}" ] || need+=(orthanc-dicomweb)
    if [ ${#need[@]} -gt 0 ]; then
        apt_install "${need[@]}"
        for f in /usr/share/orthanc/plugins/libOrthancDicomWeb.so /usr/lib/orthanc/libOrthancDicomWeb.so*; do
            [ -f "$f" ] && { plugin=$f; break; }
        done
    fi
    orthanc=$(command -v Orthanc || echo /usr/sbin/Orthanc)
    ORTHANC_USER=bench-gate
    ORTHANC_PASSWORD=bench-gate-pass
    ORTHANC_PORT=$(free_port)
    mkdir -p "$WORK_DIR/orthanc"
    python3 - "$WORK_DIR/orthanc" "$ORTHANC_PORT" "$plugin" "$ORTHANC_USER" "$ORTHANC_PASSWORD" <<'PY'
import json, sys
d, port, plugin, user, pw = sys.argv[1:]
json.dump({"Name": "bench", "StorageDirectory": d + "/db", "IndexDirectory": d + "/db",
           "HttpPort": int(port), "DicomServerEnabled": False, "DicomPort": 0,
           "RemoteAccessAllowed": False, "AuthenticationEnabled": True,
           "RegisteredUsers": {user: pw}, "Plugins": [plugin], "HttpCompressionEnabled": False},
          open(d + "/orthanc.json", "w"))
PY
    "$orthanc" "$WORK_DIR/orthanc/orthanc.json" >"$WORK_DIR/orthanc/log" 2>&1 &
    STARTED_PIDS+=($!)
    wait_http Orthanc $! "http://127.0.0.1:$ORTHANC_PORT/system" 200 -u "$ORTHANC_USER:$ORTHANC_PASSWORD"
    local png=iVBORw0KGgoAAAANSUhEUgAAAAgAAAAICAAAAADhZOFXAAAAFElEQVR4nGNgUHBIaFhw4AEDZQwAxnUcAVpktvoAAAAASUVORK5CYII=
    STUDY_UID=1.2.826.0.1.3680043.10.543.77
    created=$(curl -sf -u "$ORTHANC_USER:$ORTHANC_PASSWORD" "http://127.0.0.1:$ORTHANC_PORT/tools/create-dicom" \
        -d '{"Force":true,"Tags":{"PatientID":"BENCH","StudyInstanceUID":"'$STUDY_UID'","SeriesInstanceUID":"'$STUDY_UID'.1","SOPInstanceUID":"'$STUDY_UID'.1.1","Modality":"OT"},"Content":"data:image/png;base64,'$png'"}') ||
        die "create-dicom failed"
    read -r INSTANCE STUDY < <(printf '%s' "$created" | python3 -c 'import json, sys; c = json.load(sys.stdin); print(c["ID"], c["ParentStudy"])')
}
