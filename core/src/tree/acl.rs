//! ACL records and the interning store that lets a million znodes share a handful of ACL lists
//! (ZooKeeper's `ReferenceCountedACLCache`, keyed by a small integer per distinct list).

use alloc::collections::BTreeMap;
use alloc::string::String;
use alloc::sync::Arc;
use alloc::vec::Vec;
use serde::{Deserialize, Serialize};

/// Permission bits (`ZooDefs.Perms`).
pub mod perms {
    pub const READ: i32 = 1;
    pub const WRITE: i32 = 2;
    pub const CREATE: i32 = 4;
    pub const DELETE: i32 = 8;
    pub const ADMIN: i32 = 16;
    pub const ALL: i32 = READ | WRITE | CREATE | DELETE | ADMIN;
}

/// An authenticated identity or an ACL subject: `scheme:id`, e.g. `digest:alice:<hash>`.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Id {
    pub scheme: String,
    pub id: String,
}

impl Id {
    pub fn new(scheme: &str, id: &str) -> Id {
        Id { scheme: scheme.into(), id: id.into() }
    }

    /// `world:anyone`.
    pub fn anyone() -> Id {
        Id::new("world", "anyone")
    }
}

/// One ACL entry: a permission mask granted to an id.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Acl {
    pub perms: i32,
    pub id: Id,
}

impl Acl {
    pub fn new(perms: i32, scheme: &str, id: &str) -> Acl {
        Acl { perms, id: Id::new(scheme, id) }
    }

    /// `OPEN_ACL_UNSAFE`: everything for everyone.
    pub fn open_unsafe() -> Vec<Acl> {
        alloc::vec![Acl { perms: perms::ALL, id: Id::anyone() }]
    }

    /// `READ_ACL_UNSAFE`: read for everyone.
    pub fn read_unsafe() -> Vec<Acl> {
        alloc::vec![Acl { perms: perms::READ, id: Id::anyone() }]
    }

    /// `CREATOR_ALL_ACL`: everything for the creator's authenticated ids.
    pub fn creator_all() -> Vec<Acl> {
        alloc::vec![Acl::new(perms::ALL, "auth", "")]
    }
}

/// The shared ACL list of a node.
pub type AclList = Arc<[Acl]>;

/// Index of an interned ACL list inside an [`AclStore`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct AclId(pub u32);

#[derive(Debug, Clone)]
struct Entry {
    list: AclList,
    /// Hash of the list, folded into the digest of every node that uses it.
    hash: u64,
    refs: u64,
}

fn list_hash(acl: &[Acl]) -> u64 {
    let mut h = xxhash_rust::xxh3::Xxh3::new();
    for a in acl {
        h.update(&a.perms.to_le_bytes());
        for part in [&a.id.scheme, &a.id.id] {
            h.update(&(part.len() as u64).to_le_bytes());
            h.update(part.as_bytes());
        }
    }
    h.digest()
}

/// Reference-counted interning of ACL lists: equal lists share one id and one allocation.
#[derive(Debug, Clone, Default)]
pub struct AclStore {
    entries: Vec<Option<Entry>>,
    index: BTreeMap<AclList, AclId>,
    free: Vec<u32>,
}

impl AclStore {
    /// Takes one reference to `acl`, interning it if it is new.
    pub fn acquire(&mut self, acl: &[Acl]) -> AclId {
        if let Some(&id) = self.index.get(acl) {
            let entry = self.entry_mut(id);
            entry.refs += 1;
            return id;
        }
        let list: AclList = Arc::from(acl);
        let entry = Entry { list: list.clone(), hash: list_hash(acl), refs: 1 };
        let id = match self.free.pop() {
            Some(slot) => {
                self.entries[slot as usize] = Some(entry);
                AclId(slot)
            }
            None => {
                let slot = u32::try_from(self.entries.len()).expect("fewer than 2^32 ACL lists");
                self.entries.push(Some(entry));
                AclId(slot)
            }
        };
        self.index.insert(list, id);
        id
    }

