//! Small builders shared by the `broker` and `server` fuzz targets
//! (`mod common;` in each, and in `tests/tests/fuzz_regressions.rs`):
//! drawing a QoS or a protocol version, and feeding encoded bytes the way
//! a network would, in arbitrary chunks and sometimes damaged.

use arbitrary::Unstructured;
use mqtt_core::codec::{ProtocolVersion, QoS};

/// What drawing from the fuzzer's input returns.
pub type R<T> = arbitrary::Result<T>;

/// A QoS drawn from the input.
pub fn qos(u: &mut Unstructured<'_>) -> R<QoS> {
    Ok(match u.int_in_range(0u8..=2)? {
        0 => QoS::AtMostOnce,
        1 => QoS::AtLeastOnce,
        _ => QoS::ExactlyOnce,
    })
}

/// 5.0, 3.1.1 or 3.1, drawn from the input (half of the draws 5.0).
pub fn version(u: &mut Unstructured<'_>) -> R<ProtocolVersion> {
    Ok(match u.int_in_range(0u8..=3)? {
        0 => ProtocolVersion::V31,
        1 => ProtocolVersion::V311,
        _ => ProtocolVersion::V5,
    })
}

/// One time in 16 flips some bits of one byte of `bytes`; returns whether
/// it did.
pub fn damage(u: &mut Unstructured<'_>, bytes: &mut [u8]) -> R<bool> {
    if !bytes.is_empty() && u.ratio(1, 16)? {
        let i = u.choose_index(bytes.len())?;
        bytes[i] ^= u.arbitrary::<u8>()? | 1;
        return Ok(true);
    }
    Ok(false)
}

/// Hands `bytes` to `take` in chunks of sizes drawn from the input.
pub fn in_chunks(u: &mut Unstructured<'_>, bytes: &[u8], mut take: impl FnMut(&[u8])) -> R<()> {
    let mut rest = bytes;
    while !rest.is_empty() {
        let n = u.int_in_range(1..=rest.len())?;
        take(&rest[..n]);
        rest = &rest[n..];
    }
    Ok(())
}
