//! Crafted sync requests sent with the identity of one enrolled site that
//! has no ledger of its own (the rogue): each carries good receipts around
//! one bad record, so the checker knows exactly what the hub must hold and
//! exactly what it must have quarantined.
//!
//! The rogue also keeps a customers document of its own and sends document
//! changes it may not make (a catalog shard, HQ's or another site's actor, a
//! change built on a refused one), each twice, followed by a good edit of
//! its own customers: the hub must record every bad change exactly once
//! among its document refusals and keep every good one.

use super::schedule::{Bad, ROGUE};
use jxc_shared::MovementKind;
use jxc_shared::docs::automerge::{ActorId, AutoCommit, ScalarValue};
use jxc_shared::docs::{catalog_shard, ensure_record, hash_bytes, put_fields};
use jxc_shared::protocol::{
    CONTENT_TYPE, DocOffer, DocsRequest, DocsResponse, MAX_DOCS_RESPONSE_BYTES, PROTOCOL_HEADER,
    PROTOCOL_VERSION, SyncRequest, SyncResponse, WireMovement, decode, decode_limited, encode,
};
use std::collections::BTreeMap;

/// A record the hub must have quarantined: its kind (`refused` or
/// `conflict`), the record itself and a phrase its reason must contain.
#[derive(Debug, Clone)]
pub struct ExpectedQuarantine {
    pub seq: u64,
    pub kind: &'static str,
    pub reason_has: &'static str,
    pub record: WireMovement,
    pub bad: Bad,
}

/// A document change the hub must have refused, once.
#[derive(Debug, Clone)]
pub struct ExpectedRefusal {
    /// The change's hash, hex.
    pub hash: String,
    pub doc: String,
    pub reason_has: &'static str,
    pub bad: Bad,
}

/// What a crafted document change needs to know of the other parties.
pub struct DocContext {
    /// HQ's actor (derived from the hub's CA).
    pub hub_actor: ActorId,
    /// An honest site and its document actor.
    pub foreign: (String, ActorId),
    /// A catalog SKU to overwrite (or add) in the catalog.
    pub catalog_sku: String,
}

/// The rogue's own customer, edited by its good document changes.
pub const ROGUE_CUSTOMER: &str = "RG-1";

/// The rogue site's side of the story.
pub struct Rogue {
    client: reqwest::Client,
    hub_url: String,
    /// The next seq to send.
    next_seq: u64,
    /// The good receipts the hub must hold, in seq order.
    pub good: Vec<WireMovement>,
    pub quarantined: Vec<ExpectedQuarantine>,
    /// Crafted steps waiting for the hub to come back.
    pub queue: Vec<(Bad, u32)>,
    /// The rogue's document actor and its customers document (only the
    /// changes the hub accepted).
    actor: ActorId,
    customers: AutoCommit,
    /// The rogue's customers the hub must hold: id → fields.
    pub customers_held: BTreeMap<String, BTreeMap<&'static str, String>>,
    /// The document changes the hub must have refused.
    pub refusals: Vec<ExpectedRefusal>,
}

/// A fixed business time per seq, so a replayed seed crafts the same bytes.
fn at(seq: u64) -> i64 {
    // 2026-06-01T00:00:00Z plus a minute per seq.
    1_780_272_000_000 + seq as i64 * 60_000
}

fn receipt(seq: u64, salt: u32) -> WireMovement {
    WireMovement {
        seq,
        kind: MovementKind::Receipt,
        location: format!("{ROGUE}/main"),
        sku: "TEA".into(),
        lot: String::new(),
        qty_micro: i64::from(1 + salt % 50) * 1_000_000,
        unit_cost: "3.5".into(),
        unit_price: None,
        counterparty: Some("供应商, 乙".into()),
        reference: Some(format!("RG-{seq}")),
        reason: None,
        transfer_id: None,
        occurred_ms: at(seq),
        offset_min: 480,
        recorded_ms: at(seq),
    }
}

