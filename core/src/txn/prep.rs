//! The prep step: ZooKeeper's `PrepRequestProcessor.pRequest2Txn`, check for check, in its order.
//!
//! The order of the checks is part of the protocol: clients see the first failing check's
//! code. Per op (ZooKeeper 3.8):
//!
//! | op | checks, in order |
//! |---|---|
//! | create | flags; TTL allowed and in range; no '/' or NUL; ACL fix-up; parent exists; CREATE on parent; sequential suffix; final path valid; node absent; parent not ephemeral |
//! | delete | has '/', no NUL, not built-in; parent exists; DELETE on parent; node exists; version; no children |
//! | setData | path valid; node exists; WRITE; version |
//! | setACL | path valid; ACL fix-up; node exists; ADMIN; aversion |
//! | check | path valid; node exists; READ; version |
//! | deleteContainer | has '/', no NUL, not built-in; node exists; no children; not a session ephemeral |

use alloc::format;
use alloc::string::String;
use alloc::sync::Arc;
use alloc::vec::Vec;

use super::auth::{AuthContext, check_acl, fixup_acl};
use super::pending::{NodeRecord, PendingChanges};
use super::{CreateTxn, MultiTxn, Txn};
use crate::error::ErrorCode;
use crate::ids::Zxid;
use crate::session::{self, SessionKey};
use crate::tree::{self, Acl, CreateMode, DataTree, NodeKind, TTL_MAX_MS, perms};

/// Server settings that change what prep accepts.
#[derive(Clone, Copy, Debug, Default)]
pub struct PrepConfig {
    /// `extendedTypesEnabled`: TTL nodes (off by default, as in ZooKeeper).
    pub extended_types: bool,
    /// `skipACL=yes`: no permission checks at all.
    pub skip_acl: bool,
    /// What a leader makes new sessions' passwords with. The host draws it at random; the
    /// default (all zeros) is for tests and the simulator only.
    pub session_key: SessionKey,
    /// `authProvider.N=...SASLAuthenticationProvider`: ACLs may name `sasl` ids (without it
    /// they are InvalidACL, as in ZooKeeper).
    pub sasl_acls: bool,
}

/// Which create request a create came in as; it decides the reply and a few rules.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum CreateOpcode {
    /// Opcode 1: replies with the path only.
    Create,
    /// Opcode 15: replies with path and Stat.
    Create2,
    /// Opcode 19: always makes a container.
    CreateContainer,
    /// Opcode 21: carries a TTL.
    CreateTtl,
}

/// A write request as prep receives it (also what a follower forwards to its leader).
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum WriteOp {
    Create {
        opcode: CreateOpcode,
        path: String,
        #[serde(with = "crate::bytes_serde::option")]
        data: Option<Vec<u8>>,
        acl: Vec<Acl>,
        flags: i32,
        /// The request's TTL for `CreateTtl`; ignored (taken as -1) for the other opcodes.
        ttl_ms: i64,
    },
    Delete {
        path: String,
        version: i32,
    },
    SetData {
        path: String,
        #[serde(with = "crate::bytes_serde::option")]
        data: Option<Vec<u8>>,
        version: i32,
    },
    SetAcl {
        path: String,
        acl: Vec<Acl>,
        version: i32,
    },
    Check {
        path: String,
        version: i32,
    },
    /// The ops of a multi, all or nothing. They are [`MultiWriteOp`]s, which hold no multi, so a
    /// multi cannot nest and decoding one from a peer's bytes cannot recurse.
    Multi(Vec<MultiWriteOp>),
    CreateSession {
        timeout_ms: i32,
    },
    CloseSession,
    /// Issued by the leader itself for an empty container or an expired TTL node.
    DeleteContainer {
        path: String,
    },
}

/// One op of a [`WriteOp::Multi`]: the single writes a multi can hold, and nothing that nests.
///
/// The variants are [`WriteOp`]'s first five, in the same order with the same fields, so a
/// multi's encoding (postcard numbers variants by position) is what it was when a multi held
/// `WriteOp`s. ZooKeeper's multi has no setACL: prep refuses a multi holding one, as
/// ZooKeeper refuses it while decoding.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum MultiWriteOp {
    Create {
        opcode: CreateOpcode,
        path: String,
        #[serde(with = "crate::bytes_serde::option")]
        data: Option<Vec<u8>>,
        acl: Vec<Acl>,
        flags: i32,
        /// As [`WriteOp::Create`]'s.
        ttl_ms: i64,
    },
    Delete {
        path: String,
        version: i32,
    },
    SetData {
        path: String,
        #[serde(with = "crate::bytes_serde::option")]
        data: Option<Vec<u8>>,
        version: i32,
    },
    SetAcl {
        path: String,
        acl: Vec<Acl>,
        version: i32,
    },
    Check {
        path: String,
        version: i32,
    },
}

