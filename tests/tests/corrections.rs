//! End-to-end tests of the corrections a first week of real use asked for,
//! as real processes: a transfer to a site or location that does not exist
//! is refused by an agent that knows the hub's directory and, when forced
//! through, still counted by the hub (in transit, flagged); a transfer can be
//! cancelled by its sender and closed short by its receiver; a transfer from
//! a dealer that withholds costs does not drag the receiver's average to 0;
//! a customer return into a location with no cost history is not valued at 0.

use jxc_e2e::{Hub, Served, Site};
use serde_json::Value;

fn enroll(site: &Site, served: &Served, hub: &Hub, kind: &str, id: &str) {
    let token = hub.token(id, kind);
    site.ok(&["enroll", "--hub", &served.url, "--token", &token]);
}

fn s<'a>(v: &'a Value, key: &str) -> &'a str {
    v[key]
        .as_str()
        .unwrap_or_else(|| panic!("{key} is not a string in {v}"))
}

/// The one row of `rows` whose `field` is `value`.
fn row<'a>(rows: &'a Value, field: &str, value: &str) -> &'a Value {
    rows.as_array()
        .unwrap()
        .iter()
        .find(|r| r[field] == value)
        .unwrap_or_else(|| panic!("no row with {field} = {value} in {rows}"))
}

/// The id a `transfer send` printed on its last line.
fn sent(site: &Site, args: &[&str]) -> String {
    let mut all = vec!["transfer", "send"];
    all.extend_from_slice(args);
    site.ok(&all)
        .lines()
        .last()
        .expect("transfer id")
        .trim()
        .to_owned()
}

/// A receipt of `qty` at `cost` that must succeed.
fn receive(site: &Site, location: &str, sku: &str, qty: &str, cost: &str) {
    site.ok(&[
        "receive",
        "--location",
        location,
        "--sku",
        sku,
        "--qty",
        qty,
        "--cost",
        cost,
    ]);
}

fn stock_of(site: &Site, location: &str, sku: &str) -> (String, String) {
    let rows = site.json(&["stock", "--location", location, "--sku", sku]);
    let r = &rows.as_array().unwrap()[0];
    (s(r, "qty").to_owned(), s(r, "avg_cost").to_owned())
}

