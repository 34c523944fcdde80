//! One suite of store behaviours, run against every engine (Garage's
//! `db/test.rs` pattern): each behaviour is a function of the database it
//! runs on, and `conformance!` makes a test of it per engine. SQLite runs in
//! a temporary directory, PostgreSQL in this test process's throwaway
//! cluster (`jxc_testkit::PgCluster`). Two connections stand for two hub
//! processes where a behaviour is about concurrency.

use chrono::{Duration, TimeZone, Utc};
use jxc_hub::store::{GroupBy, InventoryFilter, InventoryRow, NewSite, Role, Store, Target};
use jxc_shared::docs::{CatalogItem, DocId, SellThrough, SharePolicy, StockScope, hub_actor};
use jxc_shared::protocol::{SyncRequest, WireLocation, WireMovement};
use jxc_shared::{MovementKind, Quantity, SiteId, SiteKind};

#[derive(Debug, Clone, Copy)]
enum Engine {
    Sqlite,
    Postgres,
}

/// A fresh, empty database of `engine`, and what keeps it alive.
struct Fresh {
    _dir: tempfile::TempDir,
    target: Target,
}

fn fresh(engine: Engine, label: &str) -> Fresh {
    let dir = tempfile::tempdir().unwrap();
    let target = match engine {
        Engine::Sqlite => Target::Sqlite(dir.path().to_path_buf()),
        Engine::Postgres => Target::Postgres(
            jxc_testkit::PgCluster::shared().create_database(&jxc_testkit::unique_name(label)),
        ),
    };
    Store::open(&target, true).unwrap();
    Fresh { _dir: dir, target }
}

fn now() -> chrono::DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 12, 1, 8, 0, 0).unwrap()
}

fn new_site(id: &str, kind: SiteKind) -> NewSite {
    NewSite {
        id: SiteId::parse(id).unwrap(),
        kind,
        name: format!("{id} 分公司"),
        region: "north".into(),
    }
}

/// Enrolls `id` through a token, as `POST /v1/enroll` does; its serial.
fn enroll(store: &mut Store, id: &str, kind: SiteKind) -> u64 {
    let token = format!("t-{id}");
    store
        .add_token(
            &token,
            "secret",
            &new_site(id, kind),
            Duration::hours(1),
            now(),
        )
        .unwrap();
    let (site, ()) = store
        .redeem_token(&token, "secret", now(), |_, _| Ok(()))
        .unwrap();
    site.serial
}

fn movement(site: &str, seq: u64, kind: MovementKind, qty_micro: i64) -> WireMovement {
    let t = chrono::FixedOffset::east_opt(8 * 3600)
        .unwrap()
        .with_ymd_and_hms(2026, 11, 2, 9, 0, 0)
        .unwrap();
    WireMovement {
        seq,
        kind,
        location: format!("{site}/main"),
        sku: "茶-1".into(),
        lot: String::new(),
        qty_micro,
        unit_cost: "12.5".into(),
        unit_price: (kind == MovementKind::Sale).then(|| "19.9".into()),
        counterparty: Some("张三, \"Ltd\" \\ 北京".into()),
        reference: None,
        reason: None,
        transfer_id: None,
        occurred_ms: t.timestamp_millis(),
        offset_min: 480,
        recorded_ms: t.timestamp_millis() + 1_000,
    }
}

fn receipts(site: &str, seqs: std::ops::RangeInclusive<u64>) -> Vec<WireMovement> {
    seqs.map(|s| movement(site, s, MovementKind::Receipt, 1_000_000))
        .collect()
}

fn batch(from_seq: u64, movements: Vec<WireMovement>) -> SyncRequest {
    let last = movements.last().map_or(from_seq - 1, |m| m.seq);
    SyncRequest {
        from_seq,
        movements,
        agent_last_seq: last,
        transfers_cursor: 0,
        locations: Vec::new(),
        agent_time_ms: now().timestamp_millis(),
    }
}

fn on_hand(store: &Store, site: &str) -> Vec<(String, String)> {
    store
        .inventory(&InventoryFilter {
            site: Some(site.into()),
            by: vec![GroupBy::Location],
            ..Default::default()
        })
        .unwrap()
        .into_iter()
        .map(|r| (r.keys.join(" | "), r.on_hand.to_string()))
        .collect()
}

// ---- behaviours ----

fn schema_is_made_once_and_a_newer_one_is_refused(engine: Engine) {
    let db = fresh(engine, "schema");
    // Opening again migrates nothing and keeps what is there.
    let mut store = Store::open(&db.target, false).unwrap();
    store
        .add_user("ops", Role::Viewer, "tok", None, now())
        .unwrap();
    drop(store);
    let store = Store::open(&db.target, false).unwrap();
    assert_eq!(store.users().unwrap().len(), 1);
    drop(store);
    // A database a newer hub wrote.
    match &db.target {
        Target::Sqlite(dir) => {
            let c = rusqlite::Connection::open(dir.join("hub.db")).unwrap();
            c.pragma_update(None, "user_version", 999).unwrap();
        }
        Target::Postgres(url) => {
            let mut c = ::postgres::Client::connect(url, ::postgres::NoTls).unwrap();
            c.batch_execute("UPDATE jxc_schema SET version = 999")
                .unwrap();
        }
    }
    let e = Store::open(&db.target, false)
        .err()
        .expect("a newer schema is refused");
    assert!(e.to_string().contains("newer jxc-hub"), "{e}");
    assert_eq!(e.exit_code(), 5);
}

