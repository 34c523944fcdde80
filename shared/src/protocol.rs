//! The agent ⇄ hub sync protocol: closed, versioned message types and their
//! byte encoding. Parsing (bytes → message) is separate from validating a
//! record (message → domain movement), which is separate from applying it.
//!
//! A request travels as `zstd(postcard(message))` with the protocol version
//! in the `x-jxc-protocol` header, so a hub can refuse a version it does not
//! speak before decoding anything.

use crate::time::parse_time;
use crate::{
    DomainError, Lot, Money, Movement, MovementDraft, MovementKind, Quantity, SiteId, Sku,
};
use chrono::{DateTime, FixedOffset, TimeZone};
use serde::{Deserialize, Serialize};

/// The protocol this build speaks.
pub const PROTOCOL_VERSION: u16 = 1;
/// The oldest protocol a hub of this build still accepts.
pub const MIN_PROTOCOL_VERSION: u16 = 1;
pub const PROTOCOL_HEADER: &str = "x-jxc-protocol";
pub const CONTENT_TYPE: &str = "application/x-jxc-sync";

/// Most movements one sync request carries.
pub const MAX_BATCH_MOVEMENTS: usize = 5_000;
/// Most bytes one encoded (uncompressed) request may take; the hub refuses
/// larger bodies before decompressing past it.
pub const MAX_BATCH_BYTES: usize = 4 * 1024 * 1024;

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ProtocolError {
    #[error(
        "protocol version {0} is not supported: this side speaks {MIN_PROTOCOL_VERSION} to {PROTOCOL_VERSION}"
    )]
    Version(String),
    #[error("the body is not valid zstd-compressed data")]
    Compression,
    #[error("the body exceeds {MAX_BATCH_BYTES} bytes once decompressed")]
    TooLarge,
    #[error("the body does not decode as a {what}: {detail}")]
    Decode { what: &'static str, detail: String },
}

/// One movement as it travels: compact, with the location named globally
/// (`SITE/LOC`) so the hub can check who owns it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WireMovement {
    pub seq: u64,
    pub kind: MovementKind,
    pub location: String,
    pub sku: String,
    pub lot: String,
    pub qty_micro: i64,
    pub unit_cost: String,
    pub unit_price: Option<String>,
    pub counterparty: Option<String>,
    pub reference: Option<String>,
    pub reason: Option<String>,
    pub transfer_id: Option<String>,
    /// Business time: milliseconds since the epoch and the writer's UTC offset in minutes.
    pub occurred_ms: i64,
    pub offset_min: i16,
    pub recorded_ms: i64,
}

fn to_ms(t: &DateTime<FixedOffset>) -> (i64, i16) {
    (
        t.timestamp_millis(),
        (t.offset().local_minus_utc() / 60) as i16,
    )
}

fn from_ms(
    field: &'static str,
    ms: i64,
    offset_min: i16,
) -> Result<DateTime<FixedOffset>, DomainError> {
    let bad = || DomainError::new(field, ms.to_string(), "not a valid time");
    let tz = FixedOffset::east_opt(i32::from(offset_min) * 60).ok_or_else(bad)?;
    let t = tz.timestamp_millis_opt(ms).single().ok_or_else(bad)?;
    // The same range the agent accepts at the keyboard.
    parse_time(field, &crate::time::format_time(&t))
}

impl WireMovement {
    pub fn from_movement(site: &SiteId, m: &Movement) -> Self {
        let d = &m.draft;
        let (occurred_ms, offset_min) = to_ms(&d.occurred_at);
        Self {
            seq: m.seq,
            kind: d.kind,
            location: format!("{site}/{}", d.location),
            sku: d.sku.to_string(),
            lot: d.lot.as_ref().map(Lot::to_string).unwrap_or_default(),
            qty_micro: d.qty.to_micro(),
            unit_cost: m.unit_cost.to_string(),
            unit_price: d.unit_price.map(|p| p.to_string()),
            counterparty: d.counterparty.clone(),
            reference: d.reference.clone(),
            reason: d.reason.clone(),
            transfer_id: d.transfer_id.clone(),
            occurred_ms,
            offset_min,
            recorded_ms: m.recorded_at.timestamp_millis(),
        }
    }

