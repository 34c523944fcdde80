//! Fuzz harness for the shared-documents door, `POST /v1/docs`, from bytes to
//! both stores: decoding requests and responses; the hub answering a request
//! (`store::docs::apply_offers`, offers with changes first, as the handler
//! does) from a dealer and from a branch, over a hub that holds an HQ catalog
//! and the branch's customers, then the same request again, then the HQ
//! views; and an agent taking a response the way `sync_docs` does
//! (`apply_doc_replies`). Compiled by `fuzz/fuzz_targets/docs_sync.rs` and by
//! `hub/tests/fuzz_regressions.rs`, which replays committed inputs;
//! `fuzz/seedgen/docs_seeds.rs` writes the seeds from this file's fixtures.
//!
//! Besides "no panic" it checks what must hold for any input: a bad request
//! is refused as bad input, never as a server error; each site is answered
//! for the documents it may read only, and its request changes only its own
//! documents, with the one actor the hub bound to it (never the catalog);
//! every refusal reported is recorded; a new agent's data loads to the heads
//! the hub names; a request replayed after everything in it was settled
//! changes nothing and records nothing new; HQ still reads its views. On the
//! agent: a response either applies (every document still loads, and taking
//! it again changes nothing) or fails as the hub's fault, changing nothing.

use chrono::{DateTime, FixedOffset, TimeZone, Utc};
use jxc_agent::AgentError;
use jxc_agent::store::{SiteInfo, Store as Ledger};
use jxc_hub::error::HubError;
use jxc_hub::store::docs::apply_offers;
use jxc_hub::store::{NewSite, Store};
use jxc_shared::docs::automerge::{ActorId, AutoCommit, Change, ChangeHash};
use jxc_shared::docs::{self, CatalogItem, Customer, CustomerField, DocId};
use jxc_shared::protocol::{
    self, DOCS_RESPONSE_BUDGET, DocOffer, DocReply, DocsRequest, DocsResponse,
    MAX_DOCS_RESPONSE_BYTES,
};
use jxc_shared::{SiteId, SiteKind};
use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use crate::scratch::scratch_dir;

/// The branch: enrolled naming its actor, as agents do.
pub(crate) const BRANCH: &str = "BR01";
/// The dealer: enrolled without naming its actor (an older agent), so the
/// first actor of the fuzzed request is bound on its first document sync.
pub(crate) const DEALER: &str = "DL01";

pub(crate) fn run(data: &[u8]) {
    // The bytes as a body, straight into the zstd layer, with the limit each
    // side decodes with.
    let _ = protocol::decode::<DocsRequest>("documents request", data);
    let _ = protocol::decode_limited::<DocsResponse>(
        "documents response",
        data,
        MAX_DOCS_RESPONSE_BYTES,
    );
    // The bytes as the postcard message inside a well-formed body, so the
    // fuzzer explores message structure rather than zstd frames.
    let body = zstd::bulk::compress(data, 1).expect("in-memory zstd compression does not fail");
    if let Ok(req) = protocol::decode::<DocsRequest>("documents request", &body) {
        hub_handles(&req);
    }
    if let Ok(resp) = protocol::decode_limited::<DocsResponse>(
        "documents response",
        &body,
        MAX_DOCS_RESPONSE_BYTES,
    ) {
        agent_applies(&resp);
    }
}

pub(crate) fn site(id: &str) -> SiteId {
    SiteId::parse(id).unwrap()
}

/// HQ's actor: the hub writes the catalog with it.
pub(crate) fn hub_actor() -> ActorId {
    ActorId::from([0x48; 16].as_slice())
}

/// The actor the hub binds to the branch.
pub(crate) fn branch_actor() -> ActorId {
    ActorId::from([0xb1; 16].as_slice())
}

fn now() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 22, 8, 0, 0).unwrap()
}

/// The HQ catalog: a decimal product and a lot-tracked one.
pub(crate) fn catalog_items() -> Vec<CatalogItem> {
    let item = |fields: &[(&str, &str)]| {
        CatalogItem::from_text(|c| {
            fields
                .iter()
                .find(|(k, _)| *k == c)
                .map(|(_, v)| (*v).to_owned())
                .unwrap_or_default()
        })
        .unwrap()
    };
    vec![
        item(&[
            ("sku", "TEA-1"),
            ("name", "龙井, 特级"),
            ("unit", "盒"),
            ("decimals", "2"),
            ("category", "tea"),
            ("list_price", "198"),
            ("dealer_price", "150.5"),
            ("lead_time_days", "7"),
        ]),
        item(&[
            ("sku", "LOT-1"),
            ("name", "lotted"),
            ("lot_tracked", "true"),
            ("pack_size", "12"),
        ]),
    ]
}

