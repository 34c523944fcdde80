//! A randomized fault schedule, made entirely from a seed: the sites and
//! their clocks, then a list of steps (local work, edits of the shared
//! documents, syncs, kills, restarts, network faults, crafted bad records and
//! document changes, pauses). The same seed always makes the same schedule;
//! only the timing of background syncs differs on replay.

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
/// The dealer every schedule has (the last agent): it shares all stock of
/// HQ's products, customers as pseudonyms, no costs or prices.
pub const DEALER: &str = "DL01";
/// The dealer's sharing policy, set right after it enrolls.
pub const DEALER_POLICY: [&str; 6] = [
    "--stock",
    "all",
    "--sell-through",
    "pseudonym",
    "--costs-and-prices",
    "false",
];

/// Products HQ may put in its catalog: (sku, decimals when added,
/// lot-tracked). Lot tracking never changes once a product exists, and its
/// decimals only ever go up: an agent keeps the most decimals it has seen
/// (quantities already in its ledger depend on them).
pub const CATALOG: [(&str, u32, bool); 5] = [
    ("CT-1", 0, false),
    ("龙井-2", 2, false),
    ("CT-3", 1, true),
    ("杯, 350ml", 0, false),
    ("CT \"5\"", 3, false),
];
/// Product names HQ gives: commas, quotes, Chinese.
pub const PRODUCT_NAMES: [&str; 8] = [
    "龙井, \"特级\"",
    "Mug, 350ml",
    "碧螺春 (春茶)",
    "O'Brien \"Irish\" tea",
    "普洱,熟茶,357g",
    "Plain",
    "白茶 \"寿眉\", 2019",
    "绿茶",
];
pub const UNITS: [&str; 4] = ["pcs", "盒", "kg", "box, 6"];
pub const CATEGORIES: [&str; 4] = ["tea", "茶叶", "ware, \"cups\"", ""];
pub const BRANDS: [&str; 4] = ["西湖", "Acme, Inc.", "\"Best\"", ""];