    /// Checks every field and that `site` owns the location. The hub runs
    /// this on each record it receives; a failure quarantines that record.
    pub fn validate(&self, site: &SiteId) -> Result<Movement, DomainError> {
        let loc = crate::ids::GlobalLocation::parse("location", &self.location)?;
        if &loc.site != site {
            return Err(DomainError::new(
                "location",
                &self.location,
                format!("site {site} does not own it"),
            ));
        }
        if self.seq == 0 {
            return Err(DomainError::new("seq", "0", "seqs start at 1"));
        }
        let qty = Quantity::from_micro(self.qty_micro);
        if qty.is_zero() || qty.checked_micro().is_none() {
            return Err(DomainError::new("qty", qty.to_string(), "must not be 0"));
        }
        let expect_sign_ok = match self.kind.direction() {
            crate::movement::Direction::In => !qty.is_negative(),
            crate::movement::Direction::Out => qty.is_negative(),
            crate::movement::Direction::Either => true,
        };
        if !expect_sign_ok {
            return Err(DomainError::new(
                "qty",
                qty.to_string(),
                format!("has the wrong sign for a {}", self.kind.as_str()),
            ));
        }
        let opt_money =
            |field, v: &Option<String>| v.as_deref().map(|s| Money::parse(field, s)).transpose();
        let text = |field, v: &Option<String>, max| {
            v.as_deref()
                .map(|s| crate::product::check_text(field, s, max))
                .transpose()
        };
        let recorded_at = from_ms("recorded_at", self.recorded_ms, 0)?;
        Ok(Movement {
            seq: self.seq,
            draft: MovementDraft {
                kind: self.kind,
                location: loc.location,
                sku: Sku::parse(&self.sku)?,
                lot: if self.lot.is_empty() {
                    None
                } else {
                    Some(Lot::parse(&self.lot)?)
                },
                qty,
                unit_cost: None,
                unit_price: opt_money("unit_price", &self.unit_price)?,
                counterparty: text("counterparty", &self.counterparty, 200)?,
                reference: text("ref", &self.reference, 100)?,
                reason: text("reason", &self.reason, 200)?,
                transfer_id: text("transfer_id", &self.transfer_id, 100)?,
                occurred_at: from_ms("occurred_at", self.occurred_ms, self.offset_min)?,
            },
            unit_cost: Money::parse("unit_cost", &self.unit_cost)?,
            recorded_at,
        })
    }
}

/// A location this site owns, so the hub can show it before it has stock.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WireLocation {
    pub id: String,
    pub name: String,
}

/// What an agent sends on each sync round.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SyncRequest {
    /// The seq of the first movement in `movements` (or the next one the
    /// agent would send, when it sends none).
    pub from_seq: u64,
    /// Consecutive movements `from_seq, from_seq + 1, …`.
    pub movements: Vec<WireMovement>,
    /// The agent's highest seq: how far behind the hub is.
    pub agent_last_seq: u64,
    /// The highest incoming-transfer cursor the agent has stored.
    pub transfers_cursor: u64,
    pub locations: Vec<WireLocation>,
    /// The agent's clock when it sent this, for skew reports.
    pub agent_time_ms: i64,
}

/// A transfer sent by another site to a location of the requesting site.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IncomingTransfer {
    pub cursor: u64,
    pub id: String,
    /// `SITE/LOC` of the sender.
    pub from: String,
    /// The receiving site's own location id.
    pub to_location: String,
    pub sku: String,
    pub lot: String,
    pub qty_micro: i64,
    pub unit_cost: String,
    pub sent_ms: i64,
    pub offset_min: i16,
}

/// A record the hub would not apply, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Quarantined {
    pub seq: u64,
    pub reason: String,
}

/// The hub's answer to every sync round.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SyncResponse {
    /// The highest seq the hub holds for this site (applied or quarantined):
    /// the agent sends from `hwm + 1` next.
    pub hwm: u64,
    pub accepted: u32,
    pub duplicates: u32,
    pub quarantined: Vec<Quarantined>,
    pub incoming: Vec<IncomingTransfer>,
    pub hub_time_ms: i64,
}

impl IncomingTransfer {
    pub fn sent_at(&self) -> Result<DateTime<FixedOffset>, DomainError> {
        from_ms("sent_at", self.sent_ms, self.offset_min)
    }
}

/// A document's state as the agent offers it: the heads it holds and the
/// changes it believes the hub lacks (raw Automerge change bytes).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DocOffer {
    pub doc: String,
    pub heads: Vec<[u8; 32]>,
    pub changes: Vec<Vec<u8>>,
}

/// `POST /v1/docs`: every document the agent writes or reads, in one request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DocsRequest {
    pub offers: Vec<DocOffer>,
}

/// A change the hub refused, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DocRefusal {
    pub hash: [u8; 32],
    pub reason: String,
}

/// The hub's answer for one document: its heads after applying the offer,
/// the data the agent lacks (Automerge bytes for `load_incremental`), and
/// any refusals. `error` is set when the whole offer was refused.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DocReply {
    pub doc: String,
    pub heads: Vec<[u8; 32]>,
    pub data: Vec<Vec<u8>>,
    pub refused: Vec<DocRefusal>,
    pub error: Option<String>,
}

