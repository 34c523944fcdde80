//! A PostgreSQL cluster of the OS's server binaries, in a temporary
//! directory, on a free loopback port. initdb refuses to run as root, so as
//! root the cluster runs as the `postgres` OS user (or `nobody`).
//! Databases are made with the `createdb` tool, so this works from any
//! thread, inside an async runtime or not.

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

/// A running cluster; stopped and removed on drop. [`PgCluster::shared`]
/// is stopped by a watchdog when the test process exits.
pub struct PgCluster {
    dir: PathBuf,
    bin: PathBuf,
    user: Option<String>,
    port: u16,
    /// Keeps the directory until drop (None for the shared cluster, whose
    /// watchdog removes it).
    _temp: Option<tempfile::TempDir>,
}

const SUPERUSER: &str = "jxc";

fn bin_dir() -> Result<PathBuf, String> {
    let mut candidates: Vec<PathBuf> = Vec::new();
    if let Ok(entries) = std::fs::read_dir("/usr/lib/postgresql") {
        let mut versions: Vec<PathBuf> = entries.flatten().map(|e| e.path().join("bin")).collect();
        versions.sort();
        candidates.extend(versions.into_iter().rev());
    }
    candidates.push(PathBuf::from("/usr/local/bin"));
    candidates.push(PathBuf::from("/usr/bin"));
    candidates
        .into_iter()
        .find(|d| d.join("initdb").is_file() && d.join("pg_ctl").is_file())
        .ok_or_else(|| {
            "the PostgreSQL server is not installed (no initdb/pg_ctl under /usr/lib/postgresql/*/bin): \
             install it with `apt-get install postgresql`, as .ci/run does"
                .to_owned()
        })
}

fn free_port() -> Result<u16, String> {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .map_err(|e| format!("no free loopback port: {e}"))
}

fn is_root() -> bool {
    // The effective uid, without libc: /proc/self/status's "Uid:" line.
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("Uid:"))
                .and_then(|l| l.split_whitespace().nth(2).map(|u| u == "0"))
        })
        .unwrap_or(false)
}

/// The OS user the server runs as when we are root, and its uid/gid.
fn server_user() -> Result<Option<(String, u32, u32)>, String> {
    if !is_root() {
        return Ok(None);
    }
    for name in ["postgres", "nobody"] {
        let out = Command::new("id").args(["-u", name]).output();
        let gid = Command::new("id").args(["-g", name]).output();
        if let (Ok(u), Ok(g)) = (out, gid)
            && u.status.success()
            && g.status.success()
        {
            let uid = String::from_utf8_lossy(&u.stdout).trim().parse().ok();
            let gid = String::from_utf8_lossy(&g.stdout).trim().parse().ok();
            if let (Some(uid), Some(gid)) = (uid, gid) {
                return Ok(Some((name.to_owned(), uid, gid)));
            }
        }
    }
    Err("running as root, and neither the `postgres` nor the `nobody` user exists to run PostgreSQL as".into())
}

impl PgCluster {
    /// Creates and starts a cluster.
    pub fn start() -> Result<PgCluster, String> {
        Self::start_in(
            tempfile::Builder::new()
                .prefix("jxc-pg-")
                .tempdir()
                .map_err(|e| e.to_string())?,
        )
    }

