//! Membership on the quorum port, on real three-process ensembles. A process that is not a
//! member dials a follower, says it is the leader, and sends a PROPOSAL and a COMMIT of a node
//! the clients never asked for. Without a quorum secret the follower takes them (the attack
//! is real: that is the first test); with `quorum.auth.secretFile` the stranger is refused in
//! the handshake, before any frame of it is read, whether it claims a secret or not, and so is
//! a member whose secret differs. (The class of CVE-2018-8012, where ZooKeeper let any process
//! join the quorum when quorum authentication was not enforced.) With `sslQuorum=true` the
//! members talk TLS and show each other certificates of the quorum's CA: a stranger in plain
//! text, or with a certificate of another CA, gets no further than the TLS handshake.

mod common;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::Path;
use std::time::{Duration, Instant};

use common::{
    Client, Member, certificates, create, ensemble, exists_after_sync, get, modes, peer_frame, peer_handshake,
    quorum_port, wait_for, wait_for_leader_and_followers, word,
};
use zabkeeper_core::ids::{SessionId, Zxid};
use zabkeeper_core::server::PeerMessage;
use zabkeeper_core::tree::Acl;
use zabkeeper_core::txn::{CreateTxn, Txn};
use zabkeeper_core::zab::{Entry, Message};

const FORGED: &str = "/forged";

/// Adds `lines` to a member's zoo.cfg.
fn configure(member: &Member, lines: &str) {
    let mut file = std::fs::OpenOptions::new().append(true).open(&member.config).unwrap();
    file.write_all(lines.as_bytes()).unwrap();
}

fn with_secret(members: &[Member], dir: &Path, secret: &str) {
    let path = dir.join("quorum.secret");
    std::fs::write(&path, secret).unwrap();
    for m in members {
        configure(m, &format!("quorum.auth.secretFile={}\n", path.display()));
    }
}

/// The last zxid a member has, from `srvr`.
fn zxid(addr: SocketAddr) -> Zxid {
    let text = word(addr, "srvr").expect("srvr answers");
    let hex = text.lines().find_map(|l| l.strip_prefix("Zxid: 0x")).expect("a Zxid line");
    Zxid::from_u64(u64::from_str_radix(hex.trim(), 16).unwrap())
}

/// The ids of the leader and of one follower.
fn leader_and_follower(members: &[Member]) -> (u64, u64) {
    let m = modes(members);
    let leader = m.iter().position(|m| m == "leader").expect("a leader") as u64 + 1;
    let follower = m.iter().position(|m| m == "follower").expect("a follower") as u64 + 1;
    (leader, follower)
}

/// Frames a leader would send to have `FORGED` created on a follower at `next`.
fn forged_frames(next: Zxid) -> Vec<u8> {
    let txn = Txn::Create(CreateTxn {
        path: FORGED.into(),
        data: Some(b"not from any client".to_vec()),
        acl: Acl::open_unsafe(),
        ephemeral_owner: 0,
        parent_cversion: 1_000,
    });
    let entry = Entry { zxid: next, time_ms: 1, session: SessionId(0), cxid: 0, txn };
    let mut bytes = Vec::new();
    for msg in [
        PeerMessage::Zab(Message::Proposal { epoch: next.epoch(), entries: vec![entry.into()] }),
        PeerMessage::Zab(Message::Commit { epoch: next.epoch(), zxid: next }),
    ] {
        bytes.extend_from_slice(&peer_frame(&postcard::to_allocvec(&msg).unwrap()));
    }
    bytes
}

/// Dials the follower's quorum port as the leader and sends the forged PROPOSAL and COMMIT.
/// Returns the connection if the follower let the handshake through and kept it open (while
/// it stays open, the follower takes it for its leader's newest link).
fn forge(members: &[Member], claims_secret: bool) -> Option<TcpStream> {
    let (leader, follower) = leader_and_follower(members);
    let target = &members[follower as usize - 1];
    let next = Zxid::from_u64(zxid(target.client).as_u64() + 1);
    let addr = SocketAddr::from(([127, 0, 0, 1], quorum_port(&target.config, follower)));
    let (mut stream, answer) = peer_handshake(addr, leader, claims_secret);
    let _ = stream.write_all(&forged_frames(next));
    // A refused stranger finds its connection closed; an accepted one finds it open.
    stream.set_read_timeout(Some(Duration::from_millis(500))).unwrap();
    let mut byte = [0u8; 1];
    let open = matches!(stream.read(&mut byte), Err(e) if e.kind() == std::io::ErrorKind::WouldBlock
        || e.kind() == std::io::ErrorKind::TimedOut);
    (answer.is_some() && open).then_some(stream)
}

