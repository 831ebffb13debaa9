//! `infrastructure.cluster.x-k8s.io` CAPM3 kinds and the minimal CAPI core
//! kinds (`Cluster`, `Machine`) the mapping reads.
//!
//! Where v1beta2 renamed a JSON field, both names are separate `Option`
//! fields: whichever the input used is the one written back, so a document
//! round-trips in its own version. Accessor methods merge the two for the
//! algorithms. Shapes that changed type (failure domains, template indexes,
//! bond parameters) are untagged enums for the same reason.

use std::collections::BTreeMap;

use metal3_hostmodel::{CustomDeploy, ObjectMeta, ObjectReference, SecretReference, Time};
use metal3_ipam::TypedLocalReference;
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// API group of the CAPM3 kinds.
pub const GROUP: &str = "infrastructure.cluster.x-k8s.io";
/// `apiVersion` of v1beta1 CAPM3 objects.
pub const V1BETA1: &str = "infrastructure.cluster.x-k8s.io/v1beta1";
/// `apiVersion` of v1beta2 CAPM3 objects.
pub const V1BETA2: &str = "infrastructure.cluster.x-k8s.io/v1beta2";

/// Declares a top-level kind with `apiVersion`, `kind`, `metadata`, `spec`, `status`.
macro_rules! kind {
    ($(#[$doc:meta])* $name:ident, $spec:ty, $status:ty) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
        #[serde(rename_all = "camelCase")]
        pub struct $name {
            /// `group/version` the document was written in.
            #[serde(default)]
            pub api_version: String,
            /// Kind name.
            #[serde(default)]
            pub kind: String,
            /// Object metadata.
            #[serde(default)]
            pub metadata: ObjectMeta,
            /// Desired state.
            #[serde(default)]
            pub spec: $spec,
            /// Observed state.
            #[serde(default, skip_serializing_if = "Option::is_none")]
            pub status: Option<$status>,
        }

        impl $name {
            /// True when the document uses the v1beta2 API version.
            pub fn is_v1beta2(&self) -> bool {
                self.api_version.ends_with("/v1beta2")
            }
        }
    };
}

// ---------------------------------------------------------------- common

/// `host` + `port` of the control-plane endpoint.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ApiEndpoint {
    /// Host name or address.
    #[serde(default)]
    pub host: String,
    /// TCP port.
    #[serde(default)]
    pub port: i64,
}

/// Label selector for BareMetalHosts.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct HostSelector {
    /// Exact label matches.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub match_labels: Option<BTreeMap<String, String>>,
    /// Set-based requirements.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub match_expressions: Option<Vec<HostSelectorRequirement>>,
}

/// One `matchExpressions` entry.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct HostSelectorRequirement {
    /// Label key.
    pub key: String,
    /// Selection operator (any case; lower-cased before use).
    pub operator: String,
    /// Values for set operators.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub values: Option<Vec<String>>,
}

/// OS image of a Metal3Machine (`format` in v1beta1, `diskFormat` in v1beta2).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Image {
    /// Image URL.
    #[serde(default)]
    pub url: String,
    /// Checksum or checksum URL.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub checksum: Option<String>,
    /// `md5`, `sha256` or `sha512`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub checksum_type: Option<String>,
    /// v1beta1 disk format.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub format: Option<String>,
    /// v1beta2 disk format.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub disk_format: Option<String>,
}

impl Image {
    /// Disk format from whichever version's field is set.
    pub fn disk_format(&self) -> Option<&str> {
        self.disk_format.as_deref().or(self.format.as_deref())
    }
}

/// Status shared by CAPM3 kinds: both v1beta1 and v1beta2 layouts.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Initialization {
    /// Infrastructure is provisioned (v1beta2 replacement of `ready`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub provisioned: Option<bool>,
}

// ---------------------------------------------------------------- Metal3Cluster

/// Failure domain attributes (v1beta1 map value).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct FailureDomainSpec {
    /// Suitable for control-plane machines.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub control_plane: Option<bool>,
    /// Free-form attributes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub attributes: Option<BTreeMap<String, String>>,
}

