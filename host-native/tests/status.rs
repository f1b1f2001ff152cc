//! `zabkeeper status` against a real 3-process ensemble: healthy with all three, degraded with
//! one killed, lost with two; and `start --log-format json` writes one JSON object per line.

mod common;

use std::process::{Command, Stdio};

use common::{ensemble, wait_for, wait_for_leader_and_followers};

fn status(servers: &str) -> (i32, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_zabkeeper")).args(["status", "--servers", servers]).output().unwrap();
    (out.status.code().unwrap_or(-1), String::from_utf8_lossy(&out.stdout).into_owned())
}

#[test]
fn status_tells_a_healthy_a_degraded_and_a_lost_quorum() {
    let base = common::scratch("status");
    let mut members = ensemble(&base, 3);
    for m in &mut members {
        m.spawn();
    }
    wait_for_leader_and_followers(&members);
    let servers = members.iter().map(|m| m.client.to_string()).collect::<Vec<_>>().join(",");
    let (code, table) = status(&servers);
    assert_eq!(code, 0, "{table}");
    assert!(table.contains("verdict: quorum healthy (3 of 3 serving"), "{table}");
    let modes: Vec<&str> = table.lines().skip(1).take(3).filter_map(|l| l.split_whitespace().nth(1)).collect();
    assert_eq!(modes.iter().filter(|m| **m == "leader").count(), 1, "{table}");
    assert_eq!(modes.iter().filter(|m| **m == "follower").count(), 2, "{table}");
    for line in table.lines().skip(1).take(3) {
        let cells: Vec<&str> = line.split_whitespace().collect();
        assert!(cells[3].starts_with("0x") && cells[4] == "0", "a synced member, no lag: {line}");
        assert!(cells.last().unwrap().ends_with("ms") || line.ends_with("ms"), "fsync figures from mntr: {line}");
    }

    let follower = members.iter().position(|m| common::mode(m.client).as_deref() == Some("follower")).unwrap();
    members[follower].kill();
    let (code, table) = status(&servers);
    assert_eq!(code, 1, "{table}");
    assert!(table.contains("quorum degraded") && table.contains(" down "), "{table}");

    let other = (0..3).find(|&i| i != follower && common::mode(members[i].client).as_deref() == Some("follower"));
    members[other.unwrap()].kill();
    // Lost at once, whether or not the leader has stepped down yet: one of three serves.
    wait_for("the quorum to be lost", || status(&servers).0 == 2);
    // The leader may have stepped down by now (then none serves).
    let (_, table) = status(&servers);
    assert!(
        table.contains("quorum lost") && (table.contains("(1 of 3 serving") || table.contains("(0 of 3 serving")),
        "{table}"
    );
    drop(members);
    let _ = std::fs::remove_dir_all(&base);
}

#[test]
fn json_logs_are_one_object_per_line() {
    let dir = common::scratch("json-logs");
    let port = common::free_ports(1)[0];
    let config = dir.join("zoo.cfg");
    std::fs::write(
        &config,
        format!(
            "dataDir={}\nclientPort={port}\nclientPortAddress=127.0.0.1\nadmin.enableServer=false\nmystery=1\n",
            dir.join("data").display()
        ),
    )
    .unwrap();
    let child = Command::new(env!("CARGO_BIN_EXE_zabkeeper"))
        .args(["start", "--log-format", "json", "--config"])
        .arg(&config)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let addr = std::net::SocketAddr::from(([127, 0, 0, 1], port));
    wait_for("the server to serve", || common::mode(addr).is_some());
    let _ = Command::new("kill").arg("-TERM").arg(child.id().to_string()).status();
    let out = child.wait_with_output().unwrap();
    let text = String::from_utf8_lossy(&out.stderr);
    let lines: Vec<serde_json::Value> =
        text.lines().map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}"))).collect();
    assert!(lines.iter().all(|l| l["level"].is_string() && l["timestamp"].is_string()), "{text}");
    assert!(
        lines.iter().any(|l| l["level"] == "WARN" && l["message"].as_str().is_some_and(|m| m.contains("mystery"))),
        "{text}"
    );
    assert!(lines.iter().any(|l| l["message"] == "serving"), "{text}");
    let _ = std::fs::remove_dir_all(&dir);
}
