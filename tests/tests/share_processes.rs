//! A dealer's sharing policy, end to end with real processes: nothing leaves
//! before the dealer shares it; once it shares one category, only that
//! category reaches the hub (under HQ SKUs, pseudonymous, without costs),
//! the hub's figures match an oracle, a crafted request carrying what the
//! policy does not share is refused record by record, and narrowing the
//! policy freezes what HQ holds, marked as no longer updated.

use jxc_e2e::{Https, Hub, Served, Site};
use jxc_shared::MovementKind;
use jxc_shared::protocol::{SyncRequest, WireMovement};
use serde_json::Value;

const CATALOG: &str = "sku,name,category,decimals
TEA-1,\"龙井, 特级\",tea,0
TEA-2,碧螺春,tea,0
CUP-1,\"Mug, 350ml\",ware,0
";

fn enroll(site: &Site, served: &Served, token: &str) {
    site.ok(&["enroll", "--hub", &served.url, "--token", token]);
}

fn hub_movements(api: &Https, admin: &str, site: &str) -> Vec<Value> {
    let r = api.get(
        &format!("/v1/movements?site={site}&limit=10000"),
        Some(admin),
    );
    assert_eq!(r.status, 200, "{}", r.text());
    r.json()["movements"].as_array().unwrap().clone()
}

