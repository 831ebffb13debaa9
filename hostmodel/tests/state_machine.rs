//! Table-driven tests of the host state machine (reference §2.2–§2.7, §3).

use std::time::Duration;

use metal3_hostmodel::annotations::{self as ann, RebootMode};
use metal3_hostmodel::bmh::*;
use metal3_hostmodel::hardware::{Cpu, HardwareDetails};
use metal3_hostmodel::meta::SecretReference;
use metal3_hostmodel::state::*;
use metal3_hostmodel::Time;

use ProvisioningState as S;

const NOW: i64 = 1_750_000_000;

fn now() -> Time {
    Time::from_unix(NOW)
}

fn creds() -> CredentialsOutcome {
    CredentialsOutcome::Valid {
        secret_version: "1".into(),
    }
}

fn cred_status(version: &str) -> CredentialsStatus {
    CredentialsStatus {
        credentials: Some(SecretReference {
            name: "bmc-secret".into(),
            namespace: "ns".into(),
        }),
        credentials_version: Some(version.into()),
    }
}

fn image(url: &str) -> Image {
    Image {
        url: url.into(),
        checksum: Some("abc".into()),
        ..Image::default()
    }
}

/// A registered host in `state` whose registration bookkeeping is settled,
/// so that Register() is a no-op and the state handler runs in the same pass.
fn host(state: ProvisioningState) -> BareMetalHost {
    let mut h = BareMetalHost::default();
    h.metadata.name = "h".into();
    h.metadata.namespace = "ns".into();
    h.metadata.finalizers = vec![HOST_FINALIZER.into()];
    h.spec.bmc.address = "redfish://10.0.0.1/redfish/v1/Systems/1".into();
    h.spec.bmc.credentials_name = "bmc-secret".into();
    h.spec.online = true;
    let mut st = BareMetalHostStatus {
        operational_status: OperationalStatus::Ok,
        last_updated: Some(Time::from_unix(NOW - 100)),
        hardware_profile: Some("unknown".into()),
        good_credentials: Some(cred_status("1")),
        tried_credentials: Some(cred_status("1")),
        powered_on: true,
        hardware: Some(HardwareDetails::default()),
        ..BareMetalHostStatus::default()
    };
    st.provisioning.state = state;
    st.provisioning.id = "uuid".into();
    st.provisioning.root_device_hints = Some(RootDeviceHints {
        device_name: Some("/dev/sda".into()),
        ..RootDeviceHints::default()
    });
    h.status = Some(st);
    h
}

fn status(h: &mut BareMetalHost) -> &mut BareMetalHostStatus {
    h.status.get_or_insert_with(Default::default)
}

fn provisioned(state: ProvisioningState) -> BareMetalHost {
    let mut h = host(state);
    h.spec.image = Some(image("http://img/a.qcow2"));
    status(&mut h).provisioning.image = Some(image("http://img/a.qcow2"));
    h
}

fn deleting(mut h: BareMetalHost) -> BareMetalHost {
    h.metadata.deletion_timestamp = Some(Time::from_unix(NOW - 10));
    h
}

fn annotate(mut h: BareMetalHost, k: &str, v: &str) -> BareMetalHost {
    h.metadata.annotations.insert(k.into(), v.into());
    h
}

fn ctx() -> Context {
    Context::new(now(), 0.0, creds())
}

/// Default provisioner: everything succeeds at once, capacity is free,
/// Register returns ID `uuid`, power state unknown.
fn ok(a: &ProvisionerAction) -> Performed {
    match a {
        ProvisionerAction::HasCapacity => Performed::capacity(true),
        ProvisionerAction::Register { .. } => {
            Performed::done(a.clone()).with_data(OutcomeData::Registered {
                provisioner_id: "uuid".into(),
            })
        }
        ProvisionerAction::UpdateHardwareState => Performed::power_state(None),
        _ => Performed::done(a.clone()),
    }
}

/// Run one reconcile pass like an engine: answer every requested action
/// with `prov` until the step is final.
fn drive(
    h: &BareMetalHost,
    mut c: Context,
    mut prov: impl FnMut(&ProvisionerAction) -> Option<Performed>,
) -> (Step, Vec<ProvisionerAction>) {
    let mut asked = Vec::new();
    loop {
        let step = decide(h, &c);
        if step.action == ProvisionerAction::None {
            return (step, asked);
        }
        asked.push(step.action.clone());
        assert!(asked.len() < 20, "pass did not finish: {asked:?}");
        let out = prov(&step.action).unwrap_or_else(|| ok(&step.action));
        c.outcomes.push(out);
    }
}

fn run(h: &BareMetalHost) -> (Step, Vec<ProvisionerAction>) {
    drive(h, ctx(), |_| None)
}

fn kinds(actions: &[ProvisionerAction]) -> Vec<&'static str> {
    actions
        .iter()
        .map(|a| match a {
            ProvisionerAction::None => "None",
            ProvisionerAction::HasCapacity => "HasCapacity",
            ProvisionerAction::Register { .. } => "Register",
            ProvisionerAction::Inspect { .. } => "Inspect",
            ProvisionerAction::Prepare(_) => "Prepare",
            ProvisionerAction::Provision { .. } => "Provision",
            ProvisionerAction::Service { .. } => "Service",
            ProvisionerAction::Deprovision { .. } => "Deprovision",
            ProvisionerAction::Adopt { .. } => "Adopt",
            ProvisionerAction::PowerOn { .. } => "PowerOn",
            ProvisionerAction::PowerOff { .. } => "PowerOff",
            ProvisionerAction::Detach { .. } => "Detach",
            ProvisionerAction::Delete => "Delete",
            ProvisionerAction::UpdateHardwareState => "UpdateHardwareState",
        })
        .collect()
}

fn reasons(step: &Step) -> Vec<(&str, &str)> {
    step.events
        .iter()
        .map(|e| (e.reason.as_str(), e.message.as_str()))
        .collect()
}

fn fail_with(
    kind: &'static str,
    msg: &'static str,
) -> impl FnMut(&ProvisionerAction) -> Option<Performed> {
    move |a| (kinds(std::slice::from_ref(a))[0] == kind).then(|| Performed::failed(a.clone(), msg))
}

fn assert_backoff(step: &Step, n: i64) {
    let base = Duration::from_secs(60 << n.min(9));
    let d = match step.requeue {
        Requeue::After(d) => Some(d),
        _ => None,
    };
    assert!(
        d.is_some_and(|d| d <= base && d >= base / 2),
        "{:?} for n={n}",
        step.requeue
    );
}

// ---- §2.4 table: one case per row -----------------------------------------

struct Row {
    name: &'static str,
    host: BareMetalHost,
    ctx: Context,
    prov: fn(&ProvisionerAction) -> Option<Performed>,
    next: ProvisioningState,
    actions: &'static [&'static str],
}

fn none(_: &ProvisionerAction) -> Option<Performed> {
    None
}

fn inspect_done(a: &ProvisionerAction) -> Option<Performed> {
    matches!(a, ProvisionerAction::Inspect { .. }).then(|| {
        Performed::done(a.clone()).with_data(OutcomeData::Inspection {
            started: false,
            details: Some(Box::new(HardwareDetails {
                hostname: "found".into(),
                ..HardwareDetails::default()
            })),
        })
    })
}

fn inspect_fail(a: &ProvisionerAction) -> Option<Performed> {
    matches!(a, ProvisionerAction::Inspect { .. }).then(|| Performed::failed(a.clone(), "boom"))
}

fn prepare_fail(a: &ProvisionerAction) -> Option<Performed> {
    matches!(a, ProvisionerAction::Prepare(_)).then(|| Performed::failed(a.clone(), "clean failed"))
}

fn deprov_fail(a: &ProvisionerAction) -> Option<Performed> {
    matches!(a, ProvisionerAction::Deprovision { .. })
        .then(|| Performed::failed(a.clone(), "Cleaning failed: x"))
}

fn deprov_unregistered(a: &ProvisionerAction) -> Option<Performed> {
    matches!(
        a,
        ProvisionerAction::Deprovision { .. } | ProvisionerAction::PowerOff { .. }
    )
    .then(|| Performed {
        action: a.clone(),
        outcome: ActionOutcome::Error {
            message: "host not registered".into(),
            needs_registration: true,
        },
        data: OutcomeData::None,
    })
}

fn poweroff_fail(a: &ProvisionerAction) -> Option<Performed> {
    matches!(a, ProvisionerAction::PowerOff { .. })
        .then(|| Performed::failed(a.clone(), "bmc down"))
}

