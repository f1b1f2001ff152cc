//! Session passwords on real processes: only the password a session was given resumes it. One
//! computed from the (public) session id, as ZooKeeper's can be, fails; so does one taken from
//! another server's session; the right one still works after a kill -9 and after a checkpoint
//! (the password is kept in the log and the snapshot, not recomputed).

mod common;

use std::io::Write;
use std::time::Duration;

use common::{Client, create, standalone, wait_for};
use zabkeeper_core::ids::SessionId;
use zabkeeper_core::session::legacy_password;

const TIMEOUT_MS: i32 = 30_000;

/// Whether the server resumes `session` for `passwd` (a refusal is ZooKeeper's all-zero answer).
fn resumes(addr: std::net::SocketAddr, session: i64, passwd: Vec<u8>) -> bool {
    Client::connect(addr, session, passwd, TIMEOUT_MS).is_some_and(|(_, r)| r.session_id == session)
}

#[test]
fn only_the_password_a_session_was_given_resumes_it() {
    let base = common::scratch("session-passwords");
    let dir = base.join("a");
    std::fs::create_dir_all(&dir).unwrap();
    // A checkpoint every few txns, so the session is also read back from a snapshot.
    let mut server = standalone(&dir);
    let mut config = std::fs::OpenOptions::new().append(true).open(&server.config).unwrap();
    config.write_all(b"snapCount=4\n").unwrap();
    server.restart(false);
    let other_dir = base.join("b");
    std::fs::create_dir_all(&other_dir).unwrap();
    let other = standalone(&other_dir);

    let (mut owner, hello) = Client::connect(server.client, 0, vec![0; 16], TIMEOUT_MS).expect("a session");
    let session = hello.session_id;
    let passwd = hello.passwd.clone().expect("a password");
    assert_eq!(owner.must(create("/lock", b"", 1)).0.err, 0, "an ephemeral of the session");

    assert!(!resumes(server.client, session, legacy_password(SessionId(session)).to_vec()), "computed from the id");
    let (_, stranger) = Client::connect(other.client, 0, vec![0; 16], TIMEOUT_MS).expect("a session elsewhere");
    assert!(!resumes(server.client, session, stranger.passwd.unwrap()), "another server's password");
    assert!(!resumes(server.client, session, passwd[..15].to_vec()), "cut short");
    assert!(Client::open(server.client).is_some_and(|mut c| c.must(common::get("/lock")).0.err == 0));
    drop(owner);

    // Enough writes for checkpoints, then kill -9: the password comes back from disk.
    let mut writer = Client::open(server.client).expect("a writer");
    for i in 0..10 {
        assert_eq!(writer.must(create(&format!("/n{i}"), b"v", 0)).0.err, 0);
    }
    drop(writer);
    let checkpoints = || {
        std::fs::read_dir(dir.join("data/zabkeeper-v1"))
            .unwrap()
            .filter(|e| e.as_ref().unwrap().file_name().to_string_lossy().starts_with("snap."))
            .count()
    };
    wait_for("a checkpoint", || checkpoints() > 0);
    server.restart(true);
    wait_for("the session resumed after kill -9", || resumes(server.client, session, passwd.clone()));
    assert!(!resumes(server.client, session, legacy_password(SessionId(session)).to_vec()));
    std::thread::sleep(Duration::from_millis(50));
    assert!(Client::open(server.client).is_some_and(|mut c| c.must(common::get("/lock")).0.err == 0), "ephemeral kept");
    drop(server);
    drop(other);
    let _ = std::fs::remove_dir_all(&base);
}
