//! Throwaway servers for jxc's tests: a PostgreSQL cluster ([`PgCluster`])
//! and an HAProxy in TCP pass-through ([`Haproxy`]), each in its own
//! temporary directory on a free loopback port.
//!
//! Neither can outlive the test process. Each server runs under a small
//! `sh` watcher whose standard input is a pipe from the test process; when
//! that pipe closes — the value is dropped, or the process exits or is killed
//! in any way, so also for the never-dropped [`PgCluster::shared`] — the
//! watcher stops the server (PostgreSQL with SIGQUIT, which is what
//! `pg_ctl stop -m immediate` sends; HAProxy with SIGTERM), waits for it and
//! removes its directory. The watcher runs in its own process group, so a
//! Ctrl-C in the terminal reaches only the test process and the clean stop
//! still follows.
//!
//! A missing `initdb`/`postgres` or `haproxy` is an error naming the package
//! to install, never a silently skipped test.

mod chromium;
mod haproxy;
mod pg;
mod proc;

use std::fmt;
use std::net::TcpListener;

pub use chromium::Chromium;
pub use haproxy::Haproxy;
pub use pg::PgCluster;

/// Why a server could not be started; the message says what to do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Error(String);

impl Error {
    pub(crate) fn new(message: impl Into<String>) -> Self {
        Error(message.into())
    }

    /// The message.
    pub fn message(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for Error {}

impl From<Error> for String {
    fn from(e: Error) -> String {
        e.0
    }
}

pub type Result<T> = std::result::Result<T, Error>;

/// A loopback TCP port that was free a moment ago. Another process may take
/// it before the caller binds it; the servers here retry with a new port
/// when that happens.
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("bind 127.0.0.1:0")
        .port()
}

/// Which database the hub under test uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// The backend `JXC_TEST_BACKEND` names (`sqlite`, the default, or
/// `postgres`). Any other value stops the test with a clear message rather
/// than quietly testing SQLite.
pub fn backend() -> Backend {
    match std::env::var("JXC_TEST_BACKEND").as_deref() {
        Err(_) | Ok("") | Ok("sqlite") => Backend::Sqlite,
        Ok("postgres") | Ok("postgresql") => Backend::Postgres,
        Ok(other) => panic!("JXC_TEST_BACKEND={other:?} is not valid: use sqlite or postgres"),
    }
}

/// A database name for `label`, unique in this test process (and across
/// processes sharing a cluster): `t<pid>_<n>_<label>`.
pub fn unique_name(label: &str) -> String {
    use std::sync::atomic::{AtomicU32, Ordering};
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
    format!(
        "t{}_{}_{clean}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    )
}

/// A database URL for one hub under test: a fresh PostgreSQL database in
/// this test process's shared cluster when the backend is PostgreSQL,
/// `None` (the hub's SQLite file in its data directory) otherwise.
pub fn database_url(label: &str) -> Option<String> {
    match backend() {
        Backend::Sqlite => None,
        Backend::Postgres => Some(PgCluster::shared().create_database(&unique_name(label))),
    }
}
