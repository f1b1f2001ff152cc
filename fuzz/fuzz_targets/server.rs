//! Arbitrary bytes from clients into a whole standalone server: whatever they send (as frames on
//! a few connections, interleaved with ticks and disconnects), the server must not panic, and it
//! must keep serving a well-behaved client afterwards.
#![no_main]

use std::net::{IpAddr, Ipv4Addr};

use libfuzzer_sys::fuzz_target;
use zabkeeper_core::ids::ServerId;
use zabkeeper_core::server::{Database, Server, ServerConfig, ServerInput, ServerOutput};
use zabkeeper_core::tree::Acl;
use zabkeeper_core::wire::records::CreateRequest;
use zabkeeper_core::wire::{ConnectRequest, Request};
use zabkeeper_core::zab::{self, Durable};

fn step(server: &mut Server, now: u64, input: ServerInput) -> Vec<ServerOutput> {
    let mut out = Vec::new();
    let mut queue = vec![input];
    while let Some(input) = queue.pop() {
        let mut o = Vec::new();
        server.step(now, input, &mut o);
        for output in o {
            if let ServerOutput::Persist { seq, .. } = output {
                queue.push(ServerInput::Persisted { seq });
            } else {
                out.push(output);
            }
        }
    }
    out
}

fn handshake() -> Vec<u8> {
    let mut hello = Vec::new();
    ConnectRequest { timeout_ms: 30_000, passwd: Some(vec![0; 16]), read_only: Some(false), ..Default::default() }
        .encode(&mut hello);
    hello
}

fuzz_target!(|data: &[u8]| {
    let id = ServerId(1);
    let mut zab = zab::Config::new(id, vec![id], vec![]);
    zab.tick_ms = 100;
    zab.finalize_wait_ms = 1;
    let mut config = ServerConfig::new(zab);
    config.prep.extended_types = true;
    let mut server = Server::new(config, 1, Durable::default(), Database::default(), 1_000);
    let mut now = 1_000;
    for _ in 0..20 {
        now += 10;
        step(&mut server, now, ServerInput::Tick);
    }
    let addr = IpAddr::V4(Ipv4Addr::LOCALHOST);
    // Input: a sequence of (control byte, length byte, payload) records.
    let mut rest = data;
    while let [control, len, tail @ ..] = rest {
        let len = (*len as usize).min(tail.len());
        let (payload, tail) = tail.split_at(len);
        rest = tail;
        let conn = u64::from(control % 4);
        match control >> 4 {
            0 => {
                // Most connections get a proper handshake, so requests reach the pipeline.
                step(&mut server, now, ServerInput::Connected { conn, addr, x509: None });
                if control & 8 == 0 {
                    step(&mut server, now, ServerInput::Frame { conn, payload: handshake() });
                }
            }
            1 => {
                step(&mut server, now, ServerInput::Disconnected { conn });
            }
            2 => {
                now += u64::from(*control);
                step(&mut server, now, ServerInput::Tick);
            }
            _ => {
                step(&mut server, now, ServerInput::Frame { conn, payload: payload.to_vec() });
            }
        }
    }
    // A well-behaved client still gets served.
    let good = 99;
    step(&mut server, now, ServerInput::Connected { conn: good, addr, x509: None });
    let out = step(&mut server, now, ServerInput::Frame { conn: good, payload: handshake() });
    assert!(out.iter().any(|o| matches!(o, ServerOutput::Send { conn: 99, .. })), "no handshake answer");
    let mut create = Vec::new();
    Request::Create(CreateRequest { path: "/ok".into(), data: None, acl: Acl::open_unsafe(), flags: 0 })
        .encode(1, &mut create);
    let out = step(&mut server, now, ServerInput::Frame { conn: good, payload: create });
    assert!(out.iter().any(|o| matches!(o, ServerOutput::Send { conn: 99, .. })), "no reply to a create");
});
