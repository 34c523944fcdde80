//! End-to-end tests of sync as real processes: agents that worked offline
//! converge on a hub that appears later, a hub killed mid-sync loses and
//! duplicates nothing, replays are harmless, trust is enforced, and a
//! crafted record is quarantined while the rest of its batch applies.

use chrono::DateTime;
use jxc_e2e::{Https, Hub, Served, Site, free_port, write_movements, write_products};
use jxc_shared::MovementKind;
use jxc_shared::protocol::{SyncRequest, SyncResponse, WireMovement, decode};
use serde_json::Value;
use std::collections::BTreeMap;
use std::time::{Duration, Instant};

/// (location, sku, lot) -> quantity in micro-units.
type Lots = BTreeMap<(String, String, String), i64>;

/// A decimal string as an integer of `scale` decimal places, exactly.
fn fixed(s: &str, scale: u32) -> i128 {
    let (neg, digits) = match s.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, s),
    };
    let (int, frac) = digits.split_once('.').unwrap_or((digits, ""));
    assert!(
        frac.len() <= scale as usize && !int.is_empty(),
        "{s:?} does not fit {scale} decimal places"
    );
    let padded = format!("{int}{frac:0<width$}", width = scale as usize);
    let v: i128 = padded
        .parse()
        .unwrap_or_else(|e| panic!("{s:?} is not a decimal: {e}"));
    if neg { -v } else { v }
}

/// A quantity string in micro-units.
fn micro(s: &str) -> i64 {
    i64::try_from(fixed(s, 6)).expect("quantity fits i64")
}

fn str_of<'a>(v: &'a Value, key: &str) -> &'a str {
    v[key]
        .as_str()
        .unwrap_or_else(|| panic!("{key} is not a string in {v}"))
}

/// An agent's `stock --json` as micro-units per (location, sku, lot).
fn agent_lots(site: &Site) -> Lots {
    site.stock()
        .into_iter()
        .map(|(loc, sku, lot, qty)| ((loc, sku, lot), micro(&qty)))
        .collect()
}

fn admin_api(hub: &Hub, served: &Served) -> Https {
    Https::new(&served.url, &hub.ca_pem(), None)
}

/// Every movement the hub holds for `site`, paging with `next`.
fn hub_movements(api: &Https, admin: &str, site: &str) -> Vec<Value> {
    let mut all = Vec::new();
    let mut after = String::new();
    loop {
        let r = api.get(
            &format!("/v1/movements?site={site}&limit=5000&after={after}"),
            Some(admin),
        );
        assert_eq!(r.status, 200, "{}", r.text());
        let page = r.json();
        all.extend(page["movements"].as_array().expect("movements").clone());
        match page["next"].as_str() {
            Some(n) => after = n.to_owned(),
            None => return all,
        }
    }
}

/// The seqs of a site's movements at the hub, checked to be exactly
/// 1..=expected, each once.
fn assert_gapless_once(movements: &[Value], site: &str, expected: u64) {
    let mut seqs: Vec<u64> = movements
        .iter()
        .map(|m| {
            assert_eq!(str_of(m, "site"), site, "{m}");
            m["seq"].as_u64().expect("seq")
        })
        .collect();
    seqs.sort_unstable();
    let want: Vec<u64> = (1..=expected).collect();
    if seqs != want {
        let mut dup = seqs.clone();
        dup.dedup();
        panic!(
            "site {site}: the hub holds {} movements ({} distinct seqs), the agent {expected}; first seqs {:?}",
            seqs.len(),
            dup.len(),
            &seqs[..seqs.len().min(10)]
        );
    }
}

/// On hand per (location, sku, lot) at the hub, summed from its movements;
/// zero lines dropped as `stock` drops them.
fn hub_lots(movements: &[Value]) -> Lots {
    let mut lots = Lots::new();
    for m in movements {
        let key = (
            str_of(m, "location").to_owned(),
            str_of(m, "sku").to_owned(),
            str_of(m, "lot").to_owned(),
        );
        *lots.entry(key).or_default() += micro(str_of(m, "qty"));
    }
    lots.retain(|_, q| *q != 0);
    lots
}

