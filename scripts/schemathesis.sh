#!/usr/bin/env bash
# API fuzzing: runs schemathesis (PyPI) against a real `jxc-hub serve`, driven
# by the hub's own /openapi.json, with an HQ bearer token and TLS verified
# against the hub's CA. Exits non-zero if schemathesis reports any failure.
#
#   scripts/schemathesis.sh [SCHEMATHESIS RUN OPTIONS...]
#
# e.g. `scripts/schemathesis.sh --max-examples 500` for a longer run, or
# `--checks not_a_server_error` for one check. Defaults: every check
# (--checks all), a fixed seed, 200 examples per operation. The hub runs in a
# temporary directory that is removed afterwards; schemathesis lives in a
# virtualenv under target/schemathesis/ (made on first use), and its reports
# (JUnit XML, and a pytest file reproducing any failure) go to
# target/schemathesis/report/.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD

cargo build -q -p jxc-hub -p jxc-agent
hub="${CARGO_TARGET_DIR:-$root/target}/debug/jxc-hub"
agent="${CARGO_TARGET_DIR:-$root/target}/debug/jxc-agent"

venv="$root/target/schemathesis/venv"
if [[ ! -x "$venv/bin/schemathesis" ]]; then
    echo "schemathesis.sh: installing schemathesis into $venv" >&2
    python3 -m venv "$venv"
    "$venv/bin/pip" install -q --upgrade pip
    "$venv/bin/pip" install -q 'schemathesis>=4,<5'
fi

work=$(mktemp -d)
hub_pid=""
cleanup() {
    if [[ -n "$hub_pid" ]]; then
        kill -TERM "$hub_pid" 2>/dev/null || true
        wait "$hub_pid" 2>/dev/null || true
    fi
    rm -rf "$work"
}
trap cleanup EXIT

export JXC_HUB_DATA="$work/hub"
unset JXC_HUB_CONFIG
"$hub" init >/dev/null
# A viewer, the least an HQ token can be: everything the API offers HQ must
# work for it.
hq_token=$("$hub" user add schemathesis --role viewer)

# Port 0: the hub binds a free port and prints it.
JXC_LOG=warn "$hub" serve --listen 127.0.0.1:0 >"$work/serve.out" 2>"$work/serve.log" &
hub_pid=$!
base=""
for _ in $(seq 1 100); do
    base=$(sed -n 's/^listening on \(https:\/\/[0-9.:]*\)$/\1/p' "$work/serve.out")
    [[ -n "$base" ]] && break
    if ! kill -0 "$hub_pid" 2>/dev/null; then
        cat "$work/serve.log" >&2
        echo "schemathesis.sh: jxc-hub serve exited" >&2
        exit 1
    fi
    sleep 0.1
done
if [[ -z "$base" ]]; then
    echo "schemathesis.sh: jxc-hub serve did not report its address" >&2
    exit 1
fi
echo "schemathesis.sh: hub at $base (data $JXC_HUB_DATA)" >&2

# Something to read: two enrolled branches with stock, sales, a transfer in
# transit between them, so response schemas are checked on real rows.
for site in BJ01 SH01; do
    token=$("$hub" token --site "$site" --kind branch --region east --ttl 1h)
    export JXC_AGENT_DATA="$work/$site"
    unset JXC_AGENT_CONFIG
    {
        "$agent" init --site "$site" --kind branch --name "分公司 $site" --region east
        "$agent" location add main
        "$agent" product add TEA-1 --name "龙井, 特级" --unit 盒 --decimals 2
        "$agent" receive --location main --sku TEA-1 --qty 10 --cost 120 --ref PO-1
        "$agent" sell --location main --sku TEA-1 --qty 1.5 --price 198 --counterparty 张三
        "$agent" transfer send --from main --to SH01/main --sku TEA-1 --qty 2
        "$agent" enroll --hub "$base" --token "$token"
        "$agent" sync
    } >"$work/$site.log" 2>&1 || {
        cat "$work/$site.log" >&2
        echo "schemathesis.sh: could not put sample data into the hub" >&2
        exit 1
    }
done

report="$root/target/schemathesis/report"
rm -rf "$report"
status=0
PYTHONPATH="$root/scripts${PYTHONPATH:+:$PYTHONPATH}" SCHEMATHESIS_HOOKS=schemathesis_hooks \
    "$venv/bin/schemathesis" run "$base/openapi.json" \
    --header "Authorization: Bearer $hq_token" \
    --tls-verify "$JXC_HUB_DATA/ca.pem" \
    --checks all \
    --max-examples 200 \
    --seed 2026 \
    --workers 2 \
    --report junit,pytest --report-dir "$report" \
    "$@" || status=$?

if grep -q " ERROR " "$work/serve.log"; then
    echo "schemathesis.sh: the hub logged errors:" >&2
    grep " ERROR " "$work/serve.log" | head -20 >&2
    status=${status/#0/1}
fi
exit "$status"
