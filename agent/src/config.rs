//! The agent's configuration file (`config/agent.example.toml` documents it).

use crate::error::{AgentError, Result};
use serde::Deserialize;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// Looked for in the working directory when no `--config` is given.
pub const DEFAULT_CONFIG_FILE: &str = "jxc-agent.toml";
pub const DEFAULT_DATA_DIR: &str = "./jxc-data";

#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct AgentConfig {
    /// Directory holding the ledger (`ledger.db`).
    #[serde(default = "default_data_dir")]
    pub data_dir: PathBuf,
    /// How long a write waits for another process's write before giving up.
    #[serde(default = "default_busy_timeout_secs")]
    pub busy_timeout_secs: u64,
    /// How often `run` syncs when nothing happens locally.
    #[serde(default = "default_sync_interval_secs")]
    pub sync_interval_secs: u64,
    /// The site's IANA time zone (`Asia/Shanghai`): business times written
    /// without an offset are in it, times are shown in it, and a dealer's
    /// business day is its day. Default: the system's zone, else UTC.
    #[serde(default)]
    pub time_zone: Option<String>,
}

fn default_data_dir() -> PathBuf {
    PathBuf::from(DEFAULT_DATA_DIR)
}
fn default_busy_timeout_secs() -> u64 {
    120
}
fn default_sync_interval_secs() -> u64 {
    30
}

impl Default for AgentConfig {
    fn default() -> Self {
        Self {
            data_dir: default_data_dir(),
            busy_timeout_secs: default_busy_timeout_secs(),
            sync_interval_secs: default_sync_interval_secs(),
            time_zone: None,
        }
    }
}

impl AgentConfig {
    pub fn from_toml(text: &str, origin: &Path) -> Result<Self> {
        let cfg: AgentConfig = toml::from_str(text).map_err(|e| {
            AgentError::DataDir(format!(
                "config {}: {}",
                origin.display(),
                e.message().trim()
            ))
        })?;
        if cfg.busy_timeout_secs == 0 || cfg.busy_timeout_secs > 3600 {
            return Err(AgentError::DataDir(format!(
                "config {}: busy_timeout_secs {} is not valid: use 1 to 3600",
                origin.display(),
                cfg.busy_timeout_secs
            )));
        }
        if cfg.sync_interval_secs == 0 || cfg.sync_interval_secs > 86_400 {
            return Err(AgentError::DataDir(format!(
                "config {}: sync_interval_secs {} is not valid: use 1 to 86400",
                origin.display(),
                cfg.sync_interval_secs
            )));
        }
        if let Some(z) = &cfg.time_zone {
            jxc_shared::time::parse_zone("time_zone", z)
                .map_err(|e| AgentError::DataDir(format!("config {}: {e}", origin.display())))?;
        }
        Ok(cfg)
    }

    /// The site's time zone: the configured one, else the system's.
    pub fn zone(&self) -> chrono_tz::Tz {
        self.time_zone
            .as_deref()
            .and_then(|z| jxc_shared::time::parse_zone("time_zone", z).ok())
            .unwrap_or_else(crate::clock::system_zone)
    }

    /// Loads `path` if given (it must exist), else `./jxc-agent.toml` if it
    /// exists, else the defaults.
    pub fn load(path: Option<&Path>) -> Result<Self> {
        let (path, required) = match path {
            Some(p) => (p.to_path_buf(), true),
            None => (PathBuf::from(DEFAULT_CONFIG_FILE), false),
        };
        match std::fs::read_to_string(&path) {
            Ok(text) => Self::from_toml(&text, &path),
            Err(e) if !required && e.kind() == std::io::ErrorKind::NotFound => Ok(Self::default()),
            Err(e) => Err(AgentError::io(path, e)),
        }
    }

    pub fn busy_timeout(&self) -> Duration {
        Duration::from_secs(self.busy_timeout_secs)
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
            if name.starts_with("agent") && name.ends_with(".toml") {
                let text = std::fs::read_to_string(&path).unwrap();
                AgentConfig::from_toml(&text, &path).unwrap();
                seen += 1;
            }
        }
        assert!(seen >= 1, "no agent config in {}", dir.display());
    }

    #[test]
    fn unknown_keys_and_bad_values_are_refused() {
        let p = Path::new("x.toml");
        let e = AgentConfig::from_toml("data_dri = \"x\"", p).unwrap_err();
        assert!(e.to_string().contains("data_dri"), "{e}");
        let e = AgentConfig::from_toml("busy_timeout_secs = 0", p).unwrap_err();
        assert!(e.to_string().contains("busy_timeout_secs 0"), "{e}");
        let e = AgentConfig::from_toml("time_zone = \"Mars/Olympus\"", p).unwrap_err();
        assert!(e.to_string().contains("Mars/Olympus"), "{e}");
        let c = AgentConfig::from_toml("time_zone = \"Asia/Shanghai\"", p).unwrap();
        assert_eq!(c.zone(), chrono_tz::Asia::Shanghai);
    }
}
