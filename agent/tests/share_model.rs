//! Model test of a dealer's outbound stream: random receipts and sales on
//! catalog products (some under the dealer's own mapped code), own items,
//! policy changes and publishing passes at random points. After every pass,
//! replaying what was published must give HQ exactly the dealer's on-hand for
//! every (location, HQ SKU) the policy covers, never show an own item or
//! anything outside the policy that was never shared, never carry a customer
//! name unless identity is shared, and number itself 1, 2, 3… with no gap.
//! Every record is one the hub's check of the same policy accepts: no
//! supplier, document number or free text leaves unless identity is shared.

use chrono::{FixedOffset, TimeZone};
use jxc_agent::store::{Location, SiteInfo, Store};
use jxc_shared::docs::automerge::AutoCommit;
use jxc_shared::docs::{
    self, CatalogItem, DocId, SellThrough, SharePolicy, StockScope, set_sku_mapping,
};
use jxc_shared::movement::DraftInput;
use jxc_shared::protocol::{DocReply, WireMovement};
use jxc_shared::{LocationId, MovementDraft, MovementKind, SiteId, SiteKind, Sku};
use proptest::prelude::*;
use std::collections::BTreeMap;
use std::time::Duration;

/// (sku, category) of the HQ catalog.
const CATALOG: [(&str, &str); 3] = [("TEA-1", "tea"), ("TEA-2", "tea"), ("CUP-1", "ware")];
/// Codes the dealer books under: two catalog SKUs, one mapped code, one own item.
const CODES: [&str; 4] = ["TEA-1", "CUP-1", "my-tea", "OWN-1"];
const CUSTOMER: &str = "王五, Ltd";
const SUPPLIER: &str = "五常经销";
const REFERENCE: &str = "TJPO-1";

fn hq_sku(code: &str) -> Option<&'static str> {
    match code {
        "TEA-1" => Some("TEA-1"),
        "CUP-1" => Some("CUP-1"),
        "my-tea" => Some("TEA-2"),
        _ => None,
    }
}

fn category(sku: &str) -> &'static str {
    CATALOG
        .iter()
        .find(|(s, _)| *s == sku)
        .map(|(_, c)| *c)
        .unwrap_or("")
}

#[derive(Debug, Clone)]
enum Op {
    Receive { code: usize, qty: u32 },
    Sell { code: usize, qty: u32, named: bool },
    Policy(u8),
    Publish,
}

fn policy(n: u8) -> SharePolicy {
    let (stock, sell_through) = match n % 4 {
        0 => (StockScope::All, SellThrough::Identity),
        1 => (
            StockScope::Selected {
                categories: ["tea".to_owned()].into(),
                skus: Default::default(),
            },
            SellThrough::Pseudonym,
        ),
        2 => (StockScope::Nothing, SellThrough::Pseudonym),
        _ => (
            StockScope::Selected {
                categories: Default::default(),
                skus: ["CUP-1".to_owned()].into(),
            },
            SellThrough::Identity,
        ),
    };
    SharePolicy {
        stock,
        sell_through,
        costs_and_prices: n.is_multiple_of(2),
        from: None,
    }
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        4 => (0..4usize, 1..20u32).prop_map(|(code, qty)| Op::Receive { code, qty }),
        4 => (0..4usize, 1..5u32, any::<bool>()).prop_map(|(code, qty, named)| Op::Sell { code, qty, named }),
        1 => (0..4u8).prop_map(Op::Policy),
        2 => Just(Op::Publish),
    ]
}

