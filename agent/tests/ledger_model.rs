//! Model test of the ledger: random sequences of every kind of operation,
//! checked after each step against a plain in-memory model. Proves balance ==
//! sum of the ledger, no negative stock where it is not allowed, a refused
//! operation writes nothing, and seq stays gapless (through `verify`).

use chrono::Utc;
use jxc_agent::AgentError;
use jxc_agent::store::{Location, SendRequest, SiteInfo, StockFilter, Store};
use jxc_shared::ids::GlobalLocation;
use jxc_shared::movement::DraftInput;
use jxc_shared::{LocationId, MovementDraft, MovementKind, Product, SiteId, SiteKind};
use proptest::prelude::*;
use rust_decimal::Decimal;
use std::collections::BTreeMap;
use std::time::Duration;

const LOCS: [(&str, bool); 2] = [("strict", false), ("loose", true)];
const LOTS: [&str; 2] = ["A", "B"];

fn products() -> Vec<Product> {
    vec![
        Product::new("P0", "整件", None, None, None, 0, false).unwrap(),
        Product::new("P1", "散装, 公斤", Some("kg"), None, None, 2, false).unwrap(),
        Product::new("P2", "药品", None, None, None, 0, true).unwrap(),
    ]
}

#[derive(Debug, Clone)]
enum Op {
    Move {
        kind: MovementKind,
        loc: usize,
        prod: usize,
        lot: usize,
        qty: Decimal,
        cost: Option<u32>,
    },
    Transfer {
        from: usize,
        remote: bool,
        prod: usize,
        lot: usize,
        qty: Decimal,
    },
    Count {
        loc: usize,
        prod: usize,
        lot: usize,
        counted: Decimal,
        sold_during: Decimal,
    },
}

fn qty_for(prod: usize, units: i64, cents: i64) -> Decimal {
    if prod == 1 {
        Decimal::new(units * 100 + cents, 2)
    } else {
        Decimal::from(units)
    }
}

fn op() -> impl Strategy<Value = Op> {
    let kinds = prop::sample::select(vec![
        MovementKind::Opening,
        MovementKind::Receipt,
        MovementKind::Sale,
        MovementKind::CustomerReturn,
        MovementKind::SupplierReturn,
        MovementKind::Scrap,
        MovementKind::Adjustment,
    ]);
    prop_oneof![
        6 => (kinds, 0..2usize, 0..3usize, 0..2usize, 1..40i64, 0..100i64, any::<bool>(), prop::option::of(1..500u32))
            .prop_map(|(kind, loc, prod, lot, u, c, neg, cost)| {
                let mut qty = qty_for(prod, u, c);
                if kind == MovementKind::Adjustment && neg {
                    qty = -qty;
                }
                Op::Move { kind, loc, prod, lot, qty, cost }
            }),
        2 => (0..2usize, any::<bool>(), 0..3usize, 0..2usize, 1..20i64, 0..100i64)
            .prop_map(|(from, remote, prod, lot, u, c)| Op::Transfer { from, remote, prod, lot, qty: qty_for(prod, u, c) }),
        1 => (0..2usize, 0..3usize, 0..2usize, 0..30i64, 0..5i64)
            .prop_map(|(loc, prod, lot, extra, sold)| {
                let sold = Decimal::from(sold);
                Op::Count { loc, prod, lot, counted: sold + Decimal::from(extra), sold_during: sold }
            }),
    ]
}

type Key = (String, String, String);

struct Harness {
    _dir: tempfile::TempDir,
    store: Store,
    products: Vec<Product>,
    model: BTreeMap<Key, Decimal>,
    written: u64,
}

