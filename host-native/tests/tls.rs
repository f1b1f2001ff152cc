//! TLS for clients on a real server process, with certificates made by `openssl` for the test:
//! `secureClientPort` with `ssl.clientAuth=need` serves a client whose certificate the trust
//! store vouches for and refuses one without (and plain text), while the plain port goes on;
//! `client.portUnification` takes TLS and plain text on one port.

mod common;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::Path;
use std::time::Duration;

use common::{Client, Member, certificates, create, get, tls};
use zabkeeper_core::wire::records::ReplyHeader;
use zabkeeper_core::wire::{ConnectRequest, ConnectResponse, Jute, Reader, Request, write_frame};

fn server(dir: &Path, extra: &str) -> (Member, SocketAddr) {
    let ports = common::free_ports(2);
    let config = dir.join("zoo.cfg");
    let text = format!(
        "tickTime=200\ndataDir={}\nclientPort={}\nclientPortAddress=127.0.0.1\nadmin.enableServer=false\n4lw.commands.whitelist=srvr\n\
         ssl.keyStore.location={}\nssl.keyStore.type=PEM\nssl.trustStore.location={}\nssl.trustStore.type=PEM\n{extra}",
        dir.join("data").display(),
        ports[0],
        dir.join("server.store.pem").display(),
        dir.join("ca.pem").display(),
        extra = extra.replace("SECURE", &ports[1].to_string()),
    );
    std::fs::write(&config, text).unwrap();
    let mut member = Member { child: None, config, client: SocketAddr::from(([127, 0, 0, 1], ports[0])), admin: None };
    member.spawn();
    member.wait_for_mode(&["standalone"]);
    (member, SocketAddr::from(([127, 0, 0, 1], ports[1])))
}

fn read_frame(stream: &mut impl Read) -> std::io::Result<Vec<u8>> {
    let mut len = [0u8; 4];
    stream.read_exact(&mut len)?;
    let mut body = vec![0u8; u32::from_be_bytes(len) as usize];
    stream.read_exact(&mut body)?;
    Ok(body)
}

/// A new session over `stream`; its id, or `None` if the connection failed.
fn connect(stream: &mut (impl Read + Write)) -> Option<i64> {
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
    let response = ConnectResponse::decode(&read_frame(stream).ok()?).ok()?;
    (response.session_id != 0).then_some(response.session_id)
}

/// One request and its reply's error code.
fn call(stream: &mut (impl Read + Write), xid: i32, request: Request) -> i32 {
    let mut bytes = Vec::new();
    write_frame(&mut bytes, |b| request.encode(xid, b));
    stream.write_all(&bytes).unwrap();
    let frame = read_frame(stream).unwrap();
    let header = ReplyHeader::read(&mut Reader::new(&frame)).unwrap();
    assert_eq!(header.xid, xid);
    header.err
}