#[test]
fn an_unknown_destination_is_refused_or_counted_and_a_transfer_can_be_cancelled_or_closed_short() {
    let hub = Hub::new();
    let served = hub.start(None);
    let bj = Site::new("BJ01", &["main"]);
    let sh = Site::new("SH01", &["main", "store"]);
    enroll(&bj, &served, &hub, "branch", "BJ01");
    enroll(&sh, &served, &hub, "branch", "SH01");
    sh.ok(&["sync"]);
    bj.ok(&["product", "add", "TEA-1", "--name", "龙井, 特级"]);
    sh.ok(&["product", "add", "TEA-1", "--name", "龙井, 特级"]);
    receive(&bj, "main", "TEA-1", "20", "100");

    // Before its first directory an agent cannot know better: nothing is
    // refused. After a sync it refuses, naming the nearest real one.
    bj.ok(&["sync"]);
    let dir = bj.json(&["directory"]);
    assert_eq!(
        row(&dir, "id", "SH01")["locations"],
        serde_json::json!(["main", "store"])
    );
    let err = bj.fails(
        &[
            "transfer",
            "send",
            "--from",
            "main",
            "--to",
            "SH02/main",
            "--sku",
            "TEA-1",
            "--qty",
            "1",
        ],
        3,
    );
    assert!(
        err.contains("the hub knows no site SH02; did you mean SH01?"),
        "{err}"
    );
    let err = bj.fails(
        &[
            "transfer",
            "send",
            "--from",
            "main",
            "--to",
            "SH01/mian",
            "--sku",
            "TEA-1",
            "--qty",
            "1",
        ],
        3,
    );
    assert!(
        err.contains(
            "site SH01 has no location mian (it has main, store); did you mean SH01/main?"
        ),
        "{err}"
    );
    assert_eq!(
        stock_of(&bj, "main", "TEA-1").0,
        "20",
        "a refusal writes nothing"
    );

    // Forced through, both still count at the hub: in transit at the sender,
    // flagged undeliverable, never dropped, and no phantom location appears.
    let t_site = sent(
        &bj,
        &[
            "--from",
            "main",
            "--to",
            "SH02/main",
            "--sku",
            "TEA-1",
            "--qty",
            "3",
            "--unlisted",
        ],
    );
    let t_loc = sent(
        &bj,
        &[
            "--from",
            "main",
            "--to",
            "SH01/mian",
            "--sku",
            "TEA-1",
            "--qty",
            "2",
            "--unlisted",
        ],
    );
    let t_ok = sent(
        &bj,
        &[
            "--from",
            "main",
            "--to",
            "SH01/main",
            "--sku",
            "TEA-1",
            "--qty",
            "4",
        ],
    );
    let t_store = sent(
        &bj,
        &[
            "--from",
            "main",
            "--to",
            "SH01/store",
            "--sku",
            "TEA-1",
            "--qty",
            "1",
        ],
    );
    bj.ok(&["sync"]);
    let inv = hub.json(&["inventory", "--sku", "TEA-1"]);
    let total = &inv.as_array().unwrap()[0];
    assert_eq!(s(total, "on_hand"), "10", "{inv}");
    assert_eq!(s(total, "in_transit"), "10", "{inv}");
    assert_eq!(s(total, "undeliverable"), "5", "{inv}");
    let by_loc = hub.json(&["inventory", "--sku", "TEA-1", "--by", "location"]);
    let keys: Vec<&str> = by_loc
        .as_array()
        .unwrap()
        .iter()
        .map(|r| s(r, "key"))
        .collect();
    assert_eq!(keys, ["BJ01/main", "SH01/main", "SH01/store"], "{by_loc}");
    let bj_main = row(&by_loc, "key", "BJ01/main");
    assert_eq!(
        (s(bj_main, "in_transit"), s(bj_main, "undeliverable")),
        ("5", "5")
    );
    let open = hub.json(&["transfers", "--open"]);
    assert_eq!(open.as_array().unwrap().len(), 4, "{open}");
    let flagged = row(&open, "id", &t_site);
    assert_eq!(flagged["status"], "undeliverable", "{flagged}");
    assert_eq!(
        flagged["undeliverable"], "the hub knows no site SH02",
        "{flagged}"
    );
    assert_eq!(
        row(&open, "id", &t_loc)["undeliverable"],
        "the hub knows no location SH01/mian"
    );
    assert_eq!(row(&open, "id", &t_ok)["status"], "in_transit");
    // The table an operator reads says so too.
    let table = hub.ok(&["transfers", "--open"]);
    assert!(
        table.contains("undeliverable: the hub knows no site SH02"),
        "{table}"
    );

    // The sender cancels both mistakes: the goods are back, the hub's
    // totals follow, and nothing is undeliverable any more.
    let out = bj.ok(&["transfer", "cancel", &t_site]);
    assert!(
        out.contains(&format!(
            "transfer {t_site} cancelled: 3 of TEA-1 back at main"
        )),
        "{out}"
    );
    bj.ok(&["transfer", "cancel", &t_loc]);
    let again = bj.fails(&["transfer", "cancel", &t_loc], 4);
    assert!(again.contains("already cancelled"), "{again}");
    assert_eq!(stock_of(&bj, "main", "TEA-1"), ("15".into(), "100".into()));
    bj.ok(&["sync"]);
    let total = &hub
        .json(&["inventory", "--sku", "TEA-1"])
        .as_array()
        .unwrap()[0]
        .clone();
    assert_eq!(
        (
            s(total, "on_hand"),
            s(total, "in_transit"),
            s(total, "undeliverable")
        ),
        ("15", "5", "0"),
        "{total}"
    );
    let all = hub.json(&["transfers"]);
    assert_eq!(row(&all, "id", &t_site)["status"], "cancelled");
    assert_eq!(s(row(&all, "id", &t_site), "returned"), "3");

    // The receiver takes 3 of 4 and closes the rest as lost in transit.
    sh.ok(&["sync"]);
    sh.ok(&["transfer", "receive", &t_ok, "--qty", "3"]);
    let out = sh.ok(&["transfer", "close", &t_ok]);
    assert!(
        out.contains("1 of TEA-1 never arrived, scrapped as lost in transit at main"),
        "{out}"
    );
    assert_eq!(stock_of(&sh, "main", "TEA-1"), ("3".into(), "100".into()));
    let incoming = sh.json(&["transfer", "list", "--incoming"]);
    let closed = row(&incoming, "id", &t_ok);
    assert_eq!(
        (closed["status"].as_str(), s(closed, "short")),
        (Some("closed_short"), "1")
    );
    sh.fails(&["transfer", "receive", &t_ok], 4);

    // A transfer cancelled after it was delivered can no longer be received.
    bj.ok(&["transfer", "cancel", &t_store]);
    bj.ok(&["sync"]);
    sh.ok(&["sync"]);
    let err = sh.fails(&["transfer", "receive", &t_store], 4);
    assert!(err.contains("was cancelled by its sender BJ01"), "{err}");
    let incoming = sh.json(&["transfer", "list", "--incoming"]);
    assert_eq!(row(&incoming, "id", &t_store)["status"], "cancelled");

    // Both at once, offline: SH01 receives what BJ01 cancels. Each ledger
    // reaches the hub as it is, and the transfer shows as disputed.
    let t_both = sent(
        &bj,
        &[
            "--from",
            "main",
            "--to",
            "SH01/main",
            "--sku",
            "TEA-1",
            "--qty",
            "2",
        ],
    );
    bj.ok(&["sync"]);
    sh.ok(&["sync"]);
    bj.ok(&["transfer", "cancel", &t_both]);
    sh.ok(&["transfer", "receive", &t_both]);
    bj.ok(&["sync"]);
    sh.ok(&["sync"]);
    let all = hub.json(&["transfers"]);
    let both = row(&all, "id", &t_both);
    assert_eq!(both["status"], "disputed", "{both}");
    assert_eq!(
        (
            s(both, "received"),
            s(both, "returned"),
            s(both, "in_transit"),
            s(both, "disputed")
        ),
        ("2", "2", "0", "2")
    );
    let incoming = sh.json(&["transfer", "list", "--incoming"]);
    assert_eq!(
        row(&incoming, "id", &t_both)["status"],
        "disputed",
        "{incoming}"
    );
    // Until one side corrects it, the channel counts the 2 twice (back at
    // BJ01 and received at SH01). SH01 finds they never came: its
    // adjustment makes on hand true again; the transfer stays disputed as
    // the record of what happened.
    let total = &hub
        .json(&["inventory", "--sku", "TEA-1"])
        .as_array()
        .unwrap()[0]
        .clone();
    assert_eq!(
        (s(total, "on_hand"), s(total, "in_transit")),
        ("21", "0"),
        "{total}"
    );
    sh.ok(&[
        "adjust",
        "--location",
        "main",
        "--sku",
        "TEA-1",
        "--qty",
        "-2",
        "--reason",
        "transfer cancelled by the sender",
    ]);

    sh.ok(&["sync"]);
    bj.ok(&["verify"]);
    sh.ok(&["verify"]);
    let all = hub.json(&["transfers"]);
    assert_eq!(row(&all, "id", &t_ok)["status"], "received", "{all}");
    assert_eq!(row(&all, "id", &t_store)["status"], "cancelled", "{all}");
    // On hand plus in transit is everything that was received from suppliers
    // less the one unit lost in transit.
    let total = &hub
        .json(&["inventory", "--sku", "TEA-1"])
        .as_array()
        .unwrap()[0]
        .clone();
    assert_eq!(
        (s(total, "on_hand"), s(total, "in_transit")),
        ("19", "0"),
        "{total}"
    );
    // Only the disputed one still asks for attention.
    let open = hub.json(&["transfers", "--open"]);
    let ids: Vec<&str> = open
        .as_array()
        .unwrap()
        .iter()
        .map(|t| s(t, "id"))
        .collect();
    assert_eq!(ids, [t_both.as_str()], "{open}");
    let table = hub.ok(&["transfers", "--open"]);
    assert!(
        table.contains("disputed: 2 both received and taken back"),
        "{table}"
    );
}

