//! `zabkeeper bench` against the real binary standalone on loopback: a short mixed run gets
//! work done without errors, cleanup leaves nothing behind, and a server that dies mid-run
//! costs the clients their connections, which the report and the exit code say.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use zabkeeper_core::wire::records::{PathWatch, ReplyHeader};
use zabkeeper_core::wire::{ConnectRequest, Jute, Reader, Request, write_frame};

struct Server {
    child: Child,
    addr: SocketAddr,
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("zabkeeper-bench-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn word(addr: SocketAddr, word: &str) -> Option<String> {
    let mut s = TcpStream::connect_timeout(&addr, Duration::from_secs(1)).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(2))).ok()?;
    s.write_all(word.as_bytes()).ok()?;
    let mut out = String::new();
    s.read_to_string(&mut out).ok()?;
    Some(out)
}

impl Server {
    fn start(dir: &Path) -> Server {
        let port = free_port();
        let config = dir.join("zoo.cfg");
        let text = format!(
            "tickTime=200\ndataDir={}\nclientPort={port}\nclientPortAddress=127.0.0.1\n4lw.commands.whitelist=ruok,srvr\n",
            dir.join("data").display()
        );
        std::fs::write(&config, text).unwrap();
        let child = Command::new(env!("CARGO_BIN_EXE_zabkeeper"))
            .args(["start", "--config"])
            .arg(&config)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let server = Server { child, addr: SocketAddr::from(([127, 0, 0, 1], port)) };
        let deadline = Instant::now() + Duration::from_secs(20);
        while Instant::now() < deadline {
            if word(server.addr, "srvr").is_some_and(|s| s.contains("Mode: standalone")) {
                return server;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!("the server did not come up on {}", server.addr);
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn bench(addr: SocketAddr, extra: &[&str]) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_zabkeeper"));
    command.args(["bench", "--servers", &addr.to_string()]).args(extra);
    command
}

/// The one JSON line on stdout.
fn report(output: &Output) -> serde_json::Value {
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(lines.len(), 1, "one line on stdout: {stdout}\nstderr: {stderr}");
    serde_json::from_str(lines[0]).unwrap_or_else(|e| panic!("{e}: {}", lines[0]))
}

fn read_frame(stream: &mut TcpStream) -> Vec<u8> {
    let mut len = [0u8; 4];
    stream.read_exact(&mut len).unwrap();
    let mut body = vec![0u8; i32::from_be_bytes(len) as usize];
    stream.read_exact(&mut body).unwrap();
    body
}

/// The error code of getData on `path`, from a fresh session.
fn get_err(addr: SocketAddr, path: &str) -> i32 {
    let mut stream = TcpStream::connect(addr).unwrap();
    stream.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let hello =
        ConnectRequest { timeout_ms: 4000, passwd: Some(vec![0; 16]), read_only: Some(false), ..Default::default() };
    let mut bytes = Vec::new();
    write_frame(&mut bytes, |b| hello.encode(b));
    write_frame(&mut bytes, |b| Request::GetData(PathWatch { path: path.into(), watch: false }).encode(1, b));
    stream.write_all(&bytes).unwrap();
    read_frame(&mut stream);
    let header = ReplyHeader::read(&mut Reader::new(&read_frame(&mut stream))).unwrap();
    assert_eq!(header.xid, 1);
    header.err
}

#[test]
fn a_mixed_run_gets_work_done_without_errors() {
    let dir = scratch("mixed");
    let server = Server::start(&dir);
    let args = ["--clients", "4", "--op", "mixed", "--duration", "1", "--warmup", "0.2", "--keys", "100"];
    let output = bench(server.addr, &args).output().unwrap();
    let json = report(&output);
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    assert_eq!(json["op"], "mixed");
    assert_eq!(json["clients"], 4);
    assert_eq!(json["read_ratio"], 0.9);
    assert!(json["ops"].as_u64().unwrap() > 0, "{json}");
    assert_eq!(json["errors"], serde_json::json!({}), "{json}");
    assert_eq!(json["lost_clients"], 0);
    let duration = json["duration_s"].as_f64().unwrap();
    assert!((0.99..1.01).contains(&duration), "{json}");
    let latency = &json["latency_us"];
    let p50 = latency["p50"].as_f64().unwrap();
    assert!(p50 > 0.0 && p50 <= latency["p99"].as_f64().unwrap(), "{json}");
    assert!(latency["p999"].as_f64().unwrap() <= latency["max"].as_f64().unwrap(), "{json}");
    assert!(String::from_utf8_lossy(&output.stderr).contains("ops/s"), "progress on stderr");
    assert_eq!(get_err(server.addr, "/zkbench/k00"), 0, "the keys stay without --cleanup");
    drop(server);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn cleanup_deletes_what_the_run_made() {
    let dir = scratch("cleanup");
    let server = Server::start(&dir);
    for op in ["create", "set"] {
        let args =
            ["--clients", "3", "--op", op, "--duration", "0.3", "--warmup", "0", "--prefix", "/b/c", "--cleanup"];
        let output = bench(server.addr, &args).output().unwrap();
        let json = report(&output);
        assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
        assert!(json["ops"].as_u64().unwrap() > 0, "{json}");
        assert_eq!(json["errors"], serde_json::json!({}), "{json}");
        assert_eq!(get_err(server.addr, "/b"), -101, "{op}: the prefix and all under it are gone");
    }
    drop(server);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_server_that_dies_costs_every_client_and_the_exit_code_says_so() {
    let dir = scratch("dies");
    let mut server = Server::start(&dir);
    let args = ["--clients", "2", "--op", "set", "--duration", "3", "--warmup", "0", "--keys", "10"];
    let run = bench(server.addr, &args).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().unwrap();
    std::thread::sleep(Duration::from_millis(1000));
    server.child.kill().unwrap();
    let output = run.wait_with_output().unwrap();
    assert_eq!(output.status.code(), Some(2), "{}", String::from_utf8_lossy(&output.stderr));
    let json = report(&output);
    assert_eq!(json["lost_clients"], 2, "{json}");
    assert!(json["duration_s"].as_f64().unwrap() < 2.5, "the window ends when the last client does: {json}");
    assert!(String::from_utf8_lossy(&output.stderr).contains("lost their connection"));
    drop(server);
    let _ = std::fs::remove_dir_all(&dir);
}
