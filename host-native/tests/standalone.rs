//! The real binary as a standalone server on loopback: a client speaking the wire protocol
//! over TCP, four-letter words, restarts (clean and kill -9) that keep every acknowledged
//! write, and garbage that only costs its sender the connection.

mod common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use common::{Client, create, get, mode, word};
use zabkeeper_core::wire::Request;
use zabkeeper_core::wire::Response;
use zabkeeper_core::wire::records::{PathVersion, PathWatch};

fn data_of(body: &Response) -> Vec<u8> {
    match body {
        Response::GetData(r) => r.data.clone().unwrap_or_default(),
        other => panic!("not getData: {other:?}"),
    }
}

#[test]
fn a_standalone_server_serves_clients_and_keeps_acknowledged_writes_across_restarts() {
    let dir = common::scratch("standalone");
    let mut server = common::standalone(&dir);
    let srvr = word(server.client, "srvr").unwrap();
    assert!(srvr.starts_with("Zookeeper version: 3.8.0-zabkeeper-"), "{srvr}");
    assert_eq!(word(server.client, "isro").as_deref(), Some("rw"));
    assert!(word(server.client, "dump").unwrap().contains("not in the whitelist"));

    let (mut c, hello) = Client::connect(server.client, 0, vec![0; 16], 4000).unwrap();
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
    server.restart(false);
    let (mut c, back) = Client::connect(server.client, session, passwd.clone(), 4000).unwrap();
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
    server.restart(true);
    let (mut c, _) = Client::connect(server.client, 0, vec![0; 16], 4000).unwrap();
    for i in 0..20 {
        assert_eq!(data_of(&c.must(get(&format!("/hard{i}"))).1), b"y", "/hard{i} lost by kill -9");
    }
    let mntr = word(server.client, "mntr").unwrap();
    assert!(mntr.contains("zk_server_state\tstandalone"), "{mntr}");
    drop(server);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn garbage_closes_only_its_own_connection() {
    let dir = common::scratch("garbage");
    let server = common::standalone(&dir);
    let (mut good, _) = Client::connect(server.client, 0, vec![0; 16], 4000).unwrap();
    for junk in [&b"\xff\xff\xff\xff"[..], b"\x00\x00\x00\x05hello", b"\x7f\x00\x00\x00", b"GET / HTTP/1.1\r\n\r\n"] {
        let mut bad = TcpStream::connect(server.client).unwrap();
        bad.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        bad.write_all(junk).unwrap();
        let mut rest = Vec::new();
        // The server closes it (EOF) or answers and closes: either way the read ends.
        let _ = bad.read_to_end(&mut rest);
    }
    assert_eq!(good.must(create("/still-here", b"", 0)).0.err, 0);
    assert_eq!(mode(server.client).as_deref(), Some("standalone"));
    drop(server);
    let _ = std::fs::remove_dir_all(&dir);
}

/// CVE-2017-5637 (ZooKeeper 3.4.10 and 3.5.3): `wchp` and `wchc` could be sent by anyone to
/// keep a server busy, and other words tell a stranger about the server's clients and setup.
/// As since then in ZooKeeper, a server on its embedded whitelist answers only `srvr`; every
/// other word gets the refusal line, and the connection closes.
#[test]
fn cve_2017_5637_only_whitelisted_words_are_answered() {
    let dir = common::scratch("words-default");
    let server = common::standalone_with(&dir, "");
    for w in ["wchp", "wchc", "wchs", "cons", "dump", "stat", "mntr", "envi", "conf", "crst", "srst", "ruok", "isro"] {
        let answer = word(server.client, w).unwrap_or_default();
        assert_eq!(answer, format!("{w} is not executed because it is not in the whitelist.\n"));
    }
    assert!(word(server.client, "srvr").unwrap().contains("Mode: standalone"));
    drop(server);
    let _ = std::fs::remove_dir_all(&dir);
}

/// `enforce.auth.enabled`: a session that has not authenticated by digest gets
/// SessionClosedRequireSaslAuth (-124) and its connection closes; one that did is served.
#[test]
fn enforced_authentication_on_a_real_server() {
    use zabkeeper_core::wire::records::AuthPacket;
    let dir = common::scratch("enforce-auth");
    let server = common::standalone_with(&dir, "enforce.auth.enabled=true\nenforce.auth.schemes=digest\n");
    let mut stranger = Client::open(server.client).expect("a session");
    assert_eq!(stranger.call(get("/")).map(|(h, _)| h.err), Some(-124));
    let mut rest = Vec::new();
    let _ = stranger.stream.read_to_end(&mut rest);
    assert!(rest.is_empty(), "closed after the answer");

    let mut alice = Client::open(server.client).expect("a session");
    let auth = AuthPacket { auth_type: 0, scheme: "digest".into(), auth: Some(b"alice:secret".to_vec()) };
    let mut bytes = Vec::new();
    zabkeeper_core::wire::write_frame(&mut bytes, |b| Request::Auth(auth).encode(-4, b));
    alice.stream.write_all(&bytes).unwrap();
    let answer = alice.next_reply().expect("the addauth answer");
    assert_eq!((answer.xid, answer.err), (-4, 0));
    assert_eq!(alice.must(create("/ok", b"v", 0)).0.err, 0, "authenticated: served");
    drop(server);
    let _ = std::fs::remove_dir_all(&dir);
}

/// The words that report on clients and requests give real values in ZooKeeper 3.8's layout:
/// `srvr`'s latencies and counters, `cons` with the session, last operation, cxid and zxid,
/// `wchc`/`wchp` by session and by path, `dump`'s ephemerals, `dirs`' sizes, `gtmk`; and
/// `crst` and `srst` reset what they should.
#[test]
fn four_letter_words_report_real_values() {
    let dir = common::scratch("words-values");
    let server = common::standalone_with(&dir, "4lw.commands.whitelist=*\n");
    let mut c = Client::open(server.client).expect("a session");
    let sid = format!("0x{:x}", c.session);
    assert_eq!(c.must(create("/w", b"data", 0)).0.err, 0);
    assert_eq!(c.must(create("/w/e", b"", 1)).0.err, 0);
    c.must(Request::GetData(PathWatch { path: "/w".into(), watch: true }));
    for _ in 0..10 {
        c.must(get("/w"));
    }
    let field = |text: &str, key: &str| -> String {
        text.lines()
            .find_map(|l| l.strip_prefix(key))
            .unwrap_or_else(|| panic!("no {key} in {text}"))
            .trim()
            .to_string()
    };

    let srvr = word(server.client, "srvr").unwrap();
    let latency: Vec<String> = field(&srvr, "Latency min/avg/max:").split('/').map(String::from).collect();
    assert_eq!(latency.len(), 3, "{srvr}");
    let (min, avg, max): (u64, f64, u64) =
        (latency[0].parse().unwrap(), latency[1].parse().unwrap(), latency[2].parse().unwrap());
    assert!(min as f64 <= avg && avg <= max as f64, "{srvr}");
    assert!(field(&srvr, "Received:").parse::<u64>().unwrap() >= 14, "{srvr}");
    assert_eq!(field(&srvr, "Outstanding:"), "0");

    let cons = word(server.client, "cons").unwrap();
    let line = cons.lines().find(|l| l.contains(&sid)).unwrap_or_else(|| panic!("{sid} not in {cons}"));
    for part in ["[1](queued=0,recved=14,sent=14,", "lop=GETD,", "to=", "lcxid=0x", "lzxid=0x", "maxlat="] {
        assert!(line.contains(part), "{part} not in {line}");
    }
    assert_eq!(word(server.client, "wchc").unwrap(), format!("{sid}\n\t/w\n\n"));
    assert_eq!(word(server.client, "wchp").unwrap(), format!("/w\n\t{sid}\n\n"));
    let dump = word(server.client, "dump").unwrap();
    assert!(dump.contains(&format!("Sessions with Ephemerals (1):\n{sid}:\n\t/w/e\n")), "{dump}");
    assert!(dump.starts_with("SessionTracker dump:\nSession Sets ("), "{dump}");
    assert!(dump.contains(" expire at ") && dump.contains(&format!("\t{sid}\n")), "{dump}");
    let dirs = word(server.client, "dirs").unwrap();
    assert!(field(&dirs, "datadir_size:").parse::<u64>().unwrap() > 0, "{dirs}");
    assert_eq!(word(server.client, "gtmk").as_deref(), Some("306"));
    let mntr = word(server.client, "mntr").unwrap();
    for key in ["zk_avg_latency\t", "zk_max_latency\t", "zk_approximate_data_size\t", "zk_uptime\t"] {
        assert!(mntr.contains(key), "{key} not in {mntr}");
    }

    assert_eq!(word(server.client, "crst").as_deref(), Some("Connection stats reset.\n"));
    let cons = word(server.client, "cons").unwrap();
    assert!(cons.contains("recved=0,sent=0,"), "{cons}");
    assert_eq!(word(server.client, "srst").as_deref(), Some("Server stats reset.\n"));
    let srvr = word(server.client, "srvr").unwrap();
    assert_eq!(field(&srvr, "Received:"), "0", "{srvr}");
    assert_eq!(field(&srvr, "Latency min/avg/max:"), "0/0.0/0", "{srvr}");
    drop(c);
    drop(server);
    let _ = std::fs::remove_dir_all(&dir);
}

/// ZooKeeper 3.8's answer to `word`, as captured from Debian's server (tests/wire/golden).
fn golden(word: &str) -> String {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(format!("../tests/wire/golden/4lw-{word}.json"));
    let fixture: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    let hex = fixture["s2c"].as_str().unwrap();
    let bytes: Vec<u8> = (0..hex.len()).step_by(2).map(|i| u8::from_str_radix(&hex[i..i + 2], 16).unwrap()).collect();
    String::from_utf8(bytes).unwrap()
}

/// A line with its values blanked: hex after `0x` becomes `H`, numbers (with a fraction) `N`.
fn shape(line: &str) -> String {
    let mut out = String::new();
    let mut chars = line.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '0' && chars.peek() == Some(&'x') {
            chars.next();
            while chars.next_if(char::is_ascii_hexdigit).is_some() {}
            out.push_str("0xH");
        } else if c.is_ascii_digit() {
            while chars.next_if(|c| c.is_ascii_digit() || *c == '.').is_some() {}
            out.push('N');
        } else {
            out.push(c);
        }
    }
    out
}

