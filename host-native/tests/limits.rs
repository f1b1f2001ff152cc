//! The client port's limits against a real server process: connections are counted when
//! accepted (maxClientCnxns), a flood beyond the limit is closed at once while an established
//! session keeps being served, and connections that never send a ConnectRequest (slowloris)
//! are closed after the handshake deadline, which frees their slots. A client that stops
//! reading is disconnected once its queued replies pass the per-connection bound.

mod common;

use std::io::Read;
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use common::{Client, Member, create, get};

/// maxClientCnxns in the test's zoo.cfg.
const LIMIT: usize = 6;

/// Whether the server closed `stream` (EOF or reset) within `within`.
fn closed_within(stream: &mut TcpStream, within: Duration) -> bool {
    stream.set_read_timeout(Some(within)).unwrap();
    let mut byte = [0u8; 1];
    match stream.read(&mut byte) {
        Ok(0) => true,
        Ok(_) => false,
        Err(e) => !matches!(e.kind(), std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut),
    }
}

#[test]
fn a_flood_and_idle_connections_are_bounded_and_a_good_session_keeps_working() {
    let dir = common::scratch("limits");
    let port = common::free_ports(1)[0];
    let config = dir.join("zoo.cfg");
    let text = format!(
        "tickTime=200\ndataDir={}\nclientPort={port}\nclientPortAddress=127.0.0.1\nadmin.enableServer=false\nmaxClientCnxns={LIMIT}\n\
         4lw.commands.whitelist=srvr\n",
        dir.join("data").display()
    );
    std::fs::write(&config, text).unwrap();
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    let mut server = Member { child: None, config, client: addr, admin: None };
    server.spawn();
    server.wait_for_mode(&["standalone"]);

    let mut good = Client::open(addr).expect("a session");
    assert_eq!(good.must(create("/x", b"kept", 0)).0.err, 0);

    // The rest of the limit, taken by connections that send nothing.
    let opened = Instant::now();
    let mut idle: Vec<TcpStream> = (1..LIMIT).map(|_| TcpStream::connect(addr).unwrap()).collect();
    // Ten times the limit more: each is closed at once, before it sends anything.
    for i in 0..10 * LIMIT {
        let mut extra = TcpStream::connect(addr).unwrap();
        assert!(closed_within(&mut extra, Duration::from_secs(2)), "connection {i} over the limit is closed");
    }
    assert_eq!(good.must(get("/x")).0.err, 0, "the established session is still served");

    // The idle ones go at the handshake deadline (10 s), not before half of it; the good
    // session is used all along (it would expire otherwise).
    let mut open: Vec<&mut TcpStream> = idle.iter_mut().collect();
    while !open.is_empty() {
        assert!(opened.elapsed() < Duration::from_secs(15), "{} idle connections still open after 15 s", open.len());
        open.retain_mut(|stream| !closed_within(stream, Duration::from_millis(100)));
        assert_eq!(good.must(get("/x")).0.err, 0);
        std::thread::sleep(Duration::from_millis(300));
    }
    let waited = opened.elapsed();
    assert!(waited >= Duration::from_secs(5), "closed by the deadline, not at once: {waited:?}");
    // Their slots are free again.
    let mut again = Client::open(addr).expect("a new session once the idle connections are gone");
    assert_eq!(again.must(get("/x")).0.err, 0);
    assert_eq!(good.must(get("/x")).0.err, 0);
}

#[test]
fn a_client_that_does_not_read_is_disconnected_and_the_rest_keep_being_served() {
    const VALUE: usize = 1_000_000;
    const READS: usize = 120;
    let dir = common::scratch("limits-reader");
    let port = common::free_ports(1)[0];
    let config = dir.join("zoo.cfg");
    let text = format!(
        "tickTime=200\ndataDir={}\nclientPort={port}\nclientPortAddress=127.0.0.1\nadmin.enableServer=false\njute.maxbuffer=4194304\n\
         4lw.commands.whitelist=srvr\n",
        dir.join("data").display()
    );
    std::fs::write(&config, text).unwrap();
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    let mut server = Member { child: None, config, client: addr, admin: None };
    server.spawn();
    server.wait_for_mode(&["standalone"]);

    let mut good = Client::open(addr).expect("a session");
    assert_eq!(good.must(create("/big", &vec![7; VALUE], 0)).0.err, 0);
    // 120 reads of 1 MB asked for and none of the replies read: 120 MB would queue up.
    let mut reader = Client::open(addr).expect("a second session");
    for _ in 0..READS {
        reader.send_only(&get("/big")).unwrap();
    }
    std::thread::sleep(Duration::from_secs(1));
    assert_eq!(good.must(get("/big")).0.err, 0, "the good session is served meanwhile");
    // Now read what the server left for the slow client: it ends (EOF or reset) well short of
    // every reply.
    reader.stream.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let mut got = 0usize;
    let mut buf = vec![0u8; 1 << 20];
    let ended = loop {
        match reader.stream.read(&mut buf) {
            Ok(0) => break true,
            Ok(n) => got += n,
            Err(e) if matches!(e.kind(), std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut) => break false,
            Err(_) => break true,
        }
    };
    assert!(ended, "the connection was closed (read {got} bytes)");
    assert!(got < READS * VALUE / 2, "cut off before most replies: {got} bytes");
    assert_eq!(good.must(get("/big")).0.err, 0);
}

/// A standalone server with `extra` zoo.cfg lines, serving.
fn server_with(name: &str, extra: &str) -> Member {
    common::standalone_with(&common::scratch(name), &format!("4lw.commands.whitelist=srvr\n{extra}"))
}

/// The server-wide bound on requests read and not answered (globalOutstandingLimit), here 4:
/// clients that pipeline far past it all get every reply; a client that never reads its
/// replies holds none of the bound (a request counts until the server answers it, not until the
/// client takes the answer); and connections that vanish with requests in flight give theirs
/// back, so the bound never shrinks.
#[test]
fn the_global_outstanding_bound_throttles_but_never_starves() {
    const PIPELINED: usize = 200;
    let server = server_with("limits-global", "globalOutstandingLimit=4\n");
    let addr = server.client;
    let mut good = Client::open(addr).expect("a session");
    assert_eq!(good.must(create("/x", b"v", 0)).0.err, 0);

    // A client that asks for much and reads nothing.
    let mut sleeper = Client::open(addr).expect("a session");
    for _ in 0..PIPELINED {
        sleeper.send_only(&get("/x")).unwrap();
    }
    // Connections that send requests and go away before the answers, many times the bound.
    for _ in 0..50 {
        let mut gone = Client::open(addr).expect("a session");
        for _ in 0..8 {
            gone.send_only(&get("/x")).unwrap();
        }
        drop(gone);
    }
    // Eight clients pipelining 200 requests each: every reply comes, in order.
    let pipelines: Vec<_> = (0..8)
        .map(|_| {
            std::thread::spawn(move || {
                let mut c = Client::open(addr).expect("a session");
                for _ in 0..PIPELINED {
                    c.send_only(&get("/x")).unwrap();
                }
                let first = c.next_reply().expect("a reply").xid;
                let mut answered = 1;
                while answered < PIPELINED {
                    match c.next_reply() {
                        Some(h) if h.err == 0 && h.xid == first + answered as i32 => answered += 1,
                        other => panic!("reply {answered}: {other:?}"),
                    }
                }
                answered
            })
        })
        .collect();
    for p in pipelines {
        assert_eq!(p.join().unwrap(), PIPELINED);
    }
    assert_eq!(good.must(get("/x")).0.err, 0, "the good session is served throughout");
    drop(sleeper);
}
