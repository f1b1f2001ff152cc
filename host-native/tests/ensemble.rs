//! Three real server processes on loopback as one ensemble: writes through any member are
//! seen through the others, the leader is killed (-9) and the rest go on, and it comes back
//! and catches up.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use zabkeeper_core::tree::Acl;
use zabkeeper_core::wire::records::{CreateRequest, PathRecord, PathWatch, ReplyHeader};
use zabkeeper_core::wire::{ConnectRequest, ConnectResponse, Jute, Reader, Request, Response, write_frame};

fn free_ports(n: usize) -> Vec<u16> {
    let listeners: Vec<TcpListener> = (0..n).map(|_| TcpListener::bind("127.0.0.1:0").unwrap()).collect();
    listeners.iter().map(|l| l.local_addr().unwrap().port()).collect()
}

fn word(addr: SocketAddr, word: &str) -> Option<String> {
    let mut s = TcpStream::connect_timeout(&addr, Duration::from_millis(500)).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(2))).ok()?;
    s.write_all(word.as_bytes()).ok()?;
    let mut out = String::new();
    s.read_to_string(&mut out).ok()?;
    Some(out)
}

fn mode(addr: SocketAddr) -> Option<String> {
    let srvr = word(addr, "srvr")?;
    srvr.lines().find_map(|l| l.strip_prefix("Mode: ")).map(str::to_string)
}

struct Member {
    child: Option<Child>,
    config: PathBuf,
    client: SocketAddr,
}

impl Member {
    fn spawn(&mut self) {
        let child = Command::new(env!("CARGO_BIN_EXE_zabkeeper"))
            .args(["start", "--config"])
            .arg(&self.config)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        self.child = Some(child);
    }

    fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

impl Drop for Member {
    fn drop(&mut self) {
        self.kill();
    }
}

struct Client {
    stream: TcpStream,
    xid: i32,
}

fn read_frame(stream: &mut TcpStream) -> std::io::Result<Vec<u8>> {
    let mut len = [0u8; 4];
    stream.read_exact(&mut len)?;
    let mut body = vec![0u8; i32::from_be_bytes(len) as usize];
    stream.read_exact(&mut body)?;
    Ok(body)
}

impl Client {
    fn connect(addr: SocketAddr) -> Option<Client> {
        let mut stream = TcpStream::connect_timeout(&addr, Duration::from_secs(1)).ok()?;
        stream.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
        let request = ConnectRequest {
            protocol_version: 0,
            last_zxid_seen: 0,
            timeout_ms: 6000,
            session_id: 0,
            passwd: Some(vec![0; 16]),
            read_only: Some(false),
        };
        let mut bytes = Vec::new();
        write_frame(&mut bytes, |b| request.encode(b));
        stream.write_all(&bytes).ok()?;
        let response = ConnectResponse::decode(&read_frame(&mut stream).ok()?).ok()?;
        (response.session_id != 0).then_some(Client { stream, xid: 1 })
    }

    fn call(&mut self, request: Request) -> Option<(ReplyHeader, Response)> {
        let opcode = request.opcode();
        let xid = self.xid;
        self.xid += 1;
        let mut bytes = Vec::new();
        write_frame(&mut bytes, |b| request.encode(xid, b));
        self.stream.write_all(&bytes).ok()?;
        loop {
            let frame = read_frame(&mut self.stream).ok()?;
            let mut r = Reader::new(&frame);
            let header = ReplyHeader::read(&mut r).ok()?;
            if header.xid == -1 {
                continue;
            }
            let body = Response::read(opcode, header.err, &mut r).ok()?;
            return Some((header, body));
        }
    }
}

fn create(path: &str) -> Request {
    Request::Create(CreateRequest { path: path.into(), data: Some(b"v".to_vec()), acl: Acl::open_unsafe(), flags: 0 })
}

fn exists_after_sync(addr: SocketAddr, path: &str) -> bool {
    let Some(mut c) = Client::connect(addr) else { return false };
    if c.call(Request::Sync(PathRecord { path: "/".into() })).is_none() {
        return false;
    }
    c.call(Request::GetData(PathWatch { path: path.into(), watch: false })).is_some_and(|(h, _)| h.err == 0)
}

fn wait_for(what: &str, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while Instant::now() < deadline {
        if done() {
            return;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    panic!("timed out waiting for {what}");
}

#[test]
fn a_three_process_ensemble_replicates_and_survives_its_leader() {
    let base = std::env::temp_dir().join(format!("zabkeeper-ensemble-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&base);
    let ports = free_ports(9);
    let mut servers = String::new();
    for i in 0..3 {
        servers.push_str(&format!(
            "server.{}=127.0.0.1:{}:{};127.0.0.1:{}\n",
            i + 1,
            ports[3 + i],
            ports[6 + i],
            ports[i]
        ));
    }
    let mut members: Vec<Member> = (0..3)
        .map(|i| {
            let dir = base.join(format!("n{}", i + 1));
            std::fs::create_dir_all(dir.join("data")).unwrap();
            std::fs::write(dir.join("data/myid"), format!("{}\n", i + 1)).unwrap();
            let config = dir.join("zoo.cfg");
            let text = format!(
                "tickTime=100\ninitLimit=20\nsyncLimit=10\ndataDir={}\n4lw.commands.whitelist=*\n{servers}",
                dir.join("data").display()
            );
            std::fs::write(&config, text).unwrap();
            Member { child: None, config, client: SocketAddr::from(([127, 0, 0, 1], ports[i])) }
        })
        .collect();
    for m in &mut members {
        m.spawn();
    }
    let modes = |members: &[Member]| -> Vec<String> {
        members
            .iter()
            .map(|m| if m.child.is_some() { mode(m.client).unwrap_or_default() } else { "down".into() })
            .collect()
    };
    wait_for("a leader and two followers", || {
        let m = modes(&members);
        m.iter().filter(|s| *s == "leader").count() == 1 && m.iter().filter(|s| *s == "follower").count() == 2
    });

    // Writes through each member; each is visible through every other (after sync).
    for (i, m) in members.iter().enumerate() {
        let mut c = Client::connect(m.client).expect("connect");
        let (h, _) = c.call(create(&format!("/from{i}"))).expect("reply");
        assert_eq!(h.err, 0);
    }
    for m in &members {
        for i in 0..3 {
            assert!(exists_after_sync(m.client, &format!("/from{i}")), "/from{i} missing on {}", m.client);
        }
    }

    // kill -9 the leader: the other two elect one and keep serving writes.
    let leader = modes(&members).iter().position(|s| s == "leader").unwrap();
    members[leader].kill();
    wait_for("a new leader among the two left", || modes(&members).iter().filter(|s| *s == "leader").count() == 1);
    let survivor = (leader + 1) % 3;
    wait_for("a write after the failover", || {
        Client::connect(members[survivor].client)
            .and_then(|mut c| c.call(create("/after-failover")))
            .is_some_and(|(h, _)| h.err == 0 || h.err == -110)
    });

    // The old leader comes back and catches up.
    members[leader].spawn();
    let back = members[leader].client;
    wait_for("the old leader to follow", || mode(back).as_deref() == Some("follower"));
    wait_for("the old leader to catch up", || exists_after_sync(back, "/after-failover"));
    for i in 0..3 {
        assert!(exists_after_sync(back, &format!("/from{i}")));
    }
    drop(members);
    let _ = std::fs::remove_dir_all(&base);
}
