//! The AdminServer on real processes: every ZooKeeper 3.8 command on a leader and a follower
//! of a 3-process ensemble, against the answers Apache ZooKeeper 3.8 gave in the same places
//! (tests/wire/admin/admin-*.json, tests/wire/capture_admin.py); the answers of a member
//! without a quorum; `/ready` and `/live`; and the port's bounds.

mod common;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use common::{Client, create, ensemble, http_get, mode, wait_for, wait_for_leader_and_followers, word};
use serde_json::Value;
use zabkeeper_core::wire::Request;
use zabkeeper_core::wire::records::PathWatch;

fn golden(name: &str) -> Value {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/wire/admin").join(name);
    serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap()
}

fn command(admin: SocketAddr, name: &str) -> Value {
    let (status, content_type, body) = http_get(admin, &format!("/commands/{name}")).expect("an answer");
    assert_eq!((status, content_type.as_str()), (200, "application/json"), "{name}: {body}");
    serde_json::from_str(&body).unwrap_or_else(|e| panic!("{name}: {e}: {body}"))
}

/// Objects whose keys are data (session ids, paths, times, member ids), not names.
const KEYED_BY_DATA: &[&str] = &[
    "expiry_time_to_session_ids",
    "session_id_to_ephemeral_paths",
    "session_id_to_watched_paths",
    "path_to_session_ids",
    "current_config",
];

/// Keys ZooKeeper prints that have no meaning here (docs/OPERATIONS.md says why).
const LEFT_OUT: &[&str] = &["fsync_threshold_exceed_count"];

/// Checks that `ours` has the shape of `theirs`: every key of theirs (but [`LEFT_OUT`]) with a
/// value of the same JSON type, recursively; arrays and data-keyed objects by their first
/// entries when both have some. A null of theirs stands for any value.
fn same_shape(at: &str, ours: &Value, theirs: &Value) {
    match (ours, theirs) {
        (_, Value::Null) => {}
        (Value::Object(o), Value::Object(t)) if KEYED_BY_DATA.iter().any(|k| at.ends_with(k)) => {
            if let (Some(o), Some(t)) = (o.values().next(), t.values().next()) {
                same_shape(&format!("{at}.*"), o, t);
            }
        }
        (Value::Object(o), Value::Object(t)) => {
            for (key, theirs) in t.iter().filter(|(k, _)| !LEFT_OUT.contains(&k.as_str())) {
                let ours = o.get(key).unwrap_or_else(|| panic!("{at}: no {key:?} in {ours}"));
                same_shape(&format!("{at}.{key}"), ours, theirs);
            }
        }
        (Value::Array(o), Value::Array(t)) => {
            if let (Some(o), Some(t)) = (o.first(), t.first()) {
                same_shape(&format!("{at}[0]"), o, t);
            }
        }
        (Value::Number(o), Value::Number(t)) => {
            assert_eq!(o.is_f64(), t.is_f64(), "{at}: {o} where ZooKeeper prints {t}");
        }
        (Value::String(_), Value::String(_)) | (Value::Bool(_), Value::Bool(_)) => {}
        _ => panic!("{at}: {ours} where ZooKeeper prints {theirs}"),
    }
}

/// Checks every command of a member against ZooKeeper's answers in the same role.
fn matches_zookeeper(admin: SocketAddr, role: &str) {
    let theirs = golden(&format!("admin-{role}.json"));
    let theirs = theirs["commands"].as_object().unwrap();
    assert_eq!(theirs.len(), 26);
    for (name, expected) in theirs {
        let ours = command(admin, name);
        assert_eq!(ours["command"], Value::from(name.as_str()), "{role} {name}");
        assert_eq!(ours["error"], expected["error"], "{role} {name}: {ours}");
        match name.as_str() {
            // The rest of ZooKeeper's keys are the JVM's and its request processors':
            // ours are a subset of theirs, with the same types.
            "monitor" | "environment" | "system_properties" => {
                for (key, value) in ours.as_object().unwrap() {
                    let theirs =
                        expected.get(key).unwrap_or_else(|| panic!("{role} {name}: ZooKeeper prints no {key}"));
                    same_shape(&format!("{role} {name}.{key}"), value, theirs);
                }
            }
            _ => same_shape(&format!("{role} {name}"), &ours, expected),
        }
    }
    let monitor = command(admin, "monitor");
    let mut main = vec![
        "version",
        "server_state",
        "peer_state",
        "znode_count",
        "watch_count",
        "ephemerals_count",
        "approximate_data_size",
        "num_alive_connections",
        "outstanding_requests",
        "packets_received",
        "packets_sent",
        "avg_latency",
        "min_latency",
        "max_latency",
        "open_file_descriptor_count",
        "max_file_descriptor_count",
        "global_sessions",
        "quorum_size",
        "uptime",
    ];
    if role == "leader" {
        main.extend(["learners", "synced_followers", "synced_observers"]);
    }
    for key in main {
        assert!(monitor.get(key).is_some(), "{role} monitor has no {key}: {monitor}");
    }
}

