//! MQTT 5.0 properties (spec section 2.2.2): every property identifier with
//! its wire type and the packets it may appear in, the validation shared by
//! decoding and encoding, and the macro that defines each packet's typed
//! property set (`ConnectProperties`, `PublishProperties`, ...).
//!
//! Decoding reads a property block in one pass over the borrowed bytes:
//! scalars are stored directly, strings and binary data as slices, and the
//! repeatable ones (User Property, Subscription Identifier in PUBLISH) as a
//! view over the already validated block, so decoding allocates nothing.

use bytes::{BufMut, Bytes};

use super::error::Error;
use super::fixed_header::PacketType;
use super::string::MqttStr;
use super::version::QoS;
use super::wire::{
    binary_len, put_binary, put_varint, string_len, varint_len, Reader, MAX_VARIABLE_INTEGER,
};
use crate::topic::check_topic_name_bytes;

/// The wire type of a property value (spec section 2.2.2.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PropertyType {
    /// One byte.
    Byte,
    /// Big-endian `u16`.
    TwoByteInteger,
    /// Big-endian `u32`.
    FourByteInteger,
    /// Variable byte integer.
    VariableByteInteger,
    /// UTF-8 encoded string.
    Utf8String,
    /// Binary data.
    BinaryData,
    /// UTF-8 string pair.
    Utf8StringPair,
}

/// Bit 0 of a context mask stands for the will properties in CONNECT; bit
/// `t` for packet type `t`.
const WILL: u16 = 1;
const fn pk(t: PacketType) -> u16 {
    1 << (t as u8)
}

/// Where a property set lives: a packet, or the will inside CONNECT.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Context {
    mask: u16,
    packet: PacketType,
}

impl Context {
    pub(crate) const fn packet(packet: PacketType) -> Self {
        Context {
            mask: pk(packet),
            packet,
        }
    }
    pub(crate) const WILL: Context = Context {
        mask: WILL,
        packet: PacketType::Connect,
    };
}

