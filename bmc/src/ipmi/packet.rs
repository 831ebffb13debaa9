//! IPMI-over-LAN packet encoding and decoding as pure functions: RMCP, the
//! IPMI 1.5 and 2.0 (RMCP+) session wrappers, IPMI messages, and the Open
//! Session / RAKP payloads. Every decoder takes untrusted bytes and returns an
//! error instead of panicking or indexing out of range.

use crate::ipmi::crypto::Integrity;

/// RMCP header: version 6, reserved, sequence 0xFF (no RMCP ack), class IPMI.
pub const RMCP_HEADER: [u8; 4] = [0x06, 0x00, 0xFF, 0x07];
/// Auth type / format byte that marks an RMCP+ (IPMI 2.0) session header.
pub const AUTH_RMCP_PLUS: u8 = 0x06;
/// Our software ID as requester (remote console 0x81).
pub const CONSOLE_SWID: u8 = 0x81;
/// The BMC's slave address.
pub const BMC_SA: u8 = 0x20;

/// RMCP+ payload types.
pub mod payload {
    /// IPMI message.
    pub const IPMI: u8 = 0x00;
    /// RMCP+ Open Session Request.
    pub const OPEN_SESSION_REQ: u8 = 0x10;
    /// RMCP+ Open Session Response.
    pub const OPEN_SESSION_RSP: u8 = 0x11;
    /// RAKP Message 1.
    pub const RAKP1: u8 = 0x12;
    /// RAKP Message 2.
    pub const RAKP2: u8 = 0x13;
    /// RAKP Message 3.
    pub const RAKP3: u8 = 0x14;
    /// RAKP Message 4.
    pub const RAKP4: u8 = 0x15;
}

/// Why bytes could not be decoded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PacketError {
    /// Fewer bytes than the structure needs.
    #[error("truncated packet: {0}")]
    Truncated(&'static str),
    /// A field has a value the protocol does not allow here.
    #[error("malformed packet: {0}")]
    Malformed(&'static str),
    /// A checksum did not add up.
    #[error("bad checksum in {0}")]
    Checksum(&'static str),
    /// Integrity or auth code mismatch.
    #[error("integrity check failed")]
    Integrity,
}

/// A bounds-checked reader over untrusted bytes.
struct Reader<'a> {
    buf: &'a [u8],
    what: &'static str,
}

impl<'a> Reader<'a> {
    fn new(buf: &'a [u8], what: &'static str) -> Self {
        Reader { buf, what }
    }
    fn take(&mut self, n: usize) -> Result<&'a [u8], PacketError> {
        if self.buf.len() < n {
            return Err(PacketError::Truncated(self.what));
        }
        let (a, b) = self.buf.split_at(n);
        self.buf = b;
        Ok(a)
    }
    fn u8(&mut self) -> Result<u8, PacketError> {
        Ok(self.take(1)?.first().copied().unwrap_or(0))
    }
    fn u16le(&mut self) -> Result<u16, PacketError> {
        let b = self.array::<2>()?;
        Ok(u16::from_le_bytes(b))
    }
    fn u32le(&mut self) -> Result<u32, PacketError> {
        Ok(u32::from_le_bytes(self.array::<4>()?))
    }
    fn array<const N: usize>(&mut self) -> Result<[u8; N], PacketError> {
        let s = self.take(N)?;
        s.try_into().map_err(|_| PacketError::Truncated(self.what))
    }
    fn rest(&mut self) -> &'a [u8] {
        std::mem::take(&mut self.buf)
    }
}

/// Two's-complement checksum: the byte that makes the sum of `bytes` and it zero.
pub fn checksum(bytes: &[u8]) -> u8 {
    bytes
        .iter()
        .fold(0u8, |a, b| a.wrapping_add(*b))
        .wrapping_neg()
}

