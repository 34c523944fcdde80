//! The hub's copy of the shared documents: storage (a snapshot plus the
//! incremental chunks saved since), HQ's own edits, and the per-change
//! authorization of what agents offer. Each applied change is followed by
//! rebuilding the document's table (`product`, `customer`, `share_policy`
//! with `share_scope`, `sku_map`), in the same transaction.

use super::db::{Sql, Value, vals};
use super::query::SELECTED;
use super::{Store, now_text};
use crate::error::{HubError, Result};
use chrono::{DateTime, Utc};
use jxc_shared::docs::automerge::{ActorId, AutoCommit, Change, ChangeHash, ExpandedChange};
use jxc_shared::docs::{
    self, CatalogItem, Customer, DocId, SellThrough, SharePolicy, StockScope, Writer, pack_heads,
    unpack_heads,
};
use jxc_shared::protocol::{DocOffer, DocRefusal, DocReply};
use jxc_shared::{SiteId, SiteKind};
use std::collections::{HashMap, HashSet};

/// Chunks a document may gather before they are folded into its snapshot.
const MAX_CHUNKS: i64 = 32;

/// A stored document: its snapshot and the chunks saved after it.
type Stored = (Vec<u8>, Vec<Vec<u8>>);

fn load(sql: &mut Sql<'_>, id: &str) -> Result<Option<Stored>> {
    let Some(snapshot) =
        sql.scalar::<Vec<u8>>("SELECT snapshot FROM doc WHERE id = ?", vals![id])?
    else {
        return Ok(None);
    };
    let chunks = sql.column(
        "SELECT bytes FROM doc_chunk WHERE doc_id = ? ORDER BY n",
        vals![id],
    )?;
    Ok(Some((snapshot, chunks)))
}

fn corrupt(id: &str, e: impl std::fmt::Display) -> HubError {
    HubError::Internal(format!(
        "document {id} in the hub database does not load: {e}"
    ))
}

fn open_doc(sql: &mut Sql<'_>, id: &str) -> Result<AutoCommit> {
    let mut doc = AutoCommit::new();
    if let Some((snapshot, chunks)) = load(sql, id)? {
        for bytes in std::iter::once(&snapshot).chain(chunks.iter()) {
            if !bytes.is_empty() {
                doc.load_incremental(bytes).map_err(|e| corrupt(id, e))?;
            }
        }
    }
    Ok(doc)
}

/// Stores what `doc` gained since `before`: a new chunk, or a fresh
/// snapshot when the chunks have piled up.
fn save(
    sql: &mut Sql<'_>,
    id: &str,
    doc: &mut AutoCommit,
    before: &[ChangeHash],
    now: &str,
) -> Result<()> {
    let heads = pack_heads(&doc.get_heads());
    let chunks: Option<i64> = sql.scalar("SELECT chunks FROM doc WHERE id = ?", vals![id])?;
    match chunks {
        Some(n) if n < MAX_CHUNKS => {
            let bytes = doc.save_after(before);
            sql.exec(
                "INSERT INTO doc_chunk (doc_id, n, bytes) VALUES (?, ?, ?)",
                vals![id, n + 1, bytes],
            )?;
            sql.exec(
                "UPDATE doc SET heads = ?, chunks = ?, updated_at = ? WHERE id = ?",
                vals![heads, n + 1, now, id],
            )?;
        }
        _ => {
            let snapshot = doc.save();
            sql.exec("DELETE FROM doc_chunk WHERE doc_id = ?", vals![id])?;
            sql.exec(
                "INSERT INTO doc (id, snapshot, heads, chunks, updated_at) VALUES (?1, ?2, ?3, 0, ?4)
                 ON CONFLICT (id) DO UPDATE SET snapshot = ?2, heads = ?3, chunks = 0, updated_at = ?4",
                vals![id, snapshot, heads, now],
            )?;
        }
    }
    Ok(())
}