fn an_empty_database_is_not_a_hub(engine: Engine) {
    let dir = tempfile::tempdir().unwrap();
    let target = match engine {
        Engine::Sqlite => Target::Sqlite(dir.path().to_path_buf()),
        Engine::Postgres => Target::Postgres(
            jxc_testkit::PgCluster::shared().create_database(&jxc_testkit::unique_name("empty")),
        ),
    };
    let e = Store::open(&target, false).err().expect("no hub yet");
    assert!(e.to_string().contains("init"), "{e}");
    assert_eq!(e.exit_code(), 5);
}

fn a_token_is_spent_once_and_serials_come_from_the_database(engine: Engine) {
    let db = fresh(engine, "tokens");
    let mut store = Store::open(&db.target, false).unwrap();
    let first = enroll(&mut store, "BJ01", SiteKind::Branch);
    let second = enroll(&mut store, "SH01", SiteKind::Dealer);
    assert_eq!(second, first + 1);
    let again = store.redeem_token("t-BJ01", "secret", now(), |_, _| Ok(()));
    assert_eq!(again.err().unwrap().exit_code(), 4);
    // Wrong secret and expired tokens get the same refusal.
    store
        .add_token(
            "late",
            "s",
            &new_site("GZ01", SiteKind::Branch),
            Duration::minutes(1),
            now(),
        )
        .unwrap();
    let late = store.redeem_token("late", "s", now() + Duration::hours(1), |_, _| Ok(()));
    assert!(
        late.err()
            .unwrap()
            .to_string()
            .contains("unknown, already used or expired")
    );
    // A failed certificate issue leaves the token unspent.
    store
        .add_token(
            "keep",
            "s",
            &new_site("GZ01", SiteKind::Branch),
            Duration::hours(1),
            now(),
        )
        .unwrap();
    let failed: jxc_hub::error::Result<_> = store.redeem_token("keep", "s", now(), |_, _| {
        Err::<(), _>(jxc_hub::error::HubError::Invalid("bad csr".into()))
    });
    assert!(failed.is_err());
    assert!(
        store
            .redeem_token("keep", "s", now(), |_, _| Ok(()))
            .is_ok()
    );
}

fn revocation_and_replaced_certificates_are_refused(engine: Engine) {
    let db = fresh(engine, "revoke");
    let mut store = Store::open(&db.target, false).unwrap();
    let serial = enroll(&mut store, "BJ01", SiteKind::Branch);
    store.check_client("BJ01", serial).unwrap();
    assert!(store.check_client("BJ01", serial + 7).is_err());
    assert!(store.check_client("XX01", 1).is_err());
    store
        .revoke(&SiteId::parse("BJ01").unwrap(), now())
        .unwrap();
    assert!(store.check_client("BJ01", serial).is_err());
    let e = store
        .revoke(&SiteId::parse("BJ01").unwrap(), now())
        .unwrap_err();
    assert_eq!(e.exit_code(), 4);
}

fn users_are_added_once_listed_and_removed(engine: Engine) {
    let db = fresh(engine, "users");
    let mut store = Store::open(&db.target, false).unwrap();
    store
        .add_user("王芳", Role::Admin, "tok-a", None, now())
        .unwrap();
    store
        .add_user("li", Role::Viewer, "tok-b", None, now())
        .unwrap();
    assert!(
        store
            .add_user("li", Role::Viewer, "tok-c", None, now())
            .is_err()
    );
    let names: Vec<String> = store.users().unwrap().into_iter().map(|u| u.name).collect();
    assert_eq!(names, ["li", "王芳"]);
    assert_eq!(
        store.user_for_token("tok-a").unwrap(),
        Some(("王芳".into(), Role::Admin))
    );
    store.remove_user("li").unwrap();
    assert_eq!(store.user_for_token("tok-b").unwrap(), None);
    let e = store.remove_user("li").unwrap_err();
    assert!(e.to_string().contains("no HQ user \"li\""), "{e}");
    assert_eq!(e.exit_code(), 4);
}

fn ingest_is_gapless_idempotent_and_quarantines_without_blocking(engine: Engine) {
    let db = fresh(engine, "ingest");
    let mut store = Store::open(&db.target, false).unwrap();
    enroll(&mut store, "BJ01", SiteKind::Branch);
    let site = SiteId::parse("BJ01").unwrap();
    let (r, _) = store
        .ingest(&site, &batch(1, receipts("BJ01", 1..=3)), now())
        .unwrap();
    assert_eq!((r.hwm, r.accepted), (3, 3), "{:?}", r.quarantined);
    // A batch beyond hwm + 1 leaves a gap: none of it is applied.
    let (r, _) = store
        .ingest(&site, &batch(5, receipts("BJ01", 5..=6)), now())
        .unwrap();
    assert_eq!((r.hwm, r.accepted), (3, 0));
    // Replays are duplicates; a changed replay is a conflict; a bad record is
    // refused and the hwm moves past it.
    let mut m = receipts("BJ01", 2..=5);
    m[1].qty_micro = 9_000_000; // seq 3, changed
    m[3].location = "OTHER/main".into(); // seq 5, not this site's
    let (r, stats) = store.ingest(&site, &batch(2, m), now()).unwrap();
    assert_eq!(r.hwm, 5);
    assert_eq!(
        (
            stats.accepted,
            stats.duplicates,
            stats.conflicts,
            stats.refused
        ),
        (1, 1, 1, 1)
    );
    let q = store.quarantine().unwrap();
    assert_eq!(q.len(), 2);
    assert_eq!((q[0].seq, q[0].kind.as_str()), (3, "conflict"));
    assert_eq!((q[1].seq, q[1].kind.as_str()), (5, "refused"));
    // The refused record's replay is harmless.
    let mut again = receipts("BJ01", 5..=5);
    again[0].location = "OTHER/main".into();
    let (_, stats) = store.ingest(&site, &batch(5, again), now()).unwrap();
    assert_eq!(stats.duplicates, 1);
    // Text with commas, quotes, tabs and Chinese survives.
    let rows = store
        .movements(Some("BJ01"), &Default::default(), ("", 0), 10)
        .unwrap();
    assert_eq!(rows.len(), 4);
    assert_eq!(
        rows[0].counterparty.as_deref(),
        Some("张三, \"Ltd\" \\ 北京")
    );
    assert_eq!(on_hand(&store, "BJ01"), [("BJ01/main".into(), "4".into())]);
    let sites = store.sites(now(), 900).unwrap();
    assert_eq!((sites[0].hwm, sites[0].unsynced_at_agent), (5, 0));
}

