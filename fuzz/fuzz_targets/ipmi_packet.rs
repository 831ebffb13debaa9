//! Any datagram a BMC (or anyone on the network) might send through every
//! IPMI decoder the client runs on received bytes: none may panic.
#![no_main]

use libfuzzer_sys::fuzz_target;
use metal3_bmc::ipmi::crypto::{self, Integrity, IntegrityAlg};
use metal3_bmc::ipmi::packet;

fuzz_target!(|data: &[u8]| {
    let sha1 = Integrity {
        alg: IntegrityAlg::HmacSha1_96,
        key: vec![0x5a; 20],
    };
    let sha256 = Integrity {
        alg: IntegrityAlg::HmacSha256_128,
        key: vec![0xa5; 32],
    };
    let _ = packet::is_v2(data);
    let _ = packet::decode_v15(data);
    let _ = packet::decode_v2(data, None);
    let _ = packet::decode_v2(data, Some(&sha1));
    let _ = packet::decode_v2(data, Some(&sha256));
    let _ = packet::decode_response(data);
    let _ = packet::decode_open_session(data);
    let _ = packet::decode_rakp2(data);
    let _ = packet::decode_rakp4(data);
    let _ = crypto::aes_decrypt(&[0x11; 16], data);
    // Payloads inside a valid-looking frame go through the message decoder too.
    if let Ok(p) = packet::decode_v2(data, None) {
        let _ = packet::decode_response(&p.payload);
    }
});
