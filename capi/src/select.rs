//! BareMetalHost selection and association for a Metal3Machine (reference §3.a, §3.b).

use std::collections::BTreeMap;

use metal3_hostmodel::{
    AutomatedCleaningMode, BareMetalHost, CustomDeploy, Image as HostImage, ObjectReference,
    ProvisioningState, SecretReference,
};
use metal3_ipam::SplitMix64;

use crate::types::{HostSelector, Machine, Metal3Machine, GROUP};

/// Annotation on the Metal3Machine naming its host (`<namespace>/<name>`).
pub const HOST_ANNOTATION: &str = "metal3.io/BareMetalHost";
/// BareMetalHost label reserving a host for a KCP / MachineDeployment.
pub const NODE_REUSE_LABEL: &str = "infrastructure.cluster.x-k8s.io/node-reuse";
/// BareMetalHost label naming its failure domain.
pub const FAILURE_DOMAIN_LABEL: &str = "infrastructure.cluster.x-k8s.io/failure-domain";
/// BareMetalHost pause annotation.
pub const PAUSED_ANNOTATION: &str = "baremetalhost.metal3.io/paused";
/// Unhealthy annotation (v1beta2 name).
pub const UNHEALTHY_ANNOTATION: &str = "capm3.metal3.io/unhealthy";
/// Unhealthy annotation (v1beta1 name, still honoured when choosing).
pub const UNHEALTHY_ANNOTATION_V1BETA1: &str = "capi.metal3.io/unhealthy";
/// Label carrying the CAPI cluster name.
pub const CLUSTER_NAME_LABEL: &str = "cluster.x-k8s.io/cluster-name";
/// Provider ID scheme.
pub const PROVIDER_ID_PREFIX: &str = "metal3://";

/// Errors of selection and association, naming the object and field.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SelectError {
    /// A hostSelector requirement is not a valid label selector requirement.
    #[error(
        "Metal3Machine {machine}: spec.hostSelector key {key:?} operator {operator:?}: {reason}"
    )]
    InvalidSelector {
        /// Metal3Machine name.
        machine: String,
        /// Requirement key.
        key: String,
        /// Operator as written.
        operator: String,
        /// What is wrong.
        reason: String,
    },
    /// A node-reuse host is not ready/available yet (transient, requeue 30s).
    #[error("Found BareMetalHost(s) with nodeReuseLabelName in not-available state, requeuing (host {host})")]
    NodeReuseHostNotAvailable {
        /// The host.
        host: String,
    },
    /// Neither image nor custom deploy is configured.
    #[error("Metal3Machine {machine} has neither Image.URL nor CustomDeploy.Method configured")]
    NoImage {
        /// Metal3Machine name.
        machine: String,
    },
    /// A secret reference points to another namespace.
    #[error(
        "Metal3Machine {machine}: {field} refers to namespace {namespace:?}, must be {expected:?}"
    )]
    CrossNamespace {
        /// Metal3Machine name.
        machine: String,
        /// Field path.
        field: &'static str,
        /// Namespace given.
        namespace: String,
        /// Namespace required.
        expected: String,
    },
    /// `spec.automatedCleaningMode` is not `metadata` or `disabled`.
    #[error(
        "Metal3Machine {machine}: spec.automatedCleaningMode {value:?} is not metadata or disabled"
    )]
    InvalidCleaningMode {
        /// Metal3Machine name.
        machine: String,
        /// Value given.
        value: String,
    },
    /// The `metal3.io/BareMetalHost` annotation is missing or malformed.
    #[error("Metal3Machine {machine}: annotation metal3.io/BareMetalHost {value:?} is not <namespace>/<name> in the machine's namespace")]
    BadHostAnnotation {
        /// Metal3Machine name.
        machine: String,
        /// Annotation value (empty when missing).
        value: String,
    },
}

/// k8s `selection.Operator` after CAPM3 lower-cases it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Op {
    In,
    NotIn,
    Exists,
    DoesNotExist,
    Gt,
    Lt,
}

/// One parsed requirement.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Requirement {
    key: String,
    op: Op,
    values: Vec<String>,
}

/// A validated hostSelector (`labels.Selector` semantics).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Selector {
    reqs: Vec<Requirement>,
}

