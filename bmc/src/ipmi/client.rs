//! The async IPMI-over-LAN client: one RMCP+ (or IPMI 1.5) session per
//! [`IpmiClient`], reused for every command, closed on [`IpmiClient::close`]
//! or (best effort) on drop.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use tokio::net::UdpSocket;
use tokio::sync::{Mutex, Semaphore};

use crate::address::{BmcAddress, Protocol};
use crate::budget;
use crate::credentials::Credentials;
use crate::error::BmcError;
use crate::ipmi::codes;
use crate::ipmi::crypto::{self, CipherSuite, Integrity, RakpParams, V15Auth};
use crate::ipmi::packet::{self, payload, V15Packet, V2Packet};
use crate::ops::{BootDevice, BootMode, BootOverride, PowerAction, PowerBootControl, PowerState};

/// Which IPMI LAN protocol version to use.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum IpmiVersion {
    /// IPMI 2.0 (RMCP+) when the BMC offers it, else IPMI 1.5.
    #[default]
    Auto,
    /// IPMI 2.0 only.
    V20,
    /// IPMI 1.5 only (MD5 or straight password), for old BMCs or tests.
    V15,
}

/// Session and retransmission settings.
#[derive(Debug, Clone)]
pub struct IpmiOptions {
    /// Force cipher suite 3 or 17; `None` tries 17 and falls back to 3.
    pub cipher_suite: Option<u8>,
    /// Protocol version choice.
    pub version: IpmiVersion,
    /// How long to wait for each answer before retransmitting.
    pub timeout: Duration,
    /// How many times each request is sent in total (at least 1).
    pub retries: u32,
}

impl Default for IpmiOptions {
    fn default() -> Self {
        IpmiOptions {
            cipher_suite: None,
            version: IpmiVersion::Auto,
            timeout: Duration::from_secs(1),
            retries: 3,
        }
    }
}

/// The answer to Get Device ID.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DeviceId {
    /// Device ID.
    pub device_id: u8,
    /// Device revision (low 4 bits).
    pub device_revision: u8,
    /// The device provides device SDRs.
    pub provides_sdrs: bool,
    /// Firmware revision as ipmitool prints it, e.g. "9.08" (minor is BCD).
    pub firmware_revision: String,
    /// Device available (false while a firmware update is in progress).
    pub device_available: bool,
    /// IPMI version, e.g. "2.0".
    pub ipmi_version: String,
    /// Additional device support bit field.
    pub additional_device_support: u8,
    /// IANA manufacturer ID.
    pub manufacturer_id: u32,
    /// Product ID.
    pub product_id: u16,
    /// Auxiliary firmware revision bytes, when sent.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub aux_firmware_revision: Option<[u8; 4]>,
}

/// Chassis Control actions (NetFn Chassis, command 0x02).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ChassisControl {
    /// Power down (0x00).
    PowerDown,
    /// Power up (0x01).
    PowerUp,
    /// Power cycle (0x02).
    PowerCycle,
    /// Hard reset (0x03).
    HardReset,
    /// Soft shutdown via ACPI (0x05).
    SoftShutdown,
}

impl ChassisControl {
    fn code(self) -> u8 {
        match self {
            ChassisControl::PowerDown => 0x00,
            ChassisControl::PowerUp => 0x01,
            ChassisControl::PowerCycle => 0x02,
            ChassisControl::HardReset => 0x03,
            ChassisControl::SoftShutdown => 0x05,
        }
    }
}

/// What the established session uses, for callers and tests.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SessionInfo {
    /// `V20` or `V15` (never `Auto`).
    pub version: IpmiVersion,
    /// Cipher suite for IPMI 2.0 sessions.
    pub cipher_suite: Option<u8>,
    /// IPMI 1.5 auth type (MD5 or straight password).
    pub v15_auth: Option<V15Auth>,
    /// Session privilege level set after activation.
    pub privilege: u8,
}

/// System boot options parameter 5 as the BMC reports it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct BootFlags {
    /// Boot flag valid bit: firmware ignores the flags when false.
    pub valid: bool,
    /// Applies to all future boots (else the next one only).
    pub persistent: bool,
    /// EFI boot (else legacy BIOS).
    pub uefi: bool,
    /// Raw boot device selector (bits 5:2 of data byte 2).
    pub selector: u8,
    /// The selector as a [`BootDevice`], if it has an equivalent.
    pub device: Option<BootDevice>,
}

impl BootFlags {
    /// Decodes the Get System Boot Options answer data for parameter 5
    /// (parameter version, parameter selector, then the flag bytes).
    pub fn decode(answer: &[u8]) -> Option<BootFlags> {
        let (&f0, &f1) = (answer.get(2)?, answer.get(3)?);
        let selector = (f1 >> 2) & 0x0F;
        Some(BootFlags {
            valid: f0 & 0x80 != 0,
            persistent: f0 & 0x40 != 0,
            uefi: f0 & 0x20 != 0,
            selector,
            device: match selector {
                0x0 => Some(BootDevice::None),
                0x1 => Some(BootDevice::Pxe),
                0x2 | 0x3 | 0xB => Some(BootDevice::Disk),
                0x5 | 0x8 => Some(BootDevice::Cd),
                0x6 => Some(BootDevice::BiosSetup),
                _ => None,
            },
        })
    }
}

/// Why a boot override has no IPMI boot-flags form.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BootFlagsError {
    /// UEFI HTTP boot has no boot device selector.
    UefiHttp,
    /// IPMI cannot carry a boot URI.
    HttpBootUri,
}

/// The five data bytes of boot options parameter 5 for `boot`: valid bit set
/// unless the device is `None` (which clears the override), persistent and EFI
/// bits, and the device selector in bits 5:2 of the second byte.
pub fn encode_boot_flags(boot: &BootOverride) -> Result<[u8; 5], BootFlagsError> {
    let selector: u8 = match boot.device {
        BootDevice::None => 0x0,
        BootDevice::Pxe => 0x1,
        BootDevice::Disk => 0x2,
        BootDevice::Cd => 0x5,
        BootDevice::BiosSetup => 0x6,
        BootDevice::UefiHttp => return Err(BootFlagsError::UefiHttp),
    };
    if boot.http_boot_uri.is_some() {
        return Err(BootFlagsError::HttpBootUri);
    }
    let mut f0 = 0u8;
    if boot.device != BootDevice::None {
        f0 |= 0x80;
    }
    if boot.persistent {
        f0 |= 0x40;
    }
    if boot.mode == Some(BootMode::Uefi) {
        f0 |= 0x20;
    }
    Ok([f0, selector << 2, 0, 0, 0])
}

