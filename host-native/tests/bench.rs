//! `zabkeeper bench` against the real binary standalone on loopback: a short mixed run gets
//! work done without errors, cleanup leaves nothing behind, and a server that dies mid-run
//! costs the clients their connections, which the report and the exit code say.

mod common;

use std::net::SocketAddr;
use std::process::{Command, Output, Stdio};
use std::time::Duration;

use common::{Client, get};

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

/// The error code of getData on `path`, from a fresh session.
fn get_err(addr: SocketAddr, path: &str) -> i32 {
    Client::open(addr).expect("a session").must(get(path)).0.err
}

#[test]
fn a_mixed_run_gets_work_done_without_errors() {
    let dir = common::scratch("mixed");
    let server = common::standalone(&dir);
    let args = ["--clients", "4", "--op", "mixed", "--duration", "1", "--warmup", "0.2", "--keys", "100"];
    let output = bench(server.client, &args).output().unwrap();
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
    assert_eq!(get_err(server.client, "/zkbench/k00"), 0, "the keys stay without --cleanup");
    drop(server);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn cleanup_deletes_what_the_run_made() {
    let dir = common::scratch("cleanup");
    let server = common::standalone(&dir);
    for op in ["create", "set"] {
        let args =
            ["--clients", "3", "--op", op, "--duration", "0.3", "--warmup", "0", "--prefix", "/b/c", "--cleanup"];
        let output = bench(server.client, &args).output().unwrap();
        let json = report(&output);
        assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
        assert!(json["ops"].as_u64().unwrap() > 0, "{json}");
        assert_eq!(json["errors"], serde_json::json!({}), "{json}");
        assert_eq!(get_err(server.client, "/b"), -101, "{op}: the prefix and all under it are gone");
    }
    drop(server);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_server_that_dies_costs_every_client_and_the_exit_code_says_so() {
    let dir = common::scratch("dies");
    let mut server = common::standalone(&dir);
    let args = ["--clients", "2", "--op", "set", "--duration", "3", "--warmup", "0", "--keys", "10"];
    let run = bench(server.client, &args).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().unwrap();
    std::thread::sleep(Duration::from_millis(1000));
    server.kill();
    let output = run.wait_with_output().unwrap();
    assert_eq!(output.status.code(), Some(2), "{}", String::from_utf8_lossy(&output.stderr));
    let json = report(&output);
    assert_eq!(json["lost_clients"], 2, "{json}");
    assert!(json["duration_s"].as_f64().unwrap() < 2.5, "the window ends when the last client does: {json}");
    assert!(String::from_utf8_lossy(&output.stderr).contains("lost their connection"));
    drop(server);
    let _ = std::fs::remove_dir_all(&dir);
}