/// Customer ids a site registers (each site has its own customers).
pub const CUSTOMER_IDS: [&str; 4] = ["KH-01", "客户, 甲", "王记\"批发\"", "C.3"];
pub const CUSTOMER_NAMES: [&str; 5] = [
    "王五, Ltd",
    "杭州\"茶\"庄",
    "Li, Si & Sons",
    "门店, 二号",
    "Zhao",
];
pub const CONTACTS: [&str; 3] = ["张三", "Li, Si", ""];
pub const PHONES: [&str; 3] = ["021-555", "+86 138 0000 0000", ""];
pub const ADDRESSES: [&str; 3] = ["上海市, 浦东新区 \"1号\"", "Beijing", ""];
pub const REGIONS: [&str; 3] = ["east", "华北", ""];
/// Customer types; the CLIs store them lower-cased.
pub const CUSTOMER_TYPES: [&str; 4] = ["Retail", "wholesale", "项目", ""];
/// Counterparties of sales that are not registered customers.
pub const WALK_INS: [&str; 2] = ["李四, 茶行", "门店散客"];

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
    /// Receive a catalog product this agent already holds (has synced).
    ReceiveCatalog {
        which: u32,
        lot: u8,
        amount: u32,
        cost_cents: u32,
    },
    /// A sale; `customer` chooses a registered customer of the site, or a
    /// counterparty that is not one.
    Sell {
        line: Line,
        pct: u8,
        price_cents: u32,
        customer: u8,
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
    /// Cancel a transfer this agent sent to another site (`transfer cancel`):
    /// offline, the receiver may be receiving it at the same time.
    CancelTransfer {
        which: u32,
    },
    /// Close an open incoming transfer short (`transfer close`).
    CloseIncoming {
        which: u32,
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
    /// Document changes (sent to `/v1/docs`): the rogue writes a catalog
    /// shard, built on the hub's copy.
    CatalogWrite,
    /// A change to the rogue's own customers claiming HQ's actor.
    ClaimsHq,
    /// A change to the rogue's own customers made with another site's actor.
    ForeignActor,
    /// Two changes: one claiming HQ's actor, one of the rogue's built on it.
    OnRefused,
}

impl Bad {
    /// Whether this is a document change rather than a movement.
    pub fn is_doc(self) -> bool {
        matches!(
            self,
            Bad::CatalogWrite | Bad::ClaimsHq | Bad::ForeignActor | Bad::OnRefused
        )
    }
}

pub const BAD_KINDS: [Bad; 11] = [
    Bad::ForeignLocation,
    Bad::WrongSign,
    Bad::ZeroQty,
    Bad::BadSku,
    Bad::UnsentTransferIn,
    Bad::StolenTransferIn,
    Bad::Conflict,
    Bad::CatalogWrite,
    Bad::ClaimsHq,
    Bad::ForeignActor,
    Bad::OnRefused,
];

/// Edits of the shared documents, made through the real CLIs. What each
/// sets is drawn from `salt` when the step runs.
#[derive(Debug, Clone)]
pub enum Doc {
    /// HQ adds a catalog product, or sets some fields of one it has.
    Catalog { product: u8, salt: u32 },
    /// HQ imports a CSV of whole rows (new or existing products).
    CatalogImport { products: Vec<u8>, salt: u32 },
    /// A site adds a customer, or sets some fields of one it has.
    Customer {
        agent: usize,
        customer: u8,
        salt: u32,
    },
    /// HQ sets credit fields of a customer the hub holds for a branch.
    Credit {
        agent: usize,
        customer: u8,
        salt: u32,
    },
    /// HQ sets credit fields of a branch's customer and, before either side
    /// syncs, the branch sets a credit field and others of the same one.
    ConcurrentCredit {
        agent: usize,
        customer: u8,
        salt: u32,
    },
    /// A site folds its documents' chunks into snapshots (`doc compact`).
    Compact { agent: usize },
}

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
    Doc(Doc),
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
        0..=12 => Op::Receive {
            location,
            product,
            lot,
            amount,
            cost_cents: 100 + rng.below(10_000) as u32,
        },
        13..=17 => Op::ReceiveCatalog {
            which: line,
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
            customer: rng.below(256) as u8,
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
        82..=89 => Op::ReceiveIncoming {
            which: line,
            pct: (rng.below(3) == 0).then(|| pct(rng)),
        },
        90..=91 => Op::CancelTransfer { which: line },
        92 => Op::CloseIncoming { which: line },
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

fn doc(rng: &mut Rng, n_agents: usize) -> Doc {
    let agent = rng.below(n_agents as u64) as usize;
    // HQ sets credit fields only on a branch's customers: never agent 0
    // (HQ) nor the last (the dealer).
    let branch = 1 + rng.below(n_agents as u64 - 2) as usize;
    let customer = rng.below(CUSTOMER_IDS.len() as u64) as u8;
    let salt = rng.next_u64() as u32;
    match rng.below(15) {
        0..=2 => Doc::Catalog {
            product: rng.below(CATALOG.len() as u64) as u8,
            salt,
        },
        3 => Doc::CatalogImport {
            products: (0..CATALOG.len() as u8)
                .filter(|_| rng.below(2) == 0)
                .collect(),
            salt,
        },
        4..=7 => Doc::Customer {
            agent,
            customer,
            salt,
        },
        8..=9 => Doc::Credit {
            agent: branch,
            customer,
            salt,
        },
        10..=13 => Doc::ConcurrentCredit {
            agent: branch,
            customer,
            salt,
        },
        _ => Doc::Compact { agent },
    }
}

/// The schedule of `seed`.
pub fn generate(seed: u64, size: Size) -> Schedule {
    let mut rng = Rng::new(seed);
    // HQ, two or three branches, and the dealer last.
    let n_agents = 4 + rng.below(2) as usize;
    let dealer = n_agents - 1;
    let agents: Vec<AgentPlan> = (0..n_agents)
        .map(|i| AgentPlan {
            id: match i {
                0 => "HQ01".to_owned(),
                i if i == dealer => DEALER.to_owned(),
                i => format!("BR{i:02}"),
            },
            kind: match i {
                0 => "hq",
                i if i == dealer => "dealer",
                _ => "branch",
            },
            daemon: rng.below(2) == 0,
            skew_ms: SKEWS_MS[rng.below(SKEWS_MS.len() as u64) as usize],
        })
        .collect();
    let len = size.min_steps + rng.below(u64::from(size.max_steps - size.min_steps + 1)) as u32;
    let mut steps = Vec::with_capacity(len as usize + n_agents * (PRODUCTS.len() + 1) + 1);
    // HQ starts a catalog, and every site registers a customer.
    steps.push(Step::Doc(Doc::CatalogImport {
        products: vec![0, 1, 2],
        salt: rng.next_u64() as u32,
    }));
    for agent in 0..n_agents {
        steps.push(Step::Doc(Doc::Customer {
            agent,
            customer: rng.below(CUSTOMER_IDS.len() as u64) as u8,
            salt: rng.next_u64() as u32,
        }));
    }
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
    // The dealer's opening stock is of its own items, which never leave
    // it: it syncs to learn HQ's catalog and receives some of it, so its
    // outbound stream has something to carry from the start.
    steps.push(Step::Sync {
        agent: dealer,
        batch: 5000,
    });
    for _ in 0..2 {
        steps.push(Step::Work {
            agent: dealer,
            op: Op::ReceiveCatalog {
                which: rng.next_u64() as u32,
                lot: rng.below(LOTS.len() as u64) as u8,
                amount: 500 + rng.below(4_500) as u32,
                cost_cents: 100 + rng.below(10_000) as u32,
            },
        });
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
            0..=46 => Step::Work {
                agent,
                op: match op(&mut rng) {
                    // Half of a dealer's receipts are of HQ's products, the
                    // rest of its own items.
                    Op::Receive {
                        lot,
                        amount,
                        cost_cents,
                        ..
                    }
                    | Op::Opening {
                        lot,
                        amount,
                        cost_cents,
                        ..
                    } if agent == dealer && rng.below(2) == 0 => Op::ReceiveCatalog {
                        which: rng.next_u64() as u32,
                        lot,
                        amount,
                        cost_cents,
                    },
                    op => op,
                },
            },
            47..=55 => Step::Sync {
                agent,
                batch: [1, 2, 5, 5000][rng.below(4) as usize],
            },
            56..=66 => Step::Network {
                agent,
                net: net(&mut rng),
            },
            67..=70 => Step::KillAgentMidSync {
                agent,
                nth: 1 + rng.below(3) as u32,
            },
            71..=74 if agents[agent].daemon => {
                daemon_up[agent] = !daemon_up[agent];
                if daemon_up[agent] {
                    Step::StartDaemon { agent }
                } else {
                    Step::KillDaemon { agent }
                }
            }
            75..=77 if hub_up => {
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
            78..=81 => Step::Crafted {
                bad: BAD_KINDS[rng.below(BAD_KINDS.len() as u64) as usize],
                salt: rng.next_u64() as u32,
            },
            82..=95 => Step::Doc(doc(&mut rng, n_agents)),
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
        // The catalog import, a customer and openings per agent, and the
        // dealer's first sync and two receipts of catalog products.
        let openings = a.agents.len() * (PRODUCTS.len() + 1) + 1 + 3;
        assert!(
            (40..=80).contains(&(a.steps.len() - openings)),
            "{}",
            a.steps.len()
        );
    }
}
