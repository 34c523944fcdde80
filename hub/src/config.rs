//! The hub's configuration file (`config/hub.example.toml` documents it).

use crate::error::{HubError, Result};
use crate::store::Target;
use serde::Deserialize;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

pub const DEFAULT_CONFIG_FILE: &str = "jxc-hub.toml";

#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct HubConfig {
    /// Directory holding the hub's database, CA and server certificate.
    #[serde(default = "default_data_dir")]
    pub data_dir: PathBuf,
    /// Address `serve` listens on.
    #[serde(default = "default_listen")]
    pub listen: SocketAddr,
    /// A site whose last sync is older than this is reported as stale.
    #[serde(default = "default_stale_after_secs")]
    pub stale_after_secs: i64,
    /// Validity of the client certificates issued at enrollment.
    #[serde(default = "default_client_cert_days")]
    pub client_cert_days: u32,
    /// What one client, or many, may hold of the hub (`[limits]`).
    #[serde(default)]
    pub limits: Limits,
    /// A PostgreSQL database instead of `hub.db` in the data directory:
    /// `postgres://user[:password]@host[:port]/dbname[?sslmode=…]`.
    #[serde(default)]
    pub database_url: Option<String>,
    /// Connections each hub process keeps to PostgreSQL for concurrent
    /// syncs (SQLite has one writer; this is ignored there).
    #[serde(default = "default_pool_size")]
    pub pool_size: usize,
    /// The stock policy's defaults and costs (`[plan]`).
    #[serde(default)]
    pub plan: crate::plan::config::PlanConfig,
    /// Stock alerts: rules, the webhook and SMTP (`[alerts]`).
    #[serde(default)]
    pub alerts: crate::alert::AlertsConfig,
}

fn default_pool_size() -> usize {
    4
}

/// Where a hub keeps its state: its data directory (the SQLite database,
/// and the CA certificate operators hand to curl) and its database.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HubHome {
    pub dir: PathBuf,
    pub db: Target,
}

impl HubHome {
    /// The hub in `dir`, on PostgreSQL if `database_url` names a database.
    pub fn new(dir: PathBuf, database_url: Option<&str>) -> Result<HubHome> {
        let db = match database_url.map(str::trim).filter(|u| !u.is_empty()) {
            None => Target::Sqlite(dir.clone()),
            Some(url) if url.starts_with("postgres://") || url.starts_with("postgresql://") => {
                Target::Postgres(url.to_owned())
            }
            Some(url) => {
                return Err(HubError::Invalid(format!(
                    "database {:?} is not valid: use postgres://user@host:port/dbname, or leave it out for SQLite in the data directory",
                    crate::store::db::redacted(url)
                )));
            }
        };
        Ok(HubHome { dir, db })
    }

    /// A hub on SQLite in `dir`.
    pub fn sqlite(dir: &Path) -> HubHome {
        HubHome {
            dir: dir.to_path_buf(),
            db: Target::Sqlite(dir.to_path_buf()),
        }
    }
}

/// The `[limits]` table: bounds on connections, time and memory that keep
/// the hub answering when clients are slow, idle or hostile.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Limits {
    /// Open connections at once; at the cap a new one displaces the one idle
    /// the longest, or is closed at once when every one is busy.
    /// Lowered at start to fit 64 under the open-file limit.
    #[serde(default = "default_max_connections")]
    pub max_connections: usize,
    /// Seconds a client gets to finish its TLS handshake.
    #[serde(default = "default_handshake_timeout_secs")]
    pub handshake_timeout_secs: u64,
    /// Seconds a connection may stay without a request in progress (before
    /// its first request, or between two) before the hub closes it. Also
    /// the HTTP/2 keep-alive ping interval and the time to answer a ping.
    #[serde(default = "default_idle_timeout_secs")]
    pub idle_timeout_secs: u64,
    /// Seconds a request body (a sync batch, a documents request, an
    /// enrollment) may take to arrive in full; a slower one is answered 408.
    #[serde(default = "default_body_timeout_secs")]
    pub body_timeout_secs: u64,
    /// Authenticated uploads (`/v1/sync`, `/v1/docs`) read at once; more wait
    /// for a slot up to the body timeout, then get 503.
    #[serde(default = "default_max_uploads")]
    pub max_uploads: usize,
}

