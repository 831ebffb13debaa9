//! One entry point for any BMC: the address decides the protocol.

use crate::address::{BmcAddress, Protocol};
use crate::credentials::Credentials;
use crate::error::BmcError;
use crate::ipmi::{IpmiClient, IpmiOptions};
use crate::ops::{BootOverride, PowerAction, PowerBootControl, PowerState};
use crate::redfish::{RedfishClient, RedfishOptions};

/// Settings for both protocols; only the one the address selects is used.
#[derive(Debug, Clone, Default)]
pub struct ConnectOptions {
    /// Redfish settings (TLS, timeouts, concurrency).
    pub redfish: RedfishOptions,
    /// IPMI settings (cipher suite, retransmission).
    pub ipmi: IpmiOptions,
}

/// A connected BMC of either protocol.
pub enum Bmc {
    /// Redfish over HTTP(S).
    Redfish(RedfishClient),
    /// IPMI over LAN.
    Ipmi(IpmiClient),
}

impl Bmc {
    /// Connects with the client the address's driver calls for.
    pub async fn connect(
        address: &BmcAddress,
        credentials: &Credentials,
        options: ConnectOptions,
    ) -> Result<Bmc, BmcError> {
        match address.protocol() {
            Protocol::Redfish => RedfishClient::connect(address, credentials, options.redfish)
                .await
                .map(Bmc::Redfish),
            Protocol::Ipmi => IpmiClient::connect(address, credentials, options.ipmi)
                .await
                .map(Bmc::Ipmi),
        }
    }

    /// Ends the session (Redfish logout, IPMI Close Session) and reports how that went.
    pub async fn close(self) -> Result<(), BmcError> {
        match self {
            Bmc::Redfish(r) => {
                r.close().await;
                Ok(())
            }
            Bmc::Ipmi(i) => i.close().await,
        }
    }

    /// The Redfish client, or a "not supported over IPMI" error for `operation`.
    pub fn redfish(&self, operation: &str) -> Result<&RedfishClient, BmcError> {
        match self {
            Bmc::Redfish(r) => Ok(r),
            Bmc::Ipmi(i) => Err(BmcError::NotSupported {
                bmc: i.bmc().to_string(),
                operation: operation.to_string(),
                detail: "not supported over IPMI; use a Redfish address (redfish://, redfish-virtualmedia://, idrac-virtualmedia://, ...)".into(),
            }),
        }
    }

    /// The IPMI client, or a "needs an IPMI address" error for `operation`.
    pub fn ipmi(&self, operation: &str) -> Result<&IpmiClient, BmcError> {
        match self {
            Bmc::Ipmi(i) => Ok(i),
            Bmc::Redfish(r) => Err(BmcError::NotSupported {
                bmc: r.bmc_name(),
                operation: operation.to_string(),
                detail: "only available over IPMI; use an ipmi:// or host:port address".into(),
            }),
        }
    }
}

impl PowerBootControl for Bmc {
    fn bmc_name(&self) -> String {
        match self {
            Bmc::Redfish(r) => r.bmc_name(),
            Bmc::Ipmi(i) => i.bmc_name(),
        }
    }

    async fn power_state(&self) -> Result<PowerState, BmcError> {
        match self {
            Bmc::Redfish(r) => r.power_state().await,
            Bmc::Ipmi(i) => i.power_state().await,
        }
    }

    async fn set_power(&self, action: PowerAction) -> Result<(), BmcError> {
        match self {
            Bmc::Redfish(r) => r.set_power(action).await,
            Bmc::Ipmi(i) => i.set_power(action).await,
        }
    }

    async fn set_boot(&self, boot: &BootOverride) -> Result<(), BmcError> {
        match self {
            Bmc::Redfish(r) => r.set_boot(boot).await,
            Bmc::Ipmi(i) => i.set_boot(boot).await,
        }
    }

    async fn boot_override(&self) -> Result<BootOverride, BmcError> {
        match self {
            Bmc::Redfish(r) => r.boot_override().await,
            Bmc::Ipmi(i) => i.boot_override().await,
        }
    }
}
