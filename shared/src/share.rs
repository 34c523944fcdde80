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

/// Whether a sale or customer return (the sell-through) is affected by
/// the sell-through mode.
pub fn is_sell_through(kind: MovementKind) -> bool {
    matches!(kind, MovementKind::Sale | MovementKind::CustomerReturn)
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
    if !policy.costs_and_prices && (w.unit_cost != "0" || w.unit_price.is_some()) {
        return Err("carries costs or prices the dealer does not share".into());
    }
    if is_sell_through(w.kind) {
        let cp = w.counterparty.as_deref();
        let ok = match policy.sell_through {
            SellThrough::Identity => true,
            SellThrough::Pseudonym => cp.is_none_or(is_pseudonymous) && w.reference.is_none(),
            SellThrough::DailyTotals => cp.is_none() && w.reference.is_none(),
        };
        if !ok {
            return Err(format!(
                "carries customer detail beyond the dealer's sell-through sharing ({})",
                policy.sell_through.as_str()
            ));
        }
    }
    Ok(())
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
}