fn default_max_connections() -> usize {
    2048
}
fn default_handshake_timeout_secs() -> u64 {
    10
}
fn default_idle_timeout_secs() -> u64 {
    60
}
fn default_body_timeout_secs() -> u64 {
    60
}
fn default_max_uploads() -> usize {
    16
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_connections: default_max_connections(),
            handshake_timeout_secs: default_handshake_timeout_secs(),
            idle_timeout_secs: default_idle_timeout_secs(),
            body_timeout_secs: default_body_timeout_secs(),
            max_uploads: default_max_uploads(),
        }
    }
}

impl Limits {
    fn check(&self, origin: &Path) -> Result<()> {
        let bad = |key: &str, value: String, accepted: &str| {
            Err(HubError::DataDir(format!(
                "config {}: limits.{key} {value} is not valid: use {accepted}",
                origin.display()
            )))
        };
        if !(1..=65_536).contains(&self.max_connections) {
            return bad(
                "max_connections",
                self.max_connections.to_string(),
                "1 to 65536",
            );
        }
        if !(1..=1024).contains(&self.max_uploads) {
            return bad("max_uploads", self.max_uploads.to_string(), "1 to 1024");
        }
        for (key, secs) in [
            ("handshake_timeout_secs", self.handshake_timeout_secs),
            ("idle_timeout_secs", self.idle_timeout_secs),
            ("body_timeout_secs", self.body_timeout_secs),
        ] {
            if !(1..=3600).contains(&secs) {
                return bad(key, secs.to_string(), "1 to 3600 seconds");
            }
        }
        Ok(())
    }
}

fn default_data_dir() -> PathBuf {
    PathBuf::from("./jxc-hub-data")
}
fn default_listen() -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], 8443))
}
fn default_stale_after_secs() -> i64 {
    900
}
fn default_client_cert_days() -> u32 {
    825
}

impl Default for HubConfig {
    fn default() -> Self {
        Self {
            data_dir: default_data_dir(),
            listen: default_listen(),
            stale_after_secs: default_stale_after_secs(),
            client_cert_days: default_client_cert_days(),
            database_url: None,
            pool_size: default_pool_size(),
            limits: Limits::default(),
            plan: Default::default(),
            alerts: crate::alert::AlertsConfig::default(),
        }
    }
}

impl HubConfig {
    pub fn from_toml(text: &str, origin: &Path) -> Result<Self> {
        let cfg: HubConfig = toml::from_str(text).map_err(|e| {
            HubError::DataDir(format!(
                "config {}: {}",
                origin.display(),
                e.message().trim()
            ))
        })?;
        if cfg.stale_after_secs <= 0 {
            return Err(HubError::DataDir(format!(
                "config {}: stale_after_secs {} is not valid: use a positive number of seconds",
                origin.display(),
                cfg.stale_after_secs
            )));
        }
        if !(1..=3650).contains(&cfg.client_cert_days) {
            return Err(HubError::DataDir(format!(
                "config {}: client_cert_days {} is not valid: use 1 to 3650",
                origin.display(),
                cfg.client_cert_days
            )));
        }
        cfg.limits.check(origin)?;
        if let Some((key, value, accepted)) = cfg.plan.invalid() {
            return Err(HubError::DataDir(format!(
                "config {}: plan.{key} {value} is not valid: use {accepted}",
                origin.display()
            )));
        }
        cfg.alerts
            .check()
            .map_err(|e| HubError::DataDir(format!("config {}: {e}", origin.display())))?;
        if !(1..=64).contains(&cfg.pool_size) {
            return Err(HubError::DataDir(format!(
                "config {}: pool_size {} is not valid: use 1 to 64",
                origin.display(),
                cfg.pool_size
            )));
        }
        Ok(cfg)
    }