#[test]
fn a_transfer_from_a_dealer_that_withholds_costs_keeps_the_receivers_average() {
    let hub = Hub::new();
    let served = hub.start(None);
    hub.ok(&[
        "product",
        "add",
        "TEA-9",
        "--name",
        "龙井",
        "--dealer-price",
        "150",
    ]);
    let dl = Site::with_kind("DL01", "dealer", &["main"]);
    let bj = Site::new("BJ01", &["main", "shop"]);
    enroll(&dl, &served, &hub, "dealer", "DL01");
    enroll(&bj, &served, &hub, "branch", "BJ01");
    dl.ok(&[
        "share",
        "set",
        "--stock",
        "all",
        "--costs-and-prices",
        "false",
    ]);
    dl.ok(&["sync"]);
    bj.ok(&["sync"]);
    receive(&dl, "main", "TEA-9", "10", "120");
    receive(&bj, "main", "TEA-9", "35", "140");
    let to_main = sent(
        &dl,
        &[
            "--from",
            "main",
            "--to",
            "BJ01/main",
            "--sku",
            "TEA-9",
            "--qty",
            "1",
        ],
    );
    let to_shop = sent(
        &dl,
        &[
            "--from",
            "main",
            "--to",
            "BJ01/shop",
            "--sku",
            "TEA-9",
            "--qty",
            "1",
        ],
    );
    dl.ok(&["sync"]);
    bj.ok(&["sync"]);
    let dir = bj.json(&["directory"]);
    assert_eq!(row(&dir, "id", "DL01")["shares_costs"], false, "{dir}");

    // Into a location that holds the item: at its own average, which stays.
    bj.ok(&["transfer", "receive", &to_main]);
    assert_eq!(stock_of(&bj, "main", "TEA-9"), ("36".into(), "140".into()));
    // Into one with no history: at the catalog's dealer price, never 0.
    let out = bj.ok(&["transfer", "receive", &to_shop]);
    assert!(out.contains("received 1 of TEA-9"), "{out}");
    assert_eq!(stock_of(&bj, "shop", "TEA-9"), ("1".into(), "150".into()));
    bj.ok(&["verify"]);
}