/// Tracks received session sequence numbers: rejects replays and packets
/// more than 32 behind or ahead of the newest one, as the spec's window does.
#[derive(Debug, Default, Clone)]
struct SeqWindow {
    highest: u32,
    seen: u32,
}

impl SeqWindow {
    fn accept(&mut self, seq: u32) -> bool {
        if seq == 0 {
            return false;
        }
        if self.highest == 0 {
            self.highest = seq;
            self.seen = 1;
            return true;
        }
        if seq > self.highest {
            let shift = seq - self.highest;
            if shift > 32 {
                return false;
            }
            self.seen = if shift >= 32 {
                1
            } else {
                (self.seen << shift) | 1
            };
            self.highest = seq;
            return true;
        }
        let back = self.highest - seq;
        if back >= 32 || self.seen & (1 << back) != 0 {
            return false;
        }
        self.seen |= 1 << back;
        true
    }
}

enum Session {
    /// Before activation: IPMI 1.5 framing with no auth, session 0.
    None,
    V2 {
        bmc_sid: u32,
        console_sid: u32,
        out_seq: u32,
        integrity: Integrity,
        aes: [u8; 16],
        window: SeqWindow,
    },
    V15 {
        session_id: u32,
        out_seq: u32,
        auth: V15Auth,
        pw: [u8; 16],
        window: SeqWindow,
        /// Activate Session in flight: sent (and retransmitted) with session
        /// sequence number 0, and its answer is outside the sequence window.
        activating: bool,
        /// The BMC said per-message authentication is disabled: it then answers
        /// with auth type none after activation (we still authenticate ours).
        unauthenticated_answers: bool,
    },
}

struct State {
    session: Session,
    rq_seq: u8,
    /// rqSeq of the request in flight.
    pending_rq: u8,
    closed: bool,
}

impl State {
    fn next_rq_seq(&mut self) -> u8 {
        self.rq_seq = (self.rq_seq + 1) & 0x3F;
        self.rq_seq
    }

    /// Wraps an IPMI message for the current session, consuming a sequence number.
    fn wrap(&mut self, msg: &[u8]) -> Vec<u8> {
        match &mut self.session {
            Session::None => packet::encode_v15(&V15Packet {
                auth_type: 0,
                seq: 0,
                session_id: 0,
                auth_code: None,
                msg: msg.to_vec(),
            }),
            Session::V2 {
                bmc_sid,
                out_seq,
                integrity,
                aes,
                ..
            } => {
                *out_seq = out_seq.wrapping_add(1).max(1);
                let iv: [u8; 16] = rand::random();
                packet::encode_v2(
                    &V2Packet {
                        payload_type: payload::IPMI,
                        encrypted: true,
                        authenticated: true,
                        session_id: *bmc_sid,
                        seq: *out_seq,
                        payload: crypto::aes_encrypt(aes, &iv, msg),
                    },
                    Some(integrity),
                )
            }
            Session::V15 {
                session_id,
                out_seq,
                auth,
                pw,
                activating,
                ..
            } => {
                *out_seq = if *activating {
                    0
                } else {
                    out_seq.wrapping_add(1).max(1)
                };
                let code = crypto::v15_authcode(*auth, pw, *session_id, *out_seq, msg);
                packet::encode_v15(&V15Packet {
                    auth_type: auth.number(),
                    seq: *out_seq,
                    session_id: *session_id,
                    auth_code: Some(code),
                    msg: msg.to_vec(),
                })
            }
        }
    }

    /// Unwraps a received packet to its IPMI message, checking session ID,
    /// integrity / auth code, confidentiality and the sequence window.
    fn unwrap(&mut self, bytes: &[u8]) -> Result<Vec<u8>, String> {
        match &mut self.session {
            Session::None => {
                let p = packet::decode_v15(bytes).map_err(|e| e.to_string())?;
                if p.auth_type != 0 || p.session_id != 0 {
                    return Err("session packet before a session exists".into());
                }
                Ok(p.msg)
            }
            Session::V2 {
                console_sid,
                integrity,
                aes,
                window,
                ..
            } => {
                let p = packet::decode_v2(bytes, Some(integrity)).map_err(|e| e.to_string())?;
                if p.session_id != *console_sid {
                    return Err(format!("packet for session {:#x}, not ours", p.session_id));
                }
                if p.payload_type != payload::IPMI || !p.authenticated || !p.encrypted {
                    return Err("unexpected payload type or unprotected packet in session".into());
                }
                if !window.accept(p.seq) {
                    return Err(format!(
                        "session sequence number {} outside the window or replayed",
                        p.seq
                    ));
                }
                crypto::aes_decrypt(aes, &p.payload).map_err(str::to_string)
            }
            Session::V15 {
                session_id,
                auth,
                pw,
                window,
                activating,
                unauthenticated_answers,
                ..
            } => {
                let p = packet::decode_v15(bytes).map_err(|e| e.to_string())?;
                if p.session_id != *session_id {
                    return Err(format!("packet for session {:#x}, not ours", p.session_id));
                }
                verify_v15(&p, *auth, pw, *unauthenticated_answers && !*activating)?;
                if !*activating && !window.accept(p.seq) {
                    return Err(format!(
                        "session sequence number {} outside the window or replayed",
                        p.seq
                    ));
                }
                Ok(p.msg)
            }
        }
    }
}

/// Checks an IPMI 1.5 packet's auth code against the session's auth type;
/// `allow_none` accepts auth type none (BMC with per-message auth disabled).
fn verify_v15(p: &V15Packet, auth: V15Auth, pw: &[u8; 16], allow_none: bool) -> Result<(), String> {
    if allow_none && p.auth_type == 0 {
        return Ok(());
    }
    if p.auth_type != auth.number() {
        return Err(format!(
            "auth type {:#x} where {:#x} was negotiated",
            p.auth_type,
            auth.number()
        ));
    }
    let expect = crypto::v15_authcode(auth, pw, p.session_id, p.seq, &p.msg);
    match p.auth_code {
        Some(c) if crypto::ct_eq(&c, &expect) => Ok(()),
        _ => Err("IPMI 1.5 auth code mismatch".into()),
    }
}

struct Transport {
    sock: UdpSocket,
    state: State,
}

/// An IPMI-over-LAN session to one BMC.
pub struct IpmiClient {
    bmc: String,
    timeout: Duration,
    retries: u32,
    budget: Arc<Semaphore>,
    info: SessionInfo,
    inner: Mutex<Transport>,
}

impl std::fmt::Debug for IpmiClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("IpmiClient")
            .field("bmc", &self.bmc)
            .field("session", &self.info)
            .finish_non_exhaustive()
    }
}

