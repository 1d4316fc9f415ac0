//! DISCONNECT (spec 3.14): the last packet either side sends; in 5.0 with a
//! reason code and properties.

use bytes::{BufMut, Bytes};

use super::ack::{check_reason_code, decode_reason, put_reason, reason_sizes};
use super::error::Error;
use super::fixed_header::PacketType;
use super::packet::{DecodeOptions, Sizes};
use super::property::{properties, Context};
use super::reason_code::ReasonCode;
use super::version::ProtocolVersion;

properties! {
    /// DISCONNECT properties (spec 3.14.2.2).
    owned DisconnectProperties;
    /// A borrowed view of [`DisconnectProperties`].
    view DisconnectPropertiesRef;
    context Context::packet(PacketType::Disconnect);
    /// Session Expiry Interval (client to server only).
    session_expiry_interval: U32 = SessionExpiryInterval,
    /// Reason String.
    reason_string: Str = ReasonString,
    /// Server Reference: another server to use.
    server_reference: Str = ServerReference,
}

/// A DISCONNECT packet. In 3.1.1 it has no content: the reason code is
/// Normal disconnection and there are no properties.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Disconnect {
    /// Why the connection is closing (0x00 Normal disconnection).
    pub reason_code: ReasonCode,
    /// 5.0 properties.
    pub properties: DisconnectProperties,
}

/// A borrowed view of a [`Disconnect`].
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct DisconnectRef<'a> {
    /// The reason code.
    pub reason_code: ReasonCode,
    /// 5.0 properties.
    pub properties: DisconnectPropertiesRef<'a>,
}

impl Disconnect {
    /// A DISCONNECT with `reason_code` and no properties.
    pub fn new(reason_code: ReasonCode) -> Self {
        Disconnect {
            reason_code,
            properties: DisconnectProperties::default(),
        }
    }

    /// A borrowed view, for encoding.
    pub fn as_view(&self) -> DisconnectRef<'_> {
        DisconnectRef {
            reason_code: self.reason_code,
            properties: self.properties.as_view(),
        }
    }
}

impl<'a> DisconnectRef<'a> {
    pub(crate) fn decode(body: &'a [u8], opts: &DecodeOptions) -> Result<Self, Error> {
        let (reason_code, properties) = decode_reason(body, opts, PacketType::Disconnect)?;
        Ok(DisconnectRef {
            reason_code,
            properties,
        })
    }

    pub(crate) fn sizes(&self, version: ProtocolVersion) -> Result<Sizes, Error> {
        check_reason_code(self.reason_code, PacketType::Disconnect, version)?;
        if !version.is_v5() {
            if !self.properties.is_empty() {
                return Err(Error::PropertiesInV311);
            }
            return Ok(Sizes::default());
        }
        reason_sizes(self.reason_code, &self.properties)
    }

    pub(crate) fn put<B: BufMut>(&self, _version: ProtocolVersion, sizes: &Sizes, buf: &mut B) {
        put_reason(self.reason_code, &self.properties, sizes, buf);
    }

    pub(crate) fn owned_in(&self, src: &Bytes) -> Disconnect {
        Disconnect {
            reason_code: self.reason_code,
            properties: self.properties.owned_in(src),
        }
    }
}
