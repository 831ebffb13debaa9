//! Host selection and Metal3Data rendering at scale:
//!
//! * **select**: 1 000 Metal3Machines choose and associate hosts one after the
//!   other among 10 000 BareMetalHosts (CAPM3 lists and filters every host per
//!   machine, so this is O(machines × hosts) by design); once without a
//!   selector, once with a `hostSelector` (matchLabels + matchExpressions) and
//!   a failure domain.
//! * **render**: 1 000 Metal3Data from a template with three pools (two IPv4, one IPv6),
//!   metaData of every source kind and a bond/VLAN networkData: index
//!   allocation, IP allocation, metaData and networkData YAML.
//!
//! `cargo bench -p metal3-capi --bench select_render` runs the full sizes
//! (`HOSTS`, `MACHINES`, `DATAS` override them); under `cargo test` (no
//! `--bench` argument) a small smoke version runs.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use metal3_capi::render::{
    ip_claims, lowest_free_index, render_metadata, render_network_data, RenderContext,
};
use metal3_capi::select::{associate, choose_host};
use metal3_capi::{Machine, Metal3DataTemplate, Metal3Machine};
use metal3_hostmodel::BareMetalHost;
use metal3_ipam::{IPClaim, IPPool, PoolAllocator, SplitMix64};
use serde_json::json;

type Res<T> = Result<T, Box<dyn std::error::Error>>;

/// CPU time of this thread, so figures on a shared machine are not dominated
/// by time other processes ran.
fn cpu_now() -> Option<Duration> {
    let text = std::fs::read_to_string("/proc/thread-self/schedstat").ok()?;
    let ns: u64 = text.split_whitespace().next()?.parse().ok()?;
    Some(Duration::from_nanos(ns))
}

