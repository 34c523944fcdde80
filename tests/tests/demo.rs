//! The README's run command, `jxc-hub demo`, as a user runs it: a real hub
//! and sites in a fresh directory, ending with every site converged.

use std::process::Command;

#[test]
fn the_demo_runs_and_every_site_converges() {
    let dir = tempfile::tempdir().unwrap();
    let out = Command::new(jxc_e2e::binary("jxc-hub"))
        .arg("--data")
        .arg(dir.path())
        .args(["demo", "--agents", "4", "--days", "8"])
        .env("JXC_LOG", "warn")
        .env_remove("JXC_HUB_CONFIG")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "demo failed: {stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("converged: for all 4 sites"), "{stdout}");
    for site in ["HQ01", "BR01", "DL01", "BR02"] {
        assert!(
            stdout.contains(site),
            "{site} missing from the summary: {stdout}"
        );
    }
    // What it points to exists and answers.
    let sites = Command::new(jxc_e2e::binary("jxc-hub"))
        .arg("--data")
        .arg(dir.path().join("hub"))
        .args(["sites", "--json"])
        .output()
        .unwrap();
    let v: serde_json::Value = serde_json::from_slice(&sites.stdout).unwrap();
    assert_eq!(v.as_array().unwrap().len(), 4);
    assert!(
        v.as_array()
            .unwrap()
            .iter()
            .all(|s| s["hwm"].as_u64().unwrap() > 0 && s["unsynced_at_agent"] == 0)
    );
}
