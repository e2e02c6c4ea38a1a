#!/usr/bin/env bash
# Builds every cargo-fuzz target in fuzz/ and runs each for FUZZ_SECONDS (default 30) seconds.
# Fails on any crash, panic, timeout or out-of-memory. Needs a nightly toolchain; installs
# cargo-fuzz if it is missing.
#
#   scripts/fuzz-smoke.sh                       # every target, 30 s each
#   FUZZ_SECONDS=600 scripts/fuzz-smoke.sh      # longer
#   scripts/fuzz-smoke.sh record_batch          # one target
#
# Corpora live in fuzz/corpus/TARGET (not committed); seeds are read from fuzz/seeds/TARGET and,
# for record_batch, the captured producer fixtures in protocol-tests/fixtures/.
# A crash is saved under fuzz/artifacts/TARGET/; reproduce it with
#   cargo +nightly fuzz run TARGET fuzz/artifacts/TARGET/crash-...
# and keep it as a named regression test in the library.
set -euo pipefail

cd "$(dirname "$0")/.."
seconds="${FUZZ_SECONDS:-30}"
toolchain="${FUZZ_TOOLCHAIN:-nightly}"

if ! cargo "+$toolchain" --version >/dev/null 2>&1; then
    echo "fuzz-smoke: the $toolchain toolchain is missing (rustup toolchain install $toolchain)" >&2
    exit 1
fi
if ! cargo fuzz --version >/dev/null 2>&1; then
    echo "fuzz-smoke: installing cargo-fuzz"
    cargo install cargo-fuzz --locked
fi

targets=("$@")
if [ ${#targets[@]} -eq 0 ]; then
    mapfile -t targets < <(cargo "+$toolchain" fuzz list --fuzz-dir fuzz)
fi

cargo "+$toolchain" fuzz build --fuzz-dir fuzz

failed=()
for target in "${targets[@]}"; do
    corpus="fuzz/corpus/$target"
    mkdir -p "$corpus"
    seeds=()
    [ -d "fuzz/seeds/$target" ] && seeds+=("fuzz/seeds/$target")
    if [ "$target" = record_batch ] && [ -d protocol-tests/fixtures ]; then
        seeds+=(protocol-tests/fixtures)
    fi
    echo "fuzz-smoke: $target for ${seconds}s"
    log="$(mktemp)"
    if cargo "+$toolchain" fuzz run --fuzz-dir fuzz "$target" "$corpus" "${seeds[@]}" -- \
        -max_total_time="$seconds" -print_final_stats=1 >"$log" 2>&1; then
        grep -E '^stat::number_of_executed_units|^Done [0-9]+ runs' "$log" | sed "s/^/fuzz-smoke: $target: /" || true
    else
        tail -n 60 "$log" >&2
        failed+=("$target")
    fi
    rm -f "$log"
done

if [ ${#failed[@]} -ne 0 ]; then
    echo "fuzz-smoke: FAILED: ${failed[*]}" >&2
    exit 1
fi
echo "fuzz-smoke: ${#targets[@]} targets ran ${seconds}s each with no crash"