impl From<MultiWriteOp> for WriteOp {
    fn from(op: MultiWriteOp) -> WriteOp {
        match op {
            MultiWriteOp::Create { opcode, path, data, acl, flags, ttl_ms } => {
                WriteOp::Create { opcode, path, data, acl, flags, ttl_ms }
            }
            MultiWriteOp::Delete { path, version } => WriteOp::Delete { path, version },
            MultiWriteOp::SetData { path, data, version } => WriteOp::SetData { path, data, version },
            MultiWriteOp::SetAcl { path, acl, version } => WriteOp::SetAcl { path, acl, version },
            MultiWriteOp::Check { path, version } => WriteOp::Check { path, version },
        }
    }
}

/// A write that is one of a multi's kinds; any other write is handed back.
impl TryFrom<WriteOp> for MultiWriteOp {
    type Error = WriteOp;

    fn try_from(op: WriteOp) -> Result<MultiWriteOp, WriteOp> {
        Ok(match op {
            WriteOp::Create { opcode, path, data, acl, flags, ttl_ms } => {
                MultiWriteOp::Create { opcode, path, data, acl, flags, ttl_ms }
            }
            WriteOp::Delete { path, version } => MultiWriteOp::Delete { path, version },
            WriteOp::SetData { path, data, version } => MultiWriteOp::SetData { path, data, version },
            WriteOp::SetAcl { path, acl, version } => MultiWriteOp::SetAcl { path, acl, version },
            WriteOp::Check { path, version } => MultiWriteOp::Check { path, version },
            other => return Err(other),
        })
    }
}

/// Validates `op` as the txn numbered `zxid`, recording its effects in `pending`.
///
/// Never fails: a refused write is a [`Txn::Error`] (or [`Txn::MultiError`]) that still takes
/// its zxid, as in ZooKeeper.
pub fn prep(
    tree: &DataTree,
    pending: &mut PendingChanges,
    config: &PrepConfig,
    auth: &AuthContext,
    zxid: Zxid,
    op: WriteOp,
) -> Txn {
    let mut prep = Prep { tree, pending, config, auth, zxid };
    let txn = match op {
        WriteOp::Multi(ops) => prep.multi(ops),
        WriteOp::CreateSession { timeout_ms } => Txn::CreateSession {
            session: auth.session,
            timeout_ms,
            password: session::password(&config.session_key, auth.session, zxid),
        },
        WriteOp::CloseSession => prep.close_session(),
        WriteOp::DeleteContainer { path } => prep.delete_container(path).unwrap_or_else(Txn::Error),
        op => match MultiWriteOp::try_from(op) {
            Ok(op) => prep.single(op).map(Txn::from).unwrap_or_else(Txn::Error),
            // Every other write is taken above.
            Err(_) => Txn::Error(ErrorCode::MarshallingError),
        },
    };
    pending.seal();
    txn
}

struct Prep<'a> {
    tree: &'a DataTree,
    pending: &'a mut PendingChanges,
    config: &'a PrepConfig,
    auth: &'a AuthContext,
    zxid: Zxid,
}

