//! Documents that many sites edit: the HQ catalog, each site's customers, a
//! dealer's sharing policy and its SKU mapping. Each is a plain Automerge
//! document, so concurrent offline edits merge field by field and any other
//! Automerge implementation can load one.
//!
//! Shape: every document's root is a map. Record documents (catalog shards,
//! customers, SKU map) hold one map per record under its key, and every field
//! of a record is a scalar; the sharing policy keeps its fields at the root.
//! Nothing is nested deeper, which is what lets the hub authorize a change by
//! looking at its operations alone (see [`authorize`]).

mod schema;

pub use schema::{
    CATALOG_COLUMNS, CREDIT_FIELDS, CatalogItem, Customer, CustomerField, SellThrough, SharePolicy,
    StockScope, customer_id, read_sku_map, set_sku_mapping,
};

use std::collections::BTreeMap;
use std::fmt;

use automerge::{
    ActorId, AutoCommit, ChangeHash, ExpandedChange, ObjId, ObjType, ROOT, ReadDoc, ScalarValue,
    Value, transaction::Transactable,
};
use sha2::{Digest, Sha256};

use crate::{DomainError, SiteId, SiteKind};

pub use automerge;

/// The catalog is split into this many documents by a hash of the SKU, so no
/// one document grows large (an Automerge change costs time that grows with
/// its document) and a product may change category without moving.
pub const CATALOG_SHARDS: u8 = 64;

/// Which document: its name on the wire and in storage is its `Display` form
/// (`catalog/07`, `customers/BR-SH`, `policy/DL-9`, `skumap/DL-9`).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum DocId {
    Catalog(u8),
    Customers(SiteId),
    Policy(SiteId),
    SkuMap(SiteId),
}

impl DocId {
    pub fn parse(s: &str) -> Result<Self, DomainError> {
        let bad = |why: &str| DomainError::new("document", s, why.to_owned());
        let site = |rest: &str| SiteId::parse(rest).map_err(|e| bad(&e.reason));
        let (kind, rest) = s
            .split_once('/')
            .ok_or_else(|| bad("use catalog/NN, customers/SITE, policy/SITE or skumap/SITE"))?;
        Ok(match kind {
            "catalog" => match rest.parse::<u8>() {
                Ok(n) if n < CATALOG_SHARDS && rest.len() == 2 => DocId::Catalog(n),
                _ => return Err(bad("a catalog shard is two digits, 00 to 63")),
            },
            "customers" => DocId::Customers(site(rest)?),
            "policy" => DocId::Policy(site(rest)?),
            "skumap" => DocId::SkuMap(site(rest)?),
            _ => return Err(bad("unknown kind of document")),
        })
    }

    /// The site a per-site document belongs to; `None` for the catalog.
    pub fn owner(&self) -> Option<&SiteId> {
        match self {
            DocId::Catalog(_) => None,
            DocId::Customers(s) | DocId::Policy(s) | DocId::SkuMap(s) => Some(s),
        }
    }

    pub fn catalog_shards() -> impl Iterator<Item = DocId> {
        (0..CATALOG_SHARDS).map(DocId::Catalog)
    }
}

impl fmt::Display for DocId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DocId::Catalog(n) => write!(f, "catalog/{n:02}"),
            DocId::Customers(s) => write!(f, "customers/{}", s.as_str()),
            DocId::Policy(s) => write!(f, "policy/{}", s.as_str()),
            DocId::SkuMap(s) => write!(f, "skumap/{}", s.as_str()),
        }
    }
}

/// The catalog shard a SKU lives in (FNV-1a, stable across versions).
pub fn catalog_shard(sku: &str) -> DocId {
    let mut h: u32 = 0x811c_9dc5;
    for b in sku.as_bytes() {
        h ^= u32::from(*b);
        h = h.wrapping_mul(0x0100_0193);
    }
    DocId::Catalog((h % u32::from(CATALOG_SHARDS)) as u8)
}

