//! `jxc-hub demo`: a hub and a handful of sites on this machine, with a
//! month of seeded, realistic activity, synced over real mutual TLS. The
//! sites run the real agent code (the `jxc-agent` library: its ledger, its
//! enrollment and its sync client); only the keyboard is simulated.

use crate::cli;
use crate::config::HubConfig;
use crate::error::{HubError, Result};
use crate::store::{GroupBy, InventoryFilter, NewSite, Store};
use chrono::{DateTime, Datelike, Duration as ChronoDuration, FixedOffset, TimeZone, Utc};
use jxc_agent::store::{Location, SendRequest, SiteInfo, StockFilter, Store as Ledger};
use jxc_agent::sync::{self, HubClient, SharedStore, with_store};
use jxc_shared::docs::{CatalogItem, DocId, SellThrough, SharePolicy, StockScope, hub_actor};
use jxc_shared::movement::DraftInput;
use jxc_shared::rng::Rng;
use jxc_shared::text::table;
use jxc_shared::{
    GlobalLocation, LocationId, Money, MovementDraft, MovementKind, Product, SiteId, SiteKind,
};
use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

pub struct DemoOptions {
    pub agents: usize,
    pub days: u32,
    pub seed: u64,
    /// Keep serving after the simulation, until SIGINT or SIGTERM.
    pub serve: bool,
}

struct DemoSite {
    id: SiteId,
    kind: SiteKind,
    location: LocationId,
    store: SharedStore,
    dir: PathBuf,
    hub: Option<HubClient>,
    /// A dealer's sharing policy (branches and HQ share everything).
    policy: SharePolicy,
}

/// Dealers take turns between two policies a real dealer might choose.
fn dealer_policy(n: usize) -> SharePolicy {
    if n % 2 == 1 {
        SharePolicy {
            stock: StockScope::All,
            sell_through: SellThrough::DailyTotals,
            costs_and_prices: false,
            from: None,
        }
    } else {
        SharePolicy {
            stock: StockScope::Selected {
                categories: ["tea", "rice", "oil", "snack"].map(str::to_owned).into(),
                skus: Default::default(),
            },
            sell_through: SellThrough::Pseudonym,
            costs_and_prices: true,
            from: None,
        }
    }
}

/// HQ's catalog entry for a demo product.
fn catalog_item(p: &Product) -> CatalogItem {
    let cost = Money::from_stored(&unit_cost(p))
        .unwrap_or(Money::ZERO)
        .decimal();
    CatalogItem {
        product: p.clone(),
        gtin: String::new(),
        list_price: Some(Money::round_unit(cost * rust_decimal::Decimal::new(16, 1))),
        dealer_price: Some(Money::round_unit(cost * rust_decimal::Decimal::new(13, 1))),
        lead_time_days: Some(7),
        min_order_qty: None,
        pack_size: None,
    }
}

fn catalog() -> Vec<Product> {
    let mut out = Vec::new();
    let families: [(&str, &str, &str, u32, usize); 4] = [
        ("TEA", "龙井茶, 特级", "盒", 0, 40),
        ("RICE", "五常大米 \"稻花香\"", "kg", 3, 25),
        ("OIL", "花生油 5L", "桶", 0, 25),
        ("SNACK", "坚果礼盒", "盒", 0, 30),
    ];
    for (code, name, unit, decimals, n) in families {
        for i in 0..n {
            out.push(
                Product::new(
                    &format!("{code}-{i:03}"),
                    &format!("{name} #{i}"),
                    Some(unit),
                    Some(&code.to_lowercase()),
                    Some("jxc"),
                    decimals,
                    false,
                )
                .expect("demo products are valid"),
            );
        }
    }
    out.push(
        Product::new(
            "MED-001",
            "感冒灵颗粒, 10袋",
            Some("盒"),
            Some("med"),
            Some("jxc"),
            0,
            true,
        )
        .expect("valid"),
    );
    out
}

