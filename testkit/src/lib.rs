//! Throwaway servers for jxc's tests, started by the tests themselves: a
//! PostgreSQL cluster in a temporary directory on a free loopback port, and
//! the switch that runs a suite against SQLite or PostgreSQL
//! (`JXC_TEST_BACKEND=postgres`). Nothing here depends on the hub or agent.

mod pg;

pub use pg::PgCluster;

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

/// A database URL for one hub under test: a fresh PostgreSQL database in
/// this test process's cluster when the backend is PostgreSQL, `None` (the
/// hub's SQLite file in its data directory) otherwise.
pub fn database_url(label: &str) -> Option<String> {
    match backend() {
        Backend::Sqlite => None,
        Backend::Postgres => Some(PgCluster::shared().create_database(label)),
    }
}
