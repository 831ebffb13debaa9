//! IPMI completion codes and RMCP+ status codes in words.

/// The meaning of an IPMI completion code (generic table 0xC0–0xD6, 0xFF;
/// 0x80–0xBE are command-specific).
pub fn completion_code(code: u8) -> &'static str {
    match code {
        0x00 => "command completed normally",
        0xC0 => "node busy",
        0xC1 => "invalid command",
        0xC2 => "command invalid for given LUN",
        0xC3 => "timeout while processing command",
        0xC4 => "out of space",
        0xC5 => "reservation canceled or invalid reservation ID",
        0xC6 => "request data truncated",
        0xC7 => "request data length invalid",
        0xC8 => "request data field length limit exceeded",
        0xC9 => "parameter out of range",
        0xCA => "cannot return number of requested data bytes",
        0xCB => "requested sensor, data, or record not present",
        0xCC => "invalid data field in request",
        0xCD => "command illegal for specified sensor or record type",
        0xCE => "command response could not be provided",
        0xCF => "cannot execute duplicated request",
        0xD0 => "command response could not be provided: SDR repository in update mode",
        0xD1 => "command response could not be provided: device in firmware update mode",
        0xD2 => "command response could not be provided: BMC initialization or initialization agent in progress",
        0xD3 => "destination unavailable",
        0xD4 => "insufficient privilege level",
        0xD5 => "command, or request parameter(s), not supported in present state",
        0xD6 => "cannot execute command: parameter is illegal because command sub-function has been disabled or is unavailable",
        0xFF => "unspecified error",
        0x01..=0x7E => "OEM completion code",
        0x80..=0xBE => "command-specific completion code",
        _ => "reserved completion code",
    }
}

/// Command-specific meanings for the commands this client sends, else the generic table.
pub fn completion_code_for(netfn: u8, cmd: u8, code: u8) -> &'static str {
    match (netfn, cmd, code) {
        // Set/Get System Boot Options.
        (0x00, 0x08 | 0x09, 0x80) => "parameter not supported",
        (0x00, 0x08, 0x81) => {
            "attempt to set the 'set in progress' value when not in 'set complete' state"
        }
        (0x00, 0x08, 0x82) => "attempt to write read-only parameter",
        // Activate Session.
        (0x06, 0x3A, 0x81) => "no session slot available",
        (0x06, 0x3A, 0x82) => "no slot available for given user",
        (0x06, 0x3A, 0x83) => {
            "no slot available to support user due to maximum privilege capability"
        }
        (0x06, 0x3A, 0x84) => "session sequence number out-of-range",
        (0x06, 0x3A, 0x85) => "invalid session ID in request",
        (0x06, 0x3A, 0x86) => {
            "requested maximum privilege level exceeds user and/or channel privilege limit"
        }
        // Get Session Challenge.
        (0x06, 0x39, 0x81) => "invalid user name",
        (0x06, 0x39, 0x82) => "null user name not enabled",
        // Set Session Privilege Level.
        (0x06, 0x3B, 0x80) => "requested level not available for this user",
        (0x06, 0x3B, 0x81) => "requested level exceeds channel and/or user privilege limit",
        (0x06, 0x3B, 0x82) => "cannot disable user level authentication",
        // Close Session.
        (0x06, 0x3C, 0x87) => "invalid session ID in request",
        _ => completion_code(code),
    }
}

/// The meaning of an RMCP+ Open Session / RAKP status code.
pub fn rmcp_plus_status(code: u8) -> &'static str {
    match code {
        0x00 => "no errors",
        0x01 => "insufficient resources to create a session",
        0x02 => "invalid session ID",
        0x03 => "invalid payload type",
        0x04 => "invalid authentication algorithm",
        0x05 => "invalid integrity algorithm",
        0x06 => "no matching authentication payload",
        0x07 => "no matching integrity payload",
        0x08 => "inactive session ID",
        0x09 => "invalid role",
        0x0A => "unauthorized role or privilege level requested",
        0x0B => "insufficient resources to create a session at the requested role",
        0x0C => "invalid name length",
        0x0D => "unauthorized name",
        0x0E => "unauthorized GUID",
        0x0F => "invalid integrity check value",
        0x10 => "invalid confidentiality algorithm",
        0x11 => "no cipher suite match with proposed security algorithms",
        0x12 => "illegal or unrecognized parameter",
        _ => "reserved status code",
    }
}

/// Whether an Open Session status says the BMC does not do the proposed cipher suite.
pub fn is_cipher_refusal(status: u8) -> bool {
    matches!(status, 0x03..=0x07 | 0x10 | 0x11)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generic_table_is_complete() {
        for c in 0xC0..=0xD6u8 {
            let m = completion_code(c);
            assert!(
                !m.contains("reserved") && !m.contains("command-specific"),
                "{c:#x}"
            );
        }
        assert_eq!(completion_code(0xD4), "insufficient privilege level");
        assert_eq!(completion_code(0xFF), "unspecified error");
        assert_eq!(completion_code_for(0, 9, 0x80), "parameter not supported");
        assert_eq!(
            completion_code_for(6, 1, 0x80),
            "command-specific completion code"
        );
    }
}