/// Encodes an IPMI LAN request message to the BMC.
pub fn encode_request(netfn: u8, cmd: u8, rq_seq: u8, data: &[u8]) -> Vec<u8> {
    let mut m = vec![BMC_SA, netfn << 2];
    m.push(checksum(&m));
    let start = m.len();
    m.extend_from_slice(&[CONSOLE_SWID, (rq_seq & 0x3F) << 2, cmd]);
    m.extend_from_slice(data);
    let c = checksum(m.get(start..).unwrap_or_default());
    m.push(c);
    m
}

/// A decoded IPMI response message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Response {
    /// Network function (the response netfn, odd).
    pub netfn: u8,
    /// Command number.
    pub cmd: u8,
    /// Requester sequence number the response answers.
    pub rq_seq: u8,
    /// Completion code.
    pub completion: u8,
    /// Data after the completion code.
    pub data: Vec<u8>,
}

/// Decodes an IPMI LAN response message, checking both checksums.
pub fn decode_response(msg: &[u8]) -> Result<Response, PacketError> {
    let mut r = Reader::new(msg, "IPMI message");
    let hdr = r.array::<3>()?;
    let [rq_addr, netfn_lun, c1] = hdr;
    if checksum(&[rq_addr, netfn_lun]) != c1 {
        return Err(PacketError::Checksum("IPMI message header"));
    }
    let body = r.rest();
    // rsSA, rqSeq/LUN, cmd, completion code, checksum: at least 5 bytes.
    if body.len() < 5 {
        return Err(PacketError::Truncated("IPMI message"));
    }
    let (content, _) = body.split_at(body.len() - 1);
    if checksum(body) != 0 {
        return Err(PacketError::Checksum("IPMI message body"));
    }
    let mut b = Reader::new(content, "IPMI message");
    let _rs_sa = b.u8()?;
    let seq_lun = b.u8()?;
    let cmd = b.u8()?;
    let completion = b.u8()?;
    Ok(Response {
        netfn: netfn_lun >> 2,
        cmd,
        rq_seq: seq_lun >> 2,
        completion,
        data: b.rest().to_vec(),
    })
}

/// An RMCP+ session packet as seen on the wire (payload still encrypted if
/// `encrypted`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct V2Packet {
    /// Payload type (low 6 bits).
    pub payload_type: u8,
    /// Payload is encrypted.
    pub encrypted: bool,
    /// Packet carries an integrity trailer.
    pub authenticated: bool,
    /// Session ID (of the receiver).
    pub session_id: u32,
    /// Session sequence number.
    pub seq: u32,
    /// Payload bytes.
    pub payload: Vec<u8>,
}

/// Encodes an RMCP+ packet; with `integrity` it is authenticated and gets the
/// integrity pad, pad length, next header (0x07) and AuthCode.
pub fn encode_v2(p: &V2Packet, integrity: Option<&Integrity>) -> Vec<u8> {
    let mut out = RMCP_HEADER.to_vec();
    let mut pt = p.payload_type & 0x3F;
    if p.encrypted {
        pt |= 0x80;
    }
    if integrity.is_some() {
        pt |= 0x40;
    }
    out.push(AUTH_RMCP_PLUS);
    out.push(pt);
    out.extend_from_slice(&p.session_id.to_le_bytes());
    out.extend_from_slice(&p.seq.to_le_bytes());
    out.extend_from_slice(&(p.payload.len() as u16).to_le_bytes());
    out.extend_from_slice(&p.payload);
    if let Some(i) = integrity {
        // The covered range (auth type .. next header) must be a multiple of 4.
        let covered = out.len() - RMCP_HEADER.len() + 2;
        let pad = (4 - covered % 4) % 4;
        out.extend(std::iter::repeat_n(0xFF, pad));
        out.push(pad as u8);
        out.push(0x07);
        let mac = i.mac(out.get(RMCP_HEADER.len()..).unwrap_or_default());
        out.extend_from_slice(&mac);
    }
    out
}