impl Selector {
    /// Builds the selector CAPM3 builds: matchLabels as `key = value`, then each
    /// matchExpression with its operator lower-cased. Operators are k8s selection
    /// operators (`in`, `notin`, `=`, `==`, `!=`, `exists`, `!`, `gt`, `lt`), so
    /// `DoesNotExist` spelled out is rejected, exactly as upstream does; use `!`.
    pub fn new(machine: &str, sel: Option<&HostSelector>) -> Result<Self, SelectError> {
        let mut reqs = Vec::new();
        let Some(sel) = sel else {
            return Ok(Selector { reqs });
        };
        for (k, v) in sel.match_labels.iter().flatten() {
            reqs.push(requirement(machine, k, "=", std::slice::from_ref(v))?);
        }
        for e in sel.match_expressions.iter().flatten() {
            let values = e.values.clone().unwrap_or_default();
            reqs.push(requirement(machine, &e.key, &e.operator, &values)?);
        }
        Ok(Selector { reqs })
    }

    /// True when every requirement holds for `labels`.
    pub fn matches(&self, labels: &BTreeMap<String, String>) -> bool {
        self.reqs.iter().all(|r| {
            let v = labels.get(&r.key);
            match r.op {
                Op::In => v.is_some_and(|v| r.values.contains(v)),
                Op::NotIn => v.is_none_or(|v| !r.values.contains(v)),
                Op::Exists => v.is_some(),
                Op::DoesNotExist => v.is_none(),
                // Gt/Lt compare integers; a label that is not an integer never matches.
                Op::Gt | Op::Lt => {
                    let (Some(v), Some(bound)) = (v, r.values.first()) else {
                        return false;
                    };
                    match (v.parse::<i64>(), bound.parse::<i64>()) {
                        (Ok(v), Ok(b)) if r.op == Op::Gt => v > b,
                        (Ok(v), Ok(b)) => v < b,
                        _ => false,
                    }
                }
            }
        })
    }
}

/// `labels.NewRequirement` validation for one requirement.
fn requirement(
    machine: &str,
    key: &str,
    operator: &str,
    values: &[String],
) -> Result<Requirement, SelectError> {
    let err = |reason: &str| SelectError::InvalidSelector {
        machine: machine.to_string(),
        key: key.to_string(),
        operator: operator.to_string(),
        reason: reason.to_string(),
    };
    if !valid_label_key(key) {
        return Err(err("key is not a valid qualified name"));
    }
    if values.iter().any(|v| !valid_label_value(v)) {
        return Err(err("values must be valid label values"));
    }
    let op = match operator.to_lowercase().as_str() {
        "in" | "=" | "==" => Op::In,
        "notin" | "!=" => Op::NotIn,
        "exists" => Op::Exists,
        "!" => Op::DoesNotExist,
        "gt" => Op::Gt,
        "lt" => Op::Lt,
        _ => return Err(err("not a valid selection operator")),
    };
    let lower = operator.to_lowercase();
    match op {
        Op::In | Op::NotIn if matches!(lower.as_str(), "=" | "==" | "!=") && values.len() != 1 => {
            return Err(err("exact-match operators need exactly one value"))
        }
        Op::In | Op::NotIn if values.is_empty() => {
            return Err(err("set-based operators need at least one value"))
        }
        Op::Exists | Op::DoesNotExist if !values.is_empty() => {
            return Err(err("values must be empty for exists and does-not-exist"))
        }
        Op::Gt | Op::Lt => {
            if values.len() != 1 {
                return Err(err("gt and lt need exactly one value"));
            }
            if values.iter().any(|v| v.parse::<i64>().is_err()) {
                return Err(err("gt and lt need an integer value"));
            }
        }
        _ => {}
    }
    Ok(Requirement {
        key: key.to_string(),
        op,
        values: values.to_vec(),
    })
}

/// k8s label value: empty, or at most 63 chars of `[A-Za-z0-9._-]` starting and
/// ending alphanumeric.
fn valid_label_value(v: &str) -> bool {
    v.is_empty() || valid_name_part(v)
}

fn valid_name_part(v: &str) -> bool {
    let b = v.as_bytes();
    !b.is_empty()
        && b.len() <= 63
        && b.iter()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, b'-' | b'_' | b'.'))
        && b.first().is_some_and(u8::is_ascii_alphanumeric)
        && b.last().is_some_and(u8::is_ascii_alphanumeric)
}

