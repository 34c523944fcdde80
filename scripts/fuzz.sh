#!/usr/bin/env bash
# Runs one cargo-fuzz target for SECONDS (default 600), on the nightly
# toolchain, installing cargo-fuzz first if it is missing.
#
#   scripts/fuzz.sh TARGET [SECONDS]      TARGET: sync_decode, csv_import, enroll_csr, docs_sync
#   scripts/fuzz.sh --list                the targets
#
# The corpus grows in fuzz/corpus/TARGET (seeded from fuzz/corpus-seed/TARGET,
# not committed); a crash leaves its input in fuzz/artifacts/TARGET/ and the
# script exits non-zero. To keep a crasher: fix the bug, copy the input to
# fuzz/regressions/TARGET/, and `cargo test --workspace` replays it on stable
# (hub/tests/fuzz_regressions.rs, agent/tests/fuzz_regressions.rs).
# FUZZ_JOBS=N runs N fuzzing processes instead of one; extra arguments after
# SECONDS go to libFuzzer (e.g. -max_len=4096).
set -euo pipefail
cd "$(dirname "$0")/../fuzz"

targets=$(sed -n 's/^name = "\([a-z_]*\)"$/\1/p' Cargo.toml | grep -v '^jxc-fuzz$' || true)
if [[ $# -lt 1 || "$1" == "-h" || "$1" == "--help" ]]; then
    sed -n '2,15p' "$0" | sed 's/^# \{0,1\}//'
    exit 2
fi
if [[ "$1" == "--list" ]]; then
    echo "$targets"
    exit 0
fi
target=$1
seconds=${2:-600}
shift $(($# < 2 ? $# : 2))
if ! grep -qx "$target" <<<"$targets"; then
    echo "fuzz.sh: no target $target; the targets are: $(echo $targets)" >&2
    exit 2
fi
if ! [[ "$seconds" =~ ^[0-9]+$ ]] || ((seconds < 1)); then
    echo "fuzz.sh: SECONDS must be a positive whole number, not $seconds" >&2
    exit 2
fi

if ! rustup run nightly rustc --version >/dev/null 2>&1; then
    echo "fuzz.sh: cargo-fuzz needs the nightly toolchain: rustup toolchain install nightly" >&2
    exit 1
fi
if ! cargo fuzz --version >/dev/null 2>&1; then
    echo "fuzz.sh: installing cargo-fuzz (cargo install cargo-fuzz)" >&2
    cargo install --locked cargo-fuzz
fi

corpus="corpus/$target"
mkdir -p "$corpus" "artifacts/$target"
dirs=("$corpus")
for d in "corpus-seed/$target" "regressions/$target"; do
    [[ -d "$d" ]] && dirs+=("$d")
done
jobs=()
if [[ -n "${FUZZ_JOBS:-}" ]]; then
    jobs=(-jobs="$FUZZ_JOBS" -workers="$FUZZ_JOBS")
fi
# -a: debug assertions and overflow checks, as in `cargo test`, so an
# arithmetic overflow is a crash here too.
cargo +nightly fuzz build -a "$target"
echo "fuzz.sh: $target for $seconds s; corpus $PWD/$corpus, seeds from ${dirs[*]:1}" >&2
cargo +nightly fuzz run -a "$target" "${dirs[@]}" -- \
    -max_total_time="$seconds" -print_final_stats=1 "${jobs[@]+"${jobs[@]}"}" "$@"
