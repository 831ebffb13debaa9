//! An [`IronicProvisioner`] that connects (negotiates the API version) on
//! first use, so it can be built outside an async runtime and an Ironic that
//! is not up yet only delays hosts (transient errors, retried) instead of
//! failing the program.

use std::sync::Arc;

use metal3_hostmodel::annotations::RebootMode;
use metal3_hostmodel::state::{ActionOutcome, CurrentFirmwareSettings, PrepareData};
use metal3_hostmodel::AutomatedCleaningMode;
use tokio::sync::OnceCell;

use super::client::{IronicClient, IronicConfig};
use super::provisioner::{IronicOptions, IronicProvisioner};
use crate::provisioner::{HostRef, Outcome, Provisioner};
use crate::store::{BoxFuture, Store};

/// Connects to Ironic on the first provisioner call; see the module docs.
pub struct LazyIronicProvisioner {
    config: IronicConfig,
    opts: IronicOptions,
    objects: Option<Arc<dyn Store>>,
    inner: OnceCell<IronicProvisioner>,
}

impl LazyIronicProvisioner {
    /// A provisioner for the Ironic `config` describes (not contacted yet).
    pub fn new(config: IronicConfig, opts: IronicOptions, objects: Option<Arc<dyn Store>>) -> Self {
        LazyIronicProvisioner {
            config,
            opts,
            objects,
            inner: OnceCell::new(),
        }
    }

    /// The connected provisioner, once a call has connected it.
    pub fn connected(&self) -> Option<&IronicProvisioner> {
        self.inner.get()
    }

    async fn get(&self) -> Result<&IronicProvisioner, Outcome> {
        self.inner
            .get_or_try_init(|| async {
                let client = IronicClient::connect(&self.config).await?;
                Ok::<_, super::IronicError>(IronicProvisioner::new(
                    client,
                    self.opts.clone(),
                    self.objects.clone(),
                ))
            })
            .await
            .map_err(|e| Outcome::error(e.to_string()))
    }
}

/// Delegates one trait method to the connected provisioner.
macro_rules! delegate {
    ($self:ident, $p:ident => $call:expr) => {
        Box::pin(async move {
            match $self.get().await {
                Ok($p) => $call.await,
                Err(o) => o,
            }
        })
    };
}

impl Provisioner for LazyIronicProvisioner {
    fn firmware_settings<'a>(
        &'a self,
        host: &'a HostRef<'a>,
    ) -> BoxFuture<'a, Result<CurrentFirmwareSettings, String>> {
        Box::pin(async move {
            match self.get().await {
                Ok(p) => p.firmware_settings(host).await,
                Err(o) => Err(match o.outcome {
                    ActionOutcome::Error { message, .. } | ActionOutcome::Failed { message } => {
                        message
                    }
                    other => format!("{other:?}"),
                }),
            }
        })
    }

    fn register<'a>(
        &'a self,
        host: &'a HostRef<'a>,
        credentials_changed: bool,
        restart_on_failure: bool,
    ) -> BoxFuture<'a, Outcome> {
        delegate!(self, p => p.register(host, credentials_changed, restart_on_failure))
    }

    fn inspect<'a>(
        &'a self,
        host: &'a HostRef<'a>,
        restart: bool,
        refresh: bool,
    ) -> BoxFuture<'a, Outcome> {
        delegate!(self, p => p.inspect(host, restart, refresh))
    }

    fn prepare<'a>(
        &'a self,
        host: &'a HostRef<'a>,
        data: &'a PrepareData,
    ) -> BoxFuture<'a, Outcome> {
        delegate!(self, p => p.prepare(host, data))
    }

    fn service<'a>(&'a self, host: &'a HostRef<'a>, restart: bool) -> BoxFuture<'a, Outcome> {
        delegate!(self, p => p.service(host, restart))
    }

    fn provision<'a>(
        &'a self,
        host: &'a HostRef<'a>,
        force_reboot: bool,
    ) -> BoxFuture<'a, Outcome> {
        delegate!(self, p => p.provision(host, force_reboot))
    }

    fn deprovision<'a>(
        &'a self,
        host: &'a HostRef<'a>,
        restart: bool,
        cleaning_mode: AutomatedCleaningMode,
    ) -> BoxFuture<'a, Outcome> {
        delegate!(self, p => p.deprovision(host, restart, cleaning_mode))
    }

    fn adopt<'a>(&'a self, host: &'a HostRef<'a>, restart: bool) -> BoxFuture<'a, Outcome> {
        delegate!(self, p => p.adopt(host, restart))
    }

    fn power_on<'a>(&'a self, host: &'a HostRef<'a>, force: bool) -> BoxFuture<'a, Outcome> {
        delegate!(self, p => p.power_on(host, force))
    }

    fn power_off<'a>(
        &'a self,
        host: &'a HostRef<'a>,
        mode: RebootMode,
        force: bool,
    ) -> BoxFuture<'a, Outcome> {
        delegate!(self, p => p.power_off(host, mode, force))
    }

    fn detach<'a>(&'a self, host: &'a HostRef<'a>, force: bool) -> BoxFuture<'a, Outcome> {
        delegate!(self, p => p.detach(host, force))
    }

    fn delete<'a>(&'a self, host: &'a HostRef<'a>) -> BoxFuture<'a, Outcome> {
        delegate!(self, p => p.delete(host))
    }

    fn has_capacity<'a>(&'a self, host: &'a HostRef<'a>) -> BoxFuture<'a, Outcome> {
        delegate!(self, p => p.has_capacity(host))
    }

    fn update_hardware_state<'a>(&'a self, host: &'a HostRef<'a>) -> BoxFuture<'a, Outcome> {
        delegate!(self, p => p.update_hardware_state(host))
    }
}
