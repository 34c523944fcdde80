//! Support for end-to-end tests: find the real jxc binaries, run them in a
//! temporary data directory, and kill them when a test is done.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};

/// Path of a workspace binary, built by `cargo test --workspace` before any
/// test runs (the agent crate's own integration tests make cargo build it).
/// When a test here is run alone, the binary is built first.
pub fn binary(name: &str) -> PathBuf {
    let exe = std::env::current_exe().expect("test executable path");
    // target/<profile>/deps/<test> -> target/<profile>/<name>
    let dir = exe.parent().and_then(Path::parent).expect("target dir");
    let path = dir.join(name);
    if !path.is_file() {
        let status = Command::new(env!("CARGO"))
            .args(["build", "--bin", name])
            .status()
            .expect("run cargo build");
        assert!(status.success(), "cargo build --bin {name} failed");
    }
    path
}

/// One agent site in a temporary directory, driven through its real binary.
pub struct Site {
    pub dir: tempfile::TempDir,
    bin: PathBuf,
}

impl Site {
    /// Initializes a site with the given locations.
    pub fn new(id: &str, locations: &[&str]) -> Site {
        Site::with_kind(id, "branch", locations)
    }

    /// Initializes a site of the given kind (branch, dealer, hq).
    pub fn with_kind(id: &str, kind: &str, locations: &[&str]) -> Site {
        Site::with_binary(&binary("jxc-agent"), id, kind, locations)
    }

    /// As [`Site::with_kind`], running the agent binary at `bin`.
    pub fn with_binary(bin: &Path, id: &str, kind: &str, locations: &[&str]) -> Site {
        let site = Site {
            dir: tempfile::tempdir().expect("tempdir"),
            bin: bin.to_path_buf(),
        };
        site.ok(&["init", "--site", id, "--kind", kind]);
        for l in locations {
            site.ok(&["location", "add", l]);
        }
        site
    }

