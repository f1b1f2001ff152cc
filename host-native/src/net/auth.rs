//! Proof of membership on the quorum port: a challenge-response over a secret that every
//! member holds (zoo.cfg's `quorum.auth.secretFile`), so that a process which can reach the
//! port but is not a member is refused before anything it sends is read.
//!
//! The handshake, before any frame (protocol version 5; docs/FORMAT.md):
//!
//! ```text
//! dialer   -> acceptor  hello   magic "ZBKP" | version u8 | dialer id u64 LE | proves u8 | nonce_d [16]
//! acceptor -> dialer    answer  proves u8 | nonce_a [16] | tag_a [32]
//! dialer   -> acceptor  proof   tag_d [32]
//!
//! tag_x = HMAC-SHA256(secret, label_x | version | dialer id | acceptor id | nonce_d | nonce_a)
//! ```
//!
//! `proves` is 1 when the side holds a secret (and its tag is real), 0 when it holds none (and
//! sends zeros). Each side picks a fresh random nonce, so a tag recorded from one connection is
//! worth nothing on the next; the two labels differ, so a tag cannot be reflected back to the
//! side that sent its challenge; and the ids are inside the MAC, so a tag made for one pair of
//! members proves nothing for another. The secret itself never crosses the wire, and tags are
//! compared in constant time.
//!
//! What it does not give: secrecy or integrity of the frames after the handshake (someone who
//! can already read and rewrite the packets between two members is not stopped by it;
//! `sslQuorum=true` is, and the handshake then runs inside TLS), and no member can be told
//! from another (every holder of the secret may claim any member id).

use std::fmt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use hmac::{Hmac, Mac};
use sha2::Sha256;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite};
use zabkeeper_core::ids::ServerId;

/// The first bytes of every peer connection.
pub const MAGIC: &[u8; 4] = b"ZBKP";
/// 2: a PROPOSAL carries a list of entries. 3: forwarded requests are numbered per join
/// attempt, REVALIDATED carries a zxid, REFUSED, ACKEPOCH says whether it repeats a promise.
/// 4: REVALIDATE is numbered with the forwarded requests. 5: the handshake answers and proves
/// membership.
pub const VERSION: u8 = 5;
pub const NONCE_LEN: usize = 16;
pub const TAG_LEN: usize = 32;
pub const HELLO_LEN: usize = 4 + 1 + 8 + 1 + NONCE_LEN;
pub const ANSWER_LEN: usize = 1 + NONCE_LEN + TAG_LEN;
/// The whole handshake, both ways, must be done within this (a peer that stalls in it is closed).
pub const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(5);
/// A secret shorter than this is refused at start: it could be guessed.
pub const SECRET_MIN_LEN: usize = 16;
/// A secret file larger than this is not a secret file.
const SECRET_MAX_LEN: usize = 4096;

const DIALER_LABEL: &[u8] = b"zabkeeper quorum dialer";
const ACCEPTOR_LABEL: &[u8] = b"zabkeeper quorum acceptor";

type Nonce = [u8; NONCE_LEN];
type Tag = [u8; TAG_LEN];

/// What this server proves and demands on its peer links.
#[derive(Clone, Default)]
pub struct QuorumAuth {
    secret: Option<std::sync::Arc<[u8]>>,
    /// Refuse a peer that holds no secret (`quorum.auth.requireSecret`, default true). Set
    /// false only while a secret is being rolled out to the members one by one.
    required: bool,
}

impl fmt::Debug for QuorumAuth {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("QuorumAuth").field("secret", &self.secret.is_some()).field("required", &self.required).finish()
    }
}

/// Why a secret file cannot be used.
#[derive(Debug)]
pub struct SecretError {
    pub path: PathBuf,
    pub why: String,
}

impl fmt::Display for SecretError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "quorum secret {}: {}", self.path.display(), self.why)
    }
}

impl std::error::Error for SecretError {}

impl QuorumAuth {
    /// No secret: peers are taken at their word (a warning at start says so).
    pub fn none() -> QuorumAuth {
        QuorumAuth::default()
    }

    pub fn with_secret(secret: &[u8], required: bool) -> QuorumAuth {
        QuorumAuth { secret: Some(secret.into()), required }
    }