/// Rebuilds the table a document feeds.
fn materialize(sql: &mut Sql<'_>, id: &DocId, doc: &AutoCommit, now: &str) -> Result<()> {
    match id {
        DocId::Catalog(_) => {
            let mut rows: Vec<Vec<Value>> = Vec::new();
            for item in CatalogItem::read_all(doc) {
                match item {
                    Ok(i) => {
                        let p = &i.product;
                        let opt = |c: &str| Some(i.column(c)).filter(|v| !v.is_empty());
                        rows.push(
                            vals![
                                p.sku.as_str(),
                                p.name,
                                p.unit,
                                p.decimals,
                                i.gtin,
                                p.category,
                                p.brand,
                                p.lot_tracked,
                                opt("list_price"),
                                opt("dealer_price"),
                                i.lead_time_days,
                                opt("min_order_qty"),
                                opt("pack_size"),
                            ]
                            .to_vec(),
                        );
                    }
                    Err((sku, e)) => tracing::warn!(doc = %id, sku, "catalog record skipped: {e}"),
                }
            }
            // A product's category decides what a selective dealer shares.
            let recategorised = categories_change(sql, &rows)?;
            sql.upsert_rows(
                "product",
                &[
                    "sku",
                    "name",
                    "unit",
                    "decimals",
                    "gtin",
                    "category",
                    "brand",
                    "lot_tracked",
                    "list_price",
                    "dealer_price",
                    "lead_time_days",
                    "min_order_qty",
                    "pack_size",
                ],
                &["sku"],
                &rows,
            )?;
            if recategorised {
                recompute_shared(sql, None)?;
            }
        }
        DocId::Customers(site) => {
            sql.exec("DELETE FROM customer WHERE site = ?", vals![site.as_str()])?;
            let mut rows: Vec<Vec<Value>> = Vec::new();
            for c in Customer::read_all(doc) {
                rows.push(
                    vals![
                        site.as_str(),
                        c.id,
                        c.name,
                        c.contact,
                        c.phone,
                        c.address,
                        c.region,
                        c.kind,
                        c.credit_limit.map(|m| m.decimal().to_string()),
                        c.terms_days,
                        serde_json::to_string(&c.conflicts).unwrap_or_default(),
                    ]
                    .to_vec(),
                );
            }
            sql.insert_rows(
                "customer",
                &[
                    "site",
                    "id",
                    "name",
                    "contact",
                    "phone",
                    "address",
                    "region",
                    "type",
                    "credit_limit",
                    "terms_days",
                    "conflicts",
                ],
                &rows,
            )?;
        }
        DocId::Policy(site) => {
            // A policy that does not parse shares nothing, never more.
            let policy = SharePolicy::read(doc).unwrap_or_else(|e| {
                tracing::error!(
                    site = site.as_str(),
                    "sharing policy does not parse, so nothing is shared: {e}"
                );
                SharePolicy::default()
            });
            sql.exec(
                "INSERT INTO share_policy (site, policy, updated_at) VALUES (?1, ?2, ?3)
                 ON CONFLICT (site) DO UPDATE SET policy = ?2, updated_at = ?3",
                vals![
                    site.as_str(),
                    serde_json::to_string(&policy).unwrap_or_default(),
                    now
                ],
            )?;
            write_share_scope(sql, site, &policy)?;
        }
        DocId::SkuMap(site) => {
            sql.exec("DELETE FROM sku_map WHERE site = ?", vals![site.as_str()])?;
            let rows: Vec<Vec<Value>> = docs::read_sku_map(doc)
                .into_iter()
                .map(|(code, sku)| vals![site.as_str(), code.as_str(), sku.as_str()].to_vec())
                .collect();
            sql.insert_rows("sku_map", &["site", "code", "hq_sku"], &rows)?;
        }
    }
    Ok(())
}

/// The policy's stock scope and cost sharing as `share_scope` rows, which
/// the inventory aggregates over in SQL (`share_policy` keeps the whole
/// policy for ingest). Written with it, so the two always agree.
fn write_share_scope(sql: &mut Sql<'_>, site: &SiteId, policy: &SharePolicy) -> Result<()> {
    let (stock, items): (&str, Vec<(&str, &String)>) = match &policy.stock {
        StockScope::Nothing => ("nothing", Vec::new()),
        StockScope::All => ("all", Vec::new()),
        StockScope::Selected { categories, skus } => (
            "selected",
            categories
                .iter()
                .map(|c| ("category", c))
                .chain(skus.iter().map(|s| ("sku", s)))
                .collect(),
        ),
    };
    sql.exec(
        "INSERT INTO share_scope (site, stock, costs) VALUES (?1, ?2, ?3)
         ON CONFLICT (site) DO UPDATE SET stock = ?2, costs = ?3",
        vals![site.as_str(), stock, policy.costs_and_prices],
    )?;
    sql.exec(
        "DELETE FROM share_scope_item WHERE site = ?",
        vals![site.as_str()],
    )?;
    let rows: Vec<Vec<Value>> = items
        .into_iter()
        .map(|(kind, value)| vals![site.as_str(), kind, value].to_vec())
        .collect();
    sql.insert_rows("share_scope_item", &["site", "kind", "value"], &rows)?;
    recompute_shared(sql, Some(site.as_str()))
}

/// Whether product rows (sku first, category sixth, as `apply` writes them)
/// give any SKU another category than the one stored (a new product with a
/// category counts).
fn categories_change(sql: &mut Sql<'_>, rows: &[Vec<Value>]) -> Result<bool> {
    for r in rows {
        let (Some(Value::Text(sku)), Some(Value::Text(category))) = (r.first(), r.get(5)) else {
            continue;
        };
        let stored: Option<Option<String>> = sql.scalar(
            "SELECT category FROM product WHERE sku = ?",
            vals![sku.as_str()],
        )?;
        let stored = stored.map(Option::unwrap_or_default);
        if stored.as_deref().unwrap_or("") != category.as_str() {
            return Ok(true);
        }
    }
    Ok(false)
}

/// `balance_total.shared` (what a selective dealer shares, per location)
/// computed again from the balances, for one site or for every site whose
/// scope is `selected`: after what is selected changed (a policy, or the
/// catalog's categories). The balance triggers keep it between.
fn recompute_shared(sql: &mut Sql<'_>, site: Option<&str>) -> Result<()> {
    sql.exec(
        &format!(
            "UPDATE balance_total SET shared = COALESCE((
                 SELECT SUM(b.qty) FROM balance b
                 JOIN {SELECTED} sel ON sel.site = b.site AND sel.sku = b.sku
                 WHERE b.site = balance_total.site AND b.location = balance_total.location), 0)
             WHERE (CAST(?1 AS TEXT) IS NULL AND (shared <> 0
                        OR site IN (SELECT site FROM share_scope WHERE stock = 'selected')))
                OR site = ?1"
        ),
        vals![site],
    )?;
    Ok(())
}

fn site_kind(sql: &mut Sql<'_>, site: &SiteId) -> Result<Option<SiteKind>> {
    let kind: Option<String> =
        sql.scalar("SELECT kind FROM site WHERE id = ?", vals![site.as_str()])?;
    kind.map(|k| SiteKind::parse(&k).map_err(HubError::from))
        .transpose()
}