/// Outcome of looking at one received datagram.
enum Verdict<T> {
    /// The answer we wait for.
    Done(T),
    /// Not for this request (stale answer to an earlier try): keep waiting.
    Stale,
}

/// Outcome of one RMCP+ session attempt.
enum Attempt {
    /// Session active.
    Open,
    /// The BMC refused the cipher suite with this RMCP+ status.
    Refused(u8),
}

/// Which error a request that got no answer turns into.
#[derive(Clone, Copy)]
enum Silence {
    /// First contact: nothing answers at this address.
    Unreachable,
    /// Inside a session: the BMC stopped answering.
    TimedOut,
}

fn privilege_number(name: &str) -> Option<u8> {
    match name.to_ascii_uppercase().as_str() {
        "CALLBACK" => Some(1),
        "USER" => Some(2),
        "OPERATOR" => Some(3),
        "ADMINISTRATOR" | "ADMIN" => Some(4),
        "OEM" => Some(5),
        _ => None,
    }
}

fn command_name(netfn: u8, cmd: u8) -> &'static str {
    match (netfn, cmd) {
        (0x06, 0x01) => "Get Device ID",
        (0x06, 0x38) => "Get Channel Authentication Capabilities",
        (0x06, 0x39) => "Get Session Challenge",
        (0x06, 0x3A) => "Activate Session",
        (0x06, 0x3B) => "Set Session Privilege Level",
        (0x06, 0x3C) => "Close Session",
        (0x00, 0x01) => "Get Chassis Status",
        (0x00, 0x02) => "Chassis Control",
        (0x00, 0x08) => "Set System Boot Options",
        (0x00, 0x09) => "Get System Boot Options",
        _ => "IPMI command",
    }
}

impl IpmiClient {
    /// Opens a session: IPMI 2.0 with cipher suite 17, else 3 (or the forced
    /// one), or IPMI 1.5 when the BMC has no IPMI 2.0; then raises the session
    /// privilege to the address's `privilegelevel` (default ADMINISTRATOR).
    pub async fn connect(
        addr: &BmcAddress,
        creds: &Credentials,
        opts: IpmiOptions,
    ) -> Result<IpmiClient, BmcError> {
        let host = addr.hostname();
        let port = addr.effective_port();
        let bmc = if host.contains(':') {
            format!("[{host}]:{port}")
        } else {
            format!("{host}:{port}")
        };
        let invalid = |detail: String| BmcError::InvalidRequest {
            bmc: bmc.clone(),
            operation: "open IPMI session".into(),
            detail,
        };
        if addr.protocol() != Protocol::Ipmi {
            return Err(invalid(format!(
                "address scheme {:?} is not IPMI",
                addr.scheme()
            )));
        }
        let level = addr.ipmi_privilege_level();
        let privilege = privilege_number(&level)
            .ok_or_else(|| invalid(format!("unknown privilege level {level:?}")))?;
        if let Some(s) = opts.cipher_suite {
            if CipherSuite::by_id(s).is_none() {
                return Err(BmcError::NotSupported {
                    bmc: bmc.clone(),
                    operation: "open IPMI session".into(),
                    detail: format!("cipher suite {s} is not implemented (3 and 17 are)"),
                });
            }
        }
        if creds.username.len() > 16 {
            return Err(invalid("IPMI user names are at most 16 bytes".into()));
        }
        let unreachable = |detail: String| BmcError::Unreachable {
            bmc: bmc.clone(),
            operation: "open IPMI session".into(),
            detail,
        };
        let target: SocketAddr = tokio::net::lookup_host((host, port))
            .await
            .map_err(|e| unreachable(format!("cannot resolve {host}: {e}")))?
            .next()
            .ok_or_else(|| unreachable(format!("{host} has no address")))?;
        let local: SocketAddr = if target.is_ipv4() {
            ([0, 0, 0, 0], 0).into()
        } else {
            ([0u16; 8], 0).into()
        };
        let sock = UdpSocket::bind(local)
            .await
            .map_err(|e| unreachable(format!("bind: {e}")))?;
        // A connected socket surfaces ICMP port-unreachable as ECONNREFUSED, so a
        // closed port fails at once instead of after every retransmission.
        sock.connect(target)
            .await
            .map_err(|e| unreachable(format!("connect: {e}")))?;
        let mut client = IpmiClient {
            budget: budget::for_bmc(&bmc, 1),
            bmc,
            timeout: opts.timeout,
            retries: opts.retries.max(1),
            info: SessionInfo {
                version: IpmiVersion::V20,
                cipher_suite: None,
                v15_auth: None,
                privilege,
            },
            inner: Mutex::new(Transport {
                sock,
                state: State {
                    session: Session::None,
                    rq_seq: 0,
                    pending_rq: 0,
                    closed: false,
                },
            }),
        };
        client.establish(creds, &opts, privilege).await?;
        Ok(client)
    }

    async fn establish(
        &mut self,
        creds: &Credentials,
        opts: &IpmiOptions,
        privilege: u8,
    ) -> Result<(), BmcError> {
        // Bit 7 asks for the IPMI 2.0 extended data; IPMI 1.5-only BMCs reject it,
        // so ask again without it, as ipmitool does.
        let caps = match self
            .raw_request(0x06, 0x38, &[0x8E, privilege], Silence::Unreachable)
            .await
        {
            Ok(r) if r.completion == 0 => r,
            Ok(_) => {
                self.raw_request(0x06, 0x38, &[0x0E, privilege], Silence::Unreachable)
                    .await?
            }
            Err(e) => return Err(e),
        };
        let caps = self.check(0x06, 0x38, "", caps)?;
        let auth_types = caps.get(1).copied().unwrap_or(0);
        let ext = caps.get(3).copied().unwrap_or(0);
        let has_v2 = auth_types & 0x80 != 0 && ext & 0x02 != 0;
        let use_v2 = match opts.version {
            IpmiVersion::V20 => true,
            IpmiVersion::V15 => false,
            IpmiVersion::Auto => has_v2,
        };
        if use_v2 {
            self.establish_v2(creds, opts, privilege).await?;
        } else {
            let auth = if auth_types & 0x04 != 0 {
                V15Auth::Md5
            } else if auth_types & 0x10 != 0 {
                V15Auth::Straight
            } else {
                return Err(self.err_not_supported(
                    "open IPMI 1.5 session",
                    format!("the BMC offers neither MD5 nor straight-password authentication (auth types {auth_types:#04x})"),
                ));
            };
            let per_message_auth_disabled = caps.get(2).is_some_and(|b| b & 0x10 != 0);
            self.establish_v15(creds, auth, privilege, per_message_auth_disabled)
                .await?;
        }
        let rsp = self
            .raw_request(0x06, 0x3B, &[privilege], Silence::TimedOut)
            .await?;
        self.check(0x06, 0x3B, "", rsp)?;
        Ok(())
    }