fn dealer() -> (tempfile::TempDir, Store) {
    let dir = tempfile::tempdir().unwrap();
    let at = FixedOffset::east_opt(8 * 3600)
        .unwrap()
        .with_ymd_and_hms(2026, 5, 1, 9, 0, 0)
        .unwrap();
    let info = SiteInfo {
        id: SiteId::parse("DL01").unwrap(),
        kind: SiteKind::Dealer,
        name: "d".into(),
        region: "east".into(),
    };
    let mut store = Store::init(dir.path(), info, Duration::from_secs(5), at).unwrap();
    store
        .add_location(&Location {
            id: LocationId::parse("shop").unwrap(),
            name: "shop".into(),
            allow_negative: false,
        })
        .unwrap();
    // The catalog arrives as it does from the hub: a shard's bytes.
    for (sku, cat) in CATALOG {
        let id = docs::catalog_shard(sku);
        let mut shard = AutoCommit::new();
        let item = CatalogItem::from_text(|c| match c {
            "sku" => sku.into(),
            "name" => format!("{sku} 名"),
            "category" => cat.into(),
            _ => String::new(),
        })
        .unwrap();
        item.write(&mut shard).unwrap();
        let reply = DocReply {
            doc: id.to_string(),
            heads: Vec::new(),
            data: vec![shard.save()],
            refused: Vec::new(),
            error: None,
        };
        store.apply_doc_reply(&id, &reply).unwrap();
    }
    let own = jxc_shared::Product::new("OWN-1", "own", None, None, None, 0, false).unwrap();
    store.add_product(&own).unwrap();
    let mine = jxc_shared::Product::new("my-tea", "our tea", None, None, None, 0, false).unwrap();
    store.add_product(&mine).unwrap();
    let map = DocId::SkuMap(SiteId::parse("DL01").unwrap());
    store
        .edit_doc(&map, |doc| {
            set_sku_mapping(
                doc,
                &Sku::parse("my-tea").unwrap(),
                &Sku::parse("TEA-2").unwrap(),
            )
            .map_err(|e| jxc_agent::AgentError::DataDir(e.to_string()))
        })
        .unwrap();
    (dir, store)
}

fn set_policy(store: &mut Store, p: &SharePolicy) {
    let id = DocId::Policy(SiteId::parse("DL01").unwrap());
    store
        .edit_doc(&id, |doc| {
            p.write(doc)
                .map_err(|e| jxc_agent::AgentError::DataDir(e.to_string()))
        })
        .unwrap();
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    #[test]
    fn hq_sees_exactly_what_the_policy_shares(ops in prop::collection::vec(op(), 1..60)) {
        let (_dir, mut store) = dealer();
        let now = FixedOffset::east_opt(8 * 3600).unwrap().with_ymd_and_hms(2026, 6, 1, 9, 0, 0).unwrap();
        let loc = LocationId::parse("shop").unwrap();
        let mut local: BTreeMap<&str, i64> = BTreeMap::new();
        let mut current = SharePolicy::default();
        let mut ever_shared: std::collections::BTreeSet<String> = Default::default();
        let mut seen = 0u64;
        for op in ops {
            let (code, qty, kind, counterparty) = match op {
                Op::Receive { code, qty } => (code, qty, MovementKind::Receipt, Some(SUPPLIER)),
                Op::Sell { code, qty, named } => {
                    let have = local.get(CODES[code]).copied().unwrap_or(0);
                    if have < i64::from(qty) * 1_000_000 {
                        continue;
                    }
                    (code, qty, MovementKind::Sale, named.then_some(CUSTOMER))
                }
                Op::Policy(n) => {
                    current = policy(n);
                    set_policy(&mut store, &current);
                    continue;
                }
                Op::Publish => {
                    store.publish_shared(now).unwrap();
                    seen = check(&store, &local, &current, &mut ever_shared, seen)?;
                    continue;
                }
            };
            let product = store.require_product(&Sku::parse(CODES[code]).unwrap()).unwrap();
            let input = DraftInput {
                unit_cost: (kind == MovementKind::Receipt).then_some("2.5"),
                unit_price: (kind == MovementKind::Sale).then_some("9"),
                counterparty,
                reference: Some(REFERENCE),
                ..Default::default()
            };
            let d = MovementDraft::build(kind, loc.clone(), &product, &qty.to_string(), &input, now).unwrap();
            let mut ledger = store.ledger(now).unwrap();
            ledger.apply(d).unwrap();
            ledger.commit().unwrap();
            let signed = if kind == MovementKind::Sale { -i64::from(qty) } else { i64::from(qty) };
            *local.entry(CODES[code]).or_default() += signed * 1_000_000;
        }
        store.publish_shared(now).unwrap();
        check(&store, &local, &current, &mut ever_shared, seen)?;
    }
}

