//! The sales flow the hub keeps in the ingest transaction always equals a
//! recomputation from the movements it holds: after random batches, replays,
//! conflicting versions and refused records (a proptest on SQLite), on both
//! engines for a fixed history, and after the backfill that sums what a hub
//! held before it kept the flow.

use chrono::{Duration, FixedOffset, TimeZone, Utc};
use jxc_hub::store::{NewSite, SalesFilter, SalesKey, SalesRow, Store, Target};
use jxc_shared::protocol::{SyncRequest, WireMovement};
use jxc_shared::{Money, MovementKind, Quantity, SiteId, SiteKind};
use proptest::prelude::*;
use rust_decimal::Decimal;
use std::collections::BTreeMap;

fn now() -> chrono::DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 12, 1, 8, 0, 0).unwrap()
}

fn enroll(store: &mut Store, id: &str, kind: SiteKind, region: &str) {
    let token = format!("t-{id}");
    let site = NewSite {
        id: SiteId::parse(id).unwrap(),
        kind,
        name: format!("{id} 门店"),
        region: region.into(),
    };
    store
        .add_token(&token, "secret", &site, Duration::hours(1), now())
        .unwrap();
    store
        .redeem_token(&token, "secret", now(), |_, _| Ok(()))
        .unwrap();
}

/// One record as an agent sends it; `local` is the business time in the
/// site's `offset_h` zone.
#[allow(clippy::too_many_arguments)]
fn record(
    site: &str,
    seq: u64,
    kind: MovementKind,
    qty_micro: i64,
    price: Option<&str>,
    customer: Option<&str>,
    offset_h: i32,
    local: (u32, u32),
) -> WireMovement {
    let t = FixedOffset::east_opt(offset_h * 3600)
        .unwrap()
        .with_ymd_and_hms(2026, 11, local.0, local.1, 30, 0)
        .unwrap();
    WireMovement {
        seq,
        kind,
        location: format!("{site}/main"),
        sku: if seq.is_multiple_of(3) {
            "茶-1"
        } else {
            "MUG,\"2\""
        }
        .into(),
        lot: String::new(),
        qty_micro,
        unit_cost: "12.345".into(),
        unit_price: price.map(str::to_owned),
        counterparty: customer.map(str::to_owned),
        reference: None,
        reason: None,
        transfer_id: None,
        occurred_ms: t.timestamp_millis(),
        offset_min: (offset_h * 60) as i16,
        recorded_ms: t.timestamp_millis() + 1_000,
    }
}

fn batch(from_seq: u64, movements: Vec<WireMovement>) -> SyncRequest {
    SyncRequest {
        from_seq,
        agent_last_seq: movements.last().map_or(from_seq - 1, |m| m.seq),
        movements,
        transfers_cursor: 0,
        locations: Vec::new(),
        agent_time_ms: now().timestamp_millis(),
    }
}

/// The finest grouping the hub keeps.
fn finest() -> SalesFilter {
    SalesFilter {
        by: vec![
            SalesKey::Site,
            SalesKey::Location,
            SalesKey::Sku,
            SalesKey::Day,
            SalesKey::Customer,
        ],
        ..Default::default()
    }
}

/// Per (site, location, sku, day, customer): sold, returned, net revenue,
/// net cost, unpriced net qty, as decimal text, from the rows of a report.
type Expected = BTreeMap<Vec<String>, [Decimal; 5]>;

fn of_report(rows: Vec<SalesRow>) -> Expected {
    rows.into_iter()
        .map(|r| {
            let money = |v: Option<Decimal>| v.unwrap_or(Decimal::MIN);
            let v = [
                r.qty().decimal(),
                r.returns().decimal(),
                money(r.revenue()),
                money(r.cogs()),
                r.unpriced_qty().decimal(),
            ];
            (r.keys, v.map(|d| d.normalize()))
        })
        .collect()
}