fn on_hand(hub: &Hub, site: &str) -> Vec<(String, String, String)> {
    let rows = hub.json(&["inventory", "--site", site, "--by", "sku"]);
    rows.as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (
                r["key"].as_str().unwrap().to_owned(),
                r["on_hand"].as_str().unwrap().to_owned(),
                r["not_updated"].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

#[test]
fn a_dealer_shares_only_what_its_policy_says() {
    let hub = Hub::new();
    let served = hub.start(None);
    let admin = hub.admin.clone();
    let api = Https::new(&served.url, &hub.ca_pem(), None);
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("catalog.csv");
    std::fs::write(&file, CATALOG).unwrap();
    hub.ok(&["product", "import", file.to_str().unwrap()]);

    let dl = Site::with_kind("DL01", "dealer", &["shop"]);
    enroll(&dl, &served, &hub.token("DL01", "dealer"));
    dl.ok(&["sync"]);
    dl.ok(&["product", "add", "MY-1", "--name", "own brand tea"]);
    dl.ok(&["product", "add", "my-tea", "--name", "碧螺春 (our code)"]);
    dl.ok(&["sku-map", "set", "my-tea", "TEA-2"]);
    dl.ok(&[
        "customer", "add", "C1", "--name", "王五", "--region", "east", "--type", "retail",
    ]);

    // Before any policy: work happens, nothing leaves.
    let recv = |sku: &str, qty: &str| {
        dl.ok(&[
            "receive",
            "--location",
            "shop",
            "--sku",
            sku,
            "--qty",
            qty,
            "--cost",
            "7.5",
        ]);
    };
    recv("TEA-1", "10");
    recv("CUP-1", "5");
    let report = dl.json(&["sync"]);
    assert_eq!(report["sent"], 0, "{report}");
    assert!(hub_movements(&api, &admin, "DL01").is_empty());

    // Share the tea category, customers as pseudonyms, no costs.
    dl.ok(&[
        "share",
        "set",
        "--stock",
        "selected",
        "--category",
        "tea",
        "--sell-through",
        "pseudonym",
        "--costs-and-prices",
        "false",
    ]);
    let sell = |sku: &str, qty: &str, to: &str| {
        dl.ok(&[
            "sell",
            "--location",
            "shop",
            "--sku",
            sku,
            "--qty",
            qty,
            "--price",
            "20",
            "--counterparty",
            to,
            "--ref",
            "SO-9",
        ]);
    };
    recv("my-tea", "4");
    sell("TEA-1", "3", "C1");
    sell("TEA-1", "1", "C1");
    sell("TEA-1", "1", "散客 Zhang");
    sell("CUP-1", "2", "C1");
    recv("MY-1", "7");
    // An own item cannot go to another site: HQ routes transfers, and it
    // never sees the dealer's own items.
    let err = dl.fails(
        &[
            "transfer",
            "send",
            "--from",
            "shop",
            "--to",
            "BR01/main",
            "--sku",
            "MY-1",
            "--qty",
            "1",
        ],
        3,
    );
    assert!(
        err.contains("sku \"MY-1\"") && err.contains("own item"),
        "{err}"
    );
    let report = dl.json(&["sync"]);
    assert_eq!(
        report["quarantined"].as_array().unwrap().len(),
        0,
        "{report}"
    );

    // Oracle: the 4 my-tea received as TEA-2, an opening of the 10 TEA-1
    // received before sharing began, three TEA-1 sales. Nothing else.
    let moves = hub_movements(&api, &admin, "DL01");
    let seqs: Vec<u64> = moves.iter().map(|m| m["seq"].as_u64().unwrap()).collect();
    assert_eq!(
        seqs,
        vec![1, 2, 3, 4, 5],
        "gapless, and no hint of the rest"
    );
    let kinds: Vec<&str> = moves.iter().map(|m| m["type"].as_str().unwrap()).collect();
    assert_eq!(kinds, vec!["receipt", "opening", "sale", "sale", "sale"]);
    // The dealer sees exactly what left its machine, and that the hub has it.
    let sent = dl.json(&["share", "sent"]);
    let sent = sent.as_array().unwrap();
    assert_eq!(sent.len(), moves.len(), "{sent:?}");
    for (s, m) in sent.iter().zip(&moves) {
        for field in [
            "seq",
            "type",
            "location",
            "sku",
            "qty",
            "unit_cost",
            "counterparty",
        ] {
            assert_eq!(s[field], m[field], "{field}: {s} vs {m}");
        }
        assert_eq!(s["acknowledged"], true, "{s}");
    }
    let last_two = dl.json(&["share", "sent", "--limit", "2"]);
    assert_eq!(last_two[0]["seq"], 4, "{last_two}");
    let table = dl.ok(&["share", "sent"]);
    assert!(
        table.contains("5 record(s) published for HQ; the hub has the first 5"),
        "{table}"
    );
    // Without the times: a timestamp such as "…:47.509Z" holds "7.5".
    let untimed: Vec<serde_json::Value> = moves
        .iter()
        .map(|m| {
            let mut m = m.clone();
            if let Some(o) = m.as_object_mut() {
                o.retain(|k, _| !k.ends_with("_at"));
            }
            m
        })
        .collect();
    let text = serde_json::to_string(&untimed).unwrap();
    for secret in [
        "CUP-1", "MY-1", "my-tea", "王五", "Zhang", "C1", "SO-9", "7.5",
    ] {
        assert!(!text.contains(secret), "{secret} leaked: {text}");
    }
    for m in &moves {
        assert_eq!(m["unit_cost"], "0", "{m}");
        assert!(m["unit_price"].is_null(), "{m}");
    }
    let cps: Vec<&str> = moves[2..]
        .iter()
        .map(|m| m["counterparty"].as_str().unwrap())
        .collect();
    assert_eq!(cps[0], cps[1], "the same customer, the same pseudonym");
    assert_ne!(cps[0], cps[2]);
    assert!(cps[0].ends_with(";region=east;type=retail"), "{}", cps[0]);
    assert_eq!(
        on_hand(&hub, "DL01"),
        vec![
            ("TEA-1".to_owned(), "5".to_owned(), "0".to_owned()),
            ("TEA-2".to_owned(), "4".to_owned(), "0".to_owned()),
        ]
    );
    let sites = hub.json(&["sites"]);
    let me = sites
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["id"] == "DL01")
        .unwrap();
    assert_eq!(me["hwm"], 5, "{me}");

    // Forced: a request with the dealer's own certificate carrying what the
    // policy does not share is refused record by record.
    let cert = dl.file("agent.pem");
    let key = dl.file("agent.key");
    let agent = Https::new(&served.url, &dl.file("hub-ca.pem"), Some((&cert, &key)));
    let template = WireMovement {
        seq: 6,
        kind: MovementKind::Sale,
        location: "DL01/shop".into(),
        sku: "CUP-1".into(),
        lot: String::new(),
        qty_micro: -1_000_000,
        unit_cost: "0".into(),
        unit_price: None,
        counterparty: None,
        reference: None,
        reason: None,
        transfer_id: None,
        occurred_ms: 1_790_000_000_000,
        offset_min: 480,
        recorded_ms: 1_790_000_000_000,
    };
    let named = WireMovement {
        seq: 7,
        sku: "TEA-1".into(),
        counterparty: Some("王五".into()),
        ..template.clone()
    };
    let costed = WireMovement {
        seq: 8,
        sku: "TEA-1".into(),
        kind: MovementKind::Receipt,
        qty_micro: 1_000_000,
        unit_cost: "7.5".into(),
        ..template.clone()
    };
    let own = WireMovement {
        seq: 9,
        sku: "MY-1".into(),
        ..template.clone()
    };
    let req = SyncRequest {
        from_seq: 6,
        movements: vec![template, named, costed, own],
        agent_last_seq: 9,
        transfers_cursor: 0,
        locations: Vec::new(),
        agent_time_ms: 1_790_000_000_000,
    };
    let r = agent.sync(&req);
    assert_eq!(r.status, 200, "{}", r.text());
    let q = hub.json(&["quarantine"]);
    let reasons: Vec<&str> = q
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["reason"].as_str().unwrap())
        .collect();
    assert_eq!(reasons.len(), 4, "{q}");
    assert!(
        reasons[0].contains("outside the dealer's sharing policy"),
        "{q}"
    );
    assert!(reasons[1].contains("customer detail"), "{q}");
    assert!(reasons[2].contains("costs or prices"), "{q}");
    assert!(reasons[3].contains("not in the HQ catalog"), "{q}");
    assert_eq!(
        hub_movements(&api, &admin, "DL01").len(),
        5,
        "nothing applied"
    );
    assert_eq!(
        on_hand(&hub, "DL01")[0],
        ("TEA-1".to_owned(), "5".to_owned(), "0".to_owned())
    );
}

