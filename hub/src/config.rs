//! The hub's configuration file (`config/hub.example.toml` documents it).

use crate::error::{HubError, Result};
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
    }
}
