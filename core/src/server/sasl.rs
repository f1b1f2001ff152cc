//! SASL DIGEST-MD5 (RFC 2831), the server's half, as ZooKeeper's clients speak it over opcode
//! 102: the client opens with an empty token, the server answers with a challenge (realm,
//! nonce, qop), the client sends its digest-response, and the server, having checked it,
//! answers with `rspauth` (its own proof of knowing the password) and adds a `sasl` id named
//! after the user. Only `qop=auth` is offered: ZooKeeper's clients never ask for integrity or
//! confidentiality layers, and the transport's own TLS gives both.
//!
//! ZooKeeper fixes the server name of DIGEST-MD5 as `zk-sasl-md5` (its realm, and the host
//! part of `digest-uri`) whatever host a client dialled.

use alloc::collections::BTreeMap;
use alloc::format;
use alloc::string::String;
use alloc::vec::Vec;
use core::fmt;

use md5::{Digest, Md5};

/// The realm ZooKeeper's DIGEST-MD5 server offers and its clients put in `digest-uri`.
pub const REALM: &str = "zk-sasl-md5";
/// `digest-uri`: service `zookeeper` on host `zk-sasl-md5`.
pub const DIGEST_URI: &str = "zookeeper/zk-sasl-md5";
/// RFC 2831 bounds a digest-response at 4096 bytes.
pub const MAX_RESPONSE: usize = 4096;

/// What a server checks DIGEST-MD5 logins against: the `Server` section of a JAAS file
/// (`user_NAME="password"`) and ZooKeeper's `zookeeper.superUser`.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct SaslConfig {
    pub users: BTreeMap<String, String>,
    /// Users who, once authenticated, are also `super` (ACLs do not apply to them).
    pub super_users: Vec<String>,
    /// Drawn at random at every start (the simulator seeds it): the nonces are made from it,
    /// so that none repeats across restarts and none can be foretold.
    pub nonce_key: [u8; 32],
}

impl fmt::Debug for SaslConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Never the passwords or the key.
        f.debug_struct("SaslConfig")
            .field("users", &self.users.keys().collect::<Vec<_>>())
            .field("super_users", &self.super_users)
            .finish_non_exhaustive()
    }
}

/// Why a digest-response was refused.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SaslError {
    /// Longer than [`MAX_RESPONSE`].
    TooLong,
    /// Not a list of `name=value` directives.
    Syntax,
    /// A directive that must be there is missing, or one that may appear once is repeated.
    Directive(&'static str),
    /// A directive has a value this server does not accept (another realm, nonce, digest-uri,
    /// a qop not offered, a nonce count other than 1).
    Value(&'static str),
    /// No such user, or the response does not prove the password: told apart only in logs.
    UnknownUser,
    WrongResponse,
    /// This server has no SASL users configured.
    Disabled,
    /// A token out of turn: a first token that is not empty (DIGEST-MD5 has no initial
    /// response), or one after the exchange ended.
    OutOfTurn,
}

impl fmt::Display for SaslError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SaslError::TooLong => write!(f, "digest-response longer than {MAX_RESPONSE} bytes"),
            SaslError::Syntax => write!(f, "digest-response is not a list of directives"),
            SaslError::Directive(d) => write!(f, "directive {d} missing or repeated"),
            SaslError::Value(d) => write!(f, "directive {d} has a value this server does not accept"),
            SaslError::UnknownUser => write!(f, "unknown user"),
            SaslError::WrongResponse => write!(f, "response does not match the password"),
            SaslError::Disabled => write!(f, "SASL is not configured on this server"),
            SaslError::OutOfTurn => write!(f, "SASL token out of turn"),
        }
    }
}

/// A nonce no one can foretell and none repeats: a MAC under the start's random key of
/// the server, the connection and a count.
pub fn nonce(key: &[u8; 32], server: u64, conn: u64, count: u64) -> String {
    use hmac::{Hmac, Mac};
    let mut mac = <Hmac<sha2::Sha256> as Mac>::new_from_slice(key).expect("HMAC takes any key length");
    mac.update(b"zabkeeper sasl nonce");
    for part in [server, conn, count] {
        mac.update(&part.to_be_bytes());
    }
    hex(&mac.finalize().into_bytes()[..16])
}

/// The challenge for `nonce`, with the options Java's DIGEST-MD5 server gives ZooKeeper's.
pub fn challenge(nonce: &str) -> Vec<u8> {
    format!("realm=\"{REALM}\",nonce=\"{nonce}\",qop=\"auth\",charset=utf-8,algorithm=md5-sess").into_bytes()
}

/// What the server expects of a digest-response besides the password.
#[derive(Clone, Copy, Debug)]
pub struct Expect<'a> {
    pub realm: &'a str,
    pub digest_uri: &'a str,
    pub nonce: &'a str,
}