/// The layouts that scripts parse, line by line against Apache ZooKeeper 3.8's captures:
/// `srvr` and `stat` (all but the version's text), `dirs`, `wchp` and `wchc` (a path or a
/// session per line, a blank line at the end), `dump`'s ephemeral section headings; every
/// `mntr` key is one ZooKeeper prints, with a number for a value.
#[test]
fn four_letter_word_layouts_match_zookeeper_3_8() {
    let dir = common::scratch("words-layout");
    let server = common::standalone_with(&dir, "4lw.commands.whitelist=*\n");
    let mut c = Client::open(server.client).expect("a session");
    assert_eq!(c.must(create("/zk", b"", 0)).0.err, 0);
    c.must(Request::GetData(PathWatch { path: "/zk".into(), watch: true }));
    let ours = |w: &str| word(server.client, w).unwrap();
    let shapes = |text: &str| text.lines().skip(1).map(shape).collect::<Vec<_>>();
    for w in ["srvr", "stat"] {
        let (theirs, mine) = (golden(w), ours(w));
        assert!(mine.starts_with("Zookeeper version: ") && theirs.starts_with("Zookeeper version: "));
        let mut mine = shapes(&mine);
        if w == "stat" {
            // The connection asking is not a client here; the session is.
            mine.retain(|l| !l.starts_with(" /"));
        }
        let theirs: Vec<_> = shapes(&theirs).into_iter().filter(|l| !l.starts_with(" /")).collect();
        assert_eq!(mine, theirs, "{w}");
    }
    assert_eq!(shapes(&format!("\n{}", ours("dirs"))), shapes(&format!("\n{}", golden("dirs"))));
    let keys = |text: &str| text.lines().map(|l| l.split('=').next().unwrap_or("").to_string()).collect::<Vec<_>>();
    assert_eq!(keys(&ours("conf")), keys(&golden("conf")), "conf");
    for w in ["wchp", "wchc"] {
        let (theirs, mine) = (golden(w), ours(w));
        assert!(theirs.ends_with("\n\n") && mine.ends_with("\n\n"), "{w}: {mine:?}");
        let kinds = |text: &str| -> std::collections::BTreeSet<String> {
            text.lines()
                .filter(|l| !l.is_empty())
                .map(|l| shape(&l.replace(|c: char| c.is_alphabetic(), "a")))
                .collect()
        };
        let (theirs, mine) = (kinds(&theirs), kinds(&mine));
        assert!(mine.iter().all(|k| theirs.iter().any(|t| t.starts_with(&k[..2]))), "{w}: {mine:?} vs {theirs:?}");
    }
    let dump = ours("dump");
    for heading in ["SessionTracker dump:", "Session Sets (", "ephemeral nodes dump:", "Sessions with Ephemerals ("] {
        assert!(dump.contains(heading) && golden("dump").contains(heading), "{heading}");
    }
    let theirs: std::collections::BTreeSet<String> =
        golden("mntr").lines().filter_map(|l| l.split('\t').next()).map(String::from).collect();
    for line in ours("mntr").lines() {
        let (key, value) = line.split_once('\t').unwrap_or_else(|| panic!("not key\\tvalue: {line:?}"));
        assert!(theirs.contains(key), "ZooKeeper 3.8 prints no {key}");
        if !["zk_version", "zk_server_state"].contains(&key) {
            assert!(value.parse::<f64>().is_ok(), "{key}: {value}");
        }
    }
    drop(c);
    drop(server);
    let _ = std::fs::remove_dir_all(&dir);
}