/// Replies in offer order. `more` is set when the hub stopped adding data to
/// bound the response; the agent asks again with its new heads.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DocsResponse {
    pub replies: Vec<DocReply>,
    pub more: bool,
}

/// A documents response inflates to at most this (a new agent's catalog).
pub const MAX_DOCS_RESPONSE_BYTES: usize = 64 * 1024 * 1024;
/// The hub stops adding document data to a response past this.
pub const DOCS_RESPONSE_BUDGET: usize = 8 * 1024 * 1024;

/// Encodes a message for the wire.
pub fn encode<T: Serialize>(msg: &T) -> Vec<u8> {
    let raw = postcard::to_stdvec(msg).expect("protocol messages always serialize");
    zstd::bulk::compress(&raw, 3).expect("in-memory zstd compression does not fail")
}

/// Decodes a message from the wire, refusing bodies that inflate past
/// [`MAX_BATCH_BYTES`].
pub fn decode<T: for<'de> Deserialize<'de>>(
    what: &'static str,
    body: &[u8],
) -> Result<T, ProtocolError> {
    decode_limited(what, body, MAX_BATCH_BYTES)
}

/// Decodes a message that may inflate to at most `limit` bytes.
pub fn decode_limited<T: for<'de> Deserialize<'de>>(
    what: &'static str,
    body: &[u8],
    limit: usize,
) -> Result<T, ProtocolError> {
    let raw = zstd::bulk::decompress(body, limit).map_err(|e| {
        if e.to_string().contains("Destination buffer is too small") {
            ProtocolError::TooLarge
        } else {
            ProtocolError::Compression
        }
    })?;
    postcard::from_bytes(&raw).map_err(|e| ProtocolError::Decode {
        what,
        detail: e.to_string(),
    })
}

/// Checks the version header of a request.
pub fn check_version(header: Option<&str>) -> Result<u16, ProtocolError> {
    let v = header.unwrap_or("").trim();
    match v.parse::<u16>() {
        Ok(n) if (MIN_PROTOCOL_VERSION..=PROTOCOL_VERSION).contains(&n) => Ok(n),
        _ => Err(ProtocolError::Version(if v.is_empty() {
            "(missing)".into()
        } else {
            v.into()
        })),
    }
}

/// A one-time enrollment token: `jxc1.<id>.<secret>.<ca-sha256>`. It names
/// the token to the hub, proves the holder got it from an operator, and pins
/// the hub's CA so the agent needs no separate CA file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EnrollToken {
    pub id: String,
    pub secret: String,
    pub ca_fingerprint: String,
}

impl EnrollToken {
    pub fn parse(s: &str) -> Result<Self, DomainError> {
        let bad = || {
            DomainError::new(
                "token",
                s,
                "not a jxc enrollment token (jxc1.ID.SECRET.CAHASH from `jxc-hub token`)",
            )
        };
        let mut parts = s.trim().split('.');
        let (Some("jxc1"), Some(id), Some(secret), Some(fp), None) = (
            parts.next(),
            parts.next(),
            parts.next(),
            parts.next(),
            parts.next(),
        ) else {
            return Err(bad());
        };
        let hex = |p: &str, n: usize| p.len() == n && p.bytes().all(|b| b.is_ascii_hexdigit());
        if !hex(id, 8) || !hex(secret, 32) || !hex(fp, 64) {
            return Err(bad());
        }
        Ok(Self {
            id: id.to_ascii_lowercase(),
            secret: secret.to_ascii_lowercase(),
            ca_fingerprint: fp.to_ascii_lowercase(),
        })
    }
}

impl std::fmt::Display for EnrollToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "jxc1.{}.{}.{}",
            self.id, self.secret, self.ca_fingerprint
        )
    }
}

/// What an agent sends to enroll (JSON over TLS, before it has a certificate).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct EnrollRequest {
    pub token: String,
    pub csr_pem: String,
    /// The agent's Automerge actor (32 hex digits). The hub binds it to the
    /// site when it issues the certificate, so no other actor ever writes as
    /// that site. An agent that sends none has its first actor bound on its
    /// first document sync instead.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub doc_actor: Option<String>,
    /// The site id the agent was initialised with. The hub refuses, before
    /// spending the token, a token made for another site.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub site: Option<String>,
    /// The site kind the agent was initialised as (`branch`, `dealer`, `hq`).
    /// The hub refuses, token unspent, a token made for another kind.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
    /// The agent's region, if it was initialised with one; refused, token
    /// unspent, when the token names another. Agents older than these three
    /// fields send none of them and are enrolled as before.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub region: Option<String>,
}

/// The hub's answer: who the agent is and its certificate.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct EnrollResponse {
    pub site: String,
    pub kind: String,
    pub name: String,
    pub region: String,
    pub cert_pem: String,
    pub ca_pem: String,
}