/// Failure domain (v1beta2 list item).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct FailureDomain {
    /// Name.
    pub name: String,
    /// Suitable for control-plane machines.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub control_plane: Option<bool>,
    /// Free-form attributes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub attributes: Option<BTreeMap<String, String>>,
}

/// `failureDomains`: a map in v1beta1, a list in v1beta2.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum FailureDomains {
    /// v1beta1 map name -> spec.
    Map(BTreeMap<String, FailureDomainSpec>),
    /// v1beta2 list.
    List(Vec<FailureDomain>),
}

/// `Metal3Cluster.spec`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Metal3ClusterSpec {
    /// API server endpoint.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub control_plane_endpoint: Option<ApiEndpoint>,
    /// Deprecated v1beta1 negation of `cloudProviderEnabled`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub no_cloud_provider: Option<bool>,
    /// A cloud provider sets node provider IDs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cloud_provider_enabled: Option<bool>,
    /// Failure domains.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failure_domains: Option<FailureDomains>,
}

/// Status of Metal3Cluster / Metal3Machine (v1beta1 and v1beta2 fields).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Metal3ClusterStatus {
    /// Last status update.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_updated: Option<Time>,
    /// v1beta1 terminal failure reason.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failure_reason: Option<String>,
    /// v1beta1 terminal failure message.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failure_message: Option<String>,
    /// v1beta1 readiness.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ready: Option<bool>,
    /// Conditions (CAPI v1beta1 or metav1 depending on version).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub conditions: Option<Vec<Value>>,
    /// v1beta1-era `v1beta2.conditions` block.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub v1beta2: Option<Value>,
    /// v1beta2 `initialization.provisioned`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub initialization: Option<Initialization>,
    /// v1beta2 `deprecated.v1beta1.*`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deprecated: Option<Value>,
    /// Failure domains.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failure_domains: Option<FailureDomains>,
}

kind!(
    /// `Metal3Cluster`.
    Metal3Cluster,
    Metal3ClusterSpec,
    Metal3ClusterStatus
);

/// `Metal3ClusterTemplate.spec.template`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Metal3ClusterTemplateResource {
    /// v1beta2 template metadata.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metadata: Option<ObjectMeta>,
    /// Cluster spec to stamp out.
    #[serde(default)]
    pub spec: Metal3ClusterSpec,
}

/// `Metal3ClusterTemplate.spec`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Metal3ClusterTemplateSpec {
    /// The template.
    #[serde(default)]
    pub template: Metal3ClusterTemplateResource,
}

kind!(
    /// `Metal3ClusterTemplate`.
    Metal3ClusterTemplate,
    Metal3ClusterTemplateSpec,
    Value
);

// ---------------------------------------------------------------- Metal3Machine

/// `Metal3Machine.spec`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Metal3MachineSpec {
    /// `metal3://<namespace>/<bmh>/<m3m>`.
    #[serde(
        default,
        rename = "providerID",
        skip_serializing_if = "Option::is_none"
    )]
    pub provider_id: Option<String>,
    /// OS image.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image: Option<Image>,
    /// Alternative to `image`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub custom_deploy: Option<CustomDeploy>,
    /// Overrides the bootstrap secret.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_data: Option<SecretReference>,
    /// BareMetalHost label selector.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub host_selector: Option<HostSelector>,
    /// Metal3DataTemplate rendering metaData / networkData.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub data_template: Option<ObjectReference>,
    /// User-provided metadata secret.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub meta_data: Option<SecretReference>,
    /// User-provided network data secret.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub network_data: Option<SecretReference>,
    /// `metadata` or `disabled`, pushed to the host.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub automated_cleaning_mode: Option<String>,
    /// Copied from the CAPI Machine.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failure_domain: Option<String>,
}

