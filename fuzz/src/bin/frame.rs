//! Fuzzes the logport frame decoder: any byte stream gives messages, malformed
//! items or an error, never a panic, and never a frame over the maximum.
use bytes::BytesMut;
use flog_wire::{Decoded, FlogCodec};
use tokio_util::codec::{Decoder, Encoder};

fn main() {
    afl::fuzz!(|data: &[u8]| {
        let mut codec = FlogCodec::with_max_frame(64 * 1024);
        let mut buf = BytesMut::from(data);
        loop {
            match codec.decode(&mut buf) {
                Ok(Some(Decoded::Message(m))) => {
                    // What decodes re-encodes, and decodes to the same message.
                    let mut out = BytesMut::new();
                    if codec.encode(&m, &mut out).is_ok() {
                        match codec.decode(&mut out) {
                            Ok(Some(Decoded::Message(again))) => assert_eq!(again, m),
                            other => panic!("re-encoded message did not decode: {other:?}"),
                        }
                    }
                }
                Ok(Some(Decoded::Malformed { .. })) => {}
                Ok(None) | Err(_) => break,
            }
        }
    });
}