/// The same recomputed from every movement the hub holds, row by row, with
/// decimal arithmetic: what the aggregate must equal.
fn recomputed(store: &Store) -> Expected {
    let mut sums: BTreeMap<Vec<String>, ([Decimal; 5], bool)> = BTreeMap::new();
    let mut after = (String::new(), 0u64);
    loop {
        let page = store
            .movements(None, &Default::default(), (&after.0, after.1), 1000)
            .unwrap();
        let Some(last) = page.last() else { break };
        after = (last.site.clone(), last.seq);
        for m in &page {
            let sign = match m.kind.as_str() {
                "sale" => -Decimal::ONE,
                "customer_return" => Decimal::ONE,
                _ => continue,
            };
            let qty = m.qty.decimal() * sign; // positive
            let key = vec![
                m.site.clone(),
                format!("{}/{}", m.site, m.location),
                m.sku.clone(),
                m.occurred_at[..10].to_owned(),
                m.counterparty.clone().unwrap_or_default(),
            ];
            let (s, priced) = sums.entry(key).or_insert(([Decimal::ZERO; 5], false));
            let sold = sign < Decimal::ZERO;
            s[if sold { 0 } else { 1 }] += qty;
            match &m.unit_price {
                Some(p) => {
                    *priced = true;
                    let p = Money::from_stored(p).unwrap();
                    let c = Money::from_stored(&m.unit_cost).unwrap();
                    let q = Quantity::from_decimal(qty);
                    let dir = if sold { Decimal::ONE } else { -Decimal::ONE };
                    s[2] += Money::total(q, p) * dir;
                    s[3] += Money::total(q, c) * dir;
                }
                None => s[4] += if sold { qty } else { -qty },
            }
        }
    }
    sums.into_iter()
        .map(|(k, (mut v, priced))| {
            if !priced {
                v[2] = Decimal::MIN;
                v[3] = Decimal::MIN;
            }
            (k, v.map(|d| d.normalize()))
        })
        .collect()
}

/// Empties the aggregates and marks them not yet summed, as a database
/// migrated from before the sales flow is; the next open sums them again.
fn forget_flow(target: &Target) {
    let undo = "DELETE FROM sales_day; DELETE FROM sales_site_day;
                UPDATE counter SET value = 0 WHERE name = 'sales_flow_backfilled';";
    match target {
        Target::Sqlite(dir) => {
            let c = rusqlite::Connection::open(dir.join("hub.db")).unwrap();
            c.execute_batch(undo).unwrap();
        }
        Target::Postgres(url) => {
            let mut c = ::postgres::Client::connect(url, ::postgres::NoTls).unwrap();
            c.batch_execute(undo).unwrap();
        }
    }
}

/// One generated record: kind (0 sale, 1 return, 2 receipt, 3 a record the
/// hub refuses), qty in units × 0.25, priced, customer, zone, day, hour.
type Gen = (u8, i64, bool, u8, bool, u32, u32);

fn to_record(site: &str, seq: u64, g: &Gen) -> WireMovement {
    let (kind, quarters, priced, customer, west, day, hour) = *g;
    let customers = [None, Some("张三, \"Ltd\""), Some("李四")];
    let price = priced.then_some("19.99");
    let offset = if west { -5 } else { 8 };
    let qty = quarters * 250_000;
    let mut m = match kind {
        0 => record(
            site,
            seq,
            MovementKind::Sale,
            -qty,
            price,
            customers[customer as usize % 3],
            offset,
            (day, hour),
        ),
        1 => record(
            site,
            seq,
            MovementKind::CustomerReturn,
            qty,
            price,
            customers[customer as usize % 3],
            offset,
            (day, hour),
        ),
        _ => record(
            site,
            seq,
            MovementKind::Receipt,
            qty,
            None,
            None,
            offset,
            (day, hour),
        ),
    };
    if kind == 3 {
        // Another site's location: refused and quarantined, the hwm moves on.
        m.location = "ZZ99/main".into();
    }
    m
}

fn run_history(store: &mut Store, site: &str, gens: &[Gen], cuts: &[usize], replays: &[bool]) {
    let id = SiteId::parse(site).unwrap();
    let records: Vec<WireMovement> = gens
        .iter()
        .enumerate()
        .map(|(i, g)| to_record(site, i as u64 + 1, g))
        .collect();
    let mut start = 0;
    let mut sent: Vec<SyncRequest> = Vec::new();
    for (n, &cut) in cuts.iter().chain([&records.len()]).enumerate() {
        let end = cut.clamp(start, records.len());
        if end == start {
            continue;
        }
        let b = batch(start as u64 + 1, records[start..end].to_vec());
        store.ingest(&id, &b, now()).unwrap();
        if replays.get(n).copied().unwrap_or(false) {
            // The answer was lost: the agent sends the same batch again.
            store.ingest(&id, &b, now()).unwrap();
        }
        sent.push(b);
        start = end;
    }
    if let Some(first) = sent.first() {
        // A second version of held seqs: conflicts, quarantined; the first stays.
        let mut changed = first.clone();
        for m in &mut changed.movements {
            m.qty_micro += 1;
        }
        store.ingest(&id, &changed, now()).unwrap();
    }
}