/// `Metal3Machine.status`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Metal3MachineStatus {
    /// Last status update.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_updated: Option<Time>,
    /// v1beta1 terminal failure reason.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failure_reason: Option<String>,
    /// v1beta1 terminal failure message.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failure_message: Option<String>,
    /// Addresses of the host (`{type, address}`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub addresses: Option<Vec<Value>>,
    /// Unused phase.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub phase: Option<String>,
    /// v1beta1 readiness.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ready: Option<bool>,
    /// User data secret in use.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_data: Option<SecretReference>,
    /// The Metal3Data rendered for this machine.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rendered_data: Option<ObjectReference>,
    /// Metadata secret in use.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub meta_data: Option<SecretReference>,
    /// Network data secret in use.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub network_data: Option<SecretReference>,
    /// Conditions.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub conditions: Option<Vec<Value>>,
    /// v1beta1-era `v1beta2.conditions`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub v1beta2: Option<Value>,
    /// v1beta2 `initialization.provisioned`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub initialization: Option<Initialization>,
    /// v1beta2 `deprecated.v1beta1.*`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deprecated: Option<Value>,
}

kind!(
    /// `Metal3Machine`.
    Metal3Machine,
    Metal3MachineSpec,
    Metal3MachineStatus
);

/// `Metal3MachineTemplate.spec.template`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Metal3MachineTemplateResource {
    /// v1beta2 template metadata.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metadata: Option<ObjectMeta>,
    /// Machine spec to stamp out.
    #[serde(default)]
    pub spec: Metal3MachineSpec,
}

/// `Metal3MachineTemplate.spec`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Metal3MachineTemplateSpec {
    /// The template.
    #[serde(default)]
    pub template: Metal3MachineTemplateResource,
    /// Keep hosts for the same KCP / MachineDeployment on scale-down.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub node_reuse: Option<bool>,
}

kind!(
    /// `Metal3MachineTemplate`.
    Metal3MachineTemplate,
    Metal3MachineTemplateSpec,
    Value
);

// ---------------------------------------------------------------- Metal3DataTemplate

/// metaData `strings` item.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct MetaDataString {
    /// Metadata key.
    pub key: String,
    /// Literal value.
    #[serde(default)]
    pub value: String,
}

/// metaData `objectNames` item.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct MetaDataObjectName {
    /// Metadata key.
    pub key: String,
    /// `machine`, `metal3machine` or `baremetalhost`.
    pub object: String,
}

/// metaData `indexes` item.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct MetaDataIndex {
    /// Metadata key.
    pub key: String,
    /// Added to the scaled index (default 0).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub offset: Option<i64>,
    /// Index multiplier (default 1; 0 means 1).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub step: Option<i64>,
    /// Text before the number.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prefix: Option<String>,
    /// Text after the number.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub suffix: Option<String>,
}

/// metaData `namespaces` item.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct MetaDataNamespace {
    /// Metadata key.
    pub key: String,
}

/// metaData `*FromIPPool` / `*FromPool` item.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct FromPool {
    /// Metadata key.
    pub key: String,
    /// Pool name.
    pub name: String,
    /// Pool API group (empty = `ipam.metal3.io`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub api_group: Option<String>,
    /// Pool kind (empty = `IPPool`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
}

/// metaData `fromHostInterfaces` item.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct MetaDataHostInterface {
    /// Metadata key.
    pub key: String,
    /// BareMetalHost NIC name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub interface: Option<String>,
    /// Use the host's `spec.bootMACAddress` instead.
    #[serde(
        default,
        rename = "fromBootMAC",
        skip_serializing_if = "Option::is_none"
    )]
    pub from_boot_mac: Option<bool>,
}

/// metaData `fromLabels` item.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct MetaDataFromLabel {
    /// Metadata key.
    pub key: String,
    /// `machine`, `metal3machine` or `baremetalhost`.
    pub object: String,
    /// Label key to read.
    pub label: String,
}

/// metaData `fromAnnotations` item.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct MetaDataFromAnnotation {
    /// Metadata key.
    pub key: String,
    /// `machine`, `metal3machine` or `baremetalhost`.
    pub object: String,
    /// Annotation key to read.
    pub annotation: String,
}

