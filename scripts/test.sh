#!/usr/bin/env bash
# Runs every test of sealed-session: unit, integration, spec vectors and doctests.
# Usable on a fresh Debian machine that has the Rust toolchain; installs what else it needs.
set -euo pipefail
cd "$(dirname "$0")/.."

if ! command -v cargo >/dev/null 2>&1; then
    echo "error: cargo not found; install Rust 1.89 or newer (https://rustup.rs)" >&2
    exit 1
fi

cargo test --all-features --locked
