//! The shared documents are plain Automerge documents: a catalog shard and a
//! customers document saved by jxc load in the JavaScript Automerge (from
//! npm, `tests/interop`) with every field's value and datatype intact; an
//! edit made there with the site's actor merges back into the agent and
//! reaches the hub; one made with JS's own random actor is refused by the
//! agent's merge, and by the hub when sent to it anyway, so actor
//! authorization holds across implementations.
//!
//! Needs `node` (18+) and `npm`, and fails, never skips, without them. The
//! first test to need it runs `npm ci` in `tests/interop` unless its
//! `node_modules` already holds the locked `@automerge/automerge`.

use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

use jxc_e2e::{Hub, Served, Site};
use jxc_shared::docs::automerge::{AutoCommit, ScalarValue};
use jxc_shared::docs::{self, DocId};
use serde_json::{Value, json};

fn interop_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("interop")
}

/// Runs `tool --version`; a missing tool fails the test with what to do.
fn require(tool: &str) -> String {
    let out = Command::new(tool).arg("--version").output();
    match out {
        Ok(o) if o.status.success() => String::from_utf8_lossy(&o.stdout).trim().to_owned(),
        Ok(o) => panic!(
            "`{tool} --version` failed ({}): {}",
            o.status,
            String::from_utf8_lossy(&o.stderr)
        ),
        Err(e) => panic!(
            "the Automerge JS interop test needs `{tool}` on PATH (Node.js 18 or later with \
             npm, https://nodejs.org), and could not run it: {e}. It is not skipped: without \
             it nothing proves jxc's documents load in another Automerge implementation."
        ),
    }
}

/// Whether `node_modules` holds exactly the locked packages (and npm
/// finished writing it: its hidden lockfile is written last).
fn installed(dir: &Path) -> bool {
    if !dir.join("node_modules/.package-lock.json").is_file() {
        return false;
    }
    let Ok(lock) = std::fs::read(dir.join("package-lock.json")) else {
        return true;
    };
    let lock: Value = serde_json::from_slice(&lock).expect("package-lock.json is JSON");
    let packages = lock["packages"].as_object().expect("lockfile v2+ packages");
    packages
        .iter()
        .filter(|(path, _)| !path.is_empty())
        .all(|(path, p)| {
            let manifest = std::fs::read(dir.join(path).join("package.json"));
            let version = manifest
                .ok()
                .and_then(|m| serde_json::from_slice::<Value>(&m).ok())
                .map(|m| m["version"].clone());
            version.as_ref() == Some(&p["version"])
        })
}

/// Installs the pinned packages once per test run, unless `node_modules`
/// already holds them. Another test run in the same tree may be using them,
/// so each run holds a shared lock on `package.json` while it runs, and
/// `npm ci` (which deletes `node_modules` first) runs only under an
/// exclusive one.
fn npm_ready() -> &'static Path {
    static READY: OnceLock<(PathBuf, File)> = OnceLock::new();
    let (dir, _lock) = READY.get_or_init(|| {
        let dir = interop_dir();
        let node = require("node");
        let major = node.trim_start_matches('v').split('.').next();
        assert!(
            major
                .and_then(|m| m.parse::<u32>().ok())
                .is_some_and(|m| m >= 18),
            "the Automerge JS interop test needs Node.js 18 or later; `node --version` says {node}"
        );
        require("npm");
        let lock = File::open(dir.join("package.json")).expect("tests/interop/package.json");
        lock.lock_shared().expect("lock tests/interop");
        if !installed(&dir) {
            lock.unlock().expect("unlock tests/interop");
            lock.lock().expect("lock tests/interop exclusively");
            if !installed(&dir) {
                let install = if dir.join("package-lock.json").is_file() {
                    "ci"
                } else {
                    "install"
                };
                let out = Command::new("npm")
                    .args([install, "--no-audit", "--no-fund", "--ignore-scripts"])
                    .current_dir(&dir)
                    .output()
                    .expect("run npm");
                assert!(
                    out.status.success() && installed(&dir),
                    "`npm {install}` in {} failed ({}); the registry must be reachable:\n{}\n{}",
                    dir.display(),
                    out.status,
                    String::from_utf8_lossy(&out.stdout),
                    String::from_utf8_lossy(&out.stderr)
                );
            }
            lock.lock_shared().expect("lock tests/interop");
        }
        (dir, lock)
    });
    dir
}