/// `Metal3DataTemplate.spec.metaData`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct MetaData {
    /// Literal strings.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub strings: Option<Vec<MetaDataString>>,
    /// Object names.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub object_names: Option<Vec<MetaDataObjectName>>,
    /// Values derived from the Metal3Data index.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub indexes: Option<Vec<MetaDataIndex>>,
    /// The Metal3Data namespace.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespaces: Option<Vec<MetaDataNamespace>>,
    /// v1beta1 `ipAddressesFromIPPool`.
    #[serde(
        default,
        rename = "ipAddressesFromIPPool",
        skip_serializing_if = "Option::is_none"
    )]
    pub ip_addresses_from_ippool: Option<Vec<FromPool>>,
    /// v1beta2 `ipAddressesFromPool`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ip_addresses_from_pool: Option<Vec<FromPool>>,
    /// v1beta1 `prefixesFromIPPool`.
    #[serde(
        default,
        rename = "prefixesFromIPPool",
        skip_serializing_if = "Option::is_none"
    )]
    pub prefixes_from_ippool: Option<Vec<FromPool>>,
    /// v1beta2 `prefixesFromPool`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prefixes_from_pool: Option<Vec<FromPool>>,
    /// v1beta1 `gatewaysFromIPPool`.
    #[serde(
        default,
        rename = "gatewaysFromIPPool",
        skip_serializing_if = "Option::is_none"
    )]
    pub gateways_from_ippool: Option<Vec<FromPool>>,
    /// v1beta2 `gatewaysFromPool`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gateways_from_pool: Option<Vec<FromPool>>,
    /// v1beta1 `dnsServersFromIPPool`.
    #[serde(
        default,
        rename = "dnsServersFromIPPool",
        skip_serializing_if = "Option::is_none"
    )]
    pub dns_servers_from_ippool: Option<Vec<FromPool>>,
    /// v1beta2 `dnsServersFromPool`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dns_servers_from_pool: Option<Vec<FromPool>>,
    /// MACs of host interfaces.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub from_host_interfaces: Option<Vec<MetaDataHostInterface>>,
    /// Label values.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub from_labels: Option<Vec<MetaDataFromLabel>>,
    /// Annotation values.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub from_annotations: Option<Vec<MetaDataFromAnnotation>>,
}

/// Both spellings of one renamed list, v1beta1 entries first.
fn both<'a, T>(a: &'a Option<Vec<T>>, b: &'a Option<Vec<T>>) -> impl Iterator<Item = &'a T> {
    a.iter().flatten().chain(b.iter().flatten())
}

impl MetaData {
    /// `ipAddressesFromIPPool` and `ipAddressesFromPool` entries.
    pub fn ip_addresses(&self) -> impl Iterator<Item = &FromPool> {
        both(&self.ip_addresses_from_ippool, &self.ip_addresses_from_pool)
    }
    /// `prefixesFromIPPool` and `prefixesFromPool` entries.
    pub fn prefixes(&self) -> impl Iterator<Item = &FromPool> {
        both(&self.prefixes_from_ippool, &self.prefixes_from_pool)
    }
    /// `gatewaysFromIPPool` and `gatewaysFromPool` entries.
    pub fn gateways(&self) -> impl Iterator<Item = &FromPool> {
        both(&self.gateways_from_ippool, &self.gateways_from_pool)
    }
    /// `dnsServersFromIPPool` and `dnsServersFromPool` entries.
    pub fn dns_servers(&self) -> impl Iterator<Item = &FromPool> {
        both(&self.dns_servers_from_ippool, &self.dns_servers_from_pool)
    }
}

/// `{object, annotation}` source.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct FromAnnotation {
    /// `machine`, `metal3machine` or `baremetalhost`.
    pub object: String,
    /// Annotation key.
    pub annotation: String,
}

