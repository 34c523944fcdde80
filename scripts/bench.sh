#!/usr/bin/env bash
# Runs every jxc benchmark, one after another (they must not share the
# machine's cores with each other), and keeps each one's output in
# target/bench-results/<UTC time>/<name>.txt.
#
#   scripts/bench.sh            the figures in BENCHMARKS.md (about 10 minutes on 2 cores)
#   scripts/bench.sh --quick    CI-sized runs of the same code (small sizes, under a minute
#                               once built); the numbers prove the code runs, not the targets
#   scripts/bench.sh [--quick] NAME...   only the named benchmarks (ledger, sync_load, catalog_load,
#                                        inventory_scale, plan_scale)
#
# A benchmark is one line of BENCHES below: a name, and the command that
# prints its figures. QUICK_ENV holds the sizes --quick sets for it.
set -euo pipefail
cd "$(dirname "$0")/.."

quick=0
only=()
for arg in "$@"; do
    case "$arg" in
        --quick) quick=1 ;;
        -h | --help)
            sed -n '2,13p' "$0" | sed 's/^# \{0,1\}//'
            exit 0
            ;;
        -*)
            echo "bench.sh: unknown option $arg (use --quick, --help or benchmark names)" >&2
            exit 2
            ;;
        *) only+=("$arg") ;;
    esac
done

# name | command (run with bash -c from the repository root)
BENCHES=(
    "ledger|cargo bench -p jxc-agent --bench ledger"
    "sync_load|cargo build --release -p jxc-agent && cargo bench -p jxc-hub --bench sync_load"
    "catalog_load|cargo build --release -p jxc-agent && cargo bench -p jxc-hub --bench catalog_load"
    "inventory_scale|cargo bench -p jxc-hub --bench inventory_scale"
    "plan_scale|cargo bench -p jxc-hub --bench plan_scale"
)
# name | environment for --quick (the benches read their sizes from it)
QUICK_ENV=(
    "ledger|JXC_BENCH_SALES=300 JXC_BENCH_ROWS=20000"
    "sync_load|JXC_LOAD_AGENTS=10 JXC_LOAD_BATCHES=1 JXC_LOAD_BATCH_SIZE=1000 JXC_LOAD_CATCHUP=10000 JXC_LOAD_SALES=5 JXC_LOAD_SITES=20"
    "catalog_load|JXC_CATALOG_SKUS=2000 JXC_CATALOG_AGENTS=10 JXC_CATALOG_STARTS=5"
    "inventory_scale|JXC_INV_SITES=50 JXC_INV_SKUS=1000 JXC_INV_SQLITE_SITES=20 JXC_INV_RUNS=3"
    "plan_scale|JXC_PLAN_ONE_SKUS=2000 JXC_PLAN_SITES=3 JXC_PLAN_SKUS=1000 JXC_PLAN_RUNS=2"
)

known=()
for b in "${BENCHES[@]}"; do known+=("${b%%|*}"); done
for name in "${only[@]+"${only[@]}"}"; do
    if [[ " ${known[*]} " != *" $name "* ]]; then
        echo "bench.sh: no benchmark named $name (known: ${known[*]})" >&2
        exit 2
    fi
done

out="target/bench-results/$(date -u +%Y%m%dT%H%M%SZ)$([[ $quick == 1 ]] && echo -quick || true)"
mkdir -p "$out"
{
    echo "commit: $(git rev-parse --short HEAD 2>/dev/null || echo unknown)$(git diff --quiet HEAD 2>/dev/null || echo ' (with uncommitted changes)')"
    echo "rustc: $(rustc --version)"
    echo "cpus: $(nproc), load average at start: $(cut -d' ' -f1-3 /proc/loadavg 2>/dev/null || echo unknown)"
    echo "mode: $([[ $quick == 1 ]] && echo quick || echo full)"
} >"$out/machine.txt"

failed=()
for b in "${BENCHES[@]}"; do
    name="${b%%|*}"
    cmd="${b#*|}"
    if ((${#only[@]})) && [[ " ${only[*]} " != *" $name "* ]]; then
        continue
    fi
    env_sizes=""
    if [[ $quick == 1 ]]; then
        for q in "${QUICK_ENV[@]}"; do
            [[ "${q%%|*}" == "$name" ]] && env_sizes="${q#*|}"
        done
    fi
    echo "=== $name: ${env_sizes:+$env_sizes }$cmd"
    started=$(date +%s)
    # The figures go to the terminal and the file; cargo's build chatter
    # (stderr) to the terminal only.
    if env $env_sizes bash -c "$cmd" | tee "$out/$name.txt"; then
        echo "=== $name: done in $(($(date +%s) - started)) s"
    else
        echo "=== $name: FAILED"
        failed+=("$name")
    fi
done

echo
echo "results: $out/ ($(cd "$out" && ls | tr '\n' ' '))"
echo "BENCHMARKS.md lists each figure, its target and the command that measured it."
if ((${#failed[@]})); then
    echo "failed: ${failed[*]}" >&2
    exit 1
fi
