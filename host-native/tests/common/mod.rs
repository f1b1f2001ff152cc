//! What the process-level tests share: free loopback ports, four-letter words, members as
//! child processes, a small blocking client speaking the wire protocol, and a stranger on the
//! quorum port.
#![allow(dead_code)]

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use zabkeeper_core::tree::Acl;
use zabkeeper_core::wire::records::{CreateRequest, PathRecord, PathWatch, ReplyHeader};
use zabkeeper_core::wire::{ConnectRequest, ConnectResponse, Jute, Reader, Request, Response, write_frame};

pub fn free_ports(n: usize) -> Vec<u16> {
    let listeners: Vec<TcpListener> = (0..n).map(|_| TcpListener::bind("127.0.0.1:0").unwrap()).collect();
    listeners.iter().map(|l| l.local_addr().unwrap().port()).collect()
}

pub fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("zabkeeper-test-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

pub fn word(addr: SocketAddr, word: &str) -> Option<String> {
    let mut s = TcpStream::connect_timeout(&addr, Duration::from_millis(500)).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(2))).ok()?;
    s.write_all(word.as_bytes()).ok()?;
    let mut out = String::new();
    s.read_to_string(&mut out).ok()?;
    Some(out)
}

/// An HTTP GET of `path` (one request, then the connection closes): the status, the
/// content type and the body.
pub fn http_get(addr: SocketAddr, path: &str) -> Option<(u16, String, String)> {
    let mut s = TcpStream::connect_timeout(&addr, Duration::from_millis(500)).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(10))).ok()?;
    write!(s, "GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n").ok()?;
    let mut raw = String::new();
    s.read_to_string(&mut raw).ok()?;
    let (head, body) = raw.split_once("\r\n\r\n")?;
    let status = head.split_whitespace().nth(1)?.parse().ok()?;
    let content_type = head
        .lines()
        .find_map(|l| l.split_once(':').filter(|(k, _)| k.eq_ignore_ascii_case("content-type")))
        .map_or(String::new(), |(_, v)| v.trim().to_string());
    Some((status, content_type, body.to_string()))
}

/// The `Mode:` line of `srvr`.
pub fn mode(addr: SocketAddr) -> Option<String> {
    let srvr = word(addr, "srvr")?;
    srvr.lines().find_map(|l| l.strip_prefix("Mode: ")).map(str::to_string)
}

/// Each member's mode as `srvr` reports it ("leader", "follower", ...), or "down".
pub fn modes(members: &[Member]) -> Vec<String> {
    members.iter().map(|m| if m.child.is_some() { mode(m.client).unwrap_or_default() } else { "down".into() }).collect()
}

/// Waits until one member leads and all the others follow.
pub fn wait_for_leader_and_followers(members: &[Member]) {
    wait_for("a leader and the others following", || {
        let m = modes(members);
        m.iter().filter(|s| *s == "leader").count() == 1 && m.iter().filter(|s| *s == "follower").count() == m.len() - 1
    });
}