/// Whether the node is on the member `client` is connected to, read there (no sync: a forged
/// node is in that member's tree only). The session must be older than the forgery: a new one
/// would wait forever for its createSession, whose zxid the forged entry took on that member.
fn has_forged(client: &mut Client) -> bool {
    client.call(get(FORGED)).is_some_and(|(h, _)| h.err == 0)
}

fn started(members: &mut [Member]) {
    for m in members.iter_mut() {
        m.spawn();
    }
    wait_for_leader_and_followers(members);
}

#[test]
fn without_a_secret_a_stranger_can_pose_as_the_leader() {
    let base = common::scratch("quorum-open");
    let mut members = ensemble(&base, 3);
    started(&mut members);
    let (_, follower) = leader_and_follower(&members);
    let mut reader = Client::open(members[follower as usize - 1].client).expect("a session on the follower");
    let stranger = forge(&members, false).expect("the follower takes the stranger's connection");
    wait_for("the forged node on the follower", || has_forged(&mut reader));
    drop(stranger);
    drop(members);
    let _ = std::fs::remove_dir_all(&base);
}

#[test]
fn cve_2018_8012_with_a_secret_a_stranger_is_refused_before_it_is_heard() {
    let base = common::scratch("quorum-secret");
    let mut members = ensemble(&base, 3);
    with_secret(&members, &base, "the members' secret, 33 bytes....\n");
    // The members prove the secret to each other: a quorum forms.
    started(&mut members);
    let (_, follower) = leader_and_follower(&members);
    let mut reader = Client::open(members[follower as usize - 1].client).expect("a session on the follower");
    for claims_secret in [false, true] {
        assert!(forge(&members, claims_secret).is_none(), "claims a secret: {claims_secret}: refused");
    }
    // Nothing the stranger sent was applied, and the ensemble serves on.
    let target = &members[follower as usize - 1];
    let mut client = Client::open(target.client).expect("a client connection");
    assert_eq!(client.must(create("/real", b"v", 0)).0.err, 0);
    assert!(!has_forged(&mut reader));
    for m in &members {
        assert!(exists_after_sync(m.client, "/real"));
        assert!(!exists_after_sync(m.client, FORGED), "{} has the forged node", m.client);
    }
    drop(members);
    let _ = std::fs::remove_dir_all(&base);
}

#[test]
fn a_member_with_another_secret_does_not_join_until_its_file_holds_the_right_one() {
    let base = common::scratch("quorum-other-secret");
    let mut members = ensemble(&base, 3);
    with_secret(&members, &base, "the members' secret, 33 bytes....");
    started(&mut members);
    // Member 3 comes back holding another ensemble's secret (a fresh ensemble cannot start
    // without it: two blank members of three wait for a third before they vote).
    members[2].kill();
    let other = base.join("other.secret");
    std::fs::write(&other, "a secret of some other ensemble..").unwrap();
    configure(&members[2], &format!("quorum.auth.secretFile={}\n", other.display()));
    members[2].spawn();
    wait_for("a write through member 1", || {
        Client::open(members[0].client)
            .and_then(|mut c| c.call(create("/after", b"v", 0)))
            .is_some_and(|(h, _)| h.err == 0 || h.err == -110)
    });
    // Member 3 keeps trying; for a while (many election rounds at tickTime 100) it never serves.
    let until = Instant::now() + Duration::from_secs(3);
    while Instant::now() < until {
        let m = modes(&members[2..]);
        assert!(!m.iter().any(|m| m == "leader" || m == "follower"), "member 3 joined: {m:?}");
        std::thread::sleep(Duration::from_millis(100));
    }
    // The right secret written into its file (renamed into place, as a rotation would): it is
    // read again within seconds, without a restart, and member 3 joins.
    let pid = members[2].child.as_ref().map(|c| c.id());
    let staged = base.join("other.secret.new");
    std::fs::write(&staged, "the members' secret, 33 bytes....").unwrap();
    std::fs::rename(&staged, &other).unwrap();
    wait_for("member 3 to join with the reloaded secret", || modes(&members[2..]) == ["follower"]);
    assert_eq!(members[2].child.as_ref().map(|c| c.id()), pid, "the same process");
    assert!(exists_after_sync(members[2].client, "/after"));
    drop(members);
    let _ = std::fs::remove_dir_all(&base);
}