    async fn establish_v2(
        &mut self,
        creds: &Credentials,
        opts: &IpmiOptions,
        privilege: u8,
    ) -> Result<(), BmcError> {
        let suites: Vec<CipherSuite> = match opts.cipher_suite {
            Some(id) => CipherSuite::by_id(id).into_iter().collect(),
            None => vec![CipherSuite::SUITE_17, CipherSuite::SUITE_3],
        };
        let last = suites.len().saturating_sub(1);
        let mut refusals = Vec::new();
        for (i, suite) in suites.into_iter().enumerate() {
            match self.open_session(creds, suite, privilege).await {
                Ok(Attempt::Open) => {
                    self.info.cipher_suite = Some(suite.id);
                    self.info.version = IpmiVersion::V20;
                    return Ok(());
                }
                Ok(Attempt::Refused(status)) => refusals.push(format!(
                    "suite {}: status {status:#04x} {}",
                    suite.id,
                    codes::rmcp_plus_status(status)
                )),
                // Some BMCs drop an Open Session for a suite they lack instead of
                // refusing it; when negotiating, that is a reason to try the next.
                Err(e @ BmcError::TimedOut { .. }) if i < last => {
                    refusals.push(format!("suite {}: {e}", suite.id))
                }
                Err(e) => return Err(e),
            }
        }
        Err(self.err_not_supported(
            "open RMCP+ session",
            format!(
                "no usable cipher suite ({}); this client implements 3 and 17",
                refusals.join("; ")
            ),
        ))
    }

    /// One RMCP+ session attempt.
    async fn open_session(
        &mut self,
        creds: &Credentials,
        suite: CipherSuite,
        privilege: u8,
    ) -> Result<Attempt, BmcError> {
        let console_sid: u32 = rand::random::<u32>().max(1);
        // Distinct message tags per suite attempt and per message, so a late
        // answer to an earlier attempt is recognised as stale, not taken as ours.
        let tag = suite.id;
        let req = packet::open_session_request(
            tag,
            privilege,
            console_sid,
            suite.auth.number(),
            suite.integrity.number(),
            crypto::CONF_AES_CBC_128,
        );
        let op = format!("RMCP+ Open Session (cipher suite {})", suite.id);
        let rsp = self
            .presession(
                &op,
                payload::OPEN_SESSION_REQ,
                &req,
                payload::OPEN_SESSION_RSP,
                |p| {
                    let r = packet::decode_open_session(p).map_err(|e| e.to_string())?;
                    if r.tag != tag || (r.status == 0 && r.console_sid != console_sid) {
                        return Ok(Verdict::Stale);
                    }
                    Ok(Verdict::Done(r))
                },
            )
            .await?;
        if rsp.status != 0 {
            if codes::is_cipher_refusal(rsp.status) {
                return Ok(Attempt::Refused(rsp.status));
            }
            return Err(self.err_rmcp(&op, rsp.status));
        }
        let expected = [
            suite.auth.number(),
            suite.integrity.number(),
            crypto::CONF_AES_CBC_128,
        ];
        if rsp.algorithms != expected {
            return Err(self.err_bad(
                &op,
                format!(
                    "the BMC answered with other session parameters: {:?}",
                    rsp.algorithms
                ),
            ));
        }
        let bmc_sid = rsp.bmc_sid;
        let console_rand: [u8; 16] = rand::random();
        // Name-only lookup (bit 4), as ipmitool does: the user is found by name
        // and the requested role is checked against its privilege.
        let role = privilege | 0x10;
        let user = creds.username.as_bytes();
        let (tag1, tag3) = (tag.wrapping_add(1), tag.wrapping_add(2));
        let rakp1 = packet::rakp1(tag1, bmc_sid, &console_rand, role, user);
        let r2 = self
            .presession("RAKP 1", payload::RAKP1, &rakp1, payload::RAKP2, |p| {
                let r = packet::decode_rakp2(p).map_err(|e| e.to_string())?;
                if r.tag != tag1 || (r.status == 0 && r.console_sid != console_sid) {
                    return Ok(Verdict::Stale);
                }
                Ok(Verdict::Done(r))
            })
            .await?;
        if r2.status != 0 {
            return Err(self.err_auth(
                "RAKP 1",
                format!(
                    "status {:#04x} {} (unknown user {:?} or privilege not allowed)",
                    r2.status,
                    codes::rmcp_plus_status(r2.status),
                    creds.username
                ),
            ));
        }
        let params = RakpParams {
            console_sid,
            bmc_sid,
            console_rand,
            bmc_rand: r2.bmc_rand,
            bmc_guid: r2.bmc_guid,
            role,
            username: user,
        };
        let kuid = crypto::password_key(creds.password());
        if !crypto::ct_eq(&params.rakp2_hmac(suite.auth, &kuid), &r2.auth_code) {
            // Tell the BMC to drop the half-open session (its slots are few).
            let nak = packet::rakp3(tag3, 0x0F, bmc_sid, &[]);
            self.send_only(packet::encode_v2(
                &presession_packet(payload::RAKP3, nak),
                None,
            ))
            .await;
            return Err(self.err_auth(
                "RAKP 2",
                format!(
                    "the BMC's key exchange code does not match: wrong password for user {:?}",
                    creds.username
                ),
            ));
        }
        // No BMC key (Kg) is configured: Kg is Kuid, as the spec and ipmitool default.
        let sik = params.sik(suite.auth, &kuid);
        let (k1, k2) = crypto::derive_k1_k2(suite.auth, &sik);
        let aes =
            crypto::aes_key(&k2).ok_or_else(|| self.err_bad("RAKP 2", "K2 too short".into()))?;
        let integrity = Integrity {
            alg: suite.integrity,
            key: k1,
        };
        let rakp3 = packet::rakp3(tag3, 0, bmc_sid, &params.rakp3_hmac(suite.auth, &kuid));
        let r4 = self
            .presession_keyed(
                "RAKP 3",
                payload::RAKP3,
                &rakp3,
                payload::RAKP4,
                Some((&integrity, &aes, console_sid)),
                |p| {
                    let r = packet::decode_rakp4(p).map_err(|e| e.to_string())?;
                    if r.tag != tag3 || (r.status == 0 && r.console_sid != console_sid) {
                        return Ok(Verdict::Stale);
                    }
                    Ok(Verdict::Done(r))
                },
            )
            .await?;
        if r4.status != 0 {
            return Err(self.err_auth(
                "RAKP 3",
                format!(
                    "status {:#04x} {}",
                    r4.status,
                    codes::rmcp_plus_status(r4.status)
                ),
            ));
        }
        if !crypto::ct_eq(&params.rakp4_icv(suite, &sik), &r4.icv) {
            return Err(self.err_auth(
                "RAKP 4",
                "integrity check value mismatch (BMC key Kg set, or a forged answer)".into(),
            ));
        }
        self.inner.get_mut().state.session = Session::V2 {
            bmc_sid,
            console_sid,
            out_seq: 0,
            integrity,
            aes,
            window: SeqWindow::default(),
        };
        Ok(Attempt::Open)
    }