pub fn wait_for(what: &str, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while Instant::now() < deadline {
        if done() {
            return;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    panic!("timed out waiting for {what}");
}

/// One server process.
pub struct Member {
    pub child: Option<Child>,
    pub config: PathBuf,
    pub client: SocketAddr,
    /// Its AdminServer (HTTP), on loopback.
    pub admin: Option<SocketAddr>,
}

impl Member {
    pub fn spawn(&mut self) {
        self.spawn_with(|_| {});
    }

    /// Starts the member with `setup` applied to its command (environment, stderr) last.
    pub fn spawn_with(&mut self, setup: impl FnOnce(&mut Command)) {
        let mut command = Command::new(env!("CARGO_BIN_EXE_zabkeeper"));
        // Its log beside its zoo.cfg (appended across restarts), for a test that fails to say why.
        let log = std::fs::OpenOptions::new().create(true).append(true).open(self.log_path());
        let stderr = log.map_or_else(|_| Stdio::null(), Stdio::from);
        command.args(["start", "--config"]).arg(&self.config).stdout(Stdio::null()).stderr(stderr);
        setup(&mut command);
        self.child = Some(command.spawn().unwrap());
    }

    /// Where [`Member::spawn`] writes the member's log.
    pub fn log_path(&self) -> PathBuf {
        self.config.with_file_name("server.log")
    }

    /// The last lines of the member's log, for a failure message.
    pub fn log_tail(&self) -> String {
        let text = std::fs::read_to_string(self.log_path()).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(20)..].join("\n")
    }

    /// Waits up to `timeout` for the member to exit on its own; its status, if it did.
    pub fn wait_exit(&mut self, timeout: Duration) -> Option<std::process::ExitStatus> {
        let deadline = Instant::now() + timeout;
        while Instant::now() < deadline {
            if let Some(status) = self.child.as_mut()?.try_wait().ok()? {
                self.child = None;
                return Some(status);
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        None
    }

    /// kill -9.
    pub fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// SIGTERM, and the exit status.
    pub fn stop(&mut self) -> Option<std::process::ExitStatus> {
        let mut c = self.child.take()?;
        Command::new("kill").arg("-TERM").arg(c.id().to_string()).status().ok()?;
        c.wait().ok()
    }
}

impl Member {
    /// Waits until the member answers `srvr` with one of `modes`.
    pub fn wait_for_mode(&self, modes: &[&str]) {
        let addr = self.client;
        wait_for(&format!("{addr} to serve"), || mode(addr).is_some_and(|m| modes.contains(&m.as_str())));
    }

    /// Stops the member (SIGTERM, or kill -9 when `hard`) and starts it again on the same
    /// config and data; a clean stop must exit 0.
    pub fn restart(&mut self, hard: bool) {
        if hard {
            self.kill();
        } else {
            let status = self.stop().expect("the member was running");
            assert!(status.success(), "a clean shutdown exits 0: {status}");
        }
        self.spawn();
        self.wait_for_mode(&["standalone", "leader", "follower", "observer"]);
    }
}

/// A standalone server on a free loopback port (tickTime 200, data in `dir/data`), serving.
pub fn standalone(dir: &Path) -> Member {
    standalone_with(dir, "4lw.commands.whitelist=ruok,srvr,stat,mntr,conf,envi,isro,cons,wchs\n")
}

/// The same, with `extra` zoo.cfg lines (a four-letter-word whitelist among them, or none).
pub fn standalone_with(dir: &Path, extra: &str) -> Member {
    let [port, admin] = free_ports(2)[..] else { unreachable!() };
    let config = dir.join("zoo.cfg");
    let text = format!(
        "tickTime=200\ndataDir={}\nclientPort={port}\nclientPortAddress=127.0.0.1\n\
         admin.serverAddress=127.0.0.1\nadmin.serverPort={admin}\n{extra}",
        dir.join("data").display()
    );
    std::fs::write(&config, text).unwrap();
    let admin = Some(SocketAddr::from(([127, 0, 0, 1], admin)));
    let mut member = Member { child: None, config, client: SocketAddr::from(([127, 0, 0, 1], port)), admin };
    member.spawn();
    member.wait_for_mode(&["standalone"]);
    member
}

impl Drop for Member {
    fn drop(&mut self) {
        self.kill();
    }
}

/// Lays out an ensemble of `n` members under `base` (tickTime 100) and returns them, not
/// started.
pub fn ensemble(base: &Path, n: usize) -> Vec<Member> {
    let ports = free_ports(4 * n);
    let mut servers = String::new();
    for i in 0..n {
        servers.push_str(&format!(
            "server.{}=127.0.0.1:{}:{};127.0.0.1:{}\n",
            i + 1,
            ports[n + i],
            ports[2 * n + i],
            ports[i]
        ));
    }
    (0..n)
        .map(|i| {
            let dir = base.join(format!("n{}", i + 1));
            std::fs::create_dir_all(dir.join("data")).unwrap();
            std::fs::write(dir.join("data/myid"), format!("{}\n", i + 1)).unwrap();
            let config = dir.join("zoo.cfg");
            let admin = ports[3 * n + i];
            let text = format!(
                "tickTime=100\ninitLimit=20\nsyncLimit=10\ndataDir={}\n4lw.commands.whitelist=*\n\
                 admin.serverAddress=127.0.0.1\nadmin.serverPort={admin}\n{servers}",
                dir.join("data").display()
            );
            std::fs::write(&config, text).unwrap();
            let admin = Some(SocketAddr::from(([127, 0, 0, 1], admin)));
            Member { child: None, config, client: SocketAddr::from(([127, 0, 0, 1], ports[i])), admin }
        })
        .collect()
}

pub struct Client {
    pub stream: TcpStream,
    pub session: i64,
    pub passwd: Vec<u8>,
    xid: i32,
}

fn read_frame(stream: &mut TcpStream) -> std::io::Result<Vec<u8>> {
    let mut len = [0u8; 4];
    stream.read_exact(&mut len)?;
    let mut body = vec![0u8; i32::from_be_bytes(len) as usize];
    stream.read_exact(&mut body)?;
    Ok(body)
}

impl Client {
    /// Handshake (a new session when `session` is 0); `None` if the server refused or is down.
    pub fn connect(
        addr: SocketAddr,
        session: i64,
        passwd: Vec<u8>,
        timeout_ms: i32,
    ) -> Option<(Client, ConnectResponse)> {
        let mut stream = TcpStream::connect_timeout(&addr, Duration::from_secs(1)).ok()?;
        stream.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
        let request = ConnectRequest {
            protocol_version: 0,
            last_zxid_seen: 0,
            timeout_ms,
            session_id: session,
            passwd: Some(passwd),
            read_only: Some(false),
        };
        let mut bytes = Vec::new();
        write_frame(&mut bytes, |b| request.encode(b));
        stream.write_all(&bytes).ok()?;
        let response = ConnectResponse::decode(&read_frame(&mut stream).ok()?).ok()?;
        let client = Client {
            stream,
            session: response.session_id,
            passwd: response.passwd.clone().unwrap_or_default(),
            xid: 1,
        };
        Some((client, response))
    }

    /// A new session on `addr`.
    pub fn open(addr: SocketAddr) -> Option<Client> {
        Client::connect(addr, 0, vec![0; 16], 6000).filter(|(_, r)| r.session_id != 0).map(|(c, _)| c)
    }

    /// Sends one request and waits for its reply (notifications are skipped).
    pub fn call(&mut self, request: Request) -> Option<(ReplyHeader, Response)> {
        let opcode = request.opcode();
        let xid = self.xid;
        self.xid += 1;
        let mut bytes = Vec::new();
        write_frame(&mut bytes, |b| request.encode(xid, b));
        self.stream.write_all(&bytes).ok()?;
        loop {
            let frame = read_frame(&mut self.stream).ok()?;
            let mut r = Reader::new(&frame);
            let header = ReplyHeader::read(&mut r).ok()?;
            if header.xid == -1 {
                continue;
            }
            assert_eq!(header.xid, xid, "replies come in request order");
            let body = Response::read(opcode, header.err, &mut r).ok()?;
            return Some((header, body));
        }
    }
}

impl Client {
    /// The header of the next reply (notifications are skipped), for requests sent with
    /// [`Client::send_only`].
    pub fn next_reply(&mut self) -> Option<ReplyHeader> {
        loop {
            let frame = read_frame(&mut self.stream).ok()?;
            let header = ReplyHeader::read(&mut Reader::new(&frame)).ok()?;
            if header.xid != -1 {
                return Some(header);
            }
        }
    }

    /// Sends `request` and does not wait for its reply.
    pub fn send_only(&mut self, request: &Request) -> std::io::Result<()> {
        let xid = self.xid;
        self.xid += 1;
        let mut bytes = Vec::new();
        write_frame(&mut bytes, |b| request.encode(xid, b));
        self.stream.write_all(&bytes)
    }

    /// [`Client::call`], which must get a reply.
    pub fn must(&mut self, request: Request) -> (ReplyHeader, Response) {
        self.call(request).expect("a reply")
    }
}

pub fn create(path: &str, data: &[u8], flags: i32) -> Request {
    Request::Create(CreateRequest { path: path.into(), data: Some(data.to_vec()), acl: Acl::open_unsafe(), flags })
}

pub fn get(path: &str) -> Request {
    Request::GetData(PathWatch { path: path.into(), watch: false })
}

pub fn sync() -> Request {
    Request::Sync(PathRecord { path: "/".into() })
}

/// Whether `path` exists on the member at `addr`, after a sync.
pub fn exists_after_sync(addr: SocketAddr, path: &str) -> bool {
    let Some(mut c) = Client::open(addr) else { return false };
    if c.call(sync()).is_none() {
        return false;
    }
    c.call(get(path)).is_some_and(|(h, _)| h.err == 0)
}

/// The peer handshake (docs/FORMAT.md): magic, protocol version.
pub const PEER_MAGIC: &[u8; 4] = b"ZBKP";
pub const PEER_VERSION: u8 = 5;
/// The acceptor's answer: proves, its nonce, its tag.
pub const PEER_ANSWER_LEN: usize = 1 + 16 + 32;

/// A member's quorum port, from its zoo.cfg's `server.<id>=host:quorum:election;client` line.
pub fn quorum_port(config: &Path, id: u64) -> u16 {
    let text = std::fs::read_to_string(config).unwrap();
    let value = text.lines().find_map(|l| l.strip_prefix(&format!("server.{id}="))).expect("a server line");
    value.split(':').nth(1).and_then(|p| p.parse().ok()).expect("a quorum port")
}

/// Dials a quorum port as server `as_id` the way a process without the members' secret can:
/// it says it holds none (`claims_secret` false) or claims one and sends a made-up tag. Returns
/// the stream after its proof, and the acceptor's answer (`None` if it hung up first).
pub fn peer_handshake(addr: SocketAddr, as_id: u64, claims_secret: bool) -> (TcpStream, Option<Vec<u8>>) {
    let mut stream = TcpStream::connect_timeout(&addr, Duration::from_secs(2)).expect("dial the quorum port");
    stream.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let mut hello = Vec::new();
    hello.extend_from_slice(PEER_MAGIC);
    hello.push(PEER_VERSION);
    hello.extend_from_slice(&as_id.to_le_bytes());
    hello.push(u8::from(claims_secret));
    hello.extend_from_slice(&[7; 16]);
    stream.write_all(&hello).expect("send the hello");
    let mut answer = vec![0; PEER_ANSWER_LEN];
    if stream.read_exact(&mut answer).is_err() {
        return (stream, None);
    }
    let tag = if claims_secret { [0xab; 32] } else { [0; 32] };
    let _ = stream.write_all(&tag);
    (stream, Some(answer))
}

/// One peer frame: length, CRC32C, then the postcard payload.
pub fn peer_frame(payload: &[u8]) -> Vec<u8> {
    let mut bytes = Vec::with_capacity(8 + payload.len());
    bytes.extend_from_slice(&(payload.len() as u32).to_le_bytes());
    bytes.extend_from_slice(&crc32c::crc32c(payload).to_le_bytes());
    bytes.extend_from_slice(payload);
    bytes
}

pub fn openssl(dir: &Path, args: &[&str]) {
    let status = Command::new("openssl").args(args).current_dir(dir).output().expect("openssl runs");
    assert!(status.status.success(), "openssl {args:?}: {}", String::from_utf8_lossy(&status.stderr));
}

/// Certificates made with `openssl` in `dir`: a CA (`ca.pem`), and signed by it a server
/// certificate for 127.0.0.1 good for both ends of a link (`server`, as members use it) and a
/// client one (`client`, subject `CN=alice,O=Test,C=NL`); and a CA of strangers (`other-ca.pem`) with a certificate
/// it signs (`stranger`). `<name>.store.pem` holds the key and the certificate (a PEM key store).
pub fn certificates(dir: &Path) {
    let ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"];
    for (ca, subject) in [("ca", "/CN=test ca"), ("other-ca", "/CN=strangers")] {
        let (key, pem) = (format!("{ca}.key"), format!("{ca}.pem"));
        let args = [&["req", "-x509"][..], &ec, &["-keyout", &key, "-out", &pem, "-days", "2", "-subj", subject]];
        openssl(dir, &args.concat());
    }
    let both_ends = "subjectAltName=IP:127.0.0.1\nextendedKeyUsage=serverAuth,clientAuth\n";
    for (name, subject, ext, ca) in [
        ("server", "/CN=localhost", both_ends, "ca"),
        ("client", "/C=NL/O=Test/CN=alice", "extendedKeyUsage=clientAuth\n", "ca"),
        ("stranger", "/CN=mallory", both_ends, "other-ca"),
    ] {
        std::fs::write(dir.join(format!("{name}.ext")), format!("basicConstraints=CA:FALSE\n{ext}")).unwrap();
        let (key, csr, pem) = (format!("{name}.key"), format!("{name}.csr"), format!("{name}.pem"));
        openssl(dir, &[&["req"][..], &ec, &["-keyout", &key, "-out", &csr, "-subj", subject]].concat());
        let (ext, ca_pem, ca_key) = (format!("{name}.ext"), format!("{ca}.pem"), format!("{ca}.key"));
        let sign = ["x509", "-req", "-in", &csr, "-CA", &ca_pem, "-CAkey", &ca_key, "-CAcreateserial", "-days", "2"];
        openssl(dir, &[&sign[..], &["-out", &pem, "-extfile", &ext]].concat());
        // ZooKeeper's PEM key store: the key and the certificate in one file.
        let store = [std::fs::read(dir.join(&key)).unwrap(), std::fs::read(dir.join(&pem)).unwrap()].concat();
        std::fs::write(dir.join(format!("{name}.store.pem")), store).unwrap();
    }
}

pub type Tls = rustls::StreamOwned<rustls::ClientConnection, TcpStream>;

/// A TLS connection trusting the test CA (`ca.pem` in `dir`), showing the certificate
/// `<cert>.pem` (key `<cert>.key`) if one is named.
pub fn tls(dir: &Path, addr: SocketAddr, cert: Option<&str>) -> Tls {
    let cert = cert.map(|name| (dir.join(format!("{name}.pem")), dir.join(format!("{name}.key"))));
    tls_trusting(&dir.join("ca.pem"), addr, cert.as_ref().map(|(c, k)| (c.as_path(), k.as_path())))
}

/// A TLS connection trusting the CA in `ca`, showing the certificate and key given, if any.
pub fn tls_trusting(ca: &Path, addr: SocketAddr, cert: Option<(&Path, &Path)>) -> Tls {
    let mut roots = rustls::RootCertStore::empty();
    roots.add(CertificateDer::from_pem_file(ca).unwrap()).unwrap();
    #[allow(deprecated)]
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots);
    let config = if let Some((cert, key)) = cert {
        let chain = vec![CertificateDer::from_pem_file(cert).unwrap()];
        let key = PrivateKeyDer::from_pem_file(key).unwrap();
        builder.with_client_auth_cert(chain, key).unwrap()
    } else {
        builder.with_no_client_auth()
    };
    let name = ServerName::try_from("127.0.0.1").unwrap();
    let conn = rustls::ClientConnection::new(Arc::new(config), name).unwrap();
    let tcp = TcpStream::connect(addr).unwrap();
    tcp.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    rustls::StreamOwned::new(conn, tcp)
}
