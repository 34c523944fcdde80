//! End-to-end tests of the shared documents as real processes over mTLS:
//! the HQ catalog reaches agents, concurrent offline edits of a customer at
//! HQ and at a branch merge field by field the same way everywhere, and the
//! hub refuses, change by change, what a site may not write.

use jxc_e2e::{Https, Hub, Served, Site};
use jxc_shared::docs::automerge::{ActorId, AutoCommit, transaction::Transactable};
use jxc_shared::docs::{self, CatalogItem, DocId, SharePolicy};
use jxc_shared::protocol::{DocOffer, DocsRequest, DocsResponse, decode_limited};
use serde_json::Value;

fn enroll(site: &Site, served: &Served, token: &str) {
    site.ok(&["enroll", "--hub", &served.url, "--token", token]);
}

fn sync(site: &Site) -> Value {
    site.json(&["sync"])
}

fn agent_api(site: &Site, served: &Served) -> Https {
    let cert = site.file("agent.pem");
    let key = site.file("agent.key");
    Https::new(&served.url, &site.file("hub-ca.pem"), Some((&cert, &key)))
}

const CATALOG: &str = "sku,name,unit,decimals,gtin,category,brand,lot_tracked,list_price,dealer_price,lead_time_days,min_order_qty,pack_size
TEA-1,\"龙井, \"\"特级\"\"\",box,0,6901234567892,tea,西湖,false,128.00,96.50,14,10,6
TEA-2,碧螺春,kg,3,,tea,,true,560,420,21,0.5,
CUP-1,\"Mug, 350ml\",pcs,0,,ware,Acme,false,9.9,6.5,,,
";