    pub fn data(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    pub fn command(&self, args: &[&str]) -> Command {
        let mut c = Command::new(&self.bin);
        c.arg("--data")
            .arg(self.data())
            .args(args)
            .current_dir(self.dir.path())
            .env_remove("JXC_AGENT_DATA")
            .env_remove("JXC_AGENT_CONFIG");
        c
    }

    pub fn run(&self, args: &[&str]) -> Output {
        self.command(args).output().expect("run jxc-agent")
    }

    /// Runs a command that must succeed; returns its stdout.
    pub fn ok(&self, args: &[&str]) -> String {
        let out = self.run(args);
        assert!(
            out.status.success(),
            "jxc-agent {args:?} failed ({:?}): {}",
            out.status.code(),
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).expect("utf-8 stdout")
    }

    /// Runs a command that must fail with exit `code`; returns its stderr.
    pub fn fails(&self, args: &[&str], code: i32) -> String {
        let out = self.run(args);
        let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
        assert_eq!(
            out.status.code(),
            Some(code),
            "jxc-agent {args:?}: expected exit {code}; stdout: {} stderr: {stderr}",
            String::from_utf8_lossy(&out.stdout)
        );
        stderr
    }

    /// A command's `--json` output, parsed.
    pub fn json(&self, args: &[&str]) -> serde_json::Value {
        let mut args = args.to_vec();
        args.push("--json");
        serde_json::from_str(&self.ok(&args)).expect("jxc-agent json")
    }

    /// Reads a file of the data directory (such as `agent.pem`).
    pub fn file(&self, name: &str) -> String {
        std::fs::read_to_string(self.data().join(name)).expect("read agent data file")
    }

    /// Starts a command in the background; it is killed when dropped.
    pub fn spawn(&self, args: &[&str]) -> Running {
        let child = self
            .command(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn jxc-agent");
        Running(Some(child))
    }

    /// `stock --json` as (location, sku, lot) -> qty text.
    pub fn stock(&self) -> Vec<(String, String, String, String)> {
        let v: serde_json::Value =
            serde_json::from_str(&self.ok(&["stock", "--json"])).expect("stock json");
        v.as_array()
            .expect("array")
            .iter()
            .map(|r| {
                let s = |k: &str| r[k].as_str().unwrap_or("").to_owned();
                (s("location"), s("sku"), s("lot"), s("qty"))
            })
            .collect()
    }

    /// Waits until some process is writing a large transaction to this
    /// site's ledger (its WAL has grown by a MiB). False on timeout.
    pub fn wait_until_writing(&self, timeout: std::time::Duration) -> bool {
        let wal = self.data().join("ledger.db-wal");
        let len = || std::fs::metadata(&wal).map(|m| m.len()).unwrap_or(0);
        let start = len();
        let deadline = std::time::Instant::now() + timeout;
        while std::time::Instant::now() < deadline {
            if len() > start + (1 << 20) {
                return true;
            }
            std::thread::sleep(std::time::Duration::from_millis(2));
        }
        false
    }

    pub fn movement_count(&self) -> u64 {
        let v: serde_json::Value =
            serde_json::from_str(&self.ok(&["status", "--json"])).expect("status json");
        v["movements"].as_u64().expect("movements")
    }
}

/// A background process that is killed (SIGKILL) if still running on drop.
pub struct Running(Option<Child>);

impl Running {
    pub fn pid(&self) -> u32 {
        self.0.as_ref().expect("running").id()
    }

    pub fn wait(mut self) -> Output {
        self.0
            .take()
            .expect("running")
            .wait_with_output()
            .expect("wait")
    }

    /// The exit status, if the process has ended.
    pub fn try_wait(&mut self) -> Option<std::process::ExitStatus> {
        self.0
            .as_mut()
            .expect("running")
            .try_wait()
            .expect("try_wait")
    }

    /// SIGKILL, as a power cut would stop it, then reap it.
    pub fn kill9(mut self) {
        let mut child = self.0.take().expect("running");
        let _ = child.kill();
        let _ = child.wait();
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        if let Some(mut c) = self.0.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

/// Writes a products file with `n` SKUs (`SKU-00000`…), two decimal places.
pub fn write_products(path: &Path, n: usize) {
    let mut s = String::from("sku,name,unit,category,brand,decimals\n");
    for i in 0..n {
        s.push_str(&format!("SKU-{i:05},\"茶叶 {i}, 特级\",盒,tea,西湖,2\n"));
    }
    std::fs::write(path, s).expect("write products");
}

/// Writes a movement file: one opening of 1000 per SKU at `location`, then
/// `sales` sales of 0.5 spread over the SKUs.
pub fn write_movements(path: &Path, location: &str, skus: usize, sales: usize) {
    use std::io::Write;
    let mut w = std::io::BufWriter::new(std::fs::File::create(path).expect("create"));
    writeln!(
        w,
        "type,location,sku,qty,lot,unit_cost,unit_price,counterparty,ref,occurred_at"
    )
    .unwrap();
    for i in 0..skus {
        writeln!(
            w,
            "opening,{location},SKU-{i:05},1000,,12.5,,,OB,2026-11-01T08:00:00+08:00"
        )
        .unwrap();
    }
    for i in 0..sales {
        writeln!(
            w,
            "sale,{location},SKU-{:05},0.5,,,19.9,\"客户 {i}, Ltd\",SO-{i},2026-11-02T10:00:00+08:00",
            i % skus
        )
        .unwrap();
    }
    w.flush().unwrap();
}

/// A jxc hub in a temporary directory, driven through its real binary.
pub struct Hub {
    pub dir: tempfile::TempDir,
    /// The admin's bearer token that `init` printed.
    pub admin: String,
    /// The hub's PostgreSQL database when the tests run with
    /// `JXC_TEST_BACKEND=postgres`; `None`: `hub.db` in the data directory.
    pub database: Option<String>,
    bin: PathBuf,
    starts: std::cell::Cell<u32>,
}

/// A running `jxc-hub serve`; killed when dropped.
pub struct Served {
    pub process: Running,
    /// `https://127.0.0.1:PORT`
    pub url: String,
    pub port: u16,
}

impl Hub {
    /// Runs `jxc-hub init` and keeps the admin token it prints.
    pub fn new() -> Hub {
        Hub::with_binary(binary("jxc-hub"))
    }

    /// As [`Hub::new`], running the hub binary at `bin`.
    pub fn with_binary(bin: PathBuf) -> Hub {
        Hub::create(bin, jxc_testkit::database_url("hub"))
    }

    /// A hub on a PostgreSQL database of its own whatever the backend
    /// switch says: for the tests of several hub processes on one database.
    pub fn on_postgres() -> Hub {
        Hub::on_postgres_with_binary(binary("jxc-hub"))
    }

    /// As [`Hub::on_postgres`], running the hub binary at `bin`.
    pub fn on_postgres_with_binary(bin: PathBuf) -> Hub {
        let cluster = jxc_testkit::PgCluster::shared();
        let url = cluster.create_database(&jxc_testkit::unique_name("hub"));
        Hub::create(bin, Some(url))
    }

    fn create(bin: PathBuf, database: Option<String>) -> Hub {
        let mut hub = Hub {
            dir: tempfile::tempdir().expect("tempdir"),
            admin: String::new(),
            database,
            bin,
            starts: std::cell::Cell::new(0),
        };
        let out = hub.ok(&["init"]);
        hub.admin = out
            .lines()
            .find_map(|l| l.strip_prefix("admin token (shown once; store it safely): "))
            .unwrap_or_else(|| panic!("no admin token in the init output: {out}"))
            .trim()
            .to_owned();
        assert!(hub.admin.starts_with("jxch_"), "admin token {}", hub.admin);
        // On PostgreSQL the keys live only in the database; the tests that
        // present the hub's certificate (the fault proxy) read them here.
        if hub.database.is_some() {
            let data = hub.data();
            hub.ok(&["export-certs", &data.display().to_string()]);
        }
        hub
    }

    pub fn data(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    /// Saves the hub's database to `to` (a directory), as an operator's
    /// backup would: the SQLite files copied, or `pg_dump` of the
    /// PostgreSQL database. The hub should be stopped (SQLite).
    pub fn backup(&self, to: &Path) {
        std::fs::create_dir_all(to).expect("backup directory");
        match &self.database {
            None => copy_sqlite(&self.data(), to),
            Some(url) => {
                let file = to.join("hub.dump").display().to_string();
                jxc_testkit::PgCluster::shared()
                    .run_tool("pg_dump", &["--format=custom", "--file", &file, url])
                    .unwrap_or_else(|e| panic!("{e}"));
            }
        }
    }

    /// Puts back a [`Hub::backup`]: the database is as it was then.
    pub fn restore(&self, from: &Path) {
        match &self.database {
            None => copy_sqlite(from, &self.data()),
            Some(url) => {
                let file = from.join("hub.dump").display().to_string();
                jxc_testkit::PgCluster::shared()
                    .run_tool(
                        "pg_restore",
                        &[
                            "--clean",
                            "--if-exists",
                            "--single-transaction",
                            "--dbname",
                            url,
                            &file,
                        ],
                    )
                    .unwrap_or_else(|e| panic!("{e}"));
            }
        }
    }

    /// Everything the hub has stored, as bytes, each with where it is: every
    /// file under its data directory (hub.db, its -wal and -shm, keys, …)
    /// and, on PostgreSQL, a plain dump of its database.
    pub fn stored(&self) -> Vec<(String, Vec<u8>)> {
        let mut out = Vec::new();
        let mut dirs = vec![self.data()];
        while let Some(d) = dirs.pop() {
            for e in std::fs::read_dir(&d).expect("read the hub's data directory") {
                let p = e.expect("a directory entry").path();
                if p.is_dir() {
                    dirs.push(p);
                } else {
                    let bytes = std::fs::read(&p).expect("read a hub file");
                    out.push((p.display().to_string(), bytes));
                }
            }
        }
        if let Some(url) = &self.database {
            let dump = jxc_testkit::PgCluster::shared()
                .run_tool("pg_dump", &["--data-only", url])
                .unwrap_or_else(|e| panic!("{e}"));
            out.push((format!("database {url}"), dump));
        }
        out
    }

    /// The hub's CA certificate, the only root its clients should trust.
    pub fn ca_pem(&self) -> String {
        std::fs::read_to_string(self.data().join("ca.pem")).expect("read ca.pem")
    }

    pub fn command(&self, args: &[&str]) -> Command {
        let mut c = Command::new(&self.bin);
        c.arg("--data")
            .arg(self.data())
            .args(args)
            .current_dir(self.dir.path())
            .env("JXC_LOG", "warn")
            .env_remove("JXC_HUB_DATA")
            .env_remove("JXC_HUB_CONFIG");
        match &self.database {
            Some(url) => c.env("JXC_HUB_DATABASE", url),
            None => c.env_remove("JXC_HUB_DATABASE"),
        };
        c
    }

    /// Runs a command that must succeed; returns its stdout.
    pub fn ok(&self, args: &[&str]) -> String {
        let out = self.command(args).output().expect("run jxc-hub");
        assert!(
            out.status.success(),
            "jxc-hub {args:?} failed ({:?}): {}",
            out.status.code(),
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).expect("utf-8 stdout")
    }

    /// Runs `jxc-hub ARGS` with `stdin` as its standard input (a password
    /// for `user add --password-stdin`, say).
    pub fn with_stdin(&self, args: &[&str], stdin: &str) -> Output {
        use std::io::Write;
        let mut child = self
            .command(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("run jxc-hub");
        child
            .stdin
            .take()
            .expect("stdin")
            .write_all(stdin.as_bytes())
            .expect("write stdin");
        child.wait_with_output().expect("wait for jxc-hub")
    }

    /// A read command's `--json` output, parsed.
    pub fn json(&self, args: &[&str]) -> serde_json::Value {
        let mut args = args.to_vec();
        args.push("--json");
        serde_json::from_str(&self.ok(&args)).expect("jxc-hub json")
    }

    /// A one-time enrollment token for a site.
    pub fn token(&self, site: &str, kind: &str) -> String {
        let t = self.ok(&["token", "--site", site, "--kind", kind]);
        let t = t.trim().to_owned();
        assert!(t.starts_with("jxc1."), "token {t}");
        t
    }

    /// Starts `serve` on 127.0.0.1:`port` (0: any) and waits until it
    /// listens; panics if it cannot.
    pub fn start(&self, port: Option<u16>) -> Served {
        self.try_start(port)
            .unwrap_or_else(|e| panic!("jxc-hub serve did not start: {e}"))
    }

    /// As [`Hub::start`], but a server that exits before listening (its port
    /// is taken, say) is an error carrying its stderr.
    pub fn try_start(&self, port: Option<u16>) -> Result<Served, String> {
        let n = self.starts.get() + 1;
        self.starts.set(n);
        let out_path = self.dir.path().join(format!("serve-{n}.out"));
        let err_path = self.dir.path().join(format!("serve-{n}.err"));
        let file = |p: &Path| std::fs::File::create(p).expect("create serve log");
        let listen = format!("127.0.0.1:{}", port.unwrap_or(0));
        let child = self
            .command(&["serve", "--listen", &listen])
            .stdin(Stdio::null())
            .stdout(file(&out_path))
            .stderr(file(&err_path))
            .spawn()
            .expect("spawn jxc-hub serve");
        let mut process = Running(Some(child));
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
        loop {
            let out = std::fs::read_to_string(&out_path).unwrap_or_default();
            if let Some(url) = out
                .lines()
                .find_map(|l| l.strip_prefix("listening on "))
                .map(str::trim)
            {
                let port = url
                    .rsplit_once(':')
                    .and_then(|(_, p)| p.parse().ok())
                    .unwrap_or_else(|| panic!("no port in {url:?}"));
                return Ok(Served {
                    process,
                    url: url.to_owned(),
                    port,
                });
            }
            if let Some(status) = process.try_wait() {
                return Err(format!(
                    "exited ({status}): {}",
                    std::fs::read_to_string(&err_path).unwrap_or_default()
                ));
            }
            if std::time::Instant::now() > deadline {
                return Err("not listening after 30 s".into());
            }
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
    }
}

impl Default for Hub {
    fn default() -> Self {
        Hub::new()
    }
}

/// A loopback port that was free a moment ago (for a server that must come
/// back on the same port after a restart).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("bind 127.0.0.1:0")
        .port()
}

/// An HTTPS client that trusts only `ca_pem` and, with `identity = Some((cert,
/// key))`, presents that client certificate.
pub fn https_client(ca_pem: &str, identity: Option<(&str, &str)>) -> reqwest::Client {
    let ca = reqwest::Certificate::from_pem(ca_pem.as_bytes()).expect("CA certificate");
    let mut b = reqwest::Client::builder()
        .tls_certs_only([ca])
        .timeout(std::time::Duration::from_secs(60));
    if let Some((cert, key)) = identity {
        let pem = format!("{}\n{key}", cert.trim_end());
        b = b.identity(reqwest::Identity::from_pem(pem.as_bytes()).expect("identity"));
    }
    b.build().expect("https client")
}

/// A blocking wrapper over [`https_client`] for one hub.
pub struct Https {
    rt: tokio::runtime::Runtime,
    client: reqwest::Client,
    base: String,
}

/// A response: status code and body.
#[derive(Debug)]
pub struct Reply {
    pub status: u16,
    pub body: Vec<u8>,
}

impl Reply {
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.text()))
    }
}

impl Https {
    pub fn new(base: &str, ca_pem: &str, identity: Option<(&str, &str)>) -> Https {
        Https {
            rt: tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("tokio runtime"),
            client: https_client(ca_pem, identity),
            base: base.trim_end_matches('/').to_owned(),
        }
    }

    fn send(&self, req: reqwest::RequestBuilder) -> Reply {
        self.rt.block_on(async {
            let resp = req.send().await.expect("request");
            let status = resp.status().as_u16();
            let body = resp.bytes().await.expect("response body").to_vec();
            Reply { status, body }
        })
    }

    /// GET `path`, with `Authorization: Bearer` when a token is given.
    pub fn get(&self, path: &str, bearer: Option<&str>) -> Reply {
        let mut req = self.client.get(format!("{}{path}", self.base));
        if let Some(t) = bearer {
            req = req.header("authorization", format!("Bearer {t}"));
        }
        self.send(req)
    }

    /// POST a protocol message (zstd + postcard) to `path` as an agent would.
    pub fn post_message<T: serde::Serialize>(&self, path: &str, msg: &T) -> Reply {
        use jxc_shared::protocol::{CONTENT_TYPE, PROTOCOL_HEADER, PROTOCOL_VERSION, encode};
        self.send(
            self.client
                .post(format!("{}{path}", self.base))
                .header("content-type", CONTENT_TYPE)
                .header(PROTOCOL_HEADER, PROTOCOL_VERSION.to_string())
                .body(encode(msg)),
        )
    }

    /// POST raw bytes to `path` with the given protocol version header.
    pub fn post_raw(&self, path: &str, version: &str, body: Vec<u8>) -> Reply {
        use jxc_shared::protocol::{CONTENT_TYPE, PROTOCOL_HEADER};
        self.send(
            self.client
                .post(format!("{}{path}", self.base))
                .header("content-type", CONTENT_TYPE)
                .header(PROTOCOL_HEADER, version)
                .body(body),
        )
    }

    /// POST one sync request as an agent sends it.
    pub fn sync(&self, req: &jxc_shared::protocol::SyncRequest) -> Reply {
        use jxc_shared::protocol::{CONTENT_TYPE, PROTOCOL_HEADER, PROTOCOL_VERSION, encode};
        self.send(
            self.client
                .post(format!("{}/v1/sync", self.base))
                .header("content-type", CONTENT_TYPE)
                .header(PROTOCOL_HEADER, PROTOCOL_VERSION.to_string())
                .body(encode(req)),
        )
    }
}

pub mod faults;
pub mod webhook;

/// An HTTPS client as a browser is, for the dashboard: it trusts the CA in
/// `ca_pem` only and follows no redirect, so a test sees the 303 and its
/// cookie; with a runtime to drive it from a synchronous test.
pub fn browser(ca_pem: &[u8]) -> (tokio::runtime::Runtime, reqwest::Client) {
    let ca = reqwest::Certificate::from_pem(ca_pem).expect("the CA's PEM");
    let client = reqwest::Client::builder()
        .tls_certs_only([ca])
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("an HTTPS client");
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a runtime");
    (rt, client)
}

/// The DER of the first certificate in a PEM text.
pub fn pem_der(pem: &str) -> Result<Vec<u8>, String> {
    use base64::Engine;
    let body: String = pem
        .lines()
        .skip_while(|l| !l.starts_with("-----BEGIN"))
        .skip(1)
        .take_while(|l| !l.starts_with("-----END"))
        .collect();
    base64::engine::general_purpose::STANDARD
        .decode(body)
        .map_err(|e| format!("not PEM: {e}"))
}

/// Copies a SQLite hub's database files from `from` to `to`, removing
/// those `from` lacks.
fn copy_sqlite(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).expect("create the directory");
    for name in ["hub.db", "hub.db-wal", "hub.db-shm"] {
        let (src, dst) = (from.join(name), to.join(name));
        if src.exists() {
            std::fs::copy(&src, &dst).expect("copy a database file");
        } else if dst.exists() {
            std::fs::remove_file(&dst).expect("remove a database file");
        }
    }
}
