#!/usr/bin/env bash
# Supply-chain checks, part of the test command (scripts/test.sh):
#  - cargo-audit on Cargo.lock and fuzz/Cargo.lock, with .cargo/audit.toml: a vulnerability,
#    or an unmaintained, unsound or yanked crate, other than the one accepted there, fails;
#  - cargo-deny with deny.toml: advisories of every kind (notices too) over both lock files,
#    and licences, duplicate versions and sources over what users compile.
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
# The snapshot cannot be refreshed from these machines, so its age is checked here: every
# run prints it, and a snapshot older than SEALED_SESSION_ADVISORY_MAX_AGE_DAYS (default 180)
# fails the run until someone brings a newer one.
snapshot_date=$(grep -oE '[0-9]{4}-[0-9]{2}-[0-9]{2}' "$db/SNAPSHOT.txt" 2>/dev/null | head -n 1 || true)
if [ -z "$snapshot_date" ]; then
    echo "error: $db/SNAPSHOT.txt names no date (YYYY-MM-DD); cannot tell the snapshot's age" >&2
    exit 1
fi
age_days=$(( ($(date -u +%s) - $(date -u -d "$snapshot_date" +%s)) / 86400 ))
max_age_days="${SEALED_SESSION_ADVISORY_MAX_AGE_DAYS:-180}"
echo "advisory database: $db, snapshot of $snapshot_date ($age_days days old; advisories newer than that are not checked)"
if [ "$age_days" -gt "$max_age_days" ]; then
    echo "error: the advisory snapshot is older than $max_age_days days; refresh it" \
        "(or set SEALED_SESSION_ADVISORY_MAX_AGE_DAYS)" >&2
    exit 1
fi

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
# cargo-deny 0.20's for the default RustSec URL; another name fails loudly) and checks its
# age against `maximum-db-staleness` in deny.toml, taking the later of the commit date and
# the modification time of .git/HEAD: both are set to the snapshot's date.
deny_db=target/advisory-dbs/advisory-db-3157b0e258782691
rm -rf "$deny_db"
mkdir -p "$(dirname "$deny_db")"
cp -R "$db" "$deny_db"
rm -rf "$deny_db/.git"
(
    cd "$deny_db"
    git init --quiet
    git add --all
    GIT_AUTHOR_DATE="${snapshot_date}T00:00:00Z" GIT_COMMITTER_DATE="${snapshot_date}T00:00:00Z" \
        git -c user.name=snapshot -c user.email=snapshot@localhost -c commit.gpgsign=false \
        -c core.hooksPath=/dev/null commit --quiet --no-verify --message "RustSec advisory-db snapshot"
    touch -d "${snapshot_date}T00:00:00Z" .git/HEAD
)
echo "== cargo deny"
# cargo-deny reads the whole graph through `cargo metadata`, which needs every package's
# manifest (all platforms) downloaded; the registry is reachable, the database is not.
cargo fetch --locked --quiet
cargo fetch --locked --quiet --manifest-path fuzz/Cargo.toml
# Licences, duplicate versions and sources: what users compile (no dev-dependencies).
cargo deny --offline --locked --exclude-dev check bans licenses sources
# Advisories of every kind (notices included), over everything built here: dev-dependencies
# and the fuzz workspace too.
cargo deny --offline --locked check advisories
cargo deny --offline --locked --manifest-path fuzz/Cargo.toml --config deny.toml check advisories
