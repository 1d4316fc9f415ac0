//! AUTH (spec 3.15, 5.0 only): enhanced authentication exchanges, during
//! CONNECT and for re-authentication.

use bytes::{BufMut, Bytes};

use super::ack::{check_reason_code, decode_reason, put_reason, reason_sizes};
use super::error::Error;
use super::fixed_header::PacketType;
use super::packet::{DecodeOptions, Sizes};
use super::property::{properties, Context};
use super::reason_code::ReasonCode;
use super::version::ProtocolVersion;

properties! {
    /// AUTH properties (spec 3.15.2.2).
    owned AuthProperties;
    /// A borrowed view of [`AuthProperties`].
    view AuthPropertiesRef;
    context Context::packet(PacketType::Auth);
    /// Authentication Method: must match the one in CONNECT.
    authentication_method: Str = AuthenticationMethod,
    /// Authentication Data of the method.
    authentication_data: Bin = AuthenticationData,
    /// Reason String.
    reason_string: Str = ReasonString,
}

/// An AUTH packet (5.0 only). Remaining length 0 means Success without
/// properties.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Auth {
    /// Success (0x00), Continue authentication (0x18) or Re-authenticate
    /// (0x19).
    pub reason_code: ReasonCode,
    /// 5.0 properties.
    pub properties: AuthProperties,
}

/// A borrowed view of an [`Auth`].
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct AuthRef<'a> {
    /// The reason code.
    pub reason_code: ReasonCode,
    /// 5.0 properties.
    pub properties: AuthPropertiesRef<'a>,
}

impl Auth {
    /// An AUTH with `reason_code` and no properties.
    pub fn new(reason_code: ReasonCode) -> Self {
        Auth {
            reason_code,
            properties: AuthProperties::default(),
        }
    }

    /// A borrowed view, for encoding.
    pub fn as_view(&self) -> AuthRef<'_> {
        AuthRef {
            reason_code: self.reason_code,
            properties: self.properties.as_view(),
        }
    }
}

impl<'a> AuthRef<'a> {
    pub(crate) fn decode(body: &'a [u8], opts: &DecodeOptions) -> Result<Self, Error> {
        let (reason_code, properties) = decode_reason(body, opts, PacketType::Auth)?;
        Ok(AuthRef {
            reason_code,
            properties,
        })
    }

    pub(crate) fn sizes(&self, version: ProtocolVersion) -> Result<Sizes, Error> {
        check_reason_code(self.reason_code, PacketType::Auth, version)?;
        if !version.is_v5() {
            // AUTH does not exist in 3.1.1 (packet type 15 is reserved).
            return Err(Error::InvalidPacketType(PacketType::Auth as u8));
        }
        reason_sizes(self.reason_code, &self.properties)
    }

    pub(crate) fn put<B: BufMut>(&self, _version: ProtocolVersion, sizes: &Sizes, buf: &mut B) {
        put_reason(self.reason_code, &self.properties, sizes, buf);
    }

    pub(crate) fn owned_in(&self, src: &Bytes) -> Auth {
        Auth {
            reason_code: self.reason_code,
            properties: self.properties.owned_in(src),
        }
    }
}
