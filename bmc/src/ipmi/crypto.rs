//! RMCP+ and IPMI 1.5 cryptography: RAKP HMACs, session keys, integrity,
//! AES-CBC-128 confidentiality and the IPMI 1.5 MD5 auth code. Pure functions.

use aes::cipher::{block_padding::NoPadding, BlockDecryptMut, BlockEncryptMut, KeyIvInit};
use hmac::{Hmac, Mac};
use md5::{Digest, Md5};

/// RAKP authentication algorithm (also the PRF used for the session keys).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuthAlg {
    /// RAKP-HMAC-SHA1 (algorithm 0x01).
    HmacSha1,
    /// RAKP-HMAC-SHA256 (algorithm 0x03).
    HmacSha256,
}

impl AuthAlg {
    /// The algorithm number in the Open Session payload.
    pub fn number(self) -> u8 {
        match self {
            AuthAlg::HmacSha1 => 0x01,
            AuthAlg::HmacSha256 => 0x03,
        }
    }

    /// Length of the full HMAC output (and of SIK, K1, K2).
    pub fn output_len(self) -> usize {
        match self {
            AuthAlg::HmacSha1 => 20,
            AuthAlg::HmacSha256 => 32,
        }
    }

    /// HMAC of `data` under `key` with this algorithm's hash.
    pub fn hmac(self, key: &[u8], data: &[u8]) -> Vec<u8> {
        // new_from_slice only fails for fixed-size-key MACs; HMAC takes any key
        // length, so the error branch is unreachable but handled without panicking.
        match self {
            AuthAlg::HmacSha1 => match Hmac::<sha1::Sha1>::new_from_slice(key) {
                Ok(mut m) => {
                    m.update(data);
                    m.finalize().into_bytes().to_vec()
                }
                Err(_) => Vec::new(),
            },
            AuthAlg::HmacSha256 => match Hmac::<sha2::Sha256>::new_from_slice(key) {
                Ok(mut m) => {
                    m.update(data);
                    m.finalize().into_bytes().to_vec()
                }
                Err(_) => Vec::new(),
            },
        }
    }
}

/// Per-packet integrity algorithm.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IntegrityAlg {
    /// HMAC-SHA1-96 (algorithm 0x01): HMAC-SHA1 under K1, first 12 bytes.
    HmacSha1_96,
    /// HMAC-SHA256-128 (algorithm 0x04): HMAC-SHA256 under K1, first 16 bytes.
    HmacSha256_128,
}

impl IntegrityAlg {
    /// The algorithm number in the Open Session payload.
    pub fn number(self) -> u8 {
        match self {
            IntegrityAlg::HmacSha1_96 => 0x01,
            IntegrityAlg::HmacSha256_128 => 0x04,
        }
    }

    /// Length of the AuthCode field this algorithm puts in every packet.
    pub fn mac_len(self) -> usize {
        match self {
            IntegrityAlg::HmacSha1_96 => 12,
            IntegrityAlg::HmacSha256_128 => 16,
        }
    }

    fn hash(self) -> AuthAlg {
        match self {
            IntegrityAlg::HmacSha1_96 => AuthAlg::HmacSha1,
            IntegrityAlg::HmacSha256_128 => AuthAlg::HmacSha256,
        }
    }
}

/// Integrity algorithm bound to its key K1.
#[derive(Clone)]
pub struct Integrity {
    /// The algorithm.
    pub alg: IntegrityAlg,
    /// K1.
    pub key: Vec<u8>,
}

impl std::fmt::Debug for Integrity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Session keys are secrets like the password.
        f.debug_struct("Integrity")
            .field("alg", &self.alg)
            .finish_non_exhaustive()
    }
}

impl Integrity {
    /// The truncated AuthCode over `data`.
    pub fn mac(&self, data: &[u8]) -> Vec<u8> {
        let mut full = self.alg.hash().hmac(&self.key, data);
        full.truncate(self.alg.mac_len());
        full
    }

    /// Whether `code` is the AuthCode of `data` (compared without early exit).
    pub fn verify(&self, data: &[u8], code: &[u8]) -> bool {
        ct_eq(&self.mac(data), code)
    }
}

/// Constant-time equality so a forged packet learns nothing from timing.
pub fn ct_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// An RMCP+ cipher suite this client implements.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CipherSuite {
    /// Suite number (3 or 17).
    pub id: u8,
    /// RAKP algorithm.
    pub auth: AuthAlg,
    /// Integrity algorithm.
    pub integrity: IntegrityAlg,
}

/// Confidentiality algorithm number of AES-CBC-128, used by both suites.
pub const CONF_AES_CBC_128: u8 = 0x01;

impl CipherSuite {
    /// Suite 3: RAKP-HMAC-SHA1, HMAC-SHA1-96, AES-CBC-128.
    pub const SUITE_3: CipherSuite = CipherSuite {
        id: 3,
        auth: AuthAlg::HmacSha1,
        integrity: IntegrityAlg::HmacSha1_96,
    };
    /// Suite 17: RAKP-HMAC-SHA256, HMAC-SHA256-128, AES-CBC-128.
    pub const SUITE_17: CipherSuite = CipherSuite {
        id: 17,
        auth: AuthAlg::HmacSha256,
        integrity: IntegrityAlg::HmacSha256_128,
    };

