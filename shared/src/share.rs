//! What a dealer's sharing policy lets leave its machine, decided the same
//! way on the agent (before sending) and on the hub (before applying).

use chrono::NaiveDate;
use sha2::{Digest, Sha256};

use crate::docs::{SellThrough, SharePolicy};
use crate::protocol::WireMovement;
use crate::{GlobalLocation, MovementKind, SiteId};

/// HMAC-SHA256 (RFC 2104).
pub fn hmac_sha256(key: &[u8], msg: &[u8]) -> [u8; 32] {
    const BLOCK: usize = 64;
    let mut k = [0u8; BLOCK];
    if key.len() > BLOCK {
        k[..32].copy_from_slice(&Sha256::digest(key));
    } else {
        k[..key.len()].copy_from_slice(key);
    }
    let pad = |b: u8| k.map(|x| x ^ b);
    let inner = Sha256::new()
        .chain_update(pad(0x36))
        .chain_update(msg)
        .finalize();
    Sha256::new()
        .chain_update(pad(0x5c))
        .chain_update(inner)
        .finalize()
        .into()
}

const PSEUDONYM_PREFIX: &str = "anon-";

/// A customer's pseudonym under a dealer's key: stable for the same
/// customer, different across dealers, and not reversible without the key.
pub fn pseudonym(key: &[u8], counterparty: &str) -> String {
    let mac = hmac_sha256(key, counterparty.trim().as_bytes());
    let hex: String = mac[..8].iter().map(|b| format!("{b:02x}")).collect();
    format!("{PSEUDONYM_PREFIX}{hex}")
}

/// The counterparty a pseudonymous sale carries: the pseudonym and the
/// customer's region and type (empty when the counterparty is not a
/// registered customer).
pub fn pseudonymous_counterparty(pseudonym: &str, region: &str, kind: &str) -> String {
    let clean = |s: &str| s.replace([';', '='], ",");
    format!("{pseudonym};region={};type={}", clean(region), clean(kind))
}

/// Whether a counterparty has the pseudonymous form and nothing more.
pub fn is_pseudonymous(cp: &str) -> bool {
    let mut parts = cp.split(';');
    let Some(p) = parts.next() else { return false };
    let hex_ok = p
        .strip_prefix(PSEUDONYM_PREFIX)
        .is_some_and(|h| h.len() == 16 && h.bytes().all(|b| b.is_ascii_hexdigit()));
    hex_ok
        && parts.next().is_some_and(|r| r.starts_with("region="))
        && parts.next().is_some_and(|t| t.starts_with("type="))
        && parts.next().is_none()
}

/// Whether a movement is a transfer with another site. Those are shared
/// whatever the policy: the hub must route them, and HQ's sell-in would
/// otherwise stay in transit forever.
pub fn is_inter_site_transfer(
    own: &SiteId,
    kind: MovementKind,
    counterparty: Option<&str>,
) -> bool {
    matches!(kind, MovementKind::TransferOut | MovementKind::TransferIn)
        && counterparty
            .and_then(|c| GlobalLocation::parse("counterparty", c).ok())
            .is_some_and(|g| &g.site != own)
}

/// Whether a transfer names its other end as a location (`SITE/LOC`), of
/// this site or another.
fn is_transfer_between_locations(kind: MovementKind, counterparty: Option<&str>) -> bool {
    matches!(kind, MovementKind::TransferOut | MovementKind::TransferIn)
        && counterparty.is_some_and(|c| GlobalLocation::parse("counterparty", c).is_ok())
}

/// Whether a sale or customer return (the sell-through) is affected by
/// the sell-through mode.
pub fn is_sell_through(kind: MovementKind) -> bool {
    matches!(kind, MovementKind::Sale | MovementKind::CustomerReturn)
}

