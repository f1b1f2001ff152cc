//! Who a request acts as, and ZooKeeper's ACL rules: `fixupACL` on create/setACL and `checkACL`
//! on every guarded operation (PrepRequestProcessor, FinalRequestProcessor).
//!
//! Built-in providers, as in a default ZooKeeper 3.8: `world` (only `world:anyone`), `auth`
//! (expanded at set time), `digest` and `ip`. A session authenticated as `super` passes every
//! check.

use alloc::sync::Arc;
use alloc::vec::Vec;
use core::net::IpAddr;

use crate::error::ErrorCode;
use crate::ids::SessionId;
use crate::tree::{Acl, Id};

/// The identity a request runs with.
#[derive(Clone, Debug, Default)]
pub struct AuthContext {
    pub session: SessionId,
    /// Every id the connection has authenticated as, including its automatic `ip:<address>`.
    /// Shared with the connection and its queued requests (it changes only on addAuth).
    pub ids: Arc<Vec<Id>>,
}

impl AuthContext {
    pub fn new(session: SessionId) -> AuthContext {
        AuthContext { session, ids: Arc::default() }
    }

    pub fn with_id(mut self, scheme: &str, id: &str) -> AuthContext {
        Arc::make_mut(&mut self.ids).push(Id::new(scheme, id));
        self
    }

    pub fn is_super(&self) -> bool {
        self.ids.iter().any(|id| id.scheme == "super")
    }
}

/// `checkACL`: may `auth` do `perm` on a node with `acl`? An empty ACL allows everything.
pub fn check_acl(auth: &AuthContext, acl: &[Acl], perm: i32, skip_acl: bool) -> Result<(), ErrorCode> {
    if skip_acl || acl.is_empty() || auth.is_super() {
        return Ok(());
    }
    let granted = acl.iter().filter(|a| a.perms & perm != 0).any(|a| {
        if a.id.scheme == "world" && a.id.id == "anyone" {
            return true;
        }
        auth.ids.iter().any(|have| have.scheme == a.id.scheme && id_matches(&a.id.scheme, &have.id, &a.id.id))
    });
    if granted { Ok(()) } else { Err(ErrorCode::NoAuth) }
}

fn id_matches(scheme: &str, have: &str, pattern: &str) -> bool {
    match scheme {
        "ip" => ip_matches(have, pattern),
        "digest" | "x509" => have == pattern,
        // SASLAuthenticationProvider.matches: a user named `super` passes every sasl entry.
        "sasl" => have == pattern || have == "super",
        _ => false,
    }
}

/// `fixupACL`: validates an ACL list for create/setACL, removes duplicates and expands `auth`
/// entries into the session's authenticated ids. Any problem is `InvalidACL`.
pub fn fixup_acl(auth: &AuthContext, acl: Vec<Acl>, sasl_acls: bool) -> Result<Vec<Acl>, ErrorCode> {
    let mut unique: Vec<Acl> = Vec::with_capacity(acl.len());
    for a in acl {
        if !unique.contains(&a) {
            unique.push(a);
        }
    }
    if unique.is_empty() {
        return Err(ErrorCode::InvalidAcl);
    }
    let mut out = Vec::with_capacity(unique.len());
    for a in unique {
        match a.id.scheme.as_str() {
            "world" if a.id.id == "anyone" => out.push(a),
            "auth" => {
                let mut any = false;
                for id in auth.ids.iter().filter(|id| is_authenticated_scheme(&id.scheme)) {
                    any = true;
                    out.push(Acl { perms: a.perms, id: id.clone() });
                }
                if !any {
                    return Err(ErrorCode::InvalidAcl);
                }
            }
            "digest" if digest_id_is_valid(&a.id.id) => out.push(a),
            "ip" if parse_ip_pattern(&a.id.id).is_some() => out.push(a),
            // A distinguished name, `CN=alice,O=Example` (ZooKeeper takes what X500Principal parses).
            "x509" if a.id.id.contains('=') => out.push(a),
            "sasl" if sasl_acls && kerberos_name_is_valid(&a.id.id) => out.push(a),
            _ => return Err(ErrorCode::InvalidAcl),
        }
    }
    Ok(out)
}

/// `SASLAuthenticationProvider.isValid`: what Kerberos takes as a principal,
/// `name[/host][@REALM]`, each part non-empty.
fn kerberos_name_is_valid(id: &str) -> bool {
    let (principal, realm) = id.split_once('@').unwrap_or((id, "x"));
    let (name, host) = principal.split_once('/').unwrap_or((principal, "x"));
    [name, host, realm].iter().all(|p| !p.is_empty() && !p.contains(['/', '@']))
}

/// Schemes whose ids stand for an authenticated principal (`isAuthenticated()`); `ip` does not.
fn is_authenticated_scheme(scheme: &str) -> bool {
    matches!(scheme, "digest" | "x509" | "sasl")
}

/// `DigestAuthenticationProvider.isValid`: Java's `id.split(":")` has exactly two parts
/// (trailing empty parts dropped).
fn digest_id_is_valid(id: &str) -> bool {
    let mut parts: Vec<&str> = id.split(':').collect();
    while parts.last() == Some(&"") {
        parts.pop();
    }
    parts.len() == 2
}

