#!/usr/bin/env bash
# A self-signed certificate pair for a stack's HTTPS option, named after PUBLIC_URL's host:
#   cd minimal-setup/STACK && ../make-certificate.sh   -> tls/cert.pem, tls/key.pem
# Browsers warn about it; put a real pair (e.g. from Let's Encrypt) in tls/ for production.
set -euo pipefail
url="${PUBLIC_URL:-$(sed -n 's/^PUBLIC_URL=//p' .env)}"
host="$(sed -E 's#^[a-z]+://##; s#[:/].*$##' <<<"$url")"
[ -n "$host" ] || { echo "no PUBLIC_URL in .env or the environment" >&2; exit 2; }
mkdir -p tls
if [[ "$host" =~ ^[0-9.]+$ ]]; then san="IP:$host"; else san="DNS:$host"; fi
openssl req -x509 -newkey rsa:2048 -nodes -days 825 -subj "/CN=$host" \
    -addext "subjectAltName=$san" -keyout tls/key.pem -out tls/cert.pem 2>/dev/null
chmod 644 tls/cert.pem tls/key.pem
echo "tls/cert.pem and tls/key.pem made for $host (self-signed)"
