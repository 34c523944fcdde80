//! What the load benchmarks share: stopping the processes they start,
//! reading a process's CPU time and memory from /proc, and reporting figures.

use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;
use std::path::Path;
use std::process::Child;
use std::time::{Duration, Instant};

/// Longest wait for a stopped process to exit after SIGTERM.
pub(crate) const STOP_TIMEOUT: Duration = Duration::from_secs(5);
/// Linux `USER_HZ`: the unit of utime and stime in /proc/PID/stat.
pub(crate) const CLOCK_TICKS_PER_SEC: f64 = 100.0;

/// A child process that is stopped (SIGTERM, then SIGKILL after
/// [`STOP_TIMEOUT`]) and reaped when dropped, also while unwinding a panic.
pub(crate) struct Proc {
    child: Option<Child>,
    name: &'static str,
}

impl Proc {
    pub(crate) fn new(child: Child, name: &'static str) -> Proc {
        Proc {
            child: Some(child),
            name,
        }
    }

    pub(crate) fn pid(&self) -> u32 {
        self.child.as_ref().map_or(0, Child::id)
    }

    pub(crate) fn stop(&mut self) {
        let Some(mut child) = self.child.take() else {
            return;
        };
        if matches!(child.try_wait(), Ok(Some(_))) {
            return;
        }
        let _ = kill(Pid::from_raw(child.id() as i32), Signal::SIGTERM);
        let deadline = Instant::now() + STOP_TIMEOUT;
        while Instant::now() < deadline {
            if matches!(child.try_wait(), Ok(Some(_)) | Err(_)) {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        eprintln!(
            "  {} (pid {}) ignored SIGTERM for {STOP_TIMEOUT:?}: killing it",
            self.name,
            child.id()
        );
        let _ = child.kill();
        let _ = child.wait();
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        self.stop();
    }
}

/// CPU seconds (user + system) a process has used, from /proc/PID/stat.
pub(crate) fn cpu_secs(pid: u32) -> f64 {
    let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
        return 0.0;
    };
    // Fields after the command name, which is in parentheses and may hold spaces.
    let rest = stat.rsplit_once(')').map_or("", |(_, r)| r);
    let f: Vec<&str> = rest.split_whitespace().collect();
    // utime and stime are fields 14 and 15; `rest` starts at field 3.
    let ticks = |i: usize| f.get(i).and_then(|v| v.parse::<u64>().ok()).unwrap_or(0);
    (ticks(11) + ticks(12)) as f64 / CLOCK_TICKS_PER_SEC
}

/// A `VmHWM:`-style line of /proc/PID/status (kB), in MB (10^6 bytes).
pub(crate) fn status_mb(pid: u32, key: &str) -> f64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix(key))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|kib| kib.parse::<f64>().ok())
        .map_or(0.0, |kib| kib * 1024.0 / 1e6)
}

/// The size of the files directly in `dir`, in MB (10^6 bytes).
pub(crate) fn dir_mb(dir: &Path) -> f64 {
    std::fs::read_dir(dir)
        .map(|rd| {
            rd.filter_map(|e| e.ok()?.metadata().ok())
                .filter(|m| m.is_file())
                .map(|m| m.len())
                .sum::<u64>()
        })
        .unwrap_or(0) as f64
        / 1e6
}

/// A whole-number setting from the environment, or `default`.
pub(crate) fn env_usize(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(default)
}

/// The `p` quantile (0..=1) of sorted durations.
pub(crate) fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i]
}

pub(crate) fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

/// "met" or how far from the target a figure is, in percent.
pub(crate) fn verdict(value: f64, target: f64, higher_is_better: bool) -> String {
    let ok = if higher_is_better {
        value >= target
    } else {
        value <= target
    };
    if ok {
        "met".into()
    } else if higher_is_better {
        format!("MISSED by {:.0}%", (1.0 - value / target) * 100.0)
    } else {
        format!("MISSED by {:.0}%", (value / target - 1.0) * 100.0)
    }
}

/// Thousands separators for counts and rates.
pub(crate) fn grouped(n: f64) -> String {
    let s = format!("{:.0}", n.max(0.0));
    let mut out = String::new();
    for (i, c) in s.chars().enumerate() {
        if i > 0 && (s.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// The URL a starting `jxc-hub serve` prints (`listening on https://ADDR`).
/// Its stdout is read to the end on a thread, so the pipe never fills.
pub(crate) fn listening_url(stdout: std::process::ChildStdout, timeout: Duration) -> String {
    use std::io::{BufRead, BufReader};
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            if let Some(url) = line.trim().strip_prefix("listening on ") {
                let _ = tx.send(url.to_owned());
            }
        }
    });
    rx.recv_timeout(timeout)
        .expect("jxc-hub serve did not print `listening on https://ADDR`")
}