#[test]
fn narrowing_a_policy_freezes_what_hq_holds_and_says_so() {
    let hub = Hub::new();
    let served = hub.start(None);
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("catalog.csv");
    std::fs::write(&file, CATALOG).unwrap();
    hub.ok(&["product", "import", file.to_str().unwrap()]);
    let dl = Site::with_kind("DL02", "dealer", &["shop"]);
    enroll(&dl, &served, &hub.token("DL02", "dealer"));
    dl.ok(&["sync"]);
    dl.ok(&[
        "share",
        "set",
        "--stock",
        "all",
        "--sell-through",
        "daily-totals",
    ]);
    dl.ok(&[
        "receive",
        "--location",
        "shop",
        "--sku",
        "TEA-1",
        "--qty",
        "9",
        "--cost",
        "3",
    ]);
    dl.ok(&[
        "receive",
        "--location",
        "shop",
        "--sku",
        "CUP-1",
        "--qty",
        "4",
        "--cost",
        "2",
    ]);
    // Two sales on a day that is over: one daily total reaches HQ.
    for qty in ["1", "2"] {
        dl.ok(&[
            "sell",
            "--location",
            "shop",
            "--sku",
            "TEA-1",
            "--qty",
            qty,
            "--counterparty",
            "C9",
            "--at",
            "2026-01-05T10:00:00+08:00",
        ]);
    }
    dl.ok(&["sync"]);
    assert_eq!(
        on_hand(&hub, "DL02"),
        vec![
            ("CUP-1".to_owned(), "4".to_owned(), "0".to_owned()),
            ("TEA-1".to_owned(), "6".to_owned(), "0".to_owned()),
        ]
    );
    // The dealer does not share costs: its stock counts, valued at nothing,
    // and HQ is told how much of it that is.
    let rows = hub.json(&["inventory", "--site", "DL02", "--by", "site"]);
    assert_eq!(rows[0]["on_hand"], "10", "{rows}");
    assert_eq!(rows[0]["value"], "0", "{rows}");
    assert_eq!(rows[0]["unvalued"], "10", "{rows}");
    // Now only tea: CUP-1 stops flowing and is marked as no longer updated.
    dl.ok(&["share", "set", "--stock", "selected", "--category", "tea"]);
    dl.ok(&["sell", "--location", "shop", "--sku", "CUP-1", "--qty", "1"]);
    dl.ok(&["sync"]);
    assert_eq!(
        on_hand(&hub, "DL02"),
        vec![
            ("CUP-1".to_owned(), "4".to_owned(), "4".to_owned()),
            ("TEA-1".to_owned(), "6".to_owned(), "0".to_owned()),
        ]
    );
    // Widened again: on the next sync a reconciling adjustment brings HQ
    // back to the truth, even though CUP-1 did not move since.
    dl.ok(&["share", "set", "--stock", "all"]);
    dl.ok(&["sync"]);
    assert_eq!(
        on_hand(&hub, "DL02"),
        vec![
            ("CUP-1".to_owned(), "3".to_owned(), "0".to_owned()),
            ("TEA-1".to_owned(), "6".to_owned(), "0".to_owned()),
        ]
    );
    dl.ok(&[
        "receive",
        "--location",
        "shop",
        "--sku",
        "CUP-1",
        "--qty",
        "1",
        "--cost",
        "2",
    ]);
    dl.ok(&["sync"]);
    assert_eq!(
        on_hand(&hub, "DL02"),
        vec![
            ("CUP-1".to_owned(), "4".to_owned(), "0".to_owned()),
            ("TEA-1".to_owned(), "6".to_owned(), "0".to_owned()),
        ]
    );
}