    /// The suite with this number, if implemented.
    pub fn by_id(id: u8) -> Option<CipherSuite> {
        match id {
            3 => Some(Self::SUITE_3),
            17 => Some(Self::SUITE_17),
            _ => None,
        }
    }
}

/// The RAKP exchange values both sides hash.
#[derive(Clone)]
pub struct RakpParams<'a> {
    /// Remote console (our) session ID, SIDm.
    pub console_sid: u32,
    /// Managed system (BMC) session ID, SIDc.
    pub bmc_sid: u32,
    /// Our random number Rm.
    pub console_rand: [u8; 16],
    /// The BMC's random number Rc.
    pub bmc_rand: [u8; 16],
    /// The BMC's GUID.
    pub bmc_guid: [u8; 16],
    /// The requested role byte of RAKP 1 (privilege plus lookup bit).
    pub role: u8,
    /// User name as sent in RAKP 1.
    pub username: &'a [u8],
}

/// Kuid / Kg from a password: the password bytes zero-padded to 20 bytes
/// (HMAC pads keys with zeros anyway, so this equals the raw password as key).
pub fn password_key(password: &str) -> Vec<u8> {
    let mut k = password.as_bytes().to_vec();
    if k.len() < 20 {
        k.resize(20, 0);
    }
    k
}

impl RakpParams<'_> {
    /// The RAKP 2 key-exchange auth code the BMC must send:
    /// HMAC(Kuid, SIDm | SIDc | Rm | Rc | GUIDc | ROLEm | ULENm | UNAMEm).
    pub fn rakp2_hmac(&self, alg: AuthAlg, kuid: &[u8]) -> Vec<u8> {
        let mut d = Vec::with_capacity(58 + self.username.len());
        d.extend_from_slice(&self.console_sid.to_le_bytes());
        d.extend_from_slice(&self.bmc_sid.to_le_bytes());
        d.extend_from_slice(&self.console_rand);
        d.extend_from_slice(&self.bmc_rand);
        d.extend_from_slice(&self.bmc_guid);
        d.push(self.role);
        d.push(self.username.len() as u8);
        d.extend_from_slice(self.username);
        alg.hmac(kuid, &d)
    }

    /// The RAKP 3 auth code we send: HMAC(Kuid, Rc | SIDm | ROLEm | ULENm | UNAMEm).
    pub fn rakp3_hmac(&self, alg: AuthAlg, kuid: &[u8]) -> Vec<u8> {
        let mut d = Vec::with_capacity(22 + self.username.len());
        d.extend_from_slice(&self.bmc_rand);
        d.extend_from_slice(&self.console_sid.to_le_bytes());
        d.push(self.role);
        d.push(self.username.len() as u8);
        d.extend_from_slice(self.username);
        alg.hmac(kuid, &d)
    }

    /// Session integrity key: SIK = HMAC(Kg, Rm | Rc | ROLEm | ULENm | UNAMEm).
    pub fn sik(&self, alg: AuthAlg, kg: &[u8]) -> Vec<u8> {
        let mut d = Vec::with_capacity(34 + self.username.len());
        d.extend_from_slice(&self.console_rand);
        d.extend_from_slice(&self.bmc_rand);
        d.push(self.role);
        d.push(self.username.len() as u8);
        d.extend_from_slice(self.username);
        alg.hmac(kg, &d)
    }

    /// The RAKP 4 integrity check value the BMC must send:
    /// HMAC(SIK, Rm | SIDc | GUIDc) truncated to the suite's integrity length
    /// (12 bytes for suite 3, 16 for suite 17).
    pub fn rakp4_icv(&self, suite: CipherSuite, sik: &[u8]) -> Vec<u8> {
        let mut d = Vec::with_capacity(36);
        d.extend_from_slice(&self.console_rand);
        d.extend_from_slice(&self.bmc_sid.to_le_bytes());
        d.extend_from_slice(&self.bmc_guid);
        let mut v = suite.auth.hmac(sik, &d);
        v.truncate(suite.integrity.mac_len());
        v
    }
}

/// K1 (integrity key) and K2 (confidentiality key source) from the SIK:
/// Kn = HMAC(SIK, n repeated hash-length times).
pub fn derive_k1_k2(alg: AuthAlg, sik: &[u8]) -> (Vec<u8>, Vec<u8>) {
    let k1 = alg.hmac(sik, &vec![0x01; alg.output_len()]);
    let k2 = alg.hmac(sik, &vec![0x02; alg.output_len()]);
    (k1, k2)
}

/// The AES-CBC-128 key: the first 16 bytes of K2.
pub fn aes_key(k2: &[u8]) -> Option<[u8; 16]> {
    k2.get(..16).and_then(|s| s.try_into().ok())
}

