//! The Stat record clients see, and the node kinds that `ephemeralOwner` encodes.

use serde::{Deserialize, Serialize};

use crate::ids::SessionId;

/// ZooKeeper's `Stat` (68 bytes on the wire, fields in wire order).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Stat {
    pub czxid: i64,
    pub mzxid: i64,
    pub ctime: i64,
    pub mtime: i64,
    pub version: i32,
    pub cversion: i32,
    pub aversion: i32,
    pub ephemeral_owner: i64,
    pub data_length: i32,
    pub num_children: i32,
    pub pzxid: i64,
}

/// `ephemeralOwner` stored for container nodes (`Long.MIN_VALUE`).
pub const CONTAINER_OWNER: i64 = i64::MIN;

/// The top byte marking an extended (TTL) owner.
const EXTENDED_MARK: u64 = 0xFF << 56;
/// The 16-bit extended-type field (bits 40..56); 0 means TTL.
const EXTENDED_TYPE_MASK: u64 = 0xFFFF << 40;
/// The largest TTL ZooKeeper can encode: 40 bits of milliseconds.
pub const TTL_MAX_MS: i64 = 0xFF_FFFF_FFFF;

/// What kind of node an `ephemeralOwner` value denotes (ZooKeeper's `EphemeralType`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NodeKind {
    Persistent,
    Ephemeral(SessionId),
    Container,
    Ttl { ttl_ms: i64 },
}

impl NodeKind {
    pub fn from_owner(owner: i64) -> NodeKind {
        let raw = owner as u64;
        if owner == 0 {
            NodeKind::Persistent
        } else if owner == CONTAINER_OWNER {
            NodeKind::Container
        } else if raw & (0xFF << 56) == EXTENDED_MARK && raw & EXTENDED_TYPE_MASK == 0 {
            NodeKind::Ttl { ttl_ms: (raw & TTL_MAX_MS as u64) as i64 }
        } else {
            NodeKind::Ephemeral(SessionId(owner))
        }
    }

    /// The `ephemeralOwner` value stored for this kind.
    pub fn owner(self) -> i64 {
        match self {
            NodeKind::Persistent => 0,
            NodeKind::Ephemeral(session) => session.0,
            NodeKind::Container => CONTAINER_OWNER,
            NodeKind::Ttl { ttl_ms } => (EXTENDED_MARK | (ttl_ms as u64 & TTL_MAX_MS as u64)) as i64,
        }
    }

    /// The `ephemeralOwner` clients see: the session for ephemerals, 0 for everything else.
    pub fn client_owner(self) -> i64 {
        match self {
            NodeKind::Ephemeral(session) => session.0,
            _ => 0,
        }
    }
}

/// ZooKeeper's `CreateMode`, numbered as the `flags` field of a create request.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum CreateMode {
    Persistent = 0,
    Ephemeral = 1,
    PersistentSequential = 2,
    EphemeralSequential = 3,
    Container = 4,
    PersistentWithTtl = 5,
    PersistentSequentialWithTtl = 6,
}

impl CreateMode {
    pub fn from_flags(flags: i32) -> Option<CreateMode> {
        Some(match flags {
            0 => CreateMode::Persistent,
            1 => CreateMode::Ephemeral,
            2 => CreateMode::PersistentSequential,
            3 => CreateMode::EphemeralSequential,
            4 => CreateMode::Container,
            5 => CreateMode::PersistentWithTtl,
            6 => CreateMode::PersistentSequentialWithTtl,
            _ => return None,
        })
    }

    pub fn flags(self) -> i32 {
        self as i32
    }

    pub fn is_sequential(self) -> bool {
        matches!(
            self,
            CreateMode::PersistentSequential
                | CreateMode::EphemeralSequential
                | CreateMode::PersistentSequentialWithTtl
        )
    }

    pub fn is_ephemeral(self) -> bool {
        matches!(self, CreateMode::Ephemeral | CreateMode::EphemeralSequential)
    }

    pub fn is_ttl(self) -> bool {
        matches!(self, CreateMode::PersistentWithTtl | CreateMode::PersistentSequentialWithTtl)
    }

    pub fn is_container(self) -> bool {
        self == CreateMode::Container
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn owner_encoding_round_trips() {
        for kind in [
            NodeKind::Persistent,
            NodeKind::Container,
            NodeKind::Ephemeral(SessionId(0x0100_000d_a266_0002)),
            NodeKind::Ttl { ttl_ms: 1 },
            NodeKind::Ttl { ttl_ms: TTL_MAX_MS },
        ] {
            assert_eq!(NodeKind::from_owner(kind.owner()), kind);
        }
        assert_eq!(NodeKind::Ttl { ttl_ms: 5000 }.owner() as u64, 0xFF00_0000_0000_1388);
        assert_eq!(NodeKind::Container.client_owner(), 0);
    }

    #[test]
    fn create_flags_match_zookeeper() {
        for flags in 0..7 {
            assert_eq!(CreateMode::from_flags(flags).map(CreateMode::flags), Some(flags));
        }
        assert_eq!(CreateMode::from_flags(7), None);
        assert!(CreateMode::EphemeralSequential.is_sequential());
        assert!(CreateMode::PersistentSequentialWithTtl.is_ttl());
    }
}