    async fn establish_v15(
        &mut self,
        creds: &Credentials,
        auth: V15Auth,
        privilege: u8,
        per_message_auth_disabled: bool,
    ) -> Result<(), BmcError> {
        let mut data = vec![auth.number()];
        let mut name = [0u8; 16];
        for (d, s) in name.iter_mut().zip(creds.username.as_bytes()) {
            *d = *s;
        }
        data.extend_from_slice(&name);
        let rsp = self
            .raw_request(0x06, 0x39, &data, Silence::TimedOut)
            .await?;
        if rsp.completion == 0x81 || rsp.completion == 0x82 {
            return Err(self.err_auth(
                "Get Session Challenge",
                format!(
                    "completion code {:#04x} {} ({:?})",
                    rsp.completion,
                    codes::completion_code_for(0x06, 0x39, rsp.completion),
                    creds.username
                ),
            ));
        }
        let ch = self.check(0x06, 0x39, "", rsp)?;
        let (temp_id, challenge) = match (ch.get(0..4), ch.get(4..20)) {
            (Some(a), Some(b)) => (
                u32::from_le_bytes(a.try_into().unwrap_or_default()),
                b.to_vec(),
            ),
            _ => {
                return Err(self.err_bad(
                    "Get Session Challenge",
                    "answer shorter than 20 bytes".into(),
                ))
            }
        };
        let pw = crypto::password16(creds.password());
        let initial_out: u32 = rand::random::<u32>().max(1);
        let mut act = vec![auth.number(), privilege];
        act.extend_from_slice(&challenge);
        act.extend_from_slice(&initial_out.to_le_bytes());
        // Activate Session is sent in the temporary session with sequence 0,
        // authenticated with the password; a wrong password gets no answer.
        {
            let st = &mut self.inner.get_mut().state;
            st.session = Session::V15 {
                session_id: temp_id,
                out_seq: 0,
                auth,
                pw,
                window: SeqWindow::default(),
                activating: true,
                unauthenticated_answers: false,
            };
        }
        let rsp = match self.raw_request(0x06, 0x3A, &act, Silence::TimedOut).await {
            Ok(r) => r,
            Err(BmcError::TimedOut { after, .. }) => {
                return Err(self.err_auth(
                    "Activate Session",
                    format!(
                        "no answer in {}s: BMCs silently drop an Activate Session whose auth code is wrong (wrong password for {:?})",
                        after.as_secs_f64(),
                        creds.username
                    ),
                ))
            }
            Err(e) => return Err(e),
        };
        let a = self.check(0x06, 0x3A, "", rsp)?;
        let (sid, inbound) = match (a.get(1..5), a.get(5..9)) {
            (Some(s), Some(i)) => (
                u32::from_le_bytes(s.try_into().unwrap_or_default()),
                u32::from_le_bytes(i.try_into().unwrap_or_default()),
            ),
            _ => {
                return Err(self.err_bad("Activate Session", "answer shorter than 10 bytes".into()))
            }
        };
        self.inner.get_mut().state.session = Session::V15 {
            session_id: sid,
            // wrap() pre-increments, so the first message carries `inbound`.
            out_seq: inbound.wrapping_sub(1),
            auth,
            pw,
            window: SeqWindow::default(),
            activating: false,
            unauthenticated_answers: per_message_auth_disabled,
        };
        self.info.version = IpmiVersion::V15;
        self.info.v15_auth = Some(auth);
        Ok(())
    }

    /// Sends a pre-session RMCP+ payload and waits for the answer of `want` type.
    async fn presession<T>(
        &self,
        op: &str,
        ty: u8,
        body: &[u8],
        want: u8,
        parse: impl Fn(&[u8]) -> Result<Verdict<T>, String>,
    ) -> Result<T, BmcError> {
        self.presession_keyed(op, ty, body, want, None, parse).await
    }

    /// Like [`Self::presession`], but with the session keys already derived
    /// (RAKP 3): when RAKP 4 is lost and RAKP 3 is sent again, a BMC that has
    /// activated the session (ipmi_sim does this) answers with RAKP 4 inside the
    /// session, authenticated with K1 and encrypted, which only the keys open.
    async fn presession_keyed<T>(
        &self,
        op: &str,
        ty: u8,
        body: &[u8],
        want: u8,
        keys: Option<(&Integrity, &[u8; 16], u32)>,
        parse: impl Fn(&[u8]) -> Result<Verdict<T>, String>,
    ) -> Result<T, BmcError> {
        let pkt = packet::encode_v2(&presession_packet(ty, body.to_vec()), None);
        self.roundtrip(
            op,
            Silence::TimedOut,
            |_| pkt.clone(),
            |_, bytes| {
                let p = packet::decode_v2(bytes, keys.map(|k| k.0)).map_err(|e| e.to_string())?;
                let in_session = match keys {
                    Some((_, _, console_sid)) => p.authenticated && p.session_id == console_sid,
                    None => false,
                };
                if p.payload_type != want || !(p.session_id == 0 || in_session) {
                    return Ok(Verdict::Stale);
                }
                match (p.encrypted, keys) {
                    (false, _) => parse(&p.payload),
                    (true, Some((_, aes, _))) => {
                        parse(&crypto::aes_decrypt(aes, &p.payload).map_err(str::to_string)?)
                    }
                    (true, None) => Err("encrypted payload before session keys exist".into()),
                }
            },
        )
        .await
    }

    /// Fire-and-forget datagram (a courtesy to the BMC, nothing waits for it).
    async fn send_only(&self, pkt: Vec<u8>) {
        let t = self.inner.lock().await;
        let _ = t.sock.send(&pkt).await;
    }