/// Encrypts an IPMI payload: IV | AES-CBC(payload | 1,2,..,N | N) with the
/// plaintext padded to a multiple of 16 as the spec requires.
pub fn aes_encrypt(key: &[u8; 16], iv: &[u8; 16], payload: &[u8]) -> Vec<u8> {
    let pad = (16 - (payload.len() + 1) % 16) % 16;
    let mut buf = payload.to_vec();
    buf.extend((1..=pad).map(|i| i as u8));
    buf.push(pad as u8);
    let len = buf.len();
    let enc = cbc::Encryptor::<aes::Aes128>::new(key.into(), iv.into());
    let mut out = iv.to_vec();
    // The buffer is a multiple of the block size by construction, so the
    // padding-free encryption cannot fail; fall back to an empty body if it did.
    match enc.encrypt_padded_mut::<NoPadding>(&mut buf, len) {
        Ok(ct) => out.extend_from_slice(ct),
        Err(_) => out.clear(),
    }
    out
}

/// Decrypts `IV | ciphertext` and strips and checks the confidentiality pad.
pub fn aes_decrypt(key: &[u8; 16], data: &[u8]) -> Result<Vec<u8>, &'static str> {
    if data.len() < 32 || !data.len().is_multiple_of(16) {
        return Err("encrypted payload length is not IV plus whole AES blocks");
    }
    let (iv, ct) = data.split_at(16);
    let iv: [u8; 16] = iv.try_into().map_err(|_| "bad IV")?;
    let mut buf = ct.to_vec();
    let dec = cbc::Decryptor::<aes::Aes128>::new(key.into(), (&iv).into());
    let pt = dec
        .decrypt_padded_mut::<NoPadding>(&mut buf)
        .map_err(|_| "AES decryption failed")?;
    let (&pad, rest) = pt.split_last().ok_or("empty plaintext")?;
    let pad = usize::from(pad);
    if pad > 15 || pad > rest.len() {
        return Err("confidentiality pad length out of range");
    }
    let (body, pads) = rest.split_at(rest.len() - pad);
    if pads
        .iter()
        .enumerate()
        .any(|(i, &b)| usize::from(b) != i + 1)
    {
        return Err("confidentiality pad bytes are not 1, 2, 3, ...");
    }
    Ok(body.to_vec())
}

/// IPMI 1.5 auth type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum V15Auth {
    /// No authentication (only for pre-session messages).
    None,
    /// MD5 auth code.
    Md5,
    /// Password in clear as auth code.
    Straight,
}

impl V15Auth {
    /// The auth type byte.
    pub fn number(self) -> u8 {
        match self {
            V15Auth::None => 0x00,
            V15Auth::Md5 => 0x02,
            V15Auth::Straight => 0x04,
        }
    }
}

/// The password as the 16-byte IPMI 1.5 key (zero-padded, longer is cut).
pub fn password16(password: &str) -> [u8; 16] {
    let mut k = [0u8; 16];
    for (d, s) in k.iter_mut().zip(password.as_bytes()) {
        *d = *s;
    }
    k
}

/// IPMI 1.5 auth code over one message:
/// MD5(password | session ID | message | session seq | password), or the
/// padded password itself for straight-password auth.
pub fn v15_authcode(
    auth: V15Auth,
    pw: &[u8; 16],
    session_id: u32,
    seq: u32,
    msg: &[u8],
) -> [u8; 16] {
    match auth {
        V15Auth::None => [0u8; 16],
        V15Auth::Straight => *pw,
        V15Auth::Md5 => {
            let mut h = Md5::new();
            h.update(pw);
            h.update(session_id.to_le_bytes());
            h.update(msg);
            h.update(seq.to_le_bytes());
            h.update(pw);
            h.finalize().into()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn aes_round_trip_and_pad() {
        let key = [7u8; 16];
        let iv = [9u8; 16];
        for n in 0..40 {
            let p: Vec<u8> = (0..n as u8).collect();
            let ct = aes_encrypt(&key, &iv, &p);
            assert_eq!((ct.len() - 16) % 16, 0);
            assert_eq!(aes_decrypt(&key, &ct).ok(), Some(p));
        }
    }

    #[test]
    fn aes_rejects_bad_pad_and_lengths() {
        let key = [1u8; 16];
        assert!(aes_decrypt(&key, &[0u8; 20]).is_err());
        assert!(aes_decrypt(&key, &[0u8; 16]).is_err());
        let mut ct = aes_encrypt(&key, &[2u8; 16], b"hello");
        // Flipping a bit of the last block garbles the pad.
        if let Some(b) = ct.last_mut() {
            *b ^= 0x55;
        }
        assert!(aes_decrypt(&key, &ct).is_err());
    }

    #[test]
    fn integrity_verify() {
        let i = Integrity {
            alg: IntegrityAlg::HmacSha1_96,
            key: vec![1; 20],
        };
        let m = i.mac(b"abc");
        assert_eq!(m.len(), 12);
        assert!(i.verify(b"abc", &m));
        assert!(!i.verify(b"abd", &m));
        assert!(!format!("{i:?}").contains("key"));
    }

    #[test]
    fn password_keys() {
        assert_eq!(password_key("ab").len(), 20);
        assert_eq!(&password16("password")[..8], b"password");
        assert_eq!(password16("password")[8], 0);
    }
}
