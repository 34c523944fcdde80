//! This site's copies of the shared documents. Each is stored as a snapshot
//! plus the incremental chunks saved since; `acked` records the heads the
//! hub last said it holds, so a sync offers only what the hub lacks and a
//! reconnect never resends whole documents. Every change is followed by
//! rebuilding the table the document feeds (products from the catalog,
//! customers, the SKU map), in the same transaction, so commands read plain
//! tables and an agent starts without loading any document.

use super::Store;
use crate::error::{AgentError, Result};
use jxc_shared::docs::automerge::{ActorId, AutoCommit, ChangeHash};
use jxc_shared::docs::{
    self, CatalogItem, Customer, DocId, SellThrough, SharePolicy, pack_heads, unpack_heads,
};
use jxc_shared::protocol::{DocOffer, DocReply};
use jxc_shared::{SiteKind, Sku};
use rusqlite::{Connection, OptionalExtension, Transaction, TransactionBehavior, params};

/// Chunks a document may gather before they are folded into its snapshot.
const MAX_CHUNKS: i64 = 32;

/// SQLite page cache while merging what the hub sent (a new agent's whole
/// catalog; allocated only as it fills).
const MERGE_CACHE_KIB: u32 = 32 * 1024;

fn corrupt(id: &str, e: impl std::fmt::Display) -> AgentError {
    AgentError::DataDir(format!("document {id} in the ledger does not load: {e}"))
}

fn open_doc(conn: &Connection, id: &str, actor: &ActorId) -> Result<AutoCommit> {
    let mut doc = AutoCommit::new().with_actor(actor.clone());
    let snapshot: Option<Vec<u8>> = conn
        .query_row("SELECT snapshot FROM doc WHERE id = ?", [id], |r| r.get(0))
        .optional()?;
    if let Some(snapshot) = snapshot {
        if !snapshot.is_empty() {
            doc.load_incremental(&snapshot)
                .map_err(|e| corrupt(id, e))?;
        }
        let mut stmt =
            conn.prepare_cached("SELECT bytes FROM doc_chunk WHERE doc_id = ? ORDER BY n")?;
        let chunks = stmt.query_map([id], |r| r.get::<_, Vec<u8>>(0))?;
        for chunk in chunks {
            doc.load_incremental(&chunk?).map_err(|e| corrupt(id, e))?;
        }
    }
    Ok(doc)
}

/// Stores what `doc` gained since `before` as a chunk (or a new snapshot
/// when chunks pile up), and its heads.
fn save(tx: &Transaction<'_>, id: &str, doc: &mut AutoCommit, before: &[ChangeHash]) -> Result<()> {
    let heads = pack_heads(&doc.get_heads());
    let chunks: Option<i64> = tx
        .query_row("SELECT chunks FROM doc WHERE id = ?", [id], |r| r.get(0))
        .optional()?;
    match chunks {
        Some(n) if n < MAX_CHUNKS => {
            tx.execute(
                "INSERT INTO doc_chunk (doc_id, n, bytes) VALUES (?, ?, ?)",
                params![id, n + 1, doc.save_after(before)],
            )?;
            tx.execute(
                "UPDATE doc SET heads = ?, chunks = ? WHERE id = ?",
                params![heads, n + 1, id],
            )?;
        }
        _ => {
            tx.execute("DELETE FROM doc_chunk WHERE doc_id = ?", [id])?;
            tx.execute(
                "INSERT INTO doc (id, snapshot, heads, acked, chunks) VALUES (?1, ?2, ?3, x'', 0)
                 ON CONFLICT (id) DO UPDATE SET snapshot = ?2, heads = ?3, chunks = 0",
                params![id, doc.save(), heads],
            )?;
        }
    }
    Ok(())
}

