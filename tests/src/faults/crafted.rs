//! Crafted sync requests sent with the identity of one enrolled site that
//! has no ledger of its own (the rogue): each carries good receipts around
//! one bad record, so the checker knows exactly what the hub must hold and
//! exactly what it must have quarantined.

use super::schedule::{Bad, ROGUE};
use jxc_shared::MovementKind;
use jxc_shared::protocol::{
    CONTENT_TYPE, PROTOCOL_HEADER, PROTOCOL_VERSION, SyncRequest, SyncResponse, WireMovement,
    decode, encode,
};

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
    pub fn new(hub_url: &str, ca_pem: &str, cert: &str, key: &str) -> Result<Rogue, String> {
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
