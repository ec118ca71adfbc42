#!/usr/bin/env bash
# Makes this stack's secrets on first run, under SECRETS_DIR (.env; default ./secrets). Random
# passwords and keys are made once and kept; the files derived from them (USERS, Orthanc users,
# nginx credential snippets) are rewritten from them on every run, so editing a password file
# and running this again is how a password changes.
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

once SECRET_KEY 48              # signs share tokens: links stop working if it changes
once share-user-password 32     # auth-service's account for Orthanc, nginx and the landing page
once share-gate-password 32     # Orthanc account nginx's token gate reads shared studies with
once admin-password 20          # Orthanc / OE2 user "admin"

printf '{"share-user": "%s"}\n' "$(value share-user-password)" >"$dir/USERS"
printf '{"admin": "%s", "share-gate": "%s"}\n' "$(value admin-password)" "$(value share-gate-password)" \
    >"$dir/ORTHANC__REGISTERED_USERS"
printf 'proxy_set_header Authorization "Basic %s";\n' "$(basic share-user "$(value share-user-password)")" \
    >"$dir/nginx-gate-auth.conf"
printf 'proxy_set_header Authorization "Basic %s";\n' "$(basic share-gate "$(value share-gate-password)")" \
    >"$dir/nginx-orthanc-auth.conf"

# Containers run as their own non-root users and read these through bind mounts: the files are
# world-readable, the folder is not.
chmod 644 "$dir"/*
echo "secrets ready in $dir (OE2 user: admin, password in $dir/admin-password)"
