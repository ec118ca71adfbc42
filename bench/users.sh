#!/usr/bin/env bash
# `auth-service users` (release build) on a realm of USERS_COUNT users: the tests' realm stand-in
# (auth-service/tests/support/oidc/realm.mjs: Node, a real OpenID provider and the admin-API
# double) filled with generated users, then listed RUNS times: one `GET users` page per 100
# users, one composite-role look-up per user, 8 at a time. Traffic goes to 127.0.0.1 only; every
# process started here is stopped on exit.
#
#   bash bench/users.sh                       # defaults: USERS_COUNT=3000 RUNS=3
#   USERS_COUNT=10000 RUNS=1 bash bench/users.sh
#   BUILD=0 bash bench/users.sh               # the release binary already in target/release
#   AUTH_SERVICE_BIN=target/debug/auth-service bash bench/users.sh   # another build (not built here)
#
# Prints one row per run: users listed, wall seconds, users per second, admin-API requests, and
# the CPU seconds of auth-service and of the stand-in (one Node thread: a real Keycloak answers
# the look-ups on several threads, so the stand-in's share is a floor on what Keycloak costs, not
# a measure of it). Rows go to bench/last-users-run.txt too.
set -euo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

USERS_COUNT=${USERS_COUNT:-3000}
RUNS=${RUNS:-3}
RESULTS_FILE=$BENCH_DIR/last-users-run.txt
BIN=${AUTH_SERVICE_BIN:-$REPO_DIR/target/release/auth-service}
ADMIN_CLI_SECRET=bench-admin-cli-secret

bench_init users
{ command -v node >/dev/null && command -v npm >/dev/null; } || apt_install nodejs npm
[ "${BUILD:-1}" = 0 ] || [ -n "${AUTH_SERVICE_BIN:-}" ] || build auth-service
[ -x "$BIN" ] || die "no auth-service binary at $BIN"

# The stand-in beside its npm packages, under target/ as the tests install it.
STAND_IN=$REPO_DIR/target/bench-tools/oidc
mkdir -p "$STAND_IN"
cp "$REPO_DIR"/auth-service/tests/support/oidc/{package.json,package-lock.json,realm.mjs} "$STAND_IN/"
if ! cmp -s "$STAND_IN/package-lock.json" "$STAND_IN/node_modules/.bench-installed" 2>/dev/null; then
    log "npm ci (the realm stand-in's packages)"
    (cd "$STAND_IN" && npm ci --no-audit --no-fund --loglevel=error)
    cp "$STAND_IN/package-lock.json" "$STAND_IN/node_modules/.bench-installed"
fi
REALM_PORT=$(free_port)
(cd "$STAND_IN" && exec env PORT="$REALM_PORT" ADMIN_CLI_SECRET="$ADMIN_CLI_SECRET" node realm.mjs) \
    >"$WORK_DIR/realm.log" 2>&1 &
REALM_PID=$!
STARTED_PIDS+=("$REALM_PID")
REALM=http://127.0.0.1:$REALM_PORT
wait_http realm "$REALM_PID" "$REALM/__test/stats" 200
TOTAL=$(curl -s -X POST --data "{\"count\": $USERS_COUNT}" "$REALM/__test/populate" |
    python3 -c 'import json, sys; print(json.load(sys.stdin)["users"])')
log "realm stand-in on $REALM with $TOTAL users"
printf '{"roles": {"doctor-role": {"authorized-labels": ["*"], "permissions": ["view"]}, "external-role": {"authorized-labels": ["external"], "permissions": ["view"]}}}\n' \
    >"$WORK_DIR/permissions.json"

printf '%-4s %7s %8s %8s %9s %13s %13s\n' run users seconds users/s requests cpu_service_s cpu_stand_in_s |
    tee "$RESULTS_FILE"
for run in $(seq "$RUNS"); do
    python3 - "$run" "$BIN" "$REALM" "$REALM_PID" "$TOTAL" "$WORK_DIR" "$ADMIN_CLI_SECRET" <<'PY' | tee -a "$RESULTS_FILE"
import json, os, resource, subprocess, sys, time, urllib.request

run, binary, realm, realm_pid, total, work, secret = sys.argv[1:]
def stats():
    with urllib.request.urlopen(f"{realm}/__test/stats") as r:
        return json.load(r)
def node_cpu():
    fields = open(f"/proc/{realm_pid}/stat").read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
env = {
    "PATH": os.environ["PATH"], "SECRET_KEY": "bench", "USERS": '{"bench": "bench-pass"}',
    "SECRETS_DIR": "/nonexistent", "DATA_DIR": work, "ENABLE_KEYCLOAK": "true",
    "ENABLE_KEYCLOAK_API_KEYS": "true", "KEYCLOAK_URI": f"{realm}/realms/orthanc/",
    "KEYCLOAK_ADMIN_URI": f"{realm}/admin/realms/orthanc/", "KEYCLOAK_CLIENT_SECRET": secret,
    "PERMISSIONS_FILE_PATH": f"{work}/permissions.json",
}
before, cpu_before, node_before = stats()["admin"], resource.getrusage(resource.RUSAGE_CHILDREN), node_cpu()
started = time.monotonic()
out = subprocess.run([binary, "users", "--json"], env=env, capture_output=True)
seconds = time.monotonic() - started
cpu = resource.getrusage(resource.RUSAGE_CHILDREN)
if out.returncode not in (0, 1):
    sys.exit(f"auth-service users failed ({out.returncode}): {out.stderr.decode()}")
listed = len(json.loads(out.stdout)["users"])
if listed != int(total):
    sys.exit(f"listed {listed} users of {total}")
service_cpu = cpu.ru_utime + cpu.ru_stime - cpu_before.ru_utime - cpu_before.ru_stime
print(f"{run:<4} {listed:7d} {seconds:8.2f} {listed / seconds:8.0f} {stats()['admin'] - before:9d} "
      f"{service_cpu:13.2f} {node_cpu() - node_before:13.2f}")
PY
done
log "rows written to $RESULTS_FILE"