fn materialize(tx: &Transaction<'_>, id: &DocId, doc: &AutoCommit) -> Result<()> {
    match id {
        DocId::Catalog(_) => {
            let mut product = tx.prepare_cached(
                "INSERT INTO product (sku, name, unit, category, brand, decimals, lot_tracked, origin)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, 'hq')
                 ON CONFLICT (sku) DO UPDATE SET name = ?2, unit = ?3, category = ?4, brand = ?5,
                    decimals = MAX(decimals, ?6), origin = 'hq'",
            )?;
            let mut extra = tx.prepare_cached(
                "INSERT OR REPLACE INTO catalog_item (sku, gtin, list_price, dealer_price, lead_time_days, min_order_qty, pack_size)
                 VALUES (?, ?, ?, ?, ?, ?, ?)",
            )?;
            for item in CatalogItem::read_all(doc) {
                let item = match item {
                    Ok(i) => i,
                    Err((sku, e)) => {
                        tracing::warn!(doc = %id, sku, "catalog record skipped: {e}");
                        continue;
                    }
                };
                let p = &item.product;
                // Lot tracking is fixed once a product exists here: the
                // ledger's lots depend on it.
                product.execute(params![
                    p.sku.as_str(),
                    p.name,
                    p.unit,
                    p.category,
                    p.brand,
                    p.decimals,
                    p.lot_tracked
                ])?;
                let opt = |c: &str| Some(item.column(c)).filter(|v| !v.is_empty());
                extra.execute(params![
                    p.sku.as_str(),
                    item.gtin,
                    opt("list_price"),
                    opt("dealer_price"),
                    item.lead_time_days,
                    opt("min_order_qty"),
                    opt("pack_size"),
                ])?;
            }
        }
        DocId::Customers(_) => {
            tx.execute("DELETE FROM customer", [])?;
            let mut stmt = tx.prepare_cached(
                "INSERT INTO customer (id, name, contact, phone, address, region, type, credit_limit, terms_days, conflicts)
                 VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            )?;
            for c in Customer::read_all(doc) {
                stmt.execute(params![
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
                ])?;
            }
        }
        DocId::Policy(_) => {}
        DocId::SkuMap(_) => {
            tx.execute("DELETE FROM sku_map", [])?;
            let mut stmt = tx.prepare_cached("INSERT INTO sku_map (code, hq_sku) VALUES (?, ?)")?;
            for (code, sku) in docs::read_sku_map(doc) {
                stmt.execute(params![code.as_str(), sku.as_str()])?;
            }
        }
    }
    Ok(())
}

impl Store {
    /// This site's Automerge actor.
    pub fn actor(&self) -> Result<ActorId> {
        let raw: Option<Vec<u8>> = self
            .conn
            .query_row("SELECT actor FROM site", [], |r| r.get(0))?;
        match raw {
            Some(b) if b.len() == 16 => Ok(ActorId::from(b.as_slice())),
            _ => Err(AgentError::DataDir(
                "the ledger has no document actor; it was not migrated properly".into(),
            )),
        }
    }

    /// A document as this site holds it (empty if it has none yet).
    pub fn doc(&self, id: &DocId) -> Result<AutoCommit> {
        open_doc(&self.conn, &id.to_string(), &self.actor()?)
    }

