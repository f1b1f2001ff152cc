//! Applying a committed txn to the tree (ZooKeeper's `DataTree.processTxn`).
//!
//! Prep has already decided everything, so on a healthy replica every txn applies cleanly. A
//! txn that does not fit the tree (a peer's bug, a corrupted log) is refused with an error
//! result and leaves the tree untouched: a multi is checked whole before any of it is applied.

use alloc::boxed::Box;
use alloc::collections::BTreeMap;
use alloc::string::String;
use alloc::vec::Vec;

use super::{CreateTxn, MultiTxn, Txn, TxnResult};
use crate::error::ErrorCode;
use crate::ids::Zxid;
use crate::tree::{DataTree, path};

/// Applies `txn`, numbered `zxid` and stamped by the leader with `time_ms`, to `tree`. The txn
/// stays with its log entry: the tree copies only what it keeps (data, names).
pub fn apply(tree: &mut DataTree, zxid: Zxid, time_ms: i64, txn: &Txn) -> TxnResult {
    let result = match txn {
        Txn::Multi(ops) => match dry_run(tree, ops) {
            Ok(()) => TxnResult::Multi(ops.iter().map(|op| apply_op(tree, zxid, time_ms, op)).collect()),
            Err(code) => TxnResult::Failed(code),
        },
        Txn::MultiError(codes) => TxnResult::Multi(codes.iter().copied().map(TxnResult::Failed).collect()),
        txn => apply_one(tree, zxid, time_ms, txn),
    };
    tree.set_last_zxid(zxid);
    result
}

fn apply_one(tree: &mut DataTree, zxid: Zxid, time_ms: i64, txn: &Txn) -> TxnResult {
    let outcome = match txn {
        Txn::Create(create) => create_node(tree, zxid, time_ms, create),
        Txn::Delete { path } => tree.delete_node(path, zxid).map(|()| TxnResult::Deleted),
        Txn::SetData { path, data, version } => set_data(tree, zxid, time_ms, path, data.as_deref(), *version),
        Txn::SetAcl { path, acl, version } => tree.set_acl(path, acl, *version).map(|stat| TxnResult::AclSet { stat }),
        Txn::Check { .. } => Ok(TxnResult::Checked),
        Txn::CreateSession { .. } | Txn::CreateSessionV1 { .. } => Ok(TxnResult::SessionCreated),
        Txn::CloseSession { session, paths } => {
            // The listed paths first, in order; then anything of the session prep could not see.
            let mut deleted = Vec::new();
            let leftovers: Vec<String> =
                tree.ephemerals(*session).filter(|p| !paths.iter().any(|q| q == p)).map(String::from).collect();
            for path in paths.iter().cloned().chain(leftovers) {
                if tree.delete_node(&path, zxid).is_ok() {
                    deleted.push(path);
                }
            }
            Ok(TxnResult::SessionClosed { deleted })
        }
        Txn::Error(code) => Ok(TxnResult::Failed(*code)),
        Txn::Multi(_) | Txn::MultiError(_) => Err(ErrorCode::MarshallingError),
    };
    outcome.unwrap_or_else(TxnResult::Failed)
}

/// One op of a multi that passed its dry run.
fn apply_op(tree: &mut DataTree, zxid: Zxid, time_ms: i64, op: &MultiTxn) -> TxnResult {
    let outcome = match op {
        MultiTxn::Create(create) => create_node(tree, zxid, time_ms, create),
        MultiTxn::Delete { path } => tree.delete_node(path, zxid).map(|()| TxnResult::Deleted),
        MultiTxn::SetData { path, data, version } => set_data(tree, zxid, time_ms, path, data.as_deref(), *version),
        MultiTxn::SetAcl { path, acl, version } => {
            tree.set_acl(path, acl, *version).map(|stat| TxnResult::AclSet { stat })
        }
        MultiTxn::Check { .. } => Ok(TxnResult::Checked),
    };
    outcome.unwrap_or_else(TxnResult::Failed)
}

fn create_node(tree: &mut DataTree, zxid: Zxid, time_ms: i64, create: &CreateTxn) -> Result<TxnResult, ErrorCode> {
    let data = create.data.as_deref().map(Box::from);
    tree.create_node(&create.path, data, &create.acl, create.ephemeral_owner, create.parent_cversion, zxid, time_ms)
        .map(|stat| TxnResult::Created { path: create.path.clone(), stat })
}

fn set_data(
    tree: &mut DataTree,
    zxid: Zxid,
    time_ms: i64,
    path: &str,
    data: Option<&[u8]>,
    version: i32,
) -> Result<TxnResult, ErrorCode> {
    tree.set_data(path, data.map(Box::from), version, zxid, time_ms).map(|stat| TxnResult::DataSet { stat })
}

/// Existence and emptiness of a node during a dry run: `None` means absent.
type Shadow = Option<usize>;

/// Checks that every op of a multi will apply, in order, without touching the tree.
fn dry_run(tree: &DataTree, ops: &[MultiTxn]) -> Result<(), ErrorCode> {
    let mut shadow: BTreeMap<&str, Shadow> = BTreeMap::new();
    let look = |shadow: &BTreeMap<&str, Shadow>, p: &str| -> Shadow {
        match shadow.get(p) {
            Some(s) => *s,
            None => tree.get(p).map(|n| n.num_children()),
        }
    };
    for op in ops {
        match op {
            MultiTxn::Create(create) => {
                let (parent, _) = path::split_parent(&create.path).ok_or(ErrorCode::NodeExists)?;
                let children = look(&shadow, parent).ok_or(ErrorCode::NoNode)?;
                if look(&shadow, &create.path).is_some() {
                    return Err(ErrorCode::NodeExists);
                }
                shadow.insert(parent, Some(children + 1));
                shadow.insert(&create.path, Some(0));
            }
            MultiTxn::Delete { path } => {
                let (parent, _) = path::split_parent(path).ok_or(ErrorCode::BadArguments)?;
                match look(&shadow, path) {
                    None => return Err(ErrorCode::NoNode),
                    Some(n) if n > 0 => return Err(ErrorCode::NotEmpty),
                    Some(_) => {}
                }
                let children = look(&shadow, parent).ok_or(ErrorCode::NoNode)?;
                shadow.insert(parent, Some(children.saturating_sub(1)));
                shadow.insert(path, None);
            }
            MultiTxn::SetData { path, .. } | MultiTxn::Check { path, .. } => {
                look(&shadow, path).ok_or(ErrorCode::NoNode)?;
            }
            MultiTxn::SetAcl { .. } => return Err(ErrorCode::MarshallingError),
        }
    }
    Ok(())
}
