#!/bin/bash
# Run once by the postgres image on a new data folder: the share registry's own database and
# user, beside Orthanc's index (POSTGRES_DB). The password comes from the same secret file as
# auth-service's DATABASE_URL.
set -euo pipefail
password="$(tr -d '\n' </run/secrets/share-registry-db-password)"
psql -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" --dbname "$POSTGRES_DB" \
    -v password="$password" <<'SQL'
CREATE USER share_registry PASSWORD :'password';
CREATE DATABASE share_registry OWNER share_registry;
SQL