/// The sharing policy a dealer's records are held to (what it has set, or
/// nothing shared until it sets one); `None` for a site that is not a
/// dealer. Read from the `share_policy` table, never from the document.
fn dealer_policy(sql: &mut Sql<'_>, site: &SiteId) -> Result<Option<SharePolicy>> {
    if site_kind(sql, site)? != Some(SiteKind::Dealer) {
        return Ok(None);
    }
    super::ingest::policy_in_force(sql, site).map(Some)
}

/// Whether `site` may see document `id` at all.
pub fn may_read(site: &SiteId, id: &DocId) -> bool {
    match id.owner() {
        None => true,
        Some(owner) => owner == site,
    }
}

impl Store {
    /// The document as the hub holds it (empty if it has none yet).
    pub fn doc(&self, id: &DocId) -> Result<AutoCommit> {
        self.db().snapshot(|sql| open_doc(sql, &id.to_string()))
    }

    /// HQ edits a document through the hub: `edit` runs on the document
    /// with the hub's actor; what it changed is stored and materialized in
    /// one transaction. Returns `edit`'s result.
    pub fn hq_edit<T>(
        &mut self,
        id: &DocId,
        hub: &ActorId,
        now: DateTime<Utc>,
        edit: impl FnOnce(&mut AutoCommit) -> Result<T>,
    ) -> Result<T> {
        let name = id.to_string();
        self.db().write(|sql| {
            sql.lock(&name)?;
            let mut doc = open_doc(sql, &name)?.with_actor(hub.clone());
            let before = doc.get_heads();
            let out = edit(&mut doc)?;
            if doc.commit().is_some() {
                let now = now_text(now);
                save(sql, &name, &mut doc, &before, &now)?;
                materialize(sql, id, &doc, &now)?;
            }
            Ok(out)
        })
    }

    /// Applies one offer of site `site` and answers it. Each change is
    /// checked on its own: its actor must be the site's, and the document's
    /// rules must let the site make it. A refused change is recorded once
    /// and reported; so is every change built on it.
    pub fn apply_offer(
        &mut self,
        site: &SiteId,
        hub: &ActorId,
        offer: &DocOffer,
        budget: &mut usize,
        now: DateTime<Utc>,
    ) -> Result<DocReply> {
        let mut reply = DocReply {
            doc: offer.doc.clone(),
            heads: Vec::new(),
            data: Vec::new(),
            refused: Vec::new(),
            error: None,
        };
        let id = match DocId::parse(&offer.doc) {
            Ok(id) if may_read(site, &id) => id,
            Ok(_) => {
                reply.error = Some(format!("document {} belongs to another site", offer.doc));
                return Ok(reply);
            }
            Err(e) => {
                reply.error = Some(e.to_string());
                return Ok(reply);
            }
        };
        let name = id.to_string();
        let now_s = now_text(now);
        let offered = docs::hashes_from_bytes(&offer.heads);
        let mut answer = |sql: &mut Sql<'_>, reply: &mut DocReply| -> Result<Vec<ChangeHash>> {
            let stored: Option<Vec<u8>> =
                sql.scalar("SELECT heads FROM doc WHERE id = ?", vals![name])?;
            let mut heads = stored.as_deref().map(unpack_heads).unwrap_or_default();
            if !offer.changes.is_empty() {
                let mut doc = open_doc(sql, &name)?;
                let before = doc.get_heads();
                let owner_kind = match id.owner() {
                    Some(o) => site_kind(sql, o)?,
                    None => None,
                };
                let accepted = check_changes(
                    sql, site, hub, &id, owner_kind, &mut doc, offer, reply, &now_s,
                )?;
                if !accepted.is_empty() {
                    // `check_changes` refuses what Automerge 0.12 is known to
                    // panic on; should another such change get through, the
                    // offer fails (the transaction rolls back) instead of the
                    // worker thread.
                    let applied = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                        doc.apply_changes(accepted)
                            .map_err(|e| HubError::Invalid(format!("document {name}: {e}")))
                    }));
                    match applied {
                        Ok(result) => result?,
                        Err(_) => {
                            return Err(HubError::Invalid(format!(
                                "document {name}: Automerge could not apply the offered changes"
                            )));
                        }
                    }
                    if doc.get_heads() != before {
                        save(sql, &name, &mut doc, &before, &now_s)?;
                        materialize(sql, &id, &doc, &now_s)?;
                    }
                }
                heads = doc.get_heads();
                if heads != offered && *budget > 0 {
                    let data = doc.save_after(&offered);
                    *budget = budget.saturating_sub(data.len());
                    if !data.is_empty() {
                        reply.data.push(data);
                    }
                }
            } else if heads != offered && *budget > 0 {
                if offered.is_empty() {
                    // A new agent: the stored bytes, without loading the document.
                    if let Some((snapshot, chunks)) = load(sql, &name)? {
                        for b in std::iter::once(snapshot).chain(chunks) {
                            *budget = budget.saturating_sub(b.len());
                            reply.data.push(b);
                        }
                    }
                } else {
                    let mut doc = open_doc(sql, &name)?;
                    let data = doc.save_after(&offered);
                    *budget = budget.saturating_sub(data.len());
                    if !data.is_empty() {
                        reply.data.push(data);
                    }
                }
            }
            Ok(heads)
        };
        // Only an offer with changes writes, one hub process at a time per
        // document; the others read one consistent snapshot.
        let heads = if offer.changes.is_empty() {
            self.db().snapshot(|sql| answer(sql, &mut reply))?
        } else {
            self.db().write(|sql| {
                sql.lock(&name)?;
                answer(sql, &mut reply)
            })?
        };
        reply.heads = heads.iter().map(docs::hash_bytes).collect();
        Ok(reply)
    }
}

