//! The one error type of the protocol clients.

use std::time::Duration;

/// What kind of failure a [`BmcError`] is, for callers that branch on it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BmcErrorKind {
    /// No answer at the network level (refused, unreachable, DNS, TLS handshake).
    Unreachable,
    /// Credentials refused.
    AuthFailed,
    /// The BMC does not implement what was asked.
    NotSupported,
    /// No answer in time, or the BMC said yes but never reached the target state.
    TimedOut,
    /// The answer could not be understood (malformed JSON or packet, wrong shape).
    BadResponse,
    /// The BMC answered with an error status (HTTP status or IPMI completion code).
    Rejected,
    /// The caller asked for something invalid (bad argument).
    InvalidRequest,
}

/// A failed BMC operation. The message names the BMC (address without
/// credentials), the operation and what went wrong; never a password.
#[derive(Debug, Clone, thiserror::Error)]
pub enum BmcError {
    /// Network-level failure.
    #[error("BMC {bmc}: {operation}: cannot reach the BMC: {detail}")]
    Unreachable {
        /// BMC address without credentials.
        bmc: String,
        /// What was being done.
        operation: String,
        /// Cause.
        detail: String,
    },
    /// Credentials refused.
    #[error("BMC {bmc}: {operation}: authentication failed: {detail}")]
    AuthFailed {
        /// BMC address without credentials.
        bmc: String,
        /// What was being done.
        operation: String,
        /// Cause.
        detail: String,
    },
    /// Not implemented by this BMC or protocol.
    #[error("BMC {bmc}: {operation}: not supported: {detail}")]
    NotSupported {
        /// BMC address without credentials.
        bmc: String,
        /// What was being done.
        operation: String,
        /// Cause.
        detail: String,
    },
    /// No answer in time or target state never reached.
    #[error("BMC {bmc}: {operation}: timed out after {}s: {detail}", after.as_secs_f64())]
    TimedOut {
        /// BMC address without credentials.
        bmc: String,
        /// What was being done.
        operation: String,
        /// How long we waited.
        after: Duration,
        /// Cause.
        detail: String,
    },
    /// Unintelligible answer.
    #[error("BMC {bmc}: {operation}: bad response: {detail}")]
    BadResponse {
        /// BMC address without credentials.
        bmc: String,
        /// What was being done.
        operation: String,
        /// Cause.
        detail: String,
    },
    /// An HTTP error status, with the Redfish extended message when there is one.
    #[error("BMC {bmc}: {operation}: HTTP {status}: {message}")]
    Http {
        /// BMC address without credentials.
        bmc: String,
        /// What was being done.
        operation: String,
        /// HTTP status code.
        status: u16,
        /// `@Message.ExtendedInfo` text or the reason phrase.
        message: String,
    },
    /// An IPMI completion code other than success.
    #[error("BMC {bmc}: {operation}: completion code {code:#04x} {meaning}")]
    Ipmi {
        /// BMC host:port.
        bmc: String,
        /// IPMI command name.
        operation: String,
        /// Completion code.
        code: u8,
        /// The code in words.
        meaning: String,
    },
    /// The caller's request was invalid before anything was sent.
    #[error("BMC {bmc}: {operation}: {detail}")]
    InvalidRequest {
        /// BMC address without credentials.
        bmc: String,
        /// What was being done.
        operation: String,
        /// What was wrong.
        detail: String,
    },
}

impl BmcError {
    /// The category of the failure.
    pub fn kind(&self) -> BmcErrorKind {
        match self {
            BmcError::Unreachable { .. } => BmcErrorKind::Unreachable,
            BmcError::AuthFailed { .. } => BmcErrorKind::AuthFailed,
            BmcError::NotSupported { .. } => BmcErrorKind::NotSupported,
            BmcError::TimedOut { .. } => BmcErrorKind::TimedOut,
            BmcError::BadResponse { .. } => BmcErrorKind::BadResponse,
            BmcError::Http { status, .. } => match status {
                401 | 403 => BmcErrorKind::AuthFailed,
                404 | 405 | 501 => BmcErrorKind::NotSupported,
                _ => BmcErrorKind::Rejected,
            },
            BmcError::Ipmi { .. } => BmcErrorKind::Rejected,
            BmcError::InvalidRequest { .. } => BmcErrorKind::InvalidRequest,
        }
    }
}