fn gen_record() -> impl Strategy<Value = Gen> {
    (
        0u8..4,
        1i64..40,
        any::<bool>(),
        0u8..3,
        any::<bool>(),
        1u32..29,
        0u32..24,
    )
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]

    #[test]
    fn the_daily_aggregate_equals_a_recomputation_from_the_movements(
        a in proptest::collection::vec(gen_record(), 1..60),
        b in proptest::collection::vec(gen_record(), 0..30),
        cuts in proptest::collection::vec(0usize..60, 0..5),
        replays in proptest::collection::vec(any::<bool>(), 0..6),
    ) {
        let dir = tempfile::tempdir().unwrap();
        let target = Target::Sqlite(dir.path().to_path_buf());
        let mut store = Store::open(&target, true).unwrap();
        enroll(&mut store, "BJ01", SiteKind::Branch, "north");
        enroll(&mut store, "SH01", SiteKind::Branch, "east");
        let mut cuts = cuts;
        cuts.sort_unstable();
        run_history(&mut store, "BJ01", &a, &cuts, &replays);
        run_history(&mut store, "SH01", &b, &[], &[]);
        let expected = recomputed(&store);
        prop_assert_eq!(of_report(store.sales(&finest()).unwrap()), expected.clone());
        drop(store);
        forget_flow(&target);
        let store = Store::open(&target, false).unwrap();
        prop_assert_eq!(of_report(store.sales(&finest()).unwrap()), expected);
    }
}

/// A fixed history on each engine: the finest report equals the
/// recomputation, coarser ones are its sums, the per-site-day table agrees
/// with the per-line one, and the backfill rebuilds the same.
fn flow_on(target: Target) {
    let mut store = Store::open(&target, false).unwrap();
    enroll(&mut store, "BJ01", SiteKind::Branch, "north");
    enroll(&mut store, "SH01", SiteKind::Branch, "east");
    let gens: Vec<Gen> = (0..90u32)
        .map(|i| {
            (
                (i % 4) as u8,
                i64::from(i % 7 + 1),
                i % 5 != 0,
                (i % 3) as u8,
                i % 2 == 0,
                1 + i % 28,
                (i * 7) % 24,
            )
        })
        .collect();
    run_history(
        &mut store,
        "BJ01",
        &gens,
        &[10, 40, 41],
        &[true, false, true],
    );
    run_history(&mut store, "SH01", &gens[..30], &[], &[]);
    let expected = recomputed(&store);
    assert!(!expected.is_empty());
    assert_eq!(of_report(store.sales(&finest()).unwrap()), expected);

    // Per site from `sales_site_day`, and per site from `sales_day` (a SKU
    // filter forces the finer table): the same sums.
    let sums = |f: SalesFilter| -> BTreeMap<Vec<String>, [i64; 8]> {
        store
            .sales(&f)
            .unwrap()
            .into_iter()
            .map(|r| {
                let f = r.flow;
                let v = [
                    f.sold,
                    f.returned,
                    f.revenue,
                    f.refunds,
                    f.cogs,
                    f.return_cogs,
                    f.unpriced_sold,
                    f.unpriced_returned,
                ];
                (r.keys, v)
            })
            .collect()
    };
    let by = vec![SalesKey::Site, SalesKey::Month];
    let coarse = sums(SalesFilter {
        by: by.clone(),
        ..Default::default()
    });
    let mut fine: BTreeMap<Vec<String>, [i64; 8]> = BTreeMap::new();
    for sku in ["茶-1", "MUG,\"2\""] {
        for (k, v) in sums(SalesFilter {
            by: by.clone(),
            sku: Some(sku.into()),
            ..Default::default()
        }) {
            let e = fine.entry(k).or_default();
            for (e, v) in e.iter_mut().zip(v) {
                *e += v;
            }
        }
    }
    assert_eq!(coarse, fine);
    assert_eq!(coarse.len(), 2, "{coarse:?}");

    drop(store);
    forget_flow(&target);
    let store = Store::open(&target, false).unwrap();
    assert_eq!(of_report(store.sales(&finest()).unwrap()), expected);
}

#[test]
fn sqlite_keeps_the_flow_of_a_fixed_history() {
    let dir = tempfile::tempdir().unwrap();
    let target = Target::Sqlite(dir.path().to_path_buf());
    Store::open(&target, true).unwrap();
    flow_on(target);
}

#[test]
fn postgres_keeps_the_flow_of_a_fixed_history() {
    let url = jxc_testkit::PgCluster::shared().create_database(&jxc_testkit::unique_name("sales"));
    let target = Target::Postgres(url);
    Store::open(&target, true).unwrap();
    flow_on(target);
}
