#!/usr/bin/env bash
# The compose stacks in CI (.ci/run calls this after the cargo steps, which leave
# target/debug/auth-service behind, and the realm double's npm packages under target/test-tools/):
# installs Docker, checks every stack statically, builds the stand-in images and runs the
# smoke test (Chromium as the visitor) on basic-auth over HTTP (with /share-api/ on) and HTTPS,
# on the demo and on the keycloak stack. Measured 8.1 min on the 2-core machine with Docker
# installed and no image or base tarball cached (README.md, "Tested how"); add the apt install on
# a fresh machine (about a minute).
#   STACK_BINARIES=release minimal-setup/ci.sh   to build the images around release binaries.
set -euo pipefail
cd "$(dirname "$0")/.."
step() { echo "== stacks: $*"; }
t0=$(date +%s)

need=()
for pair in docker:docker.io docker-compose:docker-compose debootstrap:debootstrap curl:curl openssl:openssl \
    chromium:chromium chromedriver:chromium-driver npm:npm; do
    command -v "${pair%%:*}" >/dev/null || need+=("${pair#*:}")
done
/usr/bin/python3 -c 'import yaml' 2>/dev/null || need+=(python3-yaml)
if [ ${#need[@]} -gt 0 ]; then
    step "apt-get install ${need[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq && apt-get install -y -qq "${need[@]}" >/dev/null
fi

if ! docker info >/dev/null 2>&1; then
    step "start dockerd (log: /tmp/dockerd-ci.log)"
    dockerd --storage-driver=overlay2 >/tmp/dockerd-ci.log 2>&1 &
    for _ in $(seq 120); do docker info >/dev/null 2>&1 && break; sleep 0.5; done
    docker info >/dev/null 2>&1 || { tail -20 /tmp/dockerd-ci.log; exit 1; }
fi

step "docker-compose config -q, every stack and its HTTPS variant (secrets made in a temporary folder)"
for compose_file in minimal-setup/*/docker-compose.yml demo-setup/docker-compose.yml; do
    [ -f "$compose_file" ] || continue
    stack_dir="$(dirname "$compose_file")"
    secrets="$(mktemp -d)"
    if [ -x "$stack_dir/make-secrets.sh" ]; then
        SECRETS_DIR="$secrets" "$stack_dir/make-secrets.sh" >/dev/null
        export SECRETS_DIR="$secrets"
    fi
    (cd "$stack_dir" && docker-compose -f docker-compose.yml config -q)
    if [ -f "$stack_dir/docker-compose.https.yml" ]; then
        (cd "$stack_dir" && docker-compose -f docker-compose.yml -f docker-compose.https.yml config -q)
    fi
    unset SECRETS_DIR
    rm -rf "$secrets"
    echo "   ok $stack_dir"
done

step "static check (settings, secrets, files, health checks, pinned images)"
COMPOSE=docker-compose /usr/bin/python3 minimal-setup/check-stacks.py

step "stand-in images"
if [ "${STACK_BINARIES:-debug}" = debug ]; then
    # The test step built target/debug/<crate> with the workspace's features; a `cargo build -p`
    # here would unify features differently and recompile most dependencies.
    for crate in auth-service landing-page; do
        if [ -f "$crate/Cargo.toml" ] && [ ! -x "target/debug/$crate" ]; then
            cargo build --locked -p "$crate" --bin "$crate"
        fi
    done
    STAND_IN_BINARIES=debug minimal-setup/stand-ins/build.sh --no-cargo
else
    minimal-setup/stand-ins/build.sh
fi

# Each run brings its stack up and down; all of them run, and the step fails if one failed.
failed=()
smoke() { # description, then the environment and arguments of smoke-test.sh
    local what="$1" s
    shift
    step "smoke test: $what"
    s=$(date +%s)
    env COMPOSE=docker-compose "$@" || failed+=("$what")
    echo "   ($what: $(( $(date +%s) - s )) s)"
}
smoke "basic-auth, HTTP, /share-api/ on" SHARE_API=on minimal-setup/smoke-test.sh basic-auth
smoke "basic-auth, HTTPS variant" SMOKE_HTTPS=1 minimal-setup/smoke-test.sh basic-auth
smoke "demo" minimal-setup/smoke-test.sh demo
smoke "keycloak (realm stand-in)" minimal-setup/smoke-test.sh keycloak
step "done in $(( $(date +%s) - t0 )) s"
if [ ${#failed[@]} -gt 0 ]; then
    printf '== stacks: FAILED: %s\n' "${failed[@]}"
    exit 1
fi
