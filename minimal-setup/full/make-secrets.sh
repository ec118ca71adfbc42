#!/usr/bin/env bash
# Makes this stack's secrets on first run, under SECRETS_DIR (.env; default ./secrets). Random
# passwords and keys are made once and kept; the files derived from them (USERS, Orthanc users,
# DATABASE_URL, nginx credential snippets, meddream.env) are rewritten from them on every run, so
# editing a password file and running this again is how a password changes (PostgreSQL keeps the
# passwords it was created with, Keycloak the realm users' first ones: change them there too).
set -euo pipefail
cd "$(dirname "$0")"
dir="${SECRETS_DIR:-$(sed -n 's/^SECRETS_DIR=//p' .env)}"
dir="${dir:-./secrets}"
umask 077
mkdir -p "$dir"
chmod 700 "$dir"

random() { head -c 48 /dev/urandom | base64 | tr -d '/+=\n' | head -c "$1"; }
once() { # name length
    if [ ! -s "$dir/$1" ]; then random "$2" >"$dir/$1"; echo "made $dir/$1"; fi
}
value() { tr -d '\n' <"$dir/$1"; }
basic() { printf '%s:%s' "$1" "$2" | base64 | tr -d '\n'; }

once SECRET_KEY 48                  # signs share tokens: links stop working if it changes
once share-user-password 32         # auth-service's account for the plugin, nginx, landing page
once share-gate-password 32         # Orthanc-for-API account of the token gate
once meddream-password 32           # Orthanc-for-API account of MedDream
once KEYCLOAK_CLIENT_SECRET 32      # client admin-cli of realm orthanc (imported on first start)
once keycloak-admin-password 20     # Keycloak's master-realm administrator "admin"
once keycloak-db-password 32        # Keycloak's PostgreSQL
once realm-admin-password 20        # realm user "admin" (OE2), first login only
once realm-doctor-password 20       # realm user "doctor"
once realm-external-password 20     # realm user "external"
once meddream-admin-password 20     # MedDream's own user "admin" (licence registration)
once orthanc-db-password 32         # PostgreSQL: Orthanc's index
once share-registry-db-password 32  # PostgreSQL: the share registry

printf '{"share-user": "%s"}\n' "$(value share-user-password)" >"$dir/USERS"
printf '{"share-gate": "%s", "meddream": "%s"}\n' "$(value share-gate-password)" "$(value meddream-password)" \
    >"$dir/ORTHANC__REGISTERED_USERS"
printf 'postgres://share_registry:%s@db:5432/share_registry\n' "$(value share-registry-db-password)" \
    >"$dir/DATABASE_URL"
printf 'proxy_set_header Authorization "Basic %s";\n' "$(basic share-user "$(value share-user-password)")" \
    >"$dir/nginx-gate-auth.conf"
printf 'proxy_set_header Authorization "Basic %s";\n' "$(basic share-gate "$(value share-gate-password)")" \
    >"$dir/nginx-orthanc-auth.conf"
printf 'ORTHANC_PWD=%s\nMEDDREAM_ADMIN_PASSWORD=%s\n' "$(value meddream-password)" "$(value meddream-admin-password)" \
    >"$dir/meddream.env"

# Containers run as their own non-root users and read these through bind mounts: the files are
# world-readable, the folder is not.
chmod 644 "$dir"/*
echo "secrets ready in $dir"
echo "  Keycloak admin console: admin, password in $dir/keycloak-admin-password"
echo "  OE2 (realm users, first login, then a password of their own): admin, doctor, external,"
echo "  passwords in $dir/realm-admin-password, realm-doctor-password, realm-external-password"
echo "  MedDream (profile meddream): admin, password in $dir/meddream-admin-password"
