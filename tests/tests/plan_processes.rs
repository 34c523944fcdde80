//! HQ planning end to end with real processes: HQ, a branch and a dealer
//! record four weeks of steady sales in their own ledgers and sync, then
//! `jxc-hub sales`, `jxc-hub plan policy`, `jxc-hub plan reorder` and the
//! below-reorder-point alert the hub POSTs to a webhook here agree with
//! figures computed here from what each site recorded.

use jxc_e2e::webhook::{receiver, wait_for};
use jxc_e2e::{Hub, Site};
use serde_json::Value;

const SECRET: &str = "plan-e2e-webhook-secret";

const CATALOG: &str = "sku,name,category,lead_time_days,pack_size,min_order_qty,list_price
TEA-1,\"龙井, 特级\",tea,3,6,12,25
CUP-1,\"Mug, 350ml\",ware,5,1,,8
";

fn num(v: &Value) -> f64 {
    v.as_str()
        .unwrap_or_else(|| panic!("not a decimal string: {v}"))
        .parse()
        .unwrap()
}

/// The row of `rows` with these site, location and sku.
fn line<'a>(rows: &'a Value, site: &str, location: &str, sku: &str) -> &'a Value {
    rows.as_array()
        .unwrap()
        .iter()
        .find(|r| r["site"] == site && r["location"] == location && r["sku"] == sku)
        .unwrap_or_else(|| panic!("no line {site}/{location} {sku} in {rows}"))
}