fn hub_customers(hub: &Hub, site: &str) -> Vec<(String, String, bool)> {
    let rows = hub.json(&["customer", "list", "--site", site]);
    rows.as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (
                r["id"].as_str().unwrap().to_owned(),
                r["name"].as_str().unwrap().to_owned(),
                r["not_updated"].as_bool().unwrap(),
            )
        })
        .collect()
}

#[test]
fn customers_stop_flowing_when_a_dealer_stops_sharing_identities() {
    let hub = Hub::new();
    let served = hub.start(None);
    let dl = Site::with_kind("DL03", "dealer", &["shop"]);
    enroll(&dl, &served, &hub.token("DL03", "dealer"));
    dl.ok(&[
        "share",
        "set",
        "--stock",
        "all",
        "--sell-through",
        "identity",
    ]);
    dl.ok(&[
        "customer",
        "add",
        "C1",
        "--name",
        "张三, Ltd.",
        "--region",
        "east",
    ]);
    dl.ok(&["sync"]);
    assert_eq!(
        hub_customers(&hub, "DL03"),
        vec![("C1".to_owned(), "张三, Ltd.".to_owned(), false)]
    );

    // Pseudonyms from now on: the edit and the new customer stay on the
    // dealer's machine, and HQ's copy is marked as no longer updated.
    dl.ok(&["share", "set", "--sell-through", "pseudonym"]);
    dl.ok(&["customer", "set", "C1", "--name", "张三 \"新\""]);
    dl.ok(&["customer", "add", "C2", "--name", "李四"]);
    dl.ok(&["sync"]);
    let kept = vec![("C1".to_owned(), "张三, Ltd.".to_owned(), true)];
    assert_eq!(hub_customers(&hub, "DL03"), kept);
    let listed = hub.ok(&["customer", "list", "--site", "DL03"]);
    assert!(listed.contains("not updated"), "{listed}");

    // Forced: the dealer's own certificate offering those changes anyway.
    let saved = dl.data().join("customers.automerge");
    dl.ok(&["doc", "export", "customers/DL03", saved.to_str().unwrap()]);
    let doc =
        jxc_shared::docs::automerge::AutoCommit::load(&std::fs::read(&saved).unwrap()).unwrap();
    let changes: Vec<Vec<u8>> = doc
        .clone()
        .get_changes(&[])
        .iter()
        .map(|c| c.raw_bytes().to_vec())
        .collect();
    assert_eq!(
        changes.len(),
        3,
        "the add, then the edit and the second add"
    );
    let cert = dl.file("agent.pem");
    let key = dl.file("agent.key");
    let agent = Https::new(&served.url, &dl.file("hub-ca.pem"), Some((&cert, &key)));
    let req = jxc_shared::protocol::DocsRequest {
        offers: vec![jxc_shared::protocol::DocOffer {
            doc: "customers/DL03".into(),
            heads: Vec::new(),
            changes,
        }],
    };
    let reply = agent.post_message("/v1/docs", &req);
    assert_eq!(reply.status, 200, "{}", reply.text());
    let resp: jxc_shared::protocol::DocsResponse =
        jxc_shared::protocol::decode_limited("docs", &reply.body, 64 << 20).unwrap();
    let refused = &resp.replies[0].refused;
    assert_eq!(refused.len(), 2, "the two new changes: {resp:?}");
    assert!(
        refused[0].reason.contains("not customer identities"),
        "{resp:?}"
    );
    assert_eq!(hub_customers(&hub, "DL03"), kept);
    let quarantined = hub.json(&["quarantine", "--documents"]);
    assert_eq!(quarantined.as_array().unwrap().len(), 2, "{quarantined}");

    // Identities shared again: what was held back flows, and is current.
    dl.ok(&["share", "set", "--sell-through", "identity"]);
    dl.ok(&["sync"]);
    assert_eq!(
        hub_customers(&hub, "DL03"),
        vec![
            ("C1".to_owned(), "张三 \"新\"".to_owned(), false),
            ("C2".to_owned(), "李四".to_owned(), false),
        ]
    );
}

