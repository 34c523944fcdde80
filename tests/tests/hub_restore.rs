//! A hub restored from an older backup is refilled: the agent always learns
//! the hwm from the hub and resends what the restored hub lacks.

use jxc_e2e::{Hub, Served, Site, free_port};
use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;

/// Stops a hub with SIGTERM (a clean shutdown) and waits for it.
fn stop(served: Served) {
    kill(Pid::from_raw(served.process.pid() as i32), Signal::SIGTERM).unwrap();
    let out = served.process.wait();
    assert!(out.status.success(), "hub did not stop cleanly: {out:?}");
}

#[test]
fn a_hub_restored_from_an_older_backup_is_refilled_by_the_agent() {
    let hub = Hub::new();
    let port = free_port();
    let site = Site::new("BJ01", &["main"]);
    site.ok(&["product", "add", "TEA", "--name", "茶"]);
    site.ok(&[
        "receive",
        "--location",
        "main",
        "--sku",
        "TEA",
        "--qty",
        "100",
        "--cost",
        "3",
    ]);
    for _ in 0..4 {
        site.ok(&["sell", "--location", "main", "--sku", "TEA", "--qty", "1"]);
    }
    let served = hub.start(Some(port));
    site.ok(&[
        "enroll",
        "--hub",
        &served.url,
        "--token",
        &hub.token("BJ01", "branch"),
    ]);
    site.ok(&["sync"]);
    stop(served);
    let backup = hub.dir.path().join("backup");
    hub.backup(&backup);

    // Life goes on after the backup.
    let served = hub.start(Some(port));
    for _ in 0..3 {
        site.ok(&["sell", "--location", "main", "--sku", "TEA", "--qty", "2"]);
    }
    site.ok(&["sync"]);
    stop(served);

    // The hub's disk is lost; the backup (5 movements of BJ01) is restored.
    hub.restore(&backup);
    let _served = hub.start(Some(port));
    let restored = hub.json(&["sites"]);
    assert_eq!(restored[0]["hwm"], 5, "{restored}");

    let out = site.ok(&["sync", "--json"]);
    let report: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(report["accepted"], 3, "{report}");
    let sites = hub.json(&["sites"]);
    assert_eq!(sites[0]["hwm"], 8);
    assert_eq!(sites[0]["unsynced_at_agent"], 0);
    assert_eq!(hub.json(&["quarantine"]).as_array().unwrap().len(), 0);
    let inv = hub.json(&["inventory", "--by", "location"]);
    assert_eq!(inv[0]["on_hand"], "90", "{inv}");
}