#[test]
fn a_secure_port_serves_clients_the_trust_store_vouches_for_and_refuses_the_rest() {
    let dir = common::scratch("tls-secure");
    certificates(&dir);
    let (server, secure) = server(&dir, "secureClientPort=SECURE\nssl.clientAuth=need\n");

    let mut alice = tls(&dir, secure, Some("client"));
    assert!(connect(&mut alice).is_some(), "a session over TLS");
    assert_eq!(call(&mut alice, 1, create("/over-tls", b"v", 0)), 0);
    assert_eq!(call(&mut alice, 2, get("/over-tls")), 0);

    // No client certificate: the TLS handshake fails, no session.
    let mut anonymous = tls(&dir, secure, None);
    assert!(connect(&mut anonymous).is_none());
    // Plain text on the TLS port: closed without an answer.
    let mut plain = TcpStream::connect(secure).unwrap();
    plain.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    assert!(connect(&mut plain).is_none());

    // The plain port goes on, on the same tree.
    let mut c = Client::open(server.client).expect("a plain session");
    assert_eq!(c.must(get("/over-tls")).0.err, 0);
    assert_eq!(call(&mut alice, 3, get("/")), 0, "the TLS session goes on too");
    drop(server);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn port_unification_takes_tls_and_plain_text_on_one_port() {
    let dir = common::scratch("tls-unified");
    certificates(&dir);
    let (server, _) = server(&dir, "client.portUnification=true\nssl.clientAuth=none\n");
    let mut over_tls = tls(&dir, server.client, None);
    assert!(connect(&mut over_tls).is_some(), "TLS on the client port");
    assert_eq!(call(&mut over_tls, 1, create("/both", b"v", 0)), 0);
    let mut plain = Client::open(server.client).expect("plain text on the same port");
    assert_eq!(plain.must(get("/both")).0.err, 0);
    assert!(common::word(server.client, "srvr").unwrap().contains("Mode: standalone"), "four-letter words too");
    drop(server);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_key_store_that_cannot_be_used_stops_the_start() {
    let dir = common::scratch("tls-bad-store");
    std::fs::write(dir.join("server.store.pem"), "not a pem file\n").unwrap();
    std::fs::write(dir.join("ca.pem"), "").unwrap();
    let port = common::free_ports(2);
    let config = dir.join("zoo.cfg");
    std::fs::write(
        &config,
        format!(
            "dataDir={}\nclientPort={}\nclientPortAddress=127.0.0.1\nadmin.enableServer=false\nsecureClientPort={}\nssl.keyStore.location={}\n",
            dir.join("data").display(),
            port[0],
            port[1],
            dir.join("server.store.pem").display()
        ),
    )
    .unwrap();
    let mut member = Member { child: None, config, client: SocketAddr::from(([127, 0, 0, 1], port[0])), admin: None };
    member.spawn();
    let status = member.wait_exit(Duration::from_secs(10)).expect("the server exits");
    assert!(!status.success());
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn the_load_tool_speaks_tls_with_a_client_certificate() {
    let dir = common::scratch("tls-bench");
    certificates(&dir);
    let (server, secure) = server(&dir, "secureClientPort=SECURE\nssl.clientAuth=need\n");
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_zabkeeper"))
        .args(["bench", "--servers", &secure.to_string(), "--clients", "2", "--op", "set", "--keys", "10"])
        .args(["--duration", "0.3", "--warmup", "0", "--tls-ca"])
        .arg(dir.join("ca.pem"))
        .arg("--tls-cert")
        .arg(dir.join("client.pem"))
        .arg("--tls-key")
        .arg(dir.join("client.key"))
        .output()
        .unwrap();
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let report: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    assert!(report["ops"].as_u64().unwrap() > 0, "{report}");
    assert_eq!(report["errors"], serde_json::json!({}));
    drop(server);
    let _ = std::fs::remove_dir_all(&dir);
}

/// A write over TLS can leave encrypted records in the TLS buffer when the socket is full; with
/// nothing written after it they stayed there and the reader waited forever (the load tool hung
/// in its setup that way, and a server's last reply could too). Every write to a client or a
/// peer goes through `send_all`, which flushes. Here over a pipe of 512 bytes, full at every
/// write, and a writer that writes nothing more afterwards.
#[test]
fn a_tls_write_reaches_the_reader_whole_even_when_the_pipe_is_full() {
    use tokio::io::AsyncReadExt;
    let dir = common::scratch("tls-flush");
    certificates(&dir);
    let settings = zabkeeper::net::tls::TlsSettings {
        key_store: dir.join("server.store.pem"),
        trust_store: None,
        client_auth: zabkeeper::net::tls::ClientAuth::None,
        protocols: zabkeeper::net::tls::Protocols::default(),
    };
    let acceptor = tokio_rustls::TlsAcceptor::from(zabkeeper::net::tls::server_config(&settings).unwrap());
    let connector =
        tokio_rustls::TlsConnector::from(zabkeeper::net::tls::client_config(&dir.join("ca.pem"), None).unwrap());
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    const LEN: usize = 300_000;
    rt.block_on(async {
        let (a, b) = tokio::io::duplex(512);
        let server = tokio::spawn(async move {
            let mut tls = acceptor.accept(a).await.unwrap();
            zabkeeper::net::send_all(&mut tls, &vec![5u8; LEN]).await.unwrap();
            // Stays open and writes nothing more, as a writer waiting for its next reply.
            tokio::time::sleep(Duration::from_secs(30)).await;
            drop(tls);
        });
        let name = rustls::pki_types::ServerName::try_from("127.0.0.1").unwrap();
        let mut client = connector.connect(name, b).await.unwrap();
        let mut got = vec![0u8; LEN];
        let read = tokio::time::timeout(Duration::from_secs(10), client.read_exact(&mut got)).await;
        assert!(matches!(read, Ok(Ok(_))), "the whole write arrived: {read:?}");
        assert!(got.iter().all(|b| *b == 5));
        server.abort();
    });
    let _ = std::fs::remove_dir_all(&dir);
}

/// The x509 scheme: a client certificate's subject is the connection's `x509` id from the
/// start, usable in ACLs (and by the `auth` scheme); a client without that certificate may not
/// read the node; `X509AuthenticationProvider.superUser` makes a subject super.
#[test]
fn a_client_certificate_is_an_x509_id_in_acls() {
    use zabkeeper_core::tree::Acl;
    use zabkeeper_core::wire::records::CreateRequest;
    const ALICE: &str = "CN=alice,O=Test,C=NL";
    let dir = common::scratch("tls-x509");
    certificates(&dir);
    let (first, secure) = server(&dir, "secureClientPort=SECURE\nssl.clientAuth=want\n");
    let private = |path: &str, acl: Acl| {
        Request::Create(CreateRequest { path: path.into(), data: Some(b"s".to_vec()), acl: vec![acl], flags: 0 })
    };
    let mut alice = tls(&dir, secure, Some("client"));
    assert!(connect(&mut alice).is_some());
    assert_eq!(call(&mut alice, 1, private("/alice", Acl::new(31, "x509", ALICE))), 0);
    assert_eq!(call(&mut alice, 2, private("/mine", Acl::new(31, "auth", ""))), 0, "auth expands to the x509 id");
    assert_eq!(call(&mut alice, 3, get("/alice")), 0);
    assert_eq!(call(&mut alice, 4, get("/mine")), 0);
    // Over TLS without a certificate, and in plain text: not alice.
    let mut anonymous = tls(&dir, secure, None);
    assert!(connect(&mut anonymous).is_some(), "ssl.clientAuth=want lets it in");
    assert_eq!(call(&mut anonymous, 1, get("/alice")), -102, "NoAuth");
    let mut plain = Client::open(first.client).expect("a plain session");
    assert_eq!(plain.must(get("/mine")).0.err, -102);
    drop(first);

    // The same subject named super user may do anything, here read a node only bob may.
    let dir2 = common::scratch("tls-x509-super");
    certificates(&dir2);
    let (server, secure) = server(
        &dir2,
        &format!("secureClientPort=SECURE\nssl.clientAuth=need\nX509AuthenticationProvider.superUser={ALICE}\n"),
    );
    let mut alice = tls(&dir2, secure, Some("client"));
    assert!(connect(&mut alice).is_some());
    assert_eq!(call(&mut alice, 1, private("/bob", Acl::new(31, "x509", "CN=bob"))), 0);
    assert_eq!(call(&mut alice, 2, get("/bob")), 0, "super reads it");
    drop(server);
    let _ = std::fs::remove_dir_all(&dir);
    let _ = std::fs::remove_dir_all(&dir2);
}

/// Certificates are rotated without a restart: a new key store written over the old one is in
/// use for new connections within seconds, while the connection made before goes on; a file
/// that does not parse is not used.
#[test]
fn a_rotated_certificate_is_used_without_a_restart() {
    let dir = common::scratch("tls-reload");
    certificates(&dir);
    let (server, secure) = server(&dir, "secureClientPort=SECURE\nssl.clientAuth=none\n");
    let mut before = tls(&dir, secure, None);
    assert!(connect(&mut before).is_some(), "the first certificate, from the test CA");
    let store = dir.join("server.store.pem");
    // A broken file (half written) is not used: the certificate in force stays.
    std::fs::write(&store, "-----BEGIN CERTIFICATE-----\ncut sh").unwrap();
    // (The session above lives 20 ticks, 4 s, without a request: it is used in between.)
    std::thread::sleep(zabkeeper::net::tls::RELOAD_EVERY + Duration::from_millis(800));
    assert_eq!(call(&mut before, 1, get("/")), 0);
    let mut meanwhile = tls(&dir, secure, None);
    assert!(connect(&mut meanwhile).is_some(), "a broken file leaves the certificate in force");
    // Rotate to a certificate of the other CA (written aside, then renamed into place).
    std::fs::copy(dir.join("stranger.store.pem"), dir.join("next.pem")).unwrap();
    std::fs::rename(dir.join("next.pem"), &store).unwrap();
    common::wait_for("the new certificate in use", || {
        let mut after = common::tls_trusting(&dir.join("other-ca.pem"), secure, None);
        connect(&mut after).is_some()
    });
    let mut old_ca = tls(&dir, secure, None);
    assert!(connect(&mut old_ca).is_none(), "the old certificate is no longer shown");
    assert_eq!(call(&mut before, 2, get("/")), 0, "the connection made before goes on");
    drop(server);
    let _ = std::fs::remove_dir_all(&dir);
}