/// Runs `roundtrip.mjs` with `args` and parses the JSON it prints.
fn js(args: &[&str]) -> Value {
    let dir = npm_ready();
    let out = Command::new("node")
        .arg(dir.join("roundtrip.mjs"))
        .args(args)
        .current_dir(dir)
        .output()
        .expect("run node");
    assert!(
        out.status.success(),
        "node roundtrip.mjs {args:?} failed ({}): {}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "roundtrip.mjs printed no JSON ({e}): {}",
            String::from_utf8_lossy(&out.stdout)
        )
    })
}

fn enroll(site: &Site, served: &Served, token: &str) {
    site.ok(&["enroll", "--hub", &served.url, "--token", token]);
}

fn path(p: &Path) -> &str {
    p.to_str().expect("utf-8 path")
}

/// A document's records as jxc's own Rust code reads them, in the shape
/// `roundtrip.mjs read` prints: `{record: {field: {type, value}}}`.
fn rust_view(bytes: &[u8]) -> Value {
    let doc = AutoCommit::load(bytes).expect("jxc's file loads in Rust");
    let mut records = serde_json::Map::new();
    for (key, obj) in docs::records(&doc) {
        let mut fields = serde_json::Map::new();
        for (name, field) in docs::read_fields(&doc, &obj) {
            assert!(field.others.is_empty(), "{key}.{name} is in conflict");
            let (t, v) = match field.value {
                ScalarValue::Str(s) => ("str", json!(s.as_str())),
                ScalarValue::Int(i) => ("int", json!(i)),
                ScalarValue::Uint(u) => ("uint", json!(u)),
                ScalarValue::F64(f) => ("f64", json!(f)),
                ScalarValue::Boolean(b) => ("boolean", json!(b)),
                ScalarValue::Null => ("null", Value::Null),
                other => panic!("{key}.{name}: unexpected scalar {other:?}"),
            };
            fields.insert(name, json!({ "type": t, "value": v }));
        }
        records.insert(key, Value::Object(fields));
    }
    Value::Object(records)
}

fn field(t: &str, v: Value) -> Value {
    json!({ "type": t, "value": v })
}

/// A site's customers as the hub holds them, by id.
fn hub_customer(hub: &Hub, site: &str, id: &str) -> Option<Value> {
    let list = hub.json(&["customer", "list", "--site", site]);
    list.as_array()
        .expect("customer list")
        .iter()
        .find(|c| c["id"] == id)
        .cloned()
}

const CATALOG: &str = "sku,name,unit,decimals,gtin,category,brand,lot_tracked,list_price,dealer_price,lead_time_days,min_order_qty,pack_size
TEA-1,\"龙井, \"\"特级\"\"\",盒,0,6901234567892,tea,西湖,false,128.00,96.50,14,10,6
TEA-2,碧螺春,kg,3,,tea,,true,560,420.125,21,0.5,
CUP-1,\"Mug, 350ml \"\"Acme\"\"\",pcs,0,,ware,Acme,false,9.9,6.5,,,
";

