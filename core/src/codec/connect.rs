//! STUB: to be written.

use bytes::{BufMut, Bytes};

use super::error::Error;
use super::packet::{DecodeOptions, Sizes};
use super::version::ProtocolVersion;

/// STUB
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Connect {}

/// STUB
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ConnectRef<'a> {
    _p: core::marker::PhantomData<&'a ()>,
}

impl Connect {
    /// A borrowed view, for encoding.
    pub fn as_view(&self) -> ConnectRef<'_> {
        ConnectRef {
            _p: core::marker::PhantomData,
        }
    }
}

impl<'a> ConnectRef<'a> {
    pub(crate) fn decode(_body: &'a [u8], _opts: &DecodeOptions) -> Result<Self, Error> {
        Err(Error::Truncated)
    }

    pub(crate) fn sizes(&self, _version: ProtocolVersion) -> Result<Sizes, Error> {
        Err(Error::Truncated)
    }

    pub(crate) fn put<B: BufMut>(&self, _version: ProtocolVersion, _sizes: &Sizes, _buf: &mut B) {}

    pub(crate) fn to_owned_in(&self, _src: &Bytes) -> Connect {
        Connect {}
    }
}