fn transfers_move_between_sites_with_cursors_in_commit_order(engine: Engine) {
    let db = fresh(engine, "transfers");
    let mut store = Store::open(&db.target, false).unwrap();
    enroll(&mut store, "WH01", SiteKind::Hq);
    enroll(&mut store, "BJ01", SiteKind::Branch);
    let (wh, bj) = (
        SiteId::parse("WH01").unwrap(),
        SiteId::parse("BJ01").unwrap(),
    );
    let out = |seq: u64, id: &str, qty: i64| WireMovement {
        kind: MovementKind::TransferOut,
        counterparty: Some("BJ01/main".into()),
        transfer_id: Some(id.into()),
        ..movement("WH01", seq, MovementKind::TransferOut, -qty)
    };
    let mut m = receipts("WH01", 1..=1);
    m[0].qty_micro = 100_000_000;
    m.push(out(2, "T-WH01-1", 10_000_000));
    m.push(out(3, "T-WH01-2", 5_000_000));
    store.ingest(&wh, &batch(1, m), now()).unwrap();
    // The receiver learns both, in cursor order.
    let (r, _) = store.ingest(&bj, &batch(1, vec![]), now()).unwrap();
    let cursors: Vec<u64> = r.incoming.iter().map(|t| t.cursor).collect();
    assert_eq!(r.incoming.len(), 2);
    assert!(cursors[0] < cursors[1]);
    // It receives 4 of the first; the sender takes 6 back: settled.
    let receive = WireMovement {
        kind: MovementKind::TransferIn,
        counterparty: Some("WH01/main".into()),
        transfer_id: Some("T-WH01-1".into()),
        ..movement("BJ01", 1, MovementKind::TransferIn, 4_000_000)
    };
    store.ingest(&bj, &batch(1, vec![receive]), now()).unwrap();
    let back = WireMovement {
        kind: MovementKind::TransferIn,
        counterparty: Some("BJ01/main".into()),
        transfer_id: Some("T-WH01-1".into()),
        ..movement("WH01", 4, MovementKind::TransferIn, 6_000_000)
    };
    store.ingest(&wh, &batch(4, vec![back]), now()).unwrap();
    // The return gave the transfer a new cursor past the receiver's.
    let (r, _) = store
        .ingest(&bj, &batch(2, vec![]).with_cursor(cursors[1]), now())
        .unwrap();
    assert_eq!(r.incoming.len(), 1);
    assert_eq!(r.incoming[0].id, "T-WH01-1");
    assert_eq!(r.incoming[0].qty_micro, 4_000_000);
    assert!(r.incoming[0].cursor > cursors[1]);
    let t = store.transfers(false).unwrap();
    let states: Vec<(&str, &str)> = t.iter().map(|t| (t.id.as_str(), t.status)).collect();
    assert_eq!(
        states,
        [("T-WH01-2", "in_transit"), ("T-WH01-1", "settled")]
    );
    // Receiving more than was sent is refused.
    let over = WireMovement {
        kind: MovementKind::TransferIn,
        counterparty: Some("WH01/main".into()),
        transfer_id: Some("T-WH01-2".into()),
        ..movement("BJ01", 2, MovementKind::TransferIn, 6_000_000)
    };
    let (r, _) = store.ingest(&bj, &batch(2, vec![over]), now()).unwrap();
    assert!(
        r.quarantined[0].reason.contains("more than"),
        "{:?}",
        r.quarantined
    );
    // In transit counts at the receiver.
    let inv = store
        .inventory(&InventoryFilter {
            by: vec![GroupBy::Site],
            ..Default::default()
        })
        .unwrap();
    let bj_row = inv.iter().find(|r| r.keys == ["BJ01"]).unwrap();
    assert_eq!(
        (bj_row.on_hand.to_string(), bj_row.in_transit.to_string()),
        ("4".into(), "5".into())
    );
}

fn secrets_are_kept_in_the_database(engine: Engine) {
    let db = fresh(engine, "secrets");
    let mut store = Store::open(&db.target, false).unwrap();
    assert_eq!(store.secret("ca.key").unwrap(), None);
    store
        .put_secrets(&[("ca.key", "-----BEGIN 1"), ("ca.pem", "-----BEGIN 2")])
        .unwrap();
    store.put_secrets(&[("ca.key", "-----BEGIN 3")]).unwrap();
    let other = Store::open(&db.target, false).unwrap();
    assert_eq!(
        other.secret("ca.key").unwrap().as_deref(),
        Some("-----BEGIN 3")
    );
    assert_eq!(
        other.secret("ca.pem").unwrap().as_deref(),
        Some("-----BEGIN 2")
    );
}

