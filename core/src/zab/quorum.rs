//! Who counts towards a quorum. One small interface, so weighted or hierarchical quorums
//! (ZooKeeper's `QuorumHierarchical`) can come later without touching the protocol.

use alloc::collections::BTreeSet;

use crate::ids::ServerId;

/// Decides whether a set of servers is a quorum.
pub trait Quorum {
    fn is_voter(&self, id: ServerId) -> bool;
    fn is_quorum(&self, ids: &BTreeSet<ServerId>) -> bool;
}

/// A simple majority of the voting members (ZooKeeper's `QuorumMaj`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Majority {
    voters: BTreeSet<ServerId>,
}

impl Majority {
    pub fn new(voters: impl IntoIterator<Item = ServerId>) -> Majority {
        Majority { voters: voters.into_iter().collect() }
    }

    pub fn voters(&self) -> impl Iterator<Item = ServerId> + '_ {
        self.voters.iter().copied()
    }

    pub fn len(&self) -> usize {
        self.voters.len()
    }

    pub fn is_empty(&self) -> bool {
        self.voters.is_empty()
    }

    /// The smallest number of voters that is a quorum.
    pub fn size(&self) -> usize {
        self.voters.len() / 2 + 1
    }
}

impl Quorum for Majority {
    fn is_voter(&self, id: ServerId) -> bool {
        self.voters.contains(&id)
    }

    fn is_quorum(&self, ids: &BTreeSet<ServerId>) -> bool {
        ids.iter().filter(|id| self.voters.contains(id)).count() >= self.size()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn set(ids: &[u64]) -> BTreeSet<ServerId> {
        ids.iter().map(|&i| ServerId(i)).collect()
    }

    #[test]
    fn majority_of_voters_only() {
        let q = Majority::new([1, 2, 3].map(ServerId));
        assert!(!q.is_quorum(&set(&[1])));
        assert!(q.is_quorum(&set(&[1, 3])));
        assert!(!q.is_quorum(&set(&[1, 4, 5])), "non-voters do not count");
        let five = Majority::new([1, 2, 3, 4, 5].map(ServerId));
        assert_eq!(five.size(), 3);
        assert!(five.is_quorum(&set(&[2, 4, 5])));
    }
}