#[test]
fn every_admin_command_answers_as_zookeeper_3_8_on_a_three_process_ensemble() {
    let base = common::scratch("admin-ensemble");
    let mut members = ensemble(&base, 3);
    for m in &mut members {
        m.spawn();
    }
    wait_for_leader_and_followers(&members);
    let leader = members.iter().position(|m| mode(m.client).as_deref() == Some("leader")).unwrap();
    let follower = (leader + 1) % 3;
    let (leader_admin, follower_admin) = (members[leader].admin.unwrap(), members[follower].admin.unwrap());

    // What ZooKeeper's capture had: a few nodes, an ephemeral, a data watch, on the follower.
    let mut c = Client::open(members[follower].client).expect("a session");
    assert_eq!(c.must(create("/app", b"", 0)).0.err, 0);
    assert_eq!(c.must(create("/app/config", &[b'x'; 100], 0)).0.err, 0);
    assert_eq!(c.must(create("/app/lock-", b"", 3)).0.err, 0);
    c.must(Request::GetData(PathWatch { path: "/app/config".into(), watch: true }));

    let (status, _, page) = http_get(follower_admin, "/commands").unwrap();
    let theirs = std::fs::read_to_string(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/wire/admin/admin-commands.html"),
    )
    .unwrap();
    assert_eq!((status, page.as_str()), (200, theirs.as_str()), "GET /commands lists what ZooKeeper's does");

    matches_zookeeper(follower_admin, "follower");
    matches_zookeeper(leader_admin, "leader");

    // Real values, not just the right keys.
    let session = c.session;
    let watches = command(follower_admin, "watches");
    assert_eq!(watches["session_id_to_watched_paths"][session.to_string()], serde_json::json!(["/app/config"]));
    let by_path = command(follower_admin, "wchp");
    assert_eq!(by_path["path_to_session_ids"]["/app/config"], serde_json::json!([session]));
    let dump = command(leader_admin, "dump");
    assert_eq!(dump["session_id_to_ephemeral_paths"][session.to_string()], serde_json::json!(["/app/lock-0000000001"]));
    let cons = command(follower_admin, "cons");
    assert!(cons["connections"].as_array().unwrap().iter().any(|c| c["session_id"] == session), "{cons}");
    let lead = command(follower_admin, "leader");
    assert_eq!((lead["is_leader"].clone(), lead["leader_id"].clone()), (false.into(), (leader as u64 + 1).into()));
    assert_eq!(command(leader_admin, "lead")["is_leader"], true);
    let zab = command(leader_admin, "zabstate");
    assert_eq!((zab["zabstate"].as_str(), zab["voting"].as_bool()), (Some("broadcast"), Some(true)));
    let monitor = command(leader_admin, "mntr");
    assert_eq!((monitor["synced_followers"].as_u64(), monitor["quorum_size"].as_u64()), (Some(2), Some(3)));
    let proposals = command(leader_admin, "srvr")["proposal_stats"].clone();
    assert!(proposals["max_buffer_size"].as_i64() > Some(100), "the 100-byte write was proposed: {proposals}");
    assert_eq!(monitor["max_proposal_size"], proposals["max_buffer_size"]);
    assert_eq!(monitor["znode_count"], command(follower_admin, "monitor")["znode_count"]);
    // The three creates (and the session) were proposed, acked by a quorum, committed.
    assert!(monitor["cnt_quorum_ack_latency"].as_u64() >= Some(3), "{monitor}");
    assert!(monitor["max_quorum_ack_latency"].as_f64() >= monitor["min_quorum_ack_latency"].as_f64(), "{monitor}");
    assert_eq!(command(follower_admin, "monitor")["cnt_quorum_ack_latency"], 0, "only a leader counts them");
    assert_eq!(command(leader_admin, "server_stats")["server_stats"]["fsync_threshold_exceed_count"], 0);
    assert_eq!(command(follower_admin, "voting_view")["current_config"].as_object().unwrap().len(), 3);
    assert_eq!(command(follower_admin, "wchs")["num_total_watches"], 1);
    for (admin, m) in [(leader_admin, &members[leader]), (follower_admin, &members[follower])] {
        assert_eq!(http_get(admin, "/ready").map(|r| r.0), Some(200));
        assert_eq!(http_get(admin, "/live").map(|r| r.0), Some(200));
        let srvr = word(m.client, "srvr").unwrap();
        let zxid = srvr.lines().find_map(|l| l.strip_prefix("Zxid: 0x")).unwrap();
        let stats = command(admin, "srvr");
        let last = stats["server_stats"]["last_processed_zxid"].as_u64().unwrap();
        assert!(last >= u64::from_str_radix(zxid, 16).unwrap(), "{stats}");
    }

    // The errors ZooKeeper gives, word for word.
    let errors = golden("admin-errors.json");
    for (asked, expected) in errors["commands"].as_object().unwrap() {
        if !asked.starts_with("no quorum: ") {
            assert_eq!(&command(follower_admin, asked), expected, "{asked}");
        }
    }
    assert_eq!(command(follower_admin, "gtmk")["tracemask"], 306, "set back to 306 by the last of them");

    // A member that lost its quorum says so, as ZooKeeper's does, and is not ready.
    drop(c);
    for (i, m) in members.iter_mut().enumerate() {
        if i != follower {
            m.kill();
        }
    }
    wait_for("the follower to stop serving", || command(follower_admin, "srvr")["error"] != Value::Null);
    for (asked, expected) in errors["commands"].as_object().unwrap() {
        if let Some(name) = asked.strip_prefix("no quorum: ") {
            assert_eq!(&command(follower_admin, name), expected, "{asked}");
        }
    }
    assert_eq!(http_get(follower_admin, "/ready").map(|r| r.0), Some(503));
    assert_eq!(http_get(follower_admin, "/live").map(|r| r.0), Some(200));
    let zab = command(follower_admin, "zabstate");
    assert_eq!(zab["zabstate"], "election", "{zab}");
    drop(members);
    let _ = std::fs::remove_dir_all(&base);
}