impl Harness {
    fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let site = SiteInfo {
            id: SiteId::parse("BJ01").unwrap(),
            kind: SiteKind::Branch,
            name: "b".into(),
            region: "".into(),
        };
        let mut store = Store::init(
            dir.path(),
            site,
            Duration::from_secs(30),
            Utc::now().fixed_offset(),
        )
        .unwrap();
        for (id, allow_negative) in LOCS {
            store
                .add_location(&Location {
                    id: LocationId::parse(id).unwrap(),
                    name: id.into(),
                    allow_negative,
                })
                .unwrap();
        }
        let products = products();
        store.upsert_products(&products).unwrap();
        Self {
            _dir: dir,
            store,
            products,
            model: BTreeMap::new(),
            written: 0,
        }
    }

    fn key(&self, loc: usize, prod: usize, lot: usize) -> Key {
        let lot = if self.products[prod].lot_tracked {
            LOTS[lot]
        } else {
            ""
        };
        (
            LOCS[loc].0.into(),
            self.products[prod].sku.to_string(),
            lot.into(),
        )
    }

    fn lot(&self, prod: usize, lot: usize) -> Option<&'static str> {
        self.products[prod].lot_tracked.then_some(LOTS[lot])
    }

    /// Would adding `delta` at `key` be refused?
    fn refused(&self, loc: usize, key: &Key, delta: Decimal) -> bool {
        let have = self.model.get(key).copied().unwrap_or_default();
        delta < Decimal::ZERO && have + delta < Decimal::ZERO && !LOCS[loc].1
    }

    fn apply_model(&mut self, key: Key, delta: Decimal) {
        *self.model.entry(key).or_default() += delta;
    }

    fn record(
        &mut self,
        kind: MovementKind,
        loc: usize,
        prod: usize,
        lot: usize,
        qty: Decimal,
        cost: Option<u32>,
    ) -> Result<(), AgentError> {
        let now = Utc::now().fixed_offset();
        let cost = cost.map(|c| c.to_string());
        let reason = kind.needs_reason().then_some("test");
        let input = DraftInput {
            lot: self.lot(prod, lot),
            unit_cost: cost
                .as_deref()
                .filter(|_| kind.accepts_cost() && qty > Decimal::ZERO),
            reason,
            ..Default::default()
        };
        let d = MovementDraft::build(
            kind,
            LocationId::parse(LOCS[loc].0).unwrap(),
            &self.products[prod],
            &qty.to_string(),
            &input,
            now,
        )?;
        let mut ledger = self.store.ledger(now)?;
        ledger.apply(d)?;
        ledger.commit()
    }

    fn step(&mut self, op: &Op) {
        let now = Utc::now().fixed_offset();
        match *op {
            Op::Move {
                kind,
                loc,
                prod,
                lot,
                qty,
                cost,
            } => {
                let key = self.key(loc, prod, lot);
                let delta = if kind.direction() == jxc_shared::movement::Direction::Out {
                    -qty
                } else {
                    qty
                };
                let refused = self.refused(loc, &key, delta);
                let r = self.record(kind, loc, prod, lot, qty, cost);
                if refused {
                    assert!(
                        matches!(r, Err(AgentError::Refused(_))),
                        "{op:?} should be refused: {r:?}"
                    );
                } else {
                    r.unwrap();
                    self.apply_model(key, delta);
                    self.written += 1;
                }
            }
            Op::Transfer {
                from,
                remote,
                prod,
                lot,
                qty,
            } => {
                let to_loc = 1 - from;
                let to = GlobalLocation::parse(
                    "to",
                    &if remote {
                        format!("SH01/{}", LOCS[to_loc].0)
                    } else {
                        format!("BJ01/{}", LOCS[to_loc].0)
                    },
                )
                .unwrap();
                let key = self.key(from, prod, lot);
                let refused = self.refused(from, &key, -qty);
                let from_id = LocationId::parse(LOCS[from].0).unwrap();
                let req = SendRequest {
                    from: &from_id,
                    to: &to,
                    sku: &self.products[prod].sku,
                    qty: &qty.to_string(),
                    lot: self.lot(prod, lot),
                    reference: None,
                    at: now,
                    unlisted: false,
                };
                let r = self.store.transfer_send(&req, now);
                if refused {
                    assert!(
                        matches!(r, Err(AgentError::Refused(_))),
                        "{op:?} should be refused: {r:?}"
                    );
                } else {
                    r.unwrap();
                    self.apply_model(key, -qty);
                    self.written += 1;
                    if !remote {
                        self.apply_model(self.key(to_loc, prod, lot), qty);
                        self.written += 1;
                    }
                }
            }
            Op::Count {
                loc,
                prod,
                lot,
                counted,
                sold_during,
            } => {
                let key = self.key(loc, prod, lot);
                let loc_id = LocationId::parse(LOCS[loc].0).unwrap();
                let count = self.store.count_start(&loc_id, now).unwrap();
                let book = self.model.get(&key).copied().unwrap_or_default();
                let entry = self
                    .store
                    .count_entry(&key.1, &counted.to_string(), self.lot(prod, lot))
                    .unwrap();
                self.store.count_record(&count, &[entry], now).unwrap();
                // A sale during the count must not turn into variance.
                let mut sold = Decimal::ZERO;
                if sold_during > Decimal::ZERO && !self.refused(loc, &key, -sold_during) {
                    self.record(MovementKind::Sale, loc, prod, lot, sold_during, None)
                        .unwrap();
                    self.apply_model(key.clone(), -sold_during);
                    self.written += 1;
                    sold = sold_during;
                }
                let variance = counted - book;
                // counted >= sold, so the posted balance (counted - sold) is never negative.
                let report = self.store.count_post(&count, now).unwrap();
                assert_eq!(report.lines[0].variance.decimal(), variance);
                if !variance.is_zero() {
                    self.apply_model(key.clone(), variance);
                    self.written += 1;
                }
                assert_eq!(
                    self.model.get(&key).copied().unwrap_or_default(),
                    counted - sold
                );
            }
        }
    }

    fn check(&self) {
        let stock = self
            .store
            .stock(&StockFilter {
                all: true,
                ..Default::default()
            })
            .unwrap();
        let actual: BTreeMap<Key, Decimal> = stock
            .iter()
            .filter(|r| !r.qty.is_zero())
            .map(|r| {
                (
                    (
                        r.location.to_string(),
                        r.sku.to_string(),
                        r.lot.as_ref().map(|l| l.to_string()).unwrap_or_default(),
                    ),
                    r.qty.decimal(),
                )
            })
            .collect();
        let expected: BTreeMap<Key, Decimal> = self
            .model
            .iter()
            .filter(|(_, v)| !v.is_zero())
            .map(|(k, v)| (k.clone(), *v))
            .collect();
        assert_eq!(actual, expected);
        for r in &stock {
            if r.location.as_str() == "strict" {
                assert!(
                    !r.qty.is_negative(),
                    "negative stock at a strict location: {r:?}"
                );
            }
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    #[test]
    fn ledger_matches_model(ops in prop::collection::vec(op(), 1..40)) {
        let mut h = Harness::new();
        for op in &ops {
            h.step(op);
            h.check();
        }
        let report = h.store.verify().unwrap();
        prop_assert!(report.differences.is_empty(), "{:?}", report.differences);
        prop_assert_eq!(report.movements, h.written);
    }
}