macro_rules! property_ids {
    ($( $(#[$doc:meta])* $name:ident = $value:literal, $ty:ident, $text:literal, $ctx:expr; )*) => {
        /// A property identifier (spec table 2-4).
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        #[repr(u8)]
        #[non_exhaustive]
        pub enum PropertyId {
            $( $(#[$doc])* $name = $value, )*
        }

        impl PropertyId {
            /// Every property, in identifier order.
            pub const ALL: &'static [PropertyId] = &[$(PropertyId::$name),*];

            /// The property for an identifier, if the specification defines it.
            pub const fn from_u8(value: u8) -> Option<Self> {
                match value {
                    $( $value => Some(PropertyId::$name), )*
                    _ => None,
                }
            }

            /// The identifier byte.
            pub const fn as_u8(self) -> u8 {
                self as u8
            }

            /// The value's wire type.
            pub const fn wire_type(self) -> PropertyType {
                match self {
                    $( PropertyId::$name => PropertyType::$ty, )*
                }
            }

            /// The name the specification uses.
            pub const fn name(self) -> &'static str {
                match self {
                    $( PropertyId::$name => $text, )*
                }
            }

            const fn contexts(self) -> u16 {
                match self {
                    $( PropertyId::$name => $ctx, )*
                }
            }
        }
    };
}

use PacketType as T;

property_ids! {
    /// 0x01: whether the payload is UTF-8 (1) or unspecified bytes (0).
    PayloadFormatIndicator = 0x01, Byte, "Payload Format Indicator", pk(T::Publish) | WILL;
    /// 0x02: lifetime of the message in seconds.
    MessageExpiryInterval = 0x02, FourByteInteger, "Message Expiry Interval", pk(T::Publish) | WILL;
    /// 0x03: MIME type of the payload.
    ContentType = 0x03, Utf8String, "Content Type", pk(T::Publish) | WILL;
    /// 0x08: topic for a response (request/response).
    ResponseTopic = 0x08, Utf8String, "Response Topic", pk(T::Publish) | WILL;
    /// 0x09: correlates a response with its request.
    CorrelationData = 0x09, BinaryData, "Correlation Data", pk(T::Publish) | WILL;
    /// 0x0B: identifier of the subscription(s) a message matched.
    SubscriptionIdentifier = 0x0B, VariableByteInteger, "Subscription Identifier", pk(T::Publish) | pk(T::Subscribe);
    /// 0x11: session lifetime in seconds after the connection closes.
    SessionExpiryInterval = 0x11, FourByteInteger, "Session Expiry Interval", pk(T::Connect) | pk(T::ConnAck) | pk(T::Disconnect);
    /// 0x12: client identifier assigned by the server.
    AssignedClientIdentifier = 0x12, Utf8String, "Assigned Client Identifier", pk(T::ConnAck);
    /// 0x13: keep alive the server requires instead of the client's.
    ServerKeepAlive = 0x13, TwoByteInteger, "Server Keep Alive", pk(T::ConnAck);
    /// 0x15: name of the enhanced authentication method.
    AuthenticationMethod = 0x15, Utf8String, "Authentication Method", pk(T::Connect) | pk(T::ConnAck) | pk(T::Auth);
    /// 0x16: authentication data of the method.
    AuthenticationData = 0x16, BinaryData, "Authentication Data", pk(T::Connect) | pk(T::ConnAck) | pk(T::Auth);
    /// 0x17: whether the server may send reason strings and user properties on failures.
    RequestProblemInformation = 0x17, Byte, "Request Problem Information", pk(T::Connect);
    /// 0x18: seconds to wait before publishing the will.
    WillDelayInterval = 0x18, FourByteInteger, "Will Delay Interval", WILL;
    /// 0x19: whether the client wants Response Information in CONNACK.
    RequestResponseInformation = 0x19, Byte, "Request Response Information", pk(T::Connect);
    /// 0x1A: basis for response topics, from the server.
    ResponseInformation = 0x1A, Utf8String, "Response Information", pk(T::ConnAck);
    /// 0x1C: another server to use.
    ServerReference = 0x1C, Utf8String, "Server Reference", pk(T::ConnAck) | pk(T::Disconnect);
    /// 0x1F: human-readable diagnostic.
    ReasonString = 0x1F, Utf8String, "Reason String", pk(T::ConnAck) | pk(T::PubAck) | pk(T::PubRec) | pk(T::PubRel) | pk(T::PubComp) | pk(T::SubAck) | pk(T::UnsubAck) | pk(T::Disconnect) | pk(T::Auth);
    /// 0x21: how many QoS 1/2 publishes the sender accepts in flight.
    ReceiveMaximum = 0x21, TwoByteInteger, "Receive Maximum", pk(T::Connect) | pk(T::ConnAck);
    /// 0x22: the highest topic alias the sender accepts.
    TopicAliasMaximum = 0x22, TwoByteInteger, "Topic Alias Maximum", pk(T::Connect) | pk(T::ConnAck);
    /// 0x23: a number standing for the topic.
    TopicAlias = 0x23, TwoByteInteger, "Topic Alias", pk(T::Publish);
    /// 0x24: highest QoS the server supports (0 or 1; absent means 2).
    MaximumQoS = 0x24, Byte, "Maximum QoS", pk(T::ConnAck);
    /// 0x25: whether the server supports retained messages.
    RetainAvailable = 0x25, Byte, "Retain Available", pk(T::ConnAck);
    /// 0x26: an application-defined name/value pair (may repeat).
    UserProperty = 0x26, Utf8StringPair, "User Property", pk(T::Connect) | pk(T::ConnAck) | pk(T::Publish) | WILL | pk(T::PubAck) | pk(T::PubRec) | pk(T::PubRel) | pk(T::PubComp) | pk(T::Subscribe) | pk(T::SubAck) | pk(T::Unsubscribe) | pk(T::UnsubAck) | pk(T::Disconnect) | pk(T::Auth);
    /// 0x27: the largest packet the sender accepts.
    MaximumPacketSize = 0x27, FourByteInteger, "Maximum Packet Size", pk(T::Connect) | pk(T::ConnAck);
    /// 0x28: whether the server supports wildcard subscriptions.
    WildcardSubscriptionAvailable = 0x28, Byte, "Wildcard Subscription Available", pk(T::ConnAck);
    /// 0x29: whether the server supports subscription identifiers.
    SubscriptionIdentifierAvailable = 0x29, Byte, "Subscription Identifier Available", pk(T::ConnAck);
    /// 0x2A: whether the server supports shared subscriptions.
    SharedSubscriptionAvailable = 0x2A, Byte, "Shared Subscription Available", pk(T::ConnAck);
}

impl PropertyId {
    /// Whether the property may appear in `packet` (for will properties,
    /// see [`allowed_in_will`](Self::allowed_in_will)).
    pub const fn allowed_in(self, packet: PacketType) -> bool {
        self.contexts() & pk(packet) != 0
    }

    /// Whether the property may appear among CONNECT's will properties.
    pub const fn allowed_in_will(self) -> bool {
        self.contexts() & WILL != 0
    }

    /// Whether the property may appear more than once in `packet`: User
    /// Property everywhere, Subscription Identifier in PUBLISH.
    pub const fn may_repeat_in(self, packet: PacketType) -> bool {
        matches!(self, PropertyId::UserProperty)
            || (matches!(self, PropertyId::SubscriptionIdentifier)
                && matches!(packet, PacketType::Publish))
    }
}

impl core::fmt::Display for PropertyId {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "{} (0x{:02X})", self.name(), self.as_u8())
    }
}

/// A property value as it appears on the wire, borrowed from the packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PropertyValue<'a> {
    /// A byte.
    Byte(u8),
    /// A two-byte integer.
    TwoByteInteger(u16),
    /// A four-byte integer.
    FourByteInteger(u32),
    /// A variable byte integer.
    VariableByteInteger(u32),
    /// A UTF-8 string.
    Utf8String(MqttStr<'a>),
    /// Binary data.
    BinaryData(&'a [u8]),
    /// A UTF-8 string pair (name, value).
    Utf8StringPair(MqttStr<'a>, MqttStr<'a>),
}

/// Reads one property of a block validated before: strings are not
/// checked again.
fn read_validated_property<'a>(r: &mut Reader<'a>) -> Option<(PropertyId, PropertyValue<'a>)> {
    let id = PropertyId::from_u8(r.u8().ok()?)?;
    let value = match id.wire_type() {
        PropertyType::Byte => PropertyValue::Byte(r.u8().ok()?),
        PropertyType::TwoByteInteger => PropertyValue::TwoByteInteger(r.u16().ok()?),
        PropertyType::FourByteInteger => PropertyValue::FourByteInteger(r.u32().ok()?),
        PropertyType::VariableByteInteger => PropertyValue::VariableByteInteger(r.varint().ok()?),
        PropertyType::Utf8String => {
            PropertyValue::Utf8String(MqttStr::from_validated(r.binary().ok()?))
        }
        PropertyType::BinaryData => PropertyValue::BinaryData(r.binary().ok()?),
        PropertyType::Utf8StringPair => PropertyValue::Utf8StringPair(
            MqttStr::from_validated(r.binary().ok()?),
            MqttStr::from_validated(r.binary().ok()?),
        ),
    };
    Some((id, value))
}

/// Reads one property (identifier and value) from a block.
pub(crate) fn read_property<'a>(
    r: &mut Reader<'a>,
) -> Result<(PropertyId, PropertyValue<'a>), Error> {
    let raw = r.varint()?;
    let id = u8::try_from(raw)
        .ok()
        .and_then(PropertyId::from_u8)
        .ok_or(Error::UnknownProperty(raw.min(0xFF) as u8))?;
    let value = match id.wire_type() {
        PropertyType::Byte => PropertyValue::Byte(r.u8()?),
        PropertyType::TwoByteInteger => PropertyValue::TwoByteInteger(r.u16()?),
        PropertyType::FourByteInteger => PropertyValue::FourByteInteger(r.u32()?),
        PropertyType::VariableByteInteger => PropertyValue::VariableByteInteger(r.varint()?),
        PropertyType::Utf8String => PropertyValue::Utf8String(r.string()?),
        PropertyType::BinaryData => PropertyValue::BinaryData(r.binary()?),
        PropertyType::Utf8StringPair => PropertyValue::Utf8StringPair(r.string()?, r.string()?),
    };
    Ok((id, value))
}

