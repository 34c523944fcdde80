//! A throwaway PostgreSQL cluster.

use std::ffi::OsString;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::OnceLock;
use std::thread::sleep;
use std::time::{Duration, Instant};

use crate::proc::{RunAs, Watched, find_program, is_executable, log_tail};
use crate::{Error, Result, free_port};

/// The superuser `initdb` creates; every database belongs to it.
const USER: &str = "jxc";
/// Enough for several hub processes' pools at once.
const MAX_CONNECTIONS: u32 = 300;
const START_TIMEOUT: Duration = Duration::from_secs(60);
const PORT_ATTEMPTS: usize = 5;

/// A PostgreSQL cluster of its own: a temporary directory holding the data
/// directory and the unix socket, the server listening on `127.0.0.1:PORT`
/// only, the superuser `jxc` with trust authentication, UTF-8 and the C
/// locale (so `ORDER BY` on text is byte order, as in SQLite), durability
/// off (`fsync`, `synchronous_commit`, `full_page_writes`) and 300
/// connections. Dropping it stops the server (immediate shutdown) and
/// removes the directory.
#[derive(Debug)]
pub struct PgCluster {
    server: Watched,
    dir: PathBuf,
    port: u16,
    bin: PathBuf,
}

impl PgCluster {
    /// Creates and starts a new cluster; about a second (mostly `initdb`).
    pub fn start() -> Result<PgCluster> {
        let bin = bin_dir()?;
        let run_as = RunAs::unprivileged()?;
        // As root the unprivileged user must reach the directory: not under a
        // TMPDIR in root's home.
        let parent = if run_as.owner().is_some() && Path::new("/tmp").is_dir() {
            PathBuf::from("/tmp")
        } else {
            std::env::temp_dir()
        };
        let tmp = tempfile::Builder::new()
            .prefix("jxc-pg-")
            .tempdir_in(&parent)
            .map_err(|e| {
                Error::new(format!(
                    "cannot create a directory in {}: {e}",
                    parent.display()
                ))
            })?;
        let dir = tmp.path().to_path_buf();
        if let Some((uid, gid)) = run_as.owner() {
            std::os::unix::fs::chown(&dir, Some(uid), Some(gid)).map_err(|e| {
                Error::new(format!("cannot chown {} to uid {uid}: {e}", dir.display()))
            })?;
        }
        let data = dir.join("data");

        let mut initdb = run_as.command(
            &bin.join("initdb"),
            [
                OsString::from("-D"),
                data.clone().into(),
                format!("--username={USER}").into(),
                "--auth=trust".into(),
                "--encoding=UTF8".into(),
                "--locale=C".into(),
                "--no-sync".into(),
                "--no-instructions".into(),
            ],
        );
        let out = initdb
            .current_dir(&dir)
            .stdin(Stdio::null())
            .output()
            .map_err(|e| Error::new(format!("cannot run {}/initdb: {e}", bin.display())))?;
        if !out.status.success() {
            return Err(Error::new(format!(
                "initdb as {} failed ({}):\n{}{}",
                run_as.describe(),
                out.status,
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            )));
        }

        let log = dir.join("postgres.log");
        let mut last = String::new();
        for _ in 0..PORT_ATTEMPTS {
            let port = free_port();
            let args: Vec<OsString> = [
                "-D".into(),
                data.clone().into_os_string(),
                "-p".into(),
                port.to_string().into(),
                "-h".into(),
                "127.0.0.1".into(),
                "-k".into(),
                dir.clone().into_os_string(),
            ]
            .into_iter()
            .chain(
                [
                    format!("max_connections={MAX_CONNECTIONS}"),
                    "fsync=off".into(),
                    "synchronous_commit=off".into(),
                    "full_page_writes=off".into(),
                    "unix_socket_permissions=0700".into(),
                ]
                .into_iter()
                .flat_map(|c| [OsString::from("-c"), c.into()]),
            )
            .collect();
            let mut server =
                Watched::spawn(&run_as, "QUIT", &dir, &log, &bin.join("postgres"), &args)?;
            match wait_ready(&mut server, &data, port, &log) {
                Ok(()) => {
                    // From here the watcher removes the directory.
                    let _ = tmp.keep();
                    return Ok(PgCluster {
                        server,
                        dir,
                        port,
                        bin,
                    });
                }
                Err(Failed::Port(tail)) => last = tail,
                Err(Failed::Other(msg)) => {
                    server.stop();
                    return Err(Error::new(format!(
                        "postgres as {}: {msg}",
                        run_as.describe()
                    )));
                }
            }
            server.stop();
        }
        Err(Error::new(format!(
            "postgres found no free port in {PORT_ATTEMPTS} attempts:\n{last}"
        )))
    }

