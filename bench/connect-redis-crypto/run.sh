#!/usr/bin/env bash
# Installs the pinned npm packages (package-lock.json) and runs bench.js against $REDIS_URL.
# Called by the peers benchmark (bench/peers); can be run alone with REDIS_URL set.
set -euo pipefail
cd "$(dirname "$0")"
if ! command -v node >/dev/null 2>&1; then
    echo "error: node is not installed (Debian: apt-get install nodejs npm)" >&2
    exit 1
fi
npm ci --no-audit --no-fund --loglevel=error >&2
exec node bench.js