impl Expect<'_> {
    /// ZooKeeper's server name with `nonce`.
    pub fn zookeeper(nonce: &str) -> Expect<'_> {
        Expect { realm: REALM, digest_uri: DIGEST_URI, nonce }
    }
}

/// A checked digest-response: who it proves to be, and the server's final token.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Verified {
    pub user: String,
    /// `rspauth=...`, sent back so the client knows the server holds the password too.
    pub rspauth: Vec<u8>,
}

/// Checks a client's digest-response against `expect` and the password `password_of` gives
/// for its user.
pub fn verify<'p>(
    token: &[u8],
    expect: Expect<'_>,
    password_of: impl Fn(&str) -> Option<&'p str>,
) -> Result<Verified, SaslError> {
    if token.len() > MAX_RESPONSE {
        return Err(SaslError::TooLong);
    }
    let d = Directives::parse(token)?;
    let utf8 = match d.one("charset")? {
        None => false,
        Some(c) if c.eq_ignore_ascii_case(b"utf-8") => true,
        Some(_) => return Err(SaslError::Value("charset")),
    };
    let text = |bytes: &[u8]| -> Result<String, SaslError> {
        if utf8 {
            core::str::from_utf8(bytes).map(String::from).map_err(|_| SaslError::Syntax)
        } else {
            // Without `charset=utf-8` the strings are ISO 8859-1.
            Ok(bytes.iter().map(|&b| char::from(b)).collect())
        }
    };
    let user = text(d.one("username")?.ok_or(SaslError::Directive("username"))?)?;
    let realm = d.one("realm")?.unwrap_or_default();
    if !realm.is_empty() && realm != expect.realm.as_bytes() {
        return Err(SaslError::Value("realm"));
    }
    if d.one("nonce")?.ok_or(SaslError::Directive("nonce"))? != expect.nonce.as_bytes() {
        return Err(SaslError::Value("nonce"));
    }
    let cnonce = d.one("cnonce")?.filter(|c| !c.is_empty()).ok_or(SaslError::Directive("cnonce"))?;
    let nc = d.one("nc")?.ok_or(SaslError::Directive("nc"))?;
    // One authentication per connection: the nonce count is always 1 here.
    if nc.len() != 8 || core::str::from_utf8(nc).ok().and_then(|n| u32::from_str_radix(n, 16).ok()) != Some(1) {
        return Err(SaslError::Value("nc"));
    }
    let qop = d.one("qop")?.unwrap_or(b"auth");
    if qop != b"auth" {
        return Err(SaslError::Value("qop"));
    }
    let uri = d.one("digest-uri")?.ok_or(SaslError::Directive("digest-uri"))?;
    if !uri.eq_ignore_ascii_case(expect.digest_uri.as_bytes()) {
        return Err(SaslError::Value("digest-uri"));
    }
    let response = d.one("response")?.ok_or(SaslError::Directive("response"))?;
    let authzid = d.one("authzid")?;
    for once in ["maxbuf", "cipher"] {
        d.one(once)?;
    }

    let password = password_of(&user).ok_or(SaslError::UnknownUser)?;
    // A1 = { H(username ":" realm ":" password) } ":" nonce ":" cnonce [ ":" authzid ]
    let mut inner = Md5::new();
    inner.update(hashed_form(&user, utf8));
    inner.update(b":");
    inner.update(realm);
    inner.update(b":");
    inner.update(hashed_form(password, utf8));
    let mut a1 = Md5::new();
    a1.update(inner.finalize());
    a1.update(b":");
    a1.update(expect.nonce.as_bytes());
    a1.update(b":");
    a1.update(cnonce);
    if let Some(authzid) = authzid {
        a1.update(b":");
        a1.update(authzid);
    }
    let ha1 = hex(&a1.finalize());
    let proof = |a2_prefix: &[u8]| {
        let mut a2 = Md5::new();
        a2.update(a2_prefix);
        a2.update(b":");
        a2.update(uri);
        let ha2 = hex(&a2.finalize());
        let mut kd = Md5::new();
        for part in [ha1.as_bytes(), expect.nonce.as_bytes(), nc, cnonce, qop] {
            kd.update(part);
            kd.update(b":");
        }
        kd.update(ha2.as_bytes());
        hex(&kd.finalize())
    };
    let expected = proof(b"AUTHENTICATE");
    if !equal_ignoring_case(response, expected.as_bytes()) {
        return Err(SaslError::WrongResponse);
    }
    let rspauth = format!("rspauth={}", proof(b"")).into_bytes();
    Ok(Verified { user, rspauth })
}

