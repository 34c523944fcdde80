//! The end-of-schedule proof, once everything healed and synced:
//! - every agent's ledger verifies, holds exactly the movements its commands
//!   acknowledged, and its stock equals the driver's model;
//! - the hub holds each site's movements `1..=n` once each, field by field
//!   equal to the agent's, and its on hand per (location, sku, lot) — from
//!   the movements and from its balance cache — equals the owner's balance;
//! - of the dealer, the hub holds its outbound stream (`share sent`) `1..=N`
//!   once each, field by field, every record acknowledged; its on hand is
//!   the dealer's stock of HQ's products; no own item, cost, price, customer
//!   identity or reference reached it, nor the dealer's customers document;
//!   every transfer with another site is in the stream;
//! - every transfer between sites is either received or still shown in
//!   transit, at the hub and at the receiver alike;
//! - the quarantine holds exactly the crafted bad records, and the rogue
//!   site's good records are held as sent;
//! - the hub's catalog is exactly what HQ's commands made it, and every
//!   agent's copy (its products and its catalog documents) equals the hub's
//!   field by field;
//! - every site's customers equal the hub's field by field, with the same
//!   winner and the same losing values of a concurrent edit, and each field
//!   shows a value its writers set last (see [`super::docs`]); the sales to
//!   counterparties that are not customers are listed as unregistered;
//! - the document refusals are exactly the crafted bad changes, once each.

use super::docs::{CREDIT, CUSTOMER_FIELDS, Fields, text};
use super::driver::{Agent, Driver, Holdings, micro};
use super::schedule::{CATALOG, PRODUCTS, ROGUE};
use jxc_shared::docs::automerge::AutoCommit;
use jxc_shared::docs::{CATALOG_COLUMNS, CatalogItem, catalog_shard};
use jxc_shared::share::is_pseudonymous;
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};

fn s<'a>(v: &'a Value, k: &str) -> &'a str {
    v[k].as_str().unwrap_or("")
}

fn q(v: &Value, k: &str) -> Result<i64, String> {
    micro(s(v, k)).map_err(|e| format!("{k} in {v}: {e}"))
}

/// Every movement the hub holds, by site, following `next` pages.
fn hub_movements(d: &Driver) -> Result<BTreeMap<String, Vec<Value>>, String> {
    let mut by_site: BTreeMap<String, Vec<Value>> = BTreeMap::new();
    let mut after = String::new();
    loop {
        let page = d.get(&format!("/v1/movements?limit=5000&after={after}"))?;
        for m in page["movements"].as_array().into_iter().flatten() {
            by_site
                .entry(s(m, "site").to_owned())
                .or_default()
                .push(m.clone());
        }
        match page["next"].as_str() {
            Some(n) => after = n.to_owned(),
            None => return Ok(by_site),
        }
    }
}

/// An agent's `stock --json` per (location, sku, lot).
fn agent_stock(a: &Agent) -> Result<Holdings, String> {
    let mut h = Holdings::new();
    for r in a.json(&["stock"])?.as_array().into_iter().flatten() {
        let key = (
            s(r, "location").into(),
            s(r, "sku").into(),
            s(r, "lot").into(),
        );
        h.insert(key, q(r, "qty")?);
    }
    h.retain(|_, v| *v != 0);
    Ok(h)
}

/// Fields compared between the agent's ledger and the hub, as text.
const TEXT_FIELDS: [&str; 11] = [
    "type",
    "location",
    "sku",
    "lot",
    "unit_cost",
    "unit_price",
    "counterparty",
    "ref",
    "reason",
    "transfer_id",
    "occurred_at",
];

fn same_movement(agent: &Value, hub: &Value) -> Result<(), String> {
    for f in TEXT_FIELDS.iter().chain(&["recorded_at"]) {
        if agent[*f] != hub[*f] {
            return Err(format!(
                "{f} differs: agent {} hub {}\n  agent: {agent}\n  hub:   {hub}",
                agent[*f], hub[*f]
            ));
        }
    }
    if q(agent, "qty")? != q(hub, "qty")? {
        return Err(format!("qty differs\n  agent: {agent}\n  hub:   {hub}"));
    }
    Ok(())
}