/// An `ip` ACL id: an address, optionally `/bits`.
fn parse_ip_pattern(pattern: &str) -> Option<(IpAddr, u32)> {
    let (addr, bits) = match pattern.split_once('/') {
        Some((addr, bits)) => (addr, Some(bits)),
        None => (pattern, None),
    };
    let addr: IpAddr = addr.parse().ok()?;
    let width = if addr.is_ipv4() { 32 } else { 128 };
    let bits = match bits {
        Some(bits) => bits.parse::<u32>().ok().filter(|&b| b <= width)?,
        None => width,
    };
    Some((addr, bits))
}

fn ip_matches(have: &str, pattern: &str) -> bool {
    let (Some((net, bits)), Ok(addr)) = (parse_ip_pattern(pattern), have.parse::<IpAddr>()) else {
        return false;
    };
    match (net, addr) {
        (IpAddr::V4(net), IpAddr::V4(addr)) => prefix_eq(u32::from(net).into(), u32::from(addr).into(), bits, 32),
        (IpAddr::V6(net), IpAddr::V6(addr)) => prefix_eq(u128::from(net), u128::from(addr), bits, 128),
        _ => false,
    }
}

fn prefix_eq(a: u128, b: u128, bits: u32, width: u32) -> bool {
    if bits == 0 {
        return true;
    }
    let shift = width - bits;
    (a >> shift) == (b >> shift)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tree::perms;

    #[test]
    fn world_anyone_digest_ip_and_super() {
        let nobody = AuthContext::new(SessionId(1));
        let alice = AuthContext::new(SessionId(2)).with_id("digest", "alice:hash");
        let local = AuthContext::new(SessionId(3)).with_id("ip", "127.0.0.1");
        let root = AuthContext::new(SessionId(4)).with_id("super", "");
        let acl = [Acl::new(perms::READ, "digest", "alice:hash"), Acl::new(perms::ALL, "ip", "127.0.0.0/8")];
        assert_eq!(check_acl(&nobody, &acl, perms::READ, false), Err(ErrorCode::NoAuth));
        assert_eq!(check_acl(&alice, &acl, perms::READ, false), Ok(()));
        assert_eq!(check_acl(&alice, &acl, perms::WRITE, false), Err(ErrorCode::NoAuth));
        assert_eq!(check_acl(&local, &acl, perms::DELETE, false), Ok(()));
        assert_eq!(check_acl(&root, &acl, perms::ADMIN, false), Ok(()));
        assert_eq!(check_acl(&nobody, &[], perms::ADMIN, false), Ok(()));
        assert_eq!(check_acl(&nobody, &acl, perms::ADMIN, true), Ok(()));
        assert_eq!(check_acl(&nobody, &Acl::read_unsafe(), perms::READ, false), Ok(()));
    }

    #[test]
    fn fixup_follows_zookeeper() {
        let nobody = AuthContext::new(SessionId(1)).with_id("ip", "127.0.0.1");
        let alice = nobody.clone().with_id("digest", "alice:hash");
        assert_eq!(fixup_acl(&nobody, Vec::new(), false), Err(ErrorCode::InvalidAcl));
        assert_eq!(fixup_acl(&nobody, Acl::creator_all(), false), Err(ErrorCode::InvalidAcl));
        assert_eq!(fixup_acl(&alice, Acl::creator_all(), false), Ok(alloc::vec![Acl::new(31, "digest", "alice:hash")]));
        let twice = alloc::vec![Acl::new(1, "world", "anyone"), Acl::new(1, "world", "anyone")];
        assert_eq!(fixup_acl(&nobody, twice, false), Ok(Acl::read_unsafe()));
        for bad in [
            ("world", "someone"),
            ("digest", "nocolon"),
            ("digest", "a:b:c"),
            ("ip", "300.1.1.1"),
            ("ip", "10.0.0.0/33"),
            ("x509", "nonsense"),
            ("sasl", "alice"),
        ] {
            assert_eq!(
                fixup_acl(&nobody, alloc::vec![Acl::new(31, bad.0, bad.1)], false),
                Err(ErrorCode::InvalidAcl),
                "{bad:?}"
            );
        }
        for good in [
            ("digest", "a:b"),
            ("digest", ":b"),
            ("ip", "10.1.2.3"),
            ("ip", "10.0.0.0/8"),
            ("ip", "::1"),
            ("x509", "CN=a,O=b"),
        ] {
            assert!(fixup_acl(&nobody, alloc::vec![Acl::new(31, good.0, good.1)], false).is_ok(), "{good:?}");
        }
        // With the SASL provider: Kerberos-shaped names only.
        for (id, ok) in [
            ("bob", true),
            ("zk/host@EXAMPLE.COM", true),
            ("a@b", true),
            ("", false),
            ("a/", false),
            ("a@b@c", false),
            ("@R", false),
        ] {
            assert_eq!(fixup_acl(&nobody, alloc::vec![Acl::new(31, "sasl", id)], true).is_ok(), ok, "{id:?}");
        }
    }

    #[test]
    fn ip_masks() {
        assert!(ip_matches("10.1.2.3", "10.0.0.0/8"));
        assert!(!ip_matches("11.1.2.3", "10.0.0.0/8"));
        assert!(ip_matches("1.2.3.4", "0.0.0.0/0"));
        assert!(ip_matches("::1", "::1"));
        assert!(!ip_matches("127.0.0.1", "::1"));
    }
}