/// Reasons the agent itself writes on the reconciling movements it
/// publishes; with a stocktake's `stocktake #N`, the only reasons that leave
/// under a policy that keeps free text.
pub const REASON_SHARING_BEGAN: &str = "stock when sharing began";
pub const REASON_SHARING_RESUMED: &str = "stock when sharing resumed";

/// What one text field of a published movement may carry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Carry {
    /// The text as the dealer recorded it.
    AsRecorded,
    /// The customer's keyed pseudonym with region and type ([`is_pseudonymous`]).
    Pseudonym,
    /// Only one of the agent's own fixed texts ([`REASON_SHARING_BEGAN`], …).
    AgentText,
    /// Nothing: the field is absent.
    Nothing,
}

/// What a dealer's published movement may carry, field by field.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Disclosure {
    /// `unit_cost` as recorded (else `"0"`) and `unit_price` (else none).
    pub costs_and_prices: bool,
    pub counterparty: Carry,
    pub reference: Carry,
    pub reason: Carry,
    /// The business time must be the start of a day: the sale is part of a
    /// daily total.
    pub day_start: bool,
}

/// The one rule of what leaves a dealer's machine: what each field of a
/// movement of `kind` (with `counterparty` as recorded) may carry under
/// `policy`. The agent shapes what it publishes with it ([`shape`]); the
/// hub checks what it receives against it ([`check_fields`]).
///
/// | field | `identity` | `pseudonym` | `daily-totals` |
/// |---|---|---|---|
/// | kind, location, HQ sku, qty, lot | yes | yes | yes |
/// | unit_cost, unit_price | with `costs-and-prices` only (else `0` / none) | same | same, as the day's averages |
/// | counterparty of a sale / customer return (a customer) | as recorded | pseudonym;region;type | none |
/// | counterparty of a receipt / supplier return (a supplier) | as recorded | none | none |
/// | counterparty of a transfer (`SITE/LOC`: another site's, or one of its own locations) | as recorded | as recorded | as recorded |
/// | counterparty of anything else | as recorded | none | none |
/// | reference (the dealer's own document numbers) | as recorded | none | none |
/// | reason (free text) | as recorded | the agent's own texts only (sharing began/resumed, `stocktake #N`) | same |
/// | transfer_id (generated by the sender, routes the transfer) | yes | yes | yes |
/// | business time | as recorded | as recorded | sales: the start of their day in the site's zone |
///
/// The lot is the stock's identity (HQ's on-hand is per location × SKU ×
/// lot), so it goes wherever the stock goes; locations go with their names.
/// Products outside the stock scope, before the start date, or not in HQ's
/// catalog do not leave at all ([`check_shared`]).
pub fn disclosure(
    policy: &SharePolicy,
    kind: MovementKind,
    counterparty: Option<&str>,
) -> Disclosure {
    let identity = policy.sell_through == SellThrough::Identity;
    let private = |yes: Carry| if identity { Carry::AsRecorded } else { yes };
    // A transfer's counterparty is a location, `SITE/LOC`: another site's
    // (the hub routes it) or one of the dealer's own, whose names go with
    // its stock anyway (and a transfer-out the hub cannot place is refused).
    let counterparty = if is_transfer_between_locations(kind, counterparty) {
        Carry::AsRecorded
    } else if is_sell_through(kind) {
        match policy.sell_through {
            SellThrough::Identity => Carry::AsRecorded,
            SellThrough::Pseudonym => Carry::Pseudonym,
            SellThrough::DailyTotals => Carry::Nothing,
        }
    } else {
        private(Carry::Nothing)
    };
    Disclosure {
        costs_and_prices: policy.costs_and_prices,
        counterparty,
        reference: private(Carry::Nothing),
        reason: private(Carry::AgentText),
        day_start: is_sell_through(kind) && policy.sell_through == SellThrough::DailyTotals,
    }
}

/// The agent's own texts: the reconciling reasons and a stocktake's
/// `stocktake #N`, which name nothing of the dealer's.
fn agent_text(s: &str) -> bool {
    s == REASON_SHARING_BEGAN
        || s == REASON_SHARING_RESUMED
        || s.strip_prefix("stocktake #")
            .is_some_and(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))
}