/// Checks the agent's ledger against what its commands acknowledged.
fn check_acks(a: &Agent, moves: &[Value]) -> Result<(), String> {
    let id = &a.plan.id;
    if moves.len() != a.acks.len() {
        return Err(format!(
            "{id}: the ledger holds {} movements, its commands acknowledged {}",
            moves.len(),
            a.acks.len()
        ));
    }
    let mut matched = BTreeSet::new();
    for ack in &a.acks {
        let fits = |m: &Value| -> bool {
            s(m, "type") == ack.kind
                && s(m, "location") == ack.location
                && s(m, "sku") == ack.sku
                && s(m, "lot") == ack.lot
                && q(m, "qty").ok() == Some(ack.qty)
                && (ack.transfer_id.is_none()
                    || m["transfer_id"].as_str() == ack.transfer_id.as_deref())
                && (ack.reference.is_none() || m["ref"].as_str() == ack.reference.as_deref())
        };
        let found = match ack.seq {
            Some(seq) => (seq as usize)
                .checked_sub(1)
                .and_then(|i| moves.get(i))
                .filter(|m| fits(m))
                .map(|_| seq),
            None => moves
                .iter()
                .filter(|m| fits(m))
                .filter_map(|m| m["seq"].as_u64())
                .find(|seq| !matched.contains(seq)),
        };
        match found {
            Some(seq) if matched.insert(seq) => {}
            _ => {
                return Err(format!(
                    "{id}: the acknowledged movement {ack:?} is not in the ledger as written"
                ));
            }
        }
    }
    Ok(())
}

/// A dealer's outbound stream as `share sent` lists it: seqs `1..=N`
/// without a gap, every record acknowledged by the hub.
fn dealer_published(a: &Agent) -> Result<Vec<Value>, String> {
    let id = &a.plan.id;
    let rows = a
        .json(&["share", "sent", "--limit", "1000000"])?
        .as_array()
        .cloned()
        .unwrap_or_default();
    let seqs: Vec<u64> = rows.iter().filter_map(|m| m["seq"].as_u64()).collect();
    if seqs != (1..=rows.len() as u64).collect::<Vec<_>>() {
        return Err(format!(
            "{id}: the published seqs are not 1..={}: {:?}…",
            rows.len(),
            &seqs[..seqs.len().min(20)]
        ));
    }
    if let Some(r) = rows.iter().find(|r| r["acknowledged"] != true) {
        return Err(format!(
            "{id}: a published record is not acknowledged after healing: {r}"
        ));
    }
    Ok(rows)
}

/// Every transfer between the dealer and another site is in its outbound
/// stream as in its ledger (the hub routes them whatever the policy).
fn check_dealer_transfers(id: &str, moves: &[Value], published: &[Value]) -> Result<(), String> {
    for m in moves {
        let kind = s(m, "type");
        let other_site = !s(m, "counterparty").starts_with(&format!("{id}/"));
        if !matches!(kind, "transfer_out" | "transfer_in") || !other_site {
            continue;
        }
        let found = published.iter().any(|p| {
            s(p, "type") == kind
                && s(p, "transfer_id") == s(m, "transfer_id")
                && s(p, "location") == s(m, "location")
                && s(p, "sku") == s(m, "sku")
                && s(p, "lot") == s(m, "lot")
                && q(p, "qty").ok() == q(m, "qty").ok()
        });
        if !found {
            return Err(format!(
                "{id}: the transfer movement {m} is not in its outbound stream"
            ));
        }
    }
    Ok(())
}

/// Nothing the dealer keeps to itself reached the hub: only HQ's products,
/// no costs or prices, customers of sales and returns only as pseudonyms
/// and without references.
fn check_dealer_privacy(d: &Driver, id: &str, held: &[Value]) -> Result<(), String> {
    for h in held {
        let sku = s(h, "sku");
        let leaked = if !d.catalog.contains_key(sku) {
            Some("a product outside HQ's catalog")
        } else if q(h, "unit_cost")? != 0 || !h["unit_price"].is_null() {
            Some("a cost or price")
        } else if matches!(s(h, "type"), "sale" | "customer_return")
            && (!h["ref"].is_null()
                || h["counterparty"]
                    .as_str()
                    .is_some_and(|c| !c.starts_with("anon-") || !is_pseudonymous(c)))
        {
            Some("a customer's identity or reference")
        } else {
            None
        };
        if let Some(what) = leaked {
            return Err(format!("{id}: {what} reached the hub: {h}"));
        }
    }
    Ok(())
}