#[allow(clippy::too_many_arguments)]
fn check_changes(
    sql: &mut Sql<'_>,
    site: &SiteId,
    hub: &ActorId,
    id: &DocId,
    owner_kind: Option<SiteKind>,
    doc: &mut AutoCommit,
    offer: &DocOffer,
    reply: &mut DocReply,
    now: &str,
) -> Result<Vec<Change>> {
    let mut accepted = Vec::new();
    let mut accepted_hashes: HashSet<ChangeHash> = HashSet::new();
    let mut refused_hashes: HashSet<ChangeHash> = HashSet::new();
    let refuse = |sql: &mut Sql<'_>,
                  hash: [u8; 32],
                  actor: String,
                  reason: String,
                  reply: &mut DocReply|
     -> Result<()> {
        let hex_hash = hex::encode(hash);
        let fresh = sql.exec(
                "INSERT INTO doc_refusal (hash, doc_id, site, actor, reason, received_at) VALUES (?, ?, ?, ?, ?, ?)
                 ON CONFLICT (hash) DO NOTHING",
                vals![hex_hash, id.to_string(), site.as_str(), actor, reason, now],
            )? == 1;
        if fresh {
            tracing::error!(site = site.as_str(), doc = %id, change = hex_hash, "document change refused: {reason}");
        }
        reply.refused.push(DocRefusal { hash, reason });
        Ok(())
    };
    // A dealer's customers are identities: they reach HQ only while its
    // policy shares sell-through with identity (its agent does not offer
    // them otherwise, so only a crafted request meets this).
    let withheld = match id {
        DocId::Customers(owner) if owner_kind == Some(SiteKind::Dealer) => dealer_policy(
            sql, owner,
        )?
        .map(|p| p.sell_through)
        .filter(|s| *s != SellThrough::Identity)
        .map(|s| {
            format!(
                "dealer {}'s sharing policy shares sell-through as {}, not customer identities",
                owner.as_str(),
                s.as_str()
            )
        }),
        _ => None,
    };
    let mut pending: Vec<Change> = Vec::new();
    let mut last_seq: HashMap<ActorId, u64> = HashMap::new();
    for raw in &offer.changes {
        match Change::from_bytes(raw.clone()) {
            Ok(c) => {
                let held = doc.get_change_by_hash(&c.hash()).is_some();
                if !held && !pending.iter().any(|p| p.hash() == c.hash()) {
                    pending.push(c);
                }
            }
            Err(e) => refuse(
                sql,
                sha2_32(raw),
                String::new(),
                format!("not an Automerge change: {e}"),
                reply,
            )?,
        }
    }
    if !pending.is_empty() {
        for meta in doc.get_changes_meta(&[]) {
            let seq = last_seq.entry(meta.actor.into_owned()).or_default();
            *seq = (*seq).max(meta.seq);
        }
    }
    // Judge each change once what it builds on is settled, in as many passes
    // as the offer's order needs. One that builds on a refused change is
    // refused; one whose dependencies never arrive is held back, not refused:
    // the hub's heads in the reply make the agent resend from there.
    loop {
        let mut progress = false;
        let mut waiting = Vec::new();
        for change in pending {
            let hash = change.hash();
            let actor = change.actor_id().to_hex_string();
            if let Some(dep) = change.deps().iter().find(|d| refused_hashes.contains(*d)) {
                refused_hashes.insert(hash);
                let reason = format!("builds on refused change {}", hex::encode(dep.0));
                refuse(sql, hash.0, actor, reason, reply)?;
                progress = true;
                continue;
            }
            let deps_held = change
                .deps()
                .iter()
                .all(|d| accepted_hashes.contains(d) || doc.get_change_by_hash(d).is_some());
            if !deps_held {
                waiting.push(change);
                continue;
            }
            progress = true;
            let expanded = change.decode();
            let verdict = match well_formed(&change, &expanded, &last_seq) {
                Err(reason) => Err(reason),
                Ok(()) => match check_actor(sql, site, hub, change.actor_id(), now)? {
                    Ok(()) => match &withheld {
                        Some(reason) => Err(reason.clone()),
                        None => docs::authorize(id, owner_kind, Writer::Site(site), &expanded),
                    },
                    Err(reason) => Err(reason),
                },
            };
            match verdict {
                Ok(()) => {
                    last_seq.insert(change.actor_id().clone(), change.seq());
                    accepted_hashes.insert(hash);
                    accepted.push(change);
                }
                Err(reason) => {
                    refused_hashes.insert(hash);
                    refuse(sql, hash.0, actor, reason, reply)?;
                }
            }
        }
        pending = waiting;
        if !progress || pending.is_empty() {
            break;
        }
    }
    Ok(accepted)
}

/// What Automerge 0.12 applies without checking, and then panics on or
/// stores as a document that no longer loads (both found by fuzzing): a
/// change must encode to its own hash, and continue its actor's seqs with
/// neither a gap nor a repeat.
fn well_formed(
    change: &Change,
    expanded: &ExpandedChange,
    last_seq: &HashMap<ActorId, u64>,
) -> std::result::Result<(), String> {
    if Change::from(expanded.clone()).hash() != change.hash() {
        return Err("not canonically encoded: its operations re-encode to another hash".into());
    }
    let last = last_seq.get(change.actor_id()).copied().unwrap_or(0);
    if Some(change.seq()) != last.checked_add(1) {
        return Err(format!(
            "seq {} of its actor does not follow {last}, the last the hub holds",
            change.seq()
        ));
    }
    Ok(())
}