#[test]
fn the_catalog_reaches_agents_and_customer_edits_merge_field_by_field() {
    let hub = Hub::new();
    let served = hub.start(None);
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("catalog.csv");
    std::fs::write(&file, CATALOG).unwrap();
    let out = hub.ok(&["product", "import", file.to_str().unwrap()]);
    assert!(out.contains("3 products read, 3 added"), "{out}");
    // The same file again changes nothing (and adds no history).
    let out = hub.ok(&["product", "import", file.to_str().unwrap()]);
    assert!(out.contains("0 added or changed"), "{out}");

    let br = Site::new("BR01", &["main"]);
    enroll(&br, &served, &hub.token("BR01", "branch"));
    let report = sync(&br);
    assert!(
        report["docs"]["docs_updated"].as_u64().unwrap() >= 2,
        "{report}"
    );
    let products = br.json(&["product", "list"]);
    let tea = products
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["sku"] == "TEA-1")
        .expect("TEA-1 reached the branch");
    assert_eq!(tea["name"], "龙井, \"特级\"");
    assert_eq!(tea["category"], "tea");
    // HQ's products are read-only at the branch: a product import naming
    // one is refused whole, naming the SKU, and so is `product add`; sync
    // would not have restored a local change.
    let mine = dir.path().join("mine.csv");
    std::fs::write(&mine, "sku,name\r\nOWN-1,自有\r\nTEA-1,改名\r\n").unwrap();
    let err = br.fails(&["product", "import", mine.to_str().unwrap()], 3);
    assert!(
        err.contains("line 3: sku \"TEA-1\" refused: is a product of HQ's catalog"),
        "{err}"
    );
    let err = br.fails(&["product", "add", "TEA-1", "--name", "改名"], 4);
    assert!(err.contains("sku \"TEA-1\" refused"), "{err}");
    assert_eq!(br.json(&["product", "list"]), products);
    // The branch can sell a catalog product it never defined itself.
    br.ok(&[
        "receive",
        "--location",
        "main",
        "--sku",
        "TEA-1",
        "--qty",
        "10",
        "--cost",
        "90",
    ]);

    // A catalog edit reaches the agent on its next sync.
    hub.ok(&["product", "set", "TEA-1", "--dealer-price", "95"]);
    sync(&br);
    let products = br.json(&["product", "list"]);
    assert!(
        products
            .as_array()
            .unwrap()
            .iter()
            .any(|p| p["sku"] == "CUP-1")
    );

    br.ok(&[
        "customer",
        "add",
        "C1",
        "--name",
        "王五, Ltd",
        "--region",
        "east",
        "--type",
        "Wholesale",
        "--credit-limit",
        "1000",
        "--terms",
        "30",
    ]);
    sync(&br);
    let at_hub = hub.json(&["customer", "list", "--site", "BR01"]);
    assert_eq!(at_hub[0]["id"], "C1");
    assert_eq!(at_hub[0]["type"], "wholesale");

    // Offline at the same time: HQ raises the limit and the terms, the
    // branch sets another limit and a phone number.
    hub.ok(&[
        "customer",
        "set",
        "BR01",
        "C1",
        "--credit-limit",
        "5000",
        "--terms",
        "45",
    ]);
    br.ok(&[
        "customer",
        "set",
        "C1",
        "--credit-limit",
        "8000",
        "--phone",
        "021-555",
    ]);
    sync(&br);
    sync(&br);
    let shown = br.json(&["customer", "show", "C1"]);
    let at_hub = hub.json(&["customer", "list", "--site", "BR01"]);
    assert_eq!(shown["phone"], "021-555", "{shown}");
    assert_eq!(shown["terms_days"], 45, "{shown}");
    assert_eq!(
        shown["credit_limit"], at_hub[0]["credit_limit"],
        "both copies resolve the same way"
    );
    let limit = shown["credit_limit"].as_str().unwrap();
    let other = if limit == "5000" { "8000" } else { "5000" };
    assert_eq!(
        shown["conflicts"],
        serde_json::json!([["credit_limit", [other]]]),
        "{shown}"
    );
    let text = br.ok(&["customer", "show", "C1"]);
    assert!(
        text.contains(&format!("concurrent edits also set {other}")),
        "{text}"
    );

    // HQ may set only credit fields, and only on a branch's customers.
    let err = hub
        .command(&["customer", "set", "NOPE", "C1", "--terms", "1"])
        .output()
        .unwrap();
    assert!(!err.status.success());
    assert!(String::from_utf8_lossy(&err.stderr).contains("branch"));

    // Counterparties that are not registered customers.
    br.ok(&[
        "sell",
        "--location",
        "main",
        "--sku",
        "TEA-1",
        "--qty",
        "1",
        "--counterparty",
        "C1",
    ]);
    br.ok(&[
        "sell",
        "--location",
        "main",
        "--sku",
        "TEA-1",
        "--qty",
        "1",
        "--counterparty",
        "门店散客",
    ]);
    br.ok(&["sell", "--location", "main", "--sku", "TEA-1", "--qty", "1"]);
    // A registered customer's terms apply: the due date, and what is still
    // within terms against the credit limit.
    let out = br.ok(&[
        "sell",
        "--location",
        "main",
        "--sku",
        "TEA-1",
        "--qty",
        "1",
        "--price",
        "9000",
        "--counterparty",
        "C1",
        "--at",
        "2026-03-01T10:00:00+08:00",
    ]);
    assert!(out.contains("payment due 2026-04-15 (45 days)"), "{out}");
    assert!(out.contains("within terms 9000 of credit limit"), "{out}");
    assert!(out.contains("OVER THE CREDIT LIMIT"), "{out}");
    let unregistered = br.json(&["customer", "unregistered"]);
    assert_eq!(unregistered.as_array().unwrap().len(), 1, "{unregistered}");
    assert_eq!(unregistered[0]["counterparty"], "门店散客");

    // HQ reads the same through the API with its bearer token.
    let api = Https::new(&served.url, &hub.ca_pem(), None);
    let products = api
        .get("/v1/products?category=tea", Some(&hub.admin))
        .json();
    let names: Vec<&str> = products
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, vec!["龙井, \"特级\"", "碧螺春"]);
    assert_eq!(products[0]["dealer_price"], "95");
    assert_eq!(products[1]["lot_tracked"], true);
    let customers = api.get("/v1/customers?site=BR01", Some(&hub.admin)).json();
    assert_eq!(customers[0]["phone"], "021-555");
    assert_eq!(api.get("/v1/customers", None).status, 401);
    assert_eq!(
        api.get("/v1/customers?site=no%20such", Some(&hub.admin))
            .status,
        400
    );

    // A reconnect sends only what the hub lacks: nothing now.
    let again = sync(&br);
    assert_eq!(again["docs"]["changes_sent"], 0, "{again}");
    assert_eq!(again["docs"]["docs_updated"], 0, "{again}");
}

/// Sends one crafted change to `doc` with the site's own certificate.
fn offer(api: &Https, doc: &DocId, change: Vec<u8>) -> DocsResponse {
    let req = DocsRequest {
        offers: vec![DocOffer {
            doc: doc.to_string(),
            heads: Vec::new(),
            changes: vec![change],
        }],
    };
    let reply = api.post_message("/v1/docs", &req);
    assert_eq!(reply.status, 200, "{}", reply.text());
    decode_limited("docs", &reply.body, 64 << 20).unwrap()
}

