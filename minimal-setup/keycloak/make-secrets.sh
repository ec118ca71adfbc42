#!/usr/bin/env bash
# Makes this stack's secrets on first run, under SECRETS_DIR (.env; default ./secrets). Random
# passwords and keys are made once and kept; the file derived from them (USERS) is rewritten from
# them on every run, so editing a password file and running this again is how a password changes.
# The realm users' first passwords (realm-*-password) are imported once, with the realm, on
# Keycloak's first start; each user changes it at first login (README).
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

once SECRET_KEY 48                # signs share tokens: links stop working if it changes
once share-user-password 32       # auth-service's account for Orthanc's plugin, nginx, landing page
once KEYCLOAK_CLIENT_SECRET 32    # client admin-cli of realm orthanc (imported on first start)
once keycloak-admin-password 20   # Keycloak's master-realm administrator "admin"
once keycloak-db-password 32      # Keycloak's PostgreSQL
once realm-admin-password 20      # realm user "admin" (OE2), first login only
once realm-doctor-password 20     # realm user "doctor"
once realm-external-password 20   # realm user "external"

printf '{"share-user": "%s"}\n' "$(value share-user-password)" >"$dir/USERS"

# Containers run as their own non-root users and read these through bind mounts: the files are
# world-readable, the folder is not.
chmod 644 "$dir"/*
echo "secrets ready in $dir"
echo "  Keycloak admin console: admin, password in $dir/keycloak-admin-password"
echo "  OE2 (realm users, first login, then a password of their own): admin, doctor, external,"
echo "  passwords in $dir/realm-admin-password, realm-doctor-password, realm-external-password"
