//! Finding programs, dropping root, and child processes that stop when the
//! test process goes away.

use std::ffi::{OsStr, OsString};
use std::fs;
use std::io::Read;
use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::OnceLock;

use crate::{Error, Result};

/// Where programs in `sbin` live when `PATH` (as cargo passes it) lacks them.
const EXTRA_DIRS: &[&str] = &[
    "/usr/local/sbin",
    "/usr/local/bin",
    "/usr/sbin",
    "/usr/bin",
    "/sbin",
    "/bin",
];

/// `name` as found on `PATH`, then in the usual system directories.
pub(crate) fn find_program(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain(EXTRA_DIRS.iter().map(PathBuf::from))
        .map(|dir| dir.join(name))
        .find(|p| is_executable(p))
}

pub(crate) fn is_executable(p: &Path) -> bool {
    fs::metadata(p).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

/// This process's effective user id: from `/proc/self/status`, else `id -u`.
pub(crate) fn euid() -> u32 {
    static EUID: OnceLock<u32> = OnceLock::new();
    *EUID.get_or_init(|| {
        let from_proc = fs::read_to_string("/proc/self/status").ok().and_then(|s| {
            let line = s.lines().find(|l| l.starts_with("Uid:"))?;
            line.split_whitespace().nth(2)?.parse().ok()
        });
        from_proc
            .or_else(|| id(&["-u"]))
            .expect("cannot tell this process's user id (/proc/self/status, id -u)")
    })
}

/// `id ARGS` as a number.
fn id(args: &[&str]) -> Option<u32> {
    let out = Command::new("id")
        .args(args)
        .stderr(Stdio::null())
        .output()
        .ok()?;
    if !out.status.success() {
        return None;
    }
    String::from_utf8(out.stdout).ok()?.trim().parse().ok()
}

/// How a program switches to the unprivileged user.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Via {
    /// `setpriv --reuid --regid --clear-groups`: execs, no process in between.
    Setpriv,
    /// `runuser -u USER --`.
    Runuser,
    /// `su -s /bin/sh -c SCRIPT USER`.
    Su,
}

/// Who runs a program that refuses to run as root (initdb, postgres).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum RunAs {
    /// This process's own user (not root).
    Me,
    /// Root switches to `name` first.
    User {
        name: String,
        uid: u32,
        gid: u32,
        via: Via,
        tool: PathBuf,
    },
}

impl RunAs {
    /// As this process's user unless that is root; as root, as the
    /// `postgres` OS user when it exists, else `nobody`.
    pub(crate) fn unprivileged() -> Result<RunAs> {
        if euid() != 0 {
            return Ok(RunAs::Me);
        }
        let vias = [
            (Via::Setpriv, "setpriv"),
            (Via::Runuser, "runuser"),
            (Via::Su, "su"),
        ];
        let Some((via, tool)) = vias
            .iter()
            .find_map(|&(via, name)| Some((via, find_program(name)?)))
        else {
            return Err(Error::new(
                "running as root, and PostgreSQL refuses to: found none of setpriv, runuser, su \
                 to run it as another user; install util-linux (apt-get install util-linux)",
            ));
        };
        for name in ["postgres", "nobody"] {
            if let Ok(run_as) = RunAs::user(name, via, tool.clone()) {
                return Ok(run_as);
            }
        }
        Err(Error::new(
            "running as root, and PostgreSQL refuses to: there is neither a `postgres` nor a \
             `nobody` user to run it as (apt-get install postgresql creates `postgres`)",
        ))
    }

    pub(crate) fn user(name: &str, via: Via, tool: PathBuf) -> Result<RunAs> {
        match (id(&["-u", name]), id(&["-g", name])) {
            (Some(uid), Some(gid)) if uid != 0 => Ok(RunAs::User {
                name: name.to_owned(),
                uid,
                gid,
                via,
                tool,
            }),
            _ => Err(Error::new(format!("no unprivileged user {name}"))),
        }
    }

    /// The user id and group id files must belong to, when not ours.
    pub(crate) fn owner(&self) -> Option<(u32, u32)> {
        match self {
            RunAs::Me => None,
            RunAs::User { uid, gid, .. } => Some((*uid, *gid)),
        }
    }

    pub(crate) fn describe(&self) -> String {
        match self {
            RunAs::Me => format!("uid {}", euid()),
            RunAs::User { name, via, .. } => format!("user {name} (via {via:?})"),
        }
    }