    fn start_in(temp: tempfile::TempDir) -> Result<PgCluster, String> {
        let bin = bin_dir()?;
        let user = server_user()?;
        let dir = temp.path().to_path_buf();
        if let Some((_, uid, gid)) = &user {
            std::os::unix::fs::chown(&dir, Some(*uid), Some(*gid))
                .map_err(|e| format!("chown {}: {e}", dir.display()))?;
        }
        let cluster = PgCluster {
            dir,
            bin,
            user: user.map(|u| u.0),
            port: free_port()?,
            _temp: Some(temp),
        };
        let data = cluster.data_dir();
        cluster.run(
            "initdb",
            &[
                "-D",
                &data.display().to_string(),
                "-U",
                SUPERUSER,
                "--auth=trust",
                "--encoding=UTF8",
                "--locale=C",
                "--no-sync",
            ],
        )?;
        let options = format!(
            "-p {} -k {} -c listen_addresses=127.0.0.1 -c fsync=off -c synchronous_commit=off \
             -c full_page_writes=off -c max_connections=300 -c shared_buffers=128MB",
            cluster.port,
            cluster.dir.display()
        );
        cluster.run(
            "pg_ctl",
            &[
                "-D",
                &data.display().to_string(),
                "-l",
                &cluster.dir.join("server.log").display().to_string(),
                "-o",
                &options,
                "-w",
                "-t",
                "60",
                "start",
            ],
        )?;
        let deadline = Instant::now() + Duration::from_secs(30);
        let port = cluster.port.to_string();
        while let Err(e) = cluster.run("pg_isready", &["-h", "127.0.0.1", "-p", &port, "-q"]) {
            if Instant::now() > deadline {
                return Err(format!("PostgreSQL did not accept connections: {e}"));
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        Ok(cluster)
    }

    /// The cluster this test process shares, started on first use and
    /// stopped by a watchdog process once the test process has exited.
    /// Panics, with what to install, when PostgreSQL cannot start.
    pub fn shared() -> &'static PgCluster {
        static SHARED: OnceLock<PgCluster> = OnceLock::new();
        SHARED.get_or_init(|| {
            let temp = tempfile::Builder::new()
                .prefix("jxc-pg-")
                .tempdir()
                .unwrap_or_else(|e| panic!("a temporary directory for PostgreSQL: {e}"));
            let mut cluster =
                Self::start_in(temp).unwrap_or_else(|e| panic!("PostgreSQL for the tests: {e}"));
            // The static is never dropped: the watchdog stops and removes it.
            if let Some(temp) = cluster._temp.take() {
                let _ = temp.keep();
            }
            cluster.watch(std::process::id());
            cluster
        })
    }

    /// Starts a detached process that stops the cluster and removes its
    /// directory once process `pid` has gone, however it ended.
    fn watch(&self, pid: u32) {
        let stop = self.command_line(
            "pg_ctl",
            &[
                "-D",
                &self.data_dir().display().to_string(),
                "-m",
                "immediate",
                "stop",
            ],
        );
        let script = format!(
            "while kill -0 {pid} 2>/dev/null; do sleep 0.5; done; {stop} >/dev/null 2>&1; rm -rf '{}'",
            self.dir.display()
        );
        use std::os::unix::process::CommandExt;
        let _ = Command::new("sh")
            .args(["-c", &script])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .process_group(0)
            .spawn();
    }

    fn data_dir(&self) -> PathBuf {
        self.dir.join("data")
    }

    fn command_line(&self, tool: &str, args: &[&str]) -> String {
        let quoted: Vec<String> = args
            .iter()
            .map(|a| format!("'{}'", a.replace('\'', "'\\''")))
            .collect();
        let exe = self.bin.join(tool).display().to_string();
        match &self.user {
            Some(u) => format!("runuser -u {u} -- '{exe}' {}", quoted.join(" ")),
            None => format!("'{exe}' {}", quoted.join(" ")),
        }
    }

    fn run(&self, tool: &str, args: &[&str]) -> Result<(), String> {
        let exe = self.bin.join(tool);
        let mut cmd = match &self.user {
            Some(u) => {
                let mut c = Command::new("runuser");
                c.args(["-u", u, "--"]).arg(&exe);
                c
            }
            None => Command::new(&exe),
        };
        let out = cmd
            .args(args)
            .current_dir(&self.dir)
            .stdin(Stdio::null())
            .output()
            .map_err(|e| format!("{}: {e}", exe.display()))?;
        if !out.status.success() {
            let log = std::fs::read_to_string(self.dir.join("server.log")).unwrap_or_default();
            return Err(format!(
                "{tool} failed: {}{}\n{log}",
                String::from_utf8_lossy(&out.stderr),
                String::from_utf8_lossy(&out.stdout)
            ));
        }
        Ok(())
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The URL of database `db` as the superuser.
    pub fn url(&self, db: &str) -> String {
        format!("postgres://{SUPERUSER}@127.0.0.1:{}/{db}", self.port)
    }

    /// Creates a fresh database named after `label` (made unique) and
    /// returns its URL.
    pub fn create_database(&self, label: &str) -> String {
        static N: AtomicU32 = AtomicU32::new(0);
        let clean: String = label
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() {
                    c.to_ascii_lowercase()
                } else {
                    '_'
                }
            })
            .take(30)
            .collect();
        let name = format!(
            "t{}_{}_{}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed),
            clean
        );
        // The createdb tool, not a client library: tests call this from
        // inside async runtimes, where a blocking client may not run.
        let port = self.port.to_string();
        self.run(
            "createdb",
            &["-h", "127.0.0.1", "-p", &port, "-U", SUPERUSER, &name],
        )
        .unwrap_or_else(|e| panic!("createdb {name}: {e}"));
        self.url(&name)
    }
}

impl Drop for PgCluster {
    fn drop(&mut self) {
        if self._temp.is_some() {
            let _ = self.run(
                "pg_ctl",
                &[
                    "-D",
                    &self.data_dir().display().to_string(),
                    "-m",
                    "immediate",
                    "stop",
                ],
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::PgCluster;

    #[test]
    fn a_cluster_starts_and_serves_fresh_databases() {
        let cluster = PgCluster::start().unwrap();
        let a = cluster.create_database("one");
        let b = cluster.create_database("two");
        assert_ne!(a, b);
        let mut c = postgres::Client::connect(&a, postgres::NoTls).unwrap();
        c.batch_execute("CREATE TABLE t (k TEXT PRIMARY KEY); INSERT INTO t VALUES ('龙井')")
            .unwrap();
        let k: String = c.query_one("SELECT k FROM t", &[]).unwrap().get(0);
        assert_eq!(k, "龙井");
        // Byte order, as SQLite sorts.
        let order: Vec<String> = c
            .query(
                "SELECT x FROM (VALUES ('b'), ('B'), ('a')) v(x) ORDER BY x",
                &[],
            )
            .unwrap()
            .iter()
            .map(|r| r.get(0))
            .collect();
        assert_eq!(order, ["B", "a", "b"]);
        let dir = cluster.dir().to_path_buf();
        drop(cluster);
        assert!(!dir.exists());
    }
}
