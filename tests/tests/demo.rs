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

    // The dashboard sign-in it prints works against the hub it leaves.
    let password = stdout
        .lines()
        .find_map(|l| {
            l.trim()
                .strip_prefix("dashboard sign-in: user admin, password ")
        })
        .and_then(|rest| rest.split_whitespace().next())
        .unwrap_or_else(|| panic!("no dashboard sign-in in {stdout}"))
        .to_owned();
    let port = jxc_e2e::free_port();
    let log = dir.path().join("serve.out");
    let serve = Command::new(jxc_e2e::binary("jxc-hub"))
        .arg("--data")
        .arg(dir.path().join("hub"))
        .args(["serve", "--listen", &format!("127.0.0.1:{port}")])
        .env("JXC_LOG", "warn")
        .env_remove("JXC_HUB_CONFIG")
        .stdout(std::fs::File::create(&log).unwrap())
        .spawn()
        .unwrap();
    let _serve = KillOnDrop(serve);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    while !std::fs::read_to_string(&log)
        .unwrap_or_default()
        .contains("listening on")
    {
        assert!(std::time::Instant::now() < deadline, "serve did not start");
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    let ca = std::fs::read(dir.path().join("hub").join("ca.pem")).unwrap();
    let (rt, client) = jxc_e2e::browser(&ca);
    let status = rt.block_on(async {
        client
            .post(format!("https://127.0.0.1:{port}/login"))
            .header("content-type", "application/x-www-form-urlencoded")
            .body(format!("username=admin&password={password}"))
            .send()
            .await
            .unwrap()
            .status()
            .as_u16()
    });
    assert_eq!(status, 303, "the demo's sign-in is refused");
}

struct KillOnDrop(std::process::Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}