/// Checks a value against the rules of its property (both directions).
pub(crate) fn validate_value(id: PropertyId, value: &PropertyValue<'_>) -> Result<(), Error> {
    use PropertyId as P;
    use PropertyValue as V;
    let ok = match (id, value) {
        (
            P::PayloadFormatIndicator
            | P::RequestProblemInformation
            | P::RequestResponseInformation
            | P::MaximumQoS
            | P::RetainAvailable
            | P::WildcardSubscriptionAvailable
            | P::SubscriptionIdentifierAvailable
            | P::SharedSubscriptionAvailable,
            V::Byte(b),
        ) => *b <= 1,
        // "It is a Protocol Error to include ... a value of 0".
        (P::ReceiveMaximum | P::TopicAlias, V::TwoByteInteger(v)) => *v != 0,
        (P::MaximumPacketSize, V::FourByteInteger(v)) => *v != 0,
        (P::SubscriptionIdentifier, V::VariableByteInteger(v)) => {
            *v != 0 && *v <= MAX_VARIABLE_INTEGER
        }
        // [MQTT-3.3.2-14] the Response Topic is a Topic Name.
        (P::ResponseTopic, V::Utf8String(s)) => check_topic_name_bytes(s.as_bytes()).is_ok(),
        _ => value_type(value) == id.wire_type(),
    };
    if ok && value_type(value) == id.wire_type() {
        Ok(())
    } else {
        Err(Error::InvalidPropertyValue(id))
    }
}

const fn value_type(value: &PropertyValue<'_>) -> PropertyType {
    match value {
        PropertyValue::Byte(_) => PropertyType::Byte,
        PropertyValue::TwoByteInteger(_) => PropertyType::TwoByteInteger,
        PropertyValue::FourByteInteger(_) => PropertyType::FourByteInteger,
        PropertyValue::VariableByteInteger(_) => PropertyType::VariableByteInteger,
        PropertyValue::Utf8String(_) => PropertyType::Utf8String,
        PropertyValue::BinaryData(_) => PropertyType::BinaryData,
        PropertyValue::Utf8StringPair(..) => PropertyType::Utf8StringPair,
    }
}

/// Checks every property of a block (without its length prefix): known
/// (0x81), allowed in `ctx` (0x81, spec 2.2.2.2), not repeated unless it
/// may be (0x82), value in range.
pub(crate) fn check_block(block: &[u8], ctx: Context) -> Result<(), Error> {
    let mut br = Reader::new(block);
    let mut seen: u64 = 0;
    while !br.is_empty() {
        let (id, value) = read_property(&mut br)?;
        if id.contexts() & ctx.mask == 0 {
            return Err(Error::PropertyNotAllowed {
                property: id,
                packet: ctx.packet,
            });
        }
        if !id.may_repeat_in(ctx.packet) {
            let bit = 1u64 << (id as u8);
            if seen & bit != 0 {
                return Err(Error::DuplicateProperty(id));
            }
            seen |= bit;
        }
        validate_value(id, &value)?;
        seen |= 1u64 << (id as u8);
    }
    check_combination(seen)
}

/// Rules between properties of one block: Authentication Data needs an
/// Authentication Method ("It is a Protocol Error to include Authentication
/// Data if there is no Authentication Method", spec 3.1.2.11.10, 3.2.2.3.18,
/// 3.15.2.2.3). `seen` has bit `id` set for each property present.
pub(crate) fn check_combination(seen: u64) -> Result<(), Error> {
    let has = |id: PropertyId| seen & (1u64 << (id as u8)) != 0;
    if has(PropertyId::AuthenticationData) && !has(PropertyId::AuthenticationMethod) {
        return Err(Error::InvalidPropertyValue(PropertyId::AuthenticationData));
    }
    Ok(())
}

/// Reads a property block (length, then properties), checks it with
/// [`check_block`] and returns it.
#[inline]
pub(crate) fn read_block<'a>(r: &mut Reader<'a>, ctx: Context) -> Result<&'a [u8], Error> {
    let len = r.varint()?;
    let block = r.take(len as usize)?;
    if !block.is_empty() {
        check_block(block, ctx)?;
    }
    Ok(block)
}

/// The first value of property `id` in a validated block.
#[inline]
pub(crate) fn find(block: &[u8], id: PropertyId) -> Option<PropertyValue<'_>> {
    if block.is_empty() {
        return None;
    }
    BlockIter::new(block, id).next()
}

/// Iterates every property of a validated block.
#[derive(Debug, Clone)]
pub(crate) struct AllIter<'a> {
    reader: Reader<'a>,
}

impl<'a> AllIter<'a> {
    pub(crate) const fn new(block: &'a [u8]) -> Self {
        AllIter {
            reader: Reader::new(block),
        }
    }
}

impl<'a> Iterator for AllIter<'a> {
    type Item = (PropertyId, PropertyValue<'a>);
    fn next(&mut self) -> Option<Self::Item> {
        if self.reader.is_empty() {
            return None;
        }
        // Validated when read: never fails; if it did, iteration ends.
        read_validated_property(&mut self.reader)
    }
}

/// Iterates the properties with identifier `id` in a validated block.
#[derive(Debug, Clone)]
pub(crate) struct BlockIter<'a> {
    reader: Reader<'a>,
    id: PropertyId,
}

impl<'a> BlockIter<'a> {
    pub(crate) const fn new(block: &'a [u8], id: PropertyId) -> Self {
        BlockIter {
            reader: Reader::new(block),
            id,
        }
    }
}

impl<'a> Iterator for BlockIter<'a> {
    type Item = PropertyValue<'a>;
    fn next(&mut self) -> Option<PropertyValue<'a>> {
        while !self.reader.is_empty() {
            // The block was validated when it was read, so this never fails;
            // if it somehow did, iteration simply ends.
            let (id, value) = read_validated_property(&mut self.reader)?;
            if id == self.id {
                return Some(value);
            }
        }
        None
    }
}

/// The encoded size of one property, validating it.
pub(crate) fn property_len(id: PropertyId, value: &PropertyValue<'_>) -> Result<usize, Error> {
    validate_value(id, value)?;
    let value_len = match value {
        PropertyValue::Byte(_) => 1,
        PropertyValue::TwoByteInteger(_) => 2,
        PropertyValue::FourByteInteger(_) => 4,
        PropertyValue::VariableByteInteger(v) => varint_len(*v),
        PropertyValue::Utf8String(s) => string_len(*s)?,
        PropertyValue::BinaryData(b) => binary_len(b)?,
        PropertyValue::Utf8StringPair(k, v) => string_len(*k)? + string_len(*v)?,
    };
    Ok(1 + value_len)
}