/// Checks that a change an agent sent was made by that site's actor
/// (HQ's own changes reach the hub through `hq_edit`, never from agents).
/// A site's first unknown actor after it enrolled is bound to it.
fn check_actor(
    sql: &mut Sql<'_>,
    site: &SiteId,
    hub: &ActorId,
    actor: &ActorId,
    now: &str,
) -> Result<std::result::Result<(), String>> {
    let hex_actor = actor.to_hex_string();
    if actor == hub {
        return Ok(Err(format!(
            "change claims HQ's actor but the hub never made it (sent by site {})",
            site.as_str()
        )));
    }
    let bound: Option<String> = sql.scalar(
        "SELECT site FROM site_actor WHERE actor = ?",
        vals![hex_actor],
    )?;
    match bound {
        Some(s) if s == site.as_str() => Ok(Ok(())),
        Some(other) => Ok(Err(format!(
            "actor {hex_actor} belongs to site {other}, not to {}",
            site.as_str()
        ))),
        None => {
            let open: bool = sql
                .scalar(
                    "SELECT actor_open FROM site WHERE id = ?",
                    vals![site.as_str()],
                )?
                .unwrap_or(false);
            if !open {
                return Ok(Err(format!(
                    "actor {hex_actor} is unknown: site {} already writes as another actor (re-enroll the agent to change it)",
                    site.as_str()
                )));
            }
            bind(sql, site, &hex_actor, now, "its first document sync")?;
            Ok(Ok(()))
        }
    }
}

/// Binds `actor` to `site` as it enrolls and closes the first-sync
/// binding. An actor that already writes for another site is refused: the
/// agent's data directory was copied from that site.
pub(super) fn bind_actor(
    sql: &mut Sql<'_>,
    site: &SiteId,
    actor: &ActorId,
    now: &str,
) -> Result<()> {
    let hex_actor = actor.to_hex_string();
    let bound: Option<String> = sql.scalar(
        "SELECT site FROM site_actor WHERE actor = ?",
        vals![hex_actor],
    )?;
    if let Some(other) = bound.filter(|o| o != site.as_str()) {
        return Err(HubError::Invalid(format!(
            "doc_actor {hex_actor} already writes for site {other}: this agent's data directory was copied from that site; make a new one with `jxc-agent init`; the token is still valid"
        )));
    }
    bind(sql, site, &hex_actor, now, "enrollment")
}

/// Records that `hex_actor` writes for `site` (kept if it already does) and
/// closes the site's first-sync binding.
fn bind(sql: &mut Sql<'_>, site: &SiteId, hex_actor: &str, now: &str, at: &str) -> Result<()> {
    sql.exec(
        "INSERT INTO site_actor (actor, site, bound_at) VALUES (?, ?, ?) ON CONFLICT (actor) DO NOTHING",
        vals![hex_actor, site.as_str(), now],
    )?;
    sql.exec(
        "UPDATE site SET actor_open = 0 WHERE id = ?",
        vals![site.as_str()],
    )?;
    tracing::info!(
        site = site.as_str(),
        actor = hex_actor,
        "document actor bound to site at {at}"
    );
    Ok(())
}

fn sha2_32(bytes: &[u8]) -> [u8; 32] {
    use sha2::{Digest, Sha256};
    Sha256::digest(bytes).into()
}

/// Applies a whole documents request for `site`, answering in offer order.
pub fn apply_offers(
    store: &mut Store,
    site: &SiteId,
    hub: &ActorId,
    offers: &[DocOffer],
    budget: &mut usize,
    now: DateTime<Utc>,
) -> Result<(Vec<DocReply>, bool)> {
    let mut replies = Vec::with_capacity(offers.len());
    let mut more = false;
    for offer in offers {
        let had_budget = *budget > 0;
        let reply = store.apply_offer(site, hub, offer, budget, now)?;
        if !had_budget && reply.heads != offer.heads {
            more = true;
        }
        replies.push(reply);
    }
    Ok((replies, more))
}

/// Refuses a catalog change that sites' ledgers could not follow: lot
/// tracking is fixed once a product exists, and its decimals may only grow
/// (quantities already recorded with more places must stay valid).
fn check_catalog_change(doc: &AutoCommit, new: &CatalogItem) -> Result<()> {
    let sku = new.product.sku.as_str();
    let Some(obj) = docs::record(doc, sku) else {
        return Ok(());
    };
    let fields = docs::read_fields(doc, &obj);
    let Ok(old) = CatalogItem::from_text(|c| match c {
        "sku" => sku.to_owned(),
        c => fields
            .get(c)
            .map(|f| docs::scalar_text(&f.value))
            .unwrap_or_default(),
    }) else {
        return Ok(()); // a damaged record may be repaired by a full rewrite
    };
    if old.product.lot_tracked != new.product.lot_tracked {
        return Err(jxc_shared::DomainError::new(
            "lot_tracked",
            format!("{sku}: {}", new.product.lot_tracked),
            "lot tracking cannot change once a product exists (sites' ledgers depend on it)",
        )
        .into());
    }
    if new.product.decimals < old.product.decimals {
        return Err(jxc_shared::DomainError::new(
            "decimals",
            format!("{sku}: {}", new.product.decimals),
            format!(
                "decimals may only grow (now {}): quantities already recorded need them",
                old.product.decimals
            ),
        )
        .into());
    }
    Ok(())
}

