//! Any bytes as a reply body, for every opcode (the first byte picks it): a response or an
//! error, never a panic; a decoded body re-encodes and decodes to itself.
#![no_main]

use libfuzzer_sys::fuzz_target;
use zabkeeper_core::wire::{OpCode, Reader, Response};

fuzz_target!(|data: &[u8]| {
    let Some((&pick, body)) = data.split_first() else { return };
    let opcode = OpCode::ALL[pick as usize % OpCode::ALL.len()];
    if let Ok(response) = Response::read(opcode, 0, &mut Reader::new(body)) {
        let mut again = Vec::new();
        response.write(&mut again);
        assert_eq!(Response::read(opcode, 0, &mut Reader::new(&again)), Ok(response));
    }
});
