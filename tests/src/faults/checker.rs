//! The end-of-schedule proof, once everything healed and synced:
//! - every agent's ledger verifies, holds exactly the movements its commands
//!   acknowledged, and its stock equals the driver's model;
//! - the hub holds each site's movements `1..=n` once each, field by field
//!   equal to the agent's, and its on hand per (location, sku, lot) — from
//!   the movements and from its balance cache — equals the owner's balance;
//! - every transfer between sites is either received or still shown in
//!   transit, at the hub and at the receiver alike;
//! - the quarantine holds exactly the crafted bad records, and the rogue
//!   site's good records are held as sent.

use super::driver::{Agent, Driver, Holdings, micro};
use super::schedule::{PRODUCTS, ROGUE};
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

/// What the checker looked at.
#[derive(Debug, Default)]
pub struct Checked {
    pub movements: u64,
    pub transfers: u64,
}

pub fn check(d: &Driver) -> Result<Checked, String> {
    let mut checked = Checked::default();
    let hub = hub_movements(d)?;
    let sites = d.get("/v1/sites")?;
    let mut inventory: BTreeMap<(String, String), (i64, i64)> = BTreeMap::new();
    for (sku, _, _) in PRODUCTS {
        let rows = d.get(&format!("/v1/inventory?by=location&sku={sku}"))?;
        for r in rows.as_array().into_iter().flatten() {
            inventory.insert(
                (s(r, "key").to_owned(), sku.to_owned()),
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
        a.ok(&["verify"])?;
        let status = a.json(&["status"])?;
        let n = status["movements"].as_u64().unwrap_or(0);
        if status["sync"]["hwm"] != n || status["sync"]["unsynced"] != 0 {
            return Err(format!("{id}: not fully synced after healing: {status}"));
        }
        let moves: Vec<Value> = a.json(&["moves"])?.as_array().cloned().unwrap_or_default();
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

        // No movement lost, duplicated or altered on the way to the hub.
        let held = hub.get(id.as_str()).unwrap_or(&no_rows);
        let hub_seqs: Vec<u64> = held.iter().filter_map(|m| m["seq"].as_u64()).collect();
        if hub_seqs != seqs {
            return Err(format!(
                "{id}: the hub holds {} movements (seqs {:?}…), the agent {n}",
                held.len(),
                &hub_seqs[..hub_seqs.len().min(20)]
            ));
        }
        for (m, h) in moves.iter().zip(held) {
            same_movement(m, h).map_err(|e| format!("{id} seq {}: {e}", m["seq"]))?;
        }
        checked.movements += n;

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
        if from_hub != stock {
            return Err(format!(
                "{id}: on hand from the hub's movements (left) and the agent (right):\n{from_hub:?}\n{stock:?}"
            ));
        }
        // And the hub's balance cache, per (location, sku).
        let mut per_sku: BTreeMap<(String, String), i64> = BTreeMap::new();
        for ((loc, sku, _), v) in &stock {
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
        if row["hwm"] != n || row["unsynced_at_agent"] != 0 {
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
        let got: i64 = received
            .get(tid)
            .into_iter()
            .flatten()
            .map(|(_, v)| v)
            .sum();
        let receivers: BTreeSet<&str> = received
            .get(tid)
            .into_iter()
            .flatten()
            .map(|(site, _)| site.as_str())
            .collect();
        let want_status = match got {
            0 => "in_transit",
            g if g < qty => "partial",
            _ => "received",
        };
        let from = format!("{}/{}", s(out, "site"), s(out, "location"));
        if s(t, "from") != from
            || s(t, "to") != to
            || s(t, "sku") != s(out, "sku")
            || s(t, "lot") != s(out, "lot")
            || q(t, "qty")? != qty
            || q(t, "received")? != got
            || q(t, "in_transit")? != qty - got
            || s(t, "status") != want_status
            || got > qty
            || receivers.iter().any(|r| !to.starts_with(&format!("{r}/")))
        {
            return Err(format!(
                "transfer {tid}: the hub shows {t}; sent {out}; received {got} by {receivers:?}"
            ));
        }
        let at_receiver = incoming
            .get(tid)
            .ok_or_else(|| format!("transfer {tid} to {to} is unknown to its receiver"))?;
        if q(at_receiver, "received")? != got || q(at_receiver, "remaining")? != qty - got {
            return Err(format!(
                "transfer {tid}: the receiver shows {at_receiver}, the hub {t}"
            ));
        }
        if qty > got {
            *in_transit
                .entry((to.to_owned(), s(t, "sku").to_owned()))
                .or_default() += qty - got;
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
    Ok(checked)
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