fn change_by(actor: ActorId, edit: impl FnOnce(&mut AutoCommit)) -> Vec<u8> {
    let mut doc = AutoCommit::new().with_actor(actor);
    edit(&mut doc);
    doc.commit();
    doc.get_last_local_change().unwrap().raw_bytes().to_vec()
}

#[test]
fn an_agents_actor_is_bound_as_it_enrolls_so_no_other_actor_gets_in_first() {
    let hub = Hub::new();
    let served = hub.start(None);
    let br = Site::new("BR07", &["main"]);
    enroll(&br, &served, &hub.token("BR07", "branch"));
    // Before the agent's first document sync, a change by another actor
    // arrives with the site's own certificate: the site already has one.
    let api = agent_api(&br, &served);
    let stranger = change_by(ActorId::from([9u8; 16].as_slice()), |doc| {
        let name = docs::CustomerField::Name;
        docs::Customer::set(doc, "C1", &[(name, name.value("冒名, Ltd.").unwrap())]).unwrap();
    });
    let id = DocId::Customers(jxc_shared::SiteId::parse("BR07").unwrap());
    let r = offer(&api, &id, stranger);
    assert_eq!(r.replies[0].refused.len(), 1, "{r:?}");
    assert!(r.replies[0].refused[0].reason.contains("unknown"), "{r:?}");
    br.ok(&["customer", "add", "C2", "--name", "真"]);
    let report = sync(&br);
    assert_eq!(report["docs"]["refused"], serde_json::json!([]), "{report}");
    let rows = hub.json(&["customer", "list", "--site", "BR07"]);
    let ids: Vec<&str> = rows
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, ["C2"], "{rows}");
}

#[test]
fn the_hub_refuses_each_change_a_site_may_not_make_and_keeps_the_rest() {
    let hub = Hub::new();
    let served = hub.start(None);
    let dl = Site::with_kind("DL01", "dealer", &["shop"]);
    enroll(&dl, &served, &hub.token("DL01", "dealer"));
    dl.ok(&[
        "share",
        "set",
        "--stock",
        "selected",
        "--category",
        "tea",
        "--sell-through",
        "pseudonym",
    ]);
    sync(&dl);
    let policies = hub.json(&["share"]);
    assert_eq!(policies[0]["site"], "DL01");
    assert_eq!(policies[0]["policy"]["sell_through"], "pseudonym");

    let actor_hex = dl.json(&["status"])["doc_actor"]
        .as_str()
        .unwrap()
        .to_owned();
    let actor = ActorId::from(hex_bytes(&actor_hex).as_slice());
    let api = agent_api(&dl, &served);

    // 1. The dealer writes the catalog.
    let shard = docs::catalog_shard("TEA-9");
    let forged = change_by(actor.clone(), |doc| {
        let item = CatalogItem::from_text(|c| match c {
            "sku" => "TEA-9".into(),
            "name" => "fake".into(),
            _ => String::new(),
        })
        .unwrap();
        item.write(doc).unwrap();
    });
    let r = offer(&api, &shard, forged);
    assert_eq!(r.replies[0].refused.len(), 1, "{r:?}");
    assert!(
        r.replies[0].refused[0]
            .reason
            .contains("may not write the catalog"),
        "{r:?}"
    );

    // 2. Another actor (not the one bound to DL01) edits DL01's policy.
    let stranger = change_by(ActorId::from([7u8; 16].as_slice()), |doc| {
        SharePolicy::everything().write(doc).unwrap();
    });
    let r = offer(
        &api,
        &DocId::Policy(jxc_shared::SiteId::parse("DL01").unwrap()),
        stranger,
    );
    assert!(r.replies[0].refused[0].reason.contains("unknown"), "{r:?}");

    // 3. A change claiming HQ's actor.
    let hq = docs::hub_actor(&jxc_e2e::pem_der(&hub.ca_pem()).unwrap());
    let claims_hq = change_by(hq, |doc| {
        doc.put(jxc_shared::docs::automerge::ROOT, "stock", "all")
            .unwrap();
    });
    let r = offer(
        &api,
        &DocId::Policy(jxc_shared::SiteId::parse("DL01").unwrap()),
        claims_hq,
    );
    assert!(
        r.replies[0].refused[0].reason.contains("HQ's actor"),
        "{r:?}"
    );

    // 4. Another site's document: refused as a whole.
    let other = DocId::Customers(jxc_shared::SiteId::parse("BR01").unwrap());
    let r = offer(
        &api,
        &other,
        change_by(actor, |doc| {
            doc.put(jxc_shared::docs::automerge::ROOT, "x", 1).unwrap();
        }),
    );
    assert!(
        r.replies[0]
            .error
            .as_deref()
            .unwrap_or("")
            .contains("another site"),
        "{r:?}"
    );

    // Exactly the three refused changes are recorded; the policy stands.
    let refused = hub.json(&["quarantine", "--documents"]);
    assert_eq!(refused.as_array().unwrap().len(), 3, "{refused}");
    assert!(
        refused
            .as_array()
            .unwrap()
            .iter()
            .all(|r| r["site"] == "DL01")
    );
    assert_eq!(
        hub.json(&["share"])[0]["policy"]["sell_through"],
        "pseudonym"
    );
    assert!(
        hub.json(&["product", "list"])
            .as_array()
            .unwrap()
            .is_empty()
    );
    let api = Https::new(&served.url, &hub.ca_pem(), None);
    let listed = api.get("/v1/document-refusals", Some(&hub.admin)).json();
    assert_eq!(listed.as_array().unwrap().len(), 3, "{listed}");
    // The dealer's honest agent still syncs cleanly.
    let report = sync(&dl);
    assert!(
        report["docs"]["refused"].as_array().unwrap().is_empty(),
        "{report}"
    );
}