impl Rogue {
    pub fn new(
        hub_url: &str,
        ca_pem: &str,
        cert: &str,
        key: &str,
        actor: ActorId,
    ) -> Result<Rogue, String> {
        let ca = reqwest::Certificate::from_pem(ca_pem.as_bytes()).map_err(|e| e.to_string())?;
        let identity =
            reqwest::Identity::from_pem(format!("{}\n{key}", cert.trim_end()).as_bytes())
                .map_err(|e| e.to_string())?;
        let client = reqwest::Client::builder()
            .tls_certs_only([ca])
            .identity(identity)
            .pool_max_idle_per_host(0)
            .timeout(std::time::Duration::from_secs(30))
            .build()
            .map_err(|e| e.to_string())?;
        Ok(Rogue {
            client,
            hub_url: hub_url.to_owned(),
            next_seq: 1,
            good: Vec::new(),
            quarantined: Vec::new(),
            queue: Vec::new(),
            customers: AutoCommit::new().with_actor(actor.clone()),
            actor,
            customers_held: BTreeMap::new(),
            refusals: Vec::new(),
        })
    }

    async fn post(&self, req: &SyncRequest) -> Result<SyncResponse, String> {
        let resp = self
            .client
            .post(format!("{}/v1/sync", self.hub_url))
            .header("content-type", CONTENT_TYPE)
            .header(PROTOCOL_HEADER, PROTOCOL_VERSION.to_string())
            .body(encode(req))
            .send()
            .await
            .map_err(|e| format!("crafted request: {e}"))?;
        let status = resp.status();
        let body = resp.bytes().await.map_err(|e| e.to_string())?;
        if !status.is_success() {
            return Err(format!(
                "the hub answered a crafted request {status}: {}",
                String::from_utf8_lossy(&body)
            ));
        }
        decode("sync response", &body).map_err(|e| e.to_string())
    }

    /// Sends one crafted request; a transport error is retried, since every
    /// record in it is idempotent except a conflict, which is sent alone and
    /// once (see [`Rogue::send_conflict`]).
    fn send(
        &self,
        rt: &tokio::runtime::Handle,
        movements: Vec<WireMovement>,
    ) -> Result<SyncResponse, String> {
        let from_seq = movements.first().map_or(self.next_seq, |m| m.seq);
        let req = SyncRequest {
            from_seq,
            agent_last_seq: movements.last().map_or(self.next_seq - 1, |m| m.seq),
            movements,
            transfers_cursor: 0,
            locations: Vec::new(),
            agent_time_ms: chrono::Utc::now().timestamp_millis(),
        };
        let mut last = String::new();
        for _ in 0..3 {
            match rt.block_on(self.post(&req)) {
                Ok(r) => return Ok(r),
                Err(e) => last = e,
            }
            std::thread::sleep(std::time::Duration::from_millis(200));
        }
        Err(last)
    }