/// HQ's catalog shard of `sku` as a document HQ wrote (what an agent that
/// has synced holds).
pub(crate) fn catalog_shard(sku: &str) -> (DocId, AutoCommit) {
    let id = docs::catalog_shard(sku);
    let mut doc = AutoCommit::new().with_actor(hub_actor());
    for i in catalog_items() {
        if docs::catalog_shard(i.product.sku.as_str()) == id {
            i.write(&mut doc).unwrap();
        }
    }
    doc.commit();
    (id, doc)
}

/// The branch's customers as the branch first wrote them: one customer.
pub(crate) fn branch_customers() -> AutoCommit {
    let mut doc = AutoCommit::new().with_actor(branch_actor());
    let name = CustomerField::Name.value("张三商行").unwrap();
    let region = CustomerField::Region.value("east").unwrap();
    Customer::set(
        &mut doc,
        "C-0",
        &[(CustomerField::Name, name), (CustomerField::Region, region)],
    )
    .unwrap();
    doc.commit();
    doc
}

pub(crate) struct HubFixture {
    _dir: tempfile::TempDir,
    pub(crate) store: Store,
    /// The catalog as HQ reads it; no site's request may change it.
    catalog: Vec<CatalogItem>,
}

/// A hub with the branch and the dealer enrolled, the HQ catalog written
/// through the store (so its shards exist), and the branch's customers
/// synced once.
pub(crate) fn hub_fixture() -> HubFixture {
    let dir = scratch_dir();
    let mut store = Store::open(
        &jxc_hub::store::Target::Sqlite(dir.path().to_path_buf()),
        true,
    )
    .expect("a fresh hub store opens");
    enroll(&mut store, BRANCH, SiteKind::Branch, Some(&branch_actor()));
    enroll(&mut store, DEALER, SiteKind::Dealer, None);
    store
        .write_catalog(&catalog_items(), &hub_actor(), now())
        .expect("HQ writes its catalog");
    let catalog = store.catalog(None).expect("HQ reads its catalog");
    let offer = DocOffer {
        doc: DocId::Customers(site(BRANCH)).to_string(),
        heads: Vec::new(),
        changes: branch_customers()
            .get_changes(&[])
            .iter()
            .map(|c| c.raw_bytes().to_vec())
            .collect(),
    };
    let reply = store
        .apply_offer(
            &site(BRANCH),
            &hub_actor(),
            &offer,
            &mut { usize::MAX },
            now(),
        )
        .expect("the branch's first sync");
    assert!(
        reply.error.is_none() && reply.refused.is_empty() && reply.heads.len() == 1,
        "{reply:?}"
    );
    HubFixture {
        _dir: dir,
        store,
        catalog,
    }
}

/// Enrolls `site` the way `/v1/enroll` does, minus the certificate.
fn enroll(store: &mut Store, site: &str, kind: SiteKind, actor: Option<&ActorId>) {
    let token = format!("t-{site}");
    let new = NewSite {
        id: SiteId::parse(site).unwrap(),
        kind,
        name: "fuzz".into(),
        region: "east".into(),
    };
    store
        .add_token(&token, "secret", &new, chrono::Duration::hours(1), now())
        .unwrap();
    store
        .redeem_token_binding(&token, "secret", actor, now(), |_, _| Ok(()))
        .unwrap();
}

/// What `http::replicated::docs` does with a decoded request once it knows the
/// client: offers with changes first, then the rest, under one budget, the
/// replies put back in offer order. Also says whether the budget lasted, so
/// that every reply carries all the data it would. (The handler refuses
/// more than 128 offers first; any number goes through here, which only
/// explores more.)
pub(crate) fn answer(
    store: &mut Store,
    site: &SiteId,
    req: &DocsRequest,
) -> Result<(Vec<DocReply>, bool), HubError> {
    let (writes, reads): (Vec<_>, Vec<_>) = req
        .offers
        .iter()
        .cloned()
        .enumerate()
        .partition(|(_, o)| !o.changes.is_empty());
    let mut budget = DOCS_RESPONSE_BUDGET;
    let mut replies = Vec::with_capacity(req.offers.len());
    for part in [writes, reads] {
        if part.is_empty() {
            continue;
        }
        let (at, offers): (Vec<_>, Vec<_>) = part.into_iter().unzip();
        let (r, _more) = apply_offers(store, site, &hub_actor(), &offers, &mut budget, now())?;
        replies.extend(at.into_iter().zip(r));
    }
    replies.sort_by_key(|(at, _)| *at);
    Ok((replies.into_iter().map(|(_, r)| r).collect(), budget > 0))
}