fn hex_bytes(s: &str) -> Vec<u8> {
    (0..s.len() / 2)
        .map(|i| u8::from_str_radix(&s[2 * i..2 * i + 2], 16).unwrap())
        .collect()
}

/// Runs a hub command that must fail with `code`; its stderr.
fn hub_fails(hub: &Hub, args: &[&str], code: i32) -> String {
    let out = hub.command(args).output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert_eq!(out.status.code(), Some(code), "jxc-hub {args:?}: {stderr}");
    assert_eq!(stderr.lines().count(), 1, "one line: {stderr}");
    stderr
}

/// A refused import: exit 3, one `line N: COLUMN` report per bad row (the
/// heads given, in order), then one `error:` line; returns stderr.
fn hub_fails_reporting(hub: &Hub, args: &[&str], rows: &[&str]) -> String {
    let out = hub.command(args).output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert_eq!(out.status.code(), Some(3), "jxc-hub {args:?}: {stderr}");
    let lines: Vec<&str> = stderr.lines().collect();
    assert_eq!(lines.len(), rows.len() + 1, "{stderr}");
    for (line, want) in lines.iter().zip(rows) {
        assert!(line.starts_with(want), "want {want:?} in:\n{stderr}");
    }
    assert!(lines[rows.len()].starts_with("error: "), "{stderr}");
    stderr
}

/// A `--csv` listing, checked to start with the UTF-8 BOM and parsed back
/// with the csv crate: its header and records.
fn csv_out(text: &str) -> (Vec<String>, Vec<Vec<String>>) {
    jxc_shared::text::read_csv_table(text).unwrap_or_else(|e| panic!("{e}"))
}