    /// Loads `path` if given (it must exist), else `./jxc-hub.toml` if it
    /// exists, else the defaults.
    pub fn load(path: Option<&Path>) -> Result<Self> {
        let (path, required) = match path {
            Some(p) => (p.to_path_buf(), true),
            None => (PathBuf::from(DEFAULT_CONFIG_FILE), false),
        };
        match std::fs::read_to_string(&path) {
            Ok(text) => Self::from_toml(&text, &path),
            Err(e) if !required && e.kind() == std::io::ErrorKind::NotFound => Ok(Self::default()),
            Err(e) => Err(HubError::io(path, e)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_example_config_parses() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../config");
        let mut seen = 0;
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            let name = path.file_name().unwrap().to_string_lossy().into_owned();
            if name.starts_with("hub") && name.ends_with(".toml") {
                HubConfig::from_toml(&std::fs::read_to_string(&path).unwrap(), &path).unwrap();
                seen += 1;
            }
        }
        assert!(seen >= 1);
    }

    #[test]
    fn bad_values_name_the_key() {
        let e = HubConfig::from_toml("listen = \"nowhere\"", Path::new("h.toml")).unwrap_err();
        assert!(
            e.to_string().contains("listen") || e.to_string().contains("socket"),
            "{e}"
        );
        let e = HubConfig::from_toml("stale_after_secs = 0", Path::new("h.toml")).unwrap_err();
        assert!(e.to_string().contains("stale_after_secs 0"), "{e}");
        let e = HubConfig::from_toml("[limits]\nidle_timeout_secs = 0", Path::new("h.toml"))
            .unwrap_err();
        assert!(e.to_string().contains("limits.idle_timeout_secs 0"), "{e}");
        let e =
            HubConfig::from_toml("[limits]\nmax_conections = 5", Path::new("h.toml")).unwrap_err();
        assert!(e.to_string().contains("max_conections"), "{e}");
        let e = HubConfig::from_toml("[plan]\nservice_level = 0.9999", Path::new("h.toml"))
            .unwrap_err();
        assert!(e.to_string().contains("plan.service_level 0.9999"), "{e}");
        let e = HubConfig::from_toml(
            "[plan.category.TEA]\nholding_rate = \"0\"",
            Path::new("h.toml"),
        )
        .unwrap_err();
        assert!(
            e.to_string().contains("plan.category.TEA.holding_rate 0"),
            "{e}"
        );
    }

    #[test]
    fn alerts_are_checked_with_the_file() {
        let cfg = HubConfig::from_toml("", Path::new("h.toml")).unwrap();
        assert!(cfg.alerts.rules.is_empty() && cfg.alerts.webhook.is_none());
        let e = HubConfig::from_toml(
            "[[alerts.rules]]\nid = \"x\"\nkind = \"stale\"\nhours = 0\nchannels = [\"webhook\"]",
            Path::new("h.toml"),
        )
        .unwrap_err();
        assert!(
            e.to_string().contains("config h.toml: alerts.rules[0]"),
            "{e}"
        );
        assert!(e.to_string().contains("hours 0"), "{e}");
        let e = HubConfig::from_toml("[alerts]\nrule = []", Path::new("h.toml")).unwrap_err();
        assert!(e.to_string().contains("rule"), "{e}");
    }

    #[test]
    fn limits_default_when_absent_and_parse_when_given() {
        let cfg = HubConfig::from_toml("", Path::new("h.toml")).unwrap();
        assert_eq!(cfg.limits, Limits::default());
        let cfg = HubConfig::from_toml(
            "[limits]\nmax_connections = 8\nbody_timeout_secs = 2",
            Path::new("h.toml"),
        )
        .unwrap();
        assert_eq!(cfg.limits.max_connections, 8);
        assert_eq!(cfg.limits.body_timeout_secs, 2);
        assert_eq!(cfg.limits.max_uploads, Limits::default().max_uploads);
    }

    #[test]
    fn plan_costs_default_and_take_a_category_s_own() {
        let cfg = HubConfig::from_toml(
            "[plan]\norder_cost = 80\n[plan.category.TEA]\nholding_rate = \"0.4\"",
            Path::new("h.toml"),
        )
        .unwrap();
        use rust_decimal::Decimal;
        assert_eq!(
            cfg.plan.costs("TEA"),
            (Decimal::from(80), Decimal::new(4, 1))
        );
        assert_eq!(
            cfg.plan.costs("RICE"),
            (Decimal::from(80), Decimal::new(25, 2))
        );
        assert_eq!(cfg.plan.service_level, 0.95);
    }
}