    /// Takes one more reference to an already interned list.
    pub fn retain(&mut self, id: AclId) {
        self.entry_mut(id).refs += 1;
    }

    /// Drops one reference; the list is forgotten when none remain.
    pub fn release(&mut self, id: AclId) {
        let entry = self.entry_mut(id);
        entry.refs -= 1;
        if entry.refs == 0 {
            let list = entry.list.clone();
            self.index.remove(&list);
            self.entries[id.0 as usize] = None;
            self.free.push(id.0);
        }
    }

    pub fn get(&self, id: AclId) -> &AclList {
        match self.entries.get(id.0 as usize) {
            Some(Some(entry)) => &entry.list,
            _ => panic!("ACL id {} is not interned", id.0),
        }
    }

    /// The hash of an interned list (part of each node's digest).
    pub fn hash(&self, id: AclId) -> u64 {
        match self.entries.get(id.0 as usize) {
            Some(Some(entry)) => entry.hash,
            _ => panic!("ACL id {} is not interned", id.0),
        }
    }

    /// Number of distinct lists.
    pub fn len(&self) -> usize {
        self.index.len()
    }

    pub fn is_empty(&self) -> bool {
        self.index.is_empty()
    }

    /// Every interned list with its id, in id order (for snapshots).
    pub fn iter(&self) -> impl Iterator<Item = (AclId, &AclList)> {
        self.entries.iter().enumerate().filter_map(|(i, e)| e.as_ref().map(|e| (AclId(i as u32), &e.list)))
    }

    /// Rebuilds a store from a snapshot's table with no references; nodes then `retain`.
    pub(crate) fn with_lists(lists: Vec<(AclId, Vec<Acl>)>) -> Option<AclStore> {
        let mut store = AclStore::default();
        for (id, acl) in lists {
            let slot = id.0 as usize;
            if slot >= store.entries.len() {
                store.entries.resize(slot + 1, None);
            }
            if store.entries[slot].is_some() {
                return None;
            }
            let list: AclList = Arc::from(acl);
            if store.index.insert(list.clone(), id).is_some() {
                return None;
            }
            store.entries[slot] = Some(Entry { hash: list_hash(&list), list, refs: 0 });
        }
        store.free = (0..store.entries.len() as u32).filter(|&i| store.entries[i as usize].is_none()).rev().collect();
        Some(store)
    }

    /// Ids of lists that no node references (after a snapshot load they must be none).
    pub(crate) fn unreferenced(&self) -> impl Iterator<Item = AclId> + '_ {
        self.entries
            .iter()
            .enumerate()
            .filter(|(_, e)| matches!(e, Some(e) if e.refs == 0))
            .map(|(i, _)| AclId(i as u32))
    }

    pub(crate) fn contains(&self, id: AclId) -> bool {
        matches!(self.entries.get(id.0 as usize), Some(Some(_)))
    }

    fn entry_mut(&mut self, id: AclId) -> &mut Entry {
        match self.entries.get_mut(id.0 as usize) {
            Some(Some(entry)) => entry,
            _ => panic!("ACL id {} is not interned", id.0),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn equal_lists_share_one_id_and_are_freed_with_the_last_reference() {
        let mut store = AclStore::default();
        let a = store.acquire(&Acl::open_unsafe());
        let b = store.acquire(&Acl::open_unsafe());
        let c = store.acquire(&Acl::read_unsafe());
        assert_eq!(a, b);
        assert_ne!(a, c);
        assert_eq!(store.len(), 2);
        store.release(a);
        assert_eq!(store.len(), 2);
        store.release(b);
        assert_eq!(store.len(), 1);
        let d = store.acquire(&Acl::creator_all());
        assert_eq!(d, a, "freed slot is reused");
        assert_eq!(&**store.get(d), &Acl::creator_all()[..]);
    }
}