/// Shapes a movement as recorded into what `policy` lets leave: every field
/// [`disclosure`] does not allow is emptied, a customer is replaced by
/// `pseudonymize(customer)`. Daily totals are made by the caller, which
/// alone holds the day's sales.
pub fn shape(policy: &SharePolicy, w: &mut WireMovement, pseudonymize: impl Fn(&str) -> String) {
    let d = disclosure(policy, w.kind, w.counterparty.as_deref());
    if !d.costs_and_prices {
        w.unit_cost = "0".to_owned();
        w.unit_price = None;
    }
    let keep = |carry: Carry, v: Option<String>| match carry {
        Carry::AsRecorded => v,
        Carry::Pseudonym => v.filter(|c| !c.trim().is_empty()).map(|c| pseudonymize(&c)),
        Carry::AgentText => v.filter(|r| agent_text(r)),
        Carry::Nothing => None,
    };
    w.counterparty = keep(d.counterparty, w.counterparty.take());
    w.reference = keep(d.reference, w.reference.take());
    w.reason = keep(d.reason, w.reason.take());
}

/// The hub's check of every field of one movement against [`disclosure`]:
/// `Err` names the first field that carries what the policy keeps.
pub fn check_fields(policy: &SharePolicy, w: &WireMovement) -> Result<(), String> {
    let d = disclosure(policy, w.kind, w.counterparty.as_deref());
    if !d.costs_and_prices && (w.unit_cost != "0" || w.unit_price.is_some()) {
        return Err(
            "unit_cost/unit_price: carries costs or prices the dealer does not share".into(),
        );
    }
    let fits = |carry: Carry, v: Option<&str>| match (carry, v) {
        (_, None) | (Carry::AsRecorded, _) => true,
        (Carry::Pseudonym, Some(c)) => is_pseudonymous(c),
        (Carry::AgentText, Some(r)) => agent_text(r),
        (Carry::Nothing, Some(_)) => false,
    };
    let mode = policy.sell_through.as_str();
    if !fits(d.counterparty, w.counterparty.as_deref()) {
        return Err(if is_sell_through(w.kind) {
            format!(
                "counterparty: carries customer detail beyond the dealer's sell-through sharing ({mode})"
            )
        } else {
            format!("counterparty: a supplier or other party the dealer does not share ({mode})")
        });
    }
    if !fits(d.reference, w.reference.as_deref()) {
        return Err(format!(
            "reference: the dealer's own document numbers are not shared ({mode})"
        ));
    }
    if !fits(d.reason, w.reason.as_deref()) {
        return Err(format!(
            "reason: the dealer's free text is not shared ({mode})"
        ));
    }
    if d.day_start && !is_day_start(w.occurred_ms, w.offset_min) {
        return Err(format!(
            "occurred_ms: a single sale where the dealer shares only daily totals ({mode})"
        ));
    }
    Ok(())
}

/// What the hub keeps of a dealer's record it quarantines: the record less
/// every field the policy withholds, so that refusing a record never stores
/// what the dealer does not share (the digest of the whole is kept beside it).
pub fn withheld(policy: &SharePolicy, w: &WireMovement) -> WireMovement {
    let mut kept = w.clone();
    shape(policy, &mut kept, |c| {
        if is_pseudonymous(c) {
            c.to_owned()
        } else {
            "(withheld)".to_owned()
        }
    });
    kept
}

/// Whether a wire time is midnight in its own offset.
fn is_day_start(occurred_ms: i64, offset_min: i16) -> bool {
    let Some(offset) = chrono::FixedOffset::east_opt(i32::from(offset_min) * 60) else {
        return false;
    };
    chrono::DateTime::from_timestamp_millis(occurred_ms)
        .is_some_and(|t| t.with_timezone(&offset).time() == chrono::NaiveTime::MIN)
}

