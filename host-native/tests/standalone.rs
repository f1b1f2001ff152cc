//! The real binary as a standalone server on loopback: a client speaking the wire protocol
//! over TCP, four-letter words, restarts (clean and kill -9) that keep every acknowledged
//! write, and garbage that only costs its sender the connection.

mod common;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::{Client, create, get, word};
use zabkeeper_core::wire::Request;
use zabkeeper_core::wire::Response;
use zabkeeper_core::wire::records::{PathVersion, PathWatch};

struct Server {
    child: Child,
    addr: SocketAddr,
    config: PathBuf,
}

impl Server {
    fn start(dir: &Path) -> Server {
        let port = common::free_ports(1)[0];
        let config = dir.join("zoo.cfg");
        let text = format!(
            "tickTime=200\ndataDir={}\nclientPort={port}\nclientPortAddress=127.0.0.1\n\
             4lw.commands.whitelist=ruok,srvr,stat,mntr,conf,envi,isro,cons,wchs\n",
            dir.join("data").display()
        );
        std::fs::write(&config, text).unwrap();
        Server::spawn(config, SocketAddr::from(([127, 0, 0, 1], port)))
    }

    fn spawn(config: PathBuf, addr: SocketAddr) -> Server {
        let child = Command::new(env!("CARGO_BIN_EXE_zabkeeper"))
            .args(["start", "--config"])
            .arg(&config)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let server = Server { child, addr, config };
        let deadline = Instant::now() + Duration::from_secs(20);
        while Instant::now() < deadline {
            if word(addr, "ruok").as_deref() == Some("imok") && server.serving() {
                return server;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!("the server did not come up on {addr}");
    }

    fn serving(&self) -> bool {
        word(self.addr, "srvr").is_some_and(|s| s.contains("Mode: standalone"))
    }

    fn restart(mut self, hard: bool) -> Server {
        if hard {
            self.child.kill().unwrap();
        } else {
            Command::new("kill").arg("-TERM").arg(self.child.id().to_string()).status().unwrap();
        }
        let status = self.child.wait().unwrap();
        if !hard {
            assert!(status.success(), "a clean shutdown exits 0: {status}");
        }
        let (config, addr) = (self.config.clone(), self.addr);
        Server::spawn(config, addr)
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn data_of(body: &Response) -> Vec<u8> {
    match body {
        Response::GetData(r) => r.data.clone().unwrap_or_default(),
        other => panic!("not getData: {other:?}"),
    }
}

#[test]
fn a_standalone_server_serves_clients_and_keeps_acknowledged_writes_across_restarts() {
    let dir = common::scratch("standalone");
    let server = Server::start(&dir);
    let srvr = word(server.addr, "srvr").unwrap();
    assert!(srvr.starts_with("Zookeeper version: 3.8.0-zabkeeper-"), "{srvr}");
    assert_eq!(word(server.addr, "isro").as_deref(), Some("rw"));
    assert!(word(server.addr, "dump").unwrap().contains("not in the whitelist"));

    let (mut c, hello) = Client::connect(server.addr, 0, vec![0; 16], 4000).unwrap();
    assert_eq!(hello.session_id >> 56, 1);
    assert_eq!(hello.timeout_ms, 4000);
    let (h, body) = c.must(create("/app", b"v1", 0));
    assert_eq!(
        (h.err, body),
        (0, Response::Create(zabkeeper_core::wire::records::CreateResponse { path: "/app".into() }))
    );
    for _ in 0..50 {
        assert_eq!(c.must(create("/app/n", b"x", 2)).0.err, 0);
    }
    assert_eq!(c.must(create("/lease", b"", 1)).0.err, 0);
    assert_eq!(c.must(create("/app", b"", 0)).0.err, -110, "NodeExists");
    assert_eq!(c.must(Request::Delete(PathVersion { path: "/nope".into(), version: -1 })).0.err, -101);

    // A clean restart: everything acknowledged is back, and the session can be resumed.
    let (session, passwd) = (c.session, c.passwd.clone());
    drop(c);
    let server = server.restart(false);
    let (mut c, back) = Client::connect(server.addr, session, passwd.clone(), 4000).unwrap();
    assert_eq!(back.session_id, session, "the session survived the restart");
    assert_eq!(data_of(&c.must(get("/app")).1), b"v1");
    assert_eq!(c.must(get("/lease")).0.err, 0, "its ephemeral too");
    let children = c.must(Request::GetChildren(PathWatch { path: "/app".into(), watch: false })).1;
    let Response::GetChildren(children) = children else { panic!("{children:?}") };
    assert_eq!(children.children.len(), 50, "{children:?}");
    assert!(children.children.contains(&"n0000000049".to_string()), "{children:?}");

    // kill -9 right after acknowledged writes: they are on disk.
    for i in 0..20 {
        assert_eq!(c.must(create(&format!("/hard{i}"), b"y", 0)).0.err, 0);
    }
    drop(c);
    let server = server.restart(true);
    let (mut c, _) = Client::connect(server.addr, 0, vec![0; 16], 4000).unwrap();
    for i in 0..20 {
        assert_eq!(data_of(&c.must(get(&format!("/hard{i}"))).1), b"y", "/hard{i} lost by kill -9");
    }
    let mntr = word(server.addr, "mntr").unwrap();
    assert!(mntr.contains("zk_server_state\tstandalone"), "{mntr}");
    drop(server);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn garbage_closes_only_its_own_connection() {
    let dir = common::scratch("garbage");
    let server = Server::start(&dir);
    let (mut good, _) = Client::connect(server.addr, 0, vec![0; 16], 4000).unwrap();
    for junk in [&b"\xff\xff\xff\xff"[..], b"\x00\x00\x00\x05hello", b"\x7f\x00\x00\x00", b"GET / HTTP/1.1\r\n\r\n"] {
        let mut bad = TcpStream::connect(server.addr).unwrap();
        bad.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        bad.write_all(junk).unwrap();
        let mut rest = Vec::new();
        // The server closes it (EOF) or answers and closes: either way the read ends.
        let _ = bad.read_to_end(&mut rest);
    }
    assert_eq!(good.must(create("/still-here", b"", 0)).0.err, 0);
    assert!(server.serving());
    drop(server);
    let _ = std::fs::remove_dir_all(&dir);
}