/// Link MAC address source.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct MacAddress {
    /// Literal MAC.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub string: Option<String>,
    /// BareMetalHost NIC name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub from_host_interface: Option<String>,
    /// Annotation holding the MAC.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub from_annotation: Option<FromAnnotation>,
}

/// links `ethernets` item.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LinkEthernet {
    /// `phy`, `bridge`, ...
    #[serde(rename = "type")]
    pub type_: String,
    /// Link id.
    pub id: String,
    /// Kernel name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// MTU (default 1500).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mtu: Option<i64>,
    /// MAC source.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mac_address: Option<MacAddress>,
}

/// v1beta2 bond parameter.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct BondParameter {
    /// Parameter name (`bond_<name>` in the output).
    pub name: String,
    /// Any JSON value.
    pub value: Value,
}

/// Bond `parameters`: a map in v1beta1, a list in v1beta2.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum BondParameters {
    /// v1beta1 map.
    Map(BTreeMap<String, Value>),
    /// v1beta2 list.
    List(Vec<BondParameter>),
}

/// links `bonds` item.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LinkBond {
    /// Bond mode.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bond_mode: Option<String>,
    /// Transmit hash policy.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bond_xmit_hash_policy: Option<String>,
    /// Link id.
    pub id: String,
    /// Kernel name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// MTU (default 1500).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mtu: Option<i64>,
    /// MAC source.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mac_address: Option<MacAddress>,
    /// Extra `bond_<name>` keys.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parameters: Option<BondParameters>,
    /// Member link ids.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bond_links: Option<Vec<String>>,
}

/// links `vlans` item.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LinkVlan {
    /// VLAN id.
    #[serde(default, rename = "vlanID", skip_serializing_if = "Option::is_none")]
    pub vlan_id: Option<i64>,
    /// Link id.
    pub id: String,
    /// Kernel name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// MTU (default 1500).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mtu: Option<i64>,
    /// MAC source.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mac_address: Option<MacAddress>,
    /// Parent link id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub vlan_link: Option<String>,
}

/// networkData `links`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Links {
    /// Ethernet links.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ethernets: Option<Vec<LinkEthernet>>,
    /// Bonds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bonds: Option<Vec<LinkBond>>,
    /// VLANs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub vlans: Option<Vec<LinkVlan>>,
}

/// Route gateway source.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RouteGateway {
    /// Literal gateway (wins over pools).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub string: Option<String>,
    /// metal3 IPPool name.
    #[serde(
        default,
        rename = "fromIPPool",
        skip_serializing_if = "Option::is_none"
    )]
    pub from_ippool: Option<String>,
    /// Typed pool reference.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub from_pool_ref: Option<TypedLocalReference>,
    /// Annotation naming the pool.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub from_pool_annotation: Option<FromAnnotation>,
}

/// DNS services (route-level or top-level).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Services {
    /// Literal DNS servers.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dns: Option<Vec<String>>,
    /// Pool whose DNS servers are appended.
    #[serde(
        default,
        rename = "dnsFromIPPool",
        skip_serializing_if = "Option::is_none"
    )]
    pub dns_from_ippool: Option<String>,
}

/// A route.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Route {
    /// Destination network, verbatim.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub network: Option<String>,
    /// Destination prefix length.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prefix: Option<i64>,
    /// Gateway.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gateway: Option<RouteGateway>,
    /// DNS servers for the route.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub services: Option<Services>,
}

/// networks `ipv4` / `ipv6` item.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct NetworkStatic {
    /// Network id.
    pub id: String,
    /// Link id.
    pub link: String,
    /// metal3 IPPool name.
    #[serde(
        default,
        rename = "ipAddressFromIPPool",
        skip_serializing_if = "Option::is_none"
    )]
    pub ip_address_from_ippool: Option<String>,
    /// Typed pool reference.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub from_pool_ref: Option<TypedLocalReference>,
    /// Annotation naming the pool.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub from_pool_annotation: Option<FromAnnotation>,
    /// Routes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub routes: Option<Vec<Route>>,
}