impl Prep<'_> {
    /// A single write of a multi's kind, alone or as one op of a multi.
    fn single(&mut self, op: MultiWriteOp) -> Result<MultiTxn, ErrorCode> {
        match op {
            MultiWriteOp::Create { opcode, path, data, acl, flags, ttl_ms } => {
                self.create(opcode, path, data, acl, flags, ttl_ms).map(MultiTxn::Create)
            }
            MultiWriteOp::Delete { path, version } => self.delete(path, version),
            MultiWriteOp::SetData { path, data, version } => self.set_data(path, data, version),
            MultiWriteOp::SetAcl { path, acl, version } => self.set_acl(path, acl, version),
            MultiWriteOp::Check { path, version } => self.check(path, version),
        }
    }

    fn lookup(&self, path: &str) -> Option<NodeRecord> {
        self.pending.lookup(self.tree, path)
    }

    fn check_acl(&self, node: &NodeRecord, perm: i32) -> Result<(), ErrorCode> {
        check_acl(self.auth, &node.acl, perm, self.config.skip_acl)
    }

    fn create(
        &mut self,
        opcode: CreateOpcode,
        path: String,
        data: Option<Vec<u8>>,
        acl: Vec<Acl>,
        flags: i32,
        ttl_ms: i64,
    ) -> Result<CreateTxn, ErrorCode> {
        // The flags decide validation and the sequential suffix; the opcode decides the kind of
        // node stored (createContainer always stores a container, whatever the flags).
        let mode = CreateMode::from_flags(flags).ok_or(ErrorCode::BadArguments)?;
        let ttl_ms = if opcode == CreateOpcode::CreateTtl { ttl_ms } else { -1 };
        if mode.is_ttl() {
            if !self.config.extended_types {
                return Err(ErrorCode::Unimplemented);
            }
            if ttl_ms <= 0 || ttl_ms > TTL_MAX_MS {
                return Err(ErrorCode::BadArguments);
            }
        } else if ttl_ms >= 0 {
            return Err(ErrorCode::BadArguments);
        }
        let slash = parent_of(&path)?.len();
        let acl = fixup_acl(self.auth, acl, self.config.sasl_acls)?;
        let mut parent = self.lookup(&path[..slash]).ok_or(ErrorCode::NoNode)?;
        self.check_acl(&parent, perms::CREATE)?;
        let path = if mode.is_sequential() { format!("{path}{:010}", parent.cversion) } else { path };
        tree::validate_path(&path).map_err(|_| ErrorCode::BadArguments)?;
        if self.lookup(&path).is_some() {
            return Err(ErrorCode::NodeExists);
        }
        if matches!(NodeKind::from_owner(parent.ephemeral_owner), NodeKind::Ephemeral(_)) {
            return Err(ErrorCode::NoChildrenForEphemerals);
        }
        let ephemeral_owner = match opcode {
            CreateOpcode::CreateContainer => NodeKind::Container,
            CreateOpcode::CreateTtl => NodeKind::Ttl { ttl_ms },
            // A container flag on create/create2 makes a plain persistent node (ZooKeeper 3.8).
            CreateOpcode::Create | CreateOpcode::Create2 if mode.is_ephemeral() => {
                NodeKind::Ephemeral(self.auth.session)
            }
            CreateOpcode::Create | CreateOpcode::Create2 => NodeKind::Persistent,
        }
        .owner();
        parent.cversion = parent.cversion.wrapping_add(1);
        parent.num_children += 1;
        let parent_cversion = parent.cversion;
        let record = NodeRecord {
            version: 0,
            cversion: 0,
            aversion: 0,
            ephemeral_owner,
            num_children: 0,
            acl: Arc::from(acl.as_slice()),
        };
        // The suffix only ever extends the path, so the parent is still everything before `slash`.
        self.pending.put(&path[..slash], self.zxid, Some(parent));
        self.pending.put(&path, self.zxid, Some(record));
        Ok(CreateTxn { path, data, acl, ephemeral_owner, parent_cversion })
    }

    fn delete(&mut self, path: String, version: i32) -> Result<MultiTxn, ErrorCode> {
        let parent_path = deletable_parent_of(&path)?;
        let mut parent = self.lookup(parent_path).ok_or(ErrorCode::NoNode)?;
        self.check_acl(&parent, perms::DELETE)?;
        let node = self.lookup(&path).ok_or(ErrorCode::NoNode)?;
        check_version(version, node.version)?;
        if node.num_children > 0 {
            return Err(ErrorCode::NotEmpty);
        }
        parent.num_children -= 1;
        self.pending.put(parent_path, self.zxid, Some(parent));
        self.pending.put(&path, self.zxid, None);
        Ok(MultiTxn::Delete { path })
    }

    fn set_data(&mut self, path: String, data: Option<Vec<u8>>, version: i32) -> Result<MultiTxn, ErrorCode> {
        tree::validate_path(&path).map_err(|_| ErrorCode::BadArguments)?;
        let mut node = self.lookup(&path).ok_or(ErrorCode::NoNode)?;
        self.check_acl(&node, perms::WRITE)?;
        check_version(version, node.version)?;
        node.version = node.version.wrapping_add(1);
        let version = node.version;
        self.pending.put(&path, self.zxid, Some(node));
        Ok(MultiTxn::SetData { path, data, version })
    }

    fn set_acl(&mut self, path: String, acl: Vec<Acl>, version: i32) -> Result<MultiTxn, ErrorCode> {
        tree::validate_path(&path).map_err(|_| ErrorCode::BadArguments)?;
        let acl = fixup_acl(self.auth, acl, self.config.sasl_acls)?;
        let mut node = self.lookup(&path).ok_or(ErrorCode::NoNode)?;
        self.check_acl(&node, perms::ADMIN)?;
        check_version(version, node.aversion)?;
        node.aversion = node.aversion.wrapping_add(1);
        node.acl = Arc::from(acl.as_slice());
        let version = node.aversion;
        self.pending.put(&path, self.zxid, Some(node));
        Ok(MultiTxn::SetAcl { path, acl, version })
    }

    fn check(&mut self, path: String, version: i32) -> Result<MultiTxn, ErrorCode> {
        tree::validate_path(&path).map_err(|_| ErrorCode::BadArguments)?;
        let node = self.lookup(&path).ok_or(ErrorCode::NoNode)?;
        self.check_acl(&node, perms::READ)?;
        check_version(version, node.version)?;
        Ok(MultiTxn::Check { path, version })
    }

    fn delete_container(&mut self, path: String) -> Result<Txn, ErrorCode> {
        let parent_path = deletable_parent_of(&path)?;
        let node = self.lookup(&path).ok_or(ErrorCode::NoNode)?;
        if node.num_children > 0 {
            return Err(ErrorCode::NotEmpty);
        }
        if matches!(NodeKind::from_owner(node.ephemeral_owner), NodeKind::Ephemeral(_)) {
            return Err(ErrorCode::BadVersion);
        }
        let mut parent = self.lookup(parent_path).ok_or(ErrorCode::NoNode)?;
        parent.num_children -= 1;
        self.pending.put(parent_path, self.zxid, Some(parent));
        self.pending.put(&path, self.zxid, None);
        Ok(Txn::Delete { path })
    }

    /// All or nothing: the first failing op rolls back the others' pending changes.
    fn multi(&mut self, ops: Vec<MultiWriteOp>) -> Txn {
        let mark = self.pending.mark();
        let count = ops.len();
        let mut txns = Vec::with_capacity(count);
        for (index, op) in ops.into_iter().enumerate() {
            if matches!(op, MultiWriteOp::SetAcl { .. }) {
                // ZooKeeper refuses such a multi while decoding it.
                self.pending.rollback(mark);
                return Txn::Error(ErrorCode::MarshallingError);
            }
            match self.single(op) {
                Ok(txn) => txns.push(txn),
                Err(code) => {
                    self.pending.rollback(mark);
                    let mut codes = alloc::vec![ErrorCode::Ok; index];
                    codes.push(code);
                    codes.resize(count, ErrorCode::RuntimeInconsistency);
                    return Txn::MultiError(codes);
                }
            }
        }
        Txn::Multi(txns)
    }

    /// The session's ephemerals as the tree and the pending changes see them.
    fn close_session(&mut self) -> Txn {
        let session = self.auth.session;
        let owner = NodeKind::Ephemeral(session).owner();
        let mut paths: Vec<String> = self.tree.ephemerals(session).map(String::from).collect();
        // A pending change's latest state decides: a path deleted, or deleted and created
        // again by another session, is not ours any more.
        for (path, record) in self.pending.iter() {
            match record {
                Some(r) if r.ephemeral_owner == owner => {
                    if !paths.iter().any(|p| p == path) {
                        paths.push(path.into());
                    }
                }
                _ => paths.retain(|p| p != path),
            }
        }
        paths.sort_unstable();
        for path in &paths {
            if let Some(parent_path) = tree::path::split_parent(path).map(|(p, _)| p)
                && let Some(mut parent) = self.lookup(parent_path)
            {
                parent.num_children -= 1;
                self.pending.put(parent_path, self.zxid, Some(parent));
            }
            self.pending.put(path, self.zxid, None);
        }
        Txn::CloseSession { session, paths }
    }
}

fn check_version(expected: i32, current: i32) -> Result<(), ErrorCode> {
    if expected == -1 || expected == current { Ok(()) } else { Err(ErrorCode::BadVersion) }
}

/// `validatePathForCreate`: the parent is everything before the last '/' ("" is the root).
fn parent_of(path: &str) -> Result<&str, ErrorCode> {
    if path.contains('\0') {
        return Err(ErrorCode::BadArguments);
    }
    let slash = path.rfind('/').ok_or(ErrorCode::BadArguments)?;
    path.get(..slash).ok_or(ErrorCode::BadArguments)
}

/// `getParentPathAndValidate`: as [`parent_of`], and the built-in nodes cannot be deleted.
fn deletable_parent_of(path: &str) -> Result<&str, ErrorCode> {
    if tree::is_builtin(path) {
        return Err(ErrorCode::BadArguments);
    }
    parent_of(path)
}