/// A hub with the catalog above and branch BR01 enrolled and synced, with
/// customer C1 added and synced (which binds the branch's actor at the hub).
fn branch_with_catalog_and_customer() -> (Hub, Served, Site) {
    let hub = Hub::new();
    let served = hub.start(None);
    let csv = hub.dir.path().join("catalog.csv");
    std::fs::write(&csv, CATALOG).unwrap();
    let out = hub.ok(&["product", "import", path(&csv)]);
    assert!(out.contains("3 products read, 3 added"), "{out}");
    let br = Site::new("BR01", &["main"]);
    enroll(&br, &served, &hub.token("BR01", "branch"));
    br.ok(&[
        "customer",
        "add",
        "C1",
        "--name",
        "王五, \"Ltd\"",
        "--region",
        "east",
        "--type",
        "Wholesale",
        "--credit-limit",
        "1000.50",
        "--terms",
        "30",
    ]);
    let report = br.json(&["sync"]);
    assert!(report["docs"]["refused"] == json!([]), "{report}");
    assert!(hub_customer(&hub, "BR01", "C1").is_some());
    (hub, served, br)
}

#[test]
fn jxc_documents_load_in_automerge_js_and_edits_made_there_merge_back() {
    npm_ready();
    let (hub, _served, br) = branch_with_catalog_and_customer();
    let work = tempfile::tempdir().unwrap();

    // Catalog shards, saved by the branch, read by JS exactly as Rust reads
    // them: the same records, fields, values and datatypes.
    let hub_actor = docs::hub_actor(&jxc_e2e::pem_der(&hub.ca_pem()).unwrap()).to_hex_string();
    for sku in ["TEA-1", "TEA-2", "CUP-1"] {
        let shard = docs::catalog_shard(sku);
        let file = work
            .path()
            .join(format!("{}.automerge", shard.to_string().replace('/', "-")));
        br.ok(&["doc", "export", &shard.to_string(), path(&file)]);
        let seen = js(&["read", path(&file)]);
        assert_eq!(seen["automerge"], "3.5.0", "{seen}");
        assert_eq!(
            seen["actors"],
            json!([hub_actor]),
            "only HQ writes the catalog"
        );
        assert_eq!(
            seen["records"],
            rust_view(&std::fs::read(&file).unwrap()),
            "{shard}: JS and Rust read the same document"
        );
    }
    let tea1 = work.path().join("tea1.automerge");
    br.ok(&[
        "doc",
        "export",
        &docs::catalog_shard("TEA-1").to_string(),
        path(&tea1),
    ]);
    let tea = &js(&["read", path(&tea1), "TEA-1"])["records"]["TEA-1"];
    let expected = json!({
        "name": field("str", json!("龙井, \"特级\"")),
        "unit": field("str", json!("盒")),
        "decimals": field("int", json!(0)),
        "gtin": field("str", json!("6901234567892")),
        "category": field("str", json!("tea")),
        "brand": field("str", json!("西湖")),
        "lot_tracked": field("boolean", json!(false)),
        // jxc stores money normalized ("128.00" in the file is "128").
        "list_price": field("str", json!("128")),
        "dealer_price": field("str", json!("96.5")),
        "lead_time_days": field("int", json!(14)),
        "min_order_qty": field("str", json!("10")),
        "pack_size": field("str", json!("6")),
    });
    assert_eq!(*tea, expected, "TEA-1 as Automerge JS reads it");
    let tea2_file = work.path().join("tea2.automerge");
    br.ok(&[
        "doc",
        "export",
        &docs::catalog_shard("TEA-2").to_string(),
        path(&tea2_file),
    ]);
    let tea2 = &js(&["read", path(&tea2_file), "TEA-2"])["records"]["TEA-2"];
    assert_eq!(tea2["decimals"], field("int", json!(3)), "{tea2}");
    assert_eq!(tea2["lot_tracked"], field("boolean", json!(true)), "{tea2}");
    assert_eq!(
        tea2["dealer_price"],
        field("str", json!("420.125")),
        "{tea2}"
    );
    assert_eq!(tea2["min_order_qty"], field("str", json!("0.5")), "{tea2}");
    assert!(
        tea2.get("brand").is_none(),
        "empty fields are not stored: {tea2}"
    );

    // The branch's customers, read by JS.
    let actor = br.json(&["status"])["doc_actor"]
        .as_str()
        .expect("status shows doc_actor")
        .to_owned();
    let saved = work.path().join("customers.automerge");
    br.ok(&["doc", "export", "customers/BR01", path(&saved)]);
    let seen = js(&["read", path(&saved)]);
    assert_eq!(seen["actors"], json!([actor]), "{seen}");
    assert_eq!(
        seen["records"]["C1"],
        json!({
            "name": field("str", json!("王五, \"Ltd\"")),
            "region": field("str", json!("east")),
            "type": field("str", json!("wholesale")),
            "credit_limit": field("str", json!("1000.5")),
            "terms_days": field("int", json!(30)),
        })
    );

    // JS, as the branch's actor, changes C1 and adds C2; the whole document
    // it saves merges back into the agent.
    let edited = work.path().join("customers-js.automerge");
    let edits = json!({
        "C1": { "phone": "021-5550 转 8", "credit_limit": "2500.75" },
        "C2": {
            "name": "赵六 \"商贸\", Co.",
            "region": "south",
            "type": "retail",
            "terms_days": 15,
        },
    })
    .to_string();
    let done = js(&[
        "edit",
        path(&saved),
        path(&edited),
        &edits,
        "--actor",
        &actor,
    ]);
    assert_eq!(done["actor"], actor.as_str());
    let out = br.ok(&["doc", "merge", "customers/BR01", path(&edited)]);
    assert!(out.starts_with("merged"), "{out}");
    let out = br.ok(&["doc", "merge", "customers/BR01", path(&edited)]);
    assert!(
        out.starts_with("nothing new"),
        "a second merge is a no-op: {out}"
    );

    let c1 = br.json(&["customer", "show", "C1"]);
    assert_eq!(c1["phone"], "021-5550 转 8", "{c1}");
    assert_eq!(c1["credit_limit"], "2500.75", "{c1}");
    assert_eq!(c1["name"], "王五, \"Ltd\"", "{c1}");
    assert_eq!(c1["terms_days"], 30, "{c1}");
    assert_eq!(c1["conflicts"], json!([]), "{c1}");
    let list = br.json(&["customer", "list"]);
    let c2 = list
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["id"] == "C2")
        .unwrap_or_else(|| panic!("C2 added in JS is listed: {list}"));
    assert_eq!(c2["name"], "赵六 \"商贸\", Co.", "{c2}");
    assert_eq!(c2["type"], "retail", "{c2}");
    assert_eq!(c2["terms_days"], 15, "{c2}");

    // The agent now holds exactly what JS made.
    let again = work.path().join("customers-again.automerge");
    br.ok(&["doc", "export", "customers/BR01", path(&again)]);
    assert_eq!(js(&["read", path(&again)])["heads"], done["heads"]);

    // The hub takes the JS change as the branch's own, refusing nothing.
    let report = br.json(&["sync"]);
    assert_eq!(report["docs"]["refused"], json!([]), "{report}");
    assert!(
        report["docs"]["changes_sent"].as_u64().unwrap() >= 1,
        "{report}"
    );
    let at_hub = hub_customer(&hub, "BR01", "C1").expect("C1 at the hub");
    assert_eq!(at_hub["phone"], "021-5550 转 8", "{at_hub}");
    assert_eq!(at_hub["credit_limit"], "2500.75", "{at_hub}");
    let at_hub = hub_customer(&hub, "BR01", "C2").expect("C2 at the hub");
    assert_eq!(at_hub["name"], "赵六 \"商贸\", Co.", "{at_hub}");
    assert_eq!(at_hub["terms_days"], 15, "{at_hub}");
    assert_eq!(hub.json(&["quarantine", "--documents"]), json!([]));
}