/// Two connections (two hub processes) take batches of one site at once,
/// the agent resending whatever it was not told was taken: every seq lands
/// exactly once, with no gap, and the balance is their sum.
fn two_writers_on_one_site_stay_gapless_and_exactly_once(engine: Engine) {
    let db = fresh(engine, "two_writers");
    let mut store = Store::open(&db.target, false).unwrap();
    enroll(&mut store, "BJ01", SiteKind::Branch);
    drop(store);
    const TOTAL: u64 = 600;
    let workers: Vec<_> = (0..2)
        .map(|_| {
            let target = db.target.clone();
            std::thread::spawn(move || {
                let mut store = Store::open(&target, false).unwrap();
                let site = SiteId::parse("BJ01").unwrap();
                let mut from = 1;
                while from <= TOTAL {
                    let to = (from + 49).min(TOTAL);
                    let (r, _) = store
                        .ingest(&site, &batch(from, receipts("BJ01", from..=to)), now())
                        .unwrap();
                    // Resend from what the hub holds, as an agent does.
                    from = r.hwm + 1;
                }
            })
        })
        .collect();
    for w in workers {
        w.join().unwrap();
    }
    let store = Store::open(&db.target, false).unwrap();
    let rows = store
        .movements(Some("BJ01"), &Default::default(), ("", 0), 10_000)
        .unwrap();
    let seqs: Vec<u64> = rows.iter().map(|r| r.seq).collect();
    assert_eq!(seqs, (1..=TOTAL).collect::<Vec<_>>());
    assert!(store.quarantine().unwrap().is_empty());
    assert_eq!(
        on_hand(&store, "BJ01"),
        [("BJ01/main".into(), TOTAL.to_string())]
    );
}

/// Two connections redeem one token at once: exactly one enrolls.
fn a_token_redeemed_twice_at_once_enrolls_once(engine: Engine) {
    let db = fresh(engine, "redeem_race");
    let mut store = Store::open(&db.target, false).unwrap();
    store
        .add_token(
            "race",
            "s",
            &new_site("BJ01", SiteKind::Branch),
            Duration::hours(1),
            now(),
        )
        .unwrap();
    drop(store);
    let barrier = std::sync::Arc::new(std::sync::Barrier::new(2));
    let workers: Vec<_> = (0..2)
        .map(|_| {
            let (target, barrier) = (db.target.clone(), barrier.clone());
            std::thread::spawn(move || {
                let mut store = Store::open(&target, false).unwrap();
                barrier.wait();
                store
                    .redeem_token("race", "s", now(), |_, _| Ok(()))
                    .is_ok()
            })
        })
        .collect();
    let won: usize = workers
        .into_iter()
        .map(|w| usize::from(w.join().unwrap()))
        .sum();
    assert_eq!(won, 1);
}

/// HQ's catalog edits are stored, materialized into `product` and offered
/// to a new agent as the stored bytes; a later edit reaches an agent that
/// holds the first as only what it lacks.
fn documents_are_stored_materialized_and_offered_alike(engine: Engine) {
    use jxc_shared::docs::{self, CatalogItem};
    use jxc_shared::protocol::DocOffer;
    let db = fresh(engine, "documents");
    let mut store = Store::open(&db.target, false).unwrap();
    enroll(&mut store, "BJ01", SiteKind::Branch);
    let hq = docs::hub_actor(b"a CA certificate");
    let item = |sku: &str, name: &str| {
        CatalogItem::from_text(|c| {
            match c {
                "sku" => sku,
                "name" => name,
                "unit" => "盒",
                "decimals" => "2",
                "category" => "tea",
                "brand" => "西湖",
                "list_price" => "198.00",
                _ => "",
            }
            .to_owned()
        })
        .unwrap()
    };
    let n = store
        .write_catalog(
            &[item("TEA-1", "龙井, 特级"), item("TEA-2", "碧螺春")],
            &hq,
            now(),
        )
        .unwrap();
    assert_eq!(n, 2);
    let names: Vec<String> = store
        .catalog(Some("tea"))
        .unwrap()
        .into_iter()
        .map(|i| i.product.name)
        .collect();
    assert_eq!(names, ["龙井, 特级", "碧螺春"]);
    assert_eq!(
        store.catalog_item("TEA-1").unwrap().unwrap().product.name,
        "龙井, 特级"
    );
    // A new agent asks for the shard holding TEA-1 and gets its bytes.
    let shard = docs::catalog_shard("TEA-1").to_string();
    let site = SiteId::parse("BJ01").unwrap();
    let ask = |heads: Vec<[u8; 32]>| DocOffer {
        doc: shard.clone(),
        heads,
        changes: Vec::new(),
    };
    let mut budget = 1 << 20;
    let reply = store
        .apply_offer(&site, &hq, &ask(vec![]), &mut budget, now())
        .unwrap();
    assert!(reply.error.is_none(), "{reply:?}");
    assert!(!reply.data.is_empty());
    let mut agent = jxc_shared::docs::automerge::AutoCommit::new();
    for d in &reply.data {
        agent.load_incremental(d).unwrap();
    }
    let held: Vec<[u8; 32]> = agent.get_heads().iter().map(docs::hash_bytes).collect();
    assert_eq!(held, reply.heads);
    // Up to date: nothing to send.
    let reply = store
        .apply_offer(&site, &hq, &ask(held.clone()), &mut budget, now())
        .unwrap();
    assert!(reply.data.is_empty(), "{reply:?}");
    // A later edit: only the change.
    store
        .write_catalog(&[item("TEA-1", "龙井 明前")], &hq, now())
        .unwrap();
    let reply = store
        .apply_offer(&site, &hq, &ask(held), &mut budget, now())
        .unwrap();
    assert_eq!(reply.data.len(), 1);
    assert!(store.doc_refusals().unwrap().is_empty());
    assert_eq!(
        store.catalog_item("TEA-1").unwrap().unwrap().product.name,
        "龙井 明前"
    );
}