/// `inventory --by location --json` as key -> (on_hand, in_transit) micro.
fn inventory_by_location(rows: &Value) -> BTreeMap<String, (i64, i64)> {
    rows.as_array()
        .expect("inventory rows")
        .iter()
        .map(|r| {
            (
                str_of(r, "key").to_owned(),
                (micro(str_of(r, "on_hand")), micro(str_of(r, "in_transit"))),
            )
        })
        .collect()
}

fn enroll(site: &Site, served: &Served, token: &str) {
    site.ok(&["enroll", "--hub", &served.url, "--token", token]);
}

/// `sync --json` (plus `extra` flags) that must succeed; its report.
fn sync(site: &Site, extra: &[&str]) -> Value {
    let mut args = vec!["sync"];
    args.extend_from_slice(extra);
    site.json(&args)
}

/// The agent's own client (its enrolled certificate and key).
fn agent_api(site: &Site, served: &Served) -> Https {
    let cert = site.file("agent.pem");
    let key = site.file("agent.key");
    Https::new(&served.url, &site.file("hub-ca.pem"), Some((&cert, &key)))
}

fn sync_response(r: &jxc_e2e::Reply) -> SyncResponse {
    assert_eq!(r.status, 200, "sync answered {}: {}", r.status, r.text());
    decode::<SyncResponse>("sync response", &r.body).expect("decode sync response")
}

/// A movement's wire form rebuilt from `moves --json`, exactly as the agent
/// would send it.
fn wire_from_move(site: &str, m: &Value) -> WireMovement {
    let opt = |k: &str| m[k].as_str().map(str::to_owned);
    let occurred = DateTime::parse_from_rfc3339(str_of(m, "occurred_at")).expect("occurred_at");
    let recorded = DateTime::parse_from_rfc3339(str_of(m, "recorded_at")).expect("recorded_at");
    WireMovement {
        seq: m["seq"].as_u64().expect("seq"),
        kind: MovementKind::parse(str_of(m, "type")).expect("type"),
        location: format!("{site}/{}", str_of(m, "location")),
        sku: str_of(m, "sku").to_owned(),
        lot: str_of(m, "lot").to_owned(),
        qty_micro: micro(str_of(m, "qty")),
        unit_cost: str_of(m, "unit_cost").to_owned(),
        unit_price: opt("unit_price"),
        counterparty: opt("counterparty"),
        reference: opt("ref"),
        reason: opt("reason"),
        transfer_id: opt("transfer_id"),
        occurred_ms: occurred.timestamp_millis(),
        offset_min: i16::try_from(occurred.offset().local_minus_utc() / 60).expect("offset"),
        recorded_ms: recorded.timestamp_millis(),
    }
}

/// A wire movement made up by the test, at `SITE/LOC`.
fn crafted(seq: u64, kind: MovementKind, location: &str, qty: &str, cost: &str) -> WireMovement {
    let now = chrono::Utc::now().timestamp_millis();
    WireMovement {
        seq,
        kind,
        location: location.to_owned(),
        sku: "TEA".into(),
        lot: String::new(),
        qty_micro: micro(qty),
        unit_cost: cost.into(),
        unit_price: (kind == MovementKind::Sale).then(|| "19.9".to_owned()),
        counterparty: Some("张三, 有限公司".into()),
        reference: Some(format!("DOC-{seq}")),
        reason: None,
        transfer_id: None,
        occurred_ms: now,
        offset_min: 480,
        recorded_ms: now,
    }
}

fn request(from_seq: u64, movements: Vec<WireMovement>, agent_last_seq: u64) -> SyncRequest {
    SyncRequest {
        from_seq,
        movements,
        agent_last_seq,
        transfers_cursor: 0,
        locations: Vec::new(),
        agent_time_ms: chrono::Utc::now().timestamp_millis(),
    }
}

/// Checks that the hub holds exactly what `site` (id `id`) holds: every
/// movement once and the same on hand per (location, sku, lot).
fn assert_hub_matches_agent(api: &Https, admin: &str, id: &str, site: &Site) -> Vec<Value> {
    let status = site.json(&["status"]);
    let count = status["movements"].as_u64().expect("movements");
    assert_eq!(status["sync"]["unsynced"], 0, "{id}: {status}");
    assert_eq!(status["sync"]["hwm"], count, "{id}: {status}");
    let movements = hub_movements(api, admin, id);
    assert_gapless_once(&movements, id, count);
    assert_eq!(
        hub_lots(&movements),
        agent_lots(site),
        "{id}: on hand per (location, sku, lot) at the hub (left) and the agent (right)"
    );
    movements
}

