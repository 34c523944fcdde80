//! Stock alerts end to end with real processes: a branch and a dealer sell
//! out and sync to `jxc-hub serve`, whose worker POSTs signed alerts to a
//! webhook receiver here; the alerts, their scope, the signature and the
//! "cleared" message agree with what the sites recorded.

use jxc_e2e::webhook::{receiver, wait_for};
use jxc_e2e::{Hub, Site};
use serde_json::Value;

const CATALOG: &str = "sku,name,category,lead_time_days,pack_size,min_order_qty,list_price
TEA-1,\"龙井, 特级\",tea,3,6,12,25
";

const SECRET: &str = "e2e-webhook-secret-0123";

#[test]
fn sold_out_lines_alert_by_signed_webhook_within_their_scope_and_clear_on_restock() {
    let (url, seen) = receiver();
    let hub = Hub::new();
    std::fs::write(
        hub.dir.path().join("jxc-hub.toml"),
        format!(
            "[alerts.webhook]\nurl = \"{url}\"\nsecret = \"{SECRET}\"\n\
             [[alerts.rules]]\nid = \"out\"\nkind = \"stock-out\"\nchannels = [\"webhook\"]\n\
             [[alerts.rules]]\nid = \"dealer-out\"\nkind = \"stock-out\"\nsite_kind = \"dealer\"\nchannels = [\"webhook\"]\n"
        ),
    )
    .unwrap();
    let served = hub.start(None);
    let dir = tempfile::tempdir().unwrap();
    let catalog = dir.path().join("catalog.csv");
    std::fs::write(&catalog, CATALOG).unwrap();
    hub.ok(&["product", "import", catalog.to_str().unwrap()]);

    let bj = Site::new("BJ01", &["main"]);
    let da = Site::with_kind("DA01", "dealer", &["shop"]);
    for (s, id, kind) in [(&bj, "BJ01", "branch"), (&da, "DA01", "dealer")] {
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
    da.ok(&["sync"]);
    let receive = |s: &Site, loc: &str, qty: &str, at: &str| {
        s.ok(&[
            "receive",
            "--location",
            loc,
            "--sku",
            "TEA-1",
            "--qty",
            qty,
            "--cost",
            "10",
            "--at",
            at,
        ]);
    };
    let sell = |s: &Site, loc: &str, qty: &str, at: &str| {
        s.ok(&[
            "sell",
            "--location",
            loc,
            "--sku",
            "TEA-1",
            "--qty",
            qty,
            "--price",
            "20",
            "--at",
            at,
        ]);
    };
    receive(&bj, "main", "5", "2026-11-30 09:00");
    receive(&da, "shop", "3", "2026-11-30 09:00");
    bj.ok(&["sync"]);
    da.ok(&["sync"]);
    assert_eq!(
        hub.json(&["alerts"]),
        Value::Array(vec![]),
        "in stock: no alert"
    );

    sell(&bj, "main", "5", "2026-11-30 15:00");
    sell(&da, "shop", "3", "2026-11-30 15:00");
    bj.ok(&["sync"]);
    da.ok(&["sync"]);
    let raised = wait_for(&seen, SECRET, 3);
    let mut got: Vec<(String, String, String)> = raised
        .iter()
        .map(|m| {
            assert_eq!(m["event"], "raised", "{m}");
            assert_eq!(m["alert"]["figures"]["on_hand"], "0", "{m}");
            let a = &m["alert"];
            (
                a["rule"].as_str().unwrap().to_owned(),
                a["site"].as_str().unwrap().to_owned(),
                a["location"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    got.sort();
    let want = |r: &str, s: &str, l: &str| (r.to_owned(), s.to_owned(), l.to_owned());
    // The dealer rule covers the dealer only.
    assert_eq!(
        got,
        [
            want("dealer-out", "DA01", "shop"),
            want("out", "BJ01", "main"),
            want("out", "DA01", "shop"),
        ]
    );
    let open = hub.json(&["alerts", "--open"]);
    assert_eq!(open.as_array().unwrap().len(), 3, "{open}");

    // BJ01 restocks: one "cleared", and only DA01's stay open.
    receive(&bj, "main", "2", "2026-12-01 09:00");
    bj.ok(&["sync"]);
    let all = wait_for(&seen, SECRET, 4);
    let cleared = &all[3];
    assert_eq!(cleared["event"], "cleared", "{cleared}");
    assert_eq!(cleared["alert"]["site"], "BJ01");
    assert_eq!(cleared["alert"]["figures"]["on_hand"], "2");
    let open = hub.json(&["alerts", "--open"]);
    assert!(
        open.as_array().unwrap().iter().all(|a| a["site"] == "DA01"),
        "{open}"
    );
    assert_eq!(open.as_array().unwrap().len(), 2, "{open}");
    drop(served);
}