/// A customer as the hub holds it, with its site.
#[derive(Debug, Clone)]
pub struct SiteCustomer {
    pub site: String,
    pub customer: Customer,
    /// A dealer's customer kept from before it narrowed its policy away
    /// from sharing identities: HQ keeps it, and it is no longer updated.
    pub not_updated: bool,
}

/// A refused document change.
#[derive(Debug, Clone)]
pub struct DocRefusalRow {
    pub hash: String,
    pub doc: String,
    pub site: String,
    pub actor: String,
    pub reason: String,
    pub received_at: String,
}

/// A site's sharing policy as the hub enforces it.
#[derive(Debug, Clone)]
pub struct PolicyRow {
    pub site: String,
    pub policy: serde_json::Value,
    pub updated_at: String,
}

impl Store {
    /// Writes catalog items as HQ, all shards in one transaction: every item
    /// or none. Returns how many items changed.
    pub fn write_catalog(
        &mut self,
        items: &[CatalogItem],
        hub: &ActorId,
        now: DateTime<Utc>,
    ) -> Result<usize> {
        let mut by_shard: std::collections::BTreeMap<DocId, Vec<&CatalogItem>> =
            std::collections::BTreeMap::new();
        for i in items {
            by_shard
                .entry(docs::catalog_shard(i.product.sku.as_str()))
                .or_default()
                .push(i);
        }
        let now = now_text(now);
        self.db().write(|sql| {
            let mut changed = 0;
            for (id, items) in by_shard {
                let name = id.to_string();
                sql.lock(&name)?;
                let mut doc = open_doc(sql, &name)?.with_actor(hub.clone());
                let before = doc.get_heads();
                for i in items {
                    check_catalog_change(&doc, i)?;
                    let n = i
                        .write(&mut doc)
                        .map_err(|e| HubError::Internal(format!("catalog edit failed: {e}")))?;
                    changed += usize::from(n > 0);
                }
                if doc.commit().is_some() {
                    save(sql, &name, &mut doc, &before, &now)?;
                    materialize(sql, &id, &doc, &now)?;
                }
            }
            Ok(changed)
        })
    }

    pub fn catalog_item(&self, sku: &str) -> Result<Option<CatalogItem>> {
        let doc = self.doc(&docs::catalog_shard(sku))?;
        Ok(docs::record(&doc, sku).and_then(|_| {
            CatalogItem::read_all(&doc)
                .into_iter()
                .filter_map(|r| r.ok())
                .find(|i| i.product.sku.as_str() == sku)
        }))
    }

    /// The catalog from its table, optionally one category, by SKU.
    pub fn catalog(&self, category: Option<&str>) -> Result<Vec<CatalogItem>> {
        let rows = self.db().read(|sql| {
            sql.query(
                "SELECT sku, name, unit, decimals, gtin, category, brand, lot_tracked, list_price,
                        dealer_price, lead_time_days, min_order_qty, pack_size
                 FROM product WHERE CAST(?1 AS TEXT) IS NULL OR category = ?1 ORDER BY sku",
                vals![category],
            )
        })?;
        let mut out = Vec::with_capacity(rows.len());
        for r in &rows {
            let mut row: Vec<String> = Vec::with_capacity(13);
            for i in 0..13 {
                row.push(match r.get::<Value>(i)? {
                    Value::Text(t) => t,
                    Value::Int(n) if i == 7 => (n != 0).to_string(),
                    Value::Int(n) => n.to_string(),
                    _ => String::new(),
                });
            }
            let item = CatalogItem::from_text(|c| {
                docs::CATALOG_COLUMNS
                    .iter()
                    .position(|k| *k == c)
                    .map(|i| row[i].clone())
                    .unwrap_or_default()
            })?;
            out.push(item);
        }
        Ok(out)
    }

    pub fn customers(&self, site: Option<&str>) -> Result<Vec<SiteCustomer>> {
        self.db().snapshot(|sql| {
            let rows = sql.query(
                "SELECT site, id, name, contact, phone, address, region, type, credit_limit, terms_days, conflicts
                 FROM customer WHERE CAST(?1 AS TEXT) IS NULL OR site = ?1 ORDER BY site, id",
                vals![site],
            )?;
            let mut out: Vec<SiteCustomer> = Vec::with_capacity(rows.len());
            let mut withheld: HashMap<String, bool> = HashMap::new();
            for r in &rows {
                let site: String = r.get(0)?;
                let limit: Option<String> = r.get(8)?;
                let conflicts: String = r.get(10)?;
                if !withheld.contains_key(&site) {
                    let policy = dealer_policy(sql, &SiteId::parse(&site)?)?;
                    let w = policy.is_some_and(|p| p.sell_through != SellThrough::Identity);
                    withheld.insert(site.clone(), w);
                }
                out.push(SiteCustomer {
                    not_updated: withheld[&site],
                    site,
                    customer: Customer {
                        id: r.get(1)?,
                        name: r.get(2)?,
                        contact: r.get(3)?,
                        phone: r.get(4)?,
                        address: r.get(5)?,
                        region: r.get(6)?,
                        kind: r.get(7)?,
                        credit_limit: limit.as_deref().and_then(jxc_shared::Money::from_stored),
                        terms_days: r.get(9)?,
                        conflicts: serde_json::from_str(&conflicts).unwrap_or_default(),
                    },
                });
            }
            Ok(out)
        })
    }