    /// Reads the secret from `path`: its bytes less surrounding whitespace, at least
    /// [`SECRET_MIN_LEN`] of them.
    pub fn from_file(path: &Path, required: bool) -> Result<QuorumAuth, SecretError> {
        let error = |why: String| SecretError { path: path.to_path_buf(), why };
        let bytes = std::fs::read(path).map_err(|e| error(format!("cannot read: {e}")))?;
        if bytes.len() > SECRET_MAX_LEN {
            return Err(error(format!("longer than {SECRET_MAX_LEN} bytes")));
        }
        let secret = bytes.trim_ascii();
        if secret.len() < SECRET_MIN_LEN {
            return Err(error(format!("shorter than {SECRET_MIN_LEN} bytes")));
        }
        Ok(QuorumAuth::with_secret(secret, required))
    }

    pub fn has_secret(&self) -> bool {
        self.secret.is_some()
    }

    fn tag(&self, label: &[u8], dialer: ServerId, acceptor: ServerId, nonce_d: &Nonce, nonce_a: &Nonce) -> Tag {
        let Some(secret) = &self.secret else { return [0; TAG_LEN] };
        mac(secret, label, dialer, acceptor, nonce_d, nonce_a).finalize().into_bytes().into()
    }

    fn verify(&self, label: &[u8], ids: (ServerId, ServerId), nonces: (&Nonce, &Nonce), tag: &[u8]) -> bool {
        let Some(secret) = &self.secret else { return false };
        mac(secret, label, ids.0, ids.1, nonces.0, nonces.1).verify_slice(tag).is_ok()
    }

    /// Whether a peer that says `proves` (with a tag that checked out or not) may talk.
    fn judge(&self, proves: bool, tag_ok: bool) -> Result<Proven, Refused> {
        match (&self.secret, proves) {
            (None, _) => Ok(Proven::No),
            (Some(_), true) if tag_ok => Ok(Proven::Yes),
            (Some(_), true) => Err(Refused::WrongSecret),
            (Some(_), false) if self.required => Err(Refused::NoSecret),
            (Some(_), false) => Ok(Proven::No),
        }
    }
}

fn mac(secret: &[u8], label: &[u8], dialer: ServerId, acceptor: ServerId, nd: &Nonce, na: &Nonce) -> Hmac<Sha256> {
    // HMAC takes a key of any length.
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(secret).expect("HMAC takes any key length");
    mac.update(label);
    mac.update(&[VERSION]);
    mac.update(&dialer.0.to_le_bytes());
    mac.update(&acceptor.0.to_le_bytes());
    mac.update(nd);
    mac.update(na);
    mac
}

/// Whether the other side of a link proved that it holds the secret.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Proven {
    Yes,
    /// It holds none, or this server holds none: allowed by the settings.
    No,
}

/// Why a peer connection was closed in its handshake.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Refused {
    /// The dial itself failed (refused, or no answer in time): the peer is down or cut off.
    Unreachable,
    Timeout,
    Closed,
    BadMagic,
    Version(u8),
    NotAMember(ServerId),
    /// It sent a tag that does not check out: it holds another secret, or none and guessed.
    WrongSecret,
    /// It holds no secret, and this server demands one.
    NoSecret,
    /// The system's random source failed.
    NoRandom,
    /// `sslQuorum`: the TLS handshake failed (no certificate the quorum trust store vouches
    /// for, or not for the host dialed).
    Tls,
    /// `sslQuorum` with hostname verification: its certificate, good as it is, is not for the
    /// host of the member it claims to be (CVE-2023-44981's class).
    NotThatMember(ServerId),
}

impl fmt::Display for Refused {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Refused::Unreachable => f.write_str("no answer"),
            Refused::Timeout => f.write_str("handshake not done in time"),
            Refused::Closed => f.write_str("closed during the handshake"),
            Refused::BadMagic => f.write_str("not a peer (bad magic)"),
            Refused::Version(v) => write!(f, "peer protocol version {v}, this server speaks {VERSION}"),
            Refused::NotAMember(id) => write!(f, "server id {id} is not a member"),
            Refused::WrongSecret => f.write_str("wrong quorum secret"),
            Refused::NoSecret => f.write_str("peer has no quorum secret (quorum.auth.requireSecret)"),
            Refused::NoRandom => f.write_str("no random nonce"),
            Refused::NotThatMember(id) => write!(f, "its certificate is not for the host of server.{id}"),
            Refused::Tls => f.write_str("TLS handshake failed"),
        }
    }
}

fn nonce() -> Result<Nonce, Refused> {
    let mut n = [0; NONCE_LEN];
    getrandom::fill(&mut n).map_err(|_| Refused::NoRandom)?;
    Ok(n)
}

async fn read<const N: usize, S: AsyncRead + Unpin>(stream: &mut S) -> Result<[u8; N], Refused> {
    let mut buf = [0; N];
    stream.read_exact(&mut buf).await.map_err(|_| Refused::Closed)?;
    Ok(buf)
}

