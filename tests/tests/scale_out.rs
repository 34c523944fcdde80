//! Several hub processes on one PostgreSQL database behind HAProxy in TCP
//! pass-through (mutual TLS ends at the hubs): one is killed with SIGKILL
//! while agents sync through the balancer, and the agents converge through
//! the other with nothing lost or duplicated.

use jxc_e2e::{Hub, Site, write_movements, write_products};
use jxc_testkit::Haproxy;
use rust_decimal::Decimal;
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::str::FromStr;
use std::time::{Duration, Instant};

const SITES: [&str; 4] = ["BJ01", "SH01", "GZ01", "CD01"];
/// Movements per site: 100 openings and the sales after them.
const PER_SITE: u64 = 12_000;

fn loopback(port: u16) -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], port))
}

/// On hand per location as the agent's `stock` sums it.
fn agent_on_hand(site: &Site) -> BTreeMap<String, Decimal> {
    let mut out = BTreeMap::new();
    for (loc, _, _, qty) in site.stock() {
        *out.entry(loc).or_default() += Decimal::from_str(&qty).expect("a quantity");
    }
    out
}

#[test]
fn a_hub_killed_behind_the_balancer_loses_and_duplicates_nothing() {
    let hub = Hub::on_postgres();
    let first = hub.start(None);
    let second = hub.start(None);
    let lb = Haproxy::start(&[loopback(first.port), loopback(second.port)])
        .unwrap_or_else(|e| panic!("{e}"));
    let url = format!("https://127.0.0.1:{}", lb.addr().port());

    let sites: Vec<Site> = SITES
        .iter()
        .map(|id| {
            let site = Site::new(id, &["main"]);
            let products = site.dir.path().join("products.csv");
            write_products(&products, 100);
            site.ok(&["product", "import", products.to_str().unwrap()]);
            let moves = site.dir.path().join("moves.csv");
            write_movements(&moves, "main", 100, PER_SITE as usize - 100);
            site.ok(&["import", moves.to_str().unwrap()]);
            assert_eq!(site.movement_count(), PER_SITE);
            // Each enrollment goes through the balancer to either hub: the
            // CA and the tokens are in the database they share.
            site.ok(&["enroll", "--hub", &url, "--token", &hub.token(id, "branch")]);
            site
        })
        .collect();

    let syncing: Vec<_> = sites
        .iter()
        .map(|s| s.spawn(&["sync", "--batch", "250"]))
        .collect();
    // Kill the first hub once the syncs are under way, not finished.
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let held: u64 = hub
            .json(&["sites"])
            .as_array()
            .unwrap()
            .iter()
            .map(|s| s["hwm"].as_u64().unwrap())
            .sum();
        if held > 0 {
            assert!(
                held < PER_SITE * SITES.len() as u64,
                "the syncs finished ({held}) before a hub could be killed"
            );
            break;
        }
        assert!(Instant::now() < deadline, "the syncs never got going");
        std::thread::sleep(Duration::from_millis(5));
    }
    first.process.kill9();
    for s in syncing {
        let out = s.wait();
        assert!(
            matches!(out.status.code(), Some(0 | 7)),
            "an interrupted sync exited {:?}: {}",
            out.status.code(),
            String::from_utf8_lossy(&out.stderr)
        );
    }

    // Each agent syncs again through the balancer until it is caught up.
    for site in &sites {
        let deadline = Instant::now() + Duration::from_secs(120);
        loop {
            let out = site.run(&["sync", "--json"]);
            if out.status.success() {
                let r: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
                if r["hwm"] == PER_SITE {
                    assert_eq!(r["quarantined"], serde_json::json!([]), "{r}");
                    break;
                }
            }
            assert!(
                Instant::now() < deadline,
                "{:?} never caught up: {out:?}",
                site.dir.path()
            );
            std::thread::sleep(Duration::from_millis(200));
        }
    }

    // Every seq once: the hub holds exactly what each agent recorded, and
    // its balances are the agent's.
    let rows = hub.json(&["sites"]);
    for r in rows.as_array().unwrap() {
        assert_eq!(r["hwm"], PER_SITE, "{r}");
        assert_eq!(r["unsynced_at_agent"], 0, "{r}");
    }
    assert_eq!(hub.json(&["quarantine"]), serde_json::json!([]));
    let inventory = hub.json(&["inventory", "--by", "location"]);
    let hub_on_hand: BTreeMap<String, Decimal> = inventory
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (
                r["key"].as_str().unwrap().to_owned(),
                Decimal::from_str(r["on_hand"].as_str().unwrap()).unwrap(),
            )
        })
        .collect();
    for (id, site) in SITES.iter().zip(&sites) {
        for (loc, qty) in agent_on_hand(site) {
            let key = format!("{id}/{loc}");
            assert_eq!(hub_on_hand.get(&key), Some(&qty), "{key}");
        }
    }
    drop(second);
}
