//! Fuzz harness for the sync wire, from bytes to the hub's store: decoding
//! requests and responses, `WireMovement::validate`, the hub's door
//! (`check_batch`), `prepare` and ingest into a fresh hub store, then the HQ
//! views over what was stored. Compiled by `fuzz/fuzz_targets/sync_decode.rs`
//! and by `hub/tests/fuzz_regressions.rs`, which replays committed inputs.
//!
//! Besides "no panic" it checks what must hold for any input: a record the hub
//! accepts re-encodes to one it accepts unchanged, the counts of a batch add
//! up, and replaying a batch is harmless.

use chrono::{DateTime, TimeZone, Utc};
use jxc_hub::store::{InventoryFilter, NewSite, Store};
use jxc_shared::protocol::{self, SyncRequest, SyncResponse, WireMovement};
use jxc_shared::sync::Session;
use jxc_shared::{GlobalLocation, MovementKind, SiteId, SiteKind};

use crate::scratch::scratch_dir;

/// The site whose client certificate every fuzzed request arrives with.
const SITE: &str = "BJ01";

pub(crate) fn run(data: &[u8]) {
    // The bytes as a body, straight into the zstd layer.
    let _ = protocol::decode::<SyncRequest>("sync request", data);
    // The bytes as the postcard message inside a well-formed body, so the
    // fuzzer explores message structure rather than zstd frames.
    let body = zstd::bulk::compress(data, 1).expect("in-memory zstd compression does not fail");
    if let Ok(resp) = protocol::decode::<SyncResponse>("sync response", &body) {
        agent_reads(&resp);
    }
    if let Ok(req) = protocol::decode::<SyncRequest>("sync request", &body) {
        hub_handles(req);
    }
}

/// What the agent does with a hub's answer before touching its ledger.
fn agent_reads(resp: &SyncResponse) {
    for t in &resp.incoming {
        let _ = t.sent_at();
        let _ = GlobalLocation::parse("from", &t.from);
    }
    // An agent that holds seqs 1..=10 (agent seqs are SQLite integers, so
    // far below u64::MAX) sent 6..=10 after the hub last said 5.
    let mut session = Session::new(5, 10);
    if session.on_response(6, 5, resp.hwm).is_ok() {
        assert_eq!(session.hwm(), resp.hwm);
        let _ = session.next();
    }
}

fn now() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 22, 8, 0, 0).unwrap()
}

/// What the hub does with a request that arrived with `SITE`'s certificate.
fn hub_handles(req: SyncRequest) {
    let site = SiteId::parse(SITE).unwrap();
    for w in &req.movements {
        if let Ok(m) = w.validate(&site) {
            // What the hub accepted is what an agent holding it would send.
            let again = WireMovement::from_movement(&site, &m);
            let back = again
                .validate(&site)
                .unwrap_or_else(|e| panic!("{again:?} (re-encoded from {w:?}) is refused: {e}"));
            assert_eq!(back, m, "{w:?} changes when it goes around the wire");
            assert_eq!(WireMovement::from_movement(&site, &back), again);
        }
    }
    if jxc_hub::http::api::check_batch(&req).is_err() {
        return; // refused at the door with 400, before any store work
    }
    let dir = scratch_dir();
    let mut store = Store::open(
        &jxc_hub::store::Target::Sqlite(dir.path().to_path_buf()),
        true,
    )
    .expect("a fresh hub store opens");
    enroll(&mut store, &site, "0a1b2c3d");
    transfer_to(&mut store, &site);
    let n = req.movements.len();
    let (first, stats) = store
        .ingest(&site, &req, now())
        .unwrap_or_else(|e| panic!("ingest of a batch that passed the door failed: {e}"));
    let fits = req.from_seq == 1;
    if fits {
        assert_eq!(stats.accepted + stats.refused, n as u64, "{stats:?}");
        assert_eq!(first.quarantined.len() as u64, stats.refused);
        assert_eq!(first.hwm, req.from_seq + n as u64 - 1);
    } else {
        assert_eq!(
            (stats.accepted, first.hwm),
            (0, 0),
            "a batch past a gap applied"
        );
    }
    assert_eq!((stats.duplicates, stats.conflicts), (0, 0));

    // The same batch again, as a retry after a lost answer: nothing changes.
    let (second, stats) = store
        .ingest(&site, &req, now())
        .unwrap_or_else(|e| panic!("replaying a batch failed: {e}"));
    assert_eq!(second.hwm, first.hwm);
    assert_eq!(
        stats.accepted + stats.refused + stats.conflicts,
        0,
        "{stats:?}"
    );
    if fits {
        assert_eq!(stats.duplicates, n as u64);
    }

    // HQ reads everything that was stored.
    store
        .inventory(&InventoryFilter::default())
        .unwrap_or_else(|e| panic!("inventory: {e}"));
    store
        .sites(now(), 900)
        .unwrap_or_else(|e| panic!("sites: {e}"));
    store
        .movements(None, &Default::default(), ("", 0), 10_000)
        .unwrap_or_else(|e| panic!("movements: {e}"));
    store
        .transfers(false)
        .unwrap_or_else(|e| panic!("transfers: {e}"));
    store
        .quarantine()
        .unwrap_or_else(|e| panic!("quarantine: {e}"));
}

/// Another branch, SH01, has sent `site` a transfer (`T-SH01-2`, 5 units of
/// TEA-1 to `site`/main), so fuzzed transfer-ins have something to receive.
fn transfer_to(store: &mut Store, site: &SiteId) {
    let sender = SiteId::parse("SH01").unwrap();
    enroll(store, &sender, "0a1b2c3e");
    let wire = |seq, kind, qty_micro, counterparty: Option<String>, transfer_id: Option<&str>| {
        WireMovement {
            seq,
            kind,
            location: "SH01/main".into(),
            sku: "TEA-1".into(),
            lot: String::new(),
            qty_micro,
            unit_cost: "12.5".into(),
            unit_price: None,
            counterparty,
            reference: None,
            reason: None,
            transfer_id: transfer_id.map(str::to_owned),
            occurred_ms: now().timestamp_millis(),
            offset_min: 480,
            recorded_ms: now().timestamp_millis(),
        }
    };
    let req = SyncRequest {
        from_seq: 1,
        movements: vec![
            wire(1, MovementKind::Opening, 10_000_000, None, None),
            wire(
                2,
                MovementKind::TransferOut,
                -5_000_000,
                Some(format!("{site}/main")),
                Some("T-SH01-2"),
            ),
        ],
        agent_last_seq: 2,
        transfers_cursor: 0,
        locations: vec![],
        agent_time_ms: now().timestamp_millis(),
    };
    let (resp, _) = store.ingest(&sender, &req, now()).unwrap();
    assert_eq!((resp.accepted, resp.hwm), (2, 2), "{resp:?}");
}

/// Enrolls `site` the way `/v1/enroll` does, minus the certificate.
fn enroll(store: &mut Store, site: &SiteId, token: &str) {
    let new = NewSite {
        id: site.clone(),
        kind: SiteKind::Branch,
        name: "fuzz".into(),
        region: "north".into(),
    };
    store
        .add_token(token, "secret", &new, chrono::Duration::hours(1), now())
        .unwrap();
    store
        .redeem_token(token, "secret", now(), |_, _| Ok(()))
        .unwrap();
}
