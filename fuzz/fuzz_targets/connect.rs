//! Any bytes as a handshake frame, both directions.
#![no_main]

use libfuzzer_sys::fuzz_target;
use zabkeeper_core::wire::{ConnectRequest, ConnectResponse};

fuzz_target!(|data: &[u8]| {
    if let Ok(request) = ConnectRequest::decode(data) {
        let mut again = Vec::new();
        request.encode(&mut again);
        assert_eq!(ConnectRequest::decode(&again), Ok(request));
    }
    if let Ok(response) = ConnectResponse::decode(data) {
        let mut again = Vec::new();
        response.encode(&mut again);
        assert_eq!(ConnectResponse::decode(&again), Ok(response));
    }
});