/// `GET /v1/directory`: every site the hub knows and the locations each has
/// reported, so an agent can refuse a transfer to a site or location that
/// does not exist while it is offline. JSON; the hub answers
/// `If-None-Match` with 304 when nothing changed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Directory {
    pub sites: Vec<DirectorySite>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DirectorySite {
    pub id: String,
    /// `hq`, `branch` or `dealer`.
    pub kind: String,
    pub name: String,
    pub region: String,
    /// False for a dealer whose policy withholds costs: the unit cost of its
    /// transfers is not its cost, and a receiver must not take it as one.
    pub shares_costs: bool,
    /// The location ids the site has reported; empty until its first sync.
    pub locations: Vec<String>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::MovementKind;
    use chrono::Utc;

    fn wire(site: &str, seq: u64) -> WireMovement {
        let t = FixedOffset::east_opt(8 * 3600)
            .unwrap()
            .with_ymd_and_hms(2026, 11, 2, 10, 0, 0)
            .unwrap();
        WireMovement {
            seq,
            kind: MovementKind::Sale,
            location: format!("{site}/main"),
            sku: "茶-1".into(),
            lot: String::new(),
            qty_micro: -1_500_000,
            unit_cost: "12.5".into(),
            unit_price: Some("19.9".into()),
            counterparty: Some("张三, Ltd".into()),
            reference: Some("SO-1".into()),
            reason: None,
            transfer_id: None,
            occurred_ms: t.timestamp_millis(),
            offset_min: 480,
            recorded_ms: Utc::now().timestamp_millis(),
        }
    }

    #[test]
    fn a_movement_survives_the_wire_and_keeps_its_offset() {
        let site = SiteId::parse("BJ01").unwrap();
        let w = wire("BJ01", 7);
        let m = w.validate(&site).unwrap();
        assert_eq!(
            crate::time::format_time(&m.draft.occurred_at),
            "2026-11-02T10:00:00+08:00"
        );
        assert_eq!(WireMovement::from_movement(&site, &m), w);
        let req = SyncRequest {
            from_seq: 7,
            movements: vec![wire("BJ01", 7)],
            agent_last_seq: 7,
            transfers_cursor: 0,
            locations: vec![],
            agent_time_ms: 0,
        };
        let back: SyncRequest = decode("sync request", &encode(&req)).unwrap();
        assert_eq!(back, req);
    }

    #[test]
    fn validation_names_what_is_wrong() {
        let site = SiteId::parse("BJ01").unwrap();
        assert_eq!(
            wire("SH01", 1).validate(&site).unwrap_err().field,
            "location"
        );
        let mut w = wire("BJ01", 1);
        w.qty_micro = 5;
        w.kind = MovementKind::Sale;
        assert_eq!(w.validate(&site).unwrap_err().field, "qty");
        let mut w = wire("BJ01", 1);
        w.unit_cost = "-1".into();
        assert_eq!(w.validate(&site).unwrap_err().field, "unit_cost");
        let mut w = wire("BJ01", 1);
        w.occurred_ms = i64::MAX;
        assert_eq!(w.validate(&site).unwrap_err().field, "occurred_at");
    }

    #[test]
    fn garbage_and_oversized_bodies_are_refused() {
        assert_eq!(
            decode::<SyncRequest>("sync request", b"not zstd").unwrap_err(),
            ProtocolError::Compression
        );
        let huge = zstd::bulk::compress(&vec![0u8; MAX_BATCH_BYTES + 1], 3).unwrap();
        assert_eq!(
            decode::<SyncRequest>("sync request", &huge).unwrap_err(),
            ProtocolError::TooLarge
        );
        let junk = zstd::bulk::compress(&[0xff; 64], 3).unwrap();
        assert!(matches!(
            decode::<SyncRequest>("sync request", &junk),
            Err(ProtocolError::Decode { .. })
        ));
        assert!(check_version(Some("1")).is_ok());
        assert!(check_version(Some("99")).is_err());
        assert!(check_version(None).is_err());
    }

    #[test]
    fn tokens_round_trip_and_refuse_garbage() {
        let t = EnrollToken {
            id: "0a1b2c3d".into(),
            secret: "f".repeat(32),
            ca_fingerprint: "e".repeat(64),
        };
        assert_eq!(EnrollToken::parse(&t.to_string()).unwrap(), t);
        for bad in [
            "",
            "jxc1.x.y.z",
            "jxc2.0a1b2c3d.ffffffffffffffffffffffffffffffff.ee",
            &format!("{t}.extra"),
        ] {
            assert_eq!(EnrollToken::parse(bad).unwrap_err().field, "token");
        }
    }
}