/// Writes one property already sized by [`property_len`].
pub(crate) fn put_property<B: BufMut>(buf: &mut B, id: PropertyId, value: &PropertyValue<'_>) {
    buf.put_u8(id as u8);
    match value {
        PropertyValue::Byte(b) => buf.put_u8(*b),
        PropertyValue::TwoByteInteger(v) => buf.put_u16(*v),
        PropertyValue::FourByteInteger(v) => buf.put_u32(*v),
        PropertyValue::VariableByteInteger(v) => put_varint(buf, *v),
        PropertyValue::Utf8String(s) => put_binary(buf, s.as_bytes()),
        PropertyValue::BinaryData(b) => put_binary(buf, b),
        PropertyValue::Utf8StringPair(k, v) => {
            put_binary(buf, k.as_bytes());
            put_binary(buf, v.as_bytes());
        }
    }
}

/// Builds a property block in a caller's buffer without allocating, for
/// the borrowed views' `from_wire` (e.g.
/// [`PublishPropertiesRef::from_wire`](crate::codec::PublishPropertiesRef::from_wire)),
/// which then checks the block against its packet.
///
/// ```
/// use mqtt_core::codec::{MqttStr, PropertyId, PropertyValue, PropertyWriter, PublishPropertiesRef};
/// let mut buf = [0u8; 64];
/// let mut w = PropertyWriter::new(&mut buf);
/// w.push(PropertyId::MessageExpiryInterval, PropertyValue::FourByteInteger(60)).unwrap();
/// let key = MqttStr::new("unit").unwrap();
/// let value = MqttStr::new("celsius").unwrap();
/// w.push(PropertyId::UserProperty, PropertyValue::Utf8StringPair(key, value)).unwrap();
/// let props = PublishPropertiesRef::from_wire(w.finish()).unwrap();
/// assert_eq!(props.message_expiry_interval(), Some(60));
/// assert_eq!(props.user_properties().len(), 1);
/// ```
#[derive(Debug)]
pub struct PropertyWriter<'a> {
    buf: &'a mut [u8],
    len: usize,
}

impl<'a> PropertyWriter<'a> {
    /// A writer filling `buf` from the start.
    pub fn new(buf: &'a mut [u8]) -> Self {
        PropertyWriter { buf, len: 0 }
    }

    /// Appends one property, validating its value; fails with
    /// [`Error::BufferTooSmall`] (nothing written) when it does not fit.
    pub fn push(&mut self, id: PropertyId, value: PropertyValue<'_>) -> Result<&mut Self, Error> {
        let n = property_len(id, &value)?;
        let available = self.buf.len() - self.len;
        if n > available {
            return Err(Error::BufferTooSmall {
                needed: n,
                available,
            });
        }
        let mut w = &mut self.buf[self.len..self.len + n];
        put_property(&mut w, id, &value);
        self.len += n;
        Ok(self)
    }

    /// The block written so far (without a length prefix).
    pub fn finish(self) -> &'a [u8] {
        let PropertyWriter { buf, len } = self;
        &buf[..len]
    }
}

/// A bytes slice shared with `src` when it lies inside it, else copied.
pub(crate) fn share(src: &Bytes, part: &[u8]) -> Bytes {
    let start = src.as_ptr() as usize;
    let p = part.as_ptr() as usize;
    if !part.is_empty() && p >= start && p + part.len() <= start + src.len() {
        src.slice_ref(part)
    } else {
        Bytes::copy_from_slice(part)
    }
}

/// Conversions between the wire value and the typed field of one kind of
/// property; the macro below uses one marker type per kind.
pub(crate) mod kind {
    use super::*;
    use crate::codec::string::MqttString;

    pub(crate) trait Kind {
        type Owned;
        type Ref<'a>: Copy;
        fn from_value<'a>(v: PropertyValue<'a>) -> Option<Self::Ref<'a>>;
        fn to_value<'a>(r: Self::Ref<'a>) -> PropertyValue<'a>;
        fn to_owned(r: Self::Ref<'_>, src: &Bytes) -> Self::Owned;
        fn as_ref(o: &Self::Owned) -> Self::Ref<'_>;
    }

    macro_rules! copy_kind {
        ($name:ident, $ty:ty, $variant:ident, |$x:ident| $from:expr, |$y:ident| $to:expr) => {
            pub(crate) struct $name;
            impl Kind for $name {
                type Owned = $ty;
                type Ref<'a> = $ty;
                fn from_value<'a>(v: PropertyValue<'a>) -> Option<$ty> {
                    match v {
                        PropertyValue::$variant($x) => $from,
                        _ => None,
                    }
                }
                fn to_value<'a>(r: $ty) -> PropertyValue<'a> {
                    let $y = r;
                    PropertyValue::$variant($to)
                }
                fn to_owned(r: $ty, _: &Bytes) -> $ty {
                    r
                }
                fn as_ref(o: &$ty) -> $ty {
                    *o
                }
            }
        };
    }

    copy_kind!(Bool, bool, Byte, |b| Some(b == 1), |b| u8::from(b));
    copy_kind!(MaxQoS, QoS, Byte, |b| QoS::from_u8(b), |q| q.as_u8());
    copy_kind!(U16, u16, TwoByteInteger, |v| Some(v), |v| v);
    copy_kind!(U32, u32, FourByteInteger, |v| Some(v), |v| v);
    copy_kind!(VarInt, u32, VariableByteInteger, |v| Some(v), |v| v);

    pub(crate) struct Str;
    impl Kind for Str {
        type Owned = MqttString;
        type Ref<'a> = MqttStr<'a>;
        fn from_value<'a>(v: PropertyValue<'a>) -> Option<Self::Ref<'a>> {
            match v {
                PropertyValue::Utf8String(s) => Some(s),
                _ => None,
            }
        }
        fn to_value<'a>(r: Self::Ref<'a>) -> PropertyValue<'a> {
            PropertyValue::Utf8String(r)
        }
        fn to_owned(r: MqttStr<'_>, src: &Bytes) -> MqttString {
            MqttString::from_validated(share(src, r.as_bytes()))
        }
        fn as_ref(o: &MqttString) -> MqttStr<'_> {
            o.as_mqtt_str()
        }
    }

    pub(crate) struct Bin;
    impl Kind for Bin {
        type Owned = Bytes;
        type Ref<'a> = &'a [u8];
        fn from_value<'a>(v: PropertyValue<'a>) -> Option<Self::Ref<'a>> {
            match v {
                PropertyValue::BinaryData(b) => Some(b),
                _ => None,
            }
        }
        fn to_value<'a>(r: Self::Ref<'a>) -> PropertyValue<'a> {
            PropertyValue::BinaryData(r)
        }
        fn to_owned(r: &[u8], src: &Bytes) -> Bytes {
            share(src, r)
        }
        fn as_ref(o: &Bytes) -> &[u8] {
            o
        }
    }
}