/// Enrolls `id` as `kind` in `region` (again, if it was enrolled before).
fn enroll_in(store: &mut Store, id: &str, kind: SiteKind, region: &str) {
    let token = format!("t-{id}-{}", kind.as_str());
    let site = NewSite {
        region: region.into(),
        ..new_site(id, kind)
    };
    store
        .add_token(&token, "secret", &site, Duration::hours(1), now())
        .unwrap();
    store
        .redeem_token(&token, "secret", now(), |_, _| Ok(()))
        .unwrap();
}

/// Sets a site's sharing policy document as HQ would edit it.
fn set_policy(store: &mut Store, site: &str, policy: &SharePolicy) {
    let id = DocId::Policy(SiteId::parse(site).unwrap());
    store
        .hq_edit(&id, &hub_actor(b"conformance"), now(), |doc| {
            policy
                .write(doc)
                .map_err(|e| jxc_hub::error::HubError::Internal(e.to_string()))
        })
        .unwrap();
}

fn policy(stock: StockScope, costs: bool) -> SharePolicy {
    SharePolicy {
        stock,
        sell_through: SellThrough::DailyTotals,
        costs_and_prices: costs,
        from: None,
    }
}

fn selected(categories: &[&str], skus: &[&str]) -> StockScope {
    StockScope::Selected {
        categories: categories.iter().map(|c| c.to_string()).collect(),
        skus: skus.iter().map(|s| s.to_string()).collect(),
    }
}

/// An open transfer: (from site, from location, to site, to location, sku,
/// lot, units, whether the hub knows the receiver).
type Open = (
    &'static str,
    &'static str,
    &'static str,
    &'static str,
    &'static str,
    &'static str,
    i64,
    bool,
);

/// The inventory's test world: who holds what, what is on the way, each
/// dealer's final policy and the catalog's categories. Every movement is at
/// unit cost 12.5, so a holding's value is 12.5 × its quantity.
struct World {
    /// (site, kind, region)
    sites: Vec<(&'static str, &'static str, &'static str)>,
    /// (site, location, sku, lot, units)
    held: Vec<(&'static str, &'static str, &'static str, &'static str, i64)>,
    open: Vec<Open>,
    policies: std::collections::HashMap<&'static str, SharePolicy>,
    categories: std::collections::HashMap<&'static str, &'static str>,
}

impl World {
    fn site(&self, id: &str) -> (&'static str, &'static str) {
        let s = self.sites.iter().find(|s| s.0 == id).unwrap();
        (s.1, s.2)
    }