fn contains(hay: &[u8], needle: &[u8]) -> bool {
    hay.windows(needle.len()).any(|w| w == needle)
}

/// DESIGN invariant 3 read off the disk: a dealer sharing pseudonyms and no
/// costs writes a distinctive private string in every free-text field it
/// has — suppliers, customers, document numbers, reasons, its own items —
/// and distinctive costs and prices; after it syncs, none of them is in any
/// file of the hub's data directory, nor in what `/v1/movements` serves;
/// nor is what a forged request carries, which the hub quarantines.
#[test]
fn nothing_private_a_dealer_writes_reaches_the_hubs_files() {
    let hub = Hub::new();
    let served = hub.start(None);
    let api = Https::new(&served.url, &hub.ca_pem(), None);
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("catalog.csv");
    std::fs::write(&file, CATALOG).unwrap();
    hub.ok(&["product", "import", file.to_str().unwrap()]);
    let dl = Site::with_kind("DL04", "dealer", &["shop"]);
    enroll(&dl, &served, &hub.token("DL04", "dealer"));
    dl.ok(&["sync"]);
    dl.ok(&[
        "share",
        "set",
        "--stock",
        "all",
        "--sell-through",
        "pseudonym",
        "--costs-and-prices",
        "false",
    ]);
    const SUPPLIER: &str = "五常经销-供方甲Q7";
    const CUSTOMER_ID: &str = "CUSTQ7X";
    const CUSTOMER: &str = "王五私密Q7";
    const WALK_IN: &str = "散客Q7张";
    const PO: &str = "TJPO-1-Q7Z";
    const SO: &str = "SO-Q7Z-88";
    const RMA: &str = "RMA-Q7Z-3";
    const RTS: &str = "RTS-Q7Z-4";
    const SCRAP: &str = "破损Q7报废原因";
    const ADJUST: &str = "盘亏Q7私人备注";
    const OWN_SKU: &str = "OWNQ7SKU";
    const OWN_NAME: &str = "自有品牌Q7茶";
    const COST: &str = "713.2917";
    const PRICE: &str = "4242.4271";
    dl.ok(&[
        "customer",
        "add",
        CUSTOMER_ID,
        "--name",
        CUSTOMER,
        "--region",
        "east",
        "--type",
        "retail",
    ]);
    dl.ok(&["product", "add", OWN_SKU, "--name", OWN_NAME]);
    let mv = |cmd: &str, sku: &str, qty: &str, extra: &[&str]| {
        let mut args = vec![cmd, "--location", "shop", "--sku", sku, "--qty", qty];
        args.extend_from_slice(extra);
        dl.ok(&args);
    };
    mv(
        "receive",
        "TEA-1",
        "20",
        &["--cost", COST, "--counterparty", SUPPLIER, "--ref", PO],
    );
    mv("receive", OWN_SKU, "3", &["--counterparty", SUPPLIER]);
    mv(
        "sell",
        "TEA-1",
        "2",
        &["--price", PRICE, "--counterparty", CUSTOMER_ID, "--ref", SO],
    );
    mv(
        "sell",
        "TEA-1",
        "1",
        &["--price", PRICE, "--counterparty", WALK_IN],
    );
    mv(
        "return",
        "TEA-1",
        "1",
        &["--price", PRICE, "--counterparty", WALK_IN, "--ref", RMA],
    );
    mv(
        "return-to-supplier",
        "TEA-1",
        "1",
        &["--counterparty", SUPPLIER, "--ref", RTS],
    );
    mv("scrap", "TEA-1", "1", &["--reason", SCRAP]);
    mv("adjust", "TEA-1", "-1", &["--reason", ADJUST, "--ref", PO]);
    let report = dl.json(&["sync"]);
    assert_eq!(report["quarantined"], serde_json::json!([]), "{report}");

    // What HQ holds is still whole: the stock and the flow, without the detail.
    let moves = hub_movements(&api, &hub.admin, "DL04");
    let kinds: Vec<&str> = moves.iter().map(|m| m["type"].as_str().unwrap()).collect();
    assert_eq!(
        kinds,
        vec![
            "receipt",
            "sale",
            "sale",
            "customer_return",
            "supplier_return",
            "scrap",
            "adjustment"
        ],
        "{moves:?}"
    );
    assert_eq!(
        on_hand(&hub, "DL04"),
        vec![("TEA-1".to_owned(), "15".to_owned(), "0".to_owned())]
    );
    let secrets = [
        SUPPLIER,
        "五常经销",
        CUSTOMER_ID,
        CUSTOMER,
        WALK_IN,
        PO,
        SO,
        RMA,
        RTS,
        SCRAP,
        ADJUST,
        OWN_SKU,
        OWN_NAME,
        COST,
        PRICE,
    ];
    let served_text = serde_json::to_string(&moves).unwrap();
    for s in secrets {
        assert!(!served_text.contains(s), "{s} served: {served_text}");
    }

    // Forced: the dealer's own certificate sends a receipt with everything
    // in it. The hub quarantines it, and keeps it without what is withheld.
    const FORGED: [&str; 4] = ["伪造Q7供方", "FORGED-Q7-REF", "伪造Q7备注", "919.3371"];
    let cert = dl.file("agent.pem");
    let key = dl.file("agent.key");
    let agent = Https::new(&served.url, &dl.file("hub-ca.pem"), Some((&cert, &key)));
    let forged = WireMovement {
        seq: 8,
        kind: MovementKind::Receipt,
        location: "DL04/shop".into(),
        sku: "TEA-1".into(),
        lot: String::new(),
        qty_micro: 1_000_000,
        unit_cost: FORGED[3].into(),
        unit_price: None,
        counterparty: Some(FORGED[0].into()),
        reference: Some(FORGED[1].into()),
        reason: Some(FORGED[2].into()),
        transfer_id: None,
        occurred_ms: 1_790_000_000_000,
        offset_min: 480,
        recorded_ms: 1_790_000_000_000,
    };
    // One private field each, costs withheld: each is refused for that field.
    let only = |seq: u64, field: usize| WireMovement {
        seq,
        unit_cost: "0".into(),
        counterparty: (field == 0).then(|| FORGED[0].into()),
        reference: (field == 1).then(|| FORGED[1].into()),
        reason: (field == 2).then(|| FORGED[2].into()),
        ..forged.clone()
    };
    let req = SyncRequest {
        from_seq: 8,
        movements: vec![forged.clone(), only(9, 0), only(10, 1), only(11, 2)],
        agent_last_seq: 11,
        transfers_cursor: 0,
        locations: Vec::new(),
        agent_time_ms: 1_790_000_000_000,
    };
    let r = agent.sync(&req);
    assert_eq!(r.status, 200, "{}", r.text());
    let q = hub.json(&["quarantine"]);
    let reasons: Vec<&str> = q
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["reason"].as_str().unwrap())
        .collect();
    assert_eq!(reasons.len(), 4, "{q}");
    for (reason, field) in reasons
        .iter()
        .zip(["unit_cost", "counterparty", "reference", "reason"])
    {
        assert!(reason.starts_with(field), "{field}: {q}");
    }
    assert!(q[0]["record"]["counterparty"].is_null(), "{q}");
    assert_eq!(q[0]["record"]["unit_cost"], "0", "{q}");

    let secrets: Vec<&str> = secrets.iter().chain(&FORGED).copied().collect();
    let stored = hub.stored();
    let names: Vec<&str> = stored.iter().map(|(p, _)| p.as_str()).collect();
    assert!(
        names
            .iter()
            .any(|n| n.ends_with("/hub.db") || n.starts_with("database ")),
        "{names:?}"
    );
    for (place, bytes) in &stored {
        for s in &secrets {
            assert!(
                !contains(bytes, s.as_bytes()),
                "{s:?} is in the hub's {place}"
            );
        }
    }
}