    /// One request/response with retransmission; holds the session lock and a
    /// per-BMC budget permit while in flight.
    async fn roundtrip<T>(
        &self,
        op: &str,
        silence: Silence,
        mut build: impl FnMut(&mut State) -> Vec<u8>,
        mut accept: impl FnMut(&mut State, &[u8]) -> Result<Verdict<T>, String>,
    ) -> Result<T, BmcError> {
        let _permit = self
            .budget
            .acquire()
            .await
            .map_err(|e| BmcError::Unreachable {
                bmc: self.bmc.clone(),
                operation: op.to_string(),
                detail: format!("request budget closed: {e}"),
            })?;
        let mut t = self.inner.lock().await;
        let Transport { sock, state } = &mut *t;
        // Checked under the lock, so a request queued behind close() does not go
        // out in a session the BMC has already ended.
        if state.closed {
            return Err(BmcError::InvalidRequest {
                bmc: self.bmc.clone(),
                operation: op.to_string(),
                detail: "the IPMI session is closed".into(),
            });
        }
        let mut buf = vec![0u8; 1024];
        let mut last_bad: Option<String> = None;
        for _ in 0..self.retries {
            let pkt = build(state);
            if let Err(e) = sock.send(&pkt).await {
                return Err(self.io_error(op, &e));
            }
            let deadline = tokio::time::Instant::now() + self.timeout;
            loop {
                match tokio::time::timeout_at(deadline, sock.recv(&mut buf)).await {
                    Err(_) => break,
                    Ok(Err(e)) => return Err(self.io_error(op, &e)),
                    Ok(Ok(n)) => match accept(state, buf.get(..n).unwrap_or_default()) {
                        Ok(Verdict::Done(v)) => return Ok(v),
                        Ok(Verdict::Stale) => {}
                        Err(why) => last_bad = Some(why),
                    },
                }
            }
        }
        let after = self.timeout * self.retries;
        let tries = format!("{} tries of {}s", self.retries, self.timeout.as_secs_f64());
        Err(match (last_bad, silence) {
            (Some(why), _) => {
                self.err_bad(op, format!("only unusable answers in {tries}; last: {why}"))
            }
            (None, Silence::Unreachable) => BmcError::Unreachable {
                bmc: self.bmc.clone(),
                operation: op.to_string(),
                detail: format!("no answer to {tries} (no IPMI BMC listening, or packets dropped)"),
            },
            (None, Silence::TimedOut) => BmcError::TimedOut {
                bmc: self.bmc.clone(),
                operation: op.to_string(),
                after,
                detail: format!("no answer to {tries}"),
            },
        })
    }

    /// Sends an IPMI request in the current session and returns the raw response
    /// (completion code not checked).
    async fn raw_request(
        &self,
        netfn: u8,
        cmd: u8,
        data: &[u8],
        silence: Silence,
    ) -> Result<packet::Response, BmcError> {
        let op = command_name(netfn, cmd);
        let mut first = true;
        self.roundtrip(
            op,
            silence,
            |st| {
                // The same rqSeq on every retransmission lets the BMC spot duplicates;
                // the session sequence number is fresh so the BMC does not drop it as a replay.
                if first {
                    st.pending_rq = st.next_rq_seq();
                    first = false;
                }
                let seq = st.pending_rq;
                st.wrap(&packet::encode_request(netfn, cmd, seq, data))
            },
            |st, bytes| {
                let msg = st.unwrap(bytes)?;
                let r = packet::decode_response(&msg).map_err(|e| e.to_string())?;
                if r.rq_seq != st.pending_rq || r.cmd != cmd || r.netfn != netfn + 1 {
                    return Ok(Verdict::Stale);
                }
                Ok(Verdict::Done(r))
            },
        )
        .await
    }

    /// A request in an open session whose completion code must be 0.
    async fn request(
        &self,
        netfn: u8,
        cmd: u8,
        data: &[u8],
        what: &str,
    ) -> Result<Vec<u8>, BmcError> {
        let rsp = self
            .raw_request(netfn, cmd, data, Silence::TimedOut)
            .await?;
        self.check(netfn, cmd, what, rsp)
    }

    fn check(
        &self,
        netfn: u8,
        cmd: u8,
        what: &str,
        rsp: packet::Response,
    ) -> Result<Vec<u8>, BmcError> {
        if rsp.completion == 0 {
            return Ok(rsp.data);
        }
        let name = command_name(netfn, cmd);
        Err(BmcError::Ipmi {
            bmc: self.bmc.clone(),
            operation: if what.is_empty() {
                name.into()
            } else {
                format!("{name} ({what})")
            },
            code: rsp.completion,
            meaning: codes::completion_code_for(netfn, cmd, rsp.completion).into(),
        })
    }

    fn io_error(&self, op: &str, e: &std::io::Error) -> BmcError {
        let detail = if e.kind() == std::io::ErrorKind::ConnectionRefused {
            "connection refused (ICMP port unreachable: nothing listens on this UDP port)"
                .to_string()
        } else {
            e.to_string()
        };
        BmcError::Unreachable {
            bmc: self.bmc.clone(),
            operation: op.to_string(),
            detail,
        }
    }

    fn err_bad(&self, op: &str, detail: String) -> BmcError {
        BmcError::BadResponse {
            bmc: self.bmc.clone(),
            operation: op.to_string(),
            detail,
        }
    }

    fn err_auth(&self, op: &str, detail: String) -> BmcError {
        BmcError::AuthFailed {
            bmc: self.bmc.clone(),
            operation: op.to_string(),
            detail,
        }
    }

    fn err_not_supported(&self, op: &str, detail: String) -> BmcError {
        BmcError::NotSupported {
            bmc: self.bmc.clone(),
            operation: op.to_string(),
            detail,
        }
    }

    fn err_rmcp(&self, op: &str, status: u8) -> BmcError {
        let detail = format!("status {status:#04x} {}", codes::rmcp_plus_status(status));
        match status {
            0x01 | 0x0B => BmcError::Unreachable {
                bmc: self.bmc.clone(),
                operation: op.to_string(),
                detail: format!("{detail} (no free session slot)"),
            },
            0x09 | 0x0A | 0x0C | 0x0D => self.err_auth(op, detail),
            _ => self.err_bad(op, detail),
        }
    }

    /// The BMC as `host:port`.
    pub fn bmc(&self) -> &str {
        &self.bmc
    }

    /// What the session negotiated.
    pub fn session_info(&self) -> SessionInfo {
        self.info
    }