    /// The inventory as the hub must report it, computed row by row in
    /// Rust (what `inventory` did before it was one SQL statement).
    fn inventory(&self, f: &InventoryFilter) -> Vec<InventoryRow> {
        use rust_decimal::Decimal;
        use std::collections::BTreeMap;
        let wanted = |want: &Option<String>, have: &str| want.as_deref().is_none_or(|w| w == have);
        let key = |site: &str, loc: &str, sku: &str, lot: &str, kind: &str, region: &str| {
            f.keys()
                .into_iter()
                .map(|by| match by {
                    GroupBy::Sku => sku.to_owned(),
                    GroupBy::Site => site.to_owned(),
                    GroupBy::Location => format!("{site}/{loc}"),
                    GroupBy::Region => region.to_owned(),
                    GroupBy::Kind => kind.to_owned(),
                    GroupBy::Lot => lot.to_owned(),
                })
                .collect::<Vec<String>>()
        };
        // (on hand, in transit, not updated, unvalued, undeliverable), units
        let mut groups: BTreeMap<Vec<String>, [i64; 5]> = BTreeMap::new();
        for &(site, loc, sku, lot, units) in &self.held {
            let (kind, region) = self.site(site);
            if !(wanted(&f.sku, sku)
                && wanted(&f.site, site)
                && wanted(&f.region, region)
                && wanted(&f.kind, kind))
            {
                continue;
            }
            let g = groups
                .entry(key(site, loc, sku, lot, kind, region))
                .or_default();
            g[0] += units;
            if kind == "dealer" {
                let p = self.policies.get(site).cloned().unwrap_or_default();
                let category = self.categories.get(sku).copied().unwrap_or("");
                if !p.shares_stock(sku, category) {
                    g[2] += units;
                }
                if !p.costs_and_prices {
                    g[3] += units;
                }
            }
        }
        for &(from, from_loc, to, to_loc, sku, lot, units, deliverable) in &self.open {
            let (site, loc) = if deliverable {
                (to, to_loc)
            } else {
                (from, from_loc)
            };
            let (kind, region) = self.site(site);
            if !(wanted(&f.sku, sku)
                && wanted(&f.site, site)
                && wanted(&f.region, region)
                && wanted(&f.kind, kind))
            {
                continue;
            }
            let g = groups
                .entry(key(site, loc, sku, lot, kind, region))
                .or_default();
            g[1] += units;
            if !deliverable {
                g[4] += units;
            }
        }
        let q = |units: i64| Quantity::from_decimal(Decimal::from(units));
        groups
            .into_iter()
            .map(|(keys, g)| InventoryRow {
                keys,
                on_hand: q(g[0]),
                in_transit: q(g[1]),
                value: (Decimal::from(g[0]) * Decimal::new(125, 1)).normalize(),
                not_updated: q(g[2]),
                unvalued: q(g[3]),
                undeliverable: q(g[4]),
            })
            .collect()
    }
}

fn world() -> World {
    World {
        sites: vec![
            ("WH01", "hq", "north"),
            ("BJ01", "branch", "north"),
            ("SH01", "branch", "east"),
            ("DA01", "dealer", "south"),
            ("DN01", "dealer", "east"),
            ("DS01", "dealer", "north"),
            ("DC01", "dealer", "south"),
            ("DX01", "dealer", "south"),
        ],
        held: vec![
            ("WH01", "main", "茶-1", "L1", 95),
            ("WH01", "main", "茶-1", "L2", 50),
            ("WH01", "main", "MUG-1", "", 19),
            ("WH01", "back", "RICE-1", "", 18),
            ("WH01", "back", "OWN-1", "", 5),
            ("BJ01", "main", "茶-2", "", 10),
            ("BJ01", "main", "NOCAT-1", "", 7),
            ("SH01", "main", "MUG-2", "", 9),
            ("SH01", "back", "茶-1", "L1", 3),
            ("DA01", "main", "茶-1", "L1", 4),
            ("DA01", "main", "MUG-2", "", 6),
            ("DN01", "main", "茶-2", "", 8),
            ("DN01", "back", "MUG-1", "", 2),
            ("DS01", "main", "茶-1", "L1", 5),
            ("DS01", "main", "茶-1", "L2", 1),
            ("DS01", "main", "茶-2", "", 6),
            ("DS01", "main", "MUG-1", "", 7),
            ("DS01", "main", "MUG-2", "", 8),
            ("DS01", "main", "RICE-1", "", 9),
            ("DS01", "back", "NOCAT-1", "", 10),
            ("DS01", "back", "茶-2", "", 11),
            ("DC01", "main", "MUG-2", "", 3),
            ("DC01", "main", "RICE-1", "", 4),
            ("DC01", "main", "茶-2", "", 5),
            ("DX01", "main", "茶-2", "", 12),
            ("DX01", "back", "MUG-1", "", 1),
        ],
        open: vec![
            ("WH01", "main", "DS01", "main", "MUG-1", "", 10, true),
            ("WH01", "main", "ZZ01", "main", "茶-1", "L1", 5, false),
            ("WH01", "back", "BJ01", "main", "RICE-1", "", 2, true),
            // BJ01 reports its locations, and this is not one of them.
            ("WH01", "main", "BJ01", "nowhere", "MUG-1", "", 1, false),
        ],
        policies: [
            ("DA01", policy(StockScope::All, true)),
            ("DN01", policy(StockScope::Nothing, false)),
            ("DS01", policy(selected(&["tea"], &["MUG-1"]), false)),
            ("DC01", policy(selected(&["cup", "oil"], &["RICE-1"]), true)),
        ]
        .into(),
        categories: [
            ("茶-1", "tea"),
            ("茶-2", "tea"),
            ("MUG-1", "cup"),
            ("MUG-2", "cup"),
            ("RICE-1", "rice"),
            ("NOCAT-1", ""),
        ]
        .into(),
    }
}

/// Builds `world()` in the store through enrollment, HQ's catalog and
/// policy edits and ingest, ending with each dealer's final policy.
fn build(store: &mut Store, w: &World) {
    let mut items = Vec::new();
    for (sku, category) in &w.categories {
        let item = CatalogItem::from_text(|c| match c {
            "sku" => sku.to_string(),
            "name" => format!("{sku} 品名"),
            "category" => category.to_string(),
            "lot_tracked" => (*sku == "茶-1").to_string(),
            _ => String::new(),
        })
        .unwrap();
        items.push(item);
    }
    store
        .write_catalog(&items, &hub_actor(b"conformance"), now())
        .unwrap();
    for &(id, kind, region) in &w.sites {
        // DX01 reports as a branch first, then becomes a dealer that has
        // set no policy.
        let first = if id == "DX01" { "branch" } else { kind };
        enroll_in(store, id, SiteKind::parse(first).unwrap(), region);
        if first == "dealer" {
            // Everything shared while the dealer reports its stock.
            set_policy(store, id, &policy(StockScope::All, true));
        }
    }
    for &(id, ..) in &w.sites {
        let mut m: Vec<WireMovement> = Vec::new();
        for &(site, loc, sku, lot, units) in &w.held {
            if site != id {
                continue;
            }
            // What left by transfer was received first.
            let sent: i64 = w
                .open
                .iter()
                .filter(|t| (t.0, t.1, t.4, t.5) == (site, loc, sku, lot))
                .map(|t| t.6)
                .sum();
            m.push(WireMovement {
                location: format!("{site}/{loc}"),
                sku: sku.into(),
                lot: lot.into(),
                counterparty: None,
                ..movement(
                    site,
                    m.len() as u64 + 1,
                    MovementKind::Receipt,
                    (units + sent) * 1_000_000,
                )
            });
        }
        for (n, t) in w.open.iter().filter(|t| t.0 == id).enumerate() {
            m.push(WireMovement {
                location: format!("{}/{}", t.0, t.1),
                sku: t.4.into(),
                lot: t.5.into(),
                counterparty: Some(format!("{}/{}", t.2, t.3)),
                transfer_id: Some(format!("T-{id}-{}", n + 1)),
                ..movement(
                    id,
                    m.len() as u64 + 1,
                    MovementKind::TransferOut,
                    -t.6 * 1_000_000,
                )
            });
        }
        // Two syncs: the second adds balances and changes some of the
        // first's (the transfers out), as the balance totals must follow.
        let later = m.split_off(m.len() - w.open.iter().filter(|t| t.0 == id).count() - 1);
        let site = SiteId::parse(id).unwrap();
        let next = m.len() as u64 + 1;
        let mut first = batch(1, m);
        if id == "BJ01" {
            first.locations = ["main", "back"]
                .map(|l| WireLocation {
                    id: l.into(),
                    name: l.into(),
                })
                .to_vec();
        }
        for b in [first, batch(next, later)] {
            let (r, _) = store.ingest(&site, &b, now()).unwrap();
            assert!(r.quarantined.is_empty(), "{id}: {:?}", r.quarantined);
        }
    }
    enroll_in(store, "DX01", SiteKind::Dealer, "south");
    for (site, p) in &w.policies {
        set_policy(store, site, p);
    }
}

/// Every grouping with every kind of filter: the store's inventory (grouped
/// and summed in SQL, dealer policies too) is the row-by-row model's, on
/// both engines; and so it stays after the policy rows are rebuilt from the
/// policies' JSON, as the migration that made them does.
fn inventory_is_grouped_in_sql_with_each_dealer_policy(engine: Engine) {
    let db = fresh(engine, "inventory");
    let mut store = Store::open(&db.target, false).unwrap();
    let mut w = world();
    build(&mut store, &w);

    let f = |by: Vec<GroupBy>,
             sku: Option<&str>,
             site: Option<&str>,
             region: Option<&str>,
             kind: Option<&str>| InventoryFilter {
        sku: sku.map(str::to_owned),
        site: site.map(str::to_owned),
        region: region.map(str::to_owned),
        kind: kind.map(str::to_owned),
        by,
    };
    let mut filters = Vec::new();
    for by in [
        vec![GroupBy::Sku],
        vec![GroupBy::Site],
        vec![GroupBy::Location],
        vec![GroupBy::Region],
        vec![GroupBy::Kind],
        vec![GroupBy::Site, GroupBy::Sku],
        vec![GroupBy::Sku, GroupBy::Region],
        vec![GroupBy::Kind, GroupBy::Location],
        vec![GroupBy::Region, GroupBy::Kind, GroupBy::Sku],
        vec![GroupBy::Lot],
        vec![GroupBy::Sku, GroupBy::Lot],
        vec![GroupBy::Location, GroupBy::Lot],
        vec![GroupBy::Kind, GroupBy::Lot],
    ] {
        filters.extend([
            f(by.clone(), None, None, None, None),
            f(by.clone(), Some("茶-1"), None, None, None),
            f(by.clone(), Some("MUG-1"), None, None, None),
            f(by.clone(), None, Some("DS01"), None, None),
            f(by.clone(), None, Some("DX01"), None, None),
            f(by.clone(), None, None, Some("north"), None),
            f(by.clone(), None, None, None, Some("dealer")),
            f(by.clone(), None, None, Some("south"), Some("dealer")),
            f(by.clone(), Some("茶-2"), None, None, Some("dealer")),
            f(
                by,
                Some("RICE-1"),
                Some("BJ01"),
                Some("north"),
                Some("branch"),
            ),
        ]);
    }
    // `values`: compare the values too (the model values every unit at
    // 12.5, true until a dealer's own receipts at cost 0 move its average).
    let check = |store: &Store, w: &World, values: bool| {
        for f in &filters {
            let got = store.inventory(f).unwrap();
            let want = w.inventory(f);
            // As the API shows them: decimals compared as text.
            let shown = |rows: Vec<InventoryRow>| {
                let views: Vec<jxc_hub::http::views::InventoryView> = rows
                    .into_iter()
                    .map(|r| jxc_hub::http::views::InventoryView::new(&f.keys(), r))
                    .collect();
                let mut v = serde_json::to_value(views).unwrap();
                if !values {
                    for row in v.as_array_mut().unwrap() {
                        row.as_object_mut().unwrap().remove("value");
                    }
                }
                v
            };
            assert_eq!(shown(got), shown(want), "{f:?}");
        }
    };
    check(&store, &w, true);
    // The transfer list tells the same receivers apart as the inventory.
    let listed = store.transfers(true).unwrap();
    for t in &w.open {
        let to = format!("{}/{}", t.2, t.3);
        let row = listed.iter().find(|r| r.to == to && r.sku == t.4).unwrap();
        let want = if t.7 { "in_transit" } else { "undeliverable" };
        assert_eq!(row.status, want, "{to}");
    }

    // A few figures by hand, so the model is not only checked against itself.
    let by_kind = store
        .inventory(&f(vec![GroupBy::Kind], None, None, None, None))
        .unwrap();
    let dealer = by_kind.iter().find(|r| r.keys == ["dealer"]).unwrap();
    // Held by dealers: DA01 10, DN01 10, DS01 57 (+10 on the way), DC01 12, DX01 13.
    assert_eq!(dealer.on_hand.to_string(), "102");
    assert_eq!(dealer.in_transit.to_string(), "10");
    // Not updated: DN01 all 10; DS01 its MUG-2 8, RICE-1 9 and NOCAT-1 10;
    // DC01 its 茶-2 5; DX01 (no policy) all 13.
    assert_eq!(dealer.not_updated.to_string(), "55");
    // Unvalued: DN01 10, DS01 57, DX01 13.
    assert_eq!(dealer.unvalued.to_string(), "80");
    assert_eq!(dealer.value.to_string(), "1275");
    // HQ holds 187 and counts the 6 it sent to ZZ01 and to BJ01/nowhere.
    let hq = by_kind.iter().find(|r| r.keys == ["hq"]).unwrap();
    assert_eq!(
        (
            hq.on_hand.to_string(),
            hq.in_transit.to_string(),
            hq.undeliverable.to_string()
        ),
        ("187".into(), "6".into(), "6".into())
    );

    // The policy rows rebuilt from share_policy's JSON and the balance
    // totals from the balances, as migrations 5 and 6 do for a hub that had
    // both before them (7 makes the sales flow again, 12 the selective
    // dealers' shared totals).
    drop(store);
    let undo = match engine {
        Engine::Sqlite => {
            "DROP TRIGGER balance_total_insert; DROP TRIGGER balance_total_update;
                           DROP TRIGGER balance_total_delete;
                           DROP TRIGGER balance_total_shared_insert;
                           DROP TRIGGER balance_total_shared_update;
                           DROP TRIGGER balance_total_shared_delete;"
        }
        Engine::Postgres => {
            "DROP TRIGGER balance_total_insert ON balance;
                             DROP TRIGGER balance_total_update ON balance;
                             DROP TRIGGER balance_total_delete ON balance;
                             DROP FUNCTION balance_total_apply;
                             DROP TRIGGER balance_total_shared_insert ON balance;
                             DROP TRIGGER balance_total_shared_update ON balance;
                             DROP TRIGGER balance_total_shared_delete ON balance;
                             DROP FUNCTION balance_total_shared_apply;
                             DROP FUNCTION balance_selected;"
        }
    }
    .to_owned()
        + "DROP TABLE balance_total; DROP TABLE share_scope; DROP TABLE share_scope_item;
           DROP INDEX balance_by_sku; DROP INDEX transfer_open;
           DROP TABLE sales_day; DROP TABLE sales_site_day;
           DELETE FROM counter WHERE name = 'sales_flow_backfilled';"
        // Migrations 8 (the stored policy) and 9 (alerts) are made again too.
        + "DROP TABLE policy_line; DROP TABLE alert_outbox; DROP TABLE alert; DROP TABLE alert_rule;
           DROP TABLE alert_cursor;"
        // Migration 10 (dashboard sign-in): its table; PostgreSQL's added
        // columns below (SQLite's rebuilds the table from the old columns).
        + "DROP TABLE hq_session;"
        // Migration 11 (planners' actions): its table (the alert columns
        // went with the alert table).
        + "DROP TABLE plan_decision;";
    let undo = undo.as_str();
    match &db.target {
        Target::Sqlite(dir) => {
            let c = rusqlite::Connection::open(dir.join("hub.db")).unwrap();
            c.execute_batch(undo).unwrap();
            c.pragma_update(None, "user_version", 4).unwrap();
        }
        Target::Postgres(url) => {
            let mut c = ::postgres::Client::connect(url, ::postgres::NoTls).unwrap();
            c.batch_execute(undo).unwrap();
            c.batch_execute("ALTER TABLE hq_user DROP COLUMN password_hash, DROP COLUMN lang")
                .unwrap();
            c.batch_execute("UPDATE jxc_schema SET version = 4")
                .unwrap();
        }
    }
    let mut store = Store::open(&db.target, false).unwrap();
    check(&store, &w, true);

    // What a selective dealer shares follows its writes after the policy
    // (the balance triggers keep `balance_total.shared`) and the catalog's
    // categories when they change (recomputed): DS01 shares tea and MUG-1.
    let next = w.held.iter().filter(|h| h.0 == "DS01").count() as u64 + 1;
    let writes = [
        ("main", "茶-2", "", 4),    // selected by its category
        ("main", "MUG-1", "", 3),   // selected by SKU
        ("back", "MUG-1", "", 2),   // selected, a new line
        ("main", "茶-1", "L1", -2), // returned to the supplier
        ("back", "茶-2", "", -11),  // a selected line emptied
    ];
    let m: Vec<WireMovement> = writes
        .iter()
        .enumerate()
        .map(|(i, &(loc, sku, lot, units))| WireMovement {
            location: format!("DS01/{loc}"),
            sku: sku.into(),
            lot: lot.into(),
            counterparty: None,
            // DS01 shares no costs: its agent sends none.
            unit_cost: "0".into(),
            unit_price: None,
            ..movement(
                "DS01",
                next + i as u64,
                if units > 0 {
                    MovementKind::Receipt
                } else {
                    MovementKind::SupplierReturn
                },
                units * 1_000_000,
            )
        })
        .collect();
    let (r, _) = store
        .ingest(&SiteId::parse("DS01").unwrap(), &batch(next, m), now())
        .unwrap();
    assert!(r.quarantined.is_empty(), "{:?}", r.quarantined);
    for &(loc, sku, lot, units) in &writes {
        w.held.push(("DS01", loc, sku, lot, units));
    }
    check(&store, &w, false);
    // MUG-2 moves from cup to tea: DS01 now shares it, DC01 no longer does.
    let mut items = Vec::new();
    w.categories.insert("MUG-2", "tea");
    for (sku, category) in &w.categories {
        items.push(
            CatalogItem::from_text(|c| match c {
                "sku" => sku.to_string(),
                "name" => format!("{sku} 品名"),
                "category" => category.to_string(),
                "lot_tracked" => (*sku == "茶-1").to_string(),
                _ => String::new(),
            })
            .unwrap(),
        );
    }
    store
        .write_catalog(&items, &hub_actor(b"conformance"), now())
        .unwrap();
    check(&store, &w, false);
}

trait WithCursor {
    fn with_cursor(self, cursor: u64) -> Self;
}

impl WithCursor for SyncRequest {
    fn with_cursor(mut self, cursor: u64) -> Self {
        self.transfers_cursor = cursor;
        self
    }
}

macro_rules! conformance {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $( #[test] fn $name() { super::$name(super::Engine::Sqlite) } )*
        }
        mod postgres {
            $( #[test] fn $name() { super::$name(super::Engine::Postgres) } )*
        }
    };
}

conformance!(
    schema_is_made_once_and_a_newer_one_is_refused,
    an_empty_database_is_not_a_hub,
    a_token_is_spent_once_and_serials_come_from_the_database,
    revocation_and_replaced_certificates_are_refused,
    users_are_added_once_listed_and_removed,
    ingest_is_gapless_idempotent_and_quarantines_without_blocking,
    transfers_move_between_sites_with_cursors_in_commit_order,
    secrets_are_kept_in_the_database,
    two_writers_on_one_site_stay_gapless_and_exactly_once,
    a_token_redeemed_twice_at_once_enrolls_once,
    documents_are_stored_materialized_and_offered_alike,
    inventory_is_grouped_in_sql_with_each_dealer_policy,
);
