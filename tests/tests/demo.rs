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

    // Plausible numbers: every priced sale above its cost of goods, margins
    // by category, and activity up to yesterday, the last full business day
    // (so "last week" is not empty).
    let db = rusqlite::Connection::open(dir.path().join("hub").join("hub.db")).unwrap();
    let mut stmt = db
        .prepare("SELECT unit_cost, unit_price FROM movement WHERE kind = 'sale' AND unit_price IS NOT NULL AND unit_cost != '0'")
        .unwrap();
    let priced: Vec<(String, String)> = stmt
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    assert!(priced.len() > 100, "{} priced sales", priced.len());
    let dec = |s: &str| s.parse::<rust_decimal::Decimal>().unwrap();
    let below: Vec<_> = priced.iter().filter(|(c, p)| dec(p) <= dec(c)).collect();
    assert!(
        below.is_empty(),
        "{} of {} sales below cost: {:?}",
        below.len(),
        priced.len(),
        &below[..below.len().min(5)]
    );
    let newest: String = db
        .query_row("SELECT MAX(occurred_at) FROM movement", [], |r| r.get(0))
        .unwrap();
    let newest = chrono::DateTime::parse_from_rfc3339(&newest).unwrap();
    let age = chrono::Utc::now().signed_duration_since(newest);
    assert!(
        age >= chrono::Duration::zero() && age < chrono::Duration::days(2),
        "the newest activity is {age} old: {newest}"
    );
}
