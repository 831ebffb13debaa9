//! Benchmark: metal3-bmc's IPMI client vs `ipmitool -I lanplus -C 3` against
//! the same local `ipmi_sim` (both over cipher suite 3 on loopback).
//!
//! Scenarios: "open session + one command + close", and a 10-command burst on
//! one session (`ipmitool exec` for ipmitool), each with Get Chassis Status
//! (slow in ipmi_sim: it forks the chassis script) and Get Device ID.
//! Reports wall time and CPU (user+system) per run and UDP datagrams per run
//! (counted by a pass-through proxy in a separate pass, so the proxy's cost
//! is not in the timings).
//!
//! Run: `cargo run --release -p metal3-bmc --example ipmi_bench [ITERATIONS]`
//! (needs `ipmi_sim` and `ipmitool`: scripts/setup-peers.sh).

use std::error::Error;
use std::net::UdpSocket as StdUdp;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use metal3_bmc::address::BmcAddress;
use metal3_bmc::ipmi::{IpmiClient, IpmiOptions};
use metal3_bmc::Credentials;

type Res<T> = Result<T, Box<dyn Error>>;

/// ipmi_sim configuration (from the lab examples): LAN channel on 127.0.0.1,
/// user admin/password with admin privilege; STATE_DIR and the port are filled in.
const LAN_CONF: &str = include_str!("../tests/fixtures/ipmi_sim/lan.conf.in");
/// The emulated BMC (device ID 0x23, manufacturer 0x1291, product 0xf02).
const BMC_EMU: &str = include_str!("../tests/fixtures/ipmi_sim/bmc.emu");
/// Chassis control program keeping power and boot device in files in STATE_DIR.
const CHASSIS_SH: &str = include_str!("../tests/fixtures/ipmi_sim/chassis.sh.in");

struct Sim {
    child: Child,
    dir: PathBuf,
    port: u16,
}