    /// Get Device ID.
    pub async fn device_id(&self) -> Result<DeviceId, BmcError> {
        let d = self.request(0x06, 0x01, &[], "").await?;
        let b = |i: usize| d.get(i).copied();
        let (
            Some(id),
            Some(rev),
            Some(fw1),
            Some(fw2),
            Some(ver),
            Some(add),
            Some(m0),
            Some(m1),
            Some(m2),
            Some(p0),
            Some(p1),
        ) = (
            b(0),
            b(1),
            b(2),
            b(3),
            b(4),
            b(5),
            b(6),
            b(7),
            b(8),
            b(9),
            b(10),
        )
        else {
            return Err(self.err_bad(
                "Get Device ID",
                format!("answer has {} bytes, need 11", d.len()),
            ));
        };
        Ok(DeviceId {
            device_id: id,
            device_revision: rev & 0x0F,
            provides_sdrs: rev & 0x80 != 0,
            firmware_revision: format!("{}.{:02x}", fw1 & 0x7F, fw2),
            device_available: fw1 & 0x80 == 0,
            ipmi_version: format!("{}.{}", ver & 0x0F, ver >> 4),
            additional_device_support: add,
            manufacturer_id: u32::from_le_bytes([m0, m1, m2 & 0x0F, 0]),
            product_id: u16::from_le_bytes([p0, p1]),
            aux_firmware_revision: d.get(11..15).and_then(|s| s.try_into().ok()),
        })
    }

    /// Get Chassis Status: power on or off.
    pub async fn chassis_power(&self) -> Result<PowerState, BmcError> {
        let d = self.request(0x00, 0x01, &[], "").await?;
        match d.first() {
            Some(b) if b & 0x01 != 0 => Ok(PowerState::On),
            Some(_) => Ok(PowerState::Off),
            None => Err(self.err_bad("Get Chassis Status", "empty answer".into())),
        }
    }

    /// Chassis Control.
    pub async fn chassis_control(&self, action: ChassisControl) -> Result<(), BmcError> {
        let what = format!("{action:?}");
        self.request(0x00, 0x02, &[action.code()], &what)
            .await
            .map(|_| ())
    }

    /// Set System Boot Options parameter 5 the way ipmitool does: set-in-progress
    /// (param 0), boot-info acknowledge (param 4), boot flags (param 5), set complete.
    pub async fn set_boot_flags(&self, boot: &BootOverride) -> Result<(), BmcError> {
        let data = match encode_boot_flags(boot) {
            Ok(d) => d,
            Err(BootFlagsError::UefiHttp) => {
                return Err(self.err_not_supported(
                    "Set System Boot Options (boot flags)",
                    "UEFI HTTP boot has no IPMI boot device selector (use Redfish)".into(),
                ))
            }
            Err(BootFlagsError::HttpBootUri) => {
                return Err(BmcError::InvalidRequest {
                    bmc: self.bmc.clone(),
                    operation: "Set System Boot Options (boot flags)".into(),
                    detail: "an HTTP boot URI cannot be set over IPMI".into(),
                })
            }
        };
        let mut param = vec![0x05];
        param.extend_from_slice(&data);
        // Set-in-progress and the acknowledge reset are optional parameters; like
        // ipmitool we go on without them when the BMC rejects them.
        let in_progress = self
            .request(0x00, 0x08, &[0x00, 0x01], "set in progress")
            .await
            .is_ok();
        let _ = self
            .request(0x00, 0x08, &[0x04, 0x01, 0x01], "boot info acknowledge")
            .await;
        let result = self
            .request(0x00, 0x08, &param, "boot flags")
            .await
            .map(|_| ());
        if in_progress {
            let done = self
                .request(0x00, 0x08, &[0x00, 0x00], "set complete")
                .await;
            result?;
            return done.map(|_| ());
        }
        result
    }

    /// Get System Boot Options parameter 5, decoded as the BMC reports it.
    pub async fn boot_flags(&self) -> Result<BootFlags, BmcError> {
        let d = self
            .request(0x00, 0x09, &[0x05, 0x00, 0x00], "boot flags")
            .await?;
        BootFlags::decode(&d).ok_or_else(|| {
            self.err_bad(
                "Get System Boot Options",
                format!("answer has {} bytes, need 4", d.len()),
            )
        })
    }

    /// The boot override in effect: [`BootDevice::None`] unless the BMC marks
    /// the flags valid, since firmware ignores invalid flags.
    pub async fn boot_override_flags(&self) -> Result<BootOverride, BmcError> {
        let f = self.boot_flags().await?;
        let mode = Some(if f.uefi {
            BootMode::Uefi
        } else {
            BootMode::Legacy
        });
        if !f.valid {
            return Ok(BootOverride {
                device: BootDevice::None,
                persistent: false,
                mode,
                http_boot_uri: None,
            });
        }
        let Some(device) = f.device else {
            return Err(self.err_not_supported(
                "Get System Boot Options (boot flags)",
                format!("boot device selector {:#x} (diagnostics, floppy or remote media) has no equivalent here", f.selector),
            ));
        };
        Ok(BootOverride {
            device,
            persistent: f.persistent,
            mode,
            http_boot_uri: None,
        })
    }

    /// Close Session; later requests fail. Idempotent. No (usable) answer counts as closed.
    pub async fn close(&self) -> Result<(), BmcError> {
        let sid = {
            let t = self.inner.lock().await;
            if t.state.closed {
                return Ok(());
            }
            match t.state.session {
                Session::V2 { bmc_sid, .. } => bmc_sid,
                Session::V15 { session_id, .. } => session_id,
                Session::None => return Ok(()),
            }
        };
        let r = self
            .raw_request(0x06, 0x3C, &sid.to_le_bytes(), Silence::TimedOut)
            .await;
        self.inner.lock().await.state.closed = true;
        match r {
            Ok(rsp) => self.check(0x06, 0x3C, "", rsp).map(|_| ()),
            // A BMC that executed Close Session cannot answer a retransmission in
            // the session it just closed, so a lost (or damaged) first answer is
            // followed by silence; the session is gone either way (or expires on
            // the BMC's idle timer), and nothing more can be done about it.
            Err(BmcError::TimedOut { .. } | BmcError::BadResponse { .. }) => Ok(()),
            Err(e) => Err(e),
        }
    }
}

fn presession_packet(ty: u8, payload: Vec<u8>) -> V2Packet {
    V2Packet {
        payload_type: ty,
        encrypted: false,
        authenticated: false,
        session_id: 0,
        seq: 0,
        payload,
    }
}

impl Drop for IpmiClient {
    fn drop(&mut self) {
        // Best effort: BMCs have a handful of session slots and keep abandoned
        // sessions for minutes, so send Close Session without waiting.
        let t = self.inner.get_mut();
        if t.state.closed {
            return;
        }
        let sid = match t.state.session {
            Session::V2 { bmc_sid, .. } => bmc_sid,
            Session::V15 { session_id, .. } => session_id,
            Session::None => return,
        };
        let seq = t.state.next_rq_seq();
        let pkt = t
            .state
            .wrap(&packet::encode_request(0x06, 0x3C, seq, &sid.to_le_bytes()));
        let _ = t.sock.try_send(&pkt);
        t.state.closed = true;
    }
}

