//! The agent's side of one sync session, as a pure state machine: it decides
//! what to send next from what the hub last said, and knows when to stop.
//! The IO (HTTP, SQLite) lives in the agent; this only takes and returns values.

use crate::protocol::MAX_BATCH_MOVEMENTS;

/// What the agent should do next.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Next {
    /// Send movements from `from_seq`, at most `limit` of them (possibly none:
    /// the first round also fetches incoming transfers and the hub's hwm).
    Push { from_seq: u64, limit: usize },
    /// The hub holds everything the agent has.
    Finished,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SyncError {
    #[error(
        "the hub accepted nothing from seq {from_seq} although it asked for it; stopping this session"
    )]
    Stalled { from_seq: u64 },
    #[error(
        "the hub reports hwm {hwm}, beyond this site's last seq {local_last}: it holds movements this ledger does not"
    )]
    HubAhead { hwm: u64, local_last: u64 },
}

#[derive(Debug, Clone)]
pub struct Session {
    hwm: u64,
    local_last: u64,
    rounds: u32,
    batch: usize,
}

impl Session {
    /// Starts a session. `known_hwm` is what the hub said last time (0 if
    /// never); the first round corrects it if the hub has since changed.
    pub fn new(known_hwm: u64, local_last: u64) -> Self {
        Self {
            hwm: known_hwm.min(local_last),
            local_last,
            rounds: 0,
            batch: MAX_BATCH_MOVEMENTS,
        }
    }

    /// Sends smaller batches (for tests and slow links).
    pub fn with_batch(mut self, batch: usize) -> Self {
        self.batch = batch.clamp(1, MAX_BATCH_MOVEMENTS);
        self
    }

    pub fn hwm(&self) -> u64 {
        self.hwm
    }

    pub fn rounds(&self) -> u32 {
        self.rounds
    }

    pub fn local_last(&self) -> u64 {
        self.local_last
    }

    /// The ledger grew during the session (another process wrote, or
    /// another sync of this site pushed what it wrote): take the new last
    /// seq, so a hub that already holds it is not taken for one ahead.
    pub fn grow_local(&mut self, local_last: u64) {
        self.local_last = self.local_last.max(local_last);
    }

    pub fn pending(&self) -> u64 {
        self.local_last - self.hwm
    }

    pub fn next(&self) -> Next {
        if self.rounds > 0 && self.hwm >= self.local_last {
            Next::Finished
        } else {
            Next::Push {
                from_seq: self.hwm + 1,
                limit: self.batch,
            }
        }
    }

    /// Takes the hub's answer to a round that sent `sent` movements from
    /// `from_seq`. The hub's hwm always wins, also when it went down (a hub
    /// restored from an older backup is refilled from there).
    pub fn on_response(
        &mut self,
        from_seq: u64,
        sent: usize,
        hub_hwm: u64,
    ) -> Result<(), SyncError> {
        self.rounds += 1;
        if hub_hwm > self.local_last {
            return Err(SyncError::HubAhead {
                hwm: hub_hwm,
                local_last: self.local_last,
            });
        }
        if sent > 0 && hub_hwm + 1 == from_seq {
            return Err(SyncError::Stalled { from_seq });
        }
        self.hwm = hub_hwm;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn first_round_always_happens_then_batches_until_caught_up() {
        let mut s = Session::new(0, 0);
        assert_eq!(
            s.next(),
            Next::Push {
                from_seq: 1,
                limit: MAX_BATCH_MOVEMENTS
            }
        );
        s.on_response(1, 0, 0).unwrap();
        assert_eq!(s.next(), Next::Finished);

        let mut s = Session::new(0, 10).with_batch(4);
        for (from, hwm) in [(1, 4), (5, 8), (9, 10)] {
            assert_eq!(
                s.next(),
                Next::Push {
                    from_seq: from,
                    limit: 4
                }
            );
            s.on_response(from, 4, hwm).unwrap();
        }
        assert_eq!(s.next(), Next::Finished);
    }

    #[test]
    fn a_restored_hub_is_refilled_and_a_stall_stops() {
        let mut s = Session::new(10, 12);
        s.on_response(11, 2, 3).unwrap();
        assert_eq!(
            s.next(),
            Next::Push {
                from_seq: 4,
                limit: MAX_BATCH_MOVEMENTS
            }
        );
        assert_eq!(
            s.on_response(4, 9, 3),
            Err(SyncError::Stalled { from_seq: 4 })
        );
        assert!(matches!(
            Session::new(0, 5).on_response(1, 0, 9),
            Err(SyncError::HubAhead { .. })
        ));
    }

    proptest! {
        /// Against a hub that accepts any prefix of what it is sent and may
        /// have lost data, the session ends with the hub holding everything.
        #[test]
        fn converges_against_a_lossy_hub(local in 0u64..500, start in 0u64..500, takes in prop::collection::vec(1usize..50, 1..200)) {
            let mut hub = start.min(local);
            let mut s = Session::new(start, local).with_batch(40);
            let mut takes = takes.into_iter().cycle();
            for _ in 0..10_000 {
                match s.next() {
                    Next::Finished => break,
                    Next::Push { from_seq, limit } => {
                        let sent = (local + 1).saturating_sub(from_seq).min(limit as u64) as usize;
                        if from_seq <= hub + 1 {
                            let end = from_seq + sent as u64;
                            hub = hub.max((from_seq + takes.next().unwrap() as u64 - 1).min(end.saturating_sub(1)));
                        }
                        s.on_response(from_seq, sent, hub).unwrap();
                    }
                }
            }
            prop_assert_eq!(s.next(), Next::Finished);
            prop_assert_eq!(hub, local);
        }
    }
}