    /// Crafts `bad` between two good receipts and checks the hub's answer.
    /// `stolen` is a transfer id addressed to another site, if one exists.
    pub fn craft(
        &mut self,
        rt: &tokio::runtime::Handle,
        bad: Bad,
        salt: u32,
        stolen: Option<&str>,
        quarantine_rows: impl Fn() -> Result<usize, String>,
    ) -> Result<(), String> {
        if bad == Bad::Conflict {
            return self.send_conflict(rt, salt, quarantine_rows);
        }
        let n = self.next_seq;
        let before = receipt(n, salt);
        let mut record = receipt(n + 1, salt / 7);
        let (kind, reason_has, bad) = match (bad, stolen) {
            (Bad::ForeignLocation, _) => {
                record.location = "HQ01/main".into();
                ("refused", "does not own", bad)
            }
            (Bad::WrongSign, _) => {
                record.kind = MovementKind::Sale;
                record.unit_price = Some("9.9".into());
                ("refused", "wrong sign", bad)
            }
            (Bad::ZeroQty, _) => {
                record.qty_micro = 0;
                ("refused", "must not be 0", bad)
            }
            (Bad::BadSku, _) => {
                // Any printable text is a SKU; a control character is not.
                record.sku = "TEA\u{7}".into();
                ("refused", "sku", bad)
            }
            (Bad::StolenTransferIn, Some(id)) => {
                record.kind = MovementKind::TransferIn;
                record.transfer_id = Some(id.to_owned());
                record.counterparty = None;
                ("refused", "was sent to", bad)
            }
            (Bad::UnsentTransferIn | Bad::StolenTransferIn, _) => {
                record.kind = MovementKind::TransferIn;
                record.transfer_id = Some(format!("T-ZZ99-{salt}"));
                record.counterparty = None;
                ("refused", "never sent", Bad::UnsentTransferIn)
            }
            (Bad::Conflict, _) => unreachable!("handled above"),
            (Bad::CatalogWrite | Bad::ClaimsHq | Bad::ForeignActor | Bad::OnRefused, _) => {
                return Err(format!("{bad:?} is a document change, not a movement"));
            }
        };
        let after = receipt(n + 2, salt / 13);
        let resp = self.send(rt, vec![before.clone(), record.clone(), after.clone()])?;
        let quarantined: Vec<u64> = resp.quarantined.iter().map(|q| q.seq).collect();
        if resp.hwm != n + 2 || quarantined != [n + 1] {
            return Err(format!(
                "crafted {bad:?} at seq {}: the hub answered hwm {} and quarantined {:?}, expected hwm {} and [{}]",
                n + 1,
                resp.hwm,
                resp.quarantined,
                n + 2,
                n + 1
            ));
        }
        self.good.push(before);
        self.good.push(after);
        self.quarantined.push(ExpectedQuarantine {
            seq: n + 1,
            kind,
            reason_has,
            record,
            bad,
        });
        self.next_seq = n + 3;
        Ok(())
    }

