//! Identifier newtypes shared by every module: transaction ids and session ids.

use core::fmt;
use serde::{Deserialize, Serialize};

/// A ZooKeeper transaction id: `epoch << 32 | counter` (Zab paper, section 3).
///
/// Ordering is the numeric order of the 64-bit value, which is (epoch, counter) order.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default, Serialize, Deserialize)]
pub struct Zxid(u64);

impl Zxid {
    /// The zxid before any transaction.
    pub const ZERO: Zxid = Zxid(0);

    pub const fn new(epoch: u32, counter: u32) -> Zxid {
        Zxid(((epoch as u64) << 32) | counter as u64)
    }

    pub const fn from_u64(raw: u64) -> Zxid {
        Zxid(raw)
    }

    pub const fn as_u64(self) -> u64 {
        self.0
    }

    /// The value as it appears in ZooKeeper records (a Java `long`).
    pub const fn as_i64(self) -> i64 {
        self.0 as i64
    }

    pub const fn epoch(self) -> u32 {
        (self.0 >> 32) as u32
    }

    pub const fn counter(self) -> u32 {
        self.0 as u32
    }

    /// The next zxid in the same epoch, or `None` when the counter is exhausted (ZooKeeper then
    /// forces a new election, which starts a new epoch).
    pub const fn next(self) -> Option<Zxid> {
        match self.counter().checked_add(1) {
            Some(counter) => Some(Zxid::new(self.epoch(), counter)),
            None => None,
        }
    }
}

impl fmt::Debug for Zxid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "0x{:x}", self.0)
    }
}

impl fmt::Display for Zxid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "0x{:x}", self.0)
    }
}

/// A server's `myid`, as in `server.N` lines of zoo.cfg.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default, Serialize, Deserialize)]
pub struct ServerId(pub u64);

impl fmt::Debug for ServerId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "s{}", self.0)
    }
}

impl fmt::Display for ServerId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "s{}", self.0)
    }
}

/// A client session id, laid out as ZooKeeper does: the creating server's id in the top byte.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default, Serialize, Deserialize)]
pub struct SessionId(pub i64);

impl fmt::Debug for SessionId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "0x{:016x}", self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn zxid_layout_is_epoch_then_counter() {
        let z = Zxid::new(3, 7);
        assert_eq!(z.as_u64(), 0x0000_0003_0000_0007);
        assert_eq!((z.epoch(), z.counter()), (3, 7));
        assert!(Zxid::new(2, u32::MAX) < Zxid::new(3, 0));
        assert_eq!(Zxid::new(1, u32::MAX).next(), None);
        assert_eq!(Zxid::new(1, 1).next(), Some(Zxid::new(1, 2)));
    }
}

/// A hash map keyed by ids (connections, sessions): the lookups on every request's path.
/// Its hasher is fixed, so iteration order depends only on what was inserted and removed, and
/// replayed runs (the simulator, the browser's scrubbing) stay deterministic.
pub type IdMap<K, V> = hashbrown::HashMap<K, V, IdHash>;

/// [`IdMap`]'s hasher: a multiply-xorshift mix of the id's integer (ids are small counters or
/// time-based values, never chosen by an attacker to collide: clients cannot pick them).
#[derive(Clone, Copy, Debug, Default)]
pub struct IdHash;

impl core::hash::BuildHasher for IdHash {
    type Hasher = IdHasher;

    fn build_hasher(&self) -> IdHasher {
        IdHasher(0)
    }
}

#[derive(Clone, Copy, Debug, Default)]
pub struct IdHasher(u64);

impl core::hash::Hasher for IdHasher {
    fn finish(&self) -> u64 {
        let h = self.0.wrapping_mul(0x9E37_79B9_7F4A_7C15);
        h ^ (h >> 29)
    }

    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = (self.0.rotate_left(8) ^ u64::from(b)).wrapping_mul(0x0100_0000_01B3);
        }
    }

    fn write_u64(&mut self, n: u64) {
        self.0 = (self.0.rotate_left(32) ^ n).wrapping_mul(0xFF51_AFD7_ED55_8CCD);
    }

    fn write_i64(&mut self, n: i64) {
        self.write_u64(n as u64);
    }
}