fn rows() -> Vec<Row> {
    let mut v = Vec::new();
    let mut r = |name, host, ctx, prov, next, actions| {
        v.push(Row {
            name,
            host,
            ctx,
            prov,
            next,
            actions,
        })
    };
    let mut h = host(S::None);
    h.status = None;
    r(
        "none: BMC details -> registering",
        h,
        ctx(),
        none,
        S::Registering,
        &[],
    );

    let mut h = host(S::None);
    h.status = None;
    h.spec.bmc = BmcDetails::default();
    r(
        "none: no BMC details -> unmanaged",
        h,
        ctx(),
        none,
        S::Unmanaged,
        &[],
    );

    r(
        "unmanaged: BMC details appear -> registering",
        host(S::Unmanaged),
        ctx(),
        none,
        S::Registering,
        &[],
    );
    let mut h = host(S::Unmanaged);
    h.spec.bmc = BmcDetails::default();
    r(
        "unmanaged: still none -> stays",
        h,
        ctx(),
        none,
        S::Unmanaged,
        &[],
    );

    let mut h = host(S::Registering);
    h.spec.externally_provisioned = Some(true);
    r(
        "registering: externally provisioned",
        h,
        ctx(),
        none,
        S::ExternallyProvisioned,
        &["Register"],
    );
    r(
        "registering: inspect annotation disabled -> preparing",
        annotate(host(S::Registering), ann::INSPECT, "disabled"),
        ctx(),
        none,
        S::Preparing,
        &["Register"],
    );
    let mut h = host(S::Registering);
    h.spec.inspection_mode = Some(InspectionMode::Disabled);
    r(
        "registering: inspectionMode disabled -> preparing",
        h,
        ctx(),
        none,
        S::Preparing,
        &["Register"],
    );
    r(
        "registering: otherwise -> inspecting",
        host(S::Registering),
        ctx(),
        none,
        S::Inspecting,
        &["Register", "HasCapacity"],
    );

    r(
        "inspecting: disabled -> preparing",
        annotate(host(S::Inspecting), ann::INSPECT, "disabled"),
        ctx(),
        none,
        S::Preparing,
        &["HasCapacity", "Register"],
    );
    r(
        "inspecting: done -> preparing",
        host(S::Inspecting),
        ctx(),
        inspect_done,
        S::Preparing,
        &["HasCapacity", "Register", "Inspect"],
    );
    r(
        "inspecting: failure -> stays",
        host(S::Inspecting),
        ctx(),
        inspect_fail,
        S::Inspecting,
        &["HasCapacity", "Register", "Inspect"],
    );

    r(
        "match profile -> preparing",
        host(S::MatchProfile),
        ctx(),
        none,
        S::Preparing,
        &[],
    );

    r(
        "preparing: nothing to do -> available",
        host(S::Preparing),
        ctx(),
        none,
        S::Available,
        &["Register", "Prepare"],
    );
    r(
        "preparing: failure -> stays",
        host(S::Preparing),
        ctx(),
        prepare_fail,
        S::Preparing,
        &["Register", "Prepare"],
    );

    let mut h = host(S::Available);
    h.spec.externally_provisioned = Some(true);
    r(
        "available: externally provisioned",
        h,
        ctx(),
        none,
        S::ExternallyProvisioned,
        &["Register"],
    );
    let mut h = host(S::Ready);
    h.spec.externally_provisioned = Some(true);
    r(
        "ready: externally provisioned",
        h,
        ctx(),
        none,
        S::ExternallyProvisioned,
        &["Register"],
    );
    r(
        "available: inspect annotation -> inspecting",
        annotate(host(S::Available), ann::INSPECT, ""),
        ctx(),
        none,
        S::Inspecting,
        &["Register", "HasCapacity"],
    );
    let mut h = host(S::Available);
    h.spec.raid = Some(RaidConfig {
        hardware_raid_volumes: Some(vec![HardwareRaidVolume {
            level: "1".into(),
            ..HardwareRaidVolume::default()
        }]),
        software_raid_volumes: None,
    });
    r(
        "available: RAID changed -> preparing",
        h,
        ctx(),
        none,
        S::Preparing,
        &["Register"],
    );
    let mut c = ctx();
    c.firmware_settings_pending = true;
    r(
        "available: HFS change -> preparing",
        host(S::Available),
        c,
        none,
        S::Preparing,
        &["Register"],
    );
    let mut c = ctx();
    c.firmware_components_pending = true;
    r(
        "available: HFC change -> preparing",
        host(S::Available),
        c,
        none,
        S::Preparing,
        &["Register"],
    );
    let mut h = host(S::Available);
    h.spec.image = Some(image("http://img/a.qcow2"));
    r(
        "available: online + image -> provisioning",
        h,
        ctx(),
        none,
        S::Provisioning,
        &["Register", "HasCapacity"],
    );
    let mut h = host(S::Available);
    h.spec.custom_deploy = Some(CustomDeploy {
        method: "install_coreos".into(),
    });
    r(
        "available: online + customDeploy -> provisioning",
        h,
        ctx(),
        none,
        S::Provisioning,
        &["Register", "HasCapacity"],
    );
    let mut h = host(S::Available);
    h.spec.image = Some(image("http://img/a.qcow2"));
    h.spec.online = false;
    status(&mut h).powered_on = false;
    r(
        "available: offline + image -> stays",
        h,
        ctx(),
        none,
        S::Available,
        &["Register", "UpdateHardwareState"],
    );
    r(
        "available: otherwise -> stays",
        host(S::Available),
        ctx(),
        none,
        S::Available,
        &["Register", "UpdateHardwareState"],
    );

    let mut h = provisioned(S::Provisioning);
    status(&mut h).provisioning.image = None;
    status(&mut h).error_type = Some(ErrorType::Provisioning);
    r(
        "provisioning: error recorded -> deprovisioning",
        h,
        ctx(),
        none,
        S::Deprovisioning,
        &["HasCapacity", "Register", "HasCapacity"],
    );
    let mut h = host(S::Provisioning);
    h.spec.image = None;
    r(
        "provisioning: image removed -> deprovisioning",
        h,
        ctx(),
        none,
        S::Deprovisioning,
        &["HasCapacity", "Register", "HasCapacity"],
    );
    let mut h = provisioned(S::Provisioning);
    status(&mut h).provisioning.image = None;
    r(
        "provisioning: deploy done -> provisioned",
        h,
        ctx(),
        none,
        S::Provisioned,
        &["HasCapacity", "Register", "Provision"],
    );

    let mut h = provisioned(S::Provisioned);
    h.spec.image = Some(image("http://img/b.qcow2"));
    r(
        "provisioned: image changed -> deprovisioning",
        h,
        ctx(),
        none,
        S::Deprovisioning,
        &["Register", "HasCapacity"],
    );
    let mut h = provisioned(S::Provisioned);
    h.spec.custom_deploy = Some(CustomDeploy {
        method: "m2".into(),
    });
    status(&mut h).provisioning.custom_deploy = Some(CustomDeploy {
        method: "m1".into(),
    });
    r(
        "provisioned: customDeploy changed -> deprovisioning",
        h,
        ctx(),
        none,
        S::Deprovisioning,
        &["Register", "HasCapacity"],
    );
    r(
        "provisioned: otherwise -> stays",
        provisioned(S::Provisioned),
        ctx(),
        none,
        S::Provisioned,
        &["Register", "Adopt", "UpdateHardwareState"],
    );

    let mut h = host(S::ExternallyProvisioned);
    h.spec.externally_provisioned = Some(true);
    r(
        "externally provisioned: flag set -> stays",
        h,
        ctx(),
        none,
        S::ExternallyProvisioned,
        &["Register", "Adopt", "UpdateHardwareState"],
    );
    let mut h = host(S::ExternallyProvisioned);
    h.spec.image = Some(image("http://img/a.qcow2"));
    r(
        "externally provisioned: flag cleared -> provisioned",
        h,
        ctx(),
        none,
        S::Provisioned,
        &["Register"],
    );

    r(
        "deprovisioning: done -> available",
        provisioned(S::Deprovisioning),
        ctx(),
        none,
        S::Available,
        &["HasCapacity", "Register", "Adopt", "Deprovision"],
    );
    r(
        "deprovisioning: done while deleting -> powering off",
        deleting(provisioned(S::Deprovisioning)),
        ctx(),
        none,
        S::PoweringOffBeforeDelete,
        &["HasCapacity", "Register", "Adopt", "Deprovision"],
    );
    let mut h = deleting(host(S::Deprovisioning));
    status(&mut h).error_count = 3;
    r(
        "deprovisioning: deleting, failed > 3 times -> powering off",
        h,
        ctx(),
        deprov_fail,
        S::PoweringOffBeforeDelete,
        &["HasCapacity", "Register", "Deprovision"],
    );
    let mut c = ctx();
    c.credentials = CredentialsOutcome::SecretNotFound;
    r(
        "deprovisioning: deleting, not registered, no creds -> deleting",
        deleting(host(S::Deprovisioning)),
        c,
        deprov_unregistered,
        S::Deleting,
        &["HasCapacity", "Deprovision"],
    );

    r(
        "powering off before delete: off -> deleting",
        deleting(host(S::PoweringOffBeforeDelete)),
        ctx(),
        none,
        S::Deleting,
        &["Register", "PowerOff"],
    );
    let mut h = deleting(host(S::PoweringOffBeforeDelete));
    h.spec.disable_power_off = Some(true);
    r(
        "powering off before delete: disablePowerOff -> deleting",
        h,
        ctx(),
        none,
        S::Deleting,
        &["Register"],
    );
    let mut h = deleting(host(S::PoweringOffBeforeDelete));
    status(&mut h).error_count = 3;
    r(
        "powering off before delete: failed > 3 times -> deleting",
        h,
        ctx(),
        poweroff_fail,
        S::Deleting,
        &["Register", "PowerOff"],
    );
    let mut c = ctx();
    c.credentials = CredentialsOutcome::MissingPassword;
    r(
        "powering off before delete: not registered, no creds -> deleting",
        deleting(host(S::PoweringOffBeforeDelete)),
        c,
        deprov_unregistered,
        S::Deleting,
        &["PowerOff"],
    );
    r(
        "deleting: node deleted -> finalizer removed",
        deleting(host(S::Deleting)),
        ctx(),
        none,
        S::Deleting,
        &["Delete"],
    );
    v
}