/// k8s qualified name: `[prefix/]name`, prefix a DNS-1123 subdomain (<= 253).
fn valid_label_key(k: &str) -> bool {
    let (prefix, name) = match k.split_once('/') {
        Some((p, n)) => (Some(p), n),
        None => (None, k),
    };
    let prefix_ok = prefix.is_none_or(|p| {
        p.len() <= 253
            && p.split('.').all(|l| {
                let b = l.as_bytes();
                !b.is_empty()
                    && b.iter()
                        .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == b'-')
                    && b.first().is_some_and(|c| c.is_ascii_alphanumeric())
                    && b.last().is_some_and(|c| c.is_ascii_alphanumeric())
            })
    });
    prefix_ok && valid_name_part(name)
}

/// How the host was found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChoiceReason {
    /// The host's consumerRef already names this Metal3Machine.
    AlreadyAssociated,
    /// A host kept for this KCP / MachineDeployment (`AssociateBareMetalHostViaNodeReuseSuccess`).
    NodeReuse,
    /// Picked among available hosts (`AssociateBareMetalHostSuccess`).
    Available,
}

/// The host chosen, as an index into the slice given to [`choose_host`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Choice {
    /// Index into the hosts slice.
    pub index: usize,
    /// Why this host.
    pub reason: ChoiceReason,
}

/// True when `r` refers to this Metal3Machine (API version ignored, group compared).
pub fn consumer_ref_matches(r: &ObjectReference, m3m: &Metal3Machine) -> bool {
    let group = r.api_version.split('/').next().unwrap_or_default();
    r.kind == "Metal3Machine"
        && group == GROUP
        && r.name == m3m.metadata.name
        && r.namespace == m3m.metadata.namespace
}

fn usable_state(h: &BareMetalHost) -> bool {
    matches!(
        h.status.as_ref().map(|s| s.provisioning.state),
        Some(ProvisioningState::Ready | ProvisioningState::Available)
    )
}

/// `chooseHost`: the host for `m3m` among `hosts` (in list order), or `None`.
///
/// `node_reuse` is the new machine's `cp-<kcp>` / `md-<md>` value when its
/// template has node reuse; `rng` breaks ties among equally good hosts.
pub fn choose_host(
    m3m: &Metal3Machine,
    node_reuse: Option<&str>,
    hosts: &[BareMetalHost],
    rng: &mut SplitMix64,
) -> Result<Option<Choice>, SelectError> {
    let selector = Selector::new(&m3m.metadata.name, m3m.spec.host_selector.as_ref())?;
    let mut reuse = Vec::new();
    let mut available = Vec::new();
    for (i, h) in hosts.iter().enumerate() {
        // The API server lists only the machine's namespace.
        if h.metadata.namespace != m3m.metadata.namespace || !selector.matches(&h.metadata.labels) {
            continue;
        }
        if h.spec
            .consumer_ref
            .as_ref()
            .is_some_and(|r| consumer_ref_matches(r, m3m))
        {
            return Ok(Some(Choice {
                index: i,
                reason: ChoiceReason::AlreadyAssociated,
            }));
        }
        let reuse_match = match h.metadata.labels.get(NODE_REUSE_LABEL) {
            Some(label) => {
                if label.is_empty() || Some(label.as_str()) != node_reuse {
                    continue;
                }
                true
            }
            None => {
                if h.spec.consumer_ref.is_some() {
                    continue;
                }
                false
            }
        };
        let ann = &h.metadata.annotations;
        let error = h
            .status
            .as_ref()
            .is_some_and(|s| !s.error_message.is_empty());
        if h.metadata.deletion_timestamp.is_some()
            || error
            || ann.contains_key(PAUSED_ANNOTATION)
            || ann.contains_key(UNHEALTHY_ANNOTATION)
            || ann.contains_key(UNHEALTHY_ANNOTATION_V1BETA1)
        {
            continue;
        }
        if reuse_match {
            reuse.push(i);
        } else if usable_state(h) {
            available.push(i);
        }
    }
    if !reuse.is_empty() {
        // Upstream walks every reuse host; a later ready one overwrites an earlier pick,
        // and any host not yet ready aborts the whole choice.
        let mut chosen = None;
        for &i in &reuse {
            if !usable_state(&hosts[i]) {
                return Err(SelectError::NodeReuseHostNotAvailable {
                    host: hosts[i].metadata.name.clone(),
                });
            }
            chosen = Some(Choice {
                index: i,
                reason: ChoiceReason::NodeReuse,
            });
        }
        return Ok(chosen);
    }
    Ok(pick_host(m3m, hosts, &available, rng).map(|index| Choice {
        index,
        reason: ChoiceReason::Available,
    }))
}

