//! Cipher suite 17 (and 3) key derivation checked against independent
//! implementations: python3's `hmac`/`hashlib` for RAKP, SIK, K1, K2 and
//! integrity, the `openssl` CLI for AES-CBC-128. ipmi_sim refuses suite 17, so
//! this is its only verification; suite 3 is also exercised live in ipmi_sim.rs.

#![cfg(feature = "clients")]
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::process::Command;

use metal3_bmc::ipmi::crypto::{self, CipherSuite, Integrity, RakpParams};

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// The same computation written independently in Python, one hex line per value:
/// rakp2, rakp3, sik, rakp4 icv, k1, k2, integrity mac over b"integrity data".
const PY: &str = r#"
import hmac, hashlib, struct, sys
h = {"sha1": hashlib.sha1, "sha256": hashlib.sha256}[sys.argv[1]]
trunc = {"sha1": 12, "sha256": 16}[sys.argv[1]]
kuid = b"password".ljust(20, b"\0")
sidm, sidc = struct.pack("<I", 0xa0a1a2a3), struct.pack("<I", 0x12345678)
rm, rc, guid = bytes(range(16)), bytes(range(16, 32)), bytes(range(32, 48))
role, user = 0x14, b"admin"
m = lambda k, d: hmac.new(k, d, h).digest()
rakp2 = m(kuid, sidm + sidc + rm + rc + guid + bytes([role, len(user)]) + user)
rakp3 = m(kuid, rc + sidm + bytes([role, len(user)]) + user)
sik = m(kuid, rm + rc + bytes([role, len(user)]) + user)
icv = m(sik, rm + sidc + guid)[:trunc]
n = h().digest_size
k1, k2 = m(sik, b"\x01" * n), m(sik, b"\x02" * n)
mac = m(k1, b"integrity data")[:trunc]
for v in (rakp2, rakp3, sik, icv, k1, k2, mac):
    print(v.hex())
"#;

fn python(hash: &str) -> Vec<String> {
    let out = Command::new("python3")
        .arg("-c")
        .arg(PY)
        .arg(hash)
        .output()
        .expect("python3 must be installed");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(str::to_string)
        .collect()
}

fn ours(suite: CipherSuite) -> Vec<String> {
    let p = RakpParams {
        console_sid: 0xa0a1a2a3,
        bmc_sid: 0x12345678,
        console_rand: core::array::from_fn(|i| i as u8),
        bmc_rand: core::array::from_fn(|i| 16 + i as u8),
        bmc_guid: core::array::from_fn(|i| 32 + i as u8),
        role: 0x14,
        username: b"admin",
    };
    let kuid = crypto::password_key("password");
    let sik = p.sik(suite.auth, &kuid);
    let (k1, k2) = crypto::derive_k1_k2(suite.auth, &sik);
    let mac = Integrity {
        alg: suite.integrity,
        key: k1.clone(),
    }
    .mac(b"integrity data");
    [
        p.rakp2_hmac(suite.auth, &kuid),
        p.rakp3_hmac(suite.auth, &kuid),
        sik.clone(),
        p.rakp4_icv(suite, &sik),
        k1,
        k2,
        mac,
    ]
    .iter()
    .map(|v| hex(v))
    .collect()
}

#[test]
fn suite17_matches_python() {
    let (py, rs) = (python("sha256"), ours(CipherSuite::SUITE_17));
    assert_eq!(py.len(), 7);
    assert_eq!(rs, py);
    // Lengths the spec fixes for suite 17: 32-byte HMACs, 16-byte ICV and AuthCode.
    assert_eq!(
        rs.iter().map(|h| h.len() / 2).collect::<Vec<_>>(),
        vec![32, 32, 32, 16, 32, 32, 16]
    );
}

#[test]
fn suite3_matches_python() {
    let (py, rs) = (python("sha1"), ours(CipherSuite::SUITE_3));
    assert_eq!(rs, py);
    assert_eq!(
        rs.iter().map(|h| h.len() / 2).collect::<Vec<_>>(),
        vec![20, 20, 20, 12, 20, 20, 12]
    );
}

#[test]
fn aes_cbc_128_matches_openssl() {
    let key: [u8; 16] = core::array::from_fn(|i| 0x40 + i as u8);
    let iv: [u8; 16] = core::array::from_fn(|i| 0x80 + i as u8);
    for len in [0usize, 1, 14, 15, 16, 17, 40] {
        let payload: Vec<u8> = (0..len).map(|i| (i * 7) as u8).collect();
        let ct = crypto::aes_encrypt(&key, &iv, &payload);
        assert_eq!(&ct[..16], &iv);
        // openssl decrypts without padding removal; the IPMI pad must then be
        // 1, 2, ..., N followed by N.
        let dir = std::env::temp_dir().join(format!("metal3-aes-{}-{len}", std::process::id()));
        std::fs::write(&dir, &ct[16..]).unwrap();
        let out = Command::new("openssl")
            .args([
                "enc",
                "-d",
                "-aes-128-cbc",
                "-nopad",
                "-K",
                &hex(&key),
                "-iv",
                &hex(&iv),
                "-in",
            ])
            .arg(&dir)
            .output()
            .expect("openssl must be installed");
        let _ = std::fs::remove_file(&dir);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let pt = out.stdout;
        let pad = *pt.last().unwrap() as usize;
        assert_eq!(pt.len() % 16, 0);
        assert_eq!(&pt[..len], &payload[..]);
        assert_eq!(pt.len(), len + pad + 1);
        assert_eq!(
            pt[len..len + pad].to_vec(),
            (1..=pad as u8).collect::<Vec<_>>()
        );
        assert_eq!(crypto::aes_decrypt(&key, &ct).unwrap(), payload);
    }
}

#[test]
fn ipmi15_md5_authcode_matches_python() {
    let msg = [0x20u8, 0x18, 0xc8, 0x81, 0x04, 0x3b, 0x04, 0x3c];
    let ours = crypto::v15_authcode(
        crypto::V15Auth::Md5,
        &crypto::password16("password"),
        0x01020304,
        7,
        &msg,
    );
    let py = Command::new("python3")
        .arg("-c")
        .arg(
            "import hashlib,struct;pw=b'password'.ljust(16,b'\\0');\
             print(hashlib.md5(pw+struct.pack('<I',0x01020304)+bytes([0x20,0x18,0xc8,0x81,0x04,0x3b,0x04,0x3c])+struct.pack('<I',7)+pw).hexdigest())",
        )
        .output()
        .unwrap();
    assert_eq!(hex(&ours), String::from_utf8(py.stdout).unwrap().trim());
}
