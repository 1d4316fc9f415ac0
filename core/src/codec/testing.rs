//! Helpers for the packet modules' unit tests: encoding and decoding one
//! packet type through [`Packet`] and [`PacketRef`], golden byte checks and
//! error checks, written once for every packet type.

use alloc::vec;
use alloc::vec::Vec;
use bytes::{Bytes, BytesMut};
use core::fmt::Debug;

use super::{
    Auth, ConnAck, Connect, DecodeOptions, Disconnect, Error, Packet, PacketRef, PacketType,
    ProtocolVersion, PubAck, PubComp, PubRec, PubRel, Publish, ReasonCode, SubAck, Subscribe,
    UnsubAck, Unsubscribe,
};

/// An owned packet type: one variant of [`Packet`] (see the `From` impls).
pub(crate) trait TestPacket: Clone + Debug + PartialEq + Into<Packet> {
    /// The packet type.
    const TYPE: PacketType;

    /// The packet inside `packet` if it is this type's variant.
    fn from_packet(packet: Packet) -> Option<Self>;
}

macro_rules! test_packets {
    ($($T:ident $(($unbox:tt))?),* $(,)?) => {
        $(
            impl TestPacket for $T {
                const TYPE: PacketType = PacketType::$T;

                fn from_packet(packet: Packet) -> Option<Self> {
                    match packet {
                        Packet::$T(p) => Some($($unbox)? p),
                        _ => None,
                    }
                }
            }
        )*
    };
}

test_packets! {
    Connect(*), ConnAck(*), Publish, PubAck, PubRec, PubRel, PubComp,
    Subscribe, SubAck, Unsubscribe, UnsubAck, Disconnect, Auth,
}

/// Encodes `value` through [`Packet::encode`].
pub(crate) fn encode<T: TestPacket>(value: &T, version: ProtocolVersion) -> Result<Vec<u8>, Error> {
    let owned: Packet = value.clone().into();
    let mut buf = BytesMut::new();
    owned.encode(version, &mut buf)?;
    Ok(buf.to_vec())
}

/// Decodes `bytes`, which must hold exactly one whole packet of type `T`
/// (anything else panics), through [`Packet::decode`].
pub(crate) fn decode_with<T: TestPacket>(
    bytes: &[u8],
    options: &DecodeOptions,
) -> Result<T, Error> {
    let mut buf = Bytes::copy_from_slice(bytes);
    let packet = Packet::decode(&mut buf, options)?
        .unwrap_or_else(|| panic!("expected a whole {:?}, got only part of one", T::TYPE));
    assert_eq!(
        packet.packet_type(),
        T::TYPE,
        "expected a whole {:?}, got {packet:?}",
        T::TYPE
    );
    assert!(buf.is_empty(), "{} bytes left over", buf.len());
    Ok(T::from_packet(packet).expect("the packet type matched"))
}

/// [`decode_with`] the default options for `version`.
pub(crate) fn decode<T: TestPacket>(bytes: &[u8], version: ProtocolVersion) -> Result<T, Error> {
    decode_with(bytes, &DecodeOptions::new(version))
}

/// A whole packet of type `T` around `body`: the fixed header with the
/// type's required flags and a one-byte remaining length (`body` is
/// shorter than 128 bytes).
pub(crate) fn packet<T: TestPacket>(body: &[u8]) -> Vec<u8> {
    assert!(body.len() < 128);
    let first = ((T::TYPE as u8) << 4) | T::TYPE.required_flags().unwrap_or(0);
    let mut out = vec![first, body.len() as u8];
    out.extend_from_slice(body);
    out
}

/// Checks that decoding `bytes` fails with `expected`, whose reason code
/// is `code`.
pub(crate) fn assert_err(
    bytes: &[u8],
    version: ProtocolVersion,
    expected: Error,
    code: ReasonCode,
) {
    let mut buf = Bytes::copy_from_slice(bytes);
    let err = Packet::decode(&mut buf, &DecodeOptions::new(version)).unwrap_err();
    assert_eq!(err, expected);
    assert_eq!(err.reason_code(), code);
}

/// Checks that encoding `value` fails with `expected`, through
/// [`Packet::encode`] and through [`PacketRef::encode_to_slice`].
pub(crate) fn assert_encode_err<T: TestPacket>(
    value: &T,
    version: ProtocolVersion,
    expected: Error,
) {
    assert_eq!(encode(value, version), Err(expected));
    let mut out = [0u8; 64];
    let owned: Packet = value.clone().into();
    assert_eq!(
        owned.as_view().encode_to_slice(version, &mut out),
        Err(expected)
    );
}

/// Encodes `value` to exactly `golden` (owned, and borrowed into a slice)
/// with the right [`Packet::encoded_len`]; decodes `golden` back to `value`
/// through both the owned and the borrowed path; and re-encodes the decoded
/// view (which holds the wire bytes) to `golden`.
pub(crate) fn golden<T: TestPacket>(value: &T, version: ProtocolVersion, golden: &[u8]) {
    let owned: Packet = value.clone().into();
    assert_eq!(encode(value, version).unwrap(), golden);
    assert_eq!(owned.encoded_len(version), Ok(golden.len()));
    let mut out = vec![0u8; golden.len()];
    assert_eq!(
        owned.as_view().encode_to_slice(version, &mut out),
        Ok(golden.len())
    );
    assert_eq!(out, golden);
    assert_eq!(decode::<T>(golden, version).unwrap(), *value);
    let (view, used) = PacketRef::decode(golden, &DecodeOptions::new(version))
        .unwrap()
        .unwrap();
    assert_eq!(used, golden.len());
    assert_eq!(view, owned.as_view());
    let mut out = vec![0u8; golden.len()];
    assert_eq!(view.encode_to_slice(version, &mut out), Ok(golden.len()));
    assert_eq!(out, golden);
    assert_eq!(view.into_owned(), owned);
}

/// [`golden`] with whatever `value` encodes to.
pub(crate) fn round_trip<T: TestPacket>(value: &T, version: ProtocolVersion) {
    golden(value, version, &encode(value, version).unwrap());
}