/// The owned field type of a property kind.
macro_rules! owned_ty {
    (Bool) => {
        bool
    };
    (MaxQoS) => {
        $crate::codec::QoS
    };
    (U16) => {
        u16
    };
    (U32) => {
        u32
    };
    (VarInt) => {
        u32
    };
    (Str) => {
        $crate::codec::MqttString
    };
    (Bin) => {
        ::bytes::Bytes
    };
}

/// The borrowed field type of a property kind.
macro_rules! ref_ty {
    (Bool, $a:lifetime) => { bool };
    (MaxQoS, $a:lifetime) => { $crate::codec::QoS };
    (U16, $a:lifetime) => { u16 };
    (U32, $a:lifetime) => { u32 };
    (VarInt, $a:lifetime) => { u32 };
    (Str, $a:lifetime) => { $crate::codec::MqttStr<$a> };
    (Bin, $a:lifetime) => { &$a [u8] };
}

/// Where a borrowed property set's values live: in a validated wire block
/// (after decoding, or given by the caller) or in an owned struct.
#[derive(Debug)]
pub(crate) enum PropsRepr<'a, O> {
    /// A property block without its length prefix, already validated.
    Wire(&'a [u8]),
    /// Typed owned properties.
    Owned(&'a O),
}

impl<O> Clone for PropsRepr<'_, O> {
    fn clone(&self) -> Self {
        *self
    }
}

impl<O> Copy for PropsRepr<'_, O> {}