/// What the hub does with a request, from the dealer and then from the
/// branch, twice.
fn hub_handles(req: &DocsRequest) {
    if req.offers.is_empty() {
        return; // nothing to apply and nothing to answer
    }
    let HubFixture {
        _dir,
        store,
        catalog,
    } = hub_fixture();
    let watched = watched_docs(req);
    let mut hub = Hub {
        heads: doc_heads(&store, &watched),
        store,
        watched,
        dealer_actor: None,
    };
    let sites = [site(DEALER), site(BRANCH)];
    let policy = enforced_policy(&hub.store);

    let mut first = Vec::new();
    let mut settled = true;
    for s in &sites {
        let replies = hub.pass(s, req);
        settled &= replies
            .as_ref()
            .is_some_and(|r| all_settled(&mut hub.store, req, r));
        first.push(replies);
    }
    // A change the hub held back waits for what it builds on, which a later
    // offer may have brought; a dealer's customers are judged against its
    // sharing policy, which the request may have changed. Either way the
    // same request may rightly do more the second time.
    let dealer_customers = DocId::Customers(site(DEALER)).to_string();
    let withheld = first
        .iter()
        .flatten()
        .flatten()
        .any(|r| r.doc == dealer_customers && !r.refused.is_empty());
    let settled = settled && !(withheld && enforced_policy(&hub.store) != policy);
    let heads = hub.heads.clone();
    let refusals = refusal_hashes(&hub.store);

    // The same request again, as a retry after a lost answer.
    for (s, first) in sites.iter().zip(first) {
        let again = hub.pass(s, req);
        if let (true, Some(first), Some(again)) = (settled, first, again) {
            for (a, b) in first.iter().zip(&again) {
                assert_eq!(
                    refused(a),
                    refused(b),
                    "{s}: replaying {} refused other changes",
                    a.doc
                );
            }
        }
    }
    if settled {
        assert_eq!(
            hub.heads, heads,
            "replaying a settled request changed documents"
        );
        assert_eq!(
            refusal_hashes(&hub.store),
            refusals,
            "replaying a settled request recorded new refusals"
        );
    }

    // HQ reads everything, and its catalog is as HQ wrote it.
    let store = &hub.store;
    let now_catalog = store
        .catalog(None)
        .unwrap_or_else(|e| panic!("catalog: {e}"));
    assert_eq!(now_catalog, catalog, "a site's request changed the catalog");
    store
        .customers(None)
        .unwrap_or_else(|e| panic!("customers: {e}"));
    store
        .share_policies()
        .unwrap_or_else(|e| panic!("share_policies: {e}"));
    store
        .doc_refusals()
        .unwrap_or_else(|e| panic!("doc_refusals: {e}"));
}

/// The hub's store and what the checks remember between passes.
struct Hub {
    store: Store,
    /// The documents whose heads are compared.
    watched: BTreeSet<DocId>,
    /// Their heads after the last pass.
    heads: BTreeMap<DocId, Vec<ChangeHash>>,
    /// The dealer's actor, once one of its changes was taken.
    dealer_actor: Option<ActorId>,
}

impl Hub {
    /// Answers `req` from `site` and checks the answer and what it wrote;
    /// `None` when the request was refused as a whole (as bad input).
    fn pass(&mut self, site: &SiteId, req: &DocsRequest) -> Option<Vec<DocReply>> {
        let result = answer(&mut self.store, site, req);
        let after = doc_heads(&self.store, &self.watched);
        self.check_writes(site, &after);
        self.heads = after;
        match result {
            Ok((replies, full)) => {
                check_replies(&self.store, site, req, &replies, full);
                Some(replies)
            }
            Err(e) => {
                assert!(
                    e.status().is_client_error(),
                    "{site}'s request failed as a server error: {e:?}"
                );
                None
            }
        }
    }

    /// What changed in a pass of `site` is `site`'s own documents, in
    /// changes of the actor bound to it: the fixture's for the branch, and
    /// for the dealer one actor, whichever came first.
    fn check_writes(&mut self, site: &SiteId, after: &BTreeMap<DocId, Vec<ChangeHash>>) {
        for (id, old) in &self.heads {
            if after.get(id) == Some(old) {
                continue;
            }
            assert_eq!(id.owner(), Some(site), "{site}'s request changed {id}");
            let mut doc = self.store.doc(id).unwrap();
            for c in doc.get_changes(old) {
                let actor = c.actor_id();
                let bound = if site.as_str() == BRANCH {
                    branch_actor()
                } else {
                    let first = self.dealer_actor.get_or_insert_with(|| actor.clone());
                    first.clone()
                };
                assert_eq!(
                    actor, &bound,
                    "{id} took a change by {actor}, not by {site}'s actor {bound}"
                );
            }
        }
    }
}

