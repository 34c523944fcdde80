//! jxc-hub: the central hub. It enrolls sites (its own CA, one-time tokens,
//! client certificates), takes their movements over mutually authenticated
//! TLS, and serves consolidated channel inventory to HQ.

pub mod alert;
pub mod cli;
pub mod config;
#[cfg(feature = "demo")]
pub mod demo;
pub mod error;
pub mod http;
pub mod metrics;
pub mod pki;
pub mod plan;
pub mod pool;
pub mod store;
pub mod tls;
pub mod web;