    pub fn doc_refusals(&self) -> Result<Vec<DocRefusalRow>> {
        self.db().read(|sql| {
            sql.query(
                "SELECT hash, doc_id, site, actor, reason, received_at FROM doc_refusal ORDER BY received_at, hash",
                vals![],
            )?
            .iter()
            .map(|r| {
                Ok(DocRefusalRow {
                    hash: r.get(0)?,
                    doc: r.get(1)?,
                    site: r.get(2)?,
                    actor: r.get(3)?,
                    reason: r.get(4)?,
                    received_at: r.get(5)?,
                })
            })
            .collect()
        })
    }

    pub fn share_policies(&self) -> Result<Vec<PolicyRow>> {
        self.db().read(|sql| {
            sql.query(
                "SELECT site, policy, updated_at FROM share_policy ORDER BY site",
                vals![],
            )?
            .iter()
            .map(|r| {
                let policy: String = r.get(1)?;
                Ok(PolicyRow {
                    site: r.get(0)?,
                    policy: serde_json::from_str(&policy).unwrap_or(serde_json::Value::Null),
                    updated_at: r.get(2)?,
                })
            })
            .collect()
        })
    }

    /// The kind of a site, if it ever enrolled.
    pub fn site_kind(&self, site: &SiteId) -> Result<Option<SiteKind>> {
        self.db().read(|sql| site_kind(sql, site))
    }
}
#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::Target;
    use jxc_shared::docs::CustomerField;

    fn store_with_branch(site: &str) -> (tempfile::TempDir, Store) {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&Target::Sqlite(dir.path().to_path_buf()), true).unwrap();
        store
            .db()
            .write(|sql| {
                sql.exec(
                    "INSERT INTO site (id, kind, name, region) VALUES (?, 'branch', 'b', 'east')",
                    vals![site],
                )
            })
            .unwrap();
        (dir, store)
    }

    fn change(doc: &mut AutoCommit, id: &str, name: &str) -> Vec<u8> {
        Customer::set(
            doc,
            id,
            &[(
                CustomerField::Name,
                CustomerField::Name.value(name).unwrap(),
            )],
        )
        .unwrap();
        doc.commit();
        doc.get_last_local_change().unwrap().raw_bytes().to_vec()
    }

    fn offer(doc: &str, changes: Vec<Vec<u8>>) -> DocOffer {
        DocOffer {
            doc: doc.into(),
            heads: Vec::new(),
            changes,
        }
    }

    #[test]
    fn changes_wait_for_their_dependencies_and_descendants_of_a_refusal_are_refused() {
        let (_dir, mut store) = store_with_branch("BR1");
        let site = SiteId::parse("BR1").unwrap();
        let hub = ActorId::from([1u8; 16].as_slice());
        let now = Utc::now();
        let mine = ActorId::from([2u8; 16].as_slice());
        let mut doc = AutoCommit::new().with_actor(mine.clone());
        let c1 = change(&mut doc, "C1", "一");
        let c2 = change(&mut doc, "C2", "二");
        let mut budget = usize::MAX;

        // c2 alone: held back, not refused; the hub still has nothing.
        let r = store
            .apply_offer(
                &site,
                &hub,
                &offer("customers/BR1", vec![c2.clone()]),
                &mut budget,
                now,
            )
            .unwrap();
        assert!(r.refused.is_empty() && r.heads.is_empty(), "{r:?}");
        // Both: applied, and the first actor is now BR1's.
        let r = store
            .apply_offer(
                &site,
                &hub,
                &offer("customers/BR1", vec![c2, c1]),
                &mut budget,
                now,
            )
            .unwrap();
        assert!(r.refused.is_empty(), "{r:?}");
        assert_eq!(r.heads.len(), 1);
        assert_eq!(store.customers(Some("BR1")).unwrap().len(), 2);

        // A second actor for the same site is unknown; a change of the bound
        // actor built on it is refused too.
        let mut other = doc.fork().with_actor(ActorId::from([3u8; 16].as_slice()));
        let c3 = change(&mut other, "C3", "三");
        let mut back = other.fork().with_actor(mine);
        let c4 = change(&mut back, "C4", "四");
        let r = store
            .apply_offer(
                &site,
                &hub,
                &offer("customers/BR1", vec![c3, c4]),
                &mut budget,
                now,
            )
            .unwrap();
        assert_eq!(r.refused.len(), 2, "{r:?}");
        assert!(r.refused[0].reason.contains("unknown"), "{r:?}");
        assert!(
            r.refused[1].reason.contains("builds on refused change"),
            "{r:?}"
        );
        assert_eq!(store.doc_refusals().unwrap().len(), 2);
        // Offered again: reported again, recorded once.
        let mut again = other.fork();
        let c3 = again
            .get_changes(&[])
            .into_iter()
            .last()
            .unwrap()
            .raw_bytes()
            .to_vec();
        store
            .apply_offer(
                &site,
                &hub,
                &offer("customers/BR1", vec![c3]),
                &mut budget,
                now,
            )
            .unwrap();
        assert_eq!(store.doc_refusals().unwrap().len(), 2);

        // A change claiming HQ's actor is refused; garbage is refused.
        let mut forged = AutoCommit::new().with_actor(hub.clone());
        let c5 = change(&mut forged, "C5", "五");
        let r = store
            .apply_offer(
                &site,
                &hub,
                &offer("customers/BR1", vec![c5, vec![1, 2, 3]]),
                &mut budget,
                now,
            )
            .unwrap();
        let reasons: Vec<&str> = r.refused.iter().map(|x| x.reason.as_str()).collect();
        assert_eq!(reasons.len(), 2, "{r:?}");
        assert!(reasons.iter().any(|x| x.contains("HQ's actor")), "{r:?}");
        assert!(
            reasons
                .iter()
                .any(|x| x.contains("not an Automerge change")),
            "{r:?}"
        );
        assert_eq!(
            store
                .doc(&DocId::Customers(site))
                .unwrap()
                .get_heads()
                .len(),
            1
        );
    }

    #[test]
    fn a_change_that_skips_or_repeats_its_actors_seq_is_refused_alone() {
        let (_dir, mut store) = store_with_branch("BR1");
        let site = SiteId::parse("BR1").unwrap();
        let hub = ActorId::from([1u8; 16].as_slice());
        let mine = ActorId::from([2u8; 16].as_slice());
        let mut budget = usize::MAX;
        let mut doc = AutoCommit::new().with_actor(mine.clone());
        let c1 = change(&mut doc, "C1", "一");
        let mut apply = |changes: Vec<Vec<u8>>| {
            store
                .apply_offer(
                    &site,
                    &hub,
                    &offer("customers/BR1", changes),
                    &mut budget,
                    Utc::now(),
                )
                .unwrap()
        };
        assert!(apply(vec![c1]).refused.is_empty());

        // A copy restored from before C1 makes its own seq 1 again.
        let mut restored = AutoCommit::new().with_actor(mine.clone());
        let repeat = change(&mut restored, "C9", "九");
        // A gap: seq 40, as no Automerge makes it (it panics applying it).
        let mut other = AutoCommit::new().with_actor(mine.clone());
        change(&mut other, "C8", "八");
        let mut gap = other.get_last_local_change().unwrap().decode();
        gap.seq = 40;
        gap.deps = Vec::new();
        let gap = Change::from(gap).raw_bytes().to_vec();
        // A large change (compressed on the wire) that follows C1 properly.
        let mut big = doc.fork().with_actor(mine);
        for i in 0..300 {
            let name = CustomerField::Name;
            Customer::set(
                &mut big,
                &format!("K{i}"),
                &[(name, name.value("客户, \"甲\"").unwrap())],
            )
            .unwrap();
        }
        big.commit();
        let big = big.get_last_local_change().unwrap().raw_bytes().to_vec();
        assert!(big.len() > 1024, "{}", big.len());

        let r = apply(vec![repeat, gap, big]);
        let reasons: Vec<&str> = r.refused.iter().map(|x| x.reason.as_str()).collect();
        assert_eq!(reasons.len(), 2, "{r:?}");
        assert!(
            reasons[0].contains("seq 1 of its actor does not follow 1"),
            "{r:?}"
        );
        assert!(
            reasons[1].contains("seq 40 of its actor does not follow 1"),
            "{r:?}"
        );
        assert_eq!(store.customers(Some("BR1")).unwrap().len(), 301);
        // What was stored loads again.
        assert_eq!(
            store
                .doc(&DocId::Customers(site))
                .unwrap()
                .get_heads()
                .len(),
            1
        );
    }

    #[test]
    fn a_new_agent_gets_the_stored_bytes_and_an_old_one_only_what_it_lacks() {
        let (_dir, mut store) = store_with_branch("BR1");
        let site = SiteId::parse("BR1").unwrap();
        let hub = ActorId::from([1u8; 16].as_slice());
        let items: Vec<CatalogItem> = (0..3000)
            .map(|i| {
                CatalogItem::from_text(|c| match c {
                    "sku" => format!("S-{i}"),
                    "name" => format!("品 {i}, \"x\""),
                    _ => String::new(),
                })
                .unwrap()
            })
            .collect();
        store.write_catalog(&items, &hub, Utc::now()).unwrap();
        let shard = docs::catalog_shard("S-1").to_string();
        let mut budget = usize::MAX;
        let fresh = store
            .apply_offer(
                &site,
                &hub,
                &offer(&shard, Vec::new()),
                &mut budget,
                Utc::now(),
            )
            .unwrap();
        let mut copy = AutoCommit::new();
        for d in &fresh.data {
            copy.load_incremental(d).unwrap();
        }
        let heads: Vec<[u8; 32]> = copy.get_heads().iter().map(docs::hash_bytes).collect();
        assert_eq!(heads, fresh.heads);
        // Up to date: nothing to send.
        let same = DocOffer {
            doc: shard.clone(),
            heads: heads.clone(),
            changes: Vec::new(),
        };
        let r = store
            .apply_offer(&site, &hub, &same, &mut budget, Utc::now())
            .unwrap();
        assert!(r.data.is_empty());
        // One edit: only it travels.
        let mut edited = items[1].clone();
        edited.product.name = "改了".into();
        store.write_catalog(&[edited], &hub, Utc::now()).unwrap();
        let r = store
            .apply_offer(&site, &hub, &same, &mut budget, Utc::now())
            .unwrap();
        let sent: usize = r.data.iter().map(Vec::len).sum();
        let whole: usize = fresh.data.iter().map(Vec::len).sum();
        assert!(
            sent * 4 < whole,
            "an edit sent {sent} bytes; the whole shard is {whole}"
        );
        for d in &r.data {
            copy.load_incremental(d).unwrap();
        }
        let names: Vec<String> = CatalogItem::read_all(&copy)
            .into_iter()
            .filter_map(|i| i.ok())
            .filter(|i| i.product.sku.as_str() == "S-1")
            .map(|i| i.product.name)
            .collect();
        assert_eq!(names, vec!["改了".to_owned()]);
        // Another site's document is refused as a whole.
        let r = store
            .apply_offer(
                &site,
                &hub,
                &offer("customers/BR2", Vec::new()),
                &mut budget,
                Utc::now(),
            )
            .unwrap();
        assert!(r.error.unwrap().contains("another site"));
    }
}