/// Defines a packet's property set: an owned struct with public fields, a
/// small borrowed view with accessor methods (over the validated wire block
/// or over the owned struct), and reading, sizing, writing and conversion.
macro_rules! properties {
    (
        $(#[$odoc:meta])* owned $Owned:ident;
        $(#[$rdoc:meta])* view $Ref:ident;
        context $ctx:expr;
        $( $(#[$fdoc:meta])* $field:ident: $kind:ident = $id:ident, )*
        $( @repeated $sid:ident, )?
    ) => {
        $(#[$odoc])*
        #[derive(Debug, PartialEq, Eq, Default)]
        #[non_exhaustive]
        pub struct $Owned {
            $( $(#[$fdoc])* pub $field: Option<$crate::codec::property::owned_ty!($kind)>, )*
            $(
                /// Subscription Identifiers of the subscriptions this
                /// message matched (may repeat).
                pub $sid: ::alloc::vec::Vec<u32>,
            )?
            /// User Properties, in order, duplicates kept.
            pub user_properties: ::alloc::vec::Vec<$crate::codec::UserProperty>,
        }

        impl Clone for $Owned {
            /// Field by field, with a shortcut for the usual empty set
            /// (cloning a message to send it again is a hot path).
            #[inline]
            fn clone(&self) -> Self {
                if self.is_empty() {
                    return Self::default();
                }
                $Owned {
                    $( $field: self.$field.clone(), )*
                    $( $sid: self.$sid.clone(), )?
                    user_properties: self.user_properties.clone(),
                }
            }
        }

        $(#[$rdoc])*
        ///
        /// Two pointers in size: a view over the validated wire bytes (as
        /// decoded, re-encoded by copying them) or over an owned struct.
        /// Each accessor reads the value where it lives.
        #[derive(Clone, Copy)]
        pub struct $Ref<'a> {
            repr: $crate::codec::property::PropsRepr<'a, $Owned>,
        }

        impl Default for $Ref<'_> {
            fn default() -> Self {
                $Ref { repr: $crate::codec::property::PropsRepr::Wire(&[]) }
            }
        }

        #[allow(dead_code)]
        impl $Owned {
            /// No property set, as a constant.
            pub(crate) const EMPTY: $Owned = $Owned {
                $( $field: None, )*
                $( $sid: ::alloc::vec::Vec::new(), )?
                user_properties: ::alloc::vec::Vec::new(),
            };

            /// A borrowed view of these properties, for encoding.
            pub fn as_view(&self) -> $Ref<'_> {
                $Ref { repr: $crate::codec::property::PropsRepr::Owned(self) }
            }

            /// Whether no property is set.
            #[inline]
            pub fn is_empty(&self) -> bool {
                true $( && self.$field.is_none() )* $( && self.$sid.is_empty() )? && self.user_properties.is_empty()
            }
        }

        #[allow(dead_code)]
        impl<'a> $Ref<'a> {
            /// A view over a property block (without its length prefix)
            /// that the caller encoded, validated as a decoder would.
            pub fn from_wire(block: &'a [u8]) -> Result<Self, $crate::codec::Error> {
                $crate::codec::property::check_block(block, $ctx)?;
                Ok($Ref { repr: $crate::codec::property::PropsRepr::Wire(block) })
            }

            $(
                $(#[$fdoc])*
                #[inline]
                pub fn $field(&self) -> Option<$crate::codec::property::ref_ty!($kind, 'a)> {
                    use $crate::codec::property::kind::Kind as _;
                    match self.repr {
                        $crate::codec::property::PropsRepr::Wire(block) => {
                            $crate::codec::property::find(block, $crate::codec::PropertyId::$id)
                                .and_then($crate::codec::property::kind::$kind::from_value)
                        }
                        $crate::codec::property::PropsRepr::Owned(o) => {
                            o.$field.as_ref().map(|v| $crate::codec::property::kind::$kind::as_ref(v))
                        }
                    }
                }
            )*

            $(
                /// Subscription Identifiers (may repeat).
                pub fn $sid(&self) -> $crate::codec::SubscriptionIdsRef<'a> {
                    match self.repr {
                        $crate::codec::property::PropsRepr::Wire(block) => $crate::codec::SubscriptionIdsRef::from_block(block),
                        $crate::codec::property::PropsRepr::Owned(o) => $crate::codec::SubscriptionIdsRef::from_slice(&o.$sid),
                    }
                }
            )?

            /// User Properties, in order, duplicates kept.
            pub fn user_properties(&self) -> $crate::codec::UserPropertiesRef<'a> {
                match self.repr {
                    $crate::codec::property::PropsRepr::Wire(block) => $crate::codec::UserPropertiesRef::from_block(block),
                    $crate::codec::property::PropsRepr::Owned(o) => $crate::codec::UserPropertiesRef::from_owned(&o.user_properties),
                }
            }

            /// Whether no property is set.
            #[inline]
            pub fn is_empty(&self) -> bool {
                match self.repr {
                    $crate::codec::property::PropsRepr::Wire(block) => block.is_empty(),
                    $crate::codec::property::PropsRepr::Owned(o) => o.is_empty(),
                }
            }

            /// Reads the property length and block, validating every
            /// property.
            #[inline]
            pub(crate) fn read(r: &mut $crate::codec::wire::Reader<'a>) -> Result<Self, $crate::codec::Error> {
                Self::read_in(r, $ctx)
            }

            /// Like `read`, naming `ctx` in errors (for property sets
            /// shared by several packets).
            #[inline]
            pub(crate) fn read_in(
                r: &mut $crate::codec::wire::Reader<'a>,
                ctx: $crate::codec::property::Context,
            ) -> Result<Self, $crate::codec::Error> {
                let block = $crate::codec::property::read_block(r, ctx)?;
                Ok($Ref { repr: $crate::codec::property::PropsRepr::Wire(block) })
            }

            /// The owned properties, sharing string and binary data with
            /// `src` where the view points into it.
            pub(crate) fn owned_in(&self, src: &::bytes::Bytes) -> $Owned {
                use $crate::codec::property::kind::Kind as _;
                let block = match self.repr {
                    $crate::codec::property::PropsRepr::Owned(o) => return o.clone(),
                    $crate::codec::property::PropsRepr::Wire(block) => block,
                };
                let mut out = $Owned::default();
                if block.is_empty() {
                    return out;
                }
                let mut it = $crate::codec::property::AllIter::new(block);
                while let Some((id, value)) = it.next() {
                    match id {
                        $( $crate::codec::PropertyId::$id => {
                            out.$field = $crate::codec::property::kind::$kind::from_value(value)
                                .map(|v| $crate::codec::property::kind::$kind::to_owned(v, src));
                        } )*
                        $( $crate::codec::PropertyId::SubscriptionIdentifier => {
                            if let $crate::codec::PropertyValue::VariableByteInteger(v) = value {
                                out.$sid.push(v);
                            }
                        } )?
                        $crate::codec::PropertyId::UserProperty => {
                            if let $crate::codec::PropertyValue::Utf8StringPair(k, v) = value {
                                out.user_properties.push($crate::codec::UserProperty::shared(k, v, src));
                            }
                        }
                        // The block was validated for this context.
                        _ => {}
                    }
                }
                out
            }

            /// Calls `f` with every property: in wire order for a wire
            /// view, in declaration order (user properties last) for an
            /// owned one.
            pub(crate) fn for_each(
                &self,
                mut f: impl FnMut($crate::codec::PropertyId, $crate::codec::PropertyValue<'_>) -> Result<(), $crate::codec::Error>,
            ) -> Result<(), $crate::codec::Error> {
                use $crate::codec::property::kind::Kind as _;
                let o = match self.repr {
                    $crate::codec::property::PropsRepr::Wire(block) => {
                        let mut it = $crate::codec::property::AllIter::new(block);
                        while let Some((id, value)) = it.next() {
                            f(id, value)?;
                        }
                        return Ok(());
                    }
                    $crate::codec::property::PropsRepr::Owned(o) => o,
                };
                $( if let Some(v) = &o.$field {
                    f($crate::codec::PropertyId::$id, $crate::codec::property::kind::$kind::to_value($crate::codec::property::kind::$kind::as_ref(v)))?;
                } )*
                $( for &id in &o.$sid {
                    f($crate::codec::PropertyId::SubscriptionIdentifier, $crate::codec::PropertyValue::VariableByteInteger(id))?;
                } )?
                for u in &o.user_properties {
                    f($crate::codec::PropertyId::UserProperty, $crate::codec::PropertyValue::Utf8StringPair(u.key.as_mqtt_str(), u.value.as_mqtt_str()))?;
                }
                Ok(())
            }

            /// The size of the property block without its length prefix,
            /// validating every value (a wire block was validated when it
            /// was read).
            #[inline]
            pub(crate) fn block_len(&self) -> Result<usize, $crate::codec::Error> {
                match self.repr {
                    $crate::codec::property::PropsRepr::Wire(block) => return Ok(block.len()),
                    // The common case, without walking every field.
                    $crate::codec::property::PropsRepr::Owned(o) if o.is_empty() => return Ok(0),
                    $crate::codec::property::PropsRepr::Owned(_) => {}
                }
                let mut len = 0usize;
                let mut seen = 0u64;
                self.for_each(|id, v| {
                    len += $crate::codec::property::property_len(id, &v)?;
                    seen |= 1u64 << (id as u8);
                    Ok(())
                })?;
                $crate::codec::property::check_combination(seen)?;
                Ok(len)
            }

            /// For encoding in `version`: the block's length and its size
            /// with the length prefix; `(0, 0)` in 3.1.1, where properties
            /// must be empty ([`Error::PropertiesInV311`] otherwise).
            ///
            /// [`Error::PropertiesInV311`]: $crate::codec::Error::PropertiesInV311
            #[inline(always)]
            pub(crate) fn sized_for(
                &self,
                version: $crate::codec::ProtocolVersion,
            ) -> Result<(usize, usize), $crate::codec::Error> {
                // The usual case first: no properties at all.
                let empty = self.is_empty();
                if empty {
                    return Ok((0, if version.is_v5() { 1 } else { 0 }));
                }
                if !version.is_v5() {
                    return if self.is_empty() { Ok((0, 0)) } else { Err($crate::codec::Error::PropertiesInV311) };
                }
                let block = self.block_len()?;
                Ok((block, $crate::codec::property::with_len_prefix(block)?))
            }

            /// Writes the property block (length prefix included) whose
            /// block size `block_len` returned.
            #[inline]
            pub(crate) fn put<B: ::bytes::BufMut>(&self, buf: &mut B, block_len: usize) {
                if block_len == 0 {
                    buf.put_u8(0);
                    return;
                }
                $crate::codec::wire::put_varint(buf, block_len as u32);
                if let $crate::codec::property::PropsRepr::Wire(block) = self.repr {
                    buf.put_slice(block);
                    return;
                }
                let _ = self.for_each(|id, v| {
                    $crate::codec::property::put_property(buf, id, &v);
                    Ok(())
                });
            }
        }

        impl<'a> $crate::codec::property::PropertiesView<'a> for $Ref<'a> {
            #[inline]
            fn read_in(
                r: &mut $crate::codec::wire::Reader<'a>,
                ctx: $crate::codec::property::Context,
            ) -> Result<Self, $crate::codec::Error> {
                $Ref::read_in(r, ctx)
            }

            #[inline]
            fn is_empty(&self) -> bool {
                $Ref::is_empty(self)
            }

            #[inline]
            fn block_len(&self) -> Result<usize, $crate::codec::Error> {
                $Ref::block_len(self)
            }

            #[inline]
            fn put<B: ::bytes::BufMut>(&self, buf: &mut B, block_len: usize) {
                $Ref::put(self, buf, block_len)
            }
        }

        impl PartialEq for $Ref<'_> {
            fn eq(&self, other: &Self) -> bool {
                true $( && self.$field() == other.$field() )*
                    $( && self.$sid() == other.$sid() )?
                    && self.user_properties() == other.user_properties()
            }
        }

        impl core::fmt::Debug for $Ref<'_> {
            fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
                f.debug_struct(stringify!($Ref))
                    $( .field(stringify!($field), &self.$field()) )*
                    $( .field(stringify!($sid), &self.$sid()) )?
                    .field("user_properties", &self.user_properties())
                    .finish()
            }
        }
    };
}

/// The impls every borrowed list view shares: iteration by value, `Debug`
/// as a list, and equality by contents (whatever the representation).
macro_rules! list_view_impls {
    ($Ref:ident, $Iter:ident, $Item:ty) => {
        impl<'a> IntoIterator for $Ref<'a> {
            type Item = $Item;
            type IntoIter = $Iter<'a>;
            fn into_iter(self) -> $Iter<'a> {
                self.iter()
            }
        }

        impl core::fmt::Debug for $Ref<'_> {
            fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
                f.debug_list().entries(self.iter()).finish()
            }
        }

        impl PartialEq for $Ref<'_> {
            fn eq(&self, other: &Self) -> bool {
                self.iter().eq(other.iter())
            }
        }
    };
}

