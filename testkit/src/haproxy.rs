//! A throwaway HAProxy in TCP pass-through.

use std::ffi::OsString;
use std::fmt::Write as _;
use std::fs;
use std::io::ErrorKind;
use std::net::{SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::thread::sleep;
use std::time::{Duration, Instant};

use crate::proc::{RunAs, Watched, find_program, log_tail};
use crate::{Error, Result, free_port};

const START_TIMEOUT: Duration = Duration::from_secs(20);
const PORT_ATTEMPTS: usize = 5;

/// HAProxy on `127.0.0.1:PORT` passing TCP through (`mode tcp`: TLS ends
/// at the backends, which see the client's certificate) to `backends` in
/// round robin. Each backend is health-checked by a TCP connect every
/// 500 ms and taken out after one failure (`check inter 500ms fall 1 rise
/// 1`); a connection refused by a backend not yet marked down is retried on
/// another (`option redispatch`). Client and server timeouts are 120 s, so
/// a long sync is not cut. Dropping it stops HAProxy.
#[derive(Debug)]
pub struct Haproxy {
    server: Watched,
    dir: PathBuf,
    addr: SocketAddr,
}

impl Haproxy {
    /// Starts HAProxy in front of `backends` and waits until it accepts.
    pub fn start(backends: &[SocketAddr]) -> Result<Haproxy> {
        if backends.is_empty() {
            return Err(Error::new("Haproxy::start: no backends"));
        }
        let program = find_program("haproxy").ok_or_else(|| {
            Error::new(
                "haproxy not found on PATH or in /usr/sbin. Install it: apt-get install haproxy",
            )
        })?;
        let tmp = tempfile::Builder::new()
            .prefix("jxc-haproxy-")
            .tempdir()
            .map_err(|e| Error::new(format!("cannot create a temporary directory: {e}")))?;
        let dir = tmp.path().to_path_buf();
        let cfg = dir.join("haproxy.cfg");
        let log = dir.join("haproxy.log");
        let mut last = String::new();
        for _ in 0..PORT_ATTEMPTS {
            let addr = SocketAddr::from(([127, 0, 0, 1], free_port()));
            fs::write(&cfg, config(addr, backends))
                .map_err(|e| Error::new(format!("cannot write {}: {e}", cfg.display())))?;
            let args: Vec<OsString> = vec!["-f".into(), cfg.clone().into(), "-db".into()];
            let mut server = Watched::spawn(&RunAs::Me, "TERM", &dir, &log, &program, &args)?;
            match wait_accepting(&mut server, addr, &log) {
                Ok(()) => {
                    let _ = tmp.keep();
                    return Ok(Haproxy { server, dir, addr });
                }
                Err(Failed::Port(tail)) => last = tail,
                Err(Failed::Other(msg)) => {
                    server.stop();
                    return Err(Error::new(format!(
                        "haproxy {msg}\nconfig {}:\n{}",
                        cfg.display(),
                        config(addr, backends)
                    )));
                }
            }
            server.stop();
        }
        Err(Error::new(format!(
            "haproxy found no free port in {PORT_ATTEMPTS} attempts:\n{last}"
        )))
    }

    /// Where clients connect.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The directory holding `haproxy.cfg` and `haproxy.log`.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// HAProxy's output so far (alerts, servers going down and up).
    pub fn log(&self) -> String {
        log_tail(&self.dir.join("haproxy.log"), 64 * 1024)
    }
}

impl Drop for Haproxy {
    fn drop(&mut self) {
        self.server.stop();
        let _ = fs::remove_dir_all(&self.dir);
    }
}

/// The configuration: one TCP frontend, one backend of `backends`.
fn config(listen: SocketAddr, backends: &[SocketAddr]) -> String {
    let mut s = String::from(
        "# Written by jxc-testkit for one test.\n\
         # HAProxy prints its warnings and alerts (servers going down) to\n\
         # stderr, into haproxy.log.\n\
         global\n\
         \x20   maxconn 4096\n\
         \n\
         defaults\n\
         \x20   mode tcp\n\
         \x20   retries 3\n\
         \x20   option redispatch 1\n\
         \x20   timeout connect 2s\n\
         \x20   timeout check 1s\n\
         \x20   timeout client 120s\n\
         \x20   timeout server 120s\n\
         \n\
         frontend jxc\n",
    );
    let _ = writeln!(s, "    bind {}", haproxy_addr(listen));
    s.push_str(
        "    default_backend hubs\n\
         \n\
         backend hubs\n\
         \x20   balance roundrobin\n",
    );
    for (i, b) in backends.iter().enumerate() {
        let _ = writeln!(
            s,
            "    server hub{i} {} check inter 500ms fall 1 rise 1",
            haproxy_addr(*b)
        );
    }
    s
}

/// HAProxy's spelling of an address: `ipv6@` rather than brackets.
fn haproxy_addr(a: SocketAddr) -> String {
    match a {
        SocketAddr::V4(v4) => v4.to_string(),
        SocketAddr::V6(v6) => format!("ipv6@{}:{}", v6.ip(), v6.port()),
    }
}

enum Failed {
    Port(String),
    Other(String),
}

fn wait_accepting(
    server: &mut Watched,
    addr: SocketAddr,
    log: &Path,
) -> std::result::Result<(), Failed> {
    let deadline = Instant::now() + START_TIMEOUT;
    loop {
        if let Some(status) = server.exited() {
            let tail = log_tail(log, 4096);
            return Err(if tail.contains("cannot bind socket") {
                Failed::Port(tail)
            } else {
                Failed::Other(format!("exited during start ({status}):\n{tail}"))
            });
        }
        // Listening once the port cannot be bound: probing so rather than
        // connecting leaves the backends untouched (no half-open TLS
        // connection in a hub's log). A port taken by another program
        // meanwhile makes HAProxy exit at once, which the next check sees.
        if matches!(TcpListener::bind(addr), Err(e) if e.kind() == ErrorKind::AddrInUse) {
            sleep(Duration::from_millis(50));
            if server.exited().is_none() {
                return Ok(());
            }
            continue;
        }
        if Instant::now() > deadline {
            return Err(Failed::Other(format!(
                "not accepting on {addr} after {}s:\n{}",
                START_TIMEOUT.as_secs(),
                log_tail(log, 4096)
            )));
        }
        sleep(Duration::from_millis(10));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn config_lists_every_backend_with_checks() {
        let cfg = config(
            "127.0.0.1:9000".parse().unwrap(),
            &[
                "127.0.0.1:9001".parse().unwrap(),
                "[::1]:9002".parse().unwrap(),
            ],
        );
        assert!(cfg.contains("    bind 127.0.0.1:9000\n"), "{cfg}");
        assert!(
            cfg.contains("    server hub0 127.0.0.1:9001 check inter 500ms fall 1 rise 1\n"),
            "{cfg}"
        );
        assert!(
            cfg.contains("    server hub1 ipv6@::1:9002 check inter 500ms fall 1 rise 1\n"),
            "{cfg}"
        );
        assert!(cfg.contains("    mode tcp\n"), "{cfg}");
    }
}