/// The Automerge actor of the holder of a client certificate: the hub derives
/// it when it signs the certificate and the agent from its own copy, so an
/// actor maps to exactly one site without any extra registration step.
pub fn site_actor(cert_der: &[u8]) -> ActorId {
    actor_from("jxc-site-actor", cert_der)
}

/// The hub's own actor (HQ's edits), derived from its CA certificate.
pub fn hub_actor(ca_der: &[u8]) -> ActorId {
    actor_from("jxc-hub-actor", ca_der)
}

fn actor_from(tag: &str, der: &[u8]) -> ActorId {
    let mut h = Sha256::new();
    h.update(tag.as_bytes());
    h.update([0]);
    h.update(der);
    ActorId::from(&h.finalize()[..16])
}

/// Who made a change, as the hub established it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Writer<'a> {
    /// HQ, through the hub.
    Hub,
    Site(&'a SiteId),
}

/// Decides whether `writer` may make `change` to `doc`, whose owner (for a
/// per-site document) is of kind `owner_kind`. The rules, per DESIGN "Trust":
/// - the catalog is written by HQ only;
/// - a site's customers are written by that site; HQ may set only the credit
///   fields of an existing customer of a branch;
/// - a dealer's sharing policy and SKU map are written by that dealer only.
pub fn authorize(
    doc: &DocId,
    owner_kind: Option<SiteKind>,
    writer: Writer<'_>,
    change: &ExpandedChange,
) -> Result<(), String> {
    match (doc, writer) {
        (DocId::Catalog(_), Writer::Hub) => Ok(()),
        (DocId::Catalog(_), Writer::Site(s)) => Err(format!(
            "site {} may not write the catalog; only HQ does",
            s.as_str()
        )),
        (DocId::Customers(owner), Writer::Site(s)) if s == owner => Ok(()),
        (DocId::Customers(owner), Writer::Hub) => {
            if owner_kind != Some(SiteKind::Branch) {
                return Err(format!(
                    "HQ may set credit fields only on a branch's customers, and {} is not a branch",
                    owner.as_str()
                ));
            }
            credit_fields_only(change)
        }
        (DocId::Policy(owner) | DocId::SkuMap(owner), Writer::Site(s)) if s == owner => {
            if owner_kind == Some(SiteKind::Dealer) {
                Ok(())
            } else {
                Err(format!(
                    "{doc} belongs to a dealer, and {} is not one",
                    owner.as_str()
                ))
            }
        }
        (_, Writer::Hub) => Err(format!("{doc} is written by its dealer only, not by HQ")),
        (_, Writer::Site(s)) => Err(format!(
            "site {} may not write {doc}, which belongs to another site",
            s.as_str()
        )),
    }
}

/// HQ's edit of a branch customer: only scalar puts of the credit fields on
/// an existing record (no new records, no deletions, no nested objects).
fn credit_fields_only(change: &ExpandedChange) -> Result<(), String> {
    use automerge::legacy::{Key, ObjectId, OpType};
    for op in &change.operations {
        let field = match (&op.obj, &op.key) {
            (ObjectId::Id(_), Key::Map(k)) => k.as_str(),
            _ => return Err("HQ may not add or remove a site's customers".to_owned()),
        };
        if !CREDIT_FIELDS.contains(&field) {
            return Err(format!(
                "HQ may set only {} on a branch customer, not {field}",
                CREDIT_FIELDS.join(" and ")
            ));
        }
        if !matches!(op.action, OpType::Put(_)) {
            return Err(format!("HQ may only set {field}, not delete or nest it"));
        }
    }
    Ok(())
}

/// One field of a record: the value every replica shows, and the values of
/// concurrent edits it won over (empty unless two sites edited it at once).
#[derive(Debug, Clone, PartialEq)]
pub struct Field {
    pub value: ScalarValue,
    pub others: Vec<ScalarValue>,
}

pub type Fields = BTreeMap<String, Field>;