#[test]
fn hub_product_import_reads_gb18030_crlf_files_and_listings_export_csv() {
    let hub = Hub::new();
    let dir = tempfile::tempdir().unwrap();
    let write = |name: &str, text: &str| {
        let (bytes, _, unmappable) = encoding_rs::GB18030.encode(text);
        assert!(!unmappable);
        let p = dir.path().join(name);
        std::fs::write(&p, bytes).unwrap();
        p.to_str().unwrap().to_owned()
    };
    // As Chinese Excel saves it: GB18030, CRLF. Every bad row is reported,
    // with its true line number, and nothing is written.
    let text = "sku,name,category,list_price\r\n\
                TEA-1,\"龙井, \"\"特级\"\"\",茶叶,128\r\n\
                TEA-2,碧螺春,茶叶,-1\r\n\
                TEA-3,,茶叶,9\r\n\
                TEA-4,白茶,茶叶,20\r\n";
    let bad = write("bad.csv", text);
    let err = hub_fails_reporting(
        &hub,
        &["product", "import", &bad],
        &["line 3: list_price", "line 4: name"],
    );
    assert!(err.contains("2 bad row(s) of 4"), "{err}");
    assert_eq!(hub.json(&["product", "list"]), serde_json::json!([]));

    let good = write(
        "good.csv",
        &text
            .replace(",-1\r", ",560\r")
            .replace("TEA-3,,", "TEA-3,红茶,"),
    );
    let out = hub.ok(&["product", "import", &good]);
    assert!(out.contains("4 products read, 4 added"), "{out}");
    let (h, recs) = csv_out(&hub.ok(&["product", "list", "--csv"]));
    assert_eq!(h[1], "name");
    assert_eq!(recs.len(), 4);
    let tea = recs.iter().find(|r| r[0] == "TEA-1").expect("TEA-1 listed");
    assert_eq!([&tea[1], &tea[3]], ["龙井, \"特级\"", "茶叶"]);
    for listing in [
        &["sites"][..],
        &["inventory"],
        &["inventory", "--by", "site"],
        &["transfers"],
        &["quarantine"],
        &["quarantine", "--documents"],
        &["customer", "list"],
        &["share"],
    ] {
        let mut args = listing.to_vec();
        args.push("--csv");
        let (h, _) = csv_out(&hub.ok(&args));
        assert!(h.len() > 1, "{listing:?}: {h:?}");
    }
    // The table aligns by display width: the brand column starts at one
    // terminal column on every line.
    let table = hub.ok(&["product", "list"]);
    let width = |s: &str| -> usize { s.chars().map(|c| if c >= '\u{2e80}' { 2 } else { 1 }).sum() };
    let starts: Vec<usize> = table
        .lines()
        .skip(1)
        .map(|l| width(&l[..l.find("茶叶").unwrap()]))
        .collect();
    assert!(starts.iter().all(|s| *s == starts[0]), "{table}");
}

