//! `jxc-agent run` as a site runs it: it syncs soon after a local write made
//! by another process, keeps working while the hub is gone, catches up by
//! itself when the hub is back, and stops cleanly on SIGTERM.

use jxc_e2e::{Hub, Site, free_port};
use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;
use std::time::{Duration, Instant};

/// Polls `cond` every 50 ms until it holds or `secs` pass.
fn eventually(secs: u64, what: &str, mut cond: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(secs);
    while Instant::now() < deadline {
        if cond() {
            return;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    panic!("timed out after {secs} s waiting until {what}");
}

fn hub_hwm(hub: &Hub, site: &str) -> u64 {
    let sites = hub.json(&["sites"]);
    sites
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["id"] == site)
        .map_or(0, |s| s["hwm"].as_u64().unwrap())
}

#[test]
fn run_syncs_after_local_writes_rides_out_a_hub_outage_and_stops_on_sigterm() {
    let hub = Hub::new();
    let port = free_port();
    let served = hub.start(Some(port));
    let site = Site::new("BJ01", &["main"]);
    // Only local writes (and the first round) may trigger a sync in this
    // test: the timer is an hour.
    std::fs::write(
        site.dir.path().join("jxc-agent.toml"),
        "sync_interval_secs = 3600\n",
    )
    .unwrap();
    site.ok(&[
        "product",
        "add",
        "TEA",
        "--name",
        "龙井, 特级",
        "--decimals",
        "2",
    ]);
    site.ok(&[
        "receive",
        "--location",
        "main",
        "--sku",
        "TEA",
        "--qty",
        "100",
        "--cost",
        "12.5",
    ]);
    site.ok(&[
        "enroll",
        "--hub",
        &served.url,
        "--token",
        &hub.token("BJ01", "branch"),
    ]);

    let mut run = site.spawn(&["run"]);
    eventually(30, "the first round reaches the hub", || {
        hub_hwm(&hub, "BJ01") == 1
    });

    // A sale recorded by another process reaches the hub without waiting an hour.
    site.ok(&[
        "sell",
        "--location",
        "main",
        "--sku",
        "TEA",
        "--qty",
        "1.5",
        "--price",
        "20",
    ]);
    eventually(15, "the sale reaches the hub", || {
        hub_hwm(&hub, "BJ01") == 2
    });

    // The hub goes away; the site keeps selling, and says it is offline.
    served.process.kill9();
    site.ok(&[
        "sell",
        "--location",
        "main",
        "--sku",
        "TEA",
        "--qty",
        "2",
        "--price",
        "20",
    ]);
    site.ok(&[
        "sell",
        "--location",
        "main",
        "--sku",
        "TEA",
        "--qty",
        "3",
        "--price",
        "20",
    ]);
    eventually(30, "the agent records the failed sync", || {
        let s = site.json(&["status"]);
        s["sync"]["last_error"]
            .as_str()
            .is_some_and(|e| e.contains("could not reach the hub"))
    });
    assert!(
        run.try_wait().is_none(),
        "run must keep running while the hub is away"
    );
    assert_eq!(site.json(&["status"])["sync"]["unsynced"], 2);

    // The hub comes back on the same address: the agent catches up by itself.
    let _back = hub.start(Some(port));
    eventually(60, "the agent catches up after the outage", || {
        hub_hwm(&hub, "BJ01") == 4
    });
    eventually(15, "the agent sees it is in sync", || {
        let s = site.json(&["status"]);
        s["sync"]["unsynced"] == 0 && s["sync"]["last_error"].is_null()
    });

    kill(Pid::from_raw(run.pid() as i32), Signal::SIGTERM).unwrap();
    let mut status = None;
    eventually(15, "run exits on SIGTERM", || {
        status = run.try_wait();
        status.is_some()
    });
    assert!(status.unwrap().success(), "run exited with {status:?}");
    let stock = site.stock();
    assert_eq!(
        stock,
        [("main".into(), "TEA".into(), String::new(), "93.5".into())]
    );
}