/// networks `ipv4DHCP` / `ipv6DHCP` / `ipv6SLAAC` item.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct NetworkDynamic {
    /// Network id.
    pub id: String,
    /// Link id.
    pub link: String,
    /// Routes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub routes: Option<Vec<Route>>,
}

/// networkData `networks`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Networks {
    /// Static IPv4.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ipv4: Option<Vec<NetworkStatic>>,
    /// Static IPv6.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ipv6: Option<Vec<NetworkStatic>>,
    /// DHCPv4.
    #[serde(default, rename = "ipv4DHCP", skip_serializing_if = "Option::is_none")]
    pub ipv4_dhcp: Option<Vec<NetworkDynamic>>,
    /// DHCPv6.
    #[serde(default, rename = "ipv6DHCP", skip_serializing_if = "Option::is_none")]
    pub ipv6_dhcp: Option<Vec<NetworkDynamic>>,
    /// SLAAC.
    #[serde(default, rename = "ipv6SLAAC", skip_serializing_if = "Option::is_none")]
    pub ipv6_slaac: Option<Vec<NetworkDynamic>>,
}

/// `Metal3DataTemplate.spec.networkData`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct NetworkData {
    /// Links.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub links: Option<Links>,
    /// Networks.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub networks: Option<Networks>,
    /// Services.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub services: Option<Services>,
}

/// `Metal3DataTemplate.spec`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Metal3DataTemplateSpec {
    /// Owning cluster (deprecated in later versions).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cluster_name: Option<String>,
    /// v1beta1-only deprecated reference.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub template_reference: Option<String>,
    /// metaData template.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub meta_data: Option<MetaData>,
    /// networkData template.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub network_data: Option<NetworkData>,
}

/// v1beta2 `status.indexes` item.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct IndexEntry {
    /// Claim name.
    pub name: String,
    /// Index.
    pub index: i64,
}

/// `status.indexes`: map claim -> index (v1beta1) or list (v1beta2).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Indexes {
    /// v1beta1 map.
    Map(BTreeMap<String, i64>),
    /// v1beta2 list sorted by index.
    List(Vec<IndexEntry>),
}

/// `Metal3DataTemplate.status`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Metal3DataTemplateStatus {
    /// Last index rebuild.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_updated: Option<Time>,
    /// Claims and their indexes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub indexes: Option<Indexes>,
}

kind!(
    /// `Metal3DataTemplate`.
    Metal3DataTemplate,
    Metal3DataTemplateSpec,
    Metal3DataTemplateStatus
);

// ---------------------------------------------------------------- Metal3DataClaim / Metal3Data

/// `Metal3DataClaim.spec`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Metal3DataClaimSpec {
    /// The Metal3DataTemplate.
    #[serde(default)]
    pub template: ObjectReference,
}

/// `Metal3DataClaim.status`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Metal3DataClaimStatus {
    /// The Metal3Data produced.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rendered_data: Option<ObjectReference>,
    /// Error text.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error_message: Option<String>,
}

kind!(
    /// `Metal3DataClaim`.
    Metal3DataClaim,
    Metal3DataClaimSpec,
    Metal3DataClaimStatus
);

/// `Metal3Data.spec`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Metal3DataSpec {
    /// Index within the template.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub index: Option<i64>,
    /// v1beta1 deprecated reference.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub template_reference: Option<String>,
    /// Rendered metadata secret.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub meta_data: Option<SecretReference>,
    /// Rendered network data secret.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub network_data: Option<SecretReference>,
    /// The Metal3DataClaim.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub claim: Option<ObjectReference>,
    /// The Metal3DataTemplate.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub template: Option<ObjectReference>,
}

/// `Metal3Data.status`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Metal3DataStatus {
    /// Secrets rendered.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ready: Option<bool>,
    /// Error text.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error_message: Option<String>,
}

kind!(
    /// `Metal3Data`.
    Metal3Data,
    Metal3DataSpec,
    Metal3DataStatus
);

// ---------------------------------------------------------------- Metal3Remediation