#[test]
fn transitions_table() {
    let rows = rows();
    assert_eq!(rows.len(), 41);
    for row in rows {
        let (step, asked) = drive(&row.host, row.ctx, row.prov);
        assert_eq!(step.status.provisioning.state, row.next, "{}", row.name);
        assert_eq!(kinds(&asked), row.actions, "{}", row.name);
        assert_eq!(step.transient_error, None, "{}", row.name);
    }
}

// ---- details of the rows --------------------------------------------------

#[test]
fn none_without_bmc_is_discovered() {
    let mut h = host(S::None);
    h.status = None;
    h.spec.bmc = BmcDetails::default();
    let (step, _) = run(&h);
    assert_eq!(
        step.status.operational_status,
        OperationalStatus::Discovered
    );
    assert_eq!(
        reasons(&step),
        [("Discovered", "Discovered host with no BMC details")]
    );
    assert_eq!(step.requeue, Requeue::Immediately);
}

#[test]
fn unmanaged_rechecks_every_ten_minutes() {
    let mut h = host(S::Unmanaged);
    h.spec.bmc = BmcDetails::default();
    let (step, _) = run(&h);
    assert_eq!(step.requeue, Requeue::After(Duration::from_secs(600)));
}

#[test]
fn entering_registering_saves_boot_mode_and_history() {
    let mut h = host(S::None);
    h.status = None;
    h.spec.boot_mode = Some(BootMode::Legacy);
    let (step, _) = run(&h);
    assert_eq!(step.status.provisioning.boot_mode, Some(BootMode::Legacy));
    let hist = step.status.operation_history.unwrap();
    assert_eq!(hist.register.start, Some(now()));
    assert_eq!(hist.register.end, None);
    assert!(step.status_changed);
    assert_eq!(step.status.last_updated, Some(now()));
}

#[test]
fn leaving_registering_records_history_and_resets_error_count() {
    let mut h = host(S::Registering);
    status(&mut h).error_count = 2;
    status(&mut h).operation_history = Some(OperationHistory {
        register: OperationMetric {
            start: Some(Time::from_unix(NOW - 50)),
            end: None,
        },
        ..OperationHistory::default()
    });
    let (step, _) = run(&h);
    let hist = step.status.operation_history.unwrap();
    assert_eq!(hist.register.end, Some(now()));
    assert_eq!(hist.inspect.start, Some(now()));
    assert_eq!(step.status.error_count, 0);
    assert_eq!(step.status.provisioning.boot_mode, Some(BootMode::Uefi));
}

#[test]
fn inspection_skipped_event() {
    let (step, _) = run(&annotate(host(S::Inspecting), ann::INSPECT, "disabled"));
    assert_eq!(reasons(&step), [("InspectionSkipped", "disabled by user")]);
}

#[test]
fn inspection_done_stores_details_and_hardware_data() {
    let mut h = host(S::Inspecting);
    status(&mut h).error_count = 1;
    status(&mut h).operation_history = Some(OperationHistory {
        inspect: OperationMetric {
            start: Some(Time::from_unix(NOW - 50)),
            end: None,
        },
        ..OperationHistory::default()
    });
    let (step, _) = drive(&h, ctx(), inspect_done);
    assert_eq!(step.status.hardware.as_ref().unwrap().hostname, "found");
    assert_eq!(step.hardware_data.unwrap().hostname, "found");
    assert_eq!(step.status.error_count, 0);
    assert_eq!(
        step.status.operation_history.unwrap().inspect.end,
        Some(now())
    );
}

#[test]
fn inspection_failure_then_restart() {
    let (step, asked) = drive(&host(S::Inspecting), ctx(), inspect_fail);
    assert_eq!(step.status.error_type, Some(ErrorType::Inspection));
    assert_eq!(step.status.operational_status, OperationalStatus::Error);
    assert_eq!(step.status.error_message, "boom");
    assert_eq!(step.status.error_count, 1);
    assert_eq!(reasons(&step), [("InspectionError", "boom")]);
    assert_backoff(&step, 1);
    assert_eq!(
        asked[2],
        ProvisionerAction::Inspect {
            restart: false,
            refresh: false,
            force_reboot: false
        }
    );
    let mut h = host(S::Inspecting);
    h.status = Some(step.status);
    let (_, asked) = run(&h);
    assert_eq!(
        asked[2],
        ProvisionerAction::Inspect {
            restart: true,
            refresh: false,
            force_reboot: false
        }
    );
}