/// `pickHost`: prefer the machine's failure domain when any candidate has it, then random.
fn pick_host(
    m3m: &Metal3Machine,
    hosts: &[BareMetalHost],
    candidates: &[usize],
    rng: &mut SplitMix64,
) -> Option<usize> {
    let mut pool = candidates.to_vec();
    if let Some(fd) = m3m.spec.failure_domain.as_deref().filter(|f| !f.is_empty()) {
        let in_fd: Vec<usize> = candidates
            .iter()
            .copied()
            .filter(|&i| {
                hosts[i]
                    .metadata
                    .labels
                    .get(FAILURE_DOMAIN_LABEL)
                    .map(String::as_str)
                    == Some(fd)
            })
            .collect();
        if !in_fd.is_empty() {
            pool = in_fd;
        }
    }
    if pool.is_empty() {
        return None;
    }
    let k = rng.below(pool.len() as u128) as usize;
    pool.get(k).copied()
}

/// Result of [`associate`]: the updated host and machine.
#[derive(Debug, Clone, PartialEq)]
pub struct Association {
    /// The host with consumerRef, labels and (without a data template) its spec set.
    pub host: BareMetalHost,
    /// The Metal3Machine with the host annotation and `status.userData`.
    pub machine: Metal3Machine,
}

/// `Associate` steps 2, 3 and 5 as a pure function (the BMC secret label is the caller's).
pub fn associate(
    host: &BareMetalHost,
    m3m: &Metal3Machine,
    machine: &Machine,
) -> Result<Association, SelectError> {
    let mut m3m = m3m.clone();
    let mut host = host.clone();
    let ns = m3m.metadata.namespace.clone();
    if m3m
        .status
        .as_ref()
        .and_then(|s| s.user_data.as_ref())
        .is_none()
    {
        if let Some(u) = resolve_user_data(&m3m.metadata.name, &ns, &m3m.spec.user_data, machine)? {
            m3m.status.get_or_insert_with(Default::default).user_data = Some(u);
        }
    }
    host.metadata.labels.insert(
        CLUSTER_NAME_LABEL.to_string(),
        machine.spec.cluster_name.clone(),
    );
    host.spec.consumer_ref = Some(ObjectReference {
        kind: "Metal3Machine".into(),
        name: m3m.metadata.name.clone(),
        namespace: ns.clone(),
        api_version: m3m.api_version.clone(),
        ..Default::default()
    });
    host.metadata.labels.remove(NODE_REUSE_LABEL);
    if m3m.spec.data_template.is_none() {
        host = set_host_spec(&host, &m3m)?;
    }
    m3m.metadata.annotations.insert(
        HOST_ANNOTATION.to_string(),
        format!("{}/{}", host.metadata.namespace, host.metadata.name),
    );
    Ok(Association { host, machine: m3m })
}

/// User data: M3M `spec.userData` (same namespace), else the Machine's bootstrap
/// `dataSecretName`, else the bootstrap `configRef` name.
fn resolve_user_data(
    machine_name: &str,
    ns: &str,
    spec: &Option<SecretReference>,
    machine: &Machine,
) -> Result<Option<SecretReference>, SelectError> {
    if let Some(u) = spec {
        if !u.namespace.is_empty() && u.namespace != ns {
            return Err(SelectError::CrossNamespace {
                machine: machine_name.to_string(),
                field: "spec.userData",
                namespace: u.namespace.clone(),
                expected: ns.to_string(),
            });
        }
        return Ok(Some(SecretReference {
            name: u.name.clone(),
            namespace: ns.to_string(),
        }));
    }
    let b = machine.spec.bootstrap.as_ref();
    let mns = machine.metadata.namespace.clone();
    if let Some(name) = b.and_then(|b| b.data_secret_name.clone()) {
        return Ok(Some(SecretReference {
            name,
            namespace: mns,
        }));
    }
    if let Some(r) = b.and_then(|b| b.config_ref.as_ref()) {
        return Ok(Some(SecretReference {
            name: r.name.clone(),
            namespace: mns,
        }));
    }
    Ok(None)
}