/// What the checker looked at.
#[derive(Debug, Default)]
pub struct Checked {
    pub movements: u64,
    /// Records of the dealer's outbound stream, among `movements`.
    pub dealer_records: u64,
    pub transfers: u64,
    /// Catalog products compared, per agent.
    pub catalog: u64,
    pub customers: u64,
    /// Customer fields showing a concurrent edit's losing value.
    pub conflicts: u64,
}

/// A query parameter, percent-encoded.
fn enc(v: &str) -> String {
    v.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

pub fn check(d: &Driver) -> Result<Checked, String> {
    let mut checked = Checked::default();
    let hub = hub_movements(d)?;
    let sites = d.get("/v1/sites")?;
    let mut inventory: BTreeMap<(String, String), (i64, i64)> = BTreeMap::new();
    for (sku, _, _) in PRODUCTS.iter().chain(&CATALOG) {
        // An SKU that no site has moved yet is unknown to the hub, which
        // says so (404) rather than answering an empty table: none held.
        let rows = match d.get(&format!("/v1/inventory?by=location&sku={}", enc(sku))) {
            Err(e) if e.contains("404") && e.contains("is not known to the hub") => continue,
            other => other?,
        };
        for r in rows.as_array().into_iter().flatten() {
            inventory.insert(
                (s(r, "key").to_owned(), (*sku).to_owned()),
                (q(r, "on_hand")?, q(r, "in_transit")?),
            );
        }
    }
    // Every transfer-in of every agent, by transfer id: (site, qty).
    let mut received: BTreeMap<String, Vec<(String, i64)>> = BTreeMap::new();
    let mut sent: BTreeMap<String, Value> = BTreeMap::new();
    let mut incoming: BTreeMap<String, Value> = BTreeMap::new();
    let no_rows = Vec::new();

    for a in &d.agents {
        let id = &a.plan.id;
        let dealer = a.plan.kind == "dealer";
        a.ok(&["verify"])?;
        let status = a.json(&["status"])?;
        let n = status["movements"].as_u64().unwrap_or(0);
        let moves: Vec<Value> = a.json(&["moves"])?.as_array().cloned().unwrap_or_default();
        // What the site sends: its ledger, or a dealer's outbound stream.
        let published = if dealer {
            dealer_published(a)?
        } else {
            moves.clone()
        };
        let out_n = published.len() as u64;
        if status["sync"]["hwm"] != out_n || status["sync"]["unsynced"] != 0 {
            return Err(format!("{id}: not fully synced after healing: {status}"));
        }
        let seqs: Vec<u64> = moves.iter().filter_map(|m| m["seq"].as_u64()).collect();
        if seqs != (1..=n).collect::<Vec<_>>() {
            return Err(format!("{id}: the ledger's seqs are not 1..={n}"));
        }
        check_acks(a, &moves)?;
        let stock = agent_stock(a)?;
        let mut model = a.model.clone();
        model.retain(|_, v| *v != 0);
        if stock != model {
            return Err(format!(
                "{id}: stock (left) differs from what the driver did (right):\n{stock:?}\n{model:?}"
            ));
        }

        // What the hub may see of the site's stock: all of it, or of a
        // dealer (sharing all stock) HQ's products only.
        let mut shared = stock.clone();
        if dealer {
            shared.retain(|(_, sku, _), _| d.catalog.contains_key(sku));
            check_dealer_transfers(id, &moves, &published)?;
        }

        // No movement lost, duplicated or altered on the way to the hub.
        let held = hub.get(id.as_str()).unwrap_or(&no_rows);
        let hub_seqs: Vec<u64> = held.iter().filter_map(|m| m["seq"].as_u64()).collect();
        let sent_seqs: Vec<u64> = published.iter().filter_map(|m| m["seq"].as_u64()).collect();
        if hub_seqs != sent_seqs {
            return Err(format!(
                "{id}: the hub holds {} movements (seqs {:?}…), the agent sent {out_n}",
                held.len(),
                &hub_seqs[..hub_seqs.len().min(20)]
            ));
        }
        for (m, h) in published.iter().zip(held) {
            same_movement(m, h).map_err(|e| format!("{id} seq {}: {e}", m["seq"]))?;
        }
        if dealer {
            check_dealer_privacy(d, id, held)?;
            checked.dealer_records += out_n;
        }
        checked.movements += out_n;

        // On hand per (location, sku, lot): the sum of the hub's movements.
        let mut from_hub = Holdings::new();
        for m in held {
            *from_hub
                .entry((
                    s(m, "location").into(),
                    s(m, "sku").into(),
                    s(m, "lot").into(),
                ))
                .or_default() += q(m, "qty")?;
        }
        from_hub.retain(|_, v| *v != 0);
        if from_hub != shared {
            return Err(format!(
                "{id}: on hand from the hub's movements (left) and the agent (right):\n{from_hub:?}\n{shared:?}"
            ));
        }
        // And the hub's balance cache, per (location, sku).
        let mut per_sku: BTreeMap<(String, String), i64> = BTreeMap::new();
        for ((loc, sku, _), v) in &shared {
            *per_sku
                .entry((format!("{id}/{loc}"), sku.clone()))
                .or_default() += v;
        }
        for ((key, sku), (on_hand, _)) in inventory
            .iter()
            .filter(|((k, _), _)| k.starts_with(&format!("{id}/")))
        {
            let want = per_sku.remove(&(key.clone(), sku.clone())).unwrap_or(0);
            if *on_hand != want {
                return Err(format!(
                    "hub inventory {key} {sku}: on hand {on_hand}, the owner holds {want}"
                ));
            }
        }
        if let Some((k, v)) = per_sku.into_iter().find(|(_, v)| *v != 0) {
            return Err(format!(
                "hub inventory has no row for {k:?}, the owner holds {v}"
            ));
        }

        let row = sites
            .as_array()
            .and_then(|rows| rows.iter().find(|r| r["id"] == id.as_str()))
            .ok_or_else(|| format!("{id} is not in the hub's sites"))?;
        if row["hwm"] != out_n || row["unsynced_at_agent"] != 0 {
            return Err(format!("{id}: the hub's site row disagrees: {row}"));
        }
        let skew = row["clock_skew_ms"].as_i64().unwrap_or(0);
        if (skew - a.plan.skew_ms).abs() > 30_000 {
            return Err(format!(
                "{id}: the hub measured a clock skew of {skew} ms, the agent runs {} ms off",
                a.plan.skew_ms
            ));
        }

        for m in &moves {
            let tid = s(m, "transfer_id").to_owned();
            match s(m, "type") {
                "transfer_in" => received
                    .entry(tid)
                    .or_default()
                    .push((id.clone(), q(m, "qty")?)),
                "transfer_out" if !s(m, "counterparty").starts_with(&format!("{id}/")) => {
                    let mut t = m.clone();
                    t["site"] = Value::String(id.clone());
                    sent.insert(tid, t);
                }
                _ => {}
            }
        }
        for t in a
            .json(&["transfer", "list", "--incoming"])?
            .as_array()
            .into_iter()
            .flatten()
        {
            incoming.insert(s(t, "id").to_owned(), t.clone());
        }
    }

    // Transfers: the hub knows exactly the ones sent between sites, and
    // each is received or still in transit, at the hub and the receiver.
    let transfers = d.get("/v1/transfers")?;
    let rows = transfers.as_array().cloned().unwrap_or_default();
    let hub_ids: BTreeSet<&str> = rows.iter().map(|t| s(t, "id")).collect();
    let sent_ids: BTreeSet<&str> = sent.keys().map(String::as_str).collect();
    if hub_ids != sent_ids {
        return Err(format!(
            "the hub's transfers {hub_ids:?} are not those the agents sent {sent_ids:?}"
        ));
    }
    let mut in_transit: BTreeMap<(String, String), i64> = BTreeMap::new();
    for t in &rows {
        let tid = s(t, "id");
        let out = &sent[tid];
        let qty = -q(out, "qty")?;
        let to = s(out, "counterparty");
        // A transfer-in at the sender is its cancellation (the goods taken
        // back); anywhere else, a receipt.
        let sender = s(out, "site");
        let ins = || received.get(tid).into_iter().flatten();
        let got: i64 = ins()
            .filter(|(site, _)| site != sender)
            .map(|(_, v)| v)
            .sum();
        let returned: i64 = ins()
            .filter(|(site, _)| site == sender)
            .map(|(_, v)| v)
            .sum();
        let receivers: BTreeSet<&str> = ins()
            .filter(|(site, _)| site != sender)
            .map(|(site, _)| site.as_str())
            .collect();
        let open = qty - got - returned;
        let want_status = if open < 0 {
            "disputed"
        } else if open > 0 {
            if got == 0 && returned == 0 {
                "in_transit"
            } else {
                "partial"
            }
        } else if returned == qty {
            "cancelled"
        } else if returned > 0 {
            "settled"
        } else {
            "received"
        };
        let from = format!("{}/{}", s(out, "site"), s(out, "location"));
        if s(t, "from") != from
            || s(t, "to") != to
            || s(t, "sku") != s(out, "sku")
            || s(t, "lot") != s(out, "lot")
            || q(t, "qty")? != qty
            || q(t, "received")? != got
            || q(t, "returned")? != returned
            || q(t, "in_transit")? != open.max(0)
            || q(t, "disputed")? != (-open).max(0)
            || s(t, "status") != want_status
            || got > qty
            || returned > qty
            || receivers.iter().any(|r| !to.starts_with(&format!("{r}/")))
        {
            return Err(format!(
                "transfer {tid}: the hub shows {t}; sent {out}; received {got} by {receivers:?}"
            ));
        }
        let at_receiver = incoming
            .get(tid)
            .ok_or_else(|| format!("transfer {tid} to {to} is unknown to its receiver"))?;
        // The receiver counts what it closed short apart from what arrived,
        // and offers only what the sender has not taken back.
        if q(at_receiver, "received")? + q(at_receiver, "short")? != got
            || q(at_receiver, "remaining")? != open.max(0)
        {
            return Err(format!(
                "transfer {tid}: the receiver shows {at_receiver}, the hub {t}"
            ));
        }
        if open > 0 {
            *in_transit
                .entry((to.to_owned(), s(t, "sku").to_owned()))
                .or_default() += open;
        }
        checked.transfers += 1;
    }
    for ((key, sku), (_, transit)) in &inventory {
        let want = in_transit.remove(&(key.clone(), sku.clone())).unwrap_or(0);
        if *transit != want {
            return Err(format!(
                "hub inventory {key} {sku}: in transit {transit}, open transfers {want}"
            ));
        }
    }
    if let Some((k, v)) = in_transit.into_iter().next() {
        return Err(format!(
            "{v} in transit to {k:?} is not in the hub's inventory"
        ));
    }
    for (tid, list) in &received {
        let local = list
            .iter()
            .all(|(site, _)| tid.starts_with(&format!("T-{site}-")));
        if !sent.contains_key(tid) && !local {
            return Err(format!(
                "transfer-in of {tid} matches no transfer sent: {list:?}"
            ));
        }
    }

    check_rogue(d, &hub)?;
    checked.movements += d.rogue.good.len() as u64;
    check_docs(d, &mut checked)?;
    Ok(checked)
}

/// The product fields `jxc-agent product list --json` shows.
const PRODUCT_COLUMNS: [&str; 7] = [
    "sku",
    "name",
    "unit",
    "category",
    "brand",
    "decimals",
    "lot_tracked",
];

/// The hub's catalog (`jxc-hub product list --json`), by SKU.
fn hub_catalog(d: &Driver) -> Result<BTreeMap<String, Fields>, String> {
    let mut out = BTreeMap::new();
    for item in d
        .hub_json(&["product", "list"])?
        .as_array()
        .into_iter()
        .flatten()
    {
        let fields: Fields = CATALOG_COLUMNS
            .iter()
            .map(|c| {
                let v = if PRODUCT_COLUMNS.contains(c) {
                    &item["product"][*c]
                } else {
                    &item[*c]
                };
                (*c, text(v))
            })
            .collect();
        out.insert(fields["sku"].clone(), fields);
    }
    Ok(out)
}

fn differs(what: &str, left: &Fields, right: &Fields) -> Option<String> {
    left.iter()
        .chain(right)
        .find(|(k, _)| left.get(*k) != right.get(*k))
        .map(|(k, _)| {
            format!(
                "{what}: {k} is {:?} vs {:?}",
                left.get(k).map_or("(absent)", String::as_str),
                right.get(k).map_or("(absent)", String::as_str)
            )
        })
}

/// An agent's catalog: its products list and its catalog documents.
fn check_agent_catalog(a: &Agent, at_hub: &BTreeMap<String, Fields>) -> Result<(), String> {
    let id = &a.plan.id;
    let listed = a.json(&["product", "list"])?;
    let rows = listed.as_array().cloned().unwrap_or_default();
    for (sku, want) in at_hub {
        let p = rows
            .iter()
            .find(|p| p["sku"] == sku.as_str())
            .ok_or_else(|| format!("{id}: catalog product {sku:?} is not in its product list"))?;
        let got: Fields = PRODUCT_COLUMNS.iter().map(|c| (*c, text(&p[*c]))).collect();
        let want: Fields = PRODUCT_COLUMNS
            .iter()
            .map(|c| (*c, want[c].clone()))
            .collect();
        if let Some(e) = differs(&format!("{id} product {sku:?} (agent vs hub)"), &got, &want) {
            return Err(e);
        }
    }
    // The documents themselves, every column: each shard holding a catalog
    // product, as the agent exports it.
    let shards: BTreeSet<String> = at_hub
        .keys()
        .map(|s| catalog_shard(s).to_string())
        .collect();
    for shard in shards {
        let file = a
            .site
            .dir
            .path()
            .join(format!("check-{}.automerge", shard.replace('/', "-")));
        let path = file.to_string_lossy().into_owned();
        a.ok(&["doc", "export", &shard, &path])?;
        let bytes = std::fs::read(&file).map_err(|e| format!("read {path}: {e}"))?;
        let doc =
            AutoCommit::load(&bytes).map_err(|e| format!("{id}: {shard} does not load: {e}"))?;
        let mut in_doc = BTreeMap::new();
        for item in CatalogItem::read_all(&doc) {
            let item = item.map_err(|(sku, e)| format!("{id}: {shard} record {sku:?}: {e}"))?;
            let fields: Fields = CATALOG_COLUMNS
                .iter()
                .map(|c| (*c, item.column(c)))
                .collect();
            in_doc.insert(fields["sku"].clone(), fields);
        }
        let want: BTreeMap<String, Fields> = at_hub
            .iter()
            .filter(|(sku, _)| catalog_shard(sku).to_string() == shard)
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        if in_doc.keys().ne(want.keys()) {
            return Err(format!(
                "{id}: {shard} holds {:?}, the hub's catalog {:?}",
                in_doc.keys().collect::<Vec<_>>(),
                want.keys().collect::<Vec<_>>()
            ));
        }
        for (sku, w) in &want {
            if let Some(e) = differs(
                &format!("{id} {shard} {sku:?} (agent vs hub)"),
                &in_doc[sku],
                w,
            ) {
                return Err(e);
            }
        }
    }
    Ok(())
}

/// A customer row's conflicts: field → losing values.
fn conflicts_of(row: &Value) -> BTreeMap<String, Vec<String>> {
    row["conflicts"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|c| {
            let field = c[0].as_str()?.to_owned();
            let values = c[1].as_array()?.iter().map(text).collect();
            Some((field, values))
        })
        .collect()
}

/// One customer as every copy shows it, against what its writers set.
fn check_customer(
    site: &str,
    row: &Value,
    model: &super::docs::CustomerModel,
) -> Result<u64, String> {
    let id = text(&row["id"]);
    let conflicts = conflicts_of(row);
    for f in CUSTOMER_FIELDS {
        let shown = text(&row[f]);
        let site_set = model.site.get(f);
        let candidates: Vec<String> = if CREDIT.contains(&f) {
            let set: Vec<String> = site_set
                .into_iter()
                .chain(model.hq.get(f))
                .cloned()
                .collect();
            if set.is_empty() {
                vec![String::new()]
            } else {
                set
            }
        } else {
            vec![site_set.cloned().unwrap_or_default()]
        };
        if !candidates.contains(&shown) {
            return Err(format!(
                "{site} customer {id:?}: {f} shows {shown:?}, but its writers last set {candidates:?}: {row}"
            ));
        }
        if let Some(lost) = conflicts.get(f) {
            let both = CREDIT.contains(&f) && site_set.is_some() && model.hq.contains_key(f);
            if !both || lost.iter().any(|v| *v == shown || !candidates.contains(v)) {
                return Err(format!(
                    "{site} customer {id:?}: {f} shows {shown:?} and a concurrent edit's {lost:?}, but its writers last set {candidates:?}: {row}"
                ));
            }
        }
    }
    if let Some(f) = conflicts
        .keys()
        .find(|f| !CUSTOMER_FIELDS.contains(&f.as_str()))
    {
        return Err(format!(
            "{site} customer {id:?}: a conflict on unknown field {f}: {row}"
        ));
    }
    Ok(conflicts.len() as u64)
}

/// Compares a customer row of the agent and of the hub, every field.
fn same_customer(site: &str, agent: &Value, hub: &Value) -> Result<(), String> {
    for f in ["id", "conflicts"].iter().chain(&CUSTOMER_FIELDS) {
        if agent[*f] != hub[*f] {
            return Err(format!(
                "{site} customer {}: {f} differs: agent {} hub {}\n  agent: {agent}\n  hub:   {hub}",
                agent["id"], agent[*f], hub[*f]
            ));
        }
    }
    Ok(())
}

fn check_docs(d: &Driver, checked: &mut Checked) -> Result<(), String> {
    let at_hub = hub_catalog(d)?;
    if let Some(sku) = at_hub
        .keys()
        .chain(d.catalog.keys())
        .find(|k| at_hub.get(*k) != d.catalog.get(*k))
    {
        let e = match (at_hub.get(sku), d.catalog.get(sku)) {
            (Some(h), Some(m)) => differs(&format!("catalog {sku:?} (hub vs HQ's commands)"), h, m)
                .unwrap_or_default(),
            (h, _) => format!(
                "catalog {sku:?}: {} the hub, {} by HQ's commands",
                if h.is_some() { "in" } else { "not in" },
                if h.is_some() { "never added" } else { "added" }
            ),
        };
        return Err(e);
    }

    for a in &d.agents {
        let id = a.plan.id.as_str();
        check_agent_catalog(a, &at_hub)?;
        checked.catalog += at_hub.len() as u64;

        let mine = a
            .json(&["customer", "list"])?
            .as_array()
            .cloned()
            .unwrap_or_default();
        let at_hub_list = d
            .hub_json(&["customer", "list", "--site", id])?
            .as_array()
            .cloned()
            .unwrap_or_default();
        // A dealer that shares sell-through as pseudonyms keeps its
        // customers to itself: the hub holds none, and the site's own copy
        // is checked against what it set.
        let theirs = if a.plan.kind == "dealer" {
            if !at_hub_list.is_empty() {
                return Err(format!(
                    "{id}: the hub holds customers of a dealer sharing pseudonyms: {at_hub_list:?}"
                ));
            }
            mine.clone()
        } else {
            at_hub_list
        };
        let ids: Vec<String> = mine.iter().map(|r| text(&r["id"])).collect();
        let hub_ids: Vec<String> = theirs.iter().map(|r| text(&r["id"])).collect();
        let model_ids: Vec<String> = a.customers.keys().cloned().collect();
        if ids != hub_ids || ids != model_ids {
            return Err(format!(
                "{id}: customers at the site {ids:?}, at the hub {hub_ids:?}, added by the site {model_ids:?}"
            ));
        }
        for (m, h) in mine.iter().zip(&theirs) {
            same_customer(id, m, h)?;
            let cid = text(&m["id"]);
            let shown = a.json(&["customer", "show", &cid])?;
            same_customer(id, &shown, m)?;
            checked.conflicts += check_customer(id, m, &a.customers[&cid])?;
            checked.customers += 1;
        }

        // Sales to counterparties that are not registered customers.
        let mut want: BTreeMap<String, u64> = BTreeMap::new();
        for ack in a.acks.iter().filter(|k| k.kind == "sale") {
            if let Some(c) = ack
                .counterparty
                .as_ref()
                .filter(|c| !a.customers.contains_key(*c))
            {
                *want.entry(c.clone()).or_default() += 1;
            }
        }
        let got: BTreeMap<String, u64> = a
            .json(&["customer", "unregistered"])?
            .as_array()
            .into_iter()
            .flatten()
            .map(|r| (text(&r["counterparty"]), r["sales"].as_u64().unwrap_or(0)))
            .collect();
        if got != want {
            return Err(format!(
                "{id}: unregistered counterparties {got:?}, its sales name {want:?}"
            ));
        }
    }

    // The rogue: its good customer edits are held, its bad changes refused,
    // each recorded once; nothing of an honest site is refused.
    let held = d
        .hub_json(&["customer", "list", "--site", ROGUE])?
        .as_array()
        .cloned()
        .unwrap_or_default();
    if held.len() != d.rogue.customers_held.len() {
        return Err(format!(
            "the hub holds {} customers of the rogue, it made {}: {held:?}",
            held.len(),
            d.rogue.customers_held.len()
        ));
    }
    for (row, (cid, fields)) in held.iter().zip(&d.rogue.customers_held) {
        let ok = text(&row["id"]) == *cid
            && fields.iter().all(|(f, v)| text(&row[*f]) == *v)
            && row["credit_limit"].is_null()
            && row["terms_days"].is_null()
            && conflicts_of(row).is_empty();
        if !ok {
            return Err(format!(
                "the hub holds {row} for the rogue's customer {cid}: {fields:?}"
            ));
        }
        checked.customers += 1;
    }
    let refusals = d.hub_json(&["quarantine", "--documents"])?;
    let rows = refusals.as_array().cloned().unwrap_or_default();
    let mut want: Vec<_> = d.rogue.refusals.iter().collect();
    if rows.len() != want.len() {
        return Err(format!(
            "the hub recorded {} document refusals, the driver crafted {} bad changes: {refusals}",
            rows.len(),
            want.len()
        ));
    }
    for r in &rows {
        let pos = want.iter().position(|e| {
            r["site"] == ROGUE
                && r["hash"] == e.hash.as_str()
                && r["doc"] == e.doc.as_str()
                && s(r, "reason").contains(e.reason_has)
        });
        match pos {
            Some(i) => {
                want.remove(i);
            }
            None => {
                return Err(format!(
                    "the hub refused a document change nobody crafted: {r}"
                ));
            }
        }
    }
    Ok(())
}

/// The quarantine holds exactly the crafted bad records; the rogue's good
/// records are held as sent.
fn check_rogue(d: &Driver, hub: &BTreeMap<String, Vec<Value>>) -> Result<(), String> {
    let quarantine = d.get("/v1/quarantine")?;
    let rows = quarantine.as_array().cloned().unwrap_or_default();
    let mut want: Vec<_> = d.rogue.quarantined.iter().collect();
    if rows.len() != want.len() {
        return Err(format!(
            "the quarantine holds {} records, the driver crafted {} bad ones: {quarantine}",
            rows.len(),
            want.len()
        ));
    }
    for r in &rows {
        let pos = want.iter().position(|e| {
            r["site"] == ROGUE
                && r["seq"] == e.seq
                && r["kind"] == e.kind
                && s(r, "reason").contains(e.reason_has)
                && serde_json::to_value(&e.record).ok().as_ref() == Some(&r["record"])
        });
        match pos {
            Some(i) => {
                want.remove(i);
            }
            None => return Err(format!("the quarantine holds a record nobody crafted: {r}")),
        }
    }
    let held = hub.get(ROGUE).cloned().unwrap_or_default();
    if held.len() != d.rogue.good.len() {
        return Err(format!(
            "the hub holds {} of the rogue's movements, {} good ones were sent",
            held.len(),
            d.rogue.good.len()
        ));
    }
    for (h, w) in held.iter().zip(&d.rogue.good) {
        let loc = w.location.split_once('/').map_or("", |(_, l)| l);
        if h["seq"] != w.seq
            || s(h, "type") != w.kind.as_str()
            || s(h, "location") != loc
            || s(h, "sku") != w.sku
            || q(h, "qty")? != w.qty_micro
            || h["ref"].as_str() != w.reference.as_deref()
            || h["counterparty"].as_str() != w.counterparty.as_deref()
        {
            return Err(format!("the hub holds {h} for the rogue's {w:?}"));
        }
    }
    Ok(())
}