pub(crate) use {list_view_impls, owned_ty, properties, ref_ty};

/// What packet code needs of a borrowed property set, for helpers shared by
/// packets whose property sets differ (see `ack`). Every view the
/// `properties!` macro defines implements it with its inherent methods of
/// the same names.
pub(crate) trait PropertiesView<'a>: Default {
    /// Reads the property length and block, validating every property for
    /// `ctx`.
    fn read_in(r: &mut Reader<'a>, ctx: Context) -> Result<Self, Error>;

    /// Whether no property is set.
    fn is_empty(&self) -> bool;

    /// The size of the property block without its length prefix,
    /// validating every value.
    fn block_len(&self) -> Result<usize, Error>;

    /// Writes the property block (length prefix included) whose block size
    /// `block_len` returned.
    fn put<B: BufMut>(&self, buf: &mut B, block_len: usize);
}

/// The whole size of a property block with its length prefix.
pub(crate) fn with_len_prefix(block_len: usize) -> Result<usize, Error> {
    if block_len > MAX_VARIABLE_INTEGER as usize {
        return Err(Error::FieldTooLong);
    }
    Ok(varint_len(block_len as u32) + block_len)
}

/// Subscription Identifiers carried by a PUBLISH: a borrowed view over the
/// wire bytes or over a slice.
#[derive(Clone, Copy, Default)]
pub struct SubscriptionIdsRef<'a> {
    repr: IdsRepr<'a>,
}

#[derive(Clone, Copy)]
enum IdsRepr<'a> {
    Block(&'a [u8]),
    Slice(&'a [u32]),
}

impl Default for IdsRepr<'_> {
    fn default() -> Self {
        IdsRepr::Slice(&[])
    }
}

impl<'a> SubscriptionIdsRef<'a> {
    /// A view over a slice of identifiers (each must be 1..=268,435,455).
    pub const fn from_slice(ids: &'a [u32]) -> Self {
        SubscriptionIdsRef {
            repr: IdsRepr::Slice(ids),
        }
    }

    pub(crate) const fn from_block(block: &'a [u8]) -> Self {
        SubscriptionIdsRef {
            repr: IdsRepr::Block(block),
        }
    }

    /// Number of identifiers (counted over the wire bytes for a decoded
    /// view).
    pub fn len(&self) -> usize {
        match self.repr {
            IdsRepr::Block(_) => self.iter().count(),
            IdsRepr::Slice(s) => s.len(),
        }
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.iter().next().is_none()
    }

    /// The identifiers, in order.
    pub fn iter(&self) -> impl Iterator<Item = u32> + 'a {
        let (block, slice): (&'a [u8], &'a [u32]) = match self.repr {
            IdsRepr::Block(block) => (block, &[]),
            IdsRepr::Slice(s) => (&[], s),
        };
        BlockIter::new(block, PropertyId::SubscriptionIdentifier)
            .filter_map(|v| match v {
                PropertyValue::VariableByteInteger(id) => Some(id),
                _ => None,
            })
            .chain(slice.iter().copied())
    }
}

impl core::fmt::Debug for SubscriptionIdsRef<'_> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_list().entries(self.iter()).finish()
    }
}