    /// `sh -c SCRIPT ARGV0 ARGS…` run as this user.
    pub(crate) fn sh<I, S>(&self, script: &str, argv0: &str, args: I) -> Command
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        let tail = || -> Vec<OsString> {
            let mut v: Vec<OsString> = vec![argv0.into()];
            v.extend(args.into_iter().map(|a| a.as_ref().to_owned()));
            v
        };
        let mut cmd = match self {
            RunAs::Me => {
                let mut c = Command::new("sh");
                c.arg("-c").arg(script);
                c
            }
            RunAs::User {
                name,
                uid,
                gid,
                via,
                tool,
            } => {
                let mut c = Command::new(tool);
                match via {
                    Via::Setpriv => {
                        c.arg(format!("--reuid={uid}"))
                            .arg(format!("--regid={gid}"))
                            .args(["--clear-groups", "--", "sh", "-c", script]);
                    }
                    Via::Runuser => {
                        c.args(["-u", name, "--", "sh", "-c", script]);
                    }
                    // Options first; after `--` su passes everything on to the shell.
                    Via::Su => {
                        c.args(["-s", "/bin/sh", "-c", script, name, "--"]);
                    }
                }
                c
            }
        };
        cmd.args(tail());
        // PGDATA, PGHOST, PGSSLMODE and the like from the caller's shell must
        // not steer the throwaway cluster or its clients.
        for (k, _) in std::env::vars_os() {
            if k.to_string_lossy().starts_with("PG") {
                cmd.env_remove(k);
            }
        }
        cmd
    }

    /// `program ARGS…` run as this user.
    pub(crate) fn command<I, S>(&self, program: &Path, args: I) -> Command
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        let mut all: Vec<OsString> = vec![program.as_os_str().to_owned()];
        all.extend(args.into_iter().map(|a| a.as_ref().to_owned()));
        self.sh(r#"exec "$@""#, "jxc-testkit", all)
    }
}

/// The watcher: runs `"$@"` in the background with its output in `$log`,
/// and when its own standard input reaches end of file (the test process
/// closed the pipe or exited) marks `$dir/.stop`, sends `$sig`, waits, and
/// removes `$dir`. It exits by itself, leaving `$dir`, when the program
/// exits first (a failed start), so the caller can see it and retry.
///
/// The program is the watcher's own child, unreaped until `wait`, so its pid
/// cannot be reused by another process while the reader may still signal it.
const WATCHER: &str = r#"
sig=$1 dir=$2 log=$3
shift 3
exec 3<&0
"$@" </dev/null >"$log" 2>&1 &
pid=$!
( cat <&3 >/dev/null; : >"$dir/.stop"; kill -s "$sig" "$pid" 2>/dev/null ) &
reader=$!
exec 3<&-
wait "$pid"
status=$?
if [ -e "$dir/.stop" ]; then
    wait "$reader"
    rm -rf -- "$dir"
else
    kill "$reader" 2>/dev/null
fi
exit "$status"
"#;

/// A server under a watcher; stopped on drop, or when this process exits.
#[derive(Debug)]
pub(crate) struct Watched {
    child: Option<Child>,
}

impl Watched {
    /// Starts `program ARGS…` as `run_as`, its output in `log`; on stop it
    /// gets `signal` (a name such as `QUIT`) and `dir` is removed.
    pub(crate) fn spawn(
        run_as: &RunAs,
        signal: &str,
        dir: &Path,
        log: &Path,
        program: &Path,
        args: &[OsString],
    ) -> Result<Watched> {
        let mut all: Vec<OsString> = vec![signal.into(), dir.into(), log.into(), program.into()];
        all.extend(args.iter().cloned());
        let mut cmd = run_as.sh(WATCHER, "jxc-testkit-watch", all);
        cmd.current_dir(dir)
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .process_group(0);
        let child = cmd
            .spawn()
            .map_err(|e| Error::new(format!("cannot start {} under sh: {e}", program.display())))?;
        Ok(Watched { child: Some(child) })
    }

    /// The watcher's exit status once the server has exited by itself.
    pub(crate) fn exited(&mut self) -> Option<ExitStatus> {
        self.child
            .as_mut()
            .and_then(|c| c.try_wait().ok().flatten())
    }

    /// Stops the server and waits until it is gone (and `dir` removed).
    pub(crate) fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            drop(child.stdin.take());
            let _ = child.wait();
        }
    }
}

impl Drop for Watched {
    fn drop(&mut self) {
        self.stop();
    }
}

/// The last `max` bytes of a log file, for an error message.
pub(crate) fn log_tail(log: &Path, max: usize) -> String {
    let mut s = String::new();
    if let Ok(mut f) = fs::File::open(log) {
        let mut buf = Vec::new();
        let _ = f.read_to_end(&mut buf);
        let start = buf.len().saturating_sub(max);
        s = String::from_utf8_lossy(&buf[start..]).into_owned();
    }
    if s.trim().is_empty() {
        "(empty log)".to_owned()
    } else {
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every way of dropping root that this machine has really switches user.
    #[test]
    fn each_way_of_dropping_root_switches_user() {
        if euid() != 0 {
            assert_eq!(RunAs::unprivileged().unwrap(), RunAs::Me);
            return;
        }
        let mut tried = 0;
        for (via, tool) in [
            (Via::Setpriv, "setpriv"),
            (Via::Runuser, "runuser"),
            (Via::Su, "su"),
        ] {
            let Some(tool) = find_program(tool) else {
                continue;
            };
            let run_as = RunAs::user("nobody", via, tool).expect("nobody");
            let (uid, _) = run_as.owner().unwrap();
            let out = run_as
                .sh(
                    r#"id -u; printf '%s|' "$0" "$@""#,
                    "argv0",
                    ["-D", "a b", "--"],
                )
                .output()
                .unwrap();
            let text = String::from_utf8_lossy(&out.stdout);
            assert_eq!(text, format!("{uid}\nargv0|-D|a b|--|"), "{via:?}: {out:?}");
            tried += 1;
        }
        assert!(tried > 0, "no setpriv, runuser or su");
    }
}