/// The documents whose heads are compared: the fixture's, the dealer's,
/// and every one the request names.
fn watched_docs(req: &DocsRequest) -> BTreeSet<DocId> {
    let mut ids: BTreeSet<DocId> = req
        .offers
        .iter()
        .filter_map(|o| DocId::parse(&o.doc).ok())
        .collect();
    for i in catalog_items() {
        ids.insert(docs::catalog_shard(i.product.sku.as_str()));
    }
    let (branch, dealer) = (site(BRANCH), site(DEALER));
    ids.insert(DocId::Customers(branch));
    ids.insert(DocId::Customers(dealer.clone()));
    ids.insert(DocId::Policy(dealer.clone()));
    ids.insert(DocId::SkuMap(dealer));
    ids
}

fn doc_heads(store: &Store, ids: &BTreeSet<DocId>) -> BTreeMap<DocId, Vec<ChangeHash>> {
    ids.iter()
        .map(|id| {
            let mut doc = store
                .doc(id)
                .unwrap_or_else(|e| panic!("{id} no longer loads: {e}"));
            let mut heads = doc.get_heads();
            heads.sort_unstable();
            (id.clone(), heads)
        })
        .collect()
}

fn check_replies(
    store: &Store,
    site: &SiteId,
    req: &DocsRequest,
    replies: &[DocReply],
    full: bool,
) {
    assert_eq!(replies.len(), req.offers.len(), "one reply per offer");
    let recorded: BTreeSet<String> = refusal_hashes(store);
    for (offer, reply) in req.offers.iter().zip(replies) {
        assert_eq!(reply.doc, offer.doc, "replies in offer order");
        let readable =
            DocId::parse(&offer.doc).is_ok_and(|id| id.owner().is_none_or(|o| o == site));
        if !readable {
            assert!(
                reply.error.is_some()
                    && reply.data.is_empty()
                    && reply.heads.is_empty()
                    && reply.refused.is_empty(),
                "{site} was answered for {}: {reply:?}",
                offer.doc
            );
            continue;
        }
        assert!(
            reply.error.is_none(),
            "{site} may read {}: {reply:?}",
            offer.doc
        );
        for r in &reply.refused {
            assert!(
                recorded.contains(&hex(&r.hash)),
                "refused change {} of {} is not recorded",
                hex(&r.hash),
                offer.doc
            );
            assert!(!r.reason.trim().is_empty(), "a refusal without a reason");
        }
        // An agent that holds nothing of the document gets all of it.
        if full && offer.heads.is_empty() {
            let mut copy = AutoCommit::new();
            for d in &reply.data {
                copy.load_incremental(d).unwrap_or_else(|e| {
                    panic!("the hub's data for {} does not load: {e}", offer.doc)
                });
            }
            let mut got: Vec<[u8; 32]> = copy.get_heads().iter().map(docs::hash_bytes).collect();
            let mut named = reply.heads.clone();
            got.sort_unstable();
            named.sort_unstable();
            assert_eq!(
                got, named,
                "{}: the data does not reach the heads sent",
                offer.doc
            );
        }
    }
}

/// Whether every change of the request is either in its document now or
/// reported refused (so replaying it has nothing left to decide).
fn all_settled(store: &mut Store, req: &DocsRequest, replies: &[DocReply]) -> bool {
    req.offers.iter().zip(replies).all(|(offer, reply)| {
        let Ok(id) = DocId::parse(&offer.doc) else {
            return true;
        };
        if reply.error.is_some() || offer.changes.is_empty() {
            return true;
        }
        let mut doc = store.doc(&id).unwrap();
        let refused = refused(reply);
        offer
            .changes
            .iter()
            .all(|raw| match Change::from_bytes(raw.clone()) {
                Ok(c) => {
                    doc.get_change_by_hash(&c.hash()).is_some() || refused.contains(&c.hash().0)
                }
                Err(_) => true, // refused as not a change
            })
    })
}

fn refused(reply: &DocReply) -> BTreeSet<[u8; 32]> {
    reply.refused.iter().map(|r| r.hash).collect()
}

fn refusal_hashes(store: &Store) -> BTreeSet<String> {
    store
        .doc_refusals()
        .unwrap_or_else(|e| panic!("doc_refusals: {e}"))
        .into_iter()
        .map(|r| r.hash)
        .collect()
}