/// Remediation strategy (`timeout` in v1beta1, `timeoutSeconds` in v1beta2).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RemediationStrategy {
    /// Only `Reboot`.
    #[serde(default, rename = "type", skip_serializing_if = "Option::is_none")]
    pub type_: Option<String>,
    /// Extra attempts after the first.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retry_limit: Option<i64>,
    /// v1beta1 Go duration string, e.g. `5m0s`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout: Option<String>,
    /// v1beta2 seconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout_seconds: Option<i64>,
}

/// `Metal3Remediation.spec`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Metal3RemediationSpec {
    /// Strategy.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub strategy: Option<RemediationStrategy>,
}

/// `Metal3Remediation.status`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Metal3RemediationStatus {
    /// `Running`, `Waiting`, `Deleting machine`, `Failed`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub phase: Option<String>,
    /// Reboots retried so far.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retry_count: Option<i64>,
    /// Start of the current attempt.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_remediated: Option<Time>,
}

kind!(
    /// `Metal3Remediation`.
    Metal3Remediation,
    Metal3RemediationSpec,
    Metal3RemediationStatus
);

/// `Metal3RemediationTemplate.spec.template`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Metal3RemediationTemplateResource {
    /// Remediation spec to stamp out.
    #[serde(default)]
    pub spec: Metal3RemediationSpec,
}

/// `Metal3RemediationTemplate.spec`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Metal3RemediationTemplateSpec {
    /// The template.
    #[serde(default)]
    pub template: Metal3RemediationTemplateResource,
}

/// `Metal3RemediationTemplate.status`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Metal3RemediationTemplateStatus {
    /// A remediation status.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<Metal3RemediationStatus>,
}

kind!(
    /// `Metal3RemediationTemplate`.
    Metal3RemediationTemplate,
    Metal3RemediationTemplateSpec,
    Metal3RemediationTemplateStatus
);

// ---------------------------------------------------------------- CAPI core (minimal)

/// `Cluster.spec`: the fields the mapping reads; the rest kept verbatim.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ClusterSpec {
    /// Reconciliation paused (pause/move).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub paused: Option<bool>,
    /// The Metal3Cluster.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub infrastructure_ref: Option<ObjectReference>,
    /// Fields this crate does not interpret.
    #[serde(flatten)]
    pub other: BTreeMap<String, Value>,
}

kind!(
    /// CAPI `Cluster` (minimal).
    Cluster,
    ClusterSpec,
    Value
);

/// `Machine.spec.bootstrap`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Bootstrap {
    /// Bootstrap config object.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub config_ref: Option<ObjectReference>,
    /// Secret holding the rendered user data.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub data_secret_name: Option<String>,
}

/// `Machine.spec`: the fields the mapping reads; the rest kept verbatim.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct MachineSpec {
    /// Owning cluster name.
    #[serde(default)]
    pub cluster_name: String,
    /// Bootstrap data.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bootstrap: Option<Bootstrap>,
    /// The Metal3Machine.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub infrastructure_ref: Option<ObjectReference>,
    /// Failure domain copied to the Metal3Machine.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failure_domain: Option<String>,
    /// Fields this crate does not interpret.
    #[serde(flatten)]
    pub other: BTreeMap<String, Value>,
}

/// `Machine.status`: node reference; the rest kept verbatim.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct MachineStatus {
    /// The workload-cluster Node.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub node_ref: Option<ObjectReference>,
    /// Fields this crate does not interpret.
    #[serde(flatten)]
    pub other: BTreeMap<String, Value>,
}

kind!(
    /// CAPI `Machine` (minimal).
    Machine,
    MachineSpec,
    MachineStatus
);