/// Decodes an RMCP+ packet. An authenticated packet is only accepted when
/// `integrity` is given and its AuthCode verifies.
pub fn decode_v2(bytes: &[u8], integrity: Option<&Integrity>) -> Result<V2Packet, PacketError> {
    let mut r = Reader::new(bytes, "RMCP+ packet");
    if r.array::<4>()? != RMCP_HEADER {
        return Err(PacketError::Malformed("not an RMCP IPMI-class packet"));
    }
    if r.u8()? != AUTH_RMCP_PLUS {
        return Err(PacketError::Malformed("not an RMCP+ session header"));
    }
    let pt = r.u8()?;
    let payload_type = pt & 0x3F;
    if payload_type == 0x02 {
        // OEM explicit payloads carry IANA and payload ID fields we never ask for.
        return Err(PacketError::Malformed("OEM payload type"));
    }
    let session_id = r.u32le()?;
    let seq = r.u32le()?;
    let len = usize::from(r.u16le()?);
    let payload = r.take(len)?.to_vec();
    let authenticated = pt & 0x40 != 0;
    if authenticated {
        let Some(i) = integrity else {
            return Err(PacketError::Malformed(
                "authenticated packet outside a session",
            ));
        };
        let covered_so_far = 12 + len;
        let pad = (4 - (covered_so_far + 2) % 4) % 4;
        let pads = r.take(pad)?;
        let pad_len = r.u8()?;
        if usize::from(pad_len) != pad || pads.iter().any(|&b| b != 0xFF) {
            return Err(PacketError::Malformed("bad integrity pad"));
        }
        if r.u8()? != 0x07 {
            return Err(PacketError::Malformed("bad next header"));
        }
        let code = r.take(i.alg.mac_len())?;
        let covered = bytes
            .get(RMCP_HEADER.len()..RMCP_HEADER.len() + covered_so_far + pad + 2)
            .ok_or(PacketError::Truncated("RMCP+ packet"))?;
        if !i.verify(covered, code) {
            return Err(PacketError::Integrity);
        }
    } else if integrity.is_some() && session_id != 0 {
        return Err(PacketError::Malformed(
            "unauthenticated packet in an authenticated session",
        ));
    }
    Ok(V2Packet {
        payload_type,
        encrypted: pt & 0x80 != 0,
        authenticated,
        session_id,
        seq,
        payload,
    })
}

/// An IPMI 1.5 session packet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct V15Packet {
    /// Auth type byte.
    pub auth_type: u8,
    /// Session sequence number.
    pub seq: u32,
    /// Session ID.
    pub session_id: u32,
    /// Auth code, present unless auth type is none.
    pub auth_code: Option<[u8; 16]>,
    /// The IPMI message.
    pub msg: Vec<u8>,
}

/// Encodes an IPMI 1.5 packet.
pub fn encode_v15(p: &V15Packet) -> Vec<u8> {
    let mut out = RMCP_HEADER.to_vec();
    out.push(p.auth_type);
    out.extend_from_slice(&p.seq.to_le_bytes());
    out.extend_from_slice(&p.session_id.to_le_bytes());
    if let Some(c) = p.auth_code {
        out.extend_from_slice(&c);
    }
    out.push(p.msg.len() as u8);
    out.extend_from_slice(&p.msg);
    out
}

/// Decodes an IPMI 1.5 packet (auth code checked by the caller, which knows the key).
pub fn decode_v15(bytes: &[u8]) -> Result<V15Packet, PacketError> {
    let mut r = Reader::new(bytes, "IPMI 1.5 packet");
    if r.array::<4>()? != RMCP_HEADER {
        return Err(PacketError::Malformed("not an RMCP IPMI-class packet"));
    }
    let auth_type = r.u8()?;
    if auth_type == AUTH_RMCP_PLUS {
        return Err(PacketError::Malformed(
            "RMCP+ packet where IPMI 1.5 was expected",
        ));
    }
    let seq = r.u32le()?;
    let session_id = r.u32le()?;
    let auth_code = if auth_type == 0 {
        None
    } else {
        Some(r.array::<16>()?)
    };
    let len = usize::from(r.u8()?);
    let msg = r.take(len)?.to_vec();
    Ok(V15Packet {
        auth_type,
        seq,
        session_id,
        auth_code,
        msg,
    })
}

