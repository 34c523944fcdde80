//! A randomized fault schedule, made entirely from a seed: the sites and
//! their clocks, then a list of steps (local work, syncs, kills, restarts,
//! network faults, crafted bad records, pauses). The same seed always makes
//! the same schedule; only the timing of background syncs differs on replay.

use jxc_shared::rng::Rng;
use std::time::Duration;

/// Products every site carries: (sku, decimals, lot-tracked).
pub const PRODUCTS: [(&str, u32, bool); 3] =
    [("TEA", 2, false), ("WINE", 0, true), ("RICE", 3, false)];
/// Lots of the lot-tracked product.
pub const LOTS: [&str; 2] = ["L1", "L2"];
/// Locations every site owns.
pub const LOCATIONS: [&str; 2] = ["main", "shop"];
/// The site the driver impersonates to send crafted records.
pub const ROGUE: &str = "RG01";

/// Clock skews an agent may run with, in milliseconds: mostly right, some a
/// little off, one a day behind and one a week ahead (a dealer's PC).
const SKEWS_MS: [i64; 8] = [
    0,
    0,
    0,
    45_000,
    -120_000,
    3_600_000,
    -86_400_000,
    7 * 86_400_000,
];

/// One agent site of the schedule.
#[derive(Debug, Clone)]
pub struct AgentPlan {
    pub id: String,
    pub kind: &'static str,
    /// Runs `jxc-agent run` in the background (else only one-shot syncs).
    pub daemon: bool,
    pub skew_ms: i64,
}

/// Chooses a stock line of the agent's current holdings: the `n % count`-th
/// non-zero (location, sku, lot) in order.
pub type Line = u32;

/// Local work at one agent. Quantities are resolved against the agent's
/// holdings when the step runs (`amount` raw, `pct` of a line).
#[derive(Debug, Clone)]
pub enum Op {
    Receive {
        location: u8,
        product: u8,
        lot: u8,
        amount: u32,
        cost_cents: u32,
    },
    Opening {
        location: u8,
        product: u8,
        lot: u8,
        amount: u32,
        cost_cents: u32,
    },
    CustomerReturn {
        location: u8,
        product: u8,
        lot: u8,
        amount: u32,
        price_cents: u32,
    },
    Sell {
        line: Line,
        pct: u8,
        price_cents: u32,
    },
    SupplierReturn {
        line: Line,
        pct: u8,
    },
    Scrap {
        line: Line,
        pct: u8,
    },
    Adjust {
        line: Line,
        pct: u8,
        up: bool,
    },
    TransferLocal {
        line: Line,
        pct: u8,
    },
    /// To the `main` location of another agent (`to` counts from the next).
    TransferRemote {
        line: Line,
        pct: u8,
        to: u8,
    },
    /// Receive an open incoming transfer, all of it or `pct` of it.
    ReceiveIncoming {
        which: u32,
        pct: Option<u8>,
    },
    /// Count up to `lines` lines at a location; with `sale_during`, a sale
    /// of a counted line before the count is posted.
    Stocktake {
        location: u8,
        lines: u8,
        sale_during: bool,
        salt: u32,
    },
}

/// Network faults the proxy in front of an agent applies.
#[derive(Debug, Clone, Copy)]
pub enum Net {
    Cut,
    Heal,
    DropAnswer { times: u32 },
    Delay { ms: u64, times: u32 },
    Duplicate { times: u32 },
    Replay { times: u32 },
}

/// Bad records the driver crafts with the rogue site's identity.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Bad {
    /// A receipt at another site's location.
    ForeignLocation,
    /// A sale with a positive quantity.
    WrongSign,
    ZeroQty,
    /// A SKU that is not a valid identifier.
    BadSku,
    /// A transfer-in of a transfer nobody sent.
    UnsentTransferIn,
    /// A transfer-in of a real transfer addressed to another site.
    StolenTransferIn,
    /// A seq the hub holds, sent again with other content.
    Conflict,
}

