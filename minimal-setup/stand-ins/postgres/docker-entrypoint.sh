#!/bin/bash
# The official postgres image's start, as far as our stacks depend on it: on an empty PGDATA,
# initdb (superuser POSTGRES_USER, password from POSTGRES_PASSWORD or POSTGRES_PASSWORD_FILE,
# scram-sha-256 over TCP), a temporary server on the Unix socket only (no TCP: a client that
# connects by host name is refused meanwhile) creates POSTGRES_DB and runs
# /docker-entrypoint-initdb.d/*.sh and *.sql, then stops; then `postgres` listens everywhere.
set -euo pipefail
if [ "$(id -u)" = 0 ]; then
    chown postgres:postgres "$PGDATA"
    chmod 700 "$PGDATA"
    exec setpriv --reuid=postgres --regid=postgres --init-groups "$0" "$@"
fi
if [ -n "${POSTGRES_PASSWORD_FILE:-}" ]; then
    POSTGRES_PASSWORD="$(cat "$POSTGRES_PASSWORD_FILE")"
fi
export POSTGRES_USER="${POSTGRES_USER:-postgres}" POSTGRES_DB="${POSTGRES_DB:-${POSTGRES_USER:-postgres}}"
if [ ! -s "$PGDATA/PG_VERSION" ]; then
    : "${POSTGRES_PASSWORD:?POSTGRES_PASSWORD or POSTGRES_PASSWORD_FILE is required}"
    initdb --username="$POSTGRES_USER" --pwfile=<(printf '%s\n' "$POSTGRES_PASSWORD") \
        --auth-local=trust --auth-host=scram-sha-256 >/dev/null
    printf 'host all all all scram-sha-256\n' >>"$PGDATA/pg_hba.conf"
    pg_ctl -D "$PGDATA" -o "-c listen_addresses=''" -w start >/dev/null
    if [ "$POSTGRES_DB" != postgres ]; then
        psql -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" --dbname postgres \
            -c "CREATE DATABASE \"$POSTGRES_DB\"" >/dev/null
    fi
    for f in /docker-entrypoint-initdb.d/*; do
        case "$f" in
            *.sh) echo "stand-in entrypoint: running $f"; . "$f" ;;
            *.sql) echo "stand-in entrypoint: running $f"; psql -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" --dbname "$POSTGRES_DB" -f "$f" ;;
        esac
    done
    pg_ctl -D "$PGDATA" -m fast -w stop >/dev/null
    echo "stand-in entrypoint: PostgreSQL init process complete; ready for start up."
fi
exec "$@" -c listen_addresses='*'