/// Whether a received packet is RMCP+ (else IPMI 1.5).
pub fn is_v2(bytes: &[u8]) -> bool {
    bytes.get(4) == Some(&AUTH_RMCP_PLUS)
}

/// Open Session Request payload.
pub fn open_session_request(
    tag: u8,
    max_priv: u8,
    console_sid: u32,
    auth: u8,
    integ: u8,
    conf: u8,
) -> Vec<u8> {
    let mut p = vec![tag, max_priv, 0, 0];
    p.extend_from_slice(&console_sid.to_le_bytes());
    for (ty, alg) in [(0u8, auth), (1, integ), (2, conf)] {
        p.extend_from_slice(&[ty, 0, 0, 8, alg, 0, 0, 0]);
    }
    p
}

/// Open Session Response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OpenSessionResponse {
    /// Message tag echoed.
    pub tag: u8,
    /// RMCP+ status code (0 = success).
    pub status: u8,
    /// Maximum privilege granted.
    pub max_priv: u8,
    /// Our session ID echoed.
    pub console_sid: u32,
    /// The BMC's session ID.
    pub bmc_sid: u32,
    /// Algorithms chosen: authentication, integrity, confidentiality.
    pub algorithms: [u8; 3],
}

/// Decodes an Open Session Response payload (short when status is an error).
pub fn decode_open_session(p: &[u8]) -> Result<OpenSessionResponse, PacketError> {
    let mut r = Reader::new(p, "Open Session Response");
    let tag = r.u8()?;
    let status = r.u8()?;
    let mut resp = OpenSessionResponse {
        tag,
        status,
        max_priv: 0,
        console_sid: 0,
        bmc_sid: 0,
        algorithms: [0; 3],
    };
    if status != 0 {
        return Ok(resp);
    }
    resp.max_priv = r.u8()?;
    r.take(1)?;
    resp.console_sid = r.u32le()?;
    resp.bmc_sid = r.u32le()?;
    for (i, slot) in resp.algorithms.iter_mut().enumerate() {
        let rec = r.array::<8>()?;
        let [ty, _, _, _, alg, _, _, _] = rec;
        if usize::from(ty) != i {
            return Err(PacketError::Malformed("algorithm payload out of order"));
        }
        *slot = alg & 0x3F;
    }
    Ok(resp)
}

/// RAKP Message 1 payload.
pub fn rakp1(tag: u8, bmc_sid: u32, console_rand: &[u8; 16], role: u8, username: &[u8]) -> Vec<u8> {
    let mut p = vec![tag, 0, 0, 0];
    p.extend_from_slice(&bmc_sid.to_le_bytes());
    p.extend_from_slice(console_rand);
    p.extend_from_slice(&[role, 0, 0, username.len() as u8]);
    p.extend_from_slice(username);
    p
}

/// RAKP Message 2.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rakp2 {
    /// Message tag.
    pub tag: u8,
    /// RMCP+ status code.
    pub status: u8,
    /// Our session ID echoed.
    pub console_sid: u32,
    /// BMC random number Rc.
    pub bmc_rand: [u8; 16],
    /// BMC GUID.
    pub bmc_guid: [u8; 16],
    /// Key exchange auth code.
    pub auth_code: Vec<u8>,
}

/// Decodes RAKP Message 2.
pub fn decode_rakp2(p: &[u8]) -> Result<Rakp2, PacketError> {
    let mut r = Reader::new(p, "RAKP 2");
    let tag = r.u8()?;
    let status = r.u8()?;
    let mut m = Rakp2 {
        tag,
        status,
        console_sid: 0,
        bmc_rand: [0; 16],
        bmc_guid: [0; 16],
        auth_code: Vec::new(),
    };
    if status != 0 {
        return Ok(m);
    }
    r.take(2)?;
    m.console_sid = r.u32le()?;
    m.bmc_rand = r.array::<16>()?;
    m.bmc_guid = r.array::<16>()?;
    m.auth_code = r.rest().to_vec();
    Ok(m)
}

