#!/usr/bin/env bash
# A self-signed certificate pair for a stack's HTTPS option, named after PUBLIC_URL's host:
#   cd minimal-setup/STACK && ../make-certificate.sh   -> tls/cert.pem, tls/key.pem
# (TLS_DIR of .env or the environment moves tls/). Browsers warn about a self-signed pair; put a
# real one (e.g. from Let's Encrypt) there for production.
set -euo pipefail
url="${PUBLIC_URL:-$(sed -n 's/^PUBLIC_URL=//p' .env)}"
host="$(sed -E 's#^[a-z]+://##; s#[:/].*$##' <<<"$url")"
[ -n "$host" ] || { echo "no PUBLIC_URL in .env or the environment" >&2; exit 2; }
dir="${TLS_DIR:-$(sed -n 's/^TLS_DIR=//p' .env)}"
dir="${dir:-./tls}"
mkdir -p "$dir"
if [[ "$host" =~ ^[0-9.]+$ ]]; then san="IP:$host"; else san="DNS:$host"; fi
openssl req -x509 -newkey rsa:2048 -nodes -days 825 -subj "/CN=$host" \
    -addext "subjectAltName=$san" -keyout "$dir/key.pem" -out "$dir/cert.pem" 2>/dev/null
# nginx's master process (root) reads the key; the folder is the stack's, out of the repository.
chmod 644 "$dir/cert.pem"
chmod 600 "$dir/key.pem"
echo "$dir/cert.pem and $dir/key.pem made for $host (self-signed)"