impl PowerBootControl for IpmiClient {
    fn bmc_name(&self) -> String {
        self.bmc.clone()
    }

    async fn power_state(&self) -> Result<PowerState, BmcError> {
        self.chassis_power().await
    }

    async fn set_power(&self, action: PowerAction) -> Result<(), BmcError> {
        let ctl = match action {
            PowerAction::On => ChassisControl::PowerUp,
            PowerAction::ForceOff => ChassisControl::PowerDown,
            PowerAction::GracefulShutdown => ChassisControl::SoftShutdown,
            PowerAction::ForceRestart => ChassisControl::HardReset,
            PowerAction::PowerCycle => ChassisControl::PowerCycle,
            PowerAction::GracefulRestart => {
                // IPMI has no OS-cooperative reboot; soft-off then power-on is two
                // commands that can leave the host off if the second is lost, so we
                // refuse rather than pretend.
                return Err(self.err_not_supported(
                    "power GracefulRestart",
                    "IPMI has no graceful restart; use GracefulShutdown then On, or ForceRestart"
                        .into(),
                ));
            }
        };
        self.chassis_control(ctl).await
    }

    async fn set_boot(&self, boot: &BootOverride) -> Result<(), BmcError> {
        self.set_boot_flags(boot).await
    }

    async fn boot_override(&self) -> Result<BootOverride, BmcError> {
        self.boot_override_flags().await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seq_window() {
        let mut w = SeqWindow::default();
        assert!(!w.accept(0));
        assert!(w.accept(10));
        assert!(!w.accept(10), "replay");
        assert!(w.accept(12));
        assert!(w.accept(11), "late but in window");
        assert!(!w.accept(11));
        assert!(w.accept(44));
        assert!(!w.accept(12), "too old");
        assert!(!w.accept(100), "too far ahead");
    }

    #[test]
    fn v15_auth_code_checked_unless_per_message_auth_is_off() {
        let pw = crypto::password16("password");
        let msg = vec![1, 2, 3];
        let code = crypto::v15_authcode(V15Auth::Md5, &pw, 9, 4, &msg);
        let mut p = V15Packet {
            auth_type: 2,
            seq: 4,
            session_id: 9,
            auth_code: Some(code),
            msg,
        };
        assert!(verify_v15(&p, V15Auth::Md5, &pw, false).is_ok());
        assert!(verify_v15(&p, V15Auth::Md5, &crypto::password16("other"), false).is_err());
        p.seq = 5;
        assert!(verify_v15(&p, V15Auth::Md5, &pw, false).is_err());
        assert!(verify_v15(&p, V15Auth::Straight, &pw, false).is_err());
        p.auth_type = 0;
        p.auth_code = None;
        assert!(verify_v15(&p, V15Auth::Md5, &pw, false).is_err());
        assert!(verify_v15(&p, V15Auth::Md5, &pw, true).is_ok());
    }

    #[test]
    fn boot_flags_encode_decode() {
        let ov = |device, persistent, mode| BootOverride {
            device,
            persistent,
            mode,
            http_boot_uri: None,
        };
        // IPMI v2.0 table 28-14: byte 1 valid 0x80, persistent 0x40, EFI 0x20;
        // byte 2 device selector in bits 5:2 (PXE 1, disk 2, CD 5, BIOS setup 6).
        assert_eq!(
            encode_boot_flags(&ov(BootDevice::Pxe, false, None)),
            Ok([0x80, 0x04, 0, 0, 0])
        );
        assert_eq!(
            encode_boot_flags(&ov(BootDevice::Pxe, true, Some(BootMode::Uefi))),
            Ok([0xE0, 0x04, 0, 0, 0])
        );
        assert_eq!(
            encode_boot_flags(&ov(BootDevice::Disk, false, Some(BootMode::Legacy))),
            Ok([0x80, 0x08, 0, 0, 0])
        );
        assert_eq!(
            encode_boot_flags(&ov(BootDevice::Cd, false, None)),
            Ok([0x80, 0x14, 0, 0, 0])
        );
        assert_eq!(
            encode_boot_flags(&ov(BootDevice::BiosSetup, false, None)),
            Ok([0x80, 0x18, 0, 0, 0])
        );
        assert_eq!(
            encode_boot_flags(&ov(BootDevice::None, false, None)),
            Ok([0, 0, 0, 0, 0])
        );
        assert_eq!(
            encode_boot_flags(&ov(BootDevice::UefiHttp, false, None)),
            Err(BootFlagsError::UefiHttp)
        );
        let mut with_uri = ov(BootDevice::Pxe, false, None);
        with_uri.http_boot_uri = Some("http://x/".into());
        assert_eq!(
            encode_boot_flags(&with_uri),
            Err(BootFlagsError::HttpBootUri)
        );

        for dev in [
            BootDevice::Pxe,
            BootDevice::Disk,
            BootDevice::Cd,
            BootDevice::BiosSetup,
        ] {
            for persistent in [false, true] {
                for mode in [BootMode::Uefi, BootMode::Legacy] {
                    let data =
                        encode_boot_flags(&ov(dev, persistent, Some(mode))).unwrap_or_default();
                    let mut answer = vec![0x01, 0x05];
                    answer.extend_from_slice(&data);
                    let f = BootFlags::decode(&answer);
                    assert_eq!(
                        f.map(|f| (f.valid, f.persistent, f.uefi, f.device)),
                        Some((true, persistent, mode == BootMode::Uefi, Some(dev)))
                    );
                }
            }
        }
        // What ipmi_sim answers after `bootdev pxe`: valid bit dropped.
        let f = BootFlags::decode(&[0x01, 0x05, 0x00, 0x04, 0, 0, 0]);
        assert_eq!(
            f.map(|f| (f.valid, f.device)),
            Some((false, Some(BootDevice::Pxe)))
        );
        assert_eq!(BootFlags::decode(&[0x01, 0x05, 0x80]), None);
        // Remote floppy has no BootDevice.
        assert_eq!(
            BootFlags::decode(&[1, 5, 0x80, 0x3C, 0, 0, 0]).and_then(|f| f.device),
            None
        );
    }

    #[test]
    fn privilege_names() {
        assert_eq!(privilege_number("administrator"), Some(4));
        assert_eq!(privilege_number("OPERATOR"), Some(3));
        assert_eq!(privilege_number("boss"), None);
    }
}