#[test]
fn reinspection_annotation_removed_once_started() {
    let h = annotate(host(S::Inspecting), ann::INSPECT, "");
    let h = annotate(h, "reboot.metal3.io", r#"{"force":true}"#);
    let (step, asked) = drive(&h, ctx(), |a| {
        matches!(a, ProvisionerAction::Inspect { .. }).then(|| {
            Performed::in_progress(a.clone(), Duration::from_secs(10)).with_data(
                OutcomeData::Inspection {
                    started: true,
                    details: None,
                },
            )
        })
    });
    assert_eq!(
        asked[2],
        ProvisionerAction::Inspect {
            restart: false,
            refresh: true,
            force_reboot: true
        }
    );
    assert_eq!(
        step.annotations_to_remove,
        ["inspect.metal3.io", "reboot.metal3.io"]
    );
    assert_eq!(step.status.provisioning.state, S::Inspecting);
}

#[test]
fn preparation_failure_and_retry_discards_actual_raid() {
    let mut h = host(S::Preparing);
    h.spec.raid = Some(RaidConfig {
        hardware_raid_volumes: Some(vec![HardwareRaidVolume {
            level: "1".into(),
            ..HardwareRaidVolume::default()
        }]),
        software_raid_volumes: None,
    });
    let (step, asked) = drive(&h, ctx(), prepare_fail);
    let ProvisionerAction::Prepare(data) = &asked[1] else {
        panic!("{asked:?}")
    };
    assert!(data.unprepared && !data.restart);
    assert_eq!(step.status.error_type, Some(ErrorType::Preparation));
    assert_eq!(reasons(&step), [("PreparationError", "clean failed")]);
    // A failed cleaning drops the settings that could not be applied.
    assert_eq!(step.status.provisioning.root_device_hints, None);

    let mut retry = h.clone();
    retry.status = Some(step.status);
    status(&mut retry).provisioning.raid = h.spec.raid.clone();
    // Registration restores the hints first (and ends that pass).
    let (step, asked) = run(&retry);
    assert_eq!(kinds(&asked), ["Register"]);
    assert!(step.status.provisioning.root_device_hints.is_some());
    retry.status = Some(step.status);
    let (step, asked) = run(&retry);
    let ProvisionerAction::Prepare(data) = &asked[1] else {
        panic!("{asked:?}")
    };
    assert!(data.restart && data.unprepared);
    assert_eq!(data.actual_raid, None);
    assert_eq!(step.status.provisioning.state, S::Available);
    assert_eq!(step.status.error_count, 0);
}

#[test]
fn available_to_externally_provisioned_clears_hints() {
    let mut h = host(S::Available);
    h.spec.externally_provisioned = Some(true);
    let (step, _) = run(&h);
    assert_eq!(step.status.provisioning.root_device_hints, None);
}

#[test]
fn provisioning_start_records_image_history_boot_mode() {
    let mut h = host(S::Available);
    h.spec.image = Some(image("http://img/a.qcow2"));
    let (step, _) = run(&h);
    assert_eq!(
        step.status.last_attempted_image,
        Some(image("http://img/a.qcow2"))
    );
    assert_eq!(
        step.status.operation_history.unwrap().provision.start,
        Some(now())
    );
    assert_eq!(step.status.provisioning.boot_mode, Some(BootMode::Uefi));
}

#[test]
fn provisioning_failure_counts_and_deprovisions() {
    let mut h = provisioned(S::Provisioning);
    status(&mut h).provisioning.image = None;
    let (step, _) = drive(
        &h,
        ctx(),
        fail_with("Provision", "Image provisioning failed"),
    );
    assert_eq!(step.status.provisioning.state, S::Provisioning);
    assert_eq!(step.status.error_type, Some(ErrorType::Provisioning));
    assert_eq!(
        reasons(&step),
        [("ProvisioningError", "Image provisioning failed")]
    );
    h.status = Some(step.status);
    let (step, _) = run(&h);
    assert_eq!(step.status.provisioning.state, S::Deprovisioning);
    assert_eq!(step.status.provisioning_fail_count, 1);
}

#[test]
fn provisioning_done_copies_image_and_resets_counters() {
    let mut h = provisioned(S::Provisioning);
    status(&mut h).provisioning.image = None;
    status(&mut h).error_count = 2;
    status(&mut h).provisioning_fail_count = 3;
    let (step, _) = run(&h);
    assert_eq!(
        step.status.provisioning.image,
        Some(image("http://img/a.qcow2"))
    );
    assert_eq!(step.status.error_count, 0);
    assert_eq!(step.status.provisioning_fail_count, 0);
}

#[test]
fn externally_provisioned_flag_cleared_copies_spec() {
    let mut h = host(S::ExternallyProvisioned);
    h.spec.image = Some(image("http://img/a.qcow2"));
    let (step, _) = run(&h);
    assert_eq!(
        step.status.provisioning.image,
        Some(image("http://img/a.qcow2"))
    );
}

#[test]
fn deprovisioning_done_clears_image() {
    let (step, asked) = run(&provisioned(S::Deprovisioning));
    assert_eq!(step.status.provisioning.image, None);
    assert_eq!(
        asked[3],
        ProvisionerAction::Deprovision {
            restart: false,
            cleaning_mode: AutomatedCleaningMode::Metadata
        }
    );
    assert_eq!(step.status.operation_history.unwrap().deprovision.end, None);
}

#[test]
fn powering_off_before_delete_sets_powered_off() {
    let (step, asked) = run(&deleting(host(S::PoweringOffBeforeDelete)));
    assert_eq!(
        asked[1],
        ProvisionerAction::PowerOff {
            mode: RebootMode::Hard,
            force: false
        }
    );
    assert!(!step.status.powered_on);
}

#[test]
fn deleting_removes_finalizer_and_releases_secret() {
    let (step, _) = run(&deleting(host(S::Deleting)));
    assert_eq!(step.finalizers_to_remove, [HOST_FINALIZER]);
    assert!(step.release_credentials);
    assert!(step.release_hardware_data);
    assert_eq!(step.requeue, Requeue::Never);
    // Once the finalizer is gone there is nothing left to do.
    let mut gone = deleting(host(S::Deleting));
    gone.metadata.finalizers.clear();
    let (step, asked) = run(&gone);
    assert!(asked.is_empty());
    assert_eq!(step.requeue, Requeue::Never);
}

#[test]
fn deleting_waits_for_provisioner() {
    let (step, _) = drive(&deleting(host(S::Deleting)), ctx(), |a| {
        Some(Performed::in_progress(a.clone(), Duration::from_secs(3)))
    });
    assert!(step.finalizers_to_remove.is_empty());
    assert_eq!(step.requeue, Requeue::After(Duration::from_secs(3)));
}

// ---- delete initiation (§2.3 step 2) --------------------------------------

#[test]
fn delete_in_every_state() {
    let cases = [
        (S::None, S::Deleting),
        (S::Unmanaged, S::Deleting),
        (S::Registering, S::Deleting),
        (S::MatchProfile, S::PoweringOffBeforeDelete),
        (S::Preparing, S::PoweringOffBeforeDelete),
        (S::Ready, S::PoweringOffBeforeDelete),
        (S::Available, S::PoweringOffBeforeDelete),
        (S::Inspecting, S::PoweringOffBeforeDelete),
        (S::ExternallyProvisioned, S::PoweringOffBeforeDelete),
        (S::Provisioning, S::Deprovisioning),
        (S::Provisioned, S::Deprovisioning),
        (S::Deprovisioning, S::Deprovisioning),
        (S::PoweringOffBeforeDelete, S::PoweringOffBeforeDelete),
        (S::Deleting, S::Deleting),
    ];
    for (from, to) in cases {
        // In-progress answers keep the three "stays" states where they are.
        let (step, _) = drive(&deleting(provisioned(from)), ctx(), |a| match a {
            ProvisionerAction::Deprovision { .. }
            | ProvisionerAction::PowerOff { .. }
            | ProvisionerAction::Delete => {
                Some(Performed::in_progress(a.clone(), Duration::from_secs(10)))
            }
            _ => None,
        });
        assert_eq!(step.status.provisioning.state, to, "from {from}");
    }
}

#[test]
fn delete_gives_up_after_repeated_registration_errors() {
    for from in [S::Deprovisioning, S::PoweringOffBeforeDelete] {
        let mut h = deleting(host(from));
        status(&mut h).error_type = Some(ErrorType::Registration);
        status(&mut h).error_count = 4;
        let (step, _) = run(&h);
        assert_eq!(step.status.provisioning.state, S::Deleting, "from {from}");
    }
}

#[test]
fn delete_detached_host() {
    // Default deleteAction: straight to deleting, no deprovisioning.
    let h = deleting(annotate(provisioned(S::Provisioned), ann::DETACHED, ""));
    let (step, asked) = run(&h);
    assert_eq!(step.status.provisioning.state, S::Deleting);
    assert!(asked.is_empty());

    // deleteAction delay: stays, keeps detaching.
    let h = deleting(annotate(
        provisioned(S::Provisioned),
        ann::DETACHED,
        r#"{"deleteAction":"delay"}"#,
    ));
    let (step, asked) = run(&h);
    assert_eq!(step.status.provisioning.state, S::Provisioned);
    assert_eq!(asked, [ProvisionerAction::Detach { force: false }]);

    // Detached status but annotation gone: not deleted yet, re-attached first.
    let mut h = deleting(provisioned(S::Provisioned));
    status(&mut h).operational_status = OperationalStatus::Detached;
    let (step, asked) = run(&h);
    assert_eq!(step.status.provisioning.state, S::Provisioned);
    assert_eq!(step.status.operational_status, OperationalStatus::Ok);
    assert!(asked.is_empty());
}

// ---- detach (§2.3 step 3) -------------------------------------------------

#[test]
fn detach_in_steady_states() {
    for state in [
        S::Provisioned,
        S::ExternallyProvisioned,
        S::Ready,
        S::Available,
    ] {
        let mut h = annotate(provisioned(state), ann::DETACHED, "");
        h.spec.externally_provisioned = Some(state == S::ExternallyProvisioned);
        status(&mut h).error_type = Some(ErrorType::Detach);
        status(&mut h).error_count = 2;
        let (step, asked) = run(&h);
        assert_eq!(
            asked,
            [ProvisionerAction::Detach { force: false }],
            "{state}"
        );
        assert_eq!(step.status.operational_status, OperationalStatus::Detached);
        assert_eq!(step.status.error_type, None);
        assert_eq!(step.status.error_count, 0);
        assert_eq!(step.status.provisioning.state, state);
        assert_eq!(step.requeue, Requeue::After(Duration::from_secs(600)));
    }
}

#[test]
fn detach_in_transient_state_needs_force() {
    let h = annotate(host(S::Inspecting), ann::DETACHED, "");
    let (_, asked) = run(&h);
    assert_eq!(kinds(&asked), ["HasCapacity", "Register", "Inspect"]);
    let h = annotate(host(S::Inspecting), ann::DETACHED, r#"{"force":true}"#);
    let (step, asked) = run(&h);
    assert_eq!(kinds(&asked), ["HasCapacity", "Detach"]);
    assert_eq!(asked[1], ProvisionerAction::Detach { force: true });
    assert_eq!(step.status.operational_status, OperationalStatus::Detached);
    // Nothing is done in deleting.
    let h = deleting(annotate(
        host(S::Deleting),
        ann::DETACHED,
        r#"{"force":true}"#,
    ));
    let (_, asked) = run(&h);
    assert_eq!(kinds(&asked), ["Delete"]);
}

#[test]
fn detach_failure_and_reattach() {
    let h = annotate(provisioned(S::Provisioned), ann::DETACHED, "");
    let (step, _) = drive(&h, ctx(), fail_with("Detach", "node busy"));
    assert_eq!(step.status.error_type, Some(ErrorType::Detach));
    assert_eq!(reasons(&step), [("DetachError", "node busy")]);
    assert_backoff(&step, 1);

    // Annotation removed while a detach error is recorded: cleared.
    let mut h = provisioned(S::Provisioned);
    h.status = Some(step.status);
    let (step, asked) = run(&h);
    assert!(asked.is_empty());
    assert_eq!(step.status.error_type, None);
    assert_eq!(step.status.error_count, 0);
    assert_eq!(step.status.operational_status, OperationalStatus::Ok);

    // Annotation removed from a detached host: OK, or error if one is recorded.
    let mut h = provisioned(S::Provisioned);
    status(&mut h).operational_status = OperationalStatus::Detached;
    assert_eq!(run(&h).0.status.operational_status, OperationalStatus::Ok);
    status(&mut h).error_type = Some(ErrorType::ProvisionedRegistration);
    assert_eq!(
        run(&h).0.status.operational_status,
        OperationalStatus::Error
    );
}

// ---- registration (§2.3 step 4) -------------------------------------------

#[test]
fn registration_failure_keeps_state() {
    let (step, asked) = drive(
        &host(S::Registering),
        ctx(),
        fail_with("Register", "bad creds"),
    );
    assert_eq!(step.status.provisioning.state, S::Registering);
    assert_eq!(step.status.error_type, Some(ErrorType::Registration));
    assert_eq!(step.status.error_message, "bad creds");
    assert_eq!(reasons(&step), [("RegistrationError", "bad creds")]);
    assert_eq!(
        asked,
        [ProvisionerAction::Register {
            credentials_changed: false,
            restart_on_failure: false
        }]
    );
    let mut h = host(S::Registering);
    h.status = Some(step.status);
    let (step, asked) = run(&h);
    assert_eq!(
        asked[0],
        ProvisionerAction::Register {
            credentials_changed: false,
            restart_on_failure: true
        }
    );
    // Success clears the error and ends the pass so it is saved.
    assert_eq!(step.status.error_type, None);
    assert_eq!(step.status.operational_status, OperationalStatus::Ok);
    assert_eq!(step.requeue, Requeue::Immediately);
}

#[test]
fn new_credentials_are_recorded() {
    let mut c = ctx();
    c.credentials = CredentialsOutcome::Valid {
        secret_version: "2".into(),
    };
    let (step, asked) = drive(&provisioned(S::Provisioned), c.clone(), |_| None);
    assert_eq!(
        asked,
        [ProvisionerAction::Register {
            credentials_changed: true,
            restart_on_failure: false
        }]
    );
    assert_eq!(step.status.tried_credentials, Some(cred_status("2")));
    assert_eq!(step.status.good_credentials, Some(cred_status("2")));
    assert_eq!(
        reasons(&step),
        [("BMCAccessValidated", "Verified access to BMC")]
    );
    // Re-registration is recorded in the operation history.
    let hist = step.status.operation_history.unwrap();
    assert_eq!(hist.register.start, Some(now()));
    assert_eq!(hist.register.end, Some(now()));
}

#[test]
fn registration_in_progress_sets_id_and_waits() {
    let mut h = host(S::Registering);
    status(&mut h).provisioning.id.clear();
    let (step, _) = drive(&h, ctx(), |a| {
        Some(
            Performed::in_progress(a.clone(), Duration::from_secs(10)).with_data(
                OutcomeData::Registered {
                    provisioner_id: "node-1".into(),
                },
            ),
        )
    });
    assert_eq!(step.status.provisioning.id, "node-1");
    assert_eq!(step.requeue, Requeue::After(Duration::from_secs(10)));
}

#[test]
fn hardware_profile_and_root_hints() {
    let hints = |d: &str| {
        Some(RootDeviceHints {
            device_name: Some(d.into()),
            ..RootDeviceHints::default()
        })
    };
    let mut fresh = host(S::Registering);
    status(&mut fresh).hardware_profile = None;
    status(&mut fresh).provisioning.root_device_hints = None;
    let (step, _) = run(&fresh);
    assert_eq!(step.status.hardware_profile.as_deref(), Some("unknown"));
    assert_eq!(
        step.status.provisioning.root_device_hints,
        hints("/dev/sda")
    );
    assert_eq!(
        reasons(&step),
        [("ProfileSet", "Hardware profile set: unknown")]
    );

    let mut h = fresh.clone();
    h.spec.bmc.address = "libvirt://192.168.122.1".into();
    let (step, _) = run(&h);
    assert_eq!(step.status.hardware_profile.as_deref(), Some("libvirt"));
    assert_eq!(
        step.status.provisioning.root_device_hints,
        hints("/dev/vda")
    );

    let mut h = fresh.clone();
    h.spec.hardware_profile = Some("empty".into());
    h.spec.root_device_hints = hints("/dev/sdb");
    let (step, _) = run(&h);
    assert_eq!(step.status.hardware_profile.as_deref(), Some("empty"));
    assert_eq!(
        step.status.provisioning.root_device_hints,
        hints("/dev/sdb")
    );

    let mut h = fresh.clone();
    h.spec.raid = Some(RaidConfig {
        hardware_raid_volumes: None,
        software_raid_volumes: Some(vec![SoftwareRaidVolume {
            level: "1".into(),
            ..SoftwareRaidVolume::default()
        }]),
    });
    let (step, _) = run(&h);
    assert_eq!(step.status.provisioning.root_device_hints, None);

    let mut h = fresh;
    h.spec.hardware_profile = Some("nonsense".into());
    let (step, _) = run(&h);
    assert_eq!(step.status.error_type, Some(ErrorType::Registration));
    assert_eq!(
        step.status.error_message,
        "invalid hardware profile \"nonsense\""
    );
}

#[test]
fn no_registration_in_excluded_states() {
    let mut h = host(S::None);
    h.status = None;
    assert!(run(&h).1.is_empty());
    assert!(run(&host(S::Unmanaged)).1.is_empty());
    assert!(run(&host(S::MatchProfile)).1.is_empty());
    assert_eq!(kinds(&run(&deleting(host(S::Deleting))).1), ["Delete"]);
}

// ---- credentials (§2.2 step 5) --------------------------------------------

#[test]
fn credentials_errors() {
    let cases = [
        (
            CredentialsOutcome::EmptyCredentialsName,
            "No BMC CredentialsName defined The BMC secret reference is empty",
            Requeue::Never,
        ),
        (
            CredentialsOutcome::SecretNotFound,
            "BMC CredentialsName secret doesn't exist The BMC secret ns/bmc-secret does not exist",
            Requeue::After(Duration::from_secs(10)),
        ),
        (
            CredentialsOutcome::EmptyAddress,
            "Empty BMC address Missing BMC connection detail 'Address'",
            Requeue::Never,
        ),
        (
            CredentialsOutcome::MissingUsername,
            "Validation error with BMC credentials: Missing BMC connection detail 'username' in credentials",
            Requeue::Never,
        ),
        (
            CredentialsOutcome::MissingPassword,
            "Validation error with BMC credentials: Missing BMC connection details 'password' in credentials",
            Requeue::Never,
        ),
        (
            CredentialsOutcome::BadAddress {
                message: "Unknown BMC type 'foo' for address foo://x".into(),
            },
            "Unknown BMC type 'foo' for address foo://x",
            Requeue::Never,
        ),
    ];
    for (outcome, msg, requeue) in cases {
        let mut c = ctx();
        c.credentials = outcome;
        let (step, asked) = drive(&host(S::Available), c.clone(), |_| None);
        assert!(asked.is_empty(), "{msg}");
        assert_eq!(step.status.error_type, Some(ErrorType::Registration));
        assert_eq!(step.status.error_message, msg);
        assert_eq!(step.status.error_count, 1);
        assert_eq!(step.status.operational_status, OperationalStatus::Error);
        assert_eq!(reasons(&step), [("BMCCredentialError", msg)]);
        assert_eq!(step.requeue, requeue);
        // The same error again does not count twice.
        let mut again = host(S::Available);
        again.status = Some(step.status);
        assert_eq!(drive(&again, c, |_| None).0.status.error_count, 1);
    }
    // Not checked before registration starts.
    let mut c = ctx();
    c.credentials = CredentialsOutcome::SecretNotFound;
    let (step, _) = drive(&host(S::Unmanaged), c, |_| None);
    assert_eq!(step.status.error_type, None);
}

#[test]
fn credentials_evaluated_from_secret() {
    let mut h = host(S::Available);
    let mut secret = metal3_hostmodel::Secret::default();
    secret.metadata.resource_version = Some("7".into());
    secret
        .string_data
        .insert("username".into(), " admin ".into());
    assert_eq!(
        CredentialsOutcome::evaluate(&h, None),
        CredentialsOutcome::SecretNotFound
    );
    assert_eq!(
        CredentialsOutcome::evaluate(&h, Some(&secret)),
        CredentialsOutcome::MissingPassword
    );
    secret.string_data.insert("password".into(), "pw".into());
    assert_eq!(
        CredentialsOutcome::evaluate(&h, Some(&secret)),
        CredentialsOutcome::Valid {
            secret_version: "7".into()
        }
    );
    h.spec.bmc.address = "foo://x".into();
    assert!(matches!(
        CredentialsOutcome::evaluate(&h, Some(&secret)),
        CredentialsOutcome::BadAddress { .. }
    ));
    h.spec.bmc.address.clear();
    assert_eq!(
        CredentialsOutcome::evaluate(&h, Some(&secret)),
        CredentialsOutcome::EmptyAddress
    );
    h.spec.bmc.credentials_name.clear();
    assert_eq!(
        CredentialsOutcome::evaluate(&h, Some(&secret)),
        CredentialsOutcome::EmptyCredentialsName
    );
}

// ---- capacity / delayed ---------------------------------------------------

#[test]
fn no_capacity_delays_transition() {
    let no_cap = |a: &ProvisionerAction| {
        matches!(a, ProvisionerAction::HasCapacity).then(|| Performed::capacity(false))
    };
    let (step, _) = drive(&host(S::Registering), ctx(), no_cap);
    assert_eq!(step.status.provisioning.state, S::Registering);
    assert_eq!(step.status.operational_status, OperationalStatus::Delayed);
    assert_backoff(&step, 1);

    // Still no capacity: stays delayed, no other call.
    let mut h = host(S::Registering);
    h.status = Some(step.status.clone());
    let (step2, asked) = drive(&h, ctx(), no_cap);
    assert_eq!(kinds(&asked), ["HasCapacity"]);
    assert_eq!(step2.status.operational_status, OperationalStatus::Delayed);

    // Capacity back: OK again, requeue now.
    let (step3, _) = run(&h);
    assert_eq!(step3.status.operational_status, OperationalStatus::Ok);
    assert_eq!(step3.requeue, Requeue::Immediately);

    // In provisioning the check is repeated each pass.
    let mut h = provisioned(S::Provisioning);
    status(&mut h).provisioning.image = None;
    let (step, asked) = drive(&h, ctx(), no_cap);
    assert_eq!(kinds(&asked), ["HasCapacity"]);
    assert_eq!(step.status.operational_status, OperationalStatus::Delayed);
}

// ---- retry limit (§2.6) ---------------------------------------------------

#[test]
fn provisioning_retry_limit() {
    let base = || {
        let mut h = host(S::Available);
        h.spec.image = Some(image("http://img/a.qcow2"));
        status(&mut h).last_attempted_image = Some(image("http://img/a.qcow2"));
        status(&mut h).provisioning_fail_count = 5;
        h
    };
    let (step, _) = run(&base());
    let msg = "provisioning failed 5 times, retry limit (5) reached; change image or reset provisioningFailCount to retry";
    assert_eq!(step.status.provisioning.state, S::Available);
    assert_eq!(step.status.error_type, Some(ErrorType::Provisioning));
    assert_eq!(step.status.error_message, msg);
    assert_eq!(reasons(&step), [("ProvisioningError", msg)]);
    assert_eq!(step.requeue, Requeue::Never);

    // Below the limit: provision.
    let mut h = base();
    status(&mut h).provisioning_fail_count = 4;
    assert_eq!(run(&h).0.status.provisioning.state, S::Provisioning);

    // Unlimited.
    let mut c = ctx();
    c.max_provisioning_retries = 0;
    assert_eq!(
        drive(&base(), c, |_| None).0.status.provisioning.state,
        S::Provisioning
    );

    // Custom limit.
    let mut c = ctx();
    c.max_provisioning_retries = 7;
    assert_eq!(
        drive(&base(), c, |_| None).0.status.provisioning.state,
        S::Provisioning
    );

    // Image changed: counter reset, provision.
    let mut h = base();
    h.spec.image = Some(image("http://img/b.qcow2"));
    let (step, _) = run(&h);
    assert_eq!(step.status.provisioning.state, S::Provisioning);
    assert_eq!(step.status.provisioning_fail_count, 0);
    assert_eq!(
        step.status.last_attempted_image,
        Some(image("http://img/b.qcow2"))
    );

    // Image removed: counter reset.
    let mut h = base();
    h.spec.image = None;
    let (step, _) = run(&h);
    assert_eq!(step.status.provisioning_fail_count, 0);
    assert_eq!(step.status.last_attempted_image, None);
}

// ---- power management and reboot (§2.5, §3) -------------------------------

fn power(h: &BareMetalHost) -> (Step, Vec<ProvisionerAction>) {
    run(h)
}

fn last(asked: &[ProvisionerAction]) -> ProvisionerAction {
    asked.last().cloned().unwrap_or(ProvisionerAction::None)
}

#[test]
fn online_drives_power() {
    let mut h = host(S::Available);
    h.spec.online = false;
    let (step, asked) = power(&h);
    assert_eq!(
        last(&asked),
        ProvisionerAction::PowerOff {
            mode: RebootMode::Soft,
            force: false
        }
    );
    assert!(!step.status.powered_on);
    assert_eq!(step.requeue, Requeue::After(Duration::from_secs(60)));

    let mut h = host(S::Available);
    status(&mut h).powered_on = false;
    status(&mut h).error_count = 2;
    let (step, asked) = power(&h);
    assert_eq!(last(&asked), ProvisionerAction::PowerOn { force: false });
    assert!(step.status.powered_on);
    assert_eq!(step.status.error_count, 0);

    // After a power failure the retry is forced (and an off is hard).
    let mut h = host(S::Provisioned);
    h.spec.image = Some(image("http://img/a.qcow2"));
    status(&mut h).provisioning.image = Some(image("http://img/a.qcow2"));
    h.spec.online = false;
    status(&mut h).error_type = Some(ErrorType::PowerManagement);
    status(&mut h).error_count = 1;
    let (_, asked) = power(&h);
    assert_eq!(
        last(&asked),
        ProvisionerAction::PowerOff {
            mode: RebootMode::Hard,
            force: true
        }
    );

    // Steady: nothing to do, poll every minute.
    let (step, asked) = power(&host(S::Available));
    assert_eq!(kinds(&asked), ["Register", "UpdateHardwareState"]);
    assert_eq!(step.requeue, Requeue::After(Duration::from_secs(60)));
}

#[test]
fn observed_power_updates_status_and_clears_power_error() {
    let mut h = host(S::Available);
    status(&mut h).operational_status = OperationalStatus::Error;
    status(&mut h).error_type = Some(ErrorType::PowerManagement);
    let (step, asked) = drive(&h, ctx(), |a| {
        matches!(a, ProvisionerAction::UpdateHardwareState)
            .then(|| Performed::power_state(Some(false)))
    });
    assert_eq!(kinds(&asked), ["Register", "UpdateHardwareState"]);
    assert!(!step.status.powered_on);
    assert_eq!(step.status.error_type, None);
    assert_eq!(step.requeue, Requeue::Immediately);
}

#[test]
fn power_failure_messages() {
    let mut h = host(S::Available);
    h.spec.online = false;
    let (step, _) = drive(&h, ctx(), fail_with("PowerOff", "timeout"));
    let msg = "Continuing with hard poweroff after soft poweroff fails. More details: timeout";
    assert_eq!(step.status.error_type, Some(ErrorType::PowerManagement));
    assert_eq!(step.status.error_message, msg);
    assert_eq!(reasons(&step), [("PowerManagementError", msg)]);

    let (step, _) = drive(&host_off(), ctx(), fail_with("PowerOn", "no power"));
    assert_eq!(step.status.error_message, "no power");
}

fn host_off() -> BareMetalHost {
    let mut h = host(S::Available);
    status(&mut h).powered_on = false;
    h
}

#[test]
fn reboot_annotations() {
    // Base annotation on a provisioned host: soft power off.
    let h = annotate(provisioned(S::Provisioned), ann::REBOOT, "");
    let (step, asked) = power(&h);
    assert_eq!(
        last(&asked),
        ProvisionerAction::PowerOff {
            mode: RebootMode::Soft,
            force: false
        }
    );
    assert!(step.annotations_to_remove.is_empty());

    // Hard wins across annotations.
    let h = annotate(h, "reboot.metal3.io/capm3", r#"{"mode":"hard"}"#);
    let (_, asked) = power(&h);
    assert_eq!(
        last(&asked),
        ProvisionerAction::PowerOff {
            mode: RebootMode::Hard,
            force: false
        }
    );

    // errorCount > 0 forces hard.
    let mut h = annotate(provisioned(S::Provisioned), ann::REBOOT, "");
    status(&mut h).error_count = 1;
    let (_, asked) = power(&h);
    assert_eq!(
        last(&asked),
        ProvisionerAction::PowerOff {
            mode: RebootMode::Hard,
            force: false
        }
    );

    // Observed off: the base annotation is removed (so the host powers on next).
    let mut h = annotate(provisioned(S::Provisioned), ann::REBOOT, "");
    status(&mut h).powered_on = false;
    let (step, asked) = power(&h);
    assert_eq!(step.annotations_to_remove, [ann::REBOOT]);
    assert_eq!(kinds(&asked), ["Register", "Adopt", "UpdateHardwareState"]);

    // Phased annotation keeps the host off.
    let mut h = annotate(provisioned(S::Provisioned), "reboot.metal3.io/owner", "");
    status(&mut h).powered_on = false;
    let (step, asked) = power(&h);
    assert!(step.annotations_to_remove.is_empty());
    assert_eq!(kinds(&asked), ["Register", "Adopt", "UpdateHardwareState"]);
    assert_eq!(step.requeue, Requeue::After(Duration::from_secs(60)));

    // Available host: only forced annotations apply.
    let h = annotate(host(S::Available), ann::REBOOT, "");
    assert_eq!(kinds(&power(&h).1), ["Register", "UpdateHardwareState"]);
    let h = annotate(host(S::Available), ann::REBOOT, r#"{"force":true}"#);
    assert_eq!(
        last(&power(&h).1),
        ProvisionerAction::PowerOff {
            mode: RebootMode::Soft,
            force: false
        }
    );

    // Invalid JSON: event, treated as soft.
    let h = annotate(provisioned(S::Provisioned), ann::REBOOT, "{bad");
    let (step, asked) = power(&h);
    assert_eq!(
        reasons(&step),
        [(
            "InvalidAnnotationValue",
            "could not parse reboot annotation ({bad) - invalid json, assuming soft-reboot"
        )]
    );
    assert_eq!(
        last(&asked),
        ProvisionerAction::PowerOff {
            mode: RebootMode::Soft,
            force: false
        }
    );

    // disablePowerOff: the power off is a reboot, annotation removed at once.
    let mut h = annotate(provisioned(S::Provisioned), ann::REBOOT, "");
    h.spec.disable_power_off = Some(true);
    let (step, asked) = power(&h);
    assert_eq!(
        kinds(&asked),
        ["Register", "Adopt", "UpdateHardwareState", "PowerOff"]
    );
    assert_eq!(step.annotations_to_remove, [ann::REBOOT]);
}

#[test]
fn forced_reboot_aborts_provisioning_wait_and_is_removed() {
    let mut h = provisioned(S::Provisioning);
    status(&mut h).provisioning.image = None;
    let h = annotate(h, "reboot.metal3.io/x", r#"{"force":true}"#);
    let (step, asked) = drive(&h, ctx(), |a| {
        matches!(a, ProvisionerAction::Provision { .. })
            .then(|| Performed::in_progress(a.clone(), Duration::from_secs(10)))
    });
    assert_eq!(
        last(&asked),
        ProvisionerAction::Provision { force_reboot: true }
    );
    assert_eq!(step.annotations_to_remove, ["reboot.metal3.io/x"]);
}

// ---- other annotations / pre-steps ----------------------------------------

#[test]
fn paused_host_is_left_alone() {
    for value in ["", ann::PAUSED_VALUE_CAPM3, ann::PAUSED_VALUE_HOSTCLAIM] {
        let h = annotate(host(S::Available), ann::PAUSED, value);
        let step = decide(&h, &ctx());
        assert_eq!(step.action, ProvisionerAction::None);
        assert_eq!(step.requeue, Requeue::Never);
        assert!(!step.status_changed);
        assert_eq!(Some(step.status), h.status);
    }
}

#[test]
fn status_annotation_restores_status() {
    let mut saved = host(S::Provisioned).status.unwrap();
    saved.last_updated = None;
    saved.hardware = Some(HardwareDetails {
        hostname: "from-annotation".into(),
        ..HardwareDetails::default()
    });
    let mut h = annotate(
        host(S::None),
        ann::STATUS,
        &serde_json::to_string(&saved).unwrap(),
    );
    h.status = None;
    let mut c = ctx();
    c.hardware_data = Some(HardwareDetails {
        hostname: "from-hardwaredata".into(),
        ..HardwareDetails::default()
    });
    let (step, asked) = drive(&h, c, |_| None);
    assert!(asked.is_empty());
    assert_eq!(step.status.provisioning.state, S::Provisioned);
    assert_eq!(step.status.hardware.unwrap().hostname, "from-hardwaredata");
    assert_eq!(step.status.last_updated, Some(now()));
    assert_eq!(step.requeue, Requeue::Immediately);
    assert!(step.annotations_to_remove.is_empty());

    // Status already present: the annotation is only removed.
    let h = annotate(host(S::Available), ann::STATUS, "{}");
    let (step, _) = run(&h);
    assert_eq!(step.annotations_to_remove, [ann::STATUS]);
    assert_eq!(step.status.provisioning.state, S::Available);
}

#[test]
fn hardware_details_annotation() {
    let json = r#"{"hostname":"ext","ramMebibytes":1024}"#;
    let mut h = annotate(host(S::Available), ann::HARDWARE_DETAILS, json);
    status(&mut h).hardware = None;
    let (step, _) = run(&h);
    assert_eq!(step.status.hardware.as_ref().unwrap().hostname, "ext");
    assert_eq!(step.annotations_to_remove, [ann::HARDWARE_DETAILS]);
    assert_eq!(
        reasons(&step),
        [(
            "UpdateHardwareDetails",
            "Set HardwareDetails from annotation"
        )]
    );

    // Status already set and inspection enabled: ignored and removed.
    let h = annotate(host(S::Available), ann::HARDWARE_DETAILS, json);
    let (step, _) = run(&h);
    assert_eq!(step.status.hardware, Some(HardwareDetails::default()));
    assert_eq!(step.annotations_to_remove, [ann::HARDWARE_DETAILS]);
    assert_eq!(
        reasons(&step),
        [(
            "RemoveAnnotation",
            "HardwareDetails annotation ignored, status already set and inspection is not disabled"
        )]
    );

    // Inspection disabled: consumed even with hardware in status.
    let h = annotate(host(S::Available), ann::INSPECT, "disabled");
    let h = annotate(h, ann::HARDWARE_DETAILS, json);
    assert_eq!(run(&h).0.status.hardware.unwrap().hostname, "ext");
}

#[test]
fn finalizer_and_architecture() {
    let mut h = host(S::Available);
    h.metadata.finalizers.clear();
    let (step, asked) = run(&h);
    assert!(asked.is_empty());
    assert_eq!(step.finalizers_to_add, [HOST_FINALIZER]);
    assert_eq!(step.requeue, Requeue::Immediately);
    // Not added while deleting.
    let mut h = deleting(host(S::Deleting));
    h.metadata.finalizers.clear();
    assert!(run(&h).0.finalizers_to_add.is_empty());

    let mut c = ctx();
    c.hardware_data = Some(HardwareDetails {
        cpu: Some(Cpu {
            arch: "aarch64".into(),
            ..Cpu::default()
        }),
        ..HardwareDetails::default()
    });
    let (step, _) = drive(&host(S::Available), c, |_| None);
    assert_eq!(step.set_architecture.as_deref(), Some("aarch64"));
}

#[test]
fn conditions_follow_state() {
    let cond = |step: &Step, t: &str| {
        let c = step
            .status
            .conditions
            .as_ref()
            .unwrap()
            .iter()
            .find(|c| c.type_ == t)
            .cloned()
            .unwrap();
        (c.status, c.reason)
    };
    let (step, _) = run(&provisioned(S::Provisioned));
    assert_eq!(cond(&step, "Ready"), ("True".into(), "Provisioned".into()));
    assert_eq!(
        cond(&step, "Provisioned"),
        ("True".into(), "Provisioned".into())
    );
    assert_eq!(
        cond(&step, "Manageable"),
        ("True".into(), "Manageable".into())
    );
    assert_eq!(cond(&step, "Healthy"), ("Unknown".into(), "Unknown".into()));

    let (step, _) = run(&host(S::Available));
    assert_eq!(
        cond(&step, "AvailableForProvisioning"),
        ("True".into(), "Available".into())
    );
    assert_eq!(
        cond(&step, "Ready"),
        ("False".into(), "NotProvisioned".into())
    );
    assert_eq!(
        cond(&step, "Progressing"),
        ("False".into(), "NotProgressing".into())
    );

    let (step, _) = drive(&host(S::Inspecting), ctx(), inspect_fail);
    assert_eq!(
        cond(&step, "Progressing"),
        ("True".into(), "Inspecting".into())
    );
    assert_eq!(
        cond(&step, "AvailableForProvisioning"),
        ("False".into(), "NotAvailable".into())
    );

    let (step, _) = drive(&provisioned(S::Provisioned), ctx(), fail_with("Adopt", "x"));
    assert_eq!(
        step.status.error_type,
        Some(ErrorType::ProvisionedRegistration)
    );
    assert_eq!(cond(&step, "Ready"), ("False".into(), "Error".into()));

    // Transition time is kept while the status does not change.
    let mut h = provisioned(S::Provisioned);
    let (first, _) = run(&h);
    h.status = Some(first.status.clone());
    let mut c = ctx();
    c.now = Time::from_unix(NOW + 500);
    let (second, _) = drive(&h, c, |_| None);
    assert_eq!(second.status.conditions, first.status.conditions);
    assert!(!second.status_changed);
}

#[test]
fn backoff_bounds() {
    for n in 1..=10i64 {
        let base = Duration::from_secs(60 << n.min(9));
        assert_eq!(backoff(n, 0.0), base, "n={n}");
        let low = backoff(n, 0.999_999);
        assert!(low >= base / 2 && low < base, "n={n}");
    }
    assert_eq!(backoff(1, 0.5), Duration::from_secs(90));
    assert_eq!(backoff(9, 0.0), Duration::from_secs(8 * 3600 + 32 * 60));
    assert_eq!(backoff(10, 1.0), Duration::from_secs(4 * 3600 + 16 * 60));

    // Failures requeue with the backoff of the new error count.
    let mut h = host(S::Inspecting);
    status(&mut h).error_count = 3;
    status(&mut h).error_type = Some(ErrorType::Inspection);
    let mut c = ctx();
    c.jitter = 0.5;
    let (step, _) = drive(&h, c, inspect_fail);
    assert_eq!(step.status.error_count, 4);
    assert_eq!(
        step.requeue,
        Requeue::After(Duration::from_secs(16 * 60 - 4 * 60))
    );
}

#[test]
fn progress_clears_error() {
    let mut h = provisioned(S::Provisioning);
    status(&mut h).provisioning.image = None;
    status(&mut h).operational_status = OperationalStatus::Delayed;
    let (step, _) = run(&h);
    assert_eq!(step.status.operational_status, OperationalStatus::Ok);

    let mut h = host(S::Deprovisioning);
    status(&mut h).error_type = Some(ErrorType::Provisioning);
    status(&mut h).operational_status = OperationalStatus::Error;
    let (step, asked) = drive(&h, ctx(), |a| {
        matches!(a, ProvisionerAction::Deprovision { .. })
            .then(|| Performed::in_progress(a.clone(), Duration::from_secs(10)))
    });
    assert_eq!(
        last(&asked),
        ProvisionerAction::Deprovision {
            restart: true,
            cleaning_mode: AutomatedCleaningMode::Metadata
        }
    );
    assert_eq!(step.status.error_type, None);
    assert_eq!(step.status.operational_status, OperationalStatus::Ok);
}

#[test]
fn protocol_mismatch_is_a_transient_error() {
    let mut c = ctx();
    c.outcomes.push(Performed::done(ProvisionerAction::Delete));
    let step = decide(&host(S::Available), &c);
    assert_eq!(step.action, ProvisionerAction::None);
    assert!(step.transient_error.unwrap().contains("Delete"));
}

#[test]
fn engine_loop_walks_a_host_to_provisioned() {
    let mut h = host(S::None);
    h.status = None;
    h.metadata.finalizers.clear();
    h.spec.image = Some(image("http://img/a.qcow2"));
    let mut seen = Vec::new();
    for _ in 0..30 {
        let (step, _) = drive(&h, ctx(), inspect_done);
        for f in &step.finalizers_to_add {
            h.metadata.finalizers.push(f.clone());
        }
        for a in &step.annotations_to_remove {
            h.metadata.annotations.remove(a);
        }
        h.status = Some(step.status.clone());
        let s = step.status.provisioning.state;
        if seen.last() != Some(&s) {
            seen.push(s);
        }
        if s == S::Provisioned {
            break;
        }
    }
    assert_eq!(
        seen,
        [
            S::None,
            S::Registering,
            S::Inspecting,
            S::Preparing,
            S::Available,
            S::Provisioning,
            S::Provisioned
        ]
    );
    let hist = h.status.unwrap().operation_history.unwrap();
    for m in [hist.register, hist.inspect, hist.provision] {
        assert!(m.start.is_some() && m.end.is_some());
    }
}

#[test]
fn root_hint_changes_are_stored_by_registration() {
    // Registration stores the spec's hints, so a hints-only change does not
    // need a preparing round (as upstream).
    let mut h = host(S::Available);
    h.spec.root_device_hints = Some(RootDeviceHints {
        device_name: Some("/dev/nvme0n1".into()),
        ..RootDeviceHints::default()
    });
    let (step, asked) = run(&h);
    assert_eq!(kinds(&asked), ["Register"]);
    assert_eq!(
        step.status.provisioning.root_device_hints,
        h.spec.root_device_hints
    );
    h.status = Some(step.status);
    assert_eq!(run(&h).0.status.provisioning.state, S::Available);
}

#[test]
fn inspect_annotation_ignored_outside_available() {
    let h = annotate(provisioned(S::Provisioned), ann::INSPECT, "");
    let (step, asked) = run(&h);
    assert_eq!(step.status.provisioning.state, S::Provisioned);
    assert_eq!(kinds(&asked), ["Register", "Adopt", "UpdateHardwareState"]);
    assert!(step.annotations_to_remove.is_empty());
}

#[test]
fn invalid_hardware_details_annotation_is_a_transient_error() {
    let mut h = annotate(host(S::Available), ann::HARDWARE_DETAILS, "{nope");
    status(&mut h).hardware = None;
    let (step, asked) = run(&h);
    assert!(asked.is_empty());
    assert!(step
        .transient_error
        .unwrap()
        .starts_with("error parsing HardwareDetails from annotation: "));
}

#[test]
fn retries_restart_the_failed_step() {
    let cases: [(BareMetalHost, ErrorType, ProvisionerAction); 3] = [
        (
            provisioned(S::Provisioned),
            ErrorType::ProvisionedRegistration,
            ProvisionerAction::Adopt { restart: true },
        ),
        (
            host_off(),
            ErrorType::PowerManagement,
            ProvisionerAction::PowerOn { force: true },
        ),
        (
            deleting(host(S::PoweringOffBeforeDelete)),
            ErrorType::PowerManagement,
            ProvisionerAction::PowerOff {
                mode: RebootMode::Hard,
                force: true,
            },
        ),
    ];
    for (mut h, et, want) in cases {
        status(&mut h).error_type = Some(et);
        status(&mut h).operational_status = OperationalStatus::Error;
        let (_, asked) = run(&h);
        assert!(asked.contains(&want), "{et}: {asked:?}");
    }
}

#[test]
fn error_count_reset_points() {
    let with_errors = |mut h: BareMetalHost| {
        status(&mut h).error_count = 3;
        h
    };
    let cases = [
        (with_errors(host(S::MatchProfile)), S::Preparing),
        (with_errors(host(S::Preparing)), S::Available),
        (with_errors(provisioned(S::Deprovisioning)), S::Available),
        (
            with_errors(deleting(host(S::PoweringOffBeforeDelete))),
            S::Deleting,
        ),
    ];
    for (h, next) in cases {
        let (step, _) = run(&h);
        assert_eq!(step.status.provisioning.state, next);
        assert_eq!(step.status.error_count, 0, "{next}");
    }
}

#[test]
fn credentials_claim_and_firmware_resources() {
    let (step, _) = run(&host(S::Available));
    assert!(step.claim_credentials);
    assert!(step.ensure_firmware_resources);
    // Registration not reached (finalizer pass): nothing to ensure yet.
    let mut h = host(S::Available);
    h.metadata.finalizers.clear();
    let (step, _) = run(&h);
    assert!(!step.claim_credentials && !step.ensure_firmware_resources);
    // Deleting hosts neither claim the Secret nor create firmware objects.
    let (step, _) = run(&deleting(host(S::Deleting)));
    assert!(!step.claim_credentials && !step.ensure_firmware_resources);
    let (step, _) = run(&deleting(host(S::PoweringOffBeforeDelete)));
    assert!(step.claim_credentials && !step.ensure_firmware_resources);
    // Failed credentials: nothing to claim.
    let mut c = ctx();
    c.credentials = CredentialsOutcome::MissingUsername;
    let (step, _) = drive(&host(S::Available), c, |_| None);
    assert!(!step.claim_credentials);
}

#[test]
fn servicing_during_reboot() {
    let policy = metal3_hostmodel::other::HostUpdatePolicySpec {
        firmware_settings: Some("onReboot".into()),
        firmware_updates: Some("onReboot".into()),
    };
    let mut c = ctx();
    c.host_update_policy = Some(policy);
    c.firmware_settings_pending = true;
    let mut h = provisioned(S::Provisioned);
    status(&mut h).powered_on = false;

    // First the status says servicing, before any provisioner call.
    let (step, asked) = drive(&h, c.clone(), |_| None);
    assert_eq!(kinds(&asked), ["Register", "Adopt", "UpdateHardwareState"]);
    assert_eq!(step.status.operational_status, OperationalStatus::Servicing);
    assert_eq!(step.requeue, Requeue::Immediately);

    // Then Service runs.
    h.status = Some(step.status);
    let want = ProvisionerAction::Service {
        unprepared: true,
        restart: false,
        firmware_config: false,
        firmware_settings: true,
        firmware_components: false,
    };
    let (step, asked) = drive(&h, c.clone(), |a| {
        matches!(a, ProvisionerAction::Service { .. })
            .then(|| Performed::in_progress(a.clone(), Duration::from_secs(10)))
    });
    assert_eq!(last(&asked), want);
    assert_eq!(step.status.operational_status, OperationalStatus::Servicing);
    assert_eq!(step.requeue, Requeue::After(Duration::from_secs(10)));

    // Failure: servicing error, retried with restart.
    let (step, _) = drive(&h, c.clone(), fail_with("Service", "service failed"));
    assert_eq!(step.status.error_type, Some(ErrorType::Servicing));
    assert_eq!(reasons(&step), [("ServicingError", "service failed")]);
    let mut failed = h.clone();
    failed.status = Some(step.status);
    // The error status is first switched back to servicing, then retried.
    let (step, asked) = drive(&failed, c.clone(), |_| None);
    assert_eq!(kinds(&asked), ["Register", "Adopt", "UpdateHardwareState"]);
    assert_eq!(step.status.operational_status, OperationalStatus::Servicing);
    failed.status = Some(step.status);
    let (_, asked) = drive(&failed, c.clone(), |_| None);
    assert!(matches!(
        last(&asked),
        ProvisionerAction::Service { restart: true, .. }
    ));

    // Finished with nothing pending: back to OK.
    let mut done = ctx();
    done.host_update_policy = c.host_update_policy.clone();
    let (step, asked) = drive(&h, done, |_| None);
    assert_eq!(
        last(&asked),
        ProvisionerAction::Service {
            unprepared: false,
            restart: false,
            firmware_config: false,
            firmware_settings: false,
            firmware_components: false,
        }
    );
    assert_eq!(step.status.operational_status, OperationalStatus::Ok);
    assert_eq!(step.requeue, Requeue::After(Duration::from_secs(60)));

    // Without a policy the host is just powered on.
    let mut plain = ctx();
    plain.firmware_settings_pending = true;
    let mut h = provisioned(S::Provisioned);
    status(&mut h).powered_on = false;
    let (_, asked) = drive(&h, plain, |_| None);
    assert_eq!(last(&asked), ProvisionerAction::PowerOn { force: false });
}