/// Defaults an empty namespace to `default_ns` and refuses other namespaces.
fn same_ns(
    machine: &str,
    field: &'static str,
    r: &SecretReference,
    default_ns: &str,
) -> Result<SecretReference, SelectError> {
    if r.namespace.is_empty() || r.namespace == default_ns {
        Ok(SecretReference {
            name: r.name.clone(),
            namespace: default_ns.to_string(),
        })
    } else {
        Err(SelectError::CrossNamespace {
            machine: machine.to_string(),
            field,
            namespace: r.namespace.clone(),
            expected: default_ns.to_string(),
        })
    }
}

/// `setHostSpec`: image / customDeploy / userData / metaData / networkData once
/// (never changed after an image is set), automatedCleaningMode and `online` always.
pub fn set_host_spec(
    host: &BareMetalHost,
    m3m: &Metal3Machine,
) -> Result<BareMetalHost, SelectError> {
    let mut host = host.clone();
    let name = &m3m.metadata.name;
    let status = m3m.status.clone().unwrap_or_default();
    if host.spec.image.is_none() && host.spec.custom_deploy.is_none() {
        if let Some(user_data) = &status.user_data {
            let image = m3m.spec.image.as_ref().filter(|i| !i.url.is_empty());
            let custom = m3m
                .spec
                .custom_deploy
                .as_ref()
                .filter(|c| !c.method.is_empty());
            if image.is_none() && custom.is_none() {
                return Err(SelectError::NoImage {
                    machine: name.clone(),
                });
            }
            if let Some(i) = image {
                host.spec.image = Some(HostImage {
                    url: i.url.clone(),
                    checksum: i.checksum.clone(),
                    checksum_type: i.checksum_type.clone(),
                    disk_format: i.disk_format().map(str::to_string),
                    oci_auth_secret_name: None,
                });
            }
            if let Some(c) = custom {
                host.spec.custom_deploy = Some(CustomDeploy {
                    method: c.method.clone(),
                });
            }
            let host_ns = host.metadata.namespace.clone();
            host.spec.user_data = Some(same_ns(name, "status.userData", user_data, &host_ns)?);
            let m_ns = m3m.metadata.namespace.clone();
            if let Some(md) = &status.meta_data {
                host.spec.meta_data = Some(same_ns(name, "status.metaData", md, &m_ns)?);
            }
            if let Some(nd) = &status.network_data {
                host.spec.network_data = Some(same_ns(name, "status.networkData", nd, &m_ns)?);
            }
        }
    }
    if let Some(mode) = m3m
        .spec
        .automated_cleaning_mode
        .as_deref()
        .filter(|m| !m.is_empty())
    {
        host.spec.automated_cleaning_mode = Some(cleaning_mode(name, mode)?);
    }
    host.spec.online = true;
    Ok(host)
}

/// Parses a Metal3Machine cleaning mode.
pub(crate) fn cleaning_mode(
    machine: &str,
    mode: &str,
) -> Result<AutomatedCleaningMode, SelectError> {
    match mode {
        "metadata" => Ok(AutomatedCleaningMode::Metadata),
        "disabled" => Ok(AutomatedCleaningMode::Disabled),
        _ => Err(SelectError::InvalidCleaningMode {
            machine: machine.to_string(),
            value: mode.to_string(),
        }),
    }
}

/// `metal3://<m3m-namespace>/<bmh-name>/<m3m-name>` from the host annotation,
/// whose namespace part must be the Metal3Machine's.
pub fn provider_id(m3m: &Metal3Machine) -> Result<String, SelectError> {
    let value = m3m
        .metadata
        .annotations
        .get(HOST_ANNOTATION)
        .cloned()
        .unwrap_or_default();
    let bad = || SelectError::BadHostAnnotation {
        machine: m3m.metadata.name.clone(),
        value: value.clone(),
    };
    let (ns, bmh) = value.split_once('/').ok_or_else(bad)?;
    if ns != m3m.metadata.namespace || bmh.is_empty() || bmh.contains('/') {
        return Err(bad());
    }
    Ok(format!(
        "{PROVIDER_ID_PREFIX}{ns}/{bmh}/{}",
        m3m.metadata.name
    ))
}

