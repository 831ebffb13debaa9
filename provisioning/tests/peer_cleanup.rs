//! The real peers the tests start (sushy-tools, ipmi_sim, Ironic with its
//! worker) die with the test process even when it runs no drops: killed by
//! SIGKILL, or by Ctrl-C (SIGINT to its process group). A child process (this
//! binary again, running the ignored entry point below) starts one of each
//! from a thread that ends at once, as a static initialised on one test's
//! thread would be, and reports their pids; the test checks they outlive
//! that thread, kills the child and checks, by pid, that every peer process
//! is gone within seconds and its scratch directory removed.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;
#[path = "../../bmc/tests/support/ipmi_sim.rs"]
mod ipmi_sim;
#[path = "common/ironic_peer.rs"]
mod ironic_peer;

use std::io::{BufRead, BufReader, Write};
use std::os::unix::process::CommandExt;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use common::sushy::Sushy;
use ipmi_sim::peer_process::pid_running;
use ipmi_sim::Sim;
use ironic_peer::Ironic;

/// Set in the child's environment; the entry point does nothing without it.
const CHILD_ENV: &str = "METAL3_PEER_CLEANUP_CHILD";
const ENTRY: &str = "child_starts_peers_and_waits";

/// Processes whose process group is `pgid` (a peer and what it forked).
fn group_members(pgid: u32) -> Vec<u32> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir("/proc").into_iter().flatten().flatten() {
        let Ok(pid) = entry.file_name().to_string_lossy().parse::<u32>() else {
            continue;
        };
        let stat = std::fs::read_to_string(entry.path().join("stat")).unwrap_or_default();
        // After the parenthesised command: state, ppid, pgrp.
        let pgrp = stat
            .rsplit_once(") ")
            .and_then(|(_, rest)| rest.split_whitespace().nth(2))
            .and_then(|v| v.parse::<u32>().ok());
        if pgrp == Some(pgid) && pid_running(pid) {
            out.push(pid);
        }
    }
    out
}

#[test]
#[ignore = "entry point of the child process of peers_die_with_a_killed_test_process"]
fn child_starts_peers_and_waits() {
    if std::env::var_os(CHILD_ENV).is_none() {
        eprintln!("{ENTRY}: not started by peers_die_with_a_killed_test_process; nothing to do");
        return;
    }
    // Started on a thread that ends before the peers are checked.
    let (sushy, sim, ironic) = std::thread::spawn(|| {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let sushy = rt.block_on(Sushy::start(false));
        (sushy, Sim::start(), Ironic::start())
    })
    .join()
    .unwrap();
    let mut out = std::io::stdout().lock();
    for (name, pid, dir) in [
        ("sushy-emulator", sushy.process.pid(), sushy.dir.clone()),
        ("ipmi_sim", sim.process.pid(), sim.dir.clone()),
        (
            "ironic",
            ironic.process.peer_pid(),
            ironic.conf.parent().unwrap().to_path_buf(),
        ),
    ] {
        writeln!(out, "PEER {name} {pid} {}", dir.display()).unwrap();
    }
    writeln!(out, "READY").unwrap();
    out.flush().unwrap();
    drop(out);
    // Never returns: the parent kills this process.
    let _peers = (sushy, sim, ironic);
    loop {
        std::thread::sleep(Duration::from_secs(3600));
    }
}

/// One child run: start the peers, check them, end the child with `kill`
/// (`-KILL <pid>` or `-INT -<pgid>`), check the peers are gone.
fn run_and_kill(signal: &str) {
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args([ENTRY, "--exact", "--ignored", "--nocapture"])
        .env(CHILD_ENV, "1")
        .env(
            "METAL3_PEERS_VENV",
            std::env::var_os("METAL3_PEERS_VENV")
                .unwrap_or_else(|| ironic_peer::venv().into_os_string()),
        )
        .stdout(Stdio::piped())
        // Its own group, as a test binary in a terminal has: the SIGINT of
        // Ctrl-C goes to that group.
        .process_group(0)
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let mut peers: Vec<(String, u32, PathBuf)> = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(240);
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        let line = match rx.recv_timeout(left) {
            Ok(l) => l,
            Err(e) => {
                let _ = child.kill();
                panic!("the child did not report its peers ({e})");
            }
        };
        if line == "READY" {
            break;
        }
        if let Some(rest) = line.strip_prefix("PEER ") {
            let mut f = rest.splitn(3, ' ');
            let (name, pid, dir) = (f.next(), f.next(), f.next());
            peers.push((
                name.unwrap().to_string(),
                pid.unwrap().parse().unwrap(),
                PathBuf::from(dir.unwrap()),
            ));
        }
    }
    assert_eq!(peers.len(), 3, "{peers:?}");
    // Every process of each peer's group: Ironic's worker too.
    let mut pids: Vec<(String, u32)> = Vec::new();
    for (name, pid, dir) in &peers {
        assert!(
            pid_running(*pid),
            "{name} ({pid}) died with the thread that started it"
        );
        assert!(dir.is_dir(), "{name}: {} missing", dir.display());
        pids.extend(group_members(*pid).into_iter().map(|p| (name.clone(), p)));
    }
    assert!(
        pids.iter().filter(|(n, _)| n == "ironic").count() >= 2,
        "Ironic forks a worker: {pids:?}"
    );

    let target = match signal {
        "INT" => format!("-{}", child.id()),
        _ => child.id().to_string(),
    };
    let ok = Command::new("kill")
        .args([&format!("-{signal}"), "--", &target])
        .status()
        .unwrap()
        .success();
    assert!(ok, "kill -{signal} -- {target}");
    let status = child.wait().unwrap();
    assert!(!status.success(), "the child ended by itself: {status}");

    let gone_by = Instant::now() + Duration::from_secs(5);
    loop {
        let left: Vec<&(String, u32)> = pids.iter().filter(|(_, p)| pid_running(*p)).collect();
        let dirs: Vec<&PathBuf> = peers
            .iter()
            .map(|(_, _, d)| d)
            .filter(|d| d.exists())
            .collect();
        if left.is_empty() && dirs.is_empty() {
            break;
        }
        if Instant::now() > gone_by {
            // Do not leave them behind for the next run either.
            for (_, p) in &left {
                let _ = Command::new("kill")
                    .args(["-KILL", &p.to_string()])
                    .status();
            }
            panic!(
                "after kill -{signal}, still running 5 s later: {left:?}; scratch dirs left: {dirs:?}"
            );
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn peers_die_with_a_killed_test_process() {
    // A timeout or the OOM killer: SIGKILL to the test process alone.
    run_and_kill("KILL");
    // Ctrl-C in a terminal: SIGINT to the whole process group.
    run_and_kill("INT");
}