    /// Edits one of this site's documents: `edit` runs on it with this
    /// site's actor; what changed is stored and materialized in one
    /// transaction. The change reaches the hub on the next sync.
    pub fn edit_doc<T>(
        &mut self,
        id: &DocId,
        edit: impl FnOnce(&mut AutoCommit) -> Result<T>,
    ) -> Result<T> {
        let actor = self.actor()?;
        let name = id.to_string();
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)?;
        let mut doc = open_doc(&tx, &name, &actor)?;
        let before = doc.get_heads();
        let out = edit(&mut doc)?;
        if doc.commit().is_some() {
            save(&tx, &name, &mut doc, &before)?;
            materialize(&tx, id, &doc)?;
        }
        tx.commit()?;
        Ok(out)
    }

    /// The documents this site syncs, and whether it writes each: every
    /// catalog shard (read), its customers (unless a dealer keeps customer
    /// identity to itself), and a dealer's policy and SKU map.
    pub fn synced_docs(&self) -> Result<Vec<(DocId, bool)>> {
        let me = self.site().id.clone();
        let mut out: Vec<(DocId, bool)> = DocId::catalog_shards().map(|d| (d, false)).collect();
        if self.site().kind == SiteKind::Dealer {
            out.push((DocId::Policy(me.clone()), true));
            out.push((DocId::SkuMap(me.clone()), true));
            if self.share_policy()?.sell_through == SellThrough::Identity {
                out.push((DocId::Customers(me), true));
            }
        } else {
            out.push((DocId::Customers(me), true));
        }
        Ok(out)
    }

    /// What to offer the hub for a document: this copy's heads and, for a
    /// document this site writes, the changes the hub has not acknowledged.
    pub fn doc_offer(&self, id: &DocId, writes: bool) -> Result<DocOffer> {
        let name = id.to_string();
        let row: Option<(Vec<u8>, Vec<u8>)> = self
            .conn
            .query_row("SELECT heads, acked FROM doc WHERE id = ?", [&name], |r| {
                Ok((r.get(0)?, r.get(1)?))
            })
            .optional()?;
        let (heads, acked) = row.unwrap_or_default();
        let mut changes = Vec::new();
        if writes && heads != acked {
            let mut doc = open_doc(&self.conn, &name, &self.actor()?)?;
            changes = doc
                .get_changes(&unpack_heads(&acked))
                .iter()
                .map(|c| c.raw_bytes().to_vec())
                .collect();
        }
        Ok(DocOffer {
            doc: name,
            heads: unpack_heads(&heads).iter().map(docs::hash_bytes).collect(),
            changes,
        })
    }

    /// Takes the hub's answer for a document: merges what it sent, and
    /// records its heads as acknowledged. Returns whether this copy changed.
    pub fn apply_doc_reply(&mut self, id: &DocId, reply: &DocReply) -> Result<bool> {
        Ok(self.apply_doc_replies(&[(id.clone(), reply)])? > 0)
    }

    /// Takes a whole answer of the hub as [`Store::apply_doc_reply`] takes
    /// one, all or nothing, in one transaction: a new agent's 64 catalog
    /// shards cost one commit (one fsync, each page written once) instead of
    /// one each. Returns how many copies changed.
    pub fn apply_doc_replies(&mut self, replies: &[(DocId, &DocReply)]) -> Result<u64> {
        // Nothing to merge, which is every document of an ordinary sync:
        // such a reply only moves the acknowledged heads, if they moved at
        // all, and its document is not loaded (a catalog shard costs time in
        // proportion to its size). With nothing to write, no transaction.
        let me = &self.site().id;
        // Only the catalog and this site's own documents may be written from
        // an answer: another site's customers must never land in this ledger.
        if let Some((id, _)) = replies
            .iter()
            .find(|(id, _)| id.owner().is_some_and(|o| o != me))
        {
            return Err(AgentError::HubRefused(format!(
                "the hub answered with document {id}, which belongs to another site"
            )));
        }
        let mut work = Vec::new();
        for (id, reply) in replies {
            let hub_heads = pack_heads(&docs::hashes_from_bytes(&reply.heads));
            if reply.data.is_empty() {
                let acked: Option<Vec<u8>> = self
                    .conn
                    .query_row(
                        "SELECT acked FROM doc WHERE id = ?",
                        [id.to_string()],
                        |r| r.get(0),
                    )
                    .optional()?;
                if acked.as_ref() == Some(&hub_heads) {
                    continue;
                }
            }
            work.push((id, *reply, hub_heads));
        }
        if work.is_empty() {
            return Ok(0);
        }
        let actor = self.actor()?;
        // A whole catalog's rows and snapshots in one transaction: with room
        // for them in the page cache, no page is spilled and written again.
        let cache_kib: i64 = self.conn.query_row("PRAGMA cache_size", [], |r| r.get(0))?;
        let grow = work.iter().any(|(_, reply, _)| !reply.data.is_empty());
        if grow {
            self.set_cache_kib(MERGE_CACHE_KIB)?;
        }
        let merged = self.merge_replies(work, &actor);
        if grow {
            // Restored whether or not the merge went through.
            self.conn.pragma_update(None, "cache_size", cache_kib)?;
        }
        merged
    }

    /// The write half of [`Store::apply_doc_replies`]: every reply's data
    /// and acknowledged heads in one transaction.
    fn merge_replies(
        &mut self,
        work: Vec<(&DocId, &DocReply, Vec<u8>)>,
        actor: &ActorId,
    ) -> Result<u64> {
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)?;
        let mut changed = 0;
        for (id, reply, hub_heads) in work {
            let name = id.to_string();
            if reply.data.is_empty() {
                tx.execute(
                    "INSERT INTO doc (id, snapshot, heads, acked, chunks) VALUES (?1, x'', x'', ?2, 0)
                     ON CONFLICT (id) DO UPDATE SET acked = ?2",
                    params![name, hub_heads],
                )?;
                continue;
            }
            let mut doc = open_doc(&tx, &name, actor)?;
            let before = doc.get_heads();
            for data in &reply.data {
                doc.load_incremental(data).map_err(|e| {
                    AgentError::HubRefused(format!(
                        "the hub sent document {name} data that does not load: {e}"
                    ))
                })?;
            }
            if doc.get_heads() != before {
                save(&tx, &name, &mut doc, &before)?;
                materialize(&tx, id, &doc)?;
                changed += 1;
            }
            tx.execute(
                "INSERT INTO doc (id, snapshot, heads, acked, chunks) VALUES (?1, x'', ?2, ?3, 0)
                 ON CONFLICT (id) DO UPDATE SET acked = ?3",
                params![name, pack_heads(&doc.get_heads()), hub_heads],
            )?;
        }
        tx.commit()?;
        Ok(changed)
    }

    /// Merges Automerge data from elsewhere (a document saved by another
    /// implementation, or its changes) into this site's copy. Returns
    /// whether the copy changed; the new changes sync like local edits.
    pub fn merge_doc(&mut self, id: &DocId, data: &[u8]) -> Result<bool> {
        let actor = self.actor()?;
        let name = id.to_string();
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)?;
        // Every Automerge chunk (document or change) starts with these bytes;
        // without the check a partial load would accept garbage as "nothing".
        const MAGIC: [u8; 4] = [0x85, 0x6f, 0x4a, 0x83];
        if !data.starts_with(&MAGIC) {
            return Err(jxc_shared::DomainError::new(
                "document",
                name,
                "the file is not an Automerge document or change (wrong magic bytes)",
            )
            .into());
        }
        let mut doc = open_doc(&tx, &name, &actor)?;
        let before = doc.get_heads();
        // Only this site's own edits may come in this way: a change by any
        // other actor would be refused at the hub, and so would every later
        // edit built on it, blocking the document for good.
        let mut scratch = doc.fork();
        scratch.load_incremental(data).map_err(|e| {
            AgentError::Invalid(jxc_shared::DomainError::new(
                "document",
                name.clone(),
                format!("the file does not load as Automerge data: {e}"),
            ))
        })?;
        if let Some(foreign) = scratch
            .get_changes(&before)
            .iter()
            .map(|c| c.actor_id().clone())
            .find(|a| *a != actor)
        {
            return Err(jxc_shared::DomainError::new(
                "document",
                name,
                format!(
                    "the file has changes by actor {foreign}, not this site's ({actor}); edit with this site's document actor (see `status`)"
                ),
            )
            .into());
        }
        doc.load_incremental(data).map_err(|e| {
            AgentError::Invalid(jxc_shared::DomainError::new(
                "document",
                name.clone(),
                format!("the file does not load as Automerge data: {e}"),
            ))
        })?;
        let changed = doc.get_heads() != before;
        if changed {
            save(&tx, &name, &mut doc, &before)?;
            materialize(&tx, id, &doc)?;
        }
        tx.commit()?;
        Ok(changed)
    }

    /// The documents this site holds: id, number of heads, chunks not yet
    /// folded into the snapshot, and whether the hub has acknowledged them.
    pub fn doc_list(&self) -> Result<Vec<(String, usize, i64, bool)>> {
        let mut stmt = self
            .conn
            .prepare("SELECT id, heads, chunks, heads = acked FROM doc ORDER BY id")?;
        let rows = stmt.query_map([], |r| {
            Ok((
                r.get::<_, String>(0)?,
                r.get::<_, Vec<u8>>(1)?.len() / 32,
                r.get(2)?,
                r.get(3)?,
            ))
        })?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    /// Folds every document's chunks into one snapshot. Storage only: the
    /// history the hub acknowledged stays mergeable.
    pub fn compact_docs(&mut self) -> Result<usize> {
        let actor = self.actor()?;
        let ids: Vec<String> = {
            let mut stmt = self.conn.prepare("SELECT id FROM doc WHERE chunks > 0")?;
            stmt.query_map([], |r| r.get(0))?
                .collect::<rusqlite::Result<_>>()?
        };
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)?;
        for id in &ids {
            let mut doc = open_doc(&tx, id, &actor)?;
            tx.execute("DELETE FROM doc_chunk WHERE doc_id = ?", [id])?;
            tx.execute(
                "UPDATE doc SET snapshot = ?, chunks = 0 WHERE id = ?",
                params![doc.save(), id],
            )?;
        }
        tx.commit()?;
        Ok(ids.len())
    }

    /// The sharing policy in force: a branch or HQ shares everything; a
    /// dealer shares what its policy document says (nothing until set, and
    /// nothing if the document is damaged).
    pub fn share_policy(&self) -> Result<SharePolicy> {
        if self.site().kind != SiteKind::Dealer {
            return Ok(SharePolicy::everything());
        }
        let doc = self.doc(&DocId::Policy(self.site().id.clone()))?;
        Ok(SharePolicy::read(&doc).unwrap_or_else(|e| {
            tracing::error!("the sharing policy does not parse, so nothing is shared: {e}");
            SharePolicy::default()
        }))
    }

    pub fn customers(&self) -> Result<Vec<Customer>> {
        let mut stmt = self.conn.prepare(
            "SELECT id, name, contact, phone, address, region, type, credit_limit, terms_days, conflicts
             FROM customer ORDER BY id",
        )?;
        let rows = stmt.query_map([], customer_from_row)?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    pub fn customer(&self, id: &str) -> Result<Option<Customer>> {
        let mut stmt = self.conn.prepare_cached(
            "SELECT id, name, contact, phone, address, region, type, credit_limit, terms_days, conflicts
             FROM customer WHERE id = ?",
        )?;
        Ok(stmt.query_row([id], customer_from_row).optional()?)
    }

    /// Counterparties of sales that name no registered customer, with how
    /// many sales each and the last one's business time.
    pub fn unregistered_counterparties(&self) -> Result<Vec<(String, u64, String)>> {
        let mut stmt = self.conn.prepare(
            "SELECT m.counterparty, COUNT(*), MAX(m.occurred_at) FROM movement m
             WHERE m.kind = 'sale' AND m.counterparty IS NOT NULL AND m.counterparty <> ''
               AND NOT EXISTS (SELECT 1 FROM customer c WHERE c.id = m.counterparty)
             GROUP BY m.counterparty ORDER BY COUNT(*) DESC, m.counterparty",
        )?;
        let rows = stmt.query_map([], |r| {
            Ok((r.get(0)?, r.get::<_, i64>(1)? as u64, r.get(2)?))
        })?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    /// The value at price of sales to `customer` dated from `since` on
    /// (net of returns): what the customer has bought still within terms.
    pub fn open_sales_value(
        &self,
        customer: &str,
        since: chrono::DateTime<chrono::FixedOffset>,
    ) -> Result<rust_decimal::Decimal> {
        let mut stmt = self.conn.prepare_cached(
            "SELECT qty, unit_price, occurred_at FROM movement
             WHERE counterparty = ? AND kind IN ('sale', 'customer_return') AND unit_price IS NOT NULL",
        )?;
        let rows = stmt.query_map([customer], |r| {
            Ok((
                r.get::<_, i64>(0)?,
                r.get::<_, String>(1)?,
                r.get::<_, String>(2)?,
            ))
        })?;
        let mut total = rust_decimal::Decimal::ZERO;
        for row in rows {
            let (qty, price, at) = row?;
            let recent = jxc_shared::time::parse_time("occurred_at", &at)
                .map(|t| t >= since)
                .unwrap_or(false);
            if let (true, Some(p)) = (recent, jxc_shared::Money::from_stored(&price)) {
                total -= jxc_shared::Quantity::from_micro(qty).decimal() * p.decimal();
            }
        }
        Ok(total.normalize())
    }

    pub fn sku_map(&self) -> Result<Vec<(String, String)>> {
        let mut stmt = self
            .conn
            .prepare("SELECT code, hq_sku FROM sku_map ORDER BY code")?;
        let rows = stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    /// The HQ SKU a dealer's own code maps to, if any.
    pub fn hq_sku_for(&self, code: &Sku) -> Result<Option<String>> {
        let mut stmt = self
            .conn
            .prepare_cached("SELECT hq_sku FROM sku_map WHERE code = ?")?;
        Ok(stmt.query_row([code.as_str()], |r| r.get(0)).optional()?)
    }

    /// Whether a dealer's movements of `sku` can reach HQ: an HQ catalog
    /// product, or a code of the dealer's mapped to one.
    pub fn leaves_as_hq_product(&self, sku: &Sku) -> Result<bool> {
        if self.hq_sku_for(sku)?.is_some() {
            return Ok(true);
        }
        let mut stmt = self
            .conn
            .prepare_cached("SELECT origin = 'hq' FROM product WHERE sku = ?")?;
        Ok(stmt
            .query_row([sku.as_str()], |r| r.get(0))
            .optional()?
            .unwrap_or(false))
    }

    /// Catalog details (prices, reorder fields) of an HQ product.
    pub fn catalog_item(&self, sku: &Sku) -> Result<Option<CatalogItem>> {
        catalog_item(&self.conn, sku)
    }
}

/// Catalog details of an HQ product, read on `conn` (a write transaction's,
/// say).
pub(super) fn catalog_item(conn: &Connection, sku: &Sku) -> Result<Option<CatalogItem>> {
    let Some(product) = super::product(conn, sku)? else {
        return Ok(None);
    };
    let mut stmt = conn.prepare_cached(
        "SELECT gtin, list_price, dealer_price, lead_time_days, min_order_qty, pack_size
         FROM catalog_item WHERE sku = ?",
    )?;
    let row: Option<[Option<String>; 6]> = stmt
        .query_row([sku.as_str()], |r| {
            Ok([
                r.get(0)?,
                r.get(1)?,
                r.get(2)?,
                r.get::<_, Option<i64>>(3)?.map(|d| d.to_string()),
                r.get(4)?,
                r.get(5)?,
            ])
        })
        .optional()?;
    let Some(row) = row else { return Ok(None) };
    let get = |c: &str| -> String {
        let i = match c {
            "gtin" => 0,
            "list_price" => 1,
            "dealer_price" => 2,
            "lead_time_days" => 3,
            "min_order_qty" => 4,
            "pack_size" => 5,
            _ => return product_column(&product, c),
        };
        row[i].clone().unwrap_or_default()
    };
    Ok(CatalogItem::from_text(get).ok())
}

fn product_column(p: &jxc_shared::Product, c: &str) -> String {
    match c {
        "sku" => p.sku.as_str().to_owned(),
        "name" => p.name.clone(),
        "unit" => p.unit.clone(),
        "decimals" => p.decimals.to_string(),
        "category" => p.category.clone(),
        "brand" => p.brand.clone(),
        "lot_tracked" => p.lot_tracked.to_string(),
        _ => String::new(),
    }
}

fn customer_from_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<Customer> {
    let limit: Option<String> = r.get(7)?;
    let conflicts: String = r.get(9)?;
    Ok(Customer {
        id: r.get(0)?,
        name: r.get(1)?,
        contact: r.get(2)?,
        phone: r.get(3)?,
        address: r.get(4)?,
        region: r.get(5)?,
        kind: r.get(6)?,
        credit_limit: limit.as_deref().and_then(jxc_shared::Money::from_stored),
        terms_days: r.get(8)?,
        conflicts: serde_json::from_str(&conflicts).unwrap_or_default(),
    })
}
