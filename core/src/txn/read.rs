//! Reads, answered from the committed tree with ZooKeeper 3.8's checks (FinalRequestProcessor):
//! reads never validate the path (a malformed one simply names no node), then check READ.

use alloc::string::String;
use alloc::vec::Vec;

use super::auth::{AuthContext, check_acl};
use crate::error::ErrorCode;
use crate::ids::SessionId;
use crate::tree::{Acl, DataTree, Id, NodeRef, Stat, perms};

fn readable<'a>(tree: &'a DataTree, auth: &AuthContext, path: &str, skip_acl: bool) -> Result<NodeRef<'a>, ErrorCode> {
    let node = tree.get(path).ok_or(ErrorCode::NoNode)?;
    check_acl(auth, node.acl(), perms::READ, skip_acl)?;
    Ok(node)
}

/// getData: the data (`None` is a null buffer) and the Stat.
pub fn get_data<'a>(
    tree: &'a DataTree,
    auth: &AuthContext,
    path: &str,
    skip_acl: bool,
) -> Result<(Option<&'a [u8]>, Stat), ErrorCode> {
    let node = readable(tree, auth, path, skip_acl)?;
    Ok((node.data(), node.stat()))
}

/// exists: needs no permission in 3.8.
pub fn exists(tree: &DataTree, path: &str) -> Result<Stat, ErrorCode> {
    tree.get(path).map(|n| n.stat()).ok_or(ErrorCode::NoNode)
}

/// getChildren / getChildren2: child names (sorted) and the parent's Stat.
pub fn get_children<'a>(
    tree: &'a DataTree,
    auth: &AuthContext,
    path: &str,
    skip_acl: bool,
) -> Result<(Vec<&'a str>, Stat), ErrorCode> {
    let node = readable(tree, auth, path, skip_acl)?;
    Ok((node.children().collect(), node.stat()))
}

/// getAllChildrenNumber: every descendant, the node itself excluded.
pub fn all_children_number(tree: &DataTree, auth: &AuthContext, path: &str, skip_acl: bool) -> Result<i32, ErrorCode> {
    let node = readable(tree, auth, path, skip_acl)?;
    let count = tree.descendant_count(path).unwrap_or(0);
    let _ = node;
    Ok(i32::try_from(count).unwrap_or(i32::MAX))
}

/// getACL: needs READ or ADMIN (the fix for CVE-2019-0201); without ADMIN, digest ids are
/// shown as `user:x`.
pub fn get_acl(tree: &DataTree, auth: &AuthContext, path: &str, skip_acl: bool) -> Result<(Vec<Acl>, Stat), ErrorCode> {
    let node = tree.get(path).ok_or(ErrorCode::NoNode)?;
    let acl = node.acl();
    check_acl(auth, acl, perms::READ | perms::ADMIN, skip_acl)?;
    let visible = if check_acl(auth, acl, perms::ADMIN, skip_acl).is_ok() {
        acl.to_vec()
    } else {
        acl.iter().map(mask_digest).collect()
    };
    Ok((visible, node.stat()))
}

fn mask_digest(acl: &Acl) -> Acl {
    if acl.id.scheme != "digest" {
        return acl.clone();
    }
    let user = acl.id.id.split(':').next().unwrap_or("");
    Acl { perms: acl.perms, id: Id { scheme: acl.id.scheme.clone(), id: alloc::format!("{user}:x") } }
}

/// getEphemerals: the session's own ephemerals whose path starts with `prefix` (a plain string
/// prefix; empty, blank or "/" means all), sorted.
pub fn ephemerals(tree: &DataTree, session: SessionId, prefix: &str) -> Vec<String> {
    let all = prefix.trim().is_empty() || prefix == "/";
    tree.ephemerals(session).filter(|p| all || p.starts_with(prefix)).map(String::from).collect()
}