pub const BAD_KINDS: [Bad; 7] = [
    Bad::ForeignLocation,
    Bad::WrongSign,
    Bad::ZeroQty,
    Bad::BadSku,
    Bad::UnsentTransferIn,
    Bad::StolenTransferIn,
    Bad::Conflict,
];

#[derive(Debug, Clone)]
pub enum Step {
    Work {
        agent: usize,
        op: Op,
    },
    /// A one-shot `jxc-agent sync --batch N` in the foreground.
    Sync {
        agent: usize,
        batch: u32,
    },
    /// A one-shot sync, SIGKILLed while the proxy holds its `nth` request
    /// (which then still reaches the hub).
    KillAgentMidSync {
        agent: usize,
        nth: u32,
    },
    KillDaemon {
        agent: usize,
    },
    StartDaemon {
        agent: usize,
    },
    KillHub,
    /// SIGKILL the hub `delay_ms` after the proxy forwarded the `nth`
    /// request of a one-shot sync.
    KillHubMidSync {
        agent: usize,
        nth: u32,
        delay_ms: u64,
    },
    RestartHub,
    Network {
        agent: usize,
        net: Net,
    },
    Crafted {
        bad: Bad,
        salt: u32,
    },
    Pause {
        ms: u64,
    },
}

#[derive(Debug, Clone)]
pub struct Schedule {
    pub seed: u64,
    pub agents: Vec<AgentPlan>,
    pub steps: Vec<Step>,
}

/// How big a schedule is.
#[derive(Debug, Clone, Copy)]
pub struct Size {
    pub min_steps: u32,
    pub max_steps: u32,
}

impl Default for Size {
    fn default() -> Self {
        Size {
            min_steps: 40,
            max_steps: 80,
        }
    }
}

fn pct(rng: &mut Rng) -> u8 {
    1 + rng.below(60) as u8
}

fn op(rng: &mut Rng) -> Op {
    let line = rng.next_u64() as u32;
    let location = rng.below(LOCATIONS.len() as u64) as u8;
    let product = rng.below(PRODUCTS.len() as u64) as u8;
    let lot = rng.below(LOTS.len() as u64) as u8;
    let amount = 1 + rng.below(5_000) as u32;
    match rng.below(100) {
        0..=17 => Op::Receive {
            location,
            product,
            lot,
            amount,
            cost_cents: 100 + rng.below(10_000) as u32,
        },
        18..=21 => Op::Opening {
            location,
            product,
            lot,
            amount,
            cost_cents: 100 + rng.below(10_000) as u32,
        },
        22..=26 => Op::CustomerReturn {
            location,
            product,
            lot,
            amount: 1 + amount / 50,
            price_cents: 100 + rng.below(20_000) as u32,
        },
        27..=49 => Op::Sell {
            line,
            pct: pct(rng),
            price_cents: 100 + rng.below(20_000) as u32,
        },
        50..=53 => Op::SupplierReturn {
            line,
            pct: pct(rng),
        },
        54..=57 => Op::Scrap {
            line,
            pct: pct(rng),
        },
        58..=62 => Op::Adjust {
            line,
            pct: pct(rng),
            up: rng.below(2) == 0,
        },
        63..=69 => Op::TransferLocal {
            line,
            pct: pct(rng),
        },
        70..=81 => Op::TransferRemote {
            line,
            pct: pct(rng),
            to: rng.below(8) as u8,
        },
        82..=92 => Op::ReceiveIncoming {
            which: line,
            pct: (rng.below(3) == 0).then(|| pct(rng)),
        },
        _ => Op::Stocktake {
            location,
            lines: 1 + rng.below(4) as u8,
            sale_during: rng.below(2) == 0,
            salt: rng.next_u64() as u32,
        },
    }
}

fn net(rng: &mut Rng) -> Net {
    let times = 1 + rng.below(3) as u32;
    match rng.below(6) {
        0 => Net::Cut,
        1 => Net::DropAnswer { times },
        2 => Net::Delay {
            ms: 20 + rng.below(400),
            times,
        },
        3 => Net::Duplicate { times },
        4 => Net::Replay { times },
        _ => Net::Heal,
    }
}