/// RFC 2831: with `charset=utf-8`, a string whose every character is in ISO 8859-1 is hashed
/// in that encoding; any other string as UTF-8.
fn hashed_form(s: &str, _utf8: bool) -> Vec<u8> {
    // (Without it the client's strings came as ISO 8859-1 and are held so; a password of
    // other characters is hashed as UTF-8, never cut down to bytes.)
    if !s.chars().all(|c| u32::from(c) <= 0xff) {
        return s.as_bytes().to_vec();
    }
    s.chars().map(|c| c as u8).collect()
}

fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    bytes.iter().flat_map(|b| [DIGITS[usize::from(b >> 4)] as char, DIGITS[usize::from(b & 15)] as char]).collect()
}

/// Compares in time that depends on the lengths only.
fn equal_ignoring_case(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len()
        && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x.to_ascii_lowercase() ^ y.to_ascii_lowercase())) == 0
}

/// `name=value` pairs separated by commas, a value a token or a quoted string with `\`
/// escapes (RFC 2831 section 7.1).
struct Directives {
    pairs: Vec<(Vec<u8>, Vec<u8>)>,
}

impl Directives {
    fn parse(token: &[u8]) -> Result<Directives, SaslError> {
        let mut pairs = Vec::new();
        let mut rest = token;
        loop {
            rest = skip_blank(rest);
            // Empty elements (`a=b,,c=d`) are allowed.
            if let Some(tail) = rest.strip_prefix(b",") {
                rest = tail;
                continue;
            }
            if rest.is_empty() {
                break;
            }
            let name_end = rest.iter().position(|&b| b == b'=' || b == b',' || is_blank(b)).unwrap_or(rest.len());
            let name = rest[..name_end].to_ascii_lowercase();
            rest = skip_blank(&rest[name_end..]);
            rest = rest.strip_prefix(b"=").ok_or(SaslError::Syntax)?;
            rest = skip_blank(rest);
            if name.is_empty() {
                return Err(SaslError::Syntax);
            }
            let mut value = Vec::new();
            if let Some(quoted) = rest.strip_prefix(b"\"") {
                let mut i = 0;
                loop {
                    match quoted.get(i) {
                        None => return Err(SaslError::Syntax),
                        Some(b'"') => break,
                        Some(b'\\') => {
                            value.push(*quoted.get(i + 1).ok_or(SaslError::Syntax)?);
                            i += 2;
                        }
                        Some(&b) => {
                            value.push(b);
                            i += 1;
                        }
                    }
                }
                rest = &quoted[i + 1..];
            } else {
                let end = rest.iter().position(|&b| b == b',' || is_blank(b)).unwrap_or(rest.len());
                value.extend_from_slice(&rest[..end]);
                rest = &rest[end..];
            }
            rest = skip_blank(rest);
            if !rest.is_empty() {
                rest = rest.strip_prefix(b",").ok_or(SaslError::Syntax)?;
            }
            pairs.push((name, value));
        }
        Ok(Directives { pairs })
    }

    /// The value of a directive that may appear at most once.
    fn one(&self, name: &'static str) -> Result<Option<&[u8]>, SaslError> {
        let mut found = self.pairs.iter().filter(|(n, _)| n == name.as_bytes());
        let first = found.next();
        if found.next().is_some() {
            return Err(SaslError::Directive(name));
        }
        Ok(first.map(|(_, v)| v.as_slice()))
    }
}

fn is_blank(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\r' | b'\n')
}

fn skip_blank(mut s: &[u8]) -> &[u8] {
    while let [b, tail @ ..] = s {
        if !is_blank(*b) {
            break;
        }
        s = tail;
    }
    s
}