fn env_usize(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn host(i: usize) -> Res<BareMetalHost> {
    Ok(serde_json::from_value(json!({
        "apiVersion": "metal3.io/v1alpha1", "kind": "BareMetalHost",
        "metadata": {"name": format!("host-{i:05}"), "namespace": "metal3",
                     "labels": {"rack": format!("r{}", i % 40), "size": if i.is_multiple_of(2) { "large" } else { "small" },
                                "infrastructure.cluster.x-k8s.io/failure-domain": format!("fd{}", i % 3)}},
        "spec": {"online": false, "bootMACAddress": format!("52:54:00:{:02x}:{:02x}:{:02x}", (i >> 16) & 0xff, (i >> 8) & 0xff, i & 0xff),
                 "bmc": {"address": format!("redfish://10.0.{}.{}/redfish/v1/Systems/1", (i >> 8) & 0xff, i & 0xff),
                         "credentialsName": format!("bmc-{i:05}")}},
        "status": {"operationalStatus": "OK", "errorMessage": "", "poweredOn": false,
                   "provisioning": {"state": if i % 10 == 9 { "provisioned" } else { "available" }, "ID": ""},
                   "hardware": {"hostname": format!("host-{i:05}"), "ramMebibytes": 0, "storage": [],
                                "nics": [{"name": "eth0", "mac": format!("52:54:01:{:02x}:{:02x}:{:02x}", (i >> 16) & 0xff, (i >> 8) & 0xff, i & 0xff), "ip": "", "speedGbps": 0, "model": ""},
                                         {"name": "eth1", "mac": format!("52:54:02:{:02x}:{:02x}:{:02x}", (i >> 16) & 0xff, (i >> 8) & 0xff, i & 0xff), "ip": "", "speedGbps": 0, "model": ""}]}}
    }))?)
}

fn m3m(i: usize, selective: bool) -> Res<Metal3Machine> {
    let mut spec = json!({"image": {"url": "http://img/node.qcow2", "checksum": "http://img/node.sha256",
                                    "checksumType": "sha256", "format": "qcow2"}});
    if selective {
        spec["hostSelector"] = json!({"matchLabels": {"size": "large"},
            "matchExpressions": [{"key": "rack", "operator": "notin", "values": ["r0", "r2"]}]});
        spec["failureDomain"] = json!(format!("fd{}", i % 3));
    }
    Ok(serde_json::from_value(json!({
        "apiVersion": "infrastructure.cluster.x-k8s.io/v1beta1", "kind": "Metal3Machine",
        "metadata": {"name": format!("m-{i:04}"), "namespace": "metal3"},
        "spec": spec
    }))?)
}

fn machine(i: usize) -> Res<Machine> {
    Ok(serde_json::from_value(json!({
        "apiVersion": "cluster.x-k8s.io/v1beta1", "kind": "Machine",
        "metadata": {"name": format!("m-{i:04}"), "namespace": "metal3"},
        "spec": {"clusterName": "c1", "bootstrap": {"dataSecretName": format!("m-{i:04}-bootstrap")}}
    }))?)
}

/// Associates `machines` machines one by one; returns wall and CPU time.
fn select(
    hosts: &[BareMetalHost],
    machines: usize,
    selective: bool,
) -> Res<(Duration, Option<Duration>, usize)> {
    let mut hosts = hosts.to_vec();
    let ms: Vec<(Metal3Machine, Machine)> = (0..machines)
        .map(|i| Ok((m3m(i, selective)?, machine(i)?)))
        .collect::<Res<_>>()?;
    let mut rng = SplitMix64::new(7);
    let cpu0 = cpu_now();
    let t0 = Instant::now();
    let mut chosen = 0;
    for (m, mc) in &ms {
        if let Some(c) = choose_host(m, None, &hosts, &mut rng)? {
            let a = associate(&hosts[c.index], m, mc)?;
            hosts[c.index] = a.host;
            chosen += 1;
        }
    }
    let wall = t0.elapsed();
    let cpu = cpu0.and_then(|c0| cpu_now().map(|c1| c1.saturating_sub(c0)));
    Ok((wall, cpu, chosen))
}

fn template() -> Res<Metal3DataTemplate> {
    Ok(serde_json::from_value(json!({
        "apiVersion": "infrastructure.cluster.x-k8s.io/v1beta1", "kind": "Metal3DataTemplate",
        "metadata": {"name": "workers", "namespace": "metal3"},
        "spec": {"clusterName": "c1",
          "metaData": {
            "strings": [{"key": "role", "value": "worker"}],
            "objectNames": [{"key": "name", "object": "machine"}, {"key": "bmh", "object": "baremetalhost"}],
            "indexes": [{"key": "idx", "offset": 10, "step": 2, "prefix": "n", "suffix": "x"}],
            "namespaces": [{"key": "ns"}],
            "ipAddressesFromIPPool": [{"key": "ip", "name": "prov"}, {"key": "ip6", "name": "prov6"}],
            "prefixesFromIPPool": [{"key": "prefix", "name": "prov"}],
            "gatewaysFromIPPool": [{"key": "gw", "name": "prov"}],
            "fromHostInterfaces": [{"key": "mac", "interface": "eth0"}],
            "fromLabels": [{"key": "rack", "object": "baremetalhost", "label": "rack"}],
            "fromAnnotations": [{"key": "note", "object": "machine", "annotation": "note"}]},
          "networkData": {
            "links": {
              "ethernets": [{"type": "phy", "id": "eth0", "macAddress": {"fromHostInterface": "eth0"}},
                            {"type": "phy", "id": "eth1", "macAddress": {"fromHostInterface": "eth1"}}],
              "bonds": [{"id": "bond0", "bondMode": "802.3ad", "bondXmitHashPolicy": "layer3+4", "bondLinks": ["eth0", "eth1"],
                         "macAddress": {"fromHostInterface": "eth0"}, "parameters": {"miimon": 100}}],
              "vlans": [{"id": "vlan10", "vlanID": 10, "vlanLink": "bond0", "macAddress": {"fromHostInterface": "eth0"}}]},
            "networks": {
              "ipv4": [{"id": "prov", "link": "bond0", "ipAddressFromIPPool": "prov",
                        "routes": [{"network": "0.0.0.0", "prefix": 0, "gateway": {"fromIPPool": "prov"}, "services": {"dnsFromIPPool": "prov"}}]},
                       {"id": "ext", "link": "vlan10", "ipAddressFromIPPool": "ext"}],
              "ipv6": [{"id": "prov6", "link": "bond0", "ipAddressFromIPPool": "prov6"}],
              "ipv4DHCP": [{"id": "pxe", "link": "eth1"}]},
            "services": {"dns": ["8.8.8.8"], "dnsFromIPPool": "prov6"}}}
    }))?)
}

fn pool(name: &str, spec: serde_json::Value) -> Res<IPPool> {
    Ok(serde_json::from_value(json!({
        "apiVersion": "ipam.metal3.io/v1alpha1", "kind": "IPPool",
        "metadata": {"name": name, "namespace": "metal3"}, "spec": spec
    }))?)
}

/// Renders `n` Metal3Data; returns wall and CPU time and the output bytes.
fn render(hosts: &[BareMetalHost], n: usize) -> Res<(Duration, Option<Duration>, usize)> {
    let t = template()?;
    let mut pools: BTreeMap<String, PoolAllocator> = BTreeMap::new();
    for (name, spec) in [
        (
            "prov",
            json!({"namePrefix": "prov", "prefix": 22, "gateway": "10.1.0.1", "dnsServers": ["10.1.0.2"], "pools": [{"start": "10.1.0.10", "end": "10.1.3.250"}]}),
        ),
        (
            "ext",
            json!({"namePrefix": "ext", "prefix": 20, "pools": [{"subnet": "172.16.0.0/20"}]}),
        ),
        (
            "prov6",
            json!({"namePrefix": "prov6", "prefix": 64, "dnsServers": ["2001:db8::53"], "pools": [{"subnet": "2001:db8::/64"}]}),
        ),
    ] {
        pools.insert(name.into(), PoolAllocator::from_pool(&pool(name, spec)?)?);
    }
    let ms: Vec<(Metal3Machine, Machine)> = (0..n)
        .map(|i| Ok((m3m(i, false)?, machine(i)?)))
        .collect::<Res<_>>()?;
    let cpu0 = cpu_now();
    let t0 = Instant::now();
    let mut used: Vec<i64> = Vec::new();
    let mut bytes = 0;
    for (i, (m, mc)) in ms.iter().enumerate() {
        let index = lowest_free_index(&used);
        used.push(index);
        let data_name = format!("workers-{index}");
        let ctx = RenderContext {
            data_name: &data_name,
            namespace: "metal3",
            index,
            machine: mc,
            m3m: m,
            host: &hosts[i % hosts.len()],
        };
        let mut allocs = BTreeMap::new();
        for claim in ip_claims(&t.spec, &ctx)? {
            let alloc = pools
                .get_mut(&claim.pool.name)
                .ok_or_else(|| format!("no pool {}", claim.pool.name))?;
            let mut c = IPClaim::default();
            c.metadata.name = claim.claim_name;
            allocs.insert(claim.pool.name, alloc.allocate(&c)?);
        }
        let md = render_metadata(&t.spec, &ctx, &allocs)?.unwrap_or_default();
        let nd = render_network_data(&t.spec, &ctx, &allocs)?.unwrap_or_default();
        bytes += md.len() + nd.len();
    }
    let wall = t0.elapsed();
    let cpu = cpu0.and_then(|c0| cpu_now().map(|c1| c1.saturating_sub(c0)));
    Ok((wall, cpu, bytes))
}

fn fmt_cpu(c: Option<Duration>) -> String {
    c.map(|c| format!("{:.1} ms CPU", c.as_secs_f64() * 1e3))
        .unwrap_or_else(|| "CPU n/a".into())
}

fn main() -> Res<()> {
    let full = std::env::args().any(|a| a == "--bench");
    let (h, m, d) = if full {
        (10_000, 1_000, 1_000)
    } else {
        (200, 20, 20)
    };
    let hosts_n = env_usize("HOSTS", h);
    let machines = env_usize("MACHINES", m);
    let datas = env_usize("DATAS", d);
    let hosts: Vec<BareMetalHost> = (0..hosts_n).map(host).collect::<Res<_>>()?;

    for (label, selective) in [
        ("no selector", false),
        ("hostSelector + failure domain", true),
    ] {
        let (wall, cpu, chosen) = select(&hosts, machines, selective)?;
        println!(
            "select ({label}): {machines} machines among {hosts_n} hosts: {:.1} ms wall, {}, {:.1} µs/machine, {chosen} associated",
            wall.as_secs_f64() * 1e3,
            fmt_cpu(cpu),
            wall.as_secs_f64() * 1e6 / machines.max(1) as f64,
        );
        if chosen != machines {
            return Err(format!("only {chosen} of {machines} machines got a host").into());
        }
    }
    let (wall, cpu, bytes) = render(&hosts, datas)?;
    println!(
        "render: {datas} Metal3Data (3 pools, metaData + networkData): {:.1} ms wall, {}, {:.1} µs/data, {} KiB YAML",
        wall.as_secs_f64() * 1e3,
        fmt_cpu(cpu),
        wall.as_secs_f64() * 1e6 / datas.max(1) as f64,
        bytes / 1024
    );
    Ok(())
}
