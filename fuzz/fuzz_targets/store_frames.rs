//! The durable store's frames (`mqtt_core::broker::persist::Frames`) on
//! arbitrary bytes. The first byte picks the input's form: even, the
//! bytes are a store as they are (almost every frame fails its checksum);
//! odd, they are bodies (a length byte, then up to that many bytes) each
//! put in a frame with its correct length and CRC-32C, so that the record
//! decoder sees them.
//!
//! Invariants checked, beyond "no panic":
//! - items come in order, each at the end of the one before (from 0), and
//!   at most one error, which is last; `position()` is the end of the last
//!   good frame, and the end of the bytes when there is no error;
//! - a record that decodes re-encodes to exactly the bytes of its frame
//!   (one form per record) and decodes back to itself;
//! - an error is what the bytes show: `Truncated` only when the frame's
//!   header or declared body runs past the end, `TooLong` only over
//!   `MAX_FRAME_LEN`, and with good checksums only `Record` errors.
#![no_main]

use libfuzzer_sys::fuzz_target;
use mqtt_core::broker::persist::record::{FRAME_HEADER_LEN, MAX_FRAME_LEN};
use mqtt_core::broker::persist::{crc32c, FrameError, Frames, Record};

fuzz_target!(|data: &[u8]| {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    if mode & 1 == 0 {
        check(rest, false);
    } else {
        let mut store = Vec::new();
        let mut input = rest;
        while let Some((&n, tail)) = input.split_first() {
            let (body, tail) = tail.split_at(usize::from(n).min(tail.len()));
            store.extend_from_slice(&(body.len() as u32).to_le_bytes());
            store.extend_from_slice(&crc32c(body).to_le_bytes());
            store.extend_from_slice(body);
            input = tail;
        }
        check(&store, true);
    }
});

fn check(store: &[u8], good_checksums: bool) {
    let mut frames = Frames::new(store, 0);
    let mut next_at = 0;
    let mut ended = false;
    while let Some(item) = frames.next() {
        assert!(!ended, "an item after the error");
        match item {
            Ok((at, record)) => {
                assert_eq!(at, next_at, "frame offset");
                let mut out = Vec::new();
                record.encode_frame(&mut out);
                assert_eq!(out.len(), record.frame_len());
                let end = at + out.len();
                assert!(end <= store.len());
                assert_eq!(&store[at..end], &out[..], "{record:?} re-encodes differently");
                assert_eq!(Record::decode_frame(&out), Ok((record, out.len())));
                assert_eq!(frames.position(), end);
                next_at = end;
            }
            Err((at, e)) => {
                assert_eq!(at, next_at, "error offset");
                assert_eq!(frames.position(), at, "position after an error");
                let rest = &store[at..];
                let declared = rest
                    .get(..4)
                    .map(|b| u32::from_le_bytes([b[0], b[1], b[2], b[3]]));
                match &e {
                    FrameError::Truncated => assert!(
                        rest.len() < FRAME_HEADER_LEN
                            || declared.is_some_and(|n| {
                                rest.len() < FRAME_HEADER_LEN + n as usize
                            }),
                        "Truncated with {} bytes left, length {declared:?}",
                        rest.len()
                    ),
                    FrameError::TooLong(n) => {
                        assert!(*n > MAX_FRAME_LEN);
                        assert_eq!(declared, Some(*n));
                    }
                    FrameError::Checksum => assert!(!good_checksums, "checksum was good"),
                    FrameError::Record(_) => {}
                    _ => panic!("unknown error {e:?}"),
                }
                if good_checksums {
                    assert!(matches!(e, FrameError::Record(_)), "{e:?} under good checksums");
                }
                ended = true;
            }
        }
    }
    if !ended {
        assert_eq!(frames.position(), store.len(), "ended before the end");
    }
}