/// Reads until the peer closes; whether it did within `within`.
fn closed_within(stream: &mut TcpStream, within: Duration) -> bool {
    stream.set_read_timeout(Some(within)).unwrap();
    let start = Instant::now();
    let mut buf = [0u8; 4096];
    loop {
        match stream.read(&mut buf) {
            Ok(0) => return true,
            Ok(_) => {}
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => return true,
            Err(_) => return false,
        }
        if start.elapsed() > within {
            return false;
        }
    }
}

#[test]
fn the_admin_port_is_bounded_and_keeps_serving() {
    let dir = common::scratch("admin-bounds");
    // Every fdatasync is over a threshold of 0 ms, so each one counts.
    let server =
        common::standalone_with(&dir, "admin.idleTimeout=2000\n4lw.commands.whitelist=*\nfsync.warningthresholdms=0\n");
    let admin = server.admin.unwrap();

    // Only GET; unknown pages are 404; a command name is never a path.
    let mut post = TcpStream::connect(admin).unwrap();
    post.write_all(b"POST /commands/ruok HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
        .unwrap();
    let mut answer = String::new();
    post.read_to_string(&mut answer).unwrap();
    assert!(answer.starts_with("HTTP/1.1 405"), "{answer}");
    assert_eq!(http_get(admin, "/").map(|r| r.0), Some(404));
    assert_eq!(command(admin, "..%2F..%2Fetc")["error"], "Unknown command: ..%2F..%2Fetc");

    // A head larger than the bound is refused and closes the connection.
    let mut big = TcpStream::connect(admin).unwrap();
    let header = "a".repeat(64 * 1024);
    let _ = write!(big, "GET /commands/ruok HTTP/1.1\r\nHost: x\r\nX-Big: {header}\r\n\r\n");
    let mut answer = String::new();
    let _ = big.read_to_string(&mut answer);
    assert!(!answer.contains(" 200 "), "{}", &answer[..answer.len().min(200)]);

    // A connection that sends nothing is closed after admin.idleTimeout.
    let mut silent = TcpStream::connect(admin).unwrap();
    assert!(closed_within(&mut silent, Duration::from_secs(8)), "an idle admin connection stays open");

    // Past the connection bound, one more is closed at once; the others still work.
    let mut open: Vec<TcpStream> = (0..64).map(|_| TcpStream::connect(admin).unwrap()).collect();
    std::thread::sleep(Duration::from_millis(300));
    let mut extra = TcpStream::connect(admin).unwrap();
    assert!(closed_within(&mut extra, Duration::from_millis(1500)), "the 65th connection was kept");
    let first = &mut open[0];
    first.write_all(b"GET /commands/ruok HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").unwrap();
    let mut answer = String::new();
    first.read_to_string(&mut answer).unwrap();
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    drop(open);
    wait_for("the admin port to take connections again", || http_get(admin, "/live").is_some_and(|r| r.0 == 200));

    // stmk over the client port sets the mask the admin port reports.
    let mut stmk = TcpStream::connect(server.client).unwrap();
    let mut ask = b"stmk".to_vec();
    ask.extend_from_slice(&1234i64.to_be_bytes());
    stmk.write_all(&ask).unwrap();
    let mut answer = String::new();
    stmk.read_to_string(&mut answer).unwrap();
    assert_eq!(answer, "1234");
    assert_eq!(command(admin, "get_trace_mask")["tracemask"], 1234);
    assert_eq!(word(server.client, "gtmk").as_deref(), Some("1234"));
    assert_eq!(command(admin, "leader")["error"], "server is not initialized", "as a standalone ZooKeeper");
    let mut c = Client::open(server.client).expect("a session");
    assert_eq!(c.must(create("/synced", b"", 0)).0.err, 0);
    let slow = command(admin, "server_stats")["server_stats"]["fsync_threshold_exceed_count"].as_u64().unwrap();
    assert!(slow >= 1, "the session's and the create's fdatasyncs count over a 0 ms threshold");
    drop(server);
    let _ = std::fs::remove_dir_all(&dir);
}

/// An HTTP GET over `stream`; the status line and the body.
fn https_get(mut stream: impl Read + Write, path: &str) -> std::io::Result<(String, String)> {
    write!(stream, "GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")?;
    let mut raw = Vec::new();
    let _ = stream.read_to_end(&mut raw);
    let raw = String::from_utf8_lossy(&raw).into_owned();
    let (head, body) = raw.split_once("\r\n\r\n").unwrap_or((&raw, ""));
    Ok((head.lines().next().unwrap_or("").to_string(), body.to_string()))
}

#[test]
fn admin_force_https_serves_only_https_with_the_quorum_certificates() {
    let dir = common::scratch("admin-https");
    common::certificates(&dir);
    let extra = format!(
        "admin.forceHttps=true\nadmin.needClientAuth=true\nssl.quorum.keyStore.location={0}/server.store.pem\n\
         ssl.quorum.trustStore.location={0}/ca.pem\n",
        dir.display()
    );
    let server = common::standalone_with(&dir, &extra);
    let admin = server.admin.unwrap();

    // With a certificate the quorum CA signed: the commands, as over HTTP.
    let (status, body) = https_get(common::tls(&dir, admin, Some("client")), "/commands/ruok").unwrap();
    assert_eq!(status, "HTTP/1.1 200 OK", "{body}");
    assert_eq!(serde_json::from_str::<Value>(&body).unwrap()["command"], "ruok");
    // Without one (admin.needClientAuth), and over plain HTTP: nothing.
    let refused = https_get(common::tls(&dir, admin, None), "/commands/ruok");
    assert!(refused.as_ref().map_or(true, |(s, _)| !s.contains("200")), "{refused:?}");
    assert!(http_get(admin, "/commands/ruok").is_none_or(|(status, _, _)| status != 200), "plain HTTP answered");
    // The server still serves clients.
    assert_eq!(word(server.client, "srvr").map(|s| s.contains("Mode: standalone")), Some(true));
    drop(server);
    let _ = std::fs::remove_dir_all(&dir);
}