/// The dialer's side: says who it is, checks the acceptor's proof, proves itself. `first`
/// goes out with the proof, in the same write.
pub async fn dial<S: AsyncRead + AsyncWrite + Unpin>(
    stream: &mut S,
    auth: &QuorumAuth,
    me: ServerId,
    peer: ServerId,
    first: &[u8],
) -> Result<Proven, Refused> {
    let exchange = async {
        let nonce_d = nonce()?;
        let mut hello = Vec::with_capacity(HELLO_LEN);
        hello.extend_from_slice(MAGIC);
        hello.push(VERSION);
        hello.extend_from_slice(&me.0.to_le_bytes());
        hello.push(u8::from(auth.has_secret()));
        hello.extend_from_slice(&nonce_d);
        super::send_all(stream, &hello).await.map_err(|_| Refused::Closed)?;
        let answer: [u8; ANSWER_LEN] = read(stream).await?;
        let proves = answer[0] == 1;
        let nonce_a: Nonce = answer[1..1 + NONCE_LEN].try_into().expect("sized");
        let tag_a = &answer[1 + NONCE_LEN..];
        let tag_ok = proves && auth.verify(ACCEPTOR_LABEL, (me, peer), (&nonce_d, &nonce_a), tag_a);
        let proven = auth.judge(proves, tag_ok)?;
        let mut proof = Vec::with_capacity(TAG_LEN + first.len());
        proof.extend_from_slice(&auth.tag(DIALER_LABEL, me, peer, &nonce_d, &nonce_a));
        proof.extend_from_slice(first);
        super::send_all(stream, &proof).await.map_err(|_| Refused::Closed)?;
        Ok(proven)
    };
    tokio::time::timeout(HANDSHAKE_TIMEOUT, exchange).await.map_err(|_| Refused::Timeout)?
}

