#!/usr/bin/env bash
# Supply-chain checks, part of the test command (scripts/test.sh):
#  - cargo-audit on Cargo.lock and fuzz/Cargo.lock, with .cargo/audit.toml: any advisory
#    other than the one accepted there (vulnerability, unmaintained, unsound, yanked) fails;
#  - cargo-deny with deny.toml: advisories, licences, duplicate versions, sources.
# Both read a snapshot of the RustSec advisory database and never fetch it: by default the
# one in ../shared/advisory-db beside this repository, or $SEALED_SESSION_ADVISORY_DB.
# The tools are installed (pinned versions) when missing.
set -euo pipefail
cd "$(dirname "$0")/.."

AUDIT_VERSION=0.22.2
DENY_VERSION=0.20.2

db=""
for candidate in "${SEALED_SESSION_ADVISORY_DB:-}" ../shared/advisory-db; do
    if [ -n "$candidate" ] && [ -d "$candidate/crates" ]; then
        db="$candidate"
        break
    fi
done
if [ -z "$db" ]; then
    echo "error: no RustSec advisory database snapshot at ../shared/advisory-db;" \
        "set SEALED_SESSION_ADVISORY_DB to a copy of https://github.com/RustSec/advisory-db" >&2
    exit 1
fi
echo "advisory database: $db ($(head -n 2 "$db/SNAPSHOT.txt" 2>/dev/null | tr '\n' ' '))"

installed_version() { # tool -> version printed by `cargo <tool> --version`, or nothing
    cargo "$1" --version 2>/dev/null | awk '{print $NF}'
}
if [ "$(installed_version audit)" != "$AUDIT_VERSION" ]; then
    echo "installing cargo-audit $AUDIT_VERSION"
    cargo install --locked --quiet cargo-audit --version "$AUDIT_VERSION"
fi
if [ "$(installed_version deny)" != "$DENY_VERSION" ]; then
    echo "installing cargo-deny $DENY_VERSION"
    cargo install --locked --quiet cargo-deny --version "$DENY_VERSION"
fi

echo "== cargo audit (Cargo.lock)"
cargo audit --db "$db" --no-fetch
echo "== cargo audit (fuzz/Cargo.lock)"
cargo audit --db "$db" --no-fetch --file fuzz/Cargo.lock

# cargo-deny reads the database as a git checkout named after its URL's hash (this name is
# cargo-deny 0.20's for the default RustSec URL) and checks its commit date, so the snapshot
# is committed into a scratch repository under target/, dated as the snapshot.
deny_db=target/advisory-dbs/advisory-db-3157b0e258782691
rm -rf "$deny_db"
mkdir -p "$(dirname "$deny_db")"
cp -R "$db" "$deny_db"
rm -rf "$deny_db/.git"
snapshot_date=$(grep -oE '[0-9]{4}-[0-9]{2}-[0-9]{2}' "$db/SNAPSHOT.txt" 2>/dev/null | head -n 1 || true)
(
    cd "$deny_db"
    git init --quiet
    git add --all
    GIT_AUTHOR_DATE="${snapshot_date:-2026-01-01}T00:00:00Z" \
        GIT_COMMITTER_DATE="${snapshot_date:-2026-01-01}T00:00:00Z" \
        git -c user.name=snapshot -c user.email=snapshot@localhost -c commit.gpgsign=false \
        commit --quiet --message "RustSec advisory-db snapshot"
)
echo "== cargo deny"
# cargo-deny reads the whole graph through `cargo metadata`, which needs every package's
# manifest (all platforms) downloaded; the registry is reachable, the database is not.
cargo fetch --locked --quiet
cargo deny --offline --locked check