    /// Sends a held seq again with other content. The hub quarantines every
    /// copy of a conflict, so after a transport error the quarantine is
    /// read before sending again.
    fn send_conflict(
        &mut self,
        rt: &tokio::runtime::Handle,
        salt: u32,
        quarantine_rows: impl Fn() -> Result<usize, String>,
    ) -> Result<(), String> {
        if self.good.is_empty() {
            let first = receipt(self.next_seq, salt);
            let resp = self.send(rt, vec![first.clone()])?;
            if resp.hwm != first.seq || !resp.quarantined.is_empty() {
                return Err(format!("a crafted good receipt was not taken: {resp:?}"));
            }
            self.good.push(first);
            self.next_seq += 1;
        }
        let held = &self.good[salt as usize % self.good.len()];
        let mut changed = held.clone();
        changed.qty_micro += 1_000_000;
        let req = SyncRequest {
            from_seq: changed.seq,
            movements: vec![changed.clone()],
            agent_last_seq: self.next_seq - 1,
            transfers_cursor: 0,
            locations: Vec::new(),
            agent_time_ms: chrono::Utc::now().timestamp_millis(),
        };
        let rows_before = quarantine_rows()?;
        let resp = match rt.block_on(self.post(&req)) {
            Ok(r) => Some(r),
            Err(_) if quarantine_rows()? > rows_before => None,
            Err(_) => Some(rt.block_on(self.post(&req))?),
        };
        if let Some(r) = resp {
            let seqs: Vec<u64> = r.quarantined.iter().map(|q| q.seq).collect();
            if seqs != [changed.seq] || r.hwm != self.next_seq - 1 {
                return Err(format!(
                    "crafted conflict at seq {}: the hub answered {r:?}",
                    changed.seq
                ));
            }
        }
        self.quarantined.push(ExpectedQuarantine {
            seq: changed.seq,
            kind: "conflict",
            reason_has: "conflict",
            record: changed,
            bad: Bad::Conflict,
        });
        Ok(())
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Commits `doc` and returns its last local change: bytes and hash (hex).
fn last_change(doc: &mut AutoCommit) -> Result<(Vec<u8>, String), String> {
    doc.commit();
    let change = doc
        .get_last_local_change()
        .ok_or("the crafted edit made no change")?;
    Ok((change.raw_bytes().to_vec(), hex(&change.hash().0)))
}

fn heads_of(doc: &mut AutoCommit) -> Vec<[u8; 32]> {
    doc.get_heads().iter().map(hash_bytes).collect()
}

fn set_text(doc: &mut AutoCommit, id: &str, fields: &[(&str, &str)]) -> Result<(), String> {
    let obj = ensure_record(doc, id).map_err(|e| e.to_string())?;
    let values: Vec<(&str, ScalarValue)> = fields
        .iter()
        .map(|(k, v)| (*k, ScalarValue::Str((*v).into())))
        .collect();
    put_fields(doc, &obj, &values).map_err(|e| e.to_string())?;
    Ok(())
}

impl Rogue {
    fn my_customers() -> String {
        format!("customers/{ROGUE}")
    }

    async fn post_docs(&self, req: &DocsRequest) -> Result<DocsResponse, String> {
        let resp = self
            .client
            .post(format!("{}/v1/docs", self.hub_url))
            .header("content-type", CONTENT_TYPE)
            .header(PROTOCOL_HEADER, PROTOCOL_VERSION.to_string())
            .body(encode(req))
            .send()
            .await
            .map_err(|e| format!("crafted documents request: {e}"))?;
        let status = resp.status();
        let body = resp.bytes().await.map_err(|e| e.to_string())?;
        if !status.is_success() {
            return Err(format!(
                "the hub answered a crafted documents request {status}: {}",
                String::from_utf8_lossy(&body)
            ));
        }
        decode_limited("documents response", &body, MAX_DOCS_RESPONSE_BYTES)
            .map_err(|e| e.to_string())
    }

    /// Sends one offer (every change in it may be sent again: the hub takes
    /// a change it holds as a repeat and records a refusal once), retrying
    /// after a transport error.
    fn offer(
        &self,
        rt: &tokio::runtime::Handle,
        offer: DocOffer,
    ) -> Result<jxc_shared::protocol::DocReply, String> {
        let req = DocsRequest {
            offers: vec![offer],
        };
        let mut last = String::new();
        for _ in 0..3 {
            match rt.block_on(self.post_docs(&req)) {
                Ok(mut r) if r.replies.len() == 1 => return Ok(r.replies.remove(0)),
                Ok(r) => return Err(format!("one offer, {} replies", r.replies.len())),
                Err(e) => last = e,
            }
            std::thread::sleep(std::time::Duration::from_millis(200));
        }
        Err(last)
    }

    /// A good edit of the rogue's own customer; the hub must take it whole.
    fn good_edit(&mut self, rt: &tokio::runtime::Handle, salt: u32) -> Result<(), String> {
        let name = format!("流氓, \"客户\" {}", salt % 97);
        let phone = format!("0571-{salt}");
        let mut doc = self.customers.fork();
        doc.set_actor(self.actor.clone());
        set_text(
            &mut doc,
            ROGUE_CUSTOMER,
            &[("name", &name), ("phone", &phone)],
        )?;
        let (change, _) = last_change(&mut doc)?;
        let heads = heads_of(&mut doc);
        let reply = self.offer(
            rt,
            DocOffer {
                doc: Self::my_customers(),
                heads: heads.clone(),
                changes: vec![change],
            },
        )?;
        if reply.error.is_some() || !reply.refused.is_empty() || reply.heads != heads {
            return Err(format!(
                "the hub did not take the rogue's good customer edit: {:?} {:?}, heads {} of {}",
                reply.error,
                reply.refused,
                reply.heads.len(),
                heads.len()
            ));
        }
        self.customers = doc;
        let held = self
            .customers_held
            .entry(ROGUE_CUSTOMER.to_owned())
            .or_default();
        held.insert("name", name);
        held.insert("phone", phone);
        Ok(())
    }

    /// Sends a bad document change (twice, as a retry would), checks that
    /// the hub refused exactly the expected changes, then makes a good edit.
    /// Returns how many bad changes were sent.
    pub fn craft_doc(
        &mut self,
        rt: &tokio::runtime::Handle,
        bad: Bad,
        salt: u32,
        ctx: &DocContext,
    ) -> Result<u64, String> {
        if self.customers_held.is_empty() {
            // A good change first, so the bad ones have something to build on.
            self.good_edit(rt, salt / 3)?;
        }
        let mine = Self::my_customers();
        // (document, changes, heads, expected refusals: hash and phrase)
        let (doc, changes, heads, expected) = match bad {
            Bad::CatalogWrite => {
                let shard = catalog_shard(&ctx.catalog_sku).to_string();
                let copy = self.offer(
                    rt,
                    DocOffer {
                        doc: shard.clone(),
                        heads: Vec::new(),
                        changes: Vec::new(),
                    },
                )?;
                let mut doc = AutoCommit::new().with_actor(self.actor.clone());
                for data in &copy.data {
                    doc.load_incremental(data).map_err(|e| e.to_string())?;
                }
                let name = format!("伪造, \"fake\" {salt}");
                set_text(
                    &mut doc,
                    &ctx.catalog_sku,
                    &[("name", &name), ("list_price", "0.01")],
                )?;
                let (change, hash) = last_change(&mut doc)?;
                let heads = heads_of(&mut doc);
                (
                    shard,
                    vec![change],
                    heads,
                    vec![(hash, "may not write the catalog")],
                )
            }
            Bad::ClaimsHq | Bad::ForeignActor => {
                let (actor, phrase) = if bad == Bad::ClaimsHq {
                    (ctx.hub_actor.clone(), "HQ's actor")
                } else {
                    // Bound to its site as it enrolled ("belongs to site …").
                    (ctx.foreign.1.clone(), "actor")
                };
                let mut doc = self.customers.fork();
                doc.set_actor(actor);
                let limit = format!("{}", 100_000 + salt % 1000);
                set_text(&mut doc, ROGUE_CUSTOMER, &[("credit_limit", &limit)])?;
                let (change, hash) = last_change(&mut doc)?;
                let heads = heads_of(&mut doc);
                (mine, vec![change], heads, vec![(hash, phrase)])
            }
            Bad::OnRefused => {
                let mut doc = self.customers.fork();
                doc.set_actor(ctx.hub_actor.clone());
                set_text(&mut doc, ROGUE_CUSTOMER, &[("terms_days", "365")])?;
                let (first, first_hash) = last_change(&mut doc)?;
                doc.set_actor(self.actor.clone());
                set_text(&mut doc, ROGUE_CUSTOMER, &[("phone", "built-on-refused")])?;
                let (second, second_hash) = last_change(&mut doc)?;
                let heads = heads_of(&mut doc);
                (
                    mine,
                    vec![first, second],
                    heads,
                    vec![
                        (first_hash, "HQ's actor"),
                        (second_hash, "builds on refused change"),
                    ],
                )
            }
            other => return Err(format!("{other:?} is not a document change")),
        };
        for attempt in 0..2 {
            let reply = self.offer(
                rt,
                DocOffer {
                    doc: doc.clone(),
                    heads: heads.clone(),
                    changes: changes.clone(),
                },
            )?;
            let refused: Vec<(String, &str)> = reply
                .refused
                .iter()
                .map(|r| (hex(&r.hash), r.reason.as_str()))
                .collect();
            let fits = reply.error.is_none()
                && refused.len() == expected.len()
                && refused
                    .iter()
                    .zip(&expected)
                    .all(|((h, reason), (want, phrase))| h == want && reason.contains(phrase));
            if !fits {
                return Err(format!(
                    "crafted {bad:?} (send {}) to {doc}: the hub answered error {:?}, refused {refused:?}; expected {expected:?}",
                    attempt + 1,
                    reply.error
                ));
            }
        }
        for (hash, phrase) in &expected {
            self.refusals.push(ExpectedRefusal {
                hash: hash.clone(),
                doc: doc.clone(),
                reason_has: phrase,
                bad,
            });
        }
        self.good_edit(rt, salt)?;
        Ok(expected.len() as u64)
    }
}