#[test]
fn offline_agents_converge_once_the_hub_appears() {
    // Three sites work for a while before any hub exists.
    let bj = Site::new("BJ01", &["main", "shop"]);
    bj.ok(&[
        "product",
        "add",
        "TEA",
        "--name",
        "龙井, 特级",
        "--decimals",
        "2",
    ]);
    bj.ok(&["product", "add", "WINE", "--name", "黄酒", "--lot-tracked"]);
    bj.ok(&[
        "receive",
        "--location",
        "main",
        "--sku",
        "TEA",
        "--qty",
        "100",
        "--cost",
        "12.5",
        "--counterparty",
        "杭州茶厂, 一部",
    ]);
    bj.ok(&[
        "receive",
        "--location",
        "main",
        "--sku",
        "TEA",
        "--qty",
        "20.25",
        "--cost",
        "13.1",
    ]);
    for (lot, qty, cost) in [("L2026A", "10", "88"), ("L2026B", "6", "92.5")] {
        bj.ok(&[
            "receive",
            "--location",
            "main",
            "--sku",
            "WINE",
            "--lot",
            lot,
            "--qty",
            qty,
            "--cost",
            cost,
        ]);
    }
    for (qty, who) in [("1.25", "张三, 有限公司"), ("0.75", "李四, 茶行")] {
        bj.ok(&[
            "sell",
            "--location",
            "main",
            "--sku",
            "TEA",
            "--qty",
            qty,
            "--price",
            "19.9",
            "--counterparty",
            who,
            "--ref",
            "SO-1",
        ]);
    }
    bj.ok(&[
        "sell",
        "--location",
        "main",
        "--sku",
        "WINE",
        "--lot",
        "L2026A",
        "--qty",
        "3",
        "--price",
        "120",
        "--counterparty",
        "王五, 酒店",
    ]);
    // A transfer inside the site and one to another site.
    bj.ok(&[
        "transfer",
        "send",
        "--from",
        "main",
        "--to",
        "BJ01/shop",
        "--sku",
        "TEA",
        "--qty",
        "10",
    ]);
    let sent = bj.ok(&[
        "transfer",
        "send",
        "--from",
        "main",
        "--to",
        "SH01/main",
        "--sku",
        "TEA",
        "--qty",
        "30",
    ]);
    let transfer_id = sent.lines().last().expect("transfer id").trim().to_owned();
    bj.ok(&[
        "scrap",
        "--location",
        "shop",
        "--sku",
        "TEA",
        "--qty",
        "0.5",
        "--reason",
        "包装破损, 报损",
    ]);
    // A stocktake at main: TEA book 78.25, counted 77.5; WINE L2026B 6 -> 5.
    bj.ok(&["count", "start", "--location", "main"]);
    bj.ok(&["count", "set", "TEA", "77.5"]);
    bj.ok(&["count", "set", "WINE", "5", "--lot", "L2026B"]);
    bj.ok(&["count", "post"]);

    let sh = Site::new("SH01", &["main"]);
    sh.ok(&[
        "product",
        "add",
        "TEA",
        "--name",
        "龙井, 特级",
        "--decimals",
        "2",
    ]);
    sh.ok(&[
        "receive",
        "--location",
        "main",
        "--sku",
        "TEA",
        "--qty",
        "50",
        "--cost",
        "11",
    ]);
    sh.ok(&[
        "sell",
        "--location",
        "main",
        "--sku",
        "TEA",
        "--qty",
        "2.5",
        "--price",
        "18",
        "--counterparty",
        "赵六, 超市",
    ]);
    sh.ok(&[
        "return",
        "--location",
        "main",
        "--sku",
        "TEA",
        "--qty",
        "0.5",
        "--price",
        "18",
        "--counterparty",
        "赵六, 超市",
    ]);

    // A third site with its own products. (Branches share everything; a
    // dealer's sharing policy is tested in share_processes.rs.)
    let gz = Site::with_kind("GZD1", "branch", &["main"]);
    let products = gz.dir.path().join("products.csv");
    write_products(&products, 8);
    gz.ok(&["product", "import", products.to_str().unwrap()]);
    let file = gz.dir.path().join("moves.csv");
    write_movements(&file, "main", 8, 40);
    gz.ok(&["import", file.to_str().unwrap()]);
    gz.ok(&[
        "receive",
        "--location",
        "main",
        "--sku",
        "SKU-00001",
        "--qty",
        "12",
        "--cost",
        "12.75",
    ]);
    gz.ok(&[
        "sell",
        "--location",
        "main",
        "--sku",
        "SKU-00001",
        "--qty",
        "0.33",
        "--price",
        "20",
        "--counterparty",
        "钱七, 经销",
    ]);
    assert_eq!(gz.movement_count(), 8 + 40 + 2);

    // Now the hub appears.
    let hub = Hub::new();
    let served = hub.start(None);
    enroll(&sh, &served, &hub.token("SH01", "branch"));
    enroll(&bj, &served, &hub.token("BJ01", "branch"));
    enroll(&gz, &served, &hub.token("GZD1", "branch"));

    let r = sync(&sh, &[]);
    assert_eq!(r["accepted"], 3, "{r}");
    assert_eq!(r["incoming"], 0, "{r}");
    let bj_count = bj.movement_count();
    let r = sync(&bj, &[]);
    assert_eq!(r["accepted"], bj_count, "{r}");
    assert_eq!(r["quarantined"], serde_json::json!([]), "{r}");
    let r = sync(&gz, &["--batch", "7"]);
    assert_eq!(r["accepted"], 50, "{r}");
    assert!(r["rounds"].as_u64().unwrap() >= 8, "{r}");
    assert_eq!(r["hwm"], 50, "{r}");

    // The receiver learns of the transfer, takes part of it, and tells the hub.
    let r = sync(&sh, &[]);
    assert_eq!(r["incoming"], 1, "{r}");
    let incoming = sh.json(&["transfer", "list", "--incoming"]);
    let t = incoming
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["id"] == transfer_id.as_str())
        .unwrap_or_else(|| panic!("transfer {transfer_id} not incoming at SH01: {incoming}"));
    assert_eq!(str_of(t, "remaining"), "30", "{t}");
    sh.ok(&["transfer", "receive", &transfer_id, "--qty", "12.5"]);
    let r = sync(&sh, &[]);
    assert_eq!(r["accepted"], 1, "{r}");
    let r = sync(&bj, &[]);
    assert_eq!(r["accepted"], 0, "{r}");

    // Every agent and the hub agree, per lot and per location.
    let api = admin_api(&hub, &served);
    let sites = [("BJ01", &bj), ("SH01", &sh), ("GZD1", &gz)];
    let mut all_movements = Vec::new();
    for (id, site) in sites {
        all_movements.extend(assert_hub_matches_agent(&api, &hub.admin, id, site));
    }
    let hub_sites = hub.json(&["sites"]);
    for (id, site) in sites {
        let row = hub_sites
            .as_array()
            .unwrap()
            .iter()
            .find(|s| s["id"] == id)
            .unwrap_or_else(|| panic!("{id} not in {hub_sites}"));
        assert_eq!(row["hwm"], site.movement_count(), "{row}");
        assert_eq!(row["unsynced_at_agent"], 0, "{row}");
    }
    assert_eq!(
        hub_sites
            .as_array()
            .unwrap()
            .iter()
            .find(|s| s["id"] == "GZD1")
            .unwrap()["kind"],
        "branch"
    );

    let inventory = hub.json(&["inventory", "--by", "location"]);
    let api_inventory = api.get("/v1/inventory?by=location", Some(&hub.admin));
    assert_eq!(api_inventory.status, 200, "{}", api_inventory.text());
    assert_eq!(api_inventory.json(), inventory);
    let by_location = inventory_by_location(&inventory);
    let mut expected: BTreeMap<String, i64> = BTreeMap::new();
    for (id, site) in sites {
        for ((loc, _, _), q) in agent_lots(site) {
            *expected.entry(format!("{id}/{loc}")).or_default() += q;
        }
    }
    for (key, q) in &expected {
        assert!(by_location.contains_key(key), "{key} missing: {inventory}");
        assert_eq!(by_location[key].0, *q, "on hand at {key}: {inventory}");
    }
    for (key, (on_hand, in_transit)) in &by_location {
        assert_eq!(
            *on_hand,
            expected.get(key).copied().unwrap_or(0),
            "on hand at {key}: {inventory}"
        );
        let want = if key == "SH01/main" { 17_500_000 } else { 0 };
        assert_eq!(*in_transit, want, "in transit to {key}: {inventory}");
    }
    // The value agrees too, to the rounding of the agent's average: the agent
    // shows qty × its average cost (kept to 6 decimals after every receipt),
    // the hub the exact sum of qty × unit cost over the movements.
    let mut agent_values: BTreeMap<String, i128> = BTreeMap::new();
    for (id, site) in sites {
        for row in site.json(&["stock"]).as_array().unwrap() {
            *agent_values
                .entry(format!("{id}/{}", str_of(row, "location")))
                .or_default() += fixed(str_of(row, "value"), 12);
        }
    }
    for row in inventory.as_array().unwrap() {
        let key = str_of(row, "key");
        let hub = fixed(str_of(row, "value"), 12);
        let agent = agent_values.get(key).copied().unwrap_or(0);
        // At most half a millionth per unit on hand, per rounding step; a
        // thousandth of the currency is far above that and far below a real
        // disagreement.
        assert!(
            (hub - agent).abs() <= 1_000_000_000,
            "value at {key}: hub {hub} agent {agent}: {inventory}"
        );
    }
    // Concrete figures, so agreement cannot hide a shared mistake.
    assert_eq!(by_location["BJ01/main"].0, micro("77.5") + micro("12"));
    assert_eq!(by_location["BJ01/shop"].0, micro("9.5"));
    assert_eq!(by_location["SH01/main"].0, micro("48") + micro("12.5"));

    // The cross-site transfer, sent 30 and received 12.5; the one inside
    // BJ01 never crosses the hub.
    let transfers = hub.json(&["transfers"]);
    let rows = transfers.as_array().unwrap();
    assert_eq!(rows.len(), 1, "{transfers}");
    let t = &rows[0];
    assert_eq!(t["id"], transfer_id.as_str(), "{t}");
    assert_eq!(t["from"], "BJ01/main");
    assert_eq!(t["to"], "SH01/main");
    assert_eq!(micro(str_of(t, "qty")), micro("30"), "{t}");
    assert_eq!(micro(str_of(t, "received")), micro("12.5"), "{t}");
    assert_eq!(micro(str_of(t, "in_transit")), micro("17.5"), "{t}");
    assert_eq!(t["status"], "partial", "{t}");

    // Text survives the trip: a decimal sale to a customer with a comma.
    let sale = all_movements
        .iter()
        .find(|m| m["site"] == "BJ01" && m["counterparty"] == "张三, 有限公司")
        .expect("the sale to 张三");
    assert_eq!(sale["type"], "sale");
    assert_eq!(micro(str_of(sale, "qty")), -1_250_000, "{sale}");
    assert!(
        all_movements
            .iter()
            .any(|m| m["reason"] == "包装破损, 报损" && m["location"] == "shop"),
        "the scrap is missing"
    );
    let quarantine = hub.json(&["quarantine"]);
    assert_eq!(quarantine, serde_json::json!([]));
}

