//! A server run in-process through the library (`zabkeeper::node::start::start`), as tests
//! and tools can now do without spawning the binary: it serves a real client, stops when its
//! stop future completes, and a second run on the same data directory recovers what the
//! first acknowledged.

use std::net::{SocketAddr, TcpListener};
use std::time::Duration;

use tokio::sync::oneshot;
use zabkeeper::config::Settings;
use zabkeeper::node::start::start;
use zookeeper_client::{Acls, Client, CreateMode};

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// Connects, retrying while the server is still binding its port (at most 10 s).
async fn connect(addr: SocketAddr) -> Client {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        match tokio::time::timeout(Duration::from_secs(2), Client::connect(&addr.to_string())).await {
            Ok(Ok(client)) => return client,
            _ if tokio::time::Instant::now() < deadline => tokio::time::sleep(Duration::from_millis(50)).await,
            other => panic!("no connection to the in-process server at {addr}: {:?}", other.map(|r| r.err())),
        }
    }
}

#[tokio::test(flavor = "current_thread")]
async fn a_server_runs_in_process_serves_a_client_stops_when_told_and_recovers() {
    let dir = tempfile::tempdir().unwrap();
    let settings = Settings {
        data_dir: dir.path().to_path_buf(),
        client_addr: SocketAddr::from(([127, 0, 0, 1], free_port())),
        ..Settings::default()
    };

    for round in 0..2 {
        let (stop, stopped) = oneshot::channel::<()>();
        let server = tokio::spawn(start(settings.clone(), async move {
            let _ = stopped.await;
        }));
        let client = connect(settings.client_addr).await;
        if round == 0 {
            let persistent = CreateMode::Persistent.with_acls(Acls::anyone_all());
            client.create("/in-process", b"written", &persistent).await.expect("create");
        }
        let (data, _) = client.get_data("/in-process").await.expect("read");
        assert_eq!(data, b"written", "round {round}");
        drop(client);
        stop.send(()).unwrap();
        let ended = tokio::time::timeout(Duration::from_secs(10), server).await.expect("stops within 10 s");
        ended.expect("the server task").expect("a clean stop");
    }
}
