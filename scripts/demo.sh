#!/usr/bin/env bash
# A walk through one branch's day with jxc-agent, in a fresh temporary data
# directory: set-up, receipts, sales, a transfer, a stocktake during trading,
# a bulk import with a bad row, and the ledger's own proof that it is consistent.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release -q -p jxc-agent
AGENT="$PWD/target/release/jxc-agent"
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
export JXC_AGENT_DATA="$WORK/data"
run() { echo; echo "\$ jxc-agent $*"; "$AGENT" "$@"; }

run init --site BJ01 --kind branch --name "北京分公司" --region north
run location add main --name "主仓"
run location add shop --name "门店"
cat > "$WORK/products.csv" <<'CSV'
sku,name,unit,category,brand,decimals
TEA-LJ-500,"龙井, 特级 500g",盒,tea,西湖,0
RICE-5KG,"东北大米 ""五常""",kg,grain,五常,3
CSV
run product import "$WORK/products.csv"
run receive --location main --sku TEA-LJ-500 --qty 40 --cost 120 --counterparty "杭州茶厂" --ref PO-1001
run receive --location main --sku RICE-5KG --qty 250.5 --cost 6.2 --ref PO-1002
run sell --location main --sku TEA-LJ-500 --qty 3 --price 198 --counterparty "张三, 朝阳店" --ref SO-1
run transfer send --from main --to BJ01/shop --sku TEA-LJ-500 --qty 10
run transfer send --from main --to SH01/main --sku RICE-5KG --qty 50
run count start --location main
run count set TEA-LJ-500 26
run sell --location main --sku TEA-LJ-500 --qty 1 --price 198
run count post
cat > "$WORK/pos.csv" <<'CSV'
type,location,sku,qty,lot,unit_cost,unit_price,counterparty,ref,occurred_at
sale,shop,TEA-LJ-500,2,,,188,"李四, ""VIP""",POS-1,2026-11-02T10:15:00+08:00
sale,shop,RICE-5KG,1.5,,,9.9,,POS-2,2026-11-02T10:16:00+08:00
sale,shop,TEA-LJ-500,1,,,188,王五,POS-3,2026-11-02T10:17:00+08:00
CSV
echo; echo "# the shop has no rice yet: the import is refused whole and names the bad row"
run import "$WORK/pos.csv" || echo "(exit code $?)"
run import "$WORK/pos.csv" --skip-bad "$WORK/rejects.csv"
echo; cat "$WORK/rejects.csv"
run stock
run moves
run transfer list
run verify
run status