fn unit_cost(p: &Product) -> String {
    let n: u32 = p.sku.as_str().bytes().map(u32::from).sum();
    format!("{}.{}", 8 + n % 60, n % 10)
}

/// A shelf price above cost with a margin typical of the category (tea and
/// gift boxes carry much more than rice or oil), varied by a few percent as
/// promotions and rounding do, ending in .9 as Chinese retail prices do.
fn sale_price(p: &Product, rng: &mut Rng) -> String {
    use rust_decimal::Decimal;
    // Markup over cost in percent: (lowest, spread).
    let (low, spread) = match p.category.as_str() {
        "tea" => (145u64, 30u64),
        "snack" => (135, 25),
        "med" => (125, 10),
        "rice" => (115, 10),
        _ => (112, 10),
    };
    let cost = Money::from_stored(&unit_cost(p))
        .expect("demo costs are valid")
        .decimal();
    let markup = Decimal::from(low + rng.below(spread + 1)) / Decimal::from(100);
    let price = (cost * markup).floor() + Decimal::new(9, 1);
    price.to_string()
}

fn qty_text(p: &Product, rng: &mut Rng, lo: u64, hi: u64) -> String {
    let whole = lo + rng.below(hi - lo + 1);
    if p.decimals > 0 {
        format!("{whole}.{}", rng.below(10))
    } else {
        whole.to_string()
    }
}

fn to_err(e: jxc_agent::AgentError) -> HubError {
    HubError::Internal(format!("demo agent: {e}"))
}

/// Records one movement; a refusal for lack of stock is part of the
/// simulation (the shelf was empty), anything else is an error.
fn record(
    ledger: &mut Ledger,
    kind: MovementKind,
    loc: &LocationId,
    p: &Product,
    qty: &str,
    input: DraftInput<'_>,
    at: DateTime<FixedOffset>,
) -> Result<bool> {
    let d = MovementDraft::build(kind, loc.clone(), p, qty, &input, at)?;
    let mut tx = ledger.ledger(at).map_err(to_err)?;
    match tx.apply(d) {
        Ok(_) => {
            tx.commit().map_err(to_err)?;
            Ok(true)
        }
        Err(jxc_agent::AgentError::Refused(_)) => Ok(false),
        Err(e) => Err(to_err(e)),
    }
}

pub fn run(base: &Path, opts: &DemoOptions, out: &mut dyn Write) -> Result<()> {
    if !(1..=50).contains(&opts.agents) {
        return Err(HubError::Invalid(format!(
            "agents {} is not valid: use 1 to 50",
            opts.agents
        )));
    }
    if !(1..=366).contains(&opts.days) {
        return Err(HubError::Invalid(format!(
            "days {} is not valid: use 1 to 366",
            opts.days
        )));
    }
    let rt = tokio::runtime::Runtime::new().map_err(|e| HubError::Internal(e.to_string()))?;
    rt.block_on(run_async(base, opts, out))
}