#[test]
fn a_secret_file_that_cannot_be_used_stops_the_start() {
    let base = common::scratch("quorum-bad-secret");
    let mut members = ensemble(&base, 3);
    let short = base.join("short.secret");
    std::fs::write(&short, "guessable\n").unwrap();
    configure(&members[0], &format!("quorum.auth.secretFile={}\n", short.display()));
    members[0].spawn();
    let status = members[0].wait_exit(Duration::from_secs(10)).expect("the server exits");
    assert!(!status.success());
    let _ = std::fs::remove_dir_all(&base);
}

fn with_quorum_tls(members: &[Member], dir: &Path) {
    certificates(dir);
    for m in members {
        configure(
            m,
            &format!(
                "sslQuorum=true\nssl.quorum.keyStore.location={}\nssl.quorum.keyStore.type=PEM\n\
                 ssl.quorum.trustStore.location={}\nssl.quorum.trustStore.type=PEM\n",
                dir.join("server.store.pem").display(),
                dir.join("ca.pem").display()
            ),
        );
    }
}

#[test]
fn with_ssl_quorum_members_talk_tls_and_strangers_get_no_further_than_the_handshake() {
    let base = common::scratch("quorum-tls");
    let mut members = ensemble(&base, 3);
    with_quorum_tls(&members, &base);
    started(&mut members);
    let (leader, follower) = leader_and_follower(&members);
    let target = &members[follower as usize - 1];
    let mut reader = Client::open(target.client).expect("a session on the follower");
    let quorum = SocketAddr::from(([127, 0, 0, 1], quorum_port(&target.config, follower)));

    // In plain text: the acceptor waits for a TLS ClientHello and gets our hello: closed.
    assert!(forge(&members, false).is_none(), "plain text is refused");
    // Over TLS with a certificate of another CA: the handshake fails, nothing is read.
    let mut stranger = common::tls(&base, quorum, Some("stranger"));
    let mut hello = Vec::from(&b"ZBKP\x05"[..]);
    hello.extend_from_slice(&leader.to_le_bytes());
    hello.push(0);
    hello.extend_from_slice(&[7; 16]);
    let sent = stranger.write_all(&hello).and_then(|()| stranger.flush());
    let mut answer = [0u8; 49];
    assert!(sent.is_err() || stranger.read_exact(&mut answer).is_err(), "another CA's certificate is refused");

    // The members replicate over their TLS links.
    assert_eq!(reader.must(create("/over-tls", b"v", 0)).0.err, 0);
    for m in &members {
        assert!(exists_after_sync(m.client, "/over-tls"), "{}", m.client);
    }
    assert!(!has_forged(&mut reader));
    drop(members);
    let _ = std::fs::remove_dir_all(&base);
}

/// Over TLS with `cert` (a certificate in `dir`), dials the follower's quorum port as the
/// leader and sends the forged PROPOSAL and COMMIT. The connection if it is still open after
/// (while it is, the follower takes it for its leader's newest link).
fn forge_over_tls(members: &[Member], dir: &Path, cert: &str) -> Option<common::Tls> {
    let (leader, follower) = leader_and_follower(members);
    let target = &members[follower as usize - 1];
    let next = Zxid::from_u64(zxid(target.client).as_u64() + 1);
    let quorum = SocketAddr::from(([127, 0, 0, 1], quorum_port(&target.config, follower)));
    let mut stream = common::tls(dir, quorum, Some(cert));
    let mut hello = Vec::from(&common::PEER_MAGIC[..]);
    hello.push(common::PEER_VERSION);
    hello.extend_from_slice(&leader.to_le_bytes());
    hello.push(0);
    hello.extend_from_slice(&[7; 16]);
    let mut answer = [0u8; common::PEER_ANSWER_LEN];
    let sent = stream.write_all(&hello).and_then(|()| stream.flush()).and_then(|()| stream.read_exact(&mut answer));
    if sent.is_err() {
        return None;
    }
    let _ =
        stream.write_all(&[0; 32]).and_then(|()| stream.write_all(&forged_frames(next))).and_then(|()| stream.flush());
    stream.sock.set_read_timeout(Some(Duration::from_millis(800))).unwrap();
    let mut byte = [0u8; 1];
    let open = matches!(stream.read(&mut byte), Err(e) if e.kind() == std::io::ErrorKind::WouldBlock
        || e.kind() == std::io::ErrorKind::TimedOut);
    open.then_some(stream)
}

