#!/bin/sh
# As the official image's 20-envsubst-on-templates.sh: only variables that are set are replaced,
# so nginx's own $variables stay.
set -eu
if [ "${1:-}" = "nginx" ]; then
    defined=$(env | sed -n 's/^\([A-Za-z_][A-Za-z0-9_]*\)=.*/${\1}/p' | tr '\n' ' ')
    for template in /etc/nginx/templates/*.template; do
        [ -f "$template" ] || continue
        out="/etc/nginx/conf.d/$(basename "$template" .template)"
        envsubst "$defined" < "$template" > "$out"
        echo "stand-in entrypoint: $template -> $out"
    done
fi
exec "$@"