#[test]
fn a_customer_return_comes_back_at_a_known_cost_and_an_over_return_warns() {
    let site = Site::new("BJ01", &["main", "shop"]);
    site.ok(&["product", "add", "TEA-1", "--name", "龙井"]);
    receive(&site, "main", "TEA-1", "10", "100");
    let out = site.ok(&[
        "sell",
        "--location",
        "main",
        "--sku",
        "TEA-1",
        "--qty",
        "2",
        "--price",
        "168",
        "--counterparty",
        "张三",
    ]);
    let sale_seq = out
        .split_whitespace()
        .next()
        .unwrap()
        .trim_start_matches('#')
        .to_owned();
    receive(&site, "main", "TEA-1", "10", "130");

    // `shop` never held TEA-1: the site's average (main: 8 at 100 and 10 at
    // 130 = 116.666667), not 0.
    let out = site.run(&[
        "return",
        "--location",
        "shop",
        "--sku",
        "TEA-1",
        "--qty",
        "1",
        "--counterparty",
        "张三",
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("unit cost 116.666667"), "{stdout}");
    assert!(
        out.stderr.is_empty(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    // Naming the sale: its cost of goods sold, even where an average exists.
    let stdout = site.ok(&[
        "return",
        "--location",
        "main",
        "--sku",
        "TEA-1",
        "--qty",
        "1",
        "--counterparty",
        "张三",
        "--sale",
        &sale_seq,
    ]);
    assert!(stdout.contains("unit cost 100,"), "{stdout}");

    // 张三 bought 2 and has returned 2: a third is recorded, with a warning.
    let out = site.run(&[
        "return",
        "--location",
        "main",
        "--sku",
        "TEA-1",
        "--qty",
        "1",
        "--counterparty",
        "张三",
    ]);
    assert!(out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("warning: 张三 returns 1 of TEA-1 here, but this site sold 张三 only 2 of it and took 2 back before"),
        "{stderr}"
    );

    // A seq that is not a sale of this SKU, or to another customer, is refused.
    let err = site.fails(
        &[
            "return",
            "--location",
            "main",
            "--sku",
            "TEA-1",
            "--qty",
            "1",
            "--sale",
            "1",
        ],
        3,
    );
    assert!(
        err.contains("sale \"1\"") && err.contains("is a receipt, not a sale"),
        "{err}"
    );
    let err = site.fails(
        &[
            "return",
            "--location",
            "main",
            "--sku",
            "TEA-1",
            "--qty",
            "1",
            "--counterparty",
            "李四",
            "--sale",
            &sale_seq,
        ],
        3,
    );
    assert!(err.contains("was sold to 张三, not to 李四"), "{err}");
    site.ok(&["verify"]);
}

#[test]
fn a_filter_or_sku_that_names_nothing_is_refused_with_the_nearest() {
    let hub = Hub::new();
    let served = hub.start(None);
    let bj = Site::new("BJ01", &["main"]);
    let token = hub.ok(&[
        "token", "--site", "BJ01", "--kind", "branch", "--region", "north",
    ]);
    bj.ok(&["enroll", "--hub", &served.url, "--token", token.trim()]);
    bj.ok(&["product", "add", "TEA-LJ-01", "--name", "龙井"]);
    receive(&bj, "main", "TEA-LJ-01", "5", "10");
    bj.ok(&["sync"]);

    let hub_fails = |args: &[&str]| -> String {
        let out = hub.command(args).output().unwrap();
        assert_eq!(out.status.code(), Some(3), "jxc-hub {args:?}: {out:?}");
        assert!(out.stdout.is_empty(), "nothing printed as a table");
        String::from_utf8_lossy(&out.stderr).into_owned()
    };
    let err = hub_fails(&["inventory", "--sku", "TEA-LJ-1"]);
    assert!(
        err.contains("sku \"TEA-LJ-1\" is not known to the hub; did you mean TEA-LJ-01?"),
        "{err}"
    );
    let err = hub_fails(&["inventory", "--kind", "dealers"]);
    assert!(err.contains("did you mean dealer?"), "{err}");
    let err = hub_fails(&["inventory", "--region", "North"]);
    assert!(
        err.contains("region \"North\" is not known to the hub; did you mean north?"),
        "{err}"
    );
    let err = hub_fails(&["inventory", "--site", "BJ02"]);
    assert!(err.contains("did you mean BJ01?"), "{err}");
    // A known SKU with nothing on hand is an answer, not an error.
    let inv = hub.json(&["inventory", "--sku", "TEA-LJ-01"]);
    assert_eq!(s(&inv[0], "on_hand"), "5", "{inv}");
    let api = jxc_e2e::Https::new(&served.url, &hub.ca_pem(), None);
    let r = api.get("/v1/inventory?sku=TEA-LJ-1", Some(&hub.admin));
    assert_eq!(r.status, 404, "{}", r.text());
    assert!(r.text().contains("did you mean TEA-LJ-01?"), "{}", r.text());

    let err = bj.fails(
        &[
            "sell",
            "--location",
            "main",
            "--sku",
            "TEA-LJ-1",
            "--qty",
            "1",
        ],
        3,
    );
    assert!(
        err.contains("no such product (see `product list`); did you mean TEA-LJ-01?"),
        "{err}"
    );
}

#[test]
fn an_hq_user_can_be_listed_and_removed_and_their_token_stops_at_once() {
    let hub = Hub::new();
    let served = hub.start(None);
    let token = hub.ok(&["user", "add", "王芳", "--role", "viewer"]);
    let token = token.trim();
    let api = jxc_e2e::Https::new(&served.url, &hub.ca_pem(), None);
    assert_eq!(api.get("/v1/sites", Some(token)).status, 200);
    let users = hub.json(&["user", "list"]);
    assert_eq!(row(&users, "name", "王芳")["role"], "viewer", "{users}");
    assert_eq!(row(&users, "name", "admin")["role"], "admin", "{users}");
    assert!(
        !users.to_string().contains(token),
        "no token is ever listed"
    );

    hub.ok(&["user", "remove", "王芳"]);
    assert_eq!(
        api.get("/v1/sites", Some(token)).status,
        401,
        "the running hub refuses it"
    );
    let out = hub.command(&["user", "remove", "王芳"]).output().unwrap();
    assert_eq!(out.status.code(), Some(4));
    let users = hub.json(&["user", "list"]);
    assert_eq!(users.as_array().unwrap().len(), 1, "{users}");
}

#[test]
fn an_open_count_can_be_cancelled_and_nothing_is_posted() {
    let site = Site::new("BJ01", &["main"]);
    site.ok(&["product", "add", "TEA-1", "--name", "龙井"]);
    receive(&site, "main", "TEA-1", "10", "100");
    site.ok(&["count", "start", "--location", "main"]);
    site.ok(&["count", "set", "TEA-1", "7"]);
    let out = site.ok(&["count", "cancel"]);
    assert!(out.contains("cancelled: nothing posted"), "{out}");
    assert_eq!(stock_of(&site, "main", "TEA-1").0, "10");
    site.fails(&["count", "post"], 4);
    site.fails(&["count", "cancel"], 4);
    // A new count can start at the same location.
    site.ok(&["count", "start", "--location", "main"]);
    site.ok(&["count", "set", "TEA-1", "9"]);
    site.ok(&["count", "post"]);
    assert_eq!(stock_of(&site, "main", "TEA-1").0, "9");
    site.ok(&["verify"]);
}
