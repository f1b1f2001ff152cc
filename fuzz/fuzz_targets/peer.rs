//! Arbitrary messages from the other members of an ensemble into one server: whatever decodes
//! as a peer message (any kind, any epoch, any zxid, any snapshot bytes), in any order, with
//! ticks between, must not panic the server.
#![no_main]

use libfuzzer_sys::fuzz_target;
use zabkeeper_core::ids::ServerId;
use zabkeeper_core::server::{Database, PeerMessage, Server, ServerConfig, ServerInput, ServerOutput};
use zabkeeper_core::zab::{self, Durable};

fuzz_target!(|data: &[u8]| {
    let ids = vec![ServerId(1), ServerId(2), ServerId(3)];
    let mut zab = zab::Config::new(ServerId(1), ids, vec![ServerId(4)]);
    zab.tick_ms = 100;
    zab.finalize_wait_ms = 1;
    let mut server = Server::new(ServerConfig::new(zab), 1, Durable::default(), Database::default(), 1_000);
    let mut now = 1_000;
    let mut rest = data;
    // Input: (sender byte, length byte, postcard bytes) records.
    while let [from, len, tail @ ..] = rest {
        let len = (*len as usize).min(tail.len());
        let (bytes, tail) = tail.split_at(len);
        rest = tail;
        now += u64::from(*from % 50);
        let mut inputs = vec![ServerInput::Tick];
        if let Ok(msg) = postcard::from_bytes::<PeerMessage>(bytes) {
            inputs.push(ServerInput::Peer { from: ServerId(u64::from(from % 5)), msg });
        }
        while let Some(input) = inputs.pop() {
            let mut out = Vec::new();
            server.step(now, input, &mut out);
            for o in out {
                if let ServerOutput::Persist { seq, .. } = o {
                    inputs.push(ServerInput::Persisted { seq });
                }
            }
        }
    }
});
