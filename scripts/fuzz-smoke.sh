#!/usr/bin/env bash
# Fuzz smoke run, part of the test command (scripts/test.sh): builds every cargo-fuzz target
# in fuzz/ and runs each for a short time (FUZZ_SMOKE_SECONDS, default 20) from its
# committed seed corpus, so a target that no longer builds, or that crashes at once on its
# seeds or their first mutations, fails the run. Long runs: fuzz/README.md.
#
# Uses cargo-fuzz (installed when missing) on the stable toolchain through RUSTC_BOOTSTRAP,
# without AddressSanitizer (`-s none`, several times faster; the library forbids unsafe
# code) and with debug assertions on (`-a`), so integer overflow is a crash.
set -euo pipefail
cd "$(dirname "$0")/.."

FUZZ_VERSION=0.13.2
EXPECTED_TARGETS="codec_decode connect_redis_crypto_record connect_redis_record envelope_parse express_cookie keyring_config open roundtrip session_id"
seconds="${FUZZ_SMOKE_SECONDS:-20}"
if ! [ "$seconds" -ge 1 ] 2>/dev/null; then
    echo "error: FUZZ_SMOKE_SECONDS must be a whole number of seconds, at least 1" >&2
    exit 1
fi

if [ "$(cargo fuzz --version 2>/dev/null | awk '{print $NF}')" != "$FUZZ_VERSION" ]; then
    echo "installing cargo-fuzz $FUZZ_VERSION"
    cargo install --locked --quiet cargo-fuzz --version "$FUZZ_VERSION"
fi
export RUSTC_BOOTSTRAP=1

# The fuzz workspace's lock file must be current (cargo fuzz has no --locked).
cargo metadata --locked --format-version 1 --manifest-path fuzz/Cargo.toml >/dev/null
cargo fuzz build -s none -a

scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT
targets=$(cargo fuzz list | sort | tr '\n' ' ' | sed 's/ $//')
if [ "$targets" != "$EXPECTED_TARGETS" ]; then
    echo "error: fuzz targets are '$targets', expected '$EXPECTED_TARGETS'" \
        "(update EXPECTED_TARGETS with the seeds and fuzz/README.md)" >&2
    exit 1
fi
for target in $targets; do
    if [ ! -d "fuzz/corpus/$target" ]; then
        echo "error: fuzz target $target has no seed corpus in fuzz/corpus/$target" >&2
        exit 1
    fi
    # New inputs go to the scratch directory (listed first); the committed seeds are only read.
    mkdir -p "$scratch/$target"
    echo "== fuzz $target for ${seconds}s"
    if ! cargo fuzz run -s none -a "$target" "$scratch/$target" "fuzz/corpus/$target" -- \
        -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 \
        >"$scratch/$target.log" 2>&1; then
        tail -n 60 "$scratch/$target.log" >&2
        echo "error: fuzz target $target failed; the input is in fuzz/artifacts/$target/" >&2
        exit 1
    fi
    grep -E '^Done|stat::number_of_executed_units|stat::peak_rss_mb' "$scratch/$target.log" || true
done