/// Any CAPM3 object this crate models, dispatched on `kind`.
#[derive(Debug, Clone, PartialEq)]
pub enum Capm3Object {
    /// Metal3Cluster.
    Metal3Cluster(Metal3Cluster),
    /// Metal3ClusterTemplate.
    Metal3ClusterTemplate(Metal3ClusterTemplate),
    /// Metal3Machine.
    Metal3Machine(Metal3Machine),
    /// Metal3MachineTemplate.
    Metal3MachineTemplate(Metal3MachineTemplate),
    /// Metal3DataTemplate.
    Metal3DataTemplate(Metal3DataTemplate),
    /// Metal3Data.
    Metal3Data(Metal3Data),
    /// Metal3DataClaim.
    Metal3DataClaim(Metal3DataClaim),
    /// Metal3Remediation.
    Metal3Remediation(Metal3Remediation),
    /// Metal3RemediationTemplate.
    Metal3RemediationTemplate(Metal3RemediationTemplate),
}

/// A document that could not be decoded as a CAPM3 object.
#[derive(Debug, thiserror::Error)]
pub enum DecodeError {
    /// `kind` is not one of the CAPM3 kinds.
    #[error("kind {kind:?} of {name:?} is not a CAPM3 kind")]
    UnknownKind {
        /// Document kind.
        kind: String,
        /// metadata.name.
        name: String,
    },
    /// The document does not match the kind's schema.
    #[error("{kind} {name:?}: field {path}: {message}")]
    Schema {
        /// Document kind.
        kind: String,
        /// metadata.name.
        name: String,
        /// Path of the offending field, e.g. `spec.hostSelector.matchExpressions`.
        path: String,
        /// serde's message.
        message: String,
    },
}

/// `serde_json::from_value` that remembers the path of a failing field.
fn decode<T: serde::de::DeserializeOwned>(
    v: Value,
) -> Result<T, serde_path_to_error::Error<serde_json::Error>> {
    serde_path_to_error::deserialize(v)
}

impl Capm3Object {
    /// Decodes a JSON document by its `kind`.
    pub fn from_value(v: Value) -> Result<Self, DecodeError> {
        let kind = v
            .get("kind")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string();
        let name = v
            .pointer("/metadata/name")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string();
        let wrap = |e: serde_path_to_error::Error<serde_json::Error>| DecodeError::Schema {
            kind: kind.clone(),
            name: name.clone(),
            path: e.path().to_string(),
            message: e.inner().to_string(),
        };
        Ok(match kind.as_str() {
            "Metal3Cluster" => Self::Metal3Cluster(decode(v).map_err(wrap)?),
            "Metal3ClusterTemplate" => Self::Metal3ClusterTemplate(decode(v).map_err(wrap)?),
            "Metal3Machine" => Self::Metal3Machine(decode(v).map_err(wrap)?),
            "Metal3MachineTemplate" => Self::Metal3MachineTemplate(decode(v).map_err(wrap)?),
            "Metal3DataTemplate" => Self::Metal3DataTemplate(decode(v).map_err(wrap)?),
            "Metal3Data" => Self::Metal3Data(decode(v).map_err(wrap)?),
            "Metal3DataClaim" => Self::Metal3DataClaim(decode(v).map_err(wrap)?),
            "Metal3Remediation" => Self::Metal3Remediation(decode(v).map_err(wrap)?),
            "Metal3RemediationTemplate" => {
                Self::Metal3RemediationTemplate(decode(v).map_err(wrap)?)
            }
            _ => return Err(DecodeError::UnknownKind { kind, name }),
        })
    }

    /// Encodes back to JSON.
    pub fn to_value(&self) -> Result<Value, serde_json::Error> {
        match self {
            Self::Metal3Cluster(o) => serde_json::to_value(o),
            Self::Metal3ClusterTemplate(o) => serde_json::to_value(o),
            Self::Metal3Machine(o) => serde_json::to_value(o),
            Self::Metal3MachineTemplate(o) => serde_json::to_value(o),
            Self::Metal3DataTemplate(o) => serde_json::to_value(o),
            Self::Metal3Data(o) => serde_json::to_value(o),
            Self::Metal3DataClaim(o) => serde_json::to_value(o),
            Self::Metal3Remediation(o) => serde_json::to_value(o),
            Self::Metal3RemediationTemplate(o) => serde_json::to_value(o),
        }
    }
}
