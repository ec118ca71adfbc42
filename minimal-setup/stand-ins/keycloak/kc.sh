#!/bin/bash
# Stand-in for Keycloak's bin/kc.sh: `start [--import-realm]`. Serves realm "orthanc" under
# KC_HTTP_RELATIVE_PATH on port 8080 (readiness on 9000, BASE/health/ready), tokens issued by
# KC_HOSTNAME/realms/orthanc, the other endpoints named after the caller's host. With
# --import-realm, the first JSON file of /opt/keycloak/data/import/ supplies users, roles and the
# admin-cli secret, its ${VAR} placeholders filled from the environment (as Keycloak's import
# does). Like Keycloak, it exits at start when its database (KC_DB_URL) refuses connections.
set -euo pipefail
case "${1:-}" in
    start|start-dev) ;;
    *) echo "kc.sh stand-in: only 'start' is stood in" >&2; exit 2 ;;
esac
realm_file=""
for arg in "$@"; do
    if [ "$arg" = --import-realm ]; then
        realm_file="$(find /opt/keycloak/data/import -maxdepth 1 -name '*.json' | sort | head -1)"
    fi
done
if [ -n "${KC_DB_URL:-}" ]; then
    where="${KC_DB_URL#jdbc:postgresql://}"
    where="${where%%/*}"
    host="${where%%:*}"
    port="${where##*:}"
    [ "$port" = "$where" ] && port=5432
    if ! (exec 3<>"/dev/tcp/$host/$port") 2>/dev/null; then
        echo "kc.sh stand-in: the database at $host:$port refused the connection; stopping (as Keycloak does)" >&2
        exit 1
    fi
fi
export HOST=0.0.0.0 PORT=8080 MANAGEMENT_PORT=9000 BASE_PATH="${KC_HTTP_RELATIVE_PATH:-}" \
    ISSUER_BASE="${KC_HOSTNAME:-}" REALM_FILE="$realm_file"
cd /opt/keycloak-stand-in
# Debian bookworm's Node 18: Web Crypto (jose) is behind a flag, URL.parse (oidc-provider) is shimmed.
exec node --experimental-global-webcrypto --import ./node18-shims.mjs realm.mjs
