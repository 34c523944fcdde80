//! Writes the `docs_sync` seed corpus: postcard encodings of documents
//! requests and responses (the harness zstd-compresses its input itself)
//! carrying real Automerge changes made against the harness's own fixtures,
//! so the fuzzer starts from changes the hub judges rather than from bytes
//! that never parse. Compiled only by `hub/tests/fuzz_regressions.rs`; after
//! changing a fixture, run
//! `JXC_WRITE_SEEDS=1 cargo test -p jxc-hub --test fuzz_regressions docs_sync_seeds`.
//! Actors and change times are fixed, so the same fixtures give the same bytes.

use crate::docs_sync::{self as h, BRANCH, DEALER};
use chrono::NaiveDate;
use jxc_shared::docs::automerge::{ActorId, AutoCommit, ChangeHash};
use jxc_shared::docs::{
    self, CatalogItem, Customer, CustomerField, DocId, SellThrough, SharePolicy, StockScope,
};
use jxc_shared::protocol::{DocOffer, DocReply, DocsRequest, DocsResponse};
use jxc_shared::{SiteId, Sku};
use std::path::Path;

/// Every seed, by file name.
pub(crate) fn seeds() -> Vec<(&'static str, Vec<u8>)> {
    let mut out: Vec<(&'static str, Vec<u8>)> = requests()
        .into_iter()
        .map(|(name, req)| (name, postcard::to_stdvec(&req).unwrap()))
        .collect();
    out.extend(
        responses()
            .into_iter()
            .map(|(name, resp)| (name, postcard::to_stdvec(&resp).unwrap())),
    );
    out
}

/// Replaces the files of `dir` with the seeds.
pub(crate) fn write(dir: &Path) {
    std::fs::create_dir_all(dir).unwrap();
    for e in std::fs::read_dir(dir).unwrap() {
        let path = e.unwrap().path();
        if path.is_file() {
            std::fs::remove_file(path).unwrap();
        }
    }
    for (name, bytes) in seeds() {
        std::fs::write(dir.join(name), bytes).unwrap();
    }
}

fn actor(byte: u8) -> ActorId {
    ActorId::from([byte; 16].as_slice())
}

/// The actor the dealer's agent writes with (the hub binds the first it sees).
fn dealer_actor() -> ActorId {
    actor(0xd1)
}

/// Makes one change to `doc` with `edit`; returns its bytes.
fn change(doc: &mut AutoCommit, edit: impl FnOnce(&mut AutoCommit)) -> Vec<u8> {
    edit(doc);
    doc.commit().expect("the edit changes the document");
    doc.get_last_local_change().unwrap().raw_bytes().to_vec()
}

fn add_customer(doc: &mut AutoCommit, id: &str, name: &str) {
    let name = CustomerField::Name.value(name).unwrap();
    Customer::set(doc, id, &[(CustomerField::Name, name)]).unwrap();
}

fn set_field(doc: &mut AutoCommit, id: &str, field: CustomerField, value: &str) {
    let value = field.value(value).unwrap();
    Customer::set(doc, id, &[(field, value)]).unwrap();
}

/// TEA-1 with a new price, as a catalog edit.
fn repriced(price: &str) -> CatalogItem {
    let mut item = h::catalog_items().remove(0);
    item.list_price = Some(jxc_shared::Money::parse("list_price", price).unwrap());
    item
}

fn heads(doc: &mut AutoCommit) -> Vec<[u8; 32]> {
    doc.get_heads().iter().map(docs::hash_bytes).collect()
}

fn offer(doc: &DocId, heads: Vec<[u8; 32]>, changes: Vec<Vec<u8>>) -> DocOffer {
    DocOffer {
        doc: doc.to_string(),
        heads,
        changes,
    }
}

fn named(doc: &str) -> DocOffer {
    DocOffer {
        doc: doc.into(),
        heads: Vec::new(),
        changes: Vec::new(),
    }
}

fn requests() -> Vec<(&'static str, DocsRequest)> {
    let fixture = h::hub_fixture();
    let hub = &fixture.store;
    let (branch, dealer) = (h::site(BRANCH), h::site(DEALER));
    let customers = DocId::Customers(branch.clone());
    let tea = docs::catalog_shard("TEA-1");
    let lot = docs::catalog_shard("LOT-1");
    let mut held = hub.doc(&customers).unwrap();
    let mut tea_doc = hub.doc(&tea).unwrap();
    let mut lot_doc = hub.doc(&lot).unwrap();

    // The branch's own edits, on what the hub holds.
    let mut own = held.fork().with_actor(h::branch_actor());
    let own1 = change(&mut own, |d| add_customer(d, "C-1", "王五"));
    let own2 = change(&mut own, |d| {
        set_field(d, "C-1", CustomerField::Phone, "138 0000 0000")
    });
    // Another change numbered as `own1` is: what a ledger restored from a
    // backup would make after the hub took `own1`.
    let mut restored = held.fork().with_actor(h::branch_actor());
    let twin = change(&mut restored, |d| add_customer(d, "C-1", "王五 (restored)"));
    // An actor the hub never bound, and the branch's actor building on it.
    let mut foreign = held.fork().with_actor(actor(0xf0));
    let foreign1 = change(&mut foreign, |d| add_customer(d, "C-2", "外人"));
    let mut on_foreign = foreign.fork().with_actor(h::branch_actor());
    let on_foreign1 = change(&mut on_foreign, |d| {
        set_field(d, "C-2", CustomerField::Region, "north")
    });
    // Catalog edits claiming to be the branch, HQ and the dealer.
    let mut by = |a: ActorId| {
        let mut d = tea_doc.fork().with_actor(a);
        change(&mut d, |d| {
            repriced("1").write(d).unwrap();
        })
    };
    let claims = vec![
        by(h::branch_actor()),
        by(h::hub_actor()),
        by(dealer_actor()),
    ];
    // The dealer's documents, by its actor.
    let policy_change = |sell_through| {
        let policy = SharePolicy {
            stock: StockScope::Selected {
                categories: ["tea".to_owned()].into(),
                skus: ["LOT-1".to_owned()].into(),
            },
            sell_through,
            costs_and_prices: false,
            from: NaiveDate::from_ymd_opt(2026, 1, 1),
        };
        let mut d = AutoCommit::new().with_actor(dealer_actor());
        change(&mut d, |d| {
            policy.write(d).unwrap();
        })
    };
    let identity = policy_change(SellThrough::Identity);
    let daily = policy_change(SellThrough::DailyTotals);
    let mut map = AutoCommit::new().with_actor(dealer_actor());
    let map1 = change(&mut map, |d| {
        let (code, sku) = (Sku::parse("D-TEA").unwrap(), Sku::parse("TEA-1").unwrap());
        docs::set_sku_mapping(d, &code, &sku).unwrap();
    });
    let mut dealer_customers = AutoCommit::new().with_actor(dealer_actor());
    let dealer_customer = change(&mut dealer_customers, |d| add_customer(d, "D-C1", "赵六"));
    let mut second = AutoCommit::new().with_actor(actor(0xd2));
    let second_actor = change(&mut second, |d| {
        let (code, sku) = (Sku::parse("D-LOT").unwrap(), Sku::parse("LOT-1").unwrap());
        docs::set_sku_mapping(d, &code, &sku).unwrap();
    });
    let mut by_branch = AutoCommit::new().with_actor(h::branch_actor());
    let branch_in_dealer = change(&mut by_branch, |d| add_customer(d, "D-C2", "钱七"));
    let mut branch_policy = AutoCommit::new().with_actor(h::branch_actor());
    let branch_policy = change(&mut branch_policy, |d| {
        SharePolicy::everything().write(d).unwrap();
    });

    let policy = DocId::Policy(dealer.clone());
    let skumap = DocId::SkuMap(dealer.clone());
    let dealer_docs = DocId::Customers(dealer.clone());
    let up_to_date = |doc: &DocId, hub: &jxc_hub::store::Store| {
        offer(doc, heads(&mut hub.doc(doc).unwrap()), Vec::new())
    };
    let mut agent_round: Vec<DocOffer> = DocId::catalog_shards()
        .map(|d| up_to_date(&d, hub))
        .collect();
    agent_round.push(up_to_date(&customers, hub));

    let req = |offers: Vec<DocOffer>| DocsRequest { offers };
    let seeds = vec![
        (
            "request_branch_own_customer",
            req(vec![
                offer(
                    &customers,
                    heads(&mut held),
                    vec![own1.clone(), own2.clone()],
                ),
                offer(&tea, Vec::new(), Vec::new()),
                offer(&lot, heads(&mut lot_doc), Vec::new()),
            ]),
        ),
        ("request_agent_round_up_to_date", req(agent_round)),
        (
            "request_foreign_actors",
            req(vec![
                offer(&customers, heads(&mut held), vec![foreign1.clone()]),
                offer(&dealer_docs, Vec::new(), vec![branch_in_dealer]),
                offer(&skumap, Vec::new(), vec![second_actor]),
            ]),
        ),
        (
            "request_duplicate_seq",
            req(vec![
                offer(&customers, heads(&mut held), vec![own1.clone()]),
                offer(&customers, heads(&mut held), vec![twin]),
            ]),
        ),
        (
            "request_refused_chain",
            req(vec![offer(
                &customers,
                heads(&mut held),
                vec![on_foreign1, foreign1.clone()],
            )]),
        ),
        (
            "request_catalog_claims",
            req(vec![offer(&tea, heads(&mut tea_doc), claims)]),
        ),
        (
            "request_dealer_docs",
            req(vec![
                offer(&tea, Vec::new(), Vec::new()),
                offer(&policy, Vec::new(), vec![identity.clone()]),
                offer(&skumap, Vec::new(), vec![map1.clone()]),
                offer(&dealer_docs, Vec::new(), vec![dealer_customer.clone()]),
            ]),
        ),
        (
            "request_dealer_customers_before_policy",
            req(vec![
                offer(&dealer_docs, Vec::new(), vec![dealer_customer.clone()]),
                offer(&policy, Vec::new(), vec![identity]),
            ]),
        ),
        (
            "request_dealer_daily_totals_customers",
            req(vec![
                offer(&policy, Vec::new(), vec![daily]),
                offer(&skumap, Vec::new(), vec![map1]),
                offer(&dealer_docs, Vec::new(), vec![dealer_customer]),
            ]),
        ),
        (
            "request_held_and_broken",
            req(vec![
                offer(
                    &customers,
                    heads(&mut held),
                    vec![
                        own2,
                        vec![0x85, 0x6f, 0x4a, 0x83, 1, 2, 3],
                        own1[..own1.len() / 2].to_vec(),
                    ],
                ),
                named("catalog/64"),
                named("catalog/7"),
                named("customers/"),
                named("nope/BR01"),
                offer(
                    &DocId::Customers(SiteId::parse("SH01").unwrap()),
                    Vec::new(),
                    vec![foreign1],
                ),
                offer(
                    &DocId::Policy(branch.clone()),
                    Vec::new(),
                    vec![branch_policy],
                ),
            ]),
        ),
    ];
    check_requests(&seeds);
    seeds
}

/// The seeds do what their names say, against a fresh fixture each.
fn check_requests(seeds: &[(&str, DocsRequest)]) {
    let refusals = |name: &str, site: &str| -> Vec<usize> {
        let req = &seeds.iter().find(|(n, _)| *n == name).unwrap().1;
        let mut fixture = h::hub_fixture();
        let (replies, _) = h::answer(&mut fixture.store, &h::site(site), req).unwrap();
        replies.iter().map(|r| r.refused.len()).collect()
    };
    assert_eq!(
        refusals("request_branch_own_customer", BRANCH),
        vec![0, 0, 0]
    );
    assert_eq!(refusals("request_dealer_docs", DEALER), vec![0, 0, 0, 0]);
    assert_eq!(
        refusals("request_dealer_customers_before_policy", DEALER),
        vec![1, 0]
    );
    assert_eq!(
        refusals("request_dealer_daily_totals_customers", DEALER),
        vec![0, 0, 1]
    );
    assert_eq!(refusals("request_catalog_claims", BRANCH), vec![3]);
    assert_eq!(refusals("request_refused_chain", BRANCH), vec![2]);
    assert_eq!(refusals("request_foreign_actors", DEALER), vec![0, 1, 0]);
}

fn reply(doc: &DocId, heads: Vec<[u8; 32]>, data: Vec<Vec<u8>>) -> DocReply {
    DocReply {
        doc: doc.to_string(),
        heads,
        data,
        refused: Vec::new(),
        error: None,
    }
}

fn responses() -> Vec<(&'static str, DocsResponse)> {
    let branch = h::site(BRANCH);
    let customers = DocId::Customers(branch.clone());
    // What the hub holds of the branch's customers, with HQ's credit terms.
    let mut hub_customers = h::branch_customers().fork().with_actor(h::hub_actor());
    change(&mut hub_customers, |d| {
        set_field(d, "C-0", CustomerField::CreditLimit, "5000");
        set_field(d, "C-0", CustomerField::TermsDays, "30");
    });
    // A change numbered as the one the agent's shard holds: it does not load.
    let mut twin = AutoCommit::new().with_actor(h::hub_actor());
    change(&mut twin, |d| {
        repriced("1").write(d).unwrap();
    });
    // The agent's fixture holds TEA-1's shard; HQ then reprices TEA-1.
    let (tea, mut tea_doc) = h::catalog_shard("TEA-1");
    let synced: Vec<ChangeHash> = tea_doc.get_heads();
    let mut repriced_doc = tea_doc.fork().with_actor(h::hub_actor());
    change(&mut repriced_doc, |d| {
        repriced("208").write(d).unwrap();
    });
    let tea_edit = reply(
        &tea,
        heads(&mut repriced_doc),
        vec![repriced_doc.save_after(&synced)],
    );
    let (lot, mut lot_doc) = h::catalog_shard("LOT-1");
    // Two sites' concurrent edits of one field: a conflict to read.
    let mut left = hub_customers.fork().with_actor(h::branch_actor());
    let mut right = hub_customers.fork().with_actor(actor(0xf0));
    change(&mut left, |d| {
        set_field(d, "C-0", CustomerField::Phone, "1")
    });
    change(&mut right, |d| {
        set_field(d, "C-0", CustomerField::Phone, "2")
    });
    left.merge(&mut right).unwrap();
    let mut skumap = AutoCommit::new().with_actor(actor(0xd1));
    change(&mut skumap, |d| {
        let (code, sku) = (Sku::parse("B-TEA").unwrap(), Sku::parse("TEA-1").unwrap());
        docs::set_sku_mapping(d, &code, &sku).unwrap();
    });

    let resp = |replies: Vec<DocReply>, more| DocsResponse { replies, more };
    let seeds = vec![
        (
            "response_new_agent",
            resp(
                vec![
                    reply(&lot, heads(&mut lot_doc), vec![lot_doc.save()]),
                    reply(
                        &customers,
                        heads(&mut hub_customers),
                        vec![hub_customers.save()],
                    ),
                ],
                true,
            ),
        ),
        ("response_catalog_edit", resp(vec![tea_edit.clone()], false)),
        (
            "response_conflict_and_sku_map",
            resp(
                vec![
                    reply(&customers, heads(&mut left), vec![left.save()]),
                    reply(
                        &DocId::SkuMap(branch.clone()),
                        heads(&mut skumap),
                        vec![skumap.save()],
                    ),
                ],
                false,
            ),
        ),
        (
            "response_heads_only",
            resp(
                vec![
                    reply(&tea, heads(&mut tea_doc), Vec::new()),
                    reply(&customers, vec![[7; 32]], Vec::new()),
                    DocReply {
                        error: Some("document customers/SH01 belongs to another site".into()),
                        ..reply(
                            &DocId::Customers(SiteId::parse("SH01").unwrap()),
                            Vec::new(),
                            Vec::new(),
                        )
                    },
                ],
                false,
            ),
        ),
        (
            "response_bad_data_after_good",
            resp(
                vec![
                    reply(
                        &customers,
                        heads(&mut hub_customers),
                        vec![hub_customers.save()],
                    ),
                    reply(&tea, heads(&mut twin), vec![twin.save()]),
                    reply(
                        &lot,
                        vec![[9; 32]],
                        vec![vec![0x85, 0x6f, 0x4a, 0x83, 0xff, 0xff, 0xff, 0xff]],
                    ),
                ],
                false,
            ),
        ),
        (
            "response_unknown_doc",
            resp(
                vec![reply(&tea, Vec::new(), Vec::new()), named_reply("bogus/1")],
                false,
            ),
        ),
    ];
    check_responses(&seeds);
    seeds
}

/// The seeds do what their names say: each applies to the agent's fixture,
/// except the one that does not load.
fn check_responses(seeds: &[(&str, DocsResponse)]) {
    for (name, resp) in seeds {
        let Ok(replies) = resp
            .replies
            .iter()
            .filter(|r| r.error.is_none())
            .map(|r| DocId::parse(&r.doc).map(|id| (id, r)))
            .collect::<Result<Vec<_>, _>>()
        else {
            assert_eq!(*name, "response_unknown_doc");
            continue;
        };
        let dir = tempfile::tempdir().unwrap();
        let applied = h::agent_fixture(dir.path()).apply_doc_replies(&replies);
        assert_eq!(
            applied.is_ok(),
            *name != "response_bad_data_after_good",
            "{name}: {applied:?}"
        );
    }
}

fn named_reply(doc: &str) -> DocReply {
    DocReply {
        doc: doc.into(),
        heads: Vec::new(),
        data: Vec::new(),
        refused: Vec::new(),
        error: None,
    }
}