#[test]
fn sales_policy_and_reorder_agree_with_what_the_sites_recorded() {
    let (url, seen) = receiver();
    let hub = Hub::new();
    std::fs::write(
        hub.dir.path().join("jxc-hub.toml"),
        format!(
            "[alerts.webhook]\nurl = \"{url}\"\nsecret = \"{SECRET}\"\n\
             [[alerts.rules]]\nid = \"low\"\nkind = \"below-reorder-point\"\nchannels = [\"webhook\"]\n"
        ),
    )
    .unwrap();
    let served = hub.start(None);
    let dir = tempfile::tempdir().unwrap();
    let catalog = dir.path().join("catalog.csv");
    std::fs::write(&catalog, CATALOG).unwrap();
    hub.ok(&["product", "import", catalog.to_str().unwrap()]);

    let wh = Site::with_kind("WH01", "hq", &["main"]);
    let bj = Site::new("BJ01", &["main"]);
    let da = Site::with_kind("DA01", "dealer", &["shop"]);
    for (s, id, kind) in [
        (&wh, "WH01", "hq"),
        (&bj, "BJ01", "branch"),
        (&da, "DA01", "dealer"),
    ] {
        let home = s.data().parent().unwrap().to_path_buf();
        std::fs::write(
            home.join("jxc-agent.toml"),
            "time_zone = \"Asia/Shanghai\"\n",
        )
        .unwrap();
        s.ok(&[
            "enroll",
            "--hub",
            &served.url,
            "--token",
            &hub.token(id, kind),
        ]);
        s.ok(&["sync"]);
    }
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

    // Four weeks from Sunday 2026-11-01: BJ01 sells 3 TEA-1 a day (one
    // CUP-1 every other day), DA01 2 TEA-1 a day; WH01 holds 500 TEA-1.
    let receive = |s: &Site, loc: &str, sku: &str, qty: &str| {
        s.ok(&[
            "receive",
            "--location",
            loc,
            "--sku",
            sku,
            "--qty",
            qty,
            "--cost",
            "10",
            "--at",
            "2026-10-31 09:00",
        ]);
    };
    receive(&wh, "main", "TEA-1", "500");
    receive(&bj, "main", "TEA-1", "100");
    receive(&bj, "main", "CUP-1", "30");
    receive(&da, "shop", "TEA-1", "70");
    let sell = |s: &Site, loc: &str, sku: &str, qty: &str, price: &str, day: u32| {
        let at = format!("2026-11-{day:02} 15:00");
        s.ok(&[
            "sell",
            "--location",
            loc,
            "--sku",
            sku,
            "--qty",
            qty,
            "--price",
            price,
            "--at",
            &at,
        ]);
    };
    let (mut bj_revenue, mut da_revenue) = (0.0, 0.0);
    for day in 1..=28 {
        sell(&bj, "main", "TEA-1", "3", "20", day);
        bj_revenue += 60.0;
        if day % 2 == 0 {
            sell(&bj, "main", "CUP-1", "1", "8", day);
            bj_revenue += 8.0;
        }
        sell(&da, "shop", "TEA-1", "2", "22", day);
        da_revenue += 44.0;
    }
    for s in [&wh, &bj, &da] {
        s.ok(&["sync"]);
    }

    // Sales per site over the four weeks, as recorded.
    let sales = hub.json(&[
        "sales",
        "--by",
        "site",
        "--from",
        "2026-11-01",
        "--to",
        "2026-11-29",
    ]);
    let site = |id: &str| {
        sales
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["site"] == id)
            .unwrap()
            .clone()
    };
    assert_eq!(num(&site("BJ01")["revenue"]), bj_revenue, "{sales}");
    assert_eq!(num(&site("BJ01")["net_qty"]), 28.0 * 3.0 + 14.0, "{sales}");
    assert_eq!(num(&site("DA01")["revenue"]), da_revenue, "{sales}");

    // The policy as of the 29th: a constant 3 a day has no forecast error,
    // so safety stock is 0, ROP = 3 × 3 (catalog lead time) and the
    // order-up-to level covers 3 + 7 review days.
    let policy = hub.json(&["plan", "policy", "--as-of", "2026-11-29"]);
    let tea = line(&policy, "BJ01", "main", "TEA-1");
    let d = num(&tea["daily_demand"]);
    assert!((d - 3.0).abs() < 0.05, "{tea}");
    let ss = num(&tea["safety_stock"]);
    assert!(ss < 0.5, "{tea}");
    assert!(
        (num(&tea["reorder_point"]) - (3.0 * d + ss)).abs() < 0.001,
        "{tea}"
    );
    assert!(
        (num(&tea["order_up_to"]) - (10.0 * d + ss)).abs() < 0.001,
        "{tea}"
    );
    assert_eq!(num(&tea["on_hand"]), 100.0 - 84.0, "{tea}");
    assert!(
        (num(&tea["days_of_supply"]) - 16.0 / d).abs() < 0.06,
        "{tea}"
    );
    // BJ01's revenue: TEA-1 1680 of 1792 (93.75%) → A, and CUP-1 → B.
    assert_eq!(
        (&tea["abc"], &tea["xyz"]),
        (&Value::from("A"), &Value::from("X"))
    );
    assert_eq!(
        line(&policy, "BJ01", "main", "CUP-1")["abc"],
        "B",
        "{policy}"
    );
    let dealer = line(&policy, "DA01", "shop", "TEA-1");
    assert!(
        (num(&dealer["daily_demand"]) - 2.0).abs() < 0.05,
        "{dealer}"
    );
    assert_eq!(num(&dealer["on_hand"]), 70.0 - 56.0, "{dealer}");

    // Nothing is at its reorder point yet (16 > 9, 14 > 6). Four more days
    // of sales bring BJ01 to 4: a transfer from WH01/main of
    // order-up-to − 4, at least 12, in packs of 6.
    let reorder = hub.json(&["plan", "reorder", "--as-of", "2026-11-29"]);
    assert_eq!(reorder, Value::Array(vec![]), "{reorder}");
    // Stored for the alerts, which judge each synced line against it.
    hub.ok(&["plan", "policy", "--as-of", "2026-11-29", "--save"]);
    let rop = num(&tea["reorder_point"]);
    for day in 29..=30 {
        sell(&bj, "main", "TEA-1", "3", "20", day);
    }
    bj.ok(&[
        "sell",
        "--location",
        "main",
        "--sku",
        "TEA-1",
        "--qty",
        "6",
        "--price",
        "20",
        "--at",
        "2026-12-01 10:00",
    ]);
    bj.ok(&["sync"]);
    let reorder = hub.json(&["plan", "reorder", "--site", "BJ01", "--as-of", "2026-12-01"]);
    let s = &reorder.as_array().unwrap_or_else(|| panic!("{reorder}"))[0];
    assert_eq!(
        (&s["sku"], &s["action"], &s["source"]),
        (&"TEA-1".into(), &"transfer".into(), &"WH01/main".into()),
        "{s}"
    );
    assert_eq!(num(&s["source_on_hand"]), 500.0, "{s}");
    assert_eq!(num(&s["inputs"]["on_hand"]), 4.0, "{s}");
    let need = num(&s["inputs"]["order_up_to"]) - 4.0;
    assert!((num(&s["need"]) - need).abs() < 0.0001, "{s}");
    let qty = num(&s["qty"]);
    assert!(
        qty % 6.0 == 0.0 && qty >= need.max(12.0) && qty < need.max(12.0) + 6.0,
        "{s}"
    );

    // The sync that took BJ01 to 4 ≤ its reorder point raised one alert,
    // signed, with the figures computed here.
    let got = wait_for(&seen, SECRET, 1);
    let a = &got[0]["alert"];
    assert_eq!(got[0]["event"], "raised", "{got:?}");
    assert_eq!(
        (&a["site"], &a["location"], &a["sku"]),
        (&"BJ01".into(), &"main".into(), &"TEA-1".into()),
        "{a}"
    );
    assert_eq!(num(&a["figures"]["on_hand"]), 4.0, "{a}");
    assert!(
        (num(&a["figures"]["reorder_point"]) - rop).abs() < 0.0001,
        "{a}"
    );
    let open = hub.json(&["alerts", "--open"]);
    assert_eq!(
        open.as_array().map(Vec::len),
        Some(1),
        "only BJ01's line: {open}"
    );

    // A service level the hub cannot plan with: exit 3, naming it.
    let out = hub
        .command(&["plan", "policy", "--service-level", "0.4"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(3));
    assert!(String::from_utf8_lossy(&out.stderr).contains("service_level 0.4"));
}
