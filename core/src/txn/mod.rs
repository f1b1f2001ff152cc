//! Transactions: ZooKeeper's prep step and the deterministic application of its output.
//!
//! A client write goes through two stages, as in ZooKeeper's `PrepRequestProcessor` and
//! `DataTree.processTxn`:
//!
//! 1. [`prep`] (leader only) validates a [`WriteOp`] against the committed tree plus the
//!    [`PendingChanges`] of proposals not yet committed, and turns it into a [`Txn`] whose every
//!    decision is already made: the final sequential name, the new versions, the parent's new
//!    cversion, the ephemeral owner, the fixed-up ACL. A refused write still becomes a txn
//!    ([`Txn::Error`]) and still consumes a zxid, as in ZooKeeper.
//! 2. [`apply`] (every replica, in zxid order) applies a txn to the tree. Given the same tree and
//!    the same txn, every replica computes the same result, Stats and digest.
//!
//! Reads are answered straight from the committed tree by the functions in [`read`].

mod apply;
mod auth;
mod pending;
mod prep;
pub mod read;

use alloc::string::String;
use alloc::vec::Vec;
use serde::{Deserialize, Serialize};

pub use apply::apply;
pub use auth::{AuthContext, check_acl, fixup_acl};
pub use pending::{NodeRecord, PendingChanges};
pub use prep::{CreateOpcode, MultiWriteOp, PrepConfig, WriteOp, prep};

use crate::error::ErrorCode;
use crate::ids::SessionId;
use crate::session::Password;
use crate::tree::{Acl, Stat};

/// A replicated transaction: the output of prep, the unit Zab proposes and commits.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Txn {
    Create(CreateTxn),
    Delete {
        path: String,
    },
    /// `version` is the node's new data version.
    SetData {
        path: String,
        #[serde(with = "crate::bytes_serde::option")]
        data: Option<Vec<u8>>,
        version: i32,
    },
    /// `version` is the node's new aversion.
    SetAcl {
        path: String,
        acl: Vec<Acl>,
        version: i32,
    },
    /// A version check inside a multi; applying it changes nothing.
    Check {
        path: String,
        version: i32,
    },
    /// A session opened before passwords were kept with their sessions (only ever read from
    /// an older log): its password is [`crate::session::legacy_password`]. It keeps its place
    /// among the variants, so older logs decode as they were written.
    CreateSessionV1 {
        session: SessionId,
        timeout_ms: i32,
    },
    /// Closes a session; `paths` are its ephemerals as prep saw them, deleted in this order.
    CloseSession {
        session: SessionId,
        paths: Vec<String>,
    },
    /// A multi whose every op succeeded in prep: applied all together under one zxid. Its ops
    /// are [`MultiTxn`]s, which hold no multi, so decoding one cannot recurse.
    Multi(Vec<MultiTxn>),
    /// A multi that failed in prep: per op, `Ok` before the failing op, its error, then
    /// `RuntimeInconsistency` for the rest. Changes nothing, consumes a zxid.
    MultiError(Vec<ErrorCode>),
    /// A write refused in prep. Changes nothing, consumes a zxid.
    Error(ErrorCode),
    /// Opens a session, with the password the leader made for it
    /// ([`crate::session::password`]): every server keeps it with the session and checks a
    /// reconnecting client against it.
    CreateSession {
        session: SessionId,
        timeout_ms: i32,
        password: Password,
    },
}

/// One op of a [`Txn::Multi`]: the single txns a multi's ops become, and nothing that nests.
///
/// The variants are [`Txn`]'s first five, in the same order with the same fields, so a multi's
/// encoding in logs and peer messages (postcard numbers variants by position) is what it was
/// when a multi held `Txn`s. Prep never puts a `SetAcl` in a multi (ZooKeeper's multi has no
/// setACL); applying a multi that holds one refuses the whole multi.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum MultiTxn {
    Create(CreateTxn),
    Delete {
        path: String,
    },
    /// As [`Txn::SetData`].
    SetData {
        path: String,
        #[serde(with = "crate::bytes_serde::option")]
        data: Option<Vec<u8>>,
        version: i32,
    },
    /// As [`Txn::SetAcl`].
    SetAcl {
        path: String,
        acl: Vec<Acl>,
        version: i32,
    },
    /// As [`Txn::Check`].
    Check {
        path: String,
        version: i32,
    },
}

impl From<MultiTxn> for Txn {
    fn from(op: MultiTxn) -> Txn {
        match op {
            MultiTxn::Create(create) => Txn::Create(create),
            MultiTxn::Delete { path } => Txn::Delete { path },
            MultiTxn::SetData { path, data, version } => Txn::SetData { path, data, version },
            MultiTxn::SetAcl { path, acl, version } => Txn::SetAcl { path, acl, version },
            MultiTxn::Check { path, version } => Txn::Check { path, version },
        }
    }
}

/// Everything a replica needs to create a node, decided by prep.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CreateTxn {
    /// The final path, with the sequential suffix already appended.
    pub path: String,
    #[serde(with = "crate::bytes_serde::option")]
    pub data: Option<Vec<u8>>,
    pub acl: Vec<Acl>,
    /// Session id, [`crate::tree::CONTAINER_OWNER`], a TTL marker, or 0.
    pub ephemeral_owner: i64,
    /// The parent's new stored cversion.
    pub parent_cversion: i32,
}

/// What applying a txn produced; the server that owns the client connection turns it into the
/// reply.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TxnResult {
    Created {
        path: String,
        stat: Stat,
    },
    Deleted,
    DataSet {
        stat: Stat,
    },
    AclSet {
        stat: Stat,
    },
    Checked,
    SessionCreated,
    SessionClosed {
        deleted: Vec<String>,
    },
    /// One result per op of the multi. A failed multi gives one `Failed` per op.
    Multi(Vec<TxnResult>),
    Failed(ErrorCode),
}

impl TxnResult {
    /// The error the whole request reports: a failed single op's code; `Ok` for multis, whose
    /// failures travel in their per-op results (ZooKeeper replies err 0 to a failed multi).
    pub fn error(&self) -> ErrorCode {
        match self {
            TxnResult::Failed(code) => *code,
            _ => ErrorCode::Ok,
        }
    }
}

#[cfg(test)]
pub(crate) mod tests;
