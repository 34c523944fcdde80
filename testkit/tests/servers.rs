//! The throwaway servers really serve, and are gone afterwards.

use std::io::{BufRead, BufReader, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::Path;
use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::{self, JoinHandle, sleep};
use std::time::{Duration, Instant};

use jxc_testkit::{Haproxy, PgCluster};
use postgres::{Client, NoTls};

fn connect(url: &str) -> Client {
    Client::connect(url, NoTls).unwrap_or_else(|e| panic!("connect {url}: {e}"))
}

fn refuses(port: u16) -> bool {
    TcpStream::connect_timeout(
        &SocketAddr::from(([127, 0, 0, 1], port)),
        Duration::from_millis(200),
    )
    .is_err()
}

/// Some process's command line names `needle`.
fn process_mentions(needle: &str) -> Option<String> {
    for entry in std::fs::read_dir("/proc").ok()?.flatten() {
        let Ok(cmdline) = std::fs::read(entry.path().join("cmdline")) else {
            continue;
        };
        let cmdline = String::from_utf8_lossy(&cmdline).replace('\0', " ");
        if cmdline.contains(needle) {
            return Some(format!(
                "{}: {cmdline}",
                entry.file_name().to_string_lossy()
            ));
        }
    }
    None
}

/// Waits up to 10 s for `done`.
fn eventually(what: &str, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while !done() {
        assert!(Instant::now() < deadline, "{what}");
        sleep(Duration::from_millis(20));
    }
}

#[test]
fn cluster_serves_separate_databases_in_byte_order_and_is_gone_after_drop() {
    let t = Instant::now();
    let cluster = PgCluster::start().unwrap();
    eprintln!("PgCluster::start took {:?}", t.elapsed());
    let a = cluster.create_database("alpha");
    let b = cluster.create_database("beta");
    assert_eq!(
        a,
        format!("postgres://jxc@127.0.0.1:{}/alpha", cluster.port())
    );
    assert_eq!(b, cluster.url("beta"));

    let mut ca = connect(&a);
    let one: i32 = ca.query_one("SELECT 1", &[]).unwrap().get(0);
    assert_eq!(one, 1);
    ca.batch_execute("CREATE TABLE t (name text PRIMARY KEY)")
        .unwrap();
    for name in ["b", "B", "a", "_", "é", "Z"] {
        ca.execute("INSERT INTO t VALUES ($1)", &[&name]).unwrap();
    }
    let names: Vec<String> = ca
        .query("SELECT name FROM t ORDER BY name", &[])
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();
    assert_eq!(
        names,
        ["B", "Z", "_", "a", "b", "é"],
        "C locale: byte order"
    );
    let max: i32 = ca
        .query_one("SHOW max_connections", &[])
        .unwrap()
        .get::<_, String>(0)
        .parse()
        .unwrap();
    assert!(max >= 200, "max_connections {max}");
    assert!(
        cluster
            .log()
            .contains("database system is ready to accept connections"),
        "{}",
        cluster.log()
    );

    let mut cb = connect(&b);
    let tables: i64 = cb
        .query_one(
            "SELECT count(*) FROM information_schema.tables WHERE table_name = 't'",
            &[],
        )
        .unwrap()
        .get(0);
    assert_eq!(tables, 0, "beta is a database of its own");
    cb.batch_execute("CREATE TABLE t (n int); INSERT INTO t VALUES (7)")
        .unwrap();
    let n: i32 = cb.query_one("SELECT n FROM t", &[]).unwrap().get(0);
    assert_eq!(n, 7);

    drop((ca, cb));
    let (dir, port) = (cluster.dir().to_path_buf(), cluster.port());
    assert!(dir.join("data/PG_VERSION").exists());
    drop(cluster);
    assert!(!dir.exists(), "{} removed", dir.display());
    assert!(refuses(port), "port {port} closed");
    assert_eq!(
        process_mentions(&dir.to_string_lossy()),
        None,
        "no process left"
    );
}

#[test]
fn create_database_refuses_bad_and_taken_names() {
    let cluster = PgCluster::shared();
    cluster.create_database("taken");
    let err = cluster.try_create_database("taken").unwrap_err();
    assert!(err.message().contains("already exists"), "{err}");
    for bad in ["", "a b", "x;DROP", "ü", &"n".repeat(64)] {
        assert!(cluster.try_create_database(bad).is_err(), "{bad:?}");
    }
}

#[test]
fn shared_cluster_serves_every_test() {
    let cluster = PgCluster::shared();
    assert!(std::ptr::eq(cluster, PgCluster::shared()));
    let url = cluster.create_database("shared_db-1");
    let mut c = connect(&url);
    c.batch_execute("CREATE TABLE x (v text); INSERT INTO x VALUES ('ok')")
        .unwrap();
    let v: String = c.query_one("SELECT v FROM x", &[]).unwrap().get(0);
    assert_eq!(v, "ok");
}

#[test]
fn shared_cluster_creates_databases_concurrently() {
    let cluster = PgCluster::shared();
    let urls: Vec<String> = thread::scope(|s| {
        let handles: Vec<_> = (0..16)
            .map(|i| s.spawn(move || cluster.create_database(&format!("many_{i}"))))
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    for url in &urls {
        let n: i32 = connect(url).query_one("SELECT 2", &[]).unwrap().get(0);
        assert_eq!(n, 2);
    }
}

/// What the child process of
/// [`shared_cluster_stops_when_the_test_process_exits`] does: use the shared
/// cluster, leave a connection open, say where the cluster is, and exit.
fn shared_cluster_child() {
    let cluster = PgCluster::shared();
    let mut c = connect(&cluster.create_database("child"));
    c.batch_execute("SELECT 1").unwrap();
    // A connection left open, as a test that panics would leave it.
    std::mem::forget(c);
    println!(
        "JXC_DIR={} JXC_PORT={}",
        cluster.dir().display(),
        cluster.port()
    );
}

/// Set in the child process this test starts of its own binary.
const CHILD: &str = "JXC_TESTKIT_CHILD";

#[test]
fn shared_cluster_stops_when_the_test_process_exits() {
    if std::env::var_os(CHILD).is_some() {
        return shared_cluster_child();
    }
    let out = Command::new(std::env::current_exe().unwrap())
        .env(CHILD, "1")
        .args([
            "--exact",
            "shared_cluster_stops_when_the_test_process_exits",
            "--nocapture",
            "--test-threads=1",
        ])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // The harness prints "test shared_cluster_stops_… ... " first.
    let at = stdout
        .find("JXC_DIR=")
        .unwrap_or_else(|| panic!("the child's line in {stdout}"));
    let line = stdout[at..].lines().next().unwrap();
    let (dir, port) = line
        .trim_start_matches("JXC_DIR=")
        .rsplit_once(" JXC_PORT=")
        .unwrap();
    let port: u16 = port.parse().unwrap();
    eventually("the child's cluster stops", || {
        refuses(port) && !Path::new(dir).exists()
    });
    eventually("no process of the child's cluster left", || {
        process_mentions(dir).is_none()
    });
}

/// A TCP server answering each line with `ID:line`.
struct Echo {
    addr: SocketAddr,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl Echo {
    fn start(id: &'static str) -> Echo {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        listener.set_nonblocking(true).unwrap();
        let addr = listener.local_addr().unwrap();
        let stop = Arc::new(AtomicBool::new(false));
        let flag = stop.clone();
        let thread = thread::spawn(move || {
            while !flag.load(Ordering::SeqCst) {
                match listener.accept() {
                    Ok((conn, _)) => {
                        thread::spawn(move || {
                            conn.set_nonblocking(false).unwrap();
                            let mut w = conn.try_clone().unwrap();
                            for line in BufReader::new(conn).lines() {
                                let Ok(line) = line else { break };
                                if writeln!(w, "{id}:{line}").is_err() {
                                    break;
                                }
                            }
                        });
                    }
                    Err(_) => sleep(Duration::from_millis(5)),
                }
            }
        });
        Echo {
            addr,
            stop,
            thread: Some(thread),
        }
    }

    /// Closes the listening socket: new connections are refused.
    fn stop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(t) = self.thread.take() {
            t.join().unwrap();
        }
    }
}

impl Drop for Echo {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Which backend answered a connection through `proxy`.
fn ask(proxy: &Haproxy, msg: &str) -> String {
    let mut conn = TcpStream::connect(proxy.addr()).unwrap();
    conn.set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    writeln!(conn, "{msg}").unwrap();
    let mut line = String::new();
    BufReader::new(&conn)
        .read_line(&mut line)
        .unwrap_or_else(|e| panic!("{e}\n{}", proxy.log()));
    let (id, echoed) = line
        .trim_end()
        .split_once(':')
        .unwrap_or_else(|| panic!("{line:?}\n{}", proxy.log()));
    assert_eq!(echoed, msg);
    id.to_owned()
}

#[test]
fn haproxy_passes_tcp_through_and_around_a_stopped_backend() {
    let mut b0 = Echo::start("b0");
    let b1 = Echo::start("b1");
    let t = Instant::now();
    let proxy = Haproxy::start(&[b0.addr, b1.addr]).unwrap();
    eprintln!("Haproxy::start took {:?}", t.elapsed());
    assert!(proxy.addr().ip().is_loopback());

    let ids: Vec<String> = (0..6).map(|i| ask(&proxy, &format!("hello {i}"))).collect();
    assert!(
        ids.iter().any(|i| i == "b0") && ids.iter().any(|i| i == "b1"),
        "round robin: {ids:?}"
    );

    // At once, before a health check has noticed: refused, redispatched.
    b0.stop();
    for i in 0..6 {
        assert_eq!(ask(&proxy, &format!("after {i}")), "b1");
    }
    // Once the check has taken it out.
    eventually("hub0 marked down", || proxy.log().contains("hub0 is DOWN"));
    for i in 0..6 {
        assert_eq!(ask(&proxy, &format!("later {i}")), "b1");
    }
    let long = ask(&proxy, &"x".repeat(100_000));
    assert_eq!(long, "b1");

    let (dir, port) = (proxy.dir().to_path_buf(), proxy.addr().port());
    drop(proxy);
    assert!(!dir.exists(), "{} removed", dir.display());
    assert!(refuses(port));
    assert_eq!(
        process_mentions(&dir.to_string_lossy()),
        None,
        "no haproxy left"
    );
}

#[test]
fn haproxy_without_backends_is_an_error() {
    assert!(Haproxy::start(&[]).is_err());
}