/// The schedule of `seed`.
pub fn generate(seed: u64, size: Size) -> Schedule {
    let mut rng = Rng::new(seed);
    let n_agents = 3 + rng.below(2) as usize;
    let agents: Vec<AgentPlan> = (0..n_agents)
        .map(|i| AgentPlan {
            // No dealers: a dealer's sharing policy decides what of its
            // ledger the hub sees, so the hub would not hold its movements
            // one for one as the checker expects of an owner.
            id: match i {
                0 => "HQ01".to_owned(),
                i => format!("BR{i:02}"),
            },
            kind: if i == 0 { "hq" } else { "branch" },
            daemon: rng.below(2) == 0,
            skew_ms: SKEWS_MS[rng.below(SKEWS_MS.len() as u64) as usize],
        })
        .collect();
    let len = size.min_steps + rng.below(u64::from(size.max_steps - size.min_steps + 1)) as u32;
    let mut steps = Vec::with_capacity(len as usize + n_agents * PRODUCTS.len());
    // Every site starts with opening stock of every product at `main`.
    for agent in 0..n_agents {
        for product in 0..PRODUCTS.len() as u8 {
            steps.push(Step::Work {
                agent,
                op: Op::Opening {
                    location: 0,
                    product,
                    lot: rng.below(LOTS.len() as u64) as u8,
                    amount: 500 + rng.below(4_500) as u32,
                    cost_cents: 100 + rng.below(10_000) as u32,
                },
            });
        }
    }
    let mut hub_up = true;
    let mut daemon_up: Vec<bool> = agents.iter().map(|a| a.daemon).collect();
    for _ in 0..len {
        let agent = rng.below(n_agents as u64) as usize;
        // While the hub is down, most steps are local work; it comes back soon.
        if !hub_up && rng.below(3) == 0 {
            steps.push(Step::RestartHub);
            hub_up = true;
            continue;
        }
        let step = match rng.below(100) {
            0..=54 => Step::Work {
                agent,
                op: op(&mut rng),
            },
            55..=64 => Step::Sync {
                agent,
                batch: [1, 2, 5, 5000][rng.below(4) as usize],
            },
            65..=76 => Step::Network {
                agent,
                net: net(&mut rng),
            },
            77..=80 => Step::KillAgentMidSync {
                agent,
                nth: 1 + rng.below(3) as u32,
            },
            81..=84 if agents[agent].daemon => {
                daemon_up[agent] = !daemon_up[agent];
                if daemon_up[agent] {
                    Step::StartDaemon { agent }
                } else {
                    Step::KillDaemon { agent }
                }
            }
            85..=87 if hub_up => {
                hub_up = false;
                if rng.below(2) == 0 {
                    Step::KillHub
                } else {
                    Step::KillHubMidSync {
                        agent,
                        nth: 1 + rng.below(3) as u32,
                        delay_ms: rng.below(6),
                    }
                }
            }
            88..=92 => Step::Crafted {
                bad: BAD_KINDS[rng.below(BAD_KINDS.len() as u64) as usize],
                salt: rng.next_u64() as u32,
            },
            _ => Step::Pause {
                ms: 50 + rng.below(600),
            },
        };
        steps.push(step);
    }
    Schedule {
        seed,
        agents,
        steps,
    }
}

/// How long the proxy holds a request for a kill mid-sync: long enough for
/// the driver to see it arrive and act.
pub const HOLD: Duration = Duration::from_millis(400);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_seed_makes_one_schedule() {
        let a = generate(42, Size::default());
        let b = generate(42, Size::default());
        assert_eq!(format!("{a:?}"), format!("{b:?}"));
        let c = generate(43, Size::default());
        assert_ne!(format!("{a:?}"), format!("{c:?}"));
        let openings = a.agents.len() * PRODUCTS.len();
        assert!(
            (40..=80).contains(&(a.steps.len() - openings)),
            "{}",
            a.steps.len()
        );
    }
}