/// The acceptor's side: reads who dials, proves itself, checks the dialer's proof. Returns
/// the dialer's id.
pub async fn accept<S: AsyncRead + AsyncWrite + Unpin>(
    stream: &mut S,
    auth: &QuorumAuth,
    me: ServerId,
    members: &[ServerId],
) -> Result<(ServerId, Proven), Refused> {
    let exchange = async {
        let hello: [u8; HELLO_LEN] = read(stream).await?;
        if &hello[..4] != MAGIC {
            return Err(Refused::BadMagic);
        }
        if hello[4] != VERSION {
            return Err(Refused::Version(hello[4]));
        }
        let from = ServerId(u64::from_le_bytes(hello[5..13].try_into().expect("sized")));
        if !members.contains(&from) {
            return Err(Refused::NotAMember(from));
        }
        let proves = hello[13] == 1;
        let nonce_d: Nonce = hello[14..].try_into().expect("sized");
        let nonce_a = nonce()?;
        let mut answer = Vec::with_capacity(ANSWER_LEN);
        answer.push(u8::from(auth.has_secret()));
        answer.extend_from_slice(&nonce_a);
        answer.extend_from_slice(&auth.tag(ACCEPTOR_LABEL, from, me, &nonce_d, &nonce_a));
        super::send_all(stream, &answer).await.map_err(|_| Refused::Closed)?;
        let tag_d: [u8; TAG_LEN] = read(stream).await?;
        let tag_ok = proves && auth.verify(DIALER_LABEL, (from, me), (&nonce_d, &nonce_a), &tag_d);
        Ok((from, auth.judge(proves, tag_ok)?))
    };
    tokio::time::timeout(HANDSHAKE_TIMEOUT, exchange).await.map_err(|_| Refused::Timeout)?
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::net::{TcpListener, TcpStream};

    const SECRET: &[u8] = b"a secret of the ensemble, 32 b..";

    /// Runs both sides of one handshake over loopback: (what the dialer saw, what the acceptor saw).
    async fn handshake(
        dialer: QuorumAuth,
        acceptor: QuorumAuth,
    ) -> (Result<Proven, Refused>, Result<(ServerId, Proven), Refused>) {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let accepting = tokio::spawn(async move {
            let (mut stream, _) = listener.accept().await.unwrap();
            let verdict = accept(&mut stream, &acceptor, ServerId(1), &[ServerId(1), ServerId(2)]).await;
            if verdict.is_ok() {
                // The dialer's first frame bytes follow its proof.
                let mut first = [0u8; 3];
                stream.read_exact(&mut first).await.unwrap();
                assert_eq!(&first, b"abc");
            }
            verdict
        });
        let mut stream = TcpStream::connect(addr).await.unwrap();
        let dialed = dial(&mut stream, &dialer, ServerId(2), ServerId(1), b"abc").await;
        // A refusing dialer hangs up (the link task drops the stream).
        drop(stream);
        (dialed, accepting.await.unwrap())
    }

    fn rt() -> tokio::runtime::Runtime {
        tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap()
    }

    #[test]
    fn members_with_the_same_secret_prove_it_to_each_other() {
        let (d, a) =
            rt().block_on(handshake(QuorumAuth::with_secret(SECRET, true), QuorumAuth::with_secret(SECRET, true)));
        assert_eq!(d, Ok(Proven::Yes));
        assert_eq!(a, Ok((ServerId(2), Proven::Yes)));
    }

    #[test]
    fn another_secret_is_refused_both_ways() {
        let other = QuorumAuth::with_secret(b"another secret, also long enough", true);
        let (d, a) = rt().block_on(handshake(other.clone(), QuorumAuth::with_secret(SECRET, true)));
        // The dialer sees first that the acceptor's tag is wrong, and hangs up.
        assert_eq!(d, Err(Refused::WrongSecret));
        assert_eq!(a, Err(Refused::Closed));
        let (d, a) = rt().block_on(handshake(QuorumAuth::with_secret(SECRET, false), other));
        assert_eq!(d, Err(Refused::WrongSecret), "a wrong tag is refused even while secrets are optional");
        assert!(a.is_err());
    }

    #[test]
    fn a_peer_without_a_secret_is_refused_unless_secrets_are_optional() {
        let (d, a) = rt().block_on(handshake(QuorumAuth::none(), QuorumAuth::with_secret(SECRET, true)));
        assert_eq!(d, Ok(Proven::No), "a dialer without a secret cannot check the acceptor");
        assert_eq!(a, Err(Refused::NoSecret));
        let (_, a) = rt().block_on(handshake(QuorumAuth::none(), QuorumAuth::with_secret(SECRET, false)));
        assert_eq!(a, Ok((ServerId(2), Proven::No)));
        let (d, _) = rt().block_on(handshake(QuorumAuth::with_secret(SECRET, true), QuorumAuth::none()));
        assert_eq!(d, Err(Refused::NoSecret));
        let (d, a) = rt().block_on(handshake(QuorumAuth::none(), QuorumAuth::none()));
        assert_eq!((d, a), (Ok(Proven::No), Ok((ServerId(2), Proven::No))));
    }

    #[test]
    fn a_tag_is_bound_to_its_nonces_ids_and_side() {
        let auth = QuorumAuth::with_secret(SECRET, true);
        let (nd, na) = ([1; NONCE_LEN], [2; NONCE_LEN]);
        let tag = auth.tag(DIALER_LABEL, ServerId(2), ServerId(1), &nd, &na);
        assert!(auth.verify(DIALER_LABEL, (ServerId(2), ServerId(1)), (&nd, &na), &tag));
        assert!(!auth.verify(ACCEPTOR_LABEL, (ServerId(2), ServerId(1)), (&nd, &na), &tag), "reflected");
        assert!(!auth.verify(DIALER_LABEL, (ServerId(3), ServerId(1)), (&nd, &na), &tag), "other dialer");
        assert!(!auth.verify(DIALER_LABEL, (ServerId(2), ServerId(1)), (&nd, &[3; NONCE_LEN]), &tag), "replayed");
        assert!(!auth.verify(DIALER_LABEL, (ServerId(2), ServerId(1)), (&nd, &na), &tag[..31]), "cut short");
        assert!(!QuorumAuth::none().verify(DIALER_LABEL, (ServerId(2), ServerId(1)), (&nd, &na), &[0; TAG_LEN]));
    }

    #[test]
    fn a_secret_file_is_trimmed_and_must_be_long_enough() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("secret");
        std::fs::write(&path, b"  0123456789abcdef\n").unwrap();
        let auth = QuorumAuth::from_file(&path, true).unwrap();
        assert_eq!(auth.secret.as_deref(), Some(&b"0123456789abcdef"[..]));
        assert!(!format!("{auth:?}").contains("0123"), "Debug never shows the secret");
        std::fs::write(&path, b"short\n").unwrap();
        assert!(QuorumAuth::from_file(&path, true).unwrap_err().why.contains("shorter"));
        assert!(QuorumAuth::from_file(&dir.path().join("none"), true).unwrap_err().why.contains("cannot read"));
    }
}
