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
        let site = Site {
            dir: tempfile::tempdir().expect("tempdir"),
            bin: binary("jxc-agent"),
        };
        site.ok(&["init", "--site", id, "--kind", "branch"]);
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