/// Checks the stream after a publishing pass under `policy`; records after
/// `seen` were published under it. Returns the stream's last seq.
fn check(
    store: &Store,
    local: &BTreeMap<&str, i64>,
    policy: &SharePolicy,
    ever_shared: &mut std::collections::BTreeSet<String>,
    seen: u64,
) -> Result<u64, TestCaseError> {
    let last = store.outbound_last_seq().unwrap();
    let sent: Vec<WireMovement> = if last == 0 {
        Vec::new()
    } else {
        store.outbound_batch(1, 100_000).unwrap()
    };
    let seqs: Vec<u64> = sent.iter().map(|w| w.seq).collect();
    prop_assert_eq!(seqs, (1..=last).collect::<Vec<_>>(), "gapless from 1");
    let mut at_hq: BTreeMap<String, i64> = BTreeMap::new();
    for w in &sent {
        prop_assert!(
            w.sku != "OWN-1" && w.sku != "my-tea",
            "own code sent: {:?}",
            w
        );
        *at_hq.entry(w.sku.clone()).or_default() += w.qty_micro;
        if w.seq > seen && policy.sell_through == SellThrough::Pseudonym {
            prop_assert!(
                w.counterparty
                    .as_deref()
                    .is_none_or(jxc_shared::share::is_pseudonymous),
                "a name under pseudonym sharing: {:?}",
                w
            );
        }
        if w.seq > seen {
            let verdict = jxc_shared::share::check_fields(policy, w);
            prop_assert!(verdict.is_ok(), "{:?} under {:?}: {:?}", w, policy, verdict);
            if policy.sell_through != SellThrough::Identity {
                let text = format!("{w:?}");
                prop_assert!(
                    !text.contains(SUPPLIER) && !text.contains(REFERENCE),
                    "a supplier or reference left: {}",
                    text
                );
            }
        }
        if w.seq > seen && !policy.costs_and_prices {
            prop_assert!(
                w.unit_cost == "0" && w.unit_price.is_none(),
                "costs sent: {:?}",
                w
            );
        }
    }
    for (sku, _) in CATALOG {
        let mine: i64 = CODES
            .iter()
            .filter(|c| hq_sku(c) == Some(sku))
            .map(|c| local.get(c).copied().unwrap_or(0))
            .sum();
        if policy.shares_stock(sku, category(sku)) {
            ever_shared.insert(sku.to_owned());
            prop_assert_eq!(
                at_hq.get(sku).copied().unwrap_or(0),
                mine,
                "{} under {:?}",
                sku,
                policy
            );
        } else if !ever_shared.contains(sku) {
            prop_assert!(!at_hq.contains_key(sku), "{} never shared but sent", sku);
        }
    }
    Ok(last)
}

/// An answer carrying another site's document is refused whole: nothing of
/// it, nor of the rest of that answer, lands in this ledger.
#[test]
fn an_answer_with_another_sites_document_is_refused_whole() {
    let (_dir, mut store) = dealer();
    let before = store.customers().unwrap().len();
    let mut theirs = AutoCommit::new();
    let name = docs::CustomerField::Name;
    docs::Customer::set(
        &mut theirs,
        "X1",
        &[(name, name.value("别人的客户").unwrap())],
    )
    .unwrap();
    let reply = |id: &DocId, data: Vec<u8>| DocReply {
        doc: id.to_string(),
        heads: Vec::new(),
        data: vec![data],
        refused: Vec::new(),
        error: None,
    };
    let other = DocId::Customers(SiteId::parse("BR09").unwrap());
    let mine = DocId::Customers(SiteId::parse("DL01").unwrap());
    let (a, b) = (reply(&mine, theirs.save()), reply(&other, theirs.save()));
    let err = store
        .apply_doc_replies(&[(mine.clone(), &a), (other, &b)])
        .unwrap_err();
    assert!(err.to_string().contains("belongs to another site"), "{err}");
    assert_eq!(store.customers().unwrap().len(), before);
    assert!(store.doc_offer(&mine, true).unwrap().heads.is_empty());
}
