//! The sales flow 销售流向 end to end with real processes: HQ ships to two
//! dealers, a branch and the dealers sell and take returns, everyone syncs,
//! and `jxc-hub sales` and `jxc-hub channel` agree with figures computed
//! here from what each site recorded; a dealer that does not share prices
//! has its qty counted and its money marked as not shared, never 0.

use jxc_e2e::{Hub, Served, Site};
use serde_json::Value;

const CATALOG: &str = "sku,name,category,brand,decimals
TEA-1,\"龙井, 特级\",tea,西湖,2
CUP-1,\"Mug, 350ml\",ware,\"Acme \"\"Pro\"\"\",0
";

fn enroll(site: &Site, served: &Served, hub: &Hub, id: &str, kind: &str) {
    site.ok(&[
        "enroll",
        "--hub",
        &served.url,
        "--token",
        &hub.token(id, kind),
    ]);
}

fn receive(site: &Site, loc: &str, sku: &str, qty: &str, cost: &str, at: &str) {
    site.ok(&[
        "receive",
        "--location",
        loc,
        "--sku",
        sku,
        "--qty",
        qty,
        "--cost",
        cost,
        "--at",
        at,
    ]);
}

fn sell(site: &Site, loc: &str, sku: &str, qty: &str, price: &str, customer: &str, at: &str) {
    site.ok(&[
        "sell",
        "--location",
        loc,
        "--sku",
        sku,
        "--qty",
        qty,
        "--price",
        price,
        "--counterparty",
        customer,
        "--at",
        at,
    ]);
}

/// Sends `qty` of `sku` from WH01/main to `to`; the transfer's id.
fn ship(wh: &Site, to: &str, sku: &str, qty: &str) -> String {
    let out = wh.ok(&[
        "transfer",
        "send",
        "--from",
        "main",
        "--to",
        to,
        "--sku",
        sku,
        "--qty",
        qty,
        "--at",
        "2026-11-02 09:00",
    ]);
    out.lines().last().expect("transfer id").trim().to_owned()
}

/// `(key values…, field)` of each row, for the fields asked.
fn cells(rows: &Value, keys: &[&str], field: &str) -> Vec<Vec<String>> {
    rows.as_array()
        .unwrap()
        .iter()
        .map(|r| {
            keys.iter()
                .chain([&field])
                .map(|k| match &r[*k] {
                    Value::String(s) => s.clone(),
                    Value::Null => "null".to_owned(),
                    v => v.to_string(),
                })
                .collect()
        })
        .collect()
}

fn row(v: &[&str]) -> Vec<String> {
    v.iter().map(|s| s.to_string()).collect()
}

