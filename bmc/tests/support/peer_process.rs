//! Peer processes (sushy-tools, ipmi_sim, Ironic) that die with the test
//! process however it ends: drop, exit with statics alive, panic, SIGKILL,
//! Ctrl-C, a timeout.
//!
//! Each peer runs under a small `sh` watchdog whose stdin is a pipe held by
//! this process only. The kernel closes our end when this process ends for
//! any reason; the watchdog then kills the peer's whole process group
//! (Ironic forks a worker; ipmi_sim runs its chassis script) and removes the
//! peer's scratch directory.
//!
//! Why not `PR_SET_PDEATHSIG` set in a `pre_exec` hook: the workspace
//! forbids unsafe code, and the signal follows the *thread* that forked, so
//! a peer shared through a static but started on one test's thread (or a
//! runtime worker) would die when that thread ends. The pipe belongs to the
//! process. The watchdog shell is single-threaded, so there the death
//! signal is exact: the peer gets `PDEATHSIG=KILL` towards the watchdog
//! (util-linux `setpriv`) and dies even if the watchdog itself is killed.
//!
//! The watchdog runs in its own process group: Ctrl-C (SIGINT to the
//! terminal's foreground group) or a signal to the test's group ends the
//! test, not the watchdog, which then cleans up. The peer runs in its own
//! session, so such signals do not reach it either.

// Each including target uses part of this.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::ffi::OsStr;
use std::io::{BufRead, BufReader};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};

/// The watchdog: starts the peer (own session; death signal towards the
/// watchdog when `setpriv` is there), prints its pid, waits for EOF on
/// stdin, then TERMs the peer's group, KILLs what is left (at once when the
/// leader has exited, after 2 s otherwise), waits up to 1 s for the group to
/// empty and removes the scratch directory.
const WATCHDOG: &str = r#"prog=$1; log=$2; dir=$3; shift 3
if command -v setpriv >/dev/null 2>&1; then
  setsid setpriv --pdeathsig KILL -- "$prog" "$@" >"$log" 2>&1 </dev/null &
else
  setsid "$prog" "$@" >"$log" 2>&1 </dev/null &
fi
p=$!
echo "$p"
read x || true
kill -TERM -"$p" 2>/dev/null
( sleep 2; kill -KILL -"$p" 2>/dev/null ) &
t=$!
wait "$p" 2>/dev/null
kill -KILL -"$p" 2>/dev/null
kill "$t" 2>/dev/null
i=0
while kill -0 -"$p" 2>/dev/null && [ "$i" -lt 20 ]; do sleep 0.05; i=$((i+1)); done
if [ -n "$dir" ]; then rm -rf "$dir"; fi"#;

/// A running peer under its watchdog; stopped (whole process group) on drop.
pub struct PeerProcess {
    watchdog: Child,
    stdin: Option<ChildStdin>,
    pid: u32,
    log: PathBuf,
}

impl PeerProcess {
    /// Starts `program args…` with stdin from /dev/null and stdout and
    /// stderr to `log`; `scratch`, when given, is removed once the peer is
    /// gone (also when this process dies without dropping it).
    pub fn spawn<S: AsRef<OsStr>>(
        program: &Path,
        args: &[S],
        log: &Path,
        scratch: Option<&Path>,
    ) -> PeerProcess {
        let mut cmd = Command::new("sh");
        cmd.arg("-c")
            .arg(WATCHDOG)
            .arg("peer-watchdog")
            .arg(program)
            .arg(log)
            .arg(scratch.map(Path::as_os_str).unwrap_or_default())
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .process_group(0);
        let mut watchdog = cmd
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start the watchdog of {}: {e}", program.display()));
        let stdin = watchdog.stdin.take();
        let mut line = String::new();
        if let Some(out) = watchdog.stdout.take() {
            let _ = BufReader::new(out).read_line(&mut line);
        }
        let pid = line.trim().parse().unwrap_or_else(|_| {
            panic!(
                "the watchdog of {} printed {line:?}, not the peer's pid",
                program.display()
            )
        });
        PeerProcess {
            watchdog,
            stdin,
            pid,
            log: log.to_path_buf(),
        }
    }

    /// The peer's process id (also its process group and session id).
    pub fn pid(&self) -> u32 {
        self.pid
    }

    /// The watchdog's process id (the peer and its children run below it).
    pub fn watchdog_pid(&self) -> u32 {
        self.watchdog.id()
    }

    /// Whether the peer has exited (gone, or a zombie not yet reaped).
    pub fn exited(&self) -> bool {
        !pid_running(self.pid)
    }

    /// The last `n` lines of the peer's output (for failure messages).
    pub fn log_tail(&self, n: usize) -> String {
        let text = std::fs::read_to_string(&self.log).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(n)..].join("\n")
    }

    /// Stops the peer's process group and waits for the watchdog's cleanup.
    pub fn stop(&mut self) {
        // EOF on the watchdog's stdin is its signal.
        drop(self.stdin.take());
        let _ = self.watchdog.wait();
    }
}

impl Drop for PeerProcess {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Whether process `pid` exists and is not a zombie.
pub fn pid_running(pid: u32) -> bool {
    let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
        return false;
    };
    // The state follows the parenthesised command name.
    let state = stat
        .rsplit_once(") ")
        .and_then(|(_, rest)| rest.chars().next());
    !matches!(state, Some('Z' | 'X') | None)
}
