//! The commit path with no IO: whole servers (prep, Zab, apply, watches, replies) wired
//! together in one thread through the core's real API, a leader and two followers (and a
//! five-voter variant). Clients on the leader send setData (100 B and 1 KiB) on many sessions,
//! with 1, 16 or 256 requests in flight; peer messages go through their postcard encoding, and
//! every durable write is reported durable at once (an infinitely fast disk). Like the native
//! host, each server steps every input waiting for it before its outputs are carried out
//! (coalesced: the proposals of a burst travel as one message). Throughput is in txns
//! (elements), so criterion prints txns/s.

use std::collections::VecDeque;
use std::net::{IpAddr, Ipv4Addr};
use std::time::{Duration, Instant};

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use zabkeeper_core::encode::append_postcard;
use zabkeeper_core::ids::ServerId;
use zabkeeper_core::server::{Database, PeerMessage, Server, ServerConfig, ServerInput, ServerOutput, coalesce};
use zabkeeper_core::tree::Acl;
use zabkeeper_core::wire::records::{CreateRequest, SetDataRequest};
use zabkeeper_core::wire::{ConnectRequest, Request};
use zabkeeper_core::zab::{self, Durable};

// The native server's allocator (see host-native's main.rs).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

const SESSIONS: u64 = 64;

struct Cluster {
    servers: Vec<Server>,
    /// Each server's inputs not stepped yet.
    inbox: Vec<VecDeque<ServerInput>>,
    now: u64,
    /// Reply frames sent to clients.
    replies: u64,
    out: Vec<ServerOutput>,
    wire: Vec<u8>,
}

impl Cluster {
    fn new(voters: u64) -> Cluster {
        let ids: Vec<ServerId> = (1..=voters).map(ServerId).collect();
        let servers: Vec<Server> = ids
            .iter()
            .map(|&id| {
                let mut zab = zab::Config::new(id, ids.clone(), vec![]);
                zab.tick_ms = 100;
                zab.finalize_wait_ms = 10;
                Server::new(ServerConfig::new(zab), id.0, Durable::default(), Database::default(), 1_000)
            })
            .collect();
        let inbox = servers.iter().map(|_| VecDeque::new()).collect();
        let mut cluster = Cluster { servers, inbox, now: 1_000, replies: 0, out: Vec::new(), wire: Vec::new() };
        for _ in 0..200 {
            cluster.tick();
        }
        assert!(cluster.servers.iter().all(|s| s.peer().is_serving()), "a cluster serving");
        cluster
    }

    fn leader(&self) -> usize {
        self.servers.iter().position(|s| s.peer().is_established_leader()).expect("a leader")
    }

    fn tick(&mut self) {
        self.now += 10;
        for inbox in &mut self.inbox {
            inbox.push_back(ServerInput::Tick);
        }
        self.pump();
    }

    /// Runs the servers until no input is left, the way the native host does: a server steps
    /// every input waiting for it, then its outputs (coalesced) are carried out, and the
    /// highest durable write of the burst is reported back as one `Persisted`.
    fn pump(&mut self) {
        let mut inputs = VecDeque::new();
        loop {
            let mut idle = true;
            for i in 0..self.servers.len() {
                if self.inbox[i].is_empty() {
                    continue;
                }
                idle = false;
                std::mem::swap(&mut inputs, &mut self.inbox[i]);
                let from = self.servers[i].peer().id();
                let mut out = std::mem::take(&mut self.out);
                for input in inputs.drain(..) {
                    self.servers[i].step(self.now, input, &mut out);
                }
                coalesce(&mut out);
                let mut persisted = None;
                for o in out.drain(..) {
                    match o {
                        ServerOutput::Peer { to, msg } => {
                            // The wire format the native host uses between servers.
                            self.wire.clear();
                            append_postcard(&msg, &mut self.wire).expect("encodes");
                            let msg: PeerMessage = postcard::from_bytes(&self.wire).expect("decodes");
                            self.inbox[(to.0 - 1) as usize].push_back(ServerInput::Peer { from, msg });
                        }
                        ServerOutput::Persist { seq, .. } => persisted = Some(seq),
                        ServerOutput::Send { bytes, .. } => self.replies += frames(&bytes),
                        ServerOutput::Close { .. } | ServerOutput::Event(_) | ServerOutput::Login(_) => {}
                    }
                }
                self.out = out;
                if let Some(seq) = persisted {
                    self.inbox[i].push_back(ServerInput::Persisted { seq });
                }
            }
            if idle {
                return;
            }
        }
    }