/// A client's digest-response, made the way RFC 2831 says a client makes it (for tests).
#[cfg(test)]
pub(crate) fn client_response(user: &str, password: &str, nonce: &str, extra: &str) -> Vec<u8> {
    let cnonce = "c1i2e3n4t5";
    let mut inner = Md5::new();
    inner.update(format!("{user}:{REALM}:{password}"));
    let mut a1 = Md5::new();
    a1.update(inner.finalize());
    a1.update(format!(":{nonce}:{cnonce}"));
    let ha1 = hex(&a1.finalize());
    let ha2 = hex(&Md5::digest(format!("AUTHENTICATE:{DIGEST_URI}")));
    let response = hex(&Md5::digest(format!("{ha1}:{nonce}:00000001:{cnonce}:auth:{ha2}")));
    format!(
        "charset=utf-8,username=\"{user}\",realm=\"{REALM}\",nonce=\"{nonce}\",nc=00000001,cnonce=\"{cnonce}\",\
         digest-uri=\"{DIGEST_URI}\",maxbuf=65536,response={response},qop=auth{extra}"
    )
    .into_bytes()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The example of RFC 2831 section 4 (an IMAP login), response and rspauth included.
    #[test]
    fn rfc_2831_example() {
        let response = br#"charset=utf-8,username="chris",realm="elwood.innosoft.com",nonce="OA6MG9tEQGm2hh",nc=00000001,cnonce="OA6MHXh6VqTrRk",digest-uri="imap/elwood.innosoft.com",response=d388dad90d4bbd760a152321f2143af7,qop=auth"#;
        let expect =
            Expect { realm: "elwood.innosoft.com", digest_uri: "imap/elwood.innosoft.com", nonce: "OA6MG9tEQGm2hh" };
        let ok = verify(response, expect, |u| (u == "chris").then_some("secret")).unwrap();
        assert_eq!(ok.user, "chris");
        assert_eq!(ok.rspauth, b"rspauth=ea40f60335c427b5527b84dbabcdfffd");
        assert_eq!(verify(response, expect, |_| Some("Secret")), Err(SaslError::WrongResponse));
        assert_eq!(verify(response, expect, |_| None), Err(SaslError::UnknownUser));
        let other = Expect { nonce: "OA6MG9tEQGm2hi", ..expect };
        assert_eq!(verify(response, other, |_| Some("secret")), Err(SaslError::Value("nonce")));
    }

    #[test]
    fn zookeeper_login_and_refusals() {
        let users = |u: &str| (u == "bob").then_some("bobsecret");
        let nonce = "0123456789abcdef0123456789abcdef";
        let good = client_response("bob", "bobsecret", nonce, "");
        assert_eq!(verify(&good, Expect::zookeeper(nonce), users).unwrap().user, "bob");
        let wrong = client_response("bob", "guess", nonce, "");
        assert_eq!(verify(&wrong, Expect::zookeeper(nonce), users), Err(SaslError::WrongResponse));
        let stranger = client_response("eve", "bobsecret", nonce, "");
        assert_eq!(verify(&stranger, Expect::zookeeper(nonce), users), Err(SaslError::UnknownUser));
        // A replayed response is bound to the nonce it answered.
        assert_eq!(verify(&good, Expect::zookeeper("ffff"), users), Err(SaslError::Value("nonce")));
        let twice = client_response("bob", "bobsecret", nonce, ",qop=auth");
        assert_eq!(verify(&twice, Expect::zookeeper(nonce), users), Err(SaslError::Directive("qop")));
        let int = String::from_utf8(good.clone()).unwrap().replace("qop=auth", "qop=auth-int");
        assert_eq!(verify(int.as_bytes(), Expect::zookeeper(nonce), users), Err(SaslError::Value("qop")));
        let uri = String::from_utf8(good.clone()).unwrap().replace(DIGEST_URI, "zookeeper/elsewhere");
        assert_eq!(verify(uri.as_bytes(), Expect::zookeeper(nonce), users), Err(SaslError::Value("digest-uri")));
        let nc = String::from_utf8(good.clone()).unwrap().replace("nc=00000001", "nc=00000002");
        assert_eq!(verify(nc.as_bytes(), Expect::zookeeper(nonce), users), Err(SaslError::Value("nc")));
        let long = [b'a'; MAX_RESPONSE + 1];
        assert_eq!(verify(&long, Expect::zookeeper(nonce), users), Err(SaslError::TooLong));
    }

    #[test]
    fn nonces_differ() {
        let key = [7; 32];
        let a = nonce(&key, 1, 1, 0);
        assert_eq!(a.len(), 32);
        assert!(a.bytes().all(|b| b.is_ascii_hexdigit()));
        assert_ne!(a, nonce(&key, 1, 1, 1));
        assert_ne!(a, nonce(&key, 2, 1, 0));
        assert_ne!(a, nonce(&[8; 32], 1, 1, 0));
    }

    #[test]
    fn directive_syntax() {
        let d = Directives::parse(br#" a = "x\"y" ,, B=tok ,c="" "#).unwrap();
        assert_eq!(d.one("a").unwrap(), Some(&b"x\"y"[..]));
        assert_eq!(d.one("b").unwrap(), Some(&b"tok"[..]));
        assert_eq!(d.one("c").unwrap(), Some(&b""[..]));
        assert_eq!(d.one("d").unwrap(), None);
        for bad in [&br#"a="unterminated"#[..], b"a", b"=b", b"a=b c=d", br#"a="x\"#] {
            assert!(Directives::parse(bad).is_err(), "{:?}", core::str::from_utf8(bad));
        }
        // Nothing that is not a digest-response panics.
        for junk in [&b"\xff\xfe"[..], b"username=\xff", b",,,,", b"response"] {
            let _ = verify(junk, Expect::zookeeper("n"), |_| Some("p"));
        }
    }

    #[test]
    fn latin1_names_hash_as_latin1() {
        assert_eq!(hashed_form("Müller", true), b"M\xfcller");
        assert_eq!(hashed_form("ключ", true), "ключ".as_bytes());
        assert_eq!(hashed_form("plain", false), b"plain");
    }
}