    /// One cluster for the whole test binary, started on first use and
    /// stopped when the process exits. Each test creates its own database
    /// with [`PgCluster::create_database`] under a name of its own.
    ///
    /// Panics, with what to install, when the cluster cannot start.
    pub fn shared() -> &'static PgCluster {
        static SHARED: OnceLock<PgCluster> = OnceLock::new();
        SHARED.get_or_init(|| PgCluster::start().unwrap_or_else(|e| panic!("{e}")))
    }

    /// The TCP port it listens on (at 127.0.0.1).
    pub fn port(&self) -> u16 {
        self.port
    }

    /// `postgres://jxc@127.0.0.1:PORT/DB`.
    pub fn url(&self, db: &str) -> String {
        format!("postgres://{USER}@127.0.0.1:{}/{db}", self.port)
    }

    /// The temporary directory: the data directory `data/`, the unix socket
    /// and `postgres.log`.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// A PostgreSQL program of the cluster's installation (`pg_dump`,
    /// `pg_restore`, `psql`, …).
    pub fn tool(&self, name: &str) -> PathBuf {
        self.bin.join(name)
    }

    /// Runs one of the cluster's programs as this process's user; its
    /// stdout, or its stderr as the error.
    pub fn run_tool(&self, name: &str, args: &[&str]) -> Result<Vec<u8>> {
        let exe = self.tool(name);
        let out = RunAs::Me
            .command(&exe, args.iter().copied())
            .stdin(Stdio::null())
            .output()
            .map_err(|e| Error::new(format!("cannot run {}: {e}", exe.display())))?;
        if !out.status.success() {
            return Err(Error::new(format!(
                "{name} {args:?} failed ({}): {}",
                out.status,
                String::from_utf8_lossy(&out.stderr).trim()
            )));
        }
        Ok(out.stdout)
    }

    /// The server's log so far, for a failing test's message.
    pub fn log(&self) -> String {
        log_tail(&self.dir.join("postgres.log"), 64 * 1024)
    }

    /// Creates the empty database `name` and returns its URL. A name is
    /// ASCII letters, digits, `_` and `-`, at most 63 bytes, and new in this
    /// cluster. Panics otherwise, or when `createdb` fails.
    pub fn create_database(&self, name: &str) -> String {
        self.try_create_database(name)
            .unwrap_or_else(|e| panic!("{e}"))
    }

    /// [`PgCluster::create_database`], returning the failure instead.
    pub fn try_create_database(&self, name: &str) -> Result<String> {
        let valid = !name.is_empty()
            && name.len() <= 63
            && name
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
        if !valid {
            return Err(Error::new(format!(
                "database name {name:?}: use 1 to 63 ASCII letters, digits, _ and -"
            )));
        }
        let createdb = [self.bin.join("createdb")]
            .into_iter()
            .find(|p| is_executable(p))
            .or_else(|| find_program("createdb"))
            .ok_or_else(|| Error::new("createdb not found: apt-get install postgresql-client"))?;
        let out = RunAs::Me
            .command(
                &createdb,
                [
                    "--host=127.0.0.1",
                    &format!("--port={}", self.port),
                    &format!("--username={USER}"),
                    "--no-password",
                    "--",
                    name,
                ],
            )
            .stdin(Stdio::null())
            .output()
            .map_err(|e| Error::new(format!("cannot run {}: {e}", createdb.display())))?;
        if !out.status.success() {
            return Err(Error::new(format!(
                "createdb {name} failed ({}): {}",
                out.status,
                String::from_utf8_lossy(&out.stderr).trim()
            )));
        }
        Ok(self.url(name))
    }
}

impl Drop for PgCluster {
    fn drop(&mut self) {
        self.server.stop();
        let _ = fs::remove_dir_all(&self.dir);
    }
}

enum Failed {
    /// The port was taken meanwhile: try another.
    Port(String),
    Other(String),
}

/// Until `postmaster.pid` says `ready` for `port`.
fn wait_ready(
    server: &mut Watched,
    data: &Path,
    port: u16,
    log: &Path,
) -> std::result::Result<(), Failed> {
    let deadline = Instant::now() + START_TIMEOUT;
    loop {
        // Line 4 the port, line 8 the status (PostgreSQL 10 and later).
        if let Ok(pid) = fs::read_to_string(data.join("postmaster.pid")) {
            let lines: Vec<&str> = pid.lines().map(str::trim).collect();
            if lines.get(3) == Some(&port.to_string().as_str()) && lines.get(7) == Some(&"ready") {
                return Ok(());
            }
        }
        if let Some(status) = server.exited() {
            let tail = log_tail(log, 4096);
            return Err(
                if tail.contains("could not bind")
                    || tail.contains("could not create any TCP/IP sockets")
                {
                    Failed::Port(tail)
                } else {
                    Failed::Other(format!("exited during start ({status}):\n{tail}"))
                },
            );
        }
        if Instant::now() > deadline {
            return Err(Failed::Other(format!(
                "not ready after {}s:\n{}",
                START_TIMEOUT.as_secs(),
                log_tail(log, 4096)
            )));
        }
        sleep(Duration::from_millis(10));
    }
}

/// The directory with `initdb` and `postgres`: where the `initdb` on `PATH`
/// really lives (Debian's `/usr/bin` has no server programs, but a link in
/// `/usr/local/bin` may point at them), else `PATH` itself, else the newest
/// `/usr/lib/postgresql/N/bin`.
fn bin_dir() -> Result<PathBuf> {
    let has_server =
        |d: &Path| is_executable(&d.join("initdb")) && is_executable(&d.join("postgres"));
    let mut candidates = Vec::new();
    if let Some(initdb) = find_program("initdb") {
        if let Some(real) = fs::canonicalize(&initdb)
            .ok()
            .and_then(|p| p.parent().map(Path::to_path_buf))
        {
            candidates.push(real);
        }
        if let Some(dir) = initdb.parent() {
            candidates.push(dir.to_path_buf());
        }
    }
    let mut versions: Vec<(u32, PathBuf)> = fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| Some((e.file_name().to_str()?.parse().ok()?, e.path().join("bin"))))
        .collect();
    versions.sort();
    candidates.extend(versions.into_iter().rev().map(|(_, d)| d));
    candidates
        .into_iter()
        .find(|d| has_server(d))
        .ok_or_else(|| {
            Error::new(
                "PostgreSQL server programs not found: no initdb and postgres on PATH or in \
             /usr/lib/postgresql/*/bin. Install them: apt-get install postgresql",
            )
        })
}