/// The sharing policy the hub enforces on the dealer, if it has one.
fn enforced_policy(store: &Store) -> Option<String> {
    store
        .share_policies()
        .unwrap_or_else(|e| panic!("share_policies: {e}"))
        .into_iter()
        .find(|p| p.site == DEALER)
        .map(|p| p.policy.to_string())
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn agent_now() -> DateTime<FixedOffset> {
    now().with_timezone(&FixedOffset::east_opt(8 * 3600).unwrap())
}

/// A branch's ledger that has synced a catalog shard and added a customer.
pub(crate) fn agent_fixture(dir: &std::path::Path) -> Ledger {
    let info = SiteInfo {
        id: site(BRANCH),
        kind: SiteKind::Branch,
        name: "fuzz".into(),
        region: "east".into(),
    };
    let mut ledger =
        Ledger::init(dir, info, Duration::from_secs(5), agent_now()).expect("init a ledger");
    let (id, mut shard) = catalog_shard("TEA-1");
    let reply = DocReply {
        doc: id.to_string(),
        heads: shard.get_heads().iter().map(docs::hash_bytes).collect(),
        data: vec![shard.save()],
        refused: Vec::new(),
        error: None,
    };
    ledger
        .apply_doc_replies(&[(id, &reply)])
        .expect("take a catalog shard");
    ledger
        .edit_doc(&DocId::Customers(site(BRANCH)), |doc| {
            let name = CustomerField::Name.value("李四").unwrap();
            Customer::set(doc, "C-9", &[(CustomerField::Name, name)])
                .map_err(|e| AgentError::DataDir(e.to_string()))
        })
        .expect("add a customer");
    ledger
}

/// What an agent's documents look like from outside: each document's row
/// and heads, and the tables they feed.
#[derive(Debug, PartialEq)]
struct AgentDocs {
    list: Vec<(String, usize, i64, bool)>,
    heads: Vec<Vec<ChangeHash>>,
    offers: Vec<DocOffer>,
    customers: Vec<Customer>,
    sku_map: Vec<(String, String)>,
}

fn agent_docs(ledger: &Ledger) -> AgentDocs {
    let list = ledger.doc_list().expect("doc_list");
    let mut heads = Vec::new();
    let mut offers = Vec::new();
    for (name, _, _, _) in &list {
        let id = DocId::parse(name).unwrap_or_else(|e| panic!("the ledger holds {name}: {e}"));
        let mut doc = ledger
            .doc(&id)
            .unwrap_or_else(|e| panic!("{id} no longer loads: {e}"));
        let mut h = doc.get_heads();
        h.sort_unstable();
        heads.push(h);
        offers.push(ledger.doc_offer(&id, true).expect("doc_offer"));
    }
    AgentDocs {
        list,
        heads,
        offers,
        customers: ledger.customers().expect("customers"),
        sku_map: ledger.sku_map().expect("sku_map"),
    }
}

/// What `sync_docs` does with the hub's answer.
fn agent_applies(resp: &DocsResponse) {
    // Replies with an error are reported, not applied; one naming an
    // unknown document fails the round before the ledger is touched.
    let Ok(replies) = resp
        .replies
        .iter()
        .filter(|r| r.error.is_none())
        .map(|r| DocId::parse(&r.doc).map(|id| (id, r)))
        .collect::<Result<Vec<_>, _>>()
    else {
        return;
    };
    if replies.is_empty() {
        return;
    }
    let dir = scratch_dir();
    let mut ledger = agent_fixture(dir.path());
    let before = agent_docs(&ledger);
    match ledger.apply_doc_replies(&replies) {
        Ok(changed) => {
            let after = agent_docs(&ledger);
            assert!(changed as usize <= replies.len());
            for (id, _) in &replies {
                let name = id.to_string();
                assert!(
                    after.list.iter().any(|(n, ..)| *n == name),
                    "{name} was applied but is not held"
                );
            }
            // A retry of the same answer changes nothing (when each document
            // is answered once, as the hub does).
            let docs: BTreeSet<&DocId> = replies.iter().map(|(id, _)| id).collect();
            if docs.len() == replies.len() {
                let again = ledger.apply_doc_replies(&replies).unwrap_or_else(|e| {
                    panic!("an answer applied once fails the second time: {e}")
                });
                assert_eq!(again, 0, "an answer applied twice changed documents again");
                assert_eq!(agent_docs(&ledger), after, "an answer applied twice");
            }
        }
        Err(e) => {
            assert!(
                matches!(e, AgentError::HubRefused(_)),
                "a bad answer failed as something else: {e:?}"
            );
            assert_eq!(
                agent_docs(&ledger),
                before,
                "a failed answer changed the ledger's documents: {e}"
            );
        }
    }
}
