//! A session of the `zookeeper-client` crate held across a move of its server (used by
//! tests/clients/migrate_check.py): it connects to `--server`, creates the ephemeral `--node`,
//! prints `ready <session id>`, then for each line `write <path>` read from stdin creates that
//! node and prints `ok <path> <session id>`; on `check` it prints `owner <ephemeralOwner>` of
//! its ephemeral. It exits 1 as soon as its session expires or is closed.
//!
//!   cargo run --example hold_session -- 127.0.0.1:2181 /locks/rust

use std::time::Duration;

use zookeeper_client::{Acls, Client, CreateMode, SessionState};

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let mut args = std::env::args().skip(1);
    let (Some(server), Some(node)) = (args.next(), args.next()) else {
        eprintln!("usage: hold_session <host:port> <ephemeral path>");
        std::process::exit(2);
    };
    let client = Client::connector()
        .with_session_timeout(Duration::from_secs(30))
        .connect(&server)
        .await
        .unwrap_or_else(|e| fail(&format!("connect: {e}")));
    let ephemeral = CreateMode::Ephemeral.with_acls(Acls::anyone_all());
    client.create(&node, b"held-by-rust", &ephemeral).await.unwrap_or_else(|e| fail(&format!("create {node}: {e}")));
    let id = client.session_id();
    println!("ready {:#x}", id.0);
    let mut states = client.state_watcher();
    // Lines from stdin, read on a thread of their own.
    let (tx, mut lines) = tokio::sync::mpsc::unbounded_channel();
    std::thread::spawn(move || {
        for line in std::io::stdin().lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    loop {
        tokio::select! {
            state = states.changed() => {
                if matches!(state, SessionState::Expired | SessionState::Closed | SessionState::AuthFailed) {
                    fail(&format!("session {:#x} {state:?}", id.0));
                }
            }
            line = lines.recv() => {
                let Some(line) = line else { break };
                let persistent = CreateMode::Persistent.with_acls(Acls::anyone_all());
                match line.split_whitespace().collect::<Vec<_>>()[..] {
                    ["write", path] => {
                        client.create(path, b"written-by-rust", &persistent).await.unwrap_or_else(|e| fail(&format!("create {path}: {e}")));
                        println!("ok {path} {:#x}", client.session_id().0);
                    }
                    ["check"] => {
                        let (_, stat) = client.get_data(&node).await.unwrap_or_else(|e| fail(&format!("get {node}: {e}")));
                        println!("owner {:#x}", stat.ephemeral_owner);
                    }
                    _ => fail(&format!("unknown command {line:?}")),
                }
            }
        }
    }
}

fn fail(why: &str) -> ! {
    println!("failed: {why}");
    std::process::exit(1);
}