/// RAKP Message 3 payload.
pub fn rakp3(tag: u8, status: u8, bmc_sid: u32, auth_code: &[u8]) -> Vec<u8> {
    let mut p = vec![tag, status, 0, 0];
    p.extend_from_slice(&bmc_sid.to_le_bytes());
    p.extend_from_slice(auth_code);
    p
}

/// RAKP Message 4.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rakp4 {
    /// Message tag.
    pub tag: u8,
    /// RMCP+ status code.
    pub status: u8,
    /// Our session ID echoed.
    pub console_sid: u32,
    /// Integrity check value.
    pub icv: Vec<u8>,
}

/// Decodes RAKP Message 4.
pub fn decode_rakp4(p: &[u8]) -> Result<Rakp4, PacketError> {
    let mut r = Reader::new(p, "RAKP 4");
    let tag = r.u8()?;
    let status = r.u8()?;
    let mut m = Rakp4 {
        tag,
        status,
        console_sid: 0,
        icv: Vec::new(),
    };
    if status != 0 {
        return Ok(m);
    }
    r.take(2)?;
    m.console_sid = r.u32le()?;
    m.icv = r.rest().to_vec();
    Ok(m)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ipmi::crypto::IntegrityAlg;

    fn resp_msg(rq_seq: u8, cmd: u8, cc: u8, data: &[u8]) -> Vec<u8> {
        let mut m = vec![CONSOLE_SWID, 0x07 << 2];
        m.push(checksum(&m));
        let mut body = vec![BMC_SA, rq_seq << 2, cmd, cc];
        body.extend_from_slice(data);
        body.push(checksum(&body));
        m.extend(body);
        m
    }

    #[test]
    fn request_checksums() {
        let m = encode_request(0x06, 0x01, 5, &[]);
        assert_eq!(m, vec![0x20, 0x18, 0xc8, 0x81, 0x14, 0x01, 0x6a]);
        assert_eq!(checksum(&m[..2]), m[2]);
        assert_eq!(checksum(&m[3..]), 0);
    }

    #[test]
    fn response_round_trip_and_truncation() {
        let m = resp_msg(9, 0x01, 0, &[1, 2, 3]);
        let r = decode_response(&m).ok();
        assert_eq!(
            r.map(|r| (r.rq_seq, r.cmd, r.netfn, r.data)),
            Some((9, 1, 7, vec![1, 2, 3]))
        );
        for n in 0..m.len() {
            assert!(decode_response(&m[..n]).is_err(), "prefix {n} accepted");
        }
        let mut bad = m.clone();
        bad[5] ^= 1;
        assert_eq!(
            decode_response(&bad),
            Err(PacketError::Checksum("IPMI message body"))
        );
        let mut bad = m;
        bad[1] ^= 4;
        assert_eq!(
            decode_response(&bad),
            Err(PacketError::Checksum("IPMI message header"))
        );
    }

    #[test]
    fn v2_round_trip_with_integrity_and_tamper() {
        let i = Integrity {
            alg: IntegrityAlg::HmacSha1_96,
            key: vec![3; 20],
        };
        for len in 0..9 {
            let p = V2Packet {
                payload_type: 0,
                encrypted: true,
                authenticated: true,
                session_id: 0x01020304,
                seq: 7,
                payload: vec![0xAB; len],
            };
            let bytes = encode_v2(&p, Some(&i));
            // Covered range is a multiple of four.
            assert_eq!((bytes.len() - 4 - 12) % 4, 0);
            assert_eq!(decode_v2(&bytes, Some(&i)).ok(), Some(p.clone()));
            for n in 0..bytes.len() {
                assert!(
                    decode_v2(&bytes[..n], Some(&i)).is_err(),
                    "prefix {n} accepted"
                );
            }
            for pos in 4..bytes.len() {
                let mut t = bytes.clone();
                t[pos] ^= 0x10;
                assert!(decode_v2(&t, Some(&i)).is_err(), "flip at {pos} accepted");
            }
            let other = Integrity {
                alg: IntegrityAlg::HmacSha1_96,
                key: vec![4; 20],
            };
            assert_eq!(decode_v2(&bytes, Some(&other)), Err(PacketError::Integrity));
            assert!(decode_v2(&bytes, None).is_err());
        }
    }

    #[test]
    fn v2_unauthenticated_in_session_rejected() {
        let i = Integrity {
            alg: IntegrityAlg::HmacSha256_128,
            key: vec![3; 32],
        };
        let p = V2Packet {
            payload_type: 0,
            encrypted: false,
            authenticated: false,
            session_id: 5,
            seq: 1,
            payload: vec![1],
        };
        let bytes = encode_v2(&p, None);
        assert!(decode_v2(&bytes, Some(&i)).is_err());
        assert_eq!(decode_v2(&bytes, None).ok(), Some(p));
    }

    #[test]
    fn v15_round_trip() {
        let p = V15Packet {
            auth_type: 2,
            seq: 3,
            session_id: 4,
            auth_code: Some([9; 16]),
            msg: vec![1, 2, 3],
        };
        let b = encode_v15(&p);
        assert_eq!(decode_v15(&b).ok(), Some(p));
        for n in 0..b.len() {
            assert!(decode_v15(&b[..n]).is_err());
        }
    }

    #[test]
    fn session_payloads() {
        let req = open_session_request(1, 4, 0xa0a1a2a3, 1, 1, 1);
        assert_eq!(req.len(), 32);
        let mut rsp = vec![1, 0, 4, 0, 0xa3, 0xa2, 0xa1, 0xa0, 1, 0, 0, 0];
        for ty in 0..3u8 {
            rsp.extend_from_slice(&[ty, 0, 0, 8, 1, 0, 0, 0]);
        }
        let o = decode_open_session(&rsp).ok();
        assert_eq!(
            o.map(|o| (o.console_sid, o.bmc_sid, o.algorithms)),
            Some((0xa0a1a2a3, 1, [1, 1, 1]))
        );
        for n in 3..rsp.len() {
            assert!(decode_open_session(&rsp[..n]).is_err());
        }
        assert_eq!(decode_open_session(&[1, 0x11]).map(|o| o.status), Ok(0x11));
        assert!(decode_rakp2(&[1]).is_err());
        assert!(decode_rakp2(&[1, 0, 0, 0, 1, 2, 3]).is_err());
        assert!(decode_rakp4(&[1, 0, 0]).is_err());
        assert_eq!(rakp1(1, 2, &[0; 16], 0x14, b"admin").len(), 28 + 5);
    }

    #[test]
    fn garbage_never_panics() {
        // A small deterministic fuzz: every decoder on pseudo-random inputs.
        let mut x: u32 = 0x1234_5678;
        let i = Integrity {
            alg: IntegrityAlg::HmacSha1_96,
            key: vec![3; 20],
        };
        for _ in 0..20_000 {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            let len = (x % 80) as usize;
            let mut v: Vec<u8> = (0..len)
                .map(|k| (x.rotate_left(k as u32) & 0xFF) as u8)
                .collect();
            if v.len() >= 5 && x & 1 == 0 {
                v[..4].copy_from_slice(&RMCP_HEADER);
                v[4] = if x & 2 == 0 { 0x06 } else { 0x02 };
            }
            let _ = decode_v2(&v, Some(&i));
            let _ = decode_v2(&v, None);
            let _ = decode_v15(&v);
            let _ = decode_response(&v);
            let _ = decode_open_session(&v);
            let _ = decode_rakp2(&v);
            let _ = decode_rakp4(&v);
        }
    }
}
