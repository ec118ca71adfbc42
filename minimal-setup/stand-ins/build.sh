#!/usr/bin/env bash
# Builds, on a machine that cannot reach the image registries, local images under the names the
# stacks use: a Debian base made with debootstrap (cached as a tarball under target/), stand-ins
# for the third-party images, and our services from release binaries built on this host.
# Usage: minimal-setup/stand-ins/build.sh [--no-cargo]   (needs docker, debootstrap, cargo, and
# npm unless the tests have installed their realm double's packages under target/test-tools/)
# STAND_IN_BINARIES=debug uses target/debug binaries (what CI has already built) instead of a
# release build: the same image, a bigger and slower binary.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
repo="$(cd "$here/../.." && pwd)"
cache="$repo/target/stand-ins"
mkdir -p "$cache"

# The names the stacks use; smoke-test.sh refuses to start a stack missing one of its images.
BASE_IMAGE=debian:bookworm-slim
DISTROLESS_IMAGE=gcr.io/distroless/cc-debian12:nonroot
ORTHANC_IMAGE=orthancteam/orthanc:26.4.0
NGINX_IMAGE=nginx:1.27-bookworm
POSTGRES_IMAGE=postgres:17-bookworm
KEYCLOAK_IMAGE=quay.io/keycloak/keycloak:26.4
VERSION="$(sed -n 's/^version = "\(.*\)"/\1/p' "$repo/Cargo.toml" | head -1)"

log() { echo "== stand-ins: $*"; }

base_image() {
    if docker image inspect "$BASE_IMAGE" >/dev/null 2>&1; then return; fi
    local tarball="$cache/bookworm-minbase.tar.gz"
    if [ ! -s "$tarball" ]; then
        log "debootstrap --variant=minbase bookworm (once; cached in $tarball)"
        local root; root="$(mktemp -d)"
        debootstrap --variant=minbase bookworm "$root" http://deb.debian.org/debian >"$cache/debootstrap.log" 2>&1 \
            || { tail -20 "$cache/debootstrap.log"; exit 1; }
        # What debian:bookworm-slim leaves out: package caches, documentation, locales.
        rm -rf "$root"/var/cache/apt/archives/*.deb "$root"/var/cache/apt/*.bin "$root"/var/lib/apt/lists/* \
            "$root"/usr/share/doc/* "$root"/usr/share/man/* "$root"/usr/share/info/* "$root"/usr/share/locale/* \
            "$root"/var/log/*.log "$root"/var/log/apt/*
        mkdir -p "$root/etc/dpkg/dpkg.cfg.d"
        printf 'path-exclude /usr/share/doc/*\npath-include /usr/share/doc/*/copyright\npath-exclude /usr/share/man/*\npath-exclude /usr/share/info/*\npath-exclude /usr/share/locale/*\n' \
            >"$root/etc/dpkg/dpkg.cfg.d/docker"
        printf 'APT::Install-Recommends "false";\nAPT::Install-Suggests "false";\n' \
            >"$root/etc/apt/apt.conf.d/docker-no-recommends"
        tar -C "$root" -czf "$tarball.part" . && mv "$tarball.part" "$tarball"
        rm -rf "$root"
    fi
    log "docker import $BASE_IMAGE"
    docker import -c 'CMD ["bash"]' "$tarball" "$BASE_IMAGE" >/dev/null
}

stand_in() { # image dir
    log "build $1 (stand-in: $2)"
    docker build -q -t "$1" "$here/$2" >/dev/null
}

# The tests' Keycloak realm double with its npm packages: those the tests installed under
# target/test-tools/oidc/ when they match the lock file, else an `npm ci` (npm registry) here.
keycloak_stand_in() {
    local oidc="$repo/auth-service/tests/support/oidc" installed="$repo/target/test-tools/oidc"
    local ctx; ctx="$(mktemp -d)"
    cp "$here/keycloak/Dockerfile" "$here/keycloak/kc.sh" "$here/keycloak/node18-shims.mjs" "$ctx/"
    mkdir "$ctx/realm"
    cp "$oidc/realm.mjs" "$oidc/package.json" "$oidc/package-lock.json" "$ctx/realm/"
    if cmp -s "$installed/node_modules/.auth-service-installed" "$oidc/package-lock.json"; then
        cp -r "$installed/node_modules" "$ctx/realm/"
    else
        (cd "$ctx/realm" && npm ci --omit=dev --no-audit --no-fund --loglevel=error)
    fi
    log "build $KEYCLOAK_IMAGE (stand-in: keycloak, the tests' realm double)"
    docker build -q -t "$KEYCLOAK_IMAGE" "$ctx" >/dev/null
    rm -rf "$ctx"
}

# A release binary, stripped, alone in a build context (the target dir is gigabytes).
our_service() { # crate
    local crate="$1" image="orthanc-share/$1:$VERSION"
    if [ ! -f "$repo/$crate/Cargo.toml" ]; then
        log "SKIPPED $image: no crate $crate/ in this checkout yet"
        return
    fi
    local profile="${STAND_IN_BINARIES:-release}"
    if [ "${NO_CARGO:-0}" != 1 ]; then
        if [ "$profile" = release ]; then
            (cd "$repo" && cargo build --release --locked -p "$crate" --bin "$crate")
        else
            (cd "$repo" && cargo build --locked -p "$crate" --bin "$crate")
        fi
    fi
    if [ ! -x "$repo/target/$profile/$crate" ]; then
        echo "no $repo/target/$profile/$crate: build it first (or drop --no-cargo)" >&2
        exit 1
    fi
    local ctx; ctx="$(mktemp -d)"
    cp "$repo/target/$profile/$crate" "$ctx/$crate"
    mkdir -p "$ctx/state/data"
    strip "$ctx/$crate"
    log "build $image ($profile binary built on this host, $crate/Dockerfile.prebuilt)"
    docker build -q -t "$image" -f "$repo/$crate/Dockerfile.prebuilt" "$ctx" >/dev/null
    rm -rf "$ctx"
}

[ "${1:-}" = "--no-cargo" ] && NO_CARGO=1
base_image
stand_in "$DISTROLESS_IMAGE" distroless-cc
stand_in "$ORTHANC_IMAGE" orthanc
stand_in "$NGINX_IMAGE" nginx
stand_in "$POSTGRES_IMAGE" postgres
keycloak_stand_in
our_service auth-service
our_service landing-page
docker images --format '{{.Repository}}:{{.Tag}}\t{{.Size}}' | sort