#[test]
fn hub_killed_mid_sync_loses_and_duplicates_nothing() {
    const TOTAL: u64 = 30_000;
    let bj = Site::new("BJ01", &["main"]);
    let products = bj.dir.path().join("products.csv");
    write_products(&products, 100);
    bj.ok(&["product", "import", products.to_str().unwrap()]);
    let file = bj.dir.path().join("moves.csv");
    write_movements(&file, "main", 100, TOTAL as usize - 100);
    bj.ok(&["import", file.to_str().unwrap()]);
    assert_eq!(bj.movement_count(), TOTAL);

    let hub = Hub::new();
    // The agent stores the hub's URL, so the hub must come back on the same
    // port: pick one rather than let the OS choose.
    let deadline = Instant::now() + Duration::from_secs(30);
    let served = loop {
        match hub.try_start(Some(free_port())) {
            Ok(s) => break s,
            Err(e) => assert!(Instant::now() < deadline, "hub did not start: {e}"),
        }
    };
    let port = served.port;
    enroll(&bj, &served, &hub.token("BJ01", "branch"));

    let syncing = bj.spawn(&["sync", "--batch", "500"]);
    let deadline = Instant::now() + Duration::from_secs(60);
    let hwm = loop {
        let sites = hub.json(&["sites"]);
        let hwm = sites[0]["hwm"].as_u64().expect("hwm");
        if hwm > 0 {
            break hwm;
        }
        assert!(Instant::now() < deadline, "the sync never got going");
        std::thread::sleep(Duration::from_millis(1));
    };
    assert!(
        hwm < TOTAL,
        "the sync finished ({hwm}) before the hub could be killed"
    );
    served.process.kill9();

    let out = syncing.wait();
    assert!(
        matches!(out.status.code(), Some(0 | 7)),
        "the interrupted sync exited {:?}: {}",
        out.status.code(),
        String::from_utf8_lossy(&out.stderr)
    );

    let deadline = Instant::now() + Duration::from_secs(30);
    let served = loop {
        match hub.try_start(Some(port)) {
            Ok(s) => break s,
            Err(e) => assert!(
                Instant::now() < deadline,
                "hub did not come back on {port}: {e}"
            ),
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let r = sync(&bj, &[]);
    assert_eq!(r["hwm"], TOTAL, "{r}");
    assert_eq!(r["quarantined"], serde_json::json!([]), "{r}");

    let api = admin_api(&hub, &served);
    assert_hub_matches_agent(&api, &hub.admin, "BJ01", &bj);
    let sites = hub.json(&["sites"]);
    assert_eq!(sites[0]["hwm"], TOTAL, "{sites}");
    assert_eq!(sites[0]["unsynced_at_agent"], 0, "{sites}");
    let inventory = inventory_by_location(&hub.json(&["inventory", "--by", "location"]));
    let agent_total: i64 = agent_lots(&bj).values().sum();
    assert_eq!(inventory["BJ01/main"], (agent_total, 0));
    // 100 SKUs of 1000, 29,900 sales of 0.5.
    assert_eq!(agent_total, micro("100000") - micro("14950"));
    assert_eq!(hub.json(&["quarantine"]), serde_json::json!([]));
}

#[test]
fn replayed_requests_are_harmless() {
    let bj = Site::new("BJ01", &["main"]);
    bj.ok(&["product", "add", "TEA", "--name", "龙井", "--decimals", "2"]);
    bj.ok(&[
        "receive",
        "--location",
        "main",
        "--sku",
        "TEA",
        "--qty",
        "10",
        "--cost",
        "3.5",
        "--counterparty",
        "供应商, 甲",
    ]);
    bj.ok(&[
        "sell",
        "--location",
        "main",
        "--sku",
        "TEA",
        "--qty",
        "1.25",
        "--price",
        "9.9",
        "--counterparty",
        "张三, 有限公司",
    ]);
    bj.ok(&[
        "scrap",
        "--location",
        "main",
        "--sku",
        "TEA",
        "--qty",
        "0.5",
        "--reason",
        "破损",
    ]);
    let hub = Hub::new();
    let served = hub.start(None);
    enroll(&bj, &served, &hub.token("BJ01", "branch"));

    // The request the agent would send, captured from its own ledger.
    let moves = bj.json(&["moves"]);
    let wire: Vec<WireMovement> = moves
        .as_array()
        .unwrap()
        .iter()
        .map(|m| wire_from_move("BJ01", m))
        .collect();
    assert_eq!(wire.len(), 3);
    let req = request(1, wire.clone(), 3);
    let agent = agent_api(&bj, &served);
    let admin = admin_api(&hub, &served);

    let first = sync_response(&agent.sync(&req));
    assert_eq!(
        (first.hwm, first.accepted, first.duplicates),
        (3, 3, 0),
        "{first:?}"
    );
    assert!(first.quarantined.is_empty(), "{first:?}");
    let second = sync_response(&agent.sync(&req));
    assert_eq!(
        (second.hwm, second.accepted, second.duplicates),
        (3, 0, 3),
        "{second:?}"
    );
    assert!(second.quarantined.is_empty(), "{second:?}");
    assert_eq!(hub_movements(&admin, &hub.admin, "BJ01").len(), 3);

    // The same seq 2 with other content is a conflict: quarantined, and the
    // first version stays.
    let mut changed = wire[1].clone();
    changed.qty_micro = -2_000_000;
    let third = sync_response(&agent.sync(&request(2, vec![changed], 3)));
    assert_eq!((third.hwm, third.accepted, third.duplicates), (3, 0, 0));
    assert_eq!(third.quarantined.len(), 1, "{third:?}");
    assert_eq!(third.quarantined[0].seq, 2);
    assert!(
        third.quarantined[0].reason.contains("conflict"),
        "{third:?}"
    );
    let quarantine = hub.json(&["quarantine"]);
    let rows = quarantine.as_array().unwrap();
    assert_eq!(rows.len(), 1, "{quarantine}");
    assert_eq!(rows[0]["site"], "BJ01");
    assert_eq!(rows[0]["seq"], 2);
    assert_eq!(rows[0]["kind"], "conflict");
    assert_eq!(rows[0]["record"]["qty_micro"], -2_000_000);
    let held = hub_movements(&admin, &hub.admin, "BJ01");
    assert_eq!(held.len(), 3);
    let seq2 = held.iter().find(|m| m["seq"] == 2).expect("seq 2");
    assert_eq!(micro(str_of(seq2, "qty")), -1_250_000, "{seq2}");
    assert_eq!(seq2["counterparty"], "张三, 有限公司");

    // The agent itself now sends the same three: all already held, which
    // also shows the captured request was exactly the agent's own.
    let r = sync(&bj, &[]);
    assert_eq!(r["accepted"], 0, "{r}");
    assert_eq!(r["duplicates"], 3, "{r}");
    assert_eq!(r["quarantined"], serde_json::json!([]), "{r}");
    assert_hub_matches_agent(&admin, &hub.admin, "BJ01", &bj);
    assert_eq!(hub.json(&["quarantine"]).as_array().unwrap().len(), 1);
}

#[test]
fn trust_refusals() {
    let hub = Hub::new();
    let served = hub.start(None);

    // (a) A token works once.
    let bj = Site::new("BJ01", &["main"]);
    let token = hub.token("BJ01", "branch");
    enroll(&bj, &served, &token);
    let twin = Site::new("BJ01", &["main"]);
    let err = twin.fails(&["enroll", "--hub", &served.url, "--token", &token], 4);
    assert!(
        err.contains("the hub refused") && err.contains("token"),
        "{err}"
    );
    assert!(!twin.data().join("agent.pem").exists());

    // (b) A token pinning another CA: the agent refuses to talk to this hub
    // and the token stays unused.
    let sh = Site::new("SH01", &["main"]);
    let token = hub.token("SH01", "branch");
    let (head, ca_hash) = token.rsplit_once('.').unwrap();
    let other: String = ca_hash
        .chars()
        .map(|c| if c == '0' { '1' } else { '0' })
        .collect();
    let forged = format!("{head}.{other}");
    let err = sh.fails(&["enroll", "--hub", &served.url, "--token", &forged], 4);
    assert!(
        err.contains("the hub's CA does not match the token"),
        "{err}"
    );
    assert!(!sh.data().join("agent.key").exists());
    assert!(!sh.data().join("agent.pem").exists());
    enroll(&sh, &served, &token);

    // (c) Sync without a client certificate.
    let anonymous = Https::new(&served.url, &hub.ca_pem(), None);
    let r = anonymous.sync(&request(1, Vec::new(), 0));
    assert_eq!(r.status, 401, "{}", r.text());
    assert!(r.text().contains("client certificate"), "{}", r.text());

    // (d) A revoked site is refused with the hub's reason.
    bj.ok(&["product", "add", "TEA", "--name", "龙井"]);
    let receive = [
        "receive",
        "--location",
        "main",
        "--sku",
        "TEA",
        "--qty",
        "1",
        "--cost",
        "1",
    ];
    bj.ok(&receive);
    let r = sync(&bj, &[]);
    assert_eq!(r["hwm"], 1, "{r}");
    hub.ok(&["revoke", "--site", "BJ01"]);
    bj.ok(&receive);
    let err = bj.fails(&["sync"], 4);
    assert!(
        err.contains("the hub refused") && err.contains("site BJ01 was revoked"),
        "{err}"
    );
    let r = sync(&sh, &[]);
    assert_eq!(r["hwm"], 0, "SH01 is unaffected: {r}");
    let sites = hub.json(&["sites"]);
    let bj_row = sites
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["id"] == "BJ01")
        .unwrap();
    assert!(bj_row["revoked_at"].is_string(), "{bj_row}");
    assert_eq!(bj_row["hwm"], 1, "nothing after the revocation: {bj_row}");

    // (e) HQ endpoints need a valid bearer token; the health check nothing.
    let r = anonymous.get("/v1/inventory", None);
    assert_eq!(r.status, 401, "{}", r.text());
    let r = anonymous.get("/v1/inventory", Some("jxch_000000000000000000000000"));
    assert_eq!(r.status, 401, "{}", r.text());
    let r = anonymous.get("/v1/inventory", Some(&hub.admin));
    assert_eq!(r.status, 200, "{}", r.text());
    assert!(r.json().is_array(), "{}", r.text());
    let r = anonymous.get("/healthz", None);
    assert_eq!(r.status, 200);
    assert_eq!(r.text().trim(), "ok");
}

#[test]
fn a_crafted_movement_on_another_sites_location_is_quarantined_and_the_rest_applied() {
    let hub = Hub::new();
    let served = hub.start(None);
    let a = Site::new("BJ01", &["main"]);
    enroll(&a, &served, &hub.token("BJ01", "branch"));
    let b = Site::new("SH01", &["main"]);
    enroll(&b, &served, &hub.token("SH01", "branch"));

    let req = request(
        1,
        vec![
            crafted(1, MovementKind::Receipt, "BJ01/main", "10", "4"),
            crafted(2, MovementKind::Receipt, "SH01/main", "1000", "0.01"),
            crafted(3, MovementKind::Sale, "BJ01/main", "-2", "4"),
        ],
        3,
    );
    let agent = agent_api(&a, &served);
    let r = sync_response(&agent.sync(&req));
    assert_eq!((r.hwm, r.accepted, r.duplicates), (3, 2, 0), "{r:?}");
    assert_eq!(r.quarantined.len(), 1, "{r:?}");
    assert_eq!(r.quarantined[0].seq, 2);
    assert!(r.quarantined[0].reason.contains("SH01/main"), "{r:?}");

    let quarantine = hub.json(&["quarantine"]);
    let rows = quarantine.as_array().unwrap();
    assert_eq!(rows.len(), 1, "{quarantine}");
    assert_eq!(rows[0]["site"], "BJ01");
    assert_eq!(rows[0]["seq"], 2);
    assert_eq!(rows[0]["kind"], "refused");
    assert!(
        str_of(&rows[0], "reason").contains("SH01/main"),
        "{quarantine}"
    );
    assert_eq!(rows[0]["record"]["location"], "SH01/main");
    assert_eq!(rows[0]["record"]["qty_micro"], 1_000_000_000);
    let api_quarantine = admin_api(&hub, &served).get("/v1/quarantine", Some(&hub.admin));
    assert_eq!(api_quarantine.status, 200, "{}", api_quarantine.text());
    assert_eq!(api_quarantine.json(), quarantine);

    let api = admin_api(&hub, &served);
    let held = hub_movements(&api, &hub.admin, "BJ01");
    let seqs: Vec<u64> = held.iter().map(|m| m["seq"].as_u64().unwrap()).collect();
    assert_eq!(seqs, [1, 3], "{held:?}");
    assert!(held.iter().all(|m| m["location"] == "main"), "{held:?}");
    assert!(hub_movements(&api, &hub.admin, "SH01").is_empty());
    let inventory = inventory_by_location(&hub.json(&["inventory", "--by", "location"]));
    assert_eq!(inventory.get("BJ01/main"), Some(&(micro("8"), 0)));
    assert_eq!(
        inventory.get("SH01/main").map(|r| r.0).unwrap_or(0),
        0,
        "{inventory:?}"
    );

    // Sending the batch again changes nothing.
    let again = sync_response(&agent.sync(&req));
    assert_eq!(
        (again.hwm, again.accepted, again.duplicates),
        (3, 0, 3),
        "{again:?}"
    );
    assert!(again.quarantined.is_empty(), "{again:?}");
    assert_eq!(hub.json(&["quarantine"]).as_array().unwrap().len(), 1);
    assert_eq!(hub_movements(&api, &hub.admin, "BJ01").len(), 2);
}