#[test]
fn bad_input_at_the_document_doors_is_refused_whole_with_a_clear_line() {
    let hub = Hub::new();
    let served = hub.start(None);
    let dir = tempfile::tempdir().unwrap();
    let write = |name: &str, text: &[u8]| {
        let p = dir.path().join(name);
        std::fs::write(&p, text).unwrap();
        p.to_str().unwrap().to_owned()
    };

    // A catalog file with one bad row writes nothing and names line and field.
    let bad = write(
        "bad.csv",
        "sku,name,list_price\nA-1,好,1.5\nA-2,坏,-3\n".as_bytes(),
    );
    let err = hub_fails_reporting(&hub, &["product", "import", &bad], &["line 3: list_price"]);
    assert!(err.contains("1 bad row(s) of 2"), "{err}");
    let unknown = write("unknown.csv", b"sku,name,colour\nA-1,x,red\n");
    assert!(hub_fails(&hub, &["product", "import", &unknown], 3).contains("colour"));
    let twice = write("twice.csv", b"sku,name\nA-1,x\nA-1,y\n");
    let err = hub_fails_reporting(&hub, &["product", "import", &twice], &["line 3: sku"]);
    assert!(err.contains("appears twice"), "{err}");
    let latin1 = write("latin1.csv", b"sku,name\nA-1,caf\xe9\n");
    hub_fails_reporting(&hub, &["product", "import", &latin1], &["line 2: encoding"]);
    assert!(
        hub.json(&["product", "list"])
            .as_array()
            .unwrap()
            .is_empty()
    );
    let err = hub_fails(
        &hub,
        &["product", "add", "B-1", "--name", "x", "--gtin", "12ab"],
        3,
    );
    assert!(err.contains("gtin"), "{err}");
    let err = hub_fails(&hub, &["product", "set", "NOPE", "--name", "x"], 3);
    assert!(err.contains("NOPE"), "{err}");
    hub.ok(&["product", "add", "B-1", "--name", "x"]);
    let err = hub_fails(&hub, &["product", "set", "B-1", "--lot-tracked", "true"], 3);
    assert!(err.contains("lot"), "{err}");

    // The agent's document commands.
    let br = Site::new("BR01", &["main"]);
    enroll(&br, &served, &hub.token("BR01", "branch"));
    br.ok(&["sync"]);
    let err = br.fails(&["customer", "add", " C1", "--name", "x"], 3);
    assert!(err.contains("customer"), "{err}");
    let err = br.fails(
        &["customer", "add", "C1", "--name", "x", "--credit-limit=-5"],
        3,
    );
    assert!(err.contains("credit_limit"), "{err}");
    let err = br.fails(
        &["customer", "add", "C1", "--name", "x", "--terms", "9999"],
        3,
    );
    assert!(err.contains("terms_days"), "{err}");
    let err = br.fails(&["customer", "set", "NOPE", "--name", "x"], 3);
    assert!(err.contains("no such customer"), "{err}");
    br.fails(&["share", "set", "--stock", "all"], 4);
    let err = br.fails(&["share", "sent"], 4);
    assert!(err.contains("share sent is for dealers"), "{err}");
    let dl = Site::with_kind("DL01", "dealer", &["shop"]);
    enroll(&dl, &served, &hub.token("DL01", "dealer"));
    dl.ok(&["sync"]);
    let err = dl.fails(&["share", "set", "--sell-through", "everything"], 3);
    assert!(err.contains("sell_through"), "{err}");
    let err = dl.fails(&["share", "set", "--category", "tea"], 3);
    assert!(err.contains("--stock selected"), "{err}");
    let err = dl.fails(&["share", "sent", "--limit", "0"], 2);
    assert!(err.contains("--limit"), "{err}");
    assert_eq!(dl.json(&["share", "sent"]), serde_json::json!([]));
    let err = dl.fails(&["share", "set", "--from", "31/01/2026"], 3);
    assert!(err.contains("from"), "{err}");
    let err = dl.fails(&["sku-map", "set", "mine", "NOT-IN-CATALOG"], 3);
    assert!(err.contains("catalog"), "{err}");
    let map = write("map.csv", b"code,hq_sku\nm-1,B-1\nm-2,NOPE\n");
    let err = dl.fails(&["sku-map", "import", &map], 3);
    assert!(err.contains("line 3: hq_sku \"NOPE\""), "{err}");
    assert!(dl.json(&["sku-map", "list"]).as_array().unwrap().is_empty());
    // A dealer's own codes in Chinese, as Chinese Excel saves them: GB18030
    // with CRLF; every bad row reported on its line.
    let (gb, _, _) =
        encoding_rs::GB18030.encode("code,hq_sku\r\n茶-1,B-1\r\n茶-2,NOPE\r\n,B-1\r\n");
    let map = write("map-gbk.csv", &gb);
    let err = dl.fails(&["sku-map", "import", &map], 3);
    let lines: Vec<&str> = err.lines().collect();
    assert!(lines[0].starts_with("line 3: hq_sku \"NOPE\""), "{err}");
    assert!(lines[1].starts_with("line 4: code \"\""), "{err}");
    let (gb, _, _) = encoding_rs::GB18030.encode("code,hq_sku\r\n茶-1,B-1\r\n");
    let map = write("map-good.csv", &gb);
    assert!(
        dl.ok(&["sku-map", "import", &map])
            .contains("1 mappings read")
    );
    let (_, rows) = csv_out(&dl.ok(&["sku-map", "list", "--csv"]));
    assert_eq!(rows, [["茶-1", "B-1"]]);
    assert_eq!(dl.json(&["share", "show"])["stock"], "nothing");

    // The /v1/docs door: no certificate, wrong version, garbage, too many
    // offers, an undecodable document name.
    let anon = Https::new(&served.url, &hub.ca_pem(), None);
    let empty = DocsRequest { offers: Vec::new() };
    assert_eq!(anon.post_message("/v1/docs", &empty).status, 401);
    let api = agent_api(&br, &served);
    let garbage = api.post_raw("/v1/docs", "1", b"\x28\xb5\x2f\xfd garbage".to_vec());
    assert_eq!(garbage.status, 400, "{}", garbage.text());
    let future = api.post_raw("/v1/docs", "99", jxc_shared::protocol::encode(&empty));
    assert_eq!(future.status, 400, "{}", future.text());
    assert!(future.text().contains("version"), "{}", future.text());
    let many = DocsRequest {
        offers: (0..129)
            .map(|i| DocOffer {
                doc: format!("catalog/{:02}", i % 64),
                heads: Vec::new(),
                changes: Vec::new(),
            })
            .collect(),
    };
    let r = api.post_message("/v1/docs", &many);
    assert_eq!(r.status, 400, "{}", r.text());
    let odd = DocsRequest {
        offers: vec![DocOffer {
            doc: "ledger/BR01".into(),
            heads: vec![[7; 32]],
            changes: Vec::new(),
        }],
    };
    let r = api.post_message("/v1/docs", &odd);
    assert_eq!(r.status, 200);
    let resp: DocsResponse = decode_limited("docs", &r.body, 1 << 20).unwrap();
    assert!(
        resp.replies[0]
            .error
            .as_deref()
            .unwrap()
            .contains("document"),
        "{resp:?}"
    );
}
