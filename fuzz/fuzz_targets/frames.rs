//! Any byte stream, fed in pieces of varying size to the frame decoder, and every frame it
//! yields decoded as a request: errors end the stream, nothing panics, and the decoder never
//! holds more than the bytes it was given.
#![no_main]

use libfuzzer_sys::fuzz_target;
use zabkeeper_core::wire::{DEFAULT_MAX_FRAME, FourLetterWord, FrameDecoder, Request};

fuzz_target!(|data: &[u8]| {
    if let Some(first) = data.first_chunk::<4>() {
        let _ = FourLetterWord::parse(first);
    }
    let mut decoder = FrameDecoder::new(DEFAULT_MAX_FRAME);
    let mut rest = data;
    let mut step = 1usize;
    while !rest.is_empty() {
        let (piece, tail) = rest.split_at(step.min(rest.len()));
        rest = tail;
        step = step % 13 + 1;
        decoder.push(piece);
        loop {
            match decoder.next_frame() {
                Ok(Some(frame)) => {
                    let _ = Request::decode(frame);
                }
                Ok(None) => break,
                Err(_) => return,
            }
        }
        assert!(decoder.buffered().len() <= data.len());
    }
});