#[test]
fn sales_and_channel_agree_with_what_the_sites_recorded() {
    let hub = Hub::new();
    let served = hub.start(None);
    let dir = tempfile::tempdir().unwrap();
    let catalog = dir.path().join("catalog.csv");
    std::fs::write(&catalog, CATALOG).unwrap();
    hub.ok(&["product", "import", catalog.to_str().unwrap()]);

    let wh = Site::with_kind("WH01", "hq", &["main"]);
    let bj = Site::new("BJ01", &["main"]);
    let da = Site::with_kind("DA01", "dealer", &["shop"]);
    let dn = Site::with_kind("DN01", "dealer", &["shop"]);
    for s in [&wh, &bj, &da, &dn] {
        let home = s.data().parent().unwrap().to_path_buf();
        std::fs::write(
            home.join("jxc-agent.toml"),
            "time_zone = \"Asia/Shanghai\"\n",
        )
        .unwrap();
    }
    enroll(&wh, &served, &hub, "WH01", "hq");
    enroll(&bj, &served, &hub, "BJ01", "branch");
    enroll(&da, &served, &hub, "DA01", "dealer");
    enroll(&dn, &served, &hub, "DN01", "dealer");
    for s in [&wh, &bj, &da, &dn] {
        s.ok(&["sync"]);
    }
    // DA01 shares everything with prices; DN01 its stock and sales, no prices.
    da.ok(&[
        "share",
        "set",
        "--stock",
        "all",
        "--sell-through",
        "identity",
        "--costs-and-prices",
        "true",
    ]);
    dn.ok(&[
        "share",
        "set",
        "--stock",
        "all",
        "--sell-through",
        "identity",
    ]);

    receive(&wh, "main", "TEA-1", "100", "10", "2026-11-01 09:00");
    receive(&wh, "main", "CUP-1", "40", "3", "2026-11-01 09:00");
    let to_da = ship(&wh, "DA01/shop", "TEA-1", "30");
    let to_dn = ship(&wh, "DN01/shop", "TEA-1", "20");
    // HQ sells to a key account as well.
    sell(
        &wh,
        "main",
        "CUP-1",
        "10",
        "5",
        "大客户, \"KA\"",
        "2026-11-03 10:00",
    );
    wh.ok(&["sync"]);
    for (s, id) in [(&da, &to_da), (&dn, &to_dn)] {
        s.ok(&["sync"]);
        s.ok(&["transfer", "receive", id]);
    }

    receive(&bj, "main", "TEA-1", "50", "11", "2026-11-01 10:00");
    sell(
        &bj,
        "main",
        "TEA-1",
        "2.5",
        "20",
        "张三",
        "2026-11-03 11:00",
    );
    // 23:30 in Shanghai on the 9th: that business day, whatever UTC says.
    sell(&bj, "main", "TEA-1", "4", "18", "张三", "2026-11-09 23:30");
    bj.ok(&[
        "return",
        "--location",
        "main",
        "--sku",
        "TEA-1",
        "--qty",
        "1",
        "--price",
        "20",
        "--counterparty",
        "张三",
        "--at",
        "2026-11-10 09:00",
    ]);
    sell(&da, "shop", "TEA-1", "5", "16", "王五", "2026-11-04 15:00");
    sell(&da, "shop", "TEA-1", "3", "16", "王五", "2026-11-05 15:00");
    sell(&dn, "shop", "TEA-1", "6", "15", "赵六", "2026-11-05 16:00");
    for s in [&wh, &bj, &da, &dn] {
        s.ok(&["sync"]);
    }

    // By site: qty, returns, revenue and margin as computed from the
    // records (costs are each site's moving average: HQ's 10 travels with
    // the transfers; BJ01 bought at 11).
    let by_site = hub.json(&["sales", "--by", "site"]);
    assert_eq!(
        cells(&by_site, &["site"], "net_qty"),
        [
            row(&["BJ01", "5.5"]),
            row(&["DA01", "8"]),
            row(&["DN01", "6"]),
            row(&["WH01", "10"])
        ],
        "{by_site}"
    );
    // BJ01: 2.5 × 20 + 4 × 18 − 1 × 20 = 102; cost 5.5 × 11 = 60.5.
    // DA01: 8 × 16 = 128; cost 8 × 10 = 80. WH01: 10 × 5 = 50; cost 30.
    assert_eq!(
        cells(&by_site, &["site"], "revenue"),
        [
            row(&["BJ01", "102"]),
            row(&["DA01", "128"]),
            row(&["DN01", "null"]),
            row(&["WH01", "50"])
        ]
    );
    assert_eq!(
        cells(&by_site, &["site"], "margin"),
        [
            row(&["BJ01", "41.5"]),
            row(&["DA01", "48"]),
            row(&["DN01", "null"]),
            row(&["WH01", "20"])
        ]
    );
    assert_eq!(
        cells(&by_site, &["site"], "priced")[2],
        row(&["DN01", "none"])
    );

    // By category and week, and by brand: the catalog's fields.
    let by_cat = hub.json(&["sales", "--by", "category,week"]);
    assert_eq!(
        cells(&by_cat, &["category", "week"], "net_qty"),
        [
            row(&["tea", "2026-W45", "16.5"]),
            row(&["tea", "2026-W46", "3"]),
            row(&["ware", "2026-W45", "10"])
        ],
        "{by_cat}"
    );
    let by_brand = hub.json(&["sales", "--by", "brand", "--kind", "hq"]);
    assert_eq!(
        cells(&by_brand, &["brand"], "qty"),
        [row(&["Acme \"Pro\"", "10"])]
    );
    // Business days in the site's zone; --to is exclusive.
    let day = hub.json(&[
        "sales",
        "--by",
        "day",
        "--site",
        "BJ01",
        "--from",
        "2026-11-09",
        "--to",
        "2026-11-10",
    ]);
    assert_eq!(
        cells(&day, &["day"], "qty"),
        [row(&["2026-11-09", "4"])],
        "{day}"
    );

    // The table and CSV say "not shared" for DN01's money.
    let table = hub.ok(&["sales", "--by", "site", "--kind", "dealer"]);
    assert!(table.contains("not shared"), "{table}");
    let csv = hub.ok(&["sales", "--by", "customer", "--csv"]);
    assert!(csv.contains("\"大客户, \"\"KA\"\"\""), "{csv}");

    // Sell-in against sell-through per dealer.
    // The dealers received their transfers today (the agent's clock):
    // the period runs to the day after tomorrow, whatever day this runs.
    let to = (chrono::Utc::now() + chrono::Duration::days(2)).date_naive();
    let from = chrono::NaiveDate::from_ymd_opt(2026, 11, 1).unwrap();
    let channel = hub.json(&[
        "channel",
        "--from",
        &from.to_string(),
        "--to",
        &to.to_string(),
    ]);
    assert_eq!(
        cells(&channel, &["key"], "sell_in"),
        [row(&["DA01", "30"]), row(&["DN01", "20"])]
    );
    assert_eq!(
        cells(&channel, &["key"], "sell_through"),
        [row(&["DA01", "8"]), row(&["DN01", "6"])]
    );
    assert_eq!(
        cells(&channel, &["key"], "change"),
        [row(&["DA01", "22"]), row(&["DN01", "14"])]
    );
    assert_eq!(
        cells(&channel, &["key"], "on_hand"),
        [row(&["DA01", "22"]), row(&["DN01", "14"])]
    );
    // On hand over the period's sell-through per week.
    let cover = |on_hand: i64, sold: i64| {
        use rust_decimal::Decimal;
        let weeks = Decimal::from((to - from).num_days()) / Decimal::from(7);
        (Decimal::from(on_hand) / (Decimal::from(sold) / weeks))
            .round_dp(1)
            .normalize()
            .to_string()
    };
    assert_eq!(
        cells(&channel, &["key"], "weeks_of_cover"),
        [row(&["DA01", &cover(22, 8)]), row(&["DN01", &cover(14, 6)])]
    );

    // Sunk stock as of the 11th over the 10 days before it: HQ's tea never
    // sold; everything else sold, but holds more than 10 days of supply.
    let sunk = hub.json(&[
        "plan",
        "sunk",
        "--by",
        "line",
        "--days",
        "10",
        "--as-of",
        "2026-11-11",
    ]);
    let lines: Vec<Vec<String>> = sunk
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            ["tier", "location", "sku", "reason", "qty", "days_of_supply"]
                .iter()
                .map(|k| r[*k].as_str().unwrap_or("-").to_owned())
                .collect()
        })
        .collect();
    assert_eq!(
        lines,
        [
            row(&["hq", "WH01/main", "CUP-1", "over_supply", "30", "30"]),
            row(&["hq", "WH01/main", "TEA-1", "no_sale", "50", "-"]),
            row(&[
                "branch",
                "BJ01/main",
                "TEA-1",
                "over_supply",
                "44.5",
                "80.9"
            ]),
            row(&["dealer", "DA01/shop", "TEA-1", "over_supply", "22", "27.5"]),
            row(&["dealer", "DN01/shop", "TEA-1", "over_supply", "14", "23.3"]),
        ],
        "{sunk}"
    );
    let by_region = hub.json(&[
        "plan",
        "sunk",
        "--by",
        "region",
        "--days",
        "10",
        "--as-of",
        "2026-11-11",
    ]);
    assert_eq!(
        by_region.as_array().unwrap().len(),
        3,
        "one region per tier: {by_region}"
    );

    // Bad input: one line naming the value, exit 3.
    for (args, says) in [
        (vec!["sales", "--by", "colour"], "colour"),
        (vec!["sales", "--site", "ZZ99"], "ZZ99"),
        (
            vec!["sales", "--from", "2026-11-10", "--to", "2026-11-01"],
            "2026-11-10",
        ),
        (vec!["channel", "--by", "sku"], "sku"),
        (vec!["plan", "sunk", "--days", "0"], "days 0"),
        (vec!["plan", "sunk", "--as-of", "2026-02-30"], "2026-02-30"),
    ] {
        let out = hub.command(&args).output().unwrap();
        assert_eq!(out.status.code(), Some(3), "{args:?}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(
            err.contains(says) && err.trim().lines().count() == 1,
            "{args:?}: {err}"
        );
    }
}