/// A dealer sharing daily totals with prices: each total carries the day's
/// quantity, average cost and average price, and its day is the site's own
/// (Asia/Shanghai here), not the system's or a fixed offset — two sales an
/// hour apart across local midnight are two days.
#[test]
fn daily_totals_carry_prices_and_the_sites_own_days() {
    let hub = Hub::new();
    let served = hub.start(None);
    let api = Https::new(&served.url, &hub.ca_pem(), None);
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("catalog.csv");
    std::fs::write(&file, CATALOG).unwrap();
    hub.ok(&["product", "import", file.to_str().unwrap()]);
    let dl = Site::with_kind("DL05", "dealer", &["shop"]);
    let home = dl.data().parent().unwrap().to_path_buf();
    std::fs::write(
        home.join("jxc-agent.toml"),
        "time_zone = \"Asia/Shanghai\"\n",
    )
    .unwrap();
    enroll(&dl, &served, &hub.token("DL05", "dealer"));
    dl.ok(&["sync"]);
    dl.ok(&[
        "share",
        "set",
        "--stock",
        "all",
        "--sell-through",
        "daily-totals",
        "--costs-and-prices",
        "true",
    ]);
    dl.ok(&[
        "receive",
        "--location",
        "shop",
        "--sku",
        "TEA-1",
        "--qty",
        "10",
        "--cost",
        "4",
        "--at",
        "2026-01-05",
    ]);
    for (qty, price, at) in [
        ("1", "20", "2026-01-05 22:30"),
        ("3", "30", "2026/01/05 23:30"),
        ("2", "50", "2026-01-06 00:30"),
    ] {
        dl.ok(&[
            "sell",
            "--location",
            "shop",
            "--sku",
            "TEA-1",
            "--qty",
            qty,
            "--price",
            price,
            "--counterparty",
            "C9",
            "--at",
            at,
        ]);
    }
    dl.ok(&["sync"]);
    let moves = hub_movements(&api, &hub.admin, "DL05");
    let got: Vec<(String, String, String, String, String)> = moves
        .iter()
        .map(|m| {
            let s = |f: &str| m[f].as_str().unwrap_or("null").to_owned();
            (
                s("type"),
                s("qty"),
                s("unit_cost"),
                s("unit_price"),
                s("occurred_at"),
            )
        })
        .collect();
    let row = |t: &str, q: &str, c: &str, p: &str, at: &str| {
        (t.into(), q.into(), c.into(), p.into(), at.into())
    };
    assert_eq!(
        got,
        vec![
            row("receipt", "10", "4", "null", "2026-01-05T00:00:00+08:00"),
            // (1 × 20 + 3 × 30) / 4
            row("sale", "-4", "4", "27.5", "2026-01-05T00:00:00+08:00"),
            row("sale", "-2", "4", "50", "2026-01-06T00:00:00+08:00"),
        ],
        "{moves:?}"
    );
    // The agent shows its times in its zone too.
    let table = dl.ok(&["moves"]);
    assert!(table.contains("2026-01-06T00:30:00+08:00"), "{table}");
    let status = dl.json(&["status"]);
    assert_eq!(status["time_zone"], "Asia/Shanghai", "{status}");
}
