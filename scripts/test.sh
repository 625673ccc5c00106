#!/usr/bin/env bash
# Runs every test of sealed-session: unit, integration (against real redis-server processes
# and a local Redis Cluster that the tests start themselves), spec vectors, property tests
# and doctests; then the supply-chain checks (cargo-audit, cargo-deny, offline against the
# RustSec snapshot in ../shared/advisory-db) and a short run of every fuzz target.
# Works on a fresh Debian machine with the Rust toolchain; installs what else it needs
# (redis-server, redis-tools, openssl and, if missing, nodejs and npm with apt-get; the
# Express fixture's packages with npm ci; cargo-audit, cargo-deny, cargo-fuzz with cargo
# install).
set -euo pipefail
cd "$(dirname "$0")/.."

if ! command -v cargo >/dev/null 2>&1; then
    echo "error: cargo not found; install Rust 1.89 or newer (https://rustup.rs)" >&2
    exit 1
fi

# The Redis tests start their own servers on free loopback ports (and a local Cluster, and a
# TLS server whose certificates openssl makes); they need the binaries.
missing=()
command -v redis-server >/dev/null 2>&1 || missing+=(redis-server)
command -v redis-cli >/dev/null 2>&1 || missing+=(redis-tools)
command -v openssl >/dev/null 2>&1 || missing+=(openssl)
if [ ${#missing[@]} -gt 0 ]; then
    echo "installing ${missing[*]} with apt-get"
    SUDO=""
    if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
    $SUDO env DEBIAN_FRONTEND=noninteractive apt-get update -qq
    $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
fi
redis-server --version

# A full run from a clean clone (tests, lints, the fuzz build, and installing the supply-chain
# and fuzz tools when missing) peaks at about 2.2 GB under target/, fuzz/target/ and cargo's
# temporary install directory. Say so up front when the disk is shorter than that with some
# margin, so that a build that dies of ENOSPC is not taken for a failure of the code.
avail_kb=$(df -Pk . | awk 'NR == 2 {print $4}')
if [ -n "$avail_kb" ] && [ "$avail_kb" -lt 3000000 ]; then
    echo "warning: only $((avail_kb / 1024)) MiB free on $(df -P . | awk 'NR == 2 {print $6}');" \
        "a full run needs about 2.2 GB" >&2
fi

# The Express migration tests run a small Express app (tests/express) with the real
# express-session, connect-redis and connect-redis-crypto packages, installed from the
# committed lock file.
if ! command -v node >/dev/null 2>&1 || ! command -v npm >/dev/null 2>&1; then
    echo "installing nodejs and npm with apt-get"
    SUDO=""
    if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
    $SUDO env DEBIAN_FRONTEND=noninteractive apt-get update -qq
    $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nodejs npm >/dev/null
fi
node --version
(cd tests/express && npm ci --no-audit --no-fund --loglevel=error)

cargo test --all-features --locked
bash scripts/supply-chain.sh
bash scripts/fuzz-smoke.sh