/// The host the `metal3.io/BareMetalHost` annotation points to, if it exists in
/// `hosts` (Associate step 1 uses it before choosing a new one).
pub fn annotated_host(m3m: &Metal3Machine, hosts: &[BareMetalHost]) -> Option<usize> {
    let value = m3m.metadata.annotations.get(HOST_ANNOTATION)?;
    let (ns, name) = value.split_once('/')?;
    hosts
        .iter()
        .position(|h| h.metadata.namespace == ns && h.metadata.name == name)
}

/// Addresses CAPM3 publishes on the Metal3Machine: one `InternalIP` per NIC with
/// an IP, then `Hostname` and `InternalDNS` from the hardware hostname.
pub fn machine_addresses(host: &BareMetalHost) -> Vec<serde_json::Value> {
    let mut out = Vec::new();
    let Some(hw) = host.status.as_ref().and_then(|s| s.hardware.as_ref()) else {
        return out;
    };
    for nic in hw.nics.iter().filter(|n| !n.ip.is_empty()) {
        out.push(serde_json::json!({"type": "InternalIP", "address": nic.ip}));
    }
    if !hw.hostname.is_empty() {
        out.push(serde_json::json!({"type": "Hostname", "address": hw.hostname}));
        out.push(serde_json::json!({"type": "InternalDNS", "address": hw.hostname}));
    }
    out
}

/// Outcome of one [`dissociate`] pass over the host of a deleted Metal3Machine.
#[derive(Debug, Clone, PartialEq)]
pub enum Dissociation {
    /// Host spec cleared; patch it and reconcile again immediately.
    Patched(BareMetalHost),
    /// Host still deprovisioning; reconcile again in 30s.
    Wait,
    /// Host released (or not ours); patch it and drop the Metal3Machine finalizer.
    /// Node reuse ([`crate::lifecycle::mark_for_reuse`]) applies to this host.
    Done(BareMetalHost),
}

/// `Delete` step 2 on the BareMetalHost: clear what the machine set, pick the
/// power state, wait out deprovisioning, then release the host.
/// `fast_track` is the manager's `CAPM3_FAST_TRACK == "true"`.
pub fn dissociate(
    host: &BareMetalHost,
    m3m: &Metal3Machine,
    cluster_name: &str,
    fast_track: bool,
) -> Dissociation {
    let mut h = host.clone();
    if !h
        .spec
        .consumer_ref
        .as_ref()
        .is_some_and(|r| consumer_ref_matches(r, m3m))
    {
        return Dissociation::Done(h);
    }
    let status = m3m.status.clone().unwrap_or_default();
    h.spec.image = None;
    h.spec.custom_deploy = None;
    if status.user_data.is_some() {
        h.spec.user_data = None;
    }
    if status.meta_data.is_some() {
        h.spec.meta_data = None;
    }
    if status.network_data.is_some() {
        h.spec.network_data = None;
    }
    // Fast track keeps the host powered on (agent stays booted) unless cleaning is off.
    h.spec.online = h.spec.power_off_disabled()
        || (fast_track && h.spec.automated_cleaning_mode != Some(AutomatedCleaningMode::Disabled));
    if &h != host {
        return Dissociation::Patched(h);
    }
    let (state, powered_on) = h
        .status
        .as_ref()
        .map_or((ProvisioningState::None, false), |s| {
            (s.provisioning.state, s.powered_on)
        });
    let busy = match state {
        ProvisioningState::Preparing
        | ProvisioningState::Provisioning
        | ProvisioningState::Provisioned
        | ProvisioningState::Deprovisioning
        | ProvisioningState::PoweringOffBeforeDelete
        | ProvisioningState::Deleting => true,
        ProvisioningState::ExternallyProvisioned => powered_on,
        _ => false,
    };
    if busy {
        return Dissociation::Wait;
    }
    h.spec.consumer_ref = None;
    if h.metadata
        .labels
        .get(CLUSTER_NAME_LABEL)
        .map(String::as_str)
        == Some(cluster_name)
    {
        h.metadata.labels.remove(CLUSTER_NAME_LABEL);
    }
    if h.metadata
        .annotations
        .get(PAUSED_ANNOTATION)
        .map(String::as_str)
        == Some(crate::lifecycle::CAPM3_PAUSE_VALUE)
    {
        h.metadata.annotations.remove(PAUSED_ANNOTATION);
    }
    Dissociation::Done(h)
}