/// The hub's check of one movement a dealer sent against the dealer's policy
/// in force: `category` is the SKU's catalog category (`None` if the SKU is
/// not in the catalog). `Err` names what the policy does not share.
pub fn check_shared(
    policy: &SharePolicy,
    site: &SiteId,
    category: Option<&str>,
    w: &WireMovement,
) -> Result<(), String> {
    let transfer = is_inter_site_transfer(site, w.kind, w.counterparty.as_deref());
    let Some(category) = category else {
        return Err(format!(
            "sku {} is not in the HQ catalog; a dealer's own items are never shared",
            w.sku
        ));
    };
    if !transfer && !policy.shares_stock(&w.sku, category) {
        return Err(format!(
            "sku {} (category {category:?}) is outside the dealer's sharing policy",
            w.sku
        ));
    }
    if let Some(from) = policy.from {
        let day = business_day(w.occurred_ms, w.offset_min);
        if !transfer && day.is_some_and(|d| d < from) {
            return Err(format!("dated before the policy's start {from}"));
        }
    }
    check_fields(policy, w)
}

/// The business day of a wire time in its own offset.
pub fn business_day(occurred_ms: i64, offset_min: i16) -> Option<NaiveDate> {
    let offset = chrono::FixedOffset::east_opt(i32::from(offset_min) * 60)?;
    chrono::DateTime::from_timestamp_millis(occurred_ms)
        .map(|t| t.with_timezone(&offset).date_naive())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hmac_matches_rfc_4231_case_2() {
        let mac = hmac_sha256(b"Jefe", b"what do ya want for nothing?");
        let hex: String = mac.iter().map(|b| format!("{b:02x}")).collect();
        assert_eq!(
            hex,
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
    }

    #[test]
    fn pseudonyms_are_stable_keyed_and_hide_the_name() {
        let key = [9u8; 32];
        let a = pseudonym(&key, "王五, Ltd");
        assert_eq!(a, pseudonym(&key, " 王五, Ltd "), "stable");
        assert_ne!(
            a,
            pseudonym(&key, "赵六"),
            "distinct customers stay distinct"
        );
        assert_ne!(
            a,
            pseudonym(&[8u8; 32], "王五, Ltd"),
            "another key, another pseudonym"
        );
        assert!(!a.contains("王五"));
        let cp = pseudonymous_counterparty(&a, "east;x", "retail");
        assert!(is_pseudonymous(&cp), "{cp}");
        assert!(!is_pseudonymous("王五"));
        assert!(!is_pseudonymous(&format!("{cp};name=王五")));
    }

    fn receipt() -> WireMovement {
        WireMovement {
            seq: 1,
            kind: MovementKind::Receipt,
            location: "DL01/shop".into(),
            sku: "TEA-1".into(),
            lot: "L1".into(),
            qty_micro: 1_000_000,
            unit_cost: "7.5".into(),
            unit_price: None,
            counterparty: Some("五常经销".into()),
            reference: Some("TJPO-1".into()),
            reason: Some("私人备注".into()),
            transfer_id: None,
            occurred_ms: 1_790_000_000_000,
            offset_min: 480,
            recorded_ms: 1_790_000_000_000,
        }
    }

    fn policy(sell_through: SellThrough, costs: bool) -> SharePolicy {
        SharePolicy {
            sell_through,
            costs_and_prices: costs,
            ..SharePolicy::everything()
        }
    }

    #[test]
    fn a_transfer_keeps_its_location_whether_another_sites_or_the_dealers_own() {
        let p = policy(SellThrough::Pseudonym, false);
        for to in ["DL01/back", "BJ01/main"] {
            let mut t = receipt();
            t.kind = MovementKind::TransferOut;
            t.qty_micro = -1_000_000;
            t.counterparty = Some(to.into());
            t.transfer_id = Some("T-DL01-9".into());
            shape(&p, &mut t, |c| format!("anon-{c}"));
            assert_eq!(t.counterparty.as_deref(), Some(to));
            assert_eq!((t.reference.as_deref(), t.reason.as_deref()), (None, None));
            check_fields(&p, &t).unwrap();
        }
    }

    #[test]
    fn a_pseudonym_policy_keeps_suppliers_references_and_free_text() {
        let p = policy(SellThrough::Pseudonym, false);
        let raw = receipt();
        let err = check_fields(&p, &raw).unwrap_err();
        assert!(err.starts_with("unit_cost"), "{err}");
        let mut w = raw.clone();
        shape(&p, &mut w, |c| format!("anon-{c}"));
        assert_eq!(
            (
                w.counterparty.as_deref(),
                w.reference.as_deref(),
                w.reason.as_deref()
            ),
            (None, None, None)
        );
        assert_eq!((w.unit_cost.as_str(), w.lot.as_str()), ("0", "L1"));
        check_fields(&p, &w).unwrap();
        for (field, bad) in [
            (
                "counterparty",
                WireMovement {
                    unit_cost: "0".into(),
                    reference: None,
                    reason: None,
                    ..raw.clone()
                },
            ),
            (
                "reference",
                WireMovement {
                    unit_cost: "0".into(),
                    counterparty: None,
                    reason: None,
                    ..raw.clone()
                },
            ),
            (
                "reason",
                WireMovement {
                    unit_cost: "0".into(),
                    counterparty: None,
                    reference: None,
                    ..raw.clone()
                },
            ),
        ] {
            let err = check_fields(&p, &bad).unwrap_err();
            assert!(err.starts_with(field), "{field}: {err}");
        }
        // The agent's own reconciling text passes; a transfer keeps its peer.
        let mut own = w.clone();
        own.reason = Some(REASON_SHARING_BEGAN.into());
        check_fields(&p, &own).unwrap();
        own.reason = Some("stocktake #12".into());
        check_fields(&p, &own).unwrap();
        own.reason = Some("stocktake #12 by 王五".into());
        assert!(check_fields(&p, &own).is_err());
        let mut t = w.clone();
        t.kind = MovementKind::TransferOut;
        t.counterparty = Some("BR01/main".into());
        check_fields(&p, &t).unwrap();
        // Under identity with costs, the receipt leaves as recorded.
        let all = policy(SellThrough::Identity, true);
        let mut same = raw.clone();
        shape(&all, &mut same, |c| c.to_owned());
        assert_eq!(same, raw);
        check_fields(&all, &raw).unwrap();
    }

    #[test]
    fn a_refused_record_is_kept_without_what_the_policy_withholds() {
        let p = policy(SellThrough::Pseudonym, false);
        let mut sale = receipt();
        sale.kind = MovementKind::Sale;
        sale.unit_price = Some("20".into());
        let kept = withheld(&p, &sale);
        let text = format!("{kept:?}");
        for secret in ["五常经销", "TJPO-1", "私人备注", "7.5", "\"20\""] {
            assert!(!text.contains(secret), "{secret} kept: {text}");
        }
        assert_eq!(kept.counterparty.as_deref(), Some("(withheld)"));
        assert_eq!((kept.seq, kept.sku.as_str()), (sale.seq, "TEA-1"));
    }

    #[test]
    fn daily_totals_are_dated_at_the_start_of_a_day() {
        let p = policy(SellThrough::DailyTotals, true);
        let mut sale = receipt();
        sale.kind = MovementKind::Sale;
        sale.qty_micro = -1_000_000;
        sale.counterparty = None;
        sale.reference = None;
        sale.reason = None;
        sale.unit_price = Some("20".into());
        let err = check_fields(&p, &sale).unwrap_err();
        assert!(err.contains("daily totals"), "{err}");
        // 2026-12-01T00:00:00+08:00
        sale.occurred_ms = 1_796_054_400_000;
        check_fields(&p, &sale).unwrap();
    }
}