impl Drop for Sim {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn start_sim() -> Res<Sim> {
    let dir = std::env::temp_dir().join(format!("metal3-ipmi-bench-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(dir.join("state"))?;
    let port = StdUdp::bind("127.0.0.1:0")?.local_addr()?.port();
    let d = dir.to_str().ok_or("temp dir is not UTF-8")?;
    let lan = LAN_CONF
        .replace("STATE_DIR", d)
        .replace("addr 127.0.0.1 19623", &format!("addr 127.0.0.1 {port}"));
    std::fs::write(dir.join("lan.conf"), lan)?;
    std::fs::write(dir.join("bmc.emu"), BMC_EMU)?;
    let script = dir.join("chassis.sh");
    std::fs::write(&script, CHASSIS_SH.replace("STATE_DIR", d))?;
    Command::new("chmod").arg("+x").arg(&script).status()?;
    let child = Command::new("ipmi_sim")
        .arg("-c")
        .arg(dir.join("lan.conf"))
        .arg("-f")
        .arg(dir.join("bmc.emu"))
        .args(["-n", "-s"])
        .arg(dir.join("state"))
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .map_err(|e| format!("cannot start ipmi_sim ({e}): run scripts/setup-peers.sh"))?;
    let sim = Sim { child, dir, port };
    // Ready when ipmitool gets an answer.
    let start = Instant::now();
    while ipmitool(port, &["power", "status"]).is_err() {
        if start.elapsed() > Duration::from_secs(10) {
            return Err("ipmi_sim did not come up".into());
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    Ok(sim)
}

fn ipmitool(port: u16, args: &[&str]) -> Res<()> {
    let st = Command::new("ipmitool")
        .args([
            "-I",
            "lanplus",
            "-C",
            "3",
            "-H",
            "127.0.0.1",
            "-p",
            &port.to_string(),
        ])
        .args(["-U", "admin", "-P", "password"])
        .args(args)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .map_err(|e| format!("cannot run ipmitool ({e}): run scripts/setup-peers.sh"))?;
    if !st.success() {
        return Err(format!("ipmitool {args:?} failed").into());
    }
    Ok(())
}

/// CPU time of this thread in seconds, nanosecond resolution (the bench runs
/// our client on a current-thread runtime, so that is all of its work).
fn own_cpu() -> Res<f64> {
    let s = std::fs::read_to_string("/proc/thread-self/schedstat")?;
    let ns: f64 = s
        .split_whitespace()
        .next()
        .ok_or("bad schedstat")?
        .parse()?;
    Ok(ns / 1e9)
}

/// (own CPU, reaped children's CPU) in seconds, from /proc/self/stat (10 ms ticks).
fn cpu_times() -> Res<(f64, f64)> {
    let stat = std::fs::read_to_string("/proc/self/stat")?;
    let after = stat.rsplit_once(')').ok_or("bad /proc/self/stat")?.1;
    let f: Vec<f64> = after
        .split_whitespace()
        .filter_map(|x| x.parse().ok())
        .collect();
    // After the command name: state is dropped by parse; utime is the 12th number.
    let get = |i: usize| f.get(i).copied().ok_or("short /proc/self/stat");
    let tick = 100.0; // USER_HZ is 100 on Linux for every architecture we run on.
    Ok(((get(10)? + get(11)?) / tick, (get(12)? + get(13)?) / tick))
}

/// Pass-through UDP proxy counting datagrams in both directions.
async fn counting_proxy(bmc_port: u16) -> Res<(u16, Arc<AtomicUsize>)> {
    let front = tokio::net::UdpSocket::bind("127.0.0.1:0").await?;
    let back = tokio::net::UdpSocket::bind("127.0.0.1:0").await?;
    back.connect(("127.0.0.1", bmc_port)).await?;
    let port = front.local_addr()?.port();
    let count = Arc::new(AtomicUsize::new(0));
    let c = count.clone();
    tokio::spawn(async move {
        let mut client = None;
        let (mut b1, mut b2) = ([0u8; 1024], [0u8; 1024]);
        loop {
            tokio::select! {
                r = front.recv_from(&mut b1) => {
                    let Ok((n, from)) = r else { return };
                    client = Some(from);
                    c.fetch_add(1, Ordering::SeqCst);
                    let _ = back.send(b1.get(..n).unwrap_or_default()).await;
                }
                r = back.recv(&mut b2) => {
                    let Ok(n) = r else { return };
                    c.fetch_add(1, Ordering::SeqCst);
                    if let Some(to) = client { let _ = front.send_to(b2.get(..n).unwrap_or_default(), to).await; }
                }
            }
        }
    });
    Ok((port, count))
}

/// Which command a scenario repeats.
#[derive(Clone, Copy)]
enum Cmd {
    /// Get Chassis Status (ipmi_sim forks its chassis script for each one).
    PowerStatus,
    /// Get Device ID (answered from ipmi_sim's memory).
    DeviceId,
}

async fn ours(port: u16, commands: usize, cmd: Cmd) -> Res<()> {
    let addr = BmcAddress::parse(&format!("ipmi://127.0.0.1:{port}"))?;
    let opts = IpmiOptions {
        cipher_suite: Some(3),
        ..IpmiOptions::default()
    };
    let c = IpmiClient::connect(&addr, &Credentials::new("admin", "password"), opts).await?;
    for _ in 0..commands {
        match cmd {
            Cmd::PowerStatus => drop(c.chassis_power().await?),
            Cmd::DeviceId => drop(c.device_id().await?),
        }
    }
    c.close().await?;
    Ok(())
}

fn theirs(port: u16, commands: usize, cmd: Cmd, dir: &Path) -> Res<()> {
    let words: &[&str] = match cmd {
        Cmd::PowerStatus => &["power", "status"],
        Cmd::DeviceId => &["mc", "info"],
    };
    if commands == 1 {
        return ipmitool(port, words);
    }
    // `ipmitool exec FILE` runs every line of FILE in one session.
    let script = dir.join(format!("burst-{}-{commands}.txt", words.join("-")));
    std::fs::write(&script, format!("{}\n", words.join(" ")).repeat(commands))?;
    ipmitool(port, &["exec", script.to_str().ok_or("path")?])
}

struct Row {
    name: String,
    wall_ms: f64,
    cpu_ms: f64,
    packets: f64,
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> Res<()> {
    let iterations: usize = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(50);
    let sim = start_sim()?;
    let dir = sim.dir.clone();
    let mut rows = Vec::new();
    for (label, commands, cmd) in [
        ("open + power status + close", 1usize, Cmd::PowerStatus),
        ("open + 10 x power status + close", 10, Cmd::PowerStatus),
        ("open + device ID + close", 1, Cmd::DeviceId),
        ("open + 10 x device ID + close", 10, Cmd::DeviceId),
    ] {
        // Ours.
        let c0 = own_cpu()?;
        let t = Instant::now();
        for _ in 0..iterations {
            ours(sim.port, commands, cmd).await?;
        }
        let wall = t.elapsed().as_secs_f64();
        let c1 = own_cpu()?;
        let (pport, count) = counting_proxy(sim.port).await?;
        ours(pport, commands, cmd).await?;
        rows.push(Row {
            name: format!("metal3-bmc: {label}"),
            wall_ms: wall * 1000.0 / iterations as f64,
            cpu_ms: (c1 - c0) * 1000.0 / iterations as f64,
            packets: count.load(Ordering::SeqCst) as f64,
        });
        // ipmitool (process CPU is counted once the child is reaped).
        let (_, k0) = cpu_times()?;
        let t = Instant::now();
        for _ in 0..iterations {
            theirs(sim.port, commands, cmd, &dir)?;
        }
        let wall = t.elapsed().as_secs_f64();
        let (_, k1) = cpu_times()?;
        let (pport, count) = counting_proxy(sim.port).await?;
        // ipmitool blocks this thread; let the proxy task run on its own runtime thread.
        let handle = tokio::task::spawn_blocking({
            let dir = dir.clone();
            move || theirs(pport, commands, cmd, &dir).map_err(|e| e.to_string())
        });
        handle.await??;
        rows.push(Row {
            name: format!("ipmitool -C 3: {label}"),
            wall_ms: wall * 1000.0 / iterations as f64,
            cpu_ms: (k1 - k0) * 1000.0 / iterations as f64,
            packets: count.load(Ordering::SeqCst) as f64,
        });
    }
    println!(
        "ipmi_sim on 127.0.0.1:{}, {iterations} iterations each, cipher suite 3",
        sim.port
    );
    println!(
        "{:<55} {:>10} {:>10} {:>8}",
        "scenario", "wall ms", "CPU ms", "packets"
    );
    for r in rows {
        println!(
            "{:<55} {:>10.2} {:>10.2} {:>8.0}",
            r.name, r.wall_ms, r.cpu_ms, r.packets
        );
    }
    Ok(())
}
