//! The hub reaches PostgreSQL over TLS when its URL asks for it
//! (`sslmode=require|verify-ca|verify-full`, `sslrootcert=CA.pem`): a real
//! cluster that accepts only TLS connections, with a certificate from a CA
//! made here.

use jxc_hub::pki::Ca;
use jxc_hub::store::{Store, Target};
use jxc_testkit::PgCluster;
use std::os::unix::fs::{MetadataExt, PermissionsExt};

fn psql(cluster: &PgCluster, sql: &str) {
    let port = cluster.port().to_string();
    cluster
        .run_tool(
            "psql",
            &[
                "-h",
                "127.0.0.1",
                "-p",
                &port,
                "-U",
                "jxc",
                "-d",
                "postgres",
                "-c",
                sql,
            ],
        )
        .unwrap_or_else(|e| panic!("{e}"));
}

/// Turns TLS on with a certificate `ca` signed for 127.0.0.1, then refuses
/// every TCP connection without it.
fn require_tls(cluster: &PgCluster, ca: &Ca) {
    let data = cluster.dir().join("data");
    let meta = std::fs::metadata(&data).unwrap();
    let (cert, key) = ca
        .server_cert(&["127.0.0.1".to_owned(), "localhost".to_owned()], 30)
        .unwrap();
    for (name, pem, mode) in [("server.crt", &cert, 0o644), ("server.key", &key, 0o600)] {
        let path = data.join(name);
        std::fs::write(&path, pem).unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode)).unwrap();
        std::os::unix::fs::chown(&path, Some(meta.uid()), Some(meta.gid())).unwrap();
    }
    psql(cluster, "ALTER SYSTEM SET ssl = on");
    psql(cluster, "SELECT pg_reload_conf()");
    let hba = data.join("pg_hba.conf");
    let text = std::fs::read_to_string(&hba).unwrap();
    let only_tls: String = text
        .lines()
        .map(|l| match l.strip_prefix("host ") {
            Some(rest) => format!("hostssl {rest}\n"),
            None => format!("{l}\n"),
        })
        .collect();
    std::fs::write(&hba, only_tls).unwrap();
    psql(cluster, "SELECT pg_reload_conf()");
    // The reload is asynchronous: wait until a plain connection is refused.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    let port = cluster.port().to_string();
    while cluster
        .run_tool(
            "psql",
            &[
                &format!("postgresql://jxc@127.0.0.1:{port}/postgres?sslmode=disable"),
                "-c",
                "SELECT 1",
            ],
        )
        .is_ok()
    {
        assert!(
            std::time::Instant::now() < deadline,
            "TLS never became required"
        );
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
}

#[test]
fn the_hub_connects_over_verified_tls_and_refuses_what_it_cannot_verify() {
    let cluster = PgCluster::start().unwrap_or_else(|e| panic!("{e}"));
    let url = cluster.create_database("tls");
    let ca = Ca::generate("database CA").unwrap();
    require_tls(&cluster, &ca);
    let dir = tempfile::tempdir().unwrap();
    let ca_file = dir.path().join("db-ca.pem");
    std::fs::write(&ca_file, ca.cert_pem()).unwrap();

    // Plain TCP: the server refuses it.
    let e = Store::open(&Target::Postgres(url.clone()), true)
        .err()
        .unwrap();
    assert!(e.to_string().contains("cannot connect"), "{e}");

    // Verified TLS: works, and works again (migrated once).
    let tls = format!(
        "{url}?sslmode=verify-full&sslrootcert={}",
        ca_file.display()
    );
    let mut store = Store::open(&Target::Postgres(tls.clone()), true).unwrap();
    store
        .add_user(
            "ops",
            jxc_hub::store::Role::Viewer,
            "tok",
            None,
            chrono::Utc::now(),
        )
        .unwrap();
    drop(store);
    let store = Store::open(&Target::Postgres(tls), false).unwrap();
    assert_eq!(store.users().unwrap().len(), 1);

    // Another CA: the server's certificate does not verify.
    let other = Ca::generate("someone else").unwrap();
    let other_file = dir.path().join("other-ca.pem");
    std::fs::write(&other_file, other.cert_pem()).unwrap();
    let wrong = format!("{url}?sslmode=require&sslrootcert={}", other_file.display());
    let e = Store::open(&Target::Postgres(wrong), false).err().unwrap();
    assert!(e.to_string().contains("cannot connect"), "{e}");
    assert_eq!(e.exit_code(), 5);

    // A root file that is not there: named in the error.
    let missing = format!("{url}?sslmode=require&sslrootcert=/nonexistent/ca.pem");
    let e = Store::open(&Target::Postgres(missing), false)
        .err()
        .unwrap();
    assert!(e.to_string().contains("/nonexistent/ca.pem"), "{e}");
}
