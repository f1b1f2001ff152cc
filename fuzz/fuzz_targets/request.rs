//! Any bytes as a request frame's payload: a request or an error, never a panic; a decoded
//! request re-encodes and decodes to itself.
#![no_main]

use libfuzzer_sys::fuzz_target;
use zabkeeper_core::wire::Request;

fuzz_target!(|data: &[u8]| {
    if let Ok((xid, request)) = Request::decode(data) {
        let mut again = Vec::new();
        request.encode(xid, &mut again);
        assert_eq!(Request::decode(&again), Ok((xid, request)));
    }
});