/// Reads the scalar fields of a map object: one pass over the map, and a
/// second look only at fields in conflict.
pub fn read_fields(doc: &AutoCommit, obj: &ObjId) -> Fields {
    let mut out = Fields::new();
    for item in doc.map_range(obj, ..) {
        let winner: ScalarValue = match &item.value {
            automerge::ValueRef::Scalar(v) => v.clone().into(),
            // Automerge JS 3 stores a plain string as a text object: read it
            // as the string it is.
            automerge::ValueRef::Object(ObjType::Text) => match doc.text(item.id()) {
                Ok(t) => ScalarValue::Str(t.into()),
                Err(_) => continue,
            },
            _ => continue,
        };
        let others = if item.conflict {
            doc.get_all(obj, item.key.as_ref())
                .unwrap_or_default()
                .into_iter()
                .filter_map(|(v, _)| match v {
                    Value::Scalar(s) if *s != winner => Some(s.into_owned()),
                    _ => None,
                })
                .collect()
        } else {
            Vec::new()
        };
        out.insert(
            item.key.to_string(),
            Field {
                value: winner,
                others,
            },
        );
    }
    out
}

/// The record maps at the root, by key.
pub fn records(doc: &AutoCommit) -> Vec<(String, ObjId)> {
    doc.map_range(ROOT, ..)
        .filter_map(|item| match item.value {
            automerge::ValueRef::Object(ObjType::Map) => Some((item.key.to_string(), item.id())),
            _ => None,
        })
        .collect()
}

/// The map of record `key`, if there is one.
pub fn record(doc: &AutoCommit, key: &str) -> Option<ObjId> {
    match doc.get(ROOT, key) {
        Ok(Some((Value::Object(ObjType::Map), id))) => Some(id),
        _ => None,
    }
}

/// Sets fields of `obj`, writing only those whose value differs, so that
/// re-importing an unchanged file adds no history. Returns how many changed.
pub fn put_fields(
    doc: &mut AutoCommit,
    obj: &ObjId,
    fields: &[(&str, ScalarValue)],
) -> Result<usize, automerge::AutomergeError> {
    let mut changed = 0;
    for (key, value) in fields {
        let same = match doc.get_all(obj, *key)?.as_slice() {
            [(Value::Scalar(v), _)] => v.as_ref() == value,
            _ => false,
        };
        if !same {
            doc.put(obj, *key, value.clone())?;
            changed += 1;
        }
    }
    Ok(changed)
}

/// The map of record `key`, created if it does not exist yet.
pub fn ensure_record(doc: &mut AutoCommit, key: &str) -> Result<ObjId, automerge::AutomergeError> {
    match record(doc, key) {
        Some(id) => Ok(id),
        None => doc.put_object(ROOT, key, ObjType::Map),
    }
}

/// A change hash as 32 bytes, for the wire and storage.
pub fn hash_bytes(h: &ChangeHash) -> [u8; 32] {
    h.0
}

pub fn hashes_from_bytes(raw: &[[u8; 32]]) -> Vec<ChangeHash> {
    raw.iter().map(|b| ChangeHash(*b)).collect()
}

/// Heads packed for storage: 32 bytes each, sorted.
pub fn pack_heads(heads: &[ChangeHash]) -> Vec<u8> {
    let mut hs: Vec<[u8; 32]> = heads.iter().map(hash_bytes).collect();
    hs.sort_unstable();
    hs.concat()
}

pub fn unpack_heads(bytes: &[u8]) -> Vec<ChangeHash> {
    bytes
        .chunks_exact(32)
        .filter_map(|c| <[u8; 32]>::try_from(c).ok().map(ChangeHash))
        .collect()
}

/// Text of a scalar as a user sees it.
pub fn scalar_text(v: &ScalarValue) -> String {
    match v {
        ScalarValue::Str(s) => s.to_string(),
        ScalarValue::Int(i) => i.to_string(),
        ScalarValue::Uint(u) => u.to_string(),
        ScalarValue::Boolean(b) => b.to_string(),
        ScalarValue::Null => String::new(),
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests;