impl PartialEq for SubscriptionIdsRef<'_> {
    fn eq(&self, other: &Self) -> bool {
        self.iter().eq(other.iter())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_has_every_property_with_its_type() {
        assert_eq!(PropertyId::ALL.len(), 27);
        for &id in PropertyId::ALL {
            assert_eq!(PropertyId::from_u8(id.as_u8()), Some(id));
        }
        assert_eq!(
            PropertyId::UserProperty.wire_type(),
            PropertyType::Utf8StringPair
        );
        assert_eq!(
            PropertyId::SubscriptionIdentifier.wire_type(),
            PropertyType::VariableByteInteger
        );
        assert!(PropertyId::WillDelayInterval.allowed_in_will());
        assert!(!PropertyId::WillDelayInterval.allowed_in(PacketType::Publish));
        assert!(PropertyId::SubscriptionIdentifier.may_repeat_in(PacketType::Publish));
        assert!(!PropertyId::SubscriptionIdentifier.may_repeat_in(PacketType::Subscribe));
    }

    #[test]
    fn unknown_property_is_malformed() {
        let mut r = Reader::new(&[2, 0x05, 0x00]);
        let e = read_block(&mut r, Context::packet(PacketType::Publish)).unwrap_err();
        assert_eq!(e, Error::UnknownProperty(0x05));
        assert_eq!(e.reason_code(), crate::codec::ReasonCode::MalformedPacket);
    }

    // 5.0 2.2.2.2: an identifier not valid for the packet type is a
    // Malformed Packet (0x81), not a Protocol Error.
    #[test]
    fn misplaced_property_is_malformed() {
        // Session Expiry Interval in PUBLISH.
        let mut r = Reader::new(&[5, 0x11, 0, 0, 0, 1]);
        let e = read_block(&mut r, Context::packet(PacketType::Publish)).unwrap_err();
        assert_eq!(
            e,
            Error::PropertyNotAllowed {
                property: PropertyId::SessionExpiryInterval,
                packet: PacketType::Publish
            }
        );
        assert_eq!(e.reason_code(), crate::codec::ReasonCode::MalformedPacket);
    }

    #[test]
    fn property_given_twice_is_a_protocol_error() {
        // "It is a Protocol Error to include the Message Expiry Interval more than once."
        let mut r = Reader::new(&[10, 0x02, 0, 0, 0, 1, 0x02, 0, 0, 0, 2]);
        let e = read_block(&mut r, Context::packet(PacketType::Publish)).unwrap_err();
        assert_eq!(
            e,
            Error::DuplicateProperty(PropertyId::MessageExpiryInterval)
        );
        assert_eq!(e.reason_code(), crate::codec::ReasonCode::ProtocolError);
    }

    #[test]
    fn repeatable_properties_may_repeat() {
        let mut r = Reader::new(&[4, 0x0B, 1, 0x0B, 2]);
        let block = read_block(&mut r, Context::packet(PacketType::Publish)).unwrap();
        assert_eq!(AllIter::new(block).count(), 2);
        let mut r = Reader::new(&[4, 0x0B, 1, 0x0B, 2]);
        let e = read_block(&mut r, Context::packet(PacketType::Subscribe)).unwrap_err();
        assert_eq!(
            e,
            Error::DuplicateProperty(PropertyId::SubscriptionIdentifier)
        );
    }

    #[test]
    fn a_caller_built_block_is_checked_against_its_packet() {
        use crate::codec::{PublishPropertiesRef, SubscribePropertiesRef};
        let mut buf = [0u8; 16];
        let mut w = PropertyWriter::new(&mut buf);
        w.push(
            PropertyId::SessionExpiryInterval,
            PropertyValue::FourByteInteger(1),
        )
        .unwrap();
        let block = w.finish();
        assert_eq!(
            PublishPropertiesRef::from_wire(block).unwrap_err(),
            Error::PropertyNotAllowed {
                property: PropertyId::SessionExpiryInterval,
                packet: PacketType::Publish
            }
        );
        // Repeated Subscription Identifiers: fine in PUBLISH, not in SUBSCRIBE.
        let mut buf = [0u8; 16];
        let mut w = PropertyWriter::new(&mut buf);
        w.push(
            PropertyId::SubscriptionIdentifier,
            PropertyValue::VariableByteInteger(1),
        )
        .unwrap();
        w.push(
            PropertyId::SubscriptionIdentifier,
            PropertyValue::VariableByteInteger(2),
        )
        .unwrap();
        let block = w.finish();
        assert_eq!(
            PublishPropertiesRef::from_wire(block)
                .unwrap()
                .subscription_identifiers()
                .len(),
            2
        );
        assert_eq!(
            SubscribePropertiesRef::from_wire(block).unwrap_err(),
            Error::DuplicateProperty(PropertyId::SubscriptionIdentifier)
        );
        // A full buffer refuses the property and keeps what it has.
        let mut tiny = [0u8; 3];
        let mut w = PropertyWriter::new(&mut tiny);
        assert_eq!(
            w.push(
                PropertyId::MessageExpiryInterval,
                PropertyValue::FourByteInteger(1)
            )
            .unwrap_err(),
            Error::BufferTooSmall {
                needed: 5,
                available: 3
            }
        );
        assert!(w.finish().is_empty());
    }

    #[test]
    fn authentication_data_without_method_is_a_protocol_error() {
        use crate::codec::{AuthProperties, AuthPropertiesRef, ProtocolVersion};
        // Decoding: CONNECT-style block with 0x16 only.
        let block = [0x16, 0, 1, 0xAA];
        let e = AuthPropertiesRef::from_wire(&block).unwrap_err();
        assert_eq!(
            e,
            Error::InvalidPropertyValue(PropertyId::AuthenticationData)
        );
        assert_eq!(e.reason_code(), crate::codec::ReasonCode::ProtocolError);
        // Encoding refuses the same.
        let mut p = AuthProperties {
            authentication_data: Some(Bytes::from_static(b"x")),
            ..AuthProperties::default()
        };
        assert_eq!(p.as_view().sized_for(ProtocolVersion::V5), Err(e));
        p.authentication_method = Some(crate::codec::MqttString::from_static("SCRAM").unwrap());
        assert!(p.as_view().sized_for(ProtocolVersion::V5).is_ok());
    }

    #[test]
    fn out_of_range_values_are_rejected() {
        assert_eq!(
            validate_value(
                PropertyId::ReceiveMaximum,
                &PropertyValue::TwoByteInteger(0)
            ),
            Err(Error::InvalidPropertyValue(PropertyId::ReceiveMaximum))
        );
        assert_eq!(
            validate_value(
                PropertyId::MaximumPacketSize,
                &PropertyValue::FourByteInteger(0)
            ),
            Err(Error::InvalidPropertyValue(PropertyId::MaximumPacketSize))
        );
        assert_eq!(
            validate_value(PropertyId::MaximumQoS, &PropertyValue::Byte(2)),
            Err(Error::InvalidPropertyValue(PropertyId::MaximumQoS))
        );
        assert_eq!(
            validate_value(
                PropertyId::SubscriptionIdentifier,
                &PropertyValue::VariableByteInteger(0)
            ),
            Err(Error::InvalidPropertyValue(
                PropertyId::SubscriptionIdentifier
            ))
        );
        // [MQTT-3.3.2-14]
        assert_eq!(
            validate_value(
                PropertyId::ResponseTopic,
                &PropertyValue::Utf8String(MqttStr::new("a/#").unwrap())
            ),
            Err(Error::InvalidPropertyValue(PropertyId::ResponseTopic))
        );
        // A Topic Alias of 0 maps to 0x94.
        let e =
            validate_value(PropertyId::TopicAlias, &PropertyValue::TwoByteInteger(0)).unwrap_err();
        assert_eq!(e.reason_code(), crate::codec::ReasonCode::TopicAliasInvalid);
        assert!(validate_value(PropertyId::ContentType, &PropertyValue::Byte(1)).is_err());
    }
}