#[test]
fn edits_made_in_automerge_js_with_the_wrong_actor_are_refused() {
    npm_ready();
    let (hub, served, br) = branch_with_catalog_and_customer();
    let work = tempfile::tempdir().unwrap();
    let saved = work.path().join("customers.automerge");
    br.ok(&["doc", "export", "customers/BR01", path(&saved)]);
    let own = br.json(&["status"])["doc_actor"]
        .as_str()
        .unwrap()
        .to_owned();

    // An edit with the site's actor on a stale copy (the site changed the
    // document since it was saved) reuses a sequence number of that actor:
    // the agent refuses the whole file and keeps its document as it was.
    let stale = work.path().join("stale.automerge");
    let edits = json!({ "C1": { "phone": "stale" } }).to_string();
    js(&["edit", path(&saved), path(&stale), &edits, "--actor", &own]);
    br.ok(&["customer", "set", "C1", "--contact", "陈"]);
    let err = br.fails(&["doc", "merge", "customers/BR01", path(&stale)], 3);
    assert!(err.contains("duplicate seq"), "{err}");
    assert_eq!(br.json(&["customer", "show", "C1"])["phone"], "");
    br.ok(&["doc", "export", "customers/BR01", path(&saved)]);

    // JS's default: a random actor. Only the new change is written.
    let changes = work.path().join("foreign.changes");
    let edits = json!({
        "C1": { "phone": "999" },
        "C9": { "name": "冒名 customer" },
    })
    .to_string();
    let done = js(&[
        "edit",
        path(&saved),
        path(&changes),
        &edits,
        "--changes-only",
    ]);
    let foreign = done["actor"].as_str().unwrap().to_owned();
    let own = br.json(&["status"])["doc_actor"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_ne!(foreign, own);

    // The agent refuses to merge another actor's change into its document
    // (every later edit would build on a change the hub refuses) ...
    let err = br.fails(&["doc", "merge", "customers/BR01", path(&changes)], 3);
    assert!(err.contains("not this site's"), "{err}");
    assert_eq!(br.json(&["customer", "show", "C1"])["phone"], "");

    // ... and the hub, sent it anyway with the branch's own certificate once
    // it holds what the change builds on, knows BR01 by its own actor and
    // refuses the change.
    let report = br.json(&["sync"]);
    assert_eq!(report["docs"]["refused"], json!([]), "{report}");
    let cert = br.file("agent.pem");
    let key = br.file("agent.key");
    let agent = jxc_e2e::Https::new(&served.url, &br.file("hub-ca.pem"), Some((&cert, &key)));
    let req = jxc_shared::protocol::DocsRequest {
        offers: vec![jxc_shared::protocol::DocOffer {
            doc: "customers/BR01".into(),
            heads: Vec::new(),
            changes: vec![std::fs::read(&changes).unwrap()],
        }],
    };
    let reply = agent.post_message("/v1/docs", &req);
    assert_eq!(reply.status, 200, "{}", reply.text());
    let resp: jxc_shared::protocol::DocsResponse =
        jxc_shared::protocol::decode_limited("docs", &reply.body, 64 << 20).unwrap();
    assert_eq!(resp.replies[0].refused.len(), 1, "{resp:?}");
    assert!(
        resp.replies[0].refused[0].reason.contains("unknown"),
        "{resp:?}"
    );
    let quarantined = hub.json(&["quarantine", "--documents"]);
    let rows = quarantined.as_array().unwrap();
    assert_eq!(rows.len(), 1, "{quarantined}");
    assert_eq!(rows[0]["site"], "BR01");
    assert_eq!(
        rows[0]["doc"],
        DocId::Customers(jxc_shared::SiteId::parse("BR01").unwrap()).to_string()
    );
    assert_eq!(rows[0]["actor"], foreign.as_str());
    assert!(
        rows[0]["reason"].as_str().unwrap().contains("unknown"),
        "{quarantined}"
    );
    assert_eq!(rows[0]["hash"], done["heads"][0]);
    let c1 = hub_customer(&hub, "BR01", "C1").unwrap();
    assert_eq!(c1["contact"], "陈", "the site's own edit got through: {c1}");
    assert_eq!(c1["phone"], "", "{c1}");
    assert!(hub_customer(&hub, "BR01", "C9").is_none());
}