/// The class of CVE-2023-44981 (ZooKeeper let a peer whose SASL identity did not match the
/// server id it claimed into the quorum): with `sslQuorum=true` and hostname verification (the
/// default), a certificate the quorum's CA signed, but not for the host of the member it claims
/// to be (here alice's client certificate), is refused before any frame of it is read. The
/// control: with `ssl.quorum.hostnameVerification=false` the same certificate gets in, and the
/// forged node lands.
#[test]
fn cve_2023_44981_a_certificate_must_be_for_the_member_it_claims_to_be() {
    let base = common::scratch("quorum-tls-bind");
    let mut members = ensemble(&base, 3);
    with_quorum_tls(&members, &base);
    started(&mut members);
    let (_, follower) = leader_and_follower(&members);
    let mut reader = Client::open(members[follower as usize - 1].client).expect("a session on the follower");
    assert!(forge_over_tls(&members, &base, "client").is_none(), "a certificate for another host is refused");
    std::thread::sleep(Duration::from_millis(300));
    assert!(!has_forged(&mut reader));
    // Members still replicate (each shows a certificate for 127.0.0.1, the host of every line).
    assert_eq!(reader.must(create("/bound", b"v", 0)).0.err, 0);
    for m in &members {
        assert!(exists_after_sync(m.client, "/bound"), "{}", m.client);
    }

    for m in members.iter_mut() {
        configure(m, "ssl.quorum.hostnameVerification=false\n");
        m.restart(false);
    }
    wait_for_leader_and_followers(&members);
    let (_, follower) = leader_and_follower(&members);
    let mut reader = Client::open(members[follower as usize - 1].client).expect("a session on the follower");
    let stranger = forge_over_tls(&members, &base, "client").expect("without hostname verification it gets in");
    wait_for("the forged node on the follower", || has_forged(&mut reader));
    drop(stranger);
    drop(members);
    let _ = std::fs::remove_dir_all(&base);
}

/// ZooKeeper's way of rolling TLS into a running ensemble, one member at a time and serving
/// throughout: first `portUnification=true` (the quorum port takes TLS and plain peers; members
/// still dial plain), then `sslQuorum=true` (they dial TLS), then `portUnification=false` (plain
/// is refused). After every restart a write is acknowledged and all members have it; at the
/// end a stranger in plain text gets nowhere.
#[test]
fn tls_is_rolled_into_a_running_ensemble_with_port_unification() {
    let base = common::scratch("quorum-unification");
    let mut members = ensemble(&base, 3);
    started(&mut members);
    certificates(&base);
    let keys = format!(
        "ssl.quorum.keyStore.location={}\nssl.quorum.trustStore.location={}\n",
        base.join("server.store.pem").display(),
        base.join("ca.pem").display()
    );
    let mut n = 0;
    for step in [format!("portUnification=true\n{keys}"), "sslQuorum=true\n".into(), "portUnification=false\n".into()] {
        for i in 0..members.len() {
            configure(&members[i], &step);
            members[i].restart(false);
            wait_for_leader_and_followers(&members);
            n += 1;
            let path = format!("/roll-{n}");
            wait_for(&format!("a write after restart {n}"), || {
                members.iter().any(|m| {
                    Client::open(m.client)
                        .and_then(|mut c| c.call(create(&path, b"", 0)))
                        .is_some_and(|(h, _)| h.err == 0 || h.err == -110)
                })
            });
            for m in &members {
                assert!(exists_after_sync(m.client, &path), "{path} on {}", m.client);
            }
        }
    }
    assert!(forge(&members, false).is_none(), "plain text is refused once the roll is done");
    drop(members);
    let _ = std::fs::remove_dir_all(&base);
}