    /// Connects `SESSIONS` clients to the leader and creates one node per session.
    fn open_sessions(&mut self, value: usize) {
        let leader = self.leader();
        let addr = IpAddr::V4(Ipv4Addr::LOCALHOST);
        for conn in 1..=SESSIONS {
            self.inbox[leader].push_back(ServerInput::Connected { conn, addr, x509: None });
            let mut payload = Vec::new();
            let hello = ConnectRequest {
                timeout_ms: 30_000,
                passwd: Some(vec![0; 16]),
                read_only: Some(false),
                ..Default::default()
            };
            hello.encode(&mut payload);
            self.inbox[leader].push_back(ServerInput::Frame { conn, payload });
        }
        self.pump();
        for conn in 1..=SESSIONS {
            let create = Request::Create(CreateRequest {
                path: format!("/bench{conn}"),
                data: Some(vec![0; value]),
                acl: Acl::open_unsafe(),
                flags: 0,
            });
            self.send(leader, conn, 1, &create);
        }
        self.pump();
    }

    fn send(&mut self, server: usize, conn: u64, xid: i32, request: &Request) {
        let mut payload = Vec::new();
        request.encode(xid, &mut payload);
        self.inbox[server].push_back(ServerInput::Frame { conn, payload });
    }
}

fn commit_path(c: &mut Criterion) {
    let mut group = c.benchmark_group("commit");
    group.sample_size(20).measurement_time(Duration::from_secs(3));
    for (voters, value) in [(3u64, 100usize), (3, 1024), (5, 100)] {
        let mut cluster = Cluster::new(voters);
        cluster.open_sessions(value);
        let leader = cluster.leader();
        let mut xid: i32 = 10;
        // What the clients send, encoded once: a request's frame differs only in its xid (the
        // first four bytes), which rises per session as a real client's does.
        let templates: Vec<Vec<u8>> = (1..=SESSIONS)
            .map(|conn| {
                let request = Request::SetData(SetDataRequest {
                    path: format!("/bench{conn}"),
                    data: Some(vec![7; value]),
                    version: -1,
                });
                let mut payload = Vec::new();
                request.encode(0, &mut payload);
                payload
            })
            .collect();
        for in_flight in [1u64, 16, 256] {
            group.throughput(Throughput::Elements(in_flight));
            let name = format!("set_data_{value}b_{voters}voters_{in_flight}_in_flight");
            group.bench_function(name, |b| {
                b.iter_custom(|iters| {
                    let start = Instant::now();
                    for _ in 0..iters {
                        let before = cluster.replies;
                        for k in 0..in_flight {
                            let conn = k % SESSIONS + 1;
                            let mut payload = templates[k as usize % templates.len()].clone();
                            payload[..4].copy_from_slice(&xid.to_be_bytes());
                            cluster.inbox[leader].push_back(ServerInput::Frame { conn, payload });
                            xid += 1;
                        }
                        cluster.pump();
                        assert_eq!(cluster.replies - before, in_flight, "every request answered");
                    }
                    start.elapsed()
                })
            });
        }
    }
    group.finish();
}

/// How many length-prefixed frames `bytes` holds.
fn frames(mut bytes: &[u8]) -> u64 {
    let mut n = 0;
    while bytes.len() >= 4 {
        let len = u32::from_be_bytes([bytes[0], bytes[1], bytes[2], bytes[3]]) as usize;
        bytes = &bytes[(4 + len).min(bytes.len())..];
        n += 1;
    }
    n
}

criterion_group!(benches, commit_path);
criterion_main!(benches);