async fn run_async(base: &Path, opts: &DemoOptions, out: &mut dyn Write) -> Result<()> {
    let say = |out: &mut dyn Write, s: String| {
        writeln!(out, "{s}").map_err(|e| HubError::io("<stdout>", e))
    };
    let hub_dir = base.join("hub");
    let home = crate::config::HubHome::sqlite(&hub_dir);
    let (_, admin) = cli::init(&home, &[])?;
    // The dashboard's sign-in: admin with a password made for this demo.
    let password = format!("demo-{:08x}", rand::random::<u32>());
    crate::store::Store::open(&home.db, false)?
        .set_password("admin", &crate::web::password::hash(&password)?)?;
    let config = HubConfig::default();
    let (addr_tx, addr_rx) = tokio::sync::oneshot::channel();
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let server_home = home.clone();
    let server = tokio::spawn(async move {
        cli::serve(
            &server_home,
            &config,
            "127.0.0.1:0".parse().expect("valid address"),
            |a| {
                let _ = addr_tx.send(a);
            },
            async move {
                let _ = stop_rx.await;
            },
        )
        .await
    });
    let addr = addr_rx
        .await
        .map_err(|_| HubError::Internal("the demo hub did not start".into()))?;
    let url = format!("https://{addr}");
    say(
        out,
        format!("hub listening on {url} (data in {})", hub_dir.display()),
    )?;

    let mut rng = Rng::new(opts.seed);
    let products = catalog();
    // HQ publishes its catalog; every site receives it on its first sync.
    let hq_actor = hub_actor(cli::load_ca(&home)?.cert_der());
    let items: Vec<CatalogItem> = products.iter().map(catalog_item).collect();
    Store::open(&home.db, false)?.write_catalog(&items, &hq_actor, Utc::now())?;
    let offset = FixedOffset::east_opt(8 * 3600).expect("valid offset");
    // The simulated month ends with yesterday, the last full business day,
    // so "last week" has activity; a dealer that shares daily totals sends
    // a day only once it is over, so ending today would leave its last
    // sales unshared and the convergence check could not hold. The agents
    // close a day in their own time zone (`jxc_agent::clock::zone`, UTC on a
    // server without one), which may still be on the day before +08:00's:
    // the month ends with yesterday in whichever of the two is behind.
    // Nothing is recorded later than now.
    let now = Utc::now().with_timezone(&offset);
    let agents_today = Utc::now()
        .with_timezone(&jxc_agent::clock::zone())
        .date_naive();
    let today = now.date_naive().min(agents_today);
    let first_day = today - ChronoDuration::days(i64::from(opts.days));
    let start = offset
        .from_local_datetime(&first_day.and_hms_opt(9, 0, 0).expect("valid time"))
        .single()
        .expect("valid date")
        .min(now);
    let regions = ["north", "east", "south", "west"];

    // Sites: an HQ warehouse, then branches and dealers in turn.
    let mut sites = Vec::new();
    for i in 0..opts.agents {
        let (id, kind, loc) = match i {
            0 => ("HQ01".to_owned(), SiteKind::Hq, "wh"),
            i if i % 2 == 1 => (format!("BR{:02}", i.div_ceil(2)), SiteKind::Branch, "main"),
            i => (format!("DL{:02}", i / 2), SiteKind::Dealer, "store"),
        };
        let id = SiteId::parse(&id)?;
        let dir = base.join("agents").join(id.as_str());
        let info = SiteInfo {
            id: id.clone(),
            kind,
            name: format!("{id} demo"),
            region: regions[i % 4].to_owned(),
        };
        let mut ledger =
            Ledger::init(&dir, info, Duration::from_secs(30), start).map_err(to_err)?;
        let location = LocationId::parse(loc)?;
        ledger
            .add_location(&Location {
                id: location.clone(),
                name: loc.to_owned(),
                allow_negative: false,
            })
            .map_err(to_err)?;
        ledger.upsert_products(&products).map_err(to_err)?;
        let token = cli::make_token(
            &home,
            NewSite {
                id: id.clone(),
                kind,
                name: format!("{id} demo"),
                region: regions[i % 4].to_owned(),
            },
            ChronoDuration::hours(1),
        )?;
        let policy = if kind == SiteKind::Dealer {
            let policy = dealer_policy(i / 2);
            ledger
                .edit_doc(&DocId::Policy(id.clone()), |doc| {
                    policy
                        .write(doc)
                        .map_err(|e| jxc_agent::AgentError::DataDir(e.to_string()))
                })
                .map_err(to_err)?;
            policy
        } else {
            SharePolicy::everything()
        };
        let store: SharedStore = Arc::new(Mutex::new(ledger));
        sync::enroll(&store, &dir, &url, &token.to_string())
            .await
            .map_err(to_err)?;
        let hub = Some(HubClient::from_data_dir(&dir, &url).map_err(to_err)?);
        sites.push(DemoSite {
            id,
            kind,
            location,
            store,
            dir,
            hub,
            policy,
        });
    }
    say(
        out,
        format!(
            "enrolled {} sites over mutual TLS; simulating {} days…",
            sites.len(),
            opts.days
        ),
    )?;

    // Opening stock everywhere, so there is something to sell on day one.
    for s in &sites {
        let mut ledger = s.store.lock().unwrap_or_else(|p| p.into_inner());
        let depth = if s.kind == SiteKind::Hq {
            (500, 2000)
        } else {
            (20, 80)
        };
        for p in &products {
            let cost = unit_cost(p);
            let lot = p.lot_tracked.then_some("L2026-09");
            let qty = qty_text(p, &mut rng, depth.0, depth.1);
            record(
                &mut ledger,
                MovementKind::Opening,
                &s.location,
                p,
                &qty,
                DraftInput {
                    unit_cost: Some(&cost),
                    lot,
                    ..Default::default()
                },
                start,
            )?;
        }
    }

    let offline = (sites.len() > 2).then_some(2);
    let (off_from, off_to) = (opts.days / 3, 2 * opts.days / 3);
    let counted_day = opts.days / 2;
    for day in 0..opts.days {
        let date = start + ChronoDuration::days(i64::from(day));
        let weekend = matches!(date.weekday(), chrono::Weekday::Sat | chrono::Weekday::Sun);
        for si in 0..sites.len() {
            let s = &sites[si];
            let mut ledger = s.store.lock().unwrap_or_else(|p| p.into_inner());
            let at = |minutes: u64| (date + ChronoDuration::minutes(minutes as i64)).min(now);
            if s.kind == SiteKind::Hq {
                if date.weekday() == chrono::Weekday::Mon {
                    for _ in 0..30 {
                        let p = &products[rng.skewed(products.len())];
                        let cost = unit_cost(p);
                        let lot = p.lot_tracked.then_some("L2026-10");
                        let qty = qty_text(p, &mut rng, 100, 400);
                        let input = DraftInput {
                            unit_cost: Some(&cost),
                            lot,
                            counterparty: Some("杭州供应商, 一厂"),
                            reference: Some("PO-W"),
                            ..Default::default()
                        };
                        record(
                            &mut ledger,
                            MovementKind::Receipt,
                            &s.location,
                            p,
                            &qty,
                            input,
                            at(30),
                        )?;
                    }
                }
                // Sell-in: HQ ships to the channel every working day.
                if !weekend && sites.len() > 1 {
                    for _ in 0..3 {
                        let to = &sites[1 + rng.below(sites.len() as u64 - 1) as usize];
                        let p = &products[rng.skewed(products.len())];
                        let to = GlobalLocation {
                            site: to.id.clone(),
                            location: to.location.clone(),
                        };
                        let qty = qty_text(p, &mut rng, 10, 40);
                        let lot = p.lot_tracked.then_some("L2026-09");
                        let req = SendRequest {
                            from: &s.location,
                            to: &to,
                            sku: &p.sku,
                            qty: &qty,
                            lot,
                            reference: Some("DN"),
                            at: at(120),
                            unlisted: false,
                        };
                        match ledger.transfer_send(&req, at(120)) {
                            Ok(_) | Err(jxc_agent::AgentError::Refused(_)) => {}
                            Err(e) => return Err(to_err(e)),
                        }
                    }
                }
            } else {
                // Goods that arrived are put away first thing.
                for t in ledger.incoming_transfers(true).map_err(to_err)? {
                    ledger
                        .transfer_receive(&t.id, None, at(10))
                        .map_err(to_err)?;
                }
                let sales = if weekend { 32 } else { 20 };
                for n in 0..sales {
                    let p = &products[rng.skewed(products.len())];
                    let price = sale_price(p, &mut rng);
                    let customer =
                        (rng.below(4) > 0).then(|| format!("客户 {}, {}", rng.below(300), s.id));
                    let lot = p.lot_tracked.then_some("L2026-09");
                    let qty = qty_text(p, &mut rng, 1, 3);
                    let input = DraftInput {
                        unit_price: Some(&price),
                        counterparty: customer.as_deref(),
                        lot,
                        reference: Some("POS"),
                        ..Default::default()
                    };
                    record(
                        &mut ledger,
                        MovementKind::Sale,
                        &s.location,
                        p,
                        &qty,
                        input,
                        at(60 + n * 15),
                    )?;
                }
                if rng.below(10) == 0 {
                    let p = &products[rng.skewed(products.len())];
                    let lot = p.lot_tracked.then_some("L2026-09");
                    record(
                        &mut ledger,
                        MovementKind::Scrap,
                        &s.location,
                        p,
                        "1",
                        DraftInput {
                            reason: Some("damaged in storage"),
                            lot,
                            ..Default::default()
                        },
                        at(600),
                    )?;
                }
                if day == counted_day && si == 1 {
                    let count = ledger.count_start(&s.location, at(700)).map_err(to_err)?;
                    let mut entries = Vec::new();
                    for p in products.iter().filter(|p| !p.lot_tracked).take(8) {
                        let book = ledger
                            .ledger(at(700))
                            .map_err(to_err)?
                            .on_hand(&s.location, &p.sku, &None)
                            .map_err(to_err)?;
                        let counted = (book.decimal() - rust_decimal::Decimal::from(rng.below(2)))
                            .max(rust_decimal::Decimal::ZERO);
                        entries.push(
                            ledger
                                .count_entry(p.sku.as_str(), &counted.to_string(), None)
                                .map_err(to_err)?,
                        );
                    }
                    ledger
                        .count_record(&count, &entries, at(720))
                        .map_err(to_err)?;
                    ledger.count_post(&count, at(730)).map_err(to_err)?;
                }
            }
        }
        // End of day: everyone syncs, except a site that is offline for a while.
        for (si, s) in sites.iter().enumerate() {
            if offline == Some(si) && (off_from..off_to).contains(&day) {
                continue;
            }
            if let Some(hub) = &s.hub {
                sync::sync_once(&s.store, hub, 5_000)
                    .await
                    .map_err(to_err)?;
            }
        }
    }
    // Everyone catches up; goods in the last transfers are received; sync again.
    for s in &sites {
        let hub = s.hub.as_ref().expect("every demo site enrolled");
        sync::sync_once(&s.store, hub, 5_000)
            .await
            .map_err(to_err)?;
    }
    for s in &sites {
        let hub = s.hub.as_ref().expect("every demo site enrolled");
        sync::sync_once(&s.store, hub, 5_000)
            .await
            .map_err(to_err)?;
    }

    // Prove it: every site's own stock equals what the hub holds for it.
    let hub_store = Store::open(&home.db, false)?;
    let mut mismatches = 0;
    for s in &sites {
        let id = s.id.clone();
        let stock = with_store(&s.store, |l| l.stock(&StockFilter::default()))
            .await
            .map_err(to_err)?;
        // A dealer is compared on what its policy shares.
        let shared = |sku: &str| {
            let category = products
                .iter()
                .find(|p| p.sku.as_str() == sku)
                .map(|p| p.category.as_str())
                .unwrap_or("");
            s.policy.shares_stock(sku, category)
        };
        let mine: BTreeMap<_, _> = stock
            .iter()
            .filter(|r| shared(r.sku.as_str()))
            .map(|r| {
                (
                    (
                        r.location.to_string(),
                        r.sku.to_string(),
                        r.lot.as_ref().map(|l| l.to_string()).unwrap_or_default(),
                    ),
                    r.qty,
                )
            })
            .collect();
        let theirs: BTreeMap<_, _> = hub_store
            .balances(id.as_str())?
            .into_iter()
            .filter(|(_, sku, _, _)| shared(sku))
            .map(|(l, s, lot, q)| ((l, s, lot), q))
            .collect();
        if mine != theirs {
            mismatches += 1;
            let keys: std::collections::BTreeSet<_> = mine.keys().chain(theirs.keys()).collect();
            for k in keys
                .into_iter()
                .filter(|k| mine.get(*k) != theirs.get(*k))
                .take(5)
            {
                tracing::warn!(site = %id, location = %k.0, sku = %k.1, lot = %k.2,
                    agent = ?mine.get(k).map(|q| q.to_string()), hub = ?theirs.get(k).map(|q| q.to_string()),
                    "the hub differs from the site");
            }
        }
    }
    let sites_rows = hub_store.sites(Utc::now(), 900)?;
    let rows: Vec<Vec<String>> = sites_rows
        .iter()
        .map(|s| {
            vec![
                s.id.clone(),
                s.kind.clone(),
                s.region.clone(),
                s.hwm.to_string(),
                s.freshness.to_owned(),
            ]
        })
        .collect();
    say(out, String::new())?;
    out.write_all(
        table(
            &["site", "kind", "region", "movements at hub", "freshness"],
            &rows,
        )
        .as_bytes(),
    )
    .map_err(|e| HubError::io("<stdout>", e))?;
    let by_kind = hub_store.inventory(&InventoryFilter {
        by: vec![GroupBy::Kind],
        ..Default::default()
    })?;
    let rows: Vec<Vec<String>> = by_kind
        .iter()
        .map(|r| {
            vec![
                r.keys.join(" | "),
                r.on_hand.to_string(),
                r.in_transit.to_string(),
                r.value.to_string(),
                r.unvalued.to_string(),
            ]
        })
        .collect();
    say(out, String::new())?;
    out.write_all(
        table(
            &[
                "site kind",
                "on hand",
                "in transit",
                "value",
                "unvalued (costs not shared)",
            ],
            &rows,
        )
        .as_bytes(),
    )
    .map_err(|e| HubError::io("<stdout>", e))?;
    say(out, String::new())?;
    if mismatches == 0 {
        say(
            out,
            format!(
                "converged: for all {} sites, the hub's on-hand equals the site's own ledger, lot by lot",
                sites.len()
            ),
        )?;
    } else {
        say(
            out,
            format!("NOT converged: {mismatches} site(s) differ from the hub"),
        )?;
    }
    let first = sites
        .iter()
        .find(|s| s.kind != SiteKind::Hq)
        .unwrap_or(&sites[0]);
    say(
        out,
        format!(
            "\nwhere to look:\n  jxc-hub --data {} inventory --by region\n  jxc-hub --data {} sites\n  jxc-hub --data {} transfers --open\n  jxc-agent --data {} stock\n  admin token: {admin}\n  dashboard sign-in: user admin, password {password}{}",
            hub_dir.display(),
            hub_dir.display(),
            hub_dir.display(),
            first.dir.display(),
            if opts.serve {
                String::new()
            } else {
                format!(
                    " (jxc-hub --data {} serve, then open https://127.0.0.1:8443/)",
                    hub_dir.display()
                )
            }
        ),
    )?;
    if opts.serve {
        say(
            out,
            format!(
                "  curl --cacert {}/ca.pem -H 'Authorization: Bearer {admin}' '{url}/v1/inventory?by=site'\n  dashboard: {url}/ (the browser warns of the hub's own CA: trust {}/ca.pem, or accept)\nserving until Ctrl-C…",
                hub_dir.display(),
                hub_dir.display()
            ),
        )?;
        out.flush().map_err(|e| HubError::io("<stdout>", e))?;
        jxc_runtime::shutdown::shutdown_signal().await;
    }
    let _ = stop_tx.send(());
    server
        .await
        .map_err(|e| HubError::Internal(e.to_string()))??;
    if mismatches > 0 {
        return Err(HubError::Internal(format!(
            "{mismatches} site(s) did not converge"
        )));
    }
    Ok(())
}
