//! The leader's side of the requests its learners forward: each is taken once, in the order
//! the learner sent it, whatever the network does to the messages.
//!
//! A learner numbers what it forwards (writes, syncs and revalidations) from 1 on each attempt to join the
//! leader (the nonce of its FOLLOWERINFO). The leader takes number `next`, holds any that
//! arrive ahead of it until the gap fills, and drops repeats and anything from another
//! attempt. Over TCP nothing arrives out of order; over the simulator's network (and any
//! network that loses single messages) a gap may never fill: after [`Inbound::skip_gap`]'s
//! wait the leader goes on without the missing request, whose client times out as it would
//! over a broken connection.

use alloc::collections::BTreeMap;
use alloc::sync::Arc;
use alloc::vec::Vec;

use crate::ids::SessionId;
use crate::tree::Id;
use crate::txn::WriteOp;

/// A forwarded request.
#[derive(Debug)]
pub(super) enum Forwarded {
    Write {
        session: SessionId,
        cxid: i32,
        op: WriteOp,
        auth: Arc<Vec<Id>>,
    },
    Sync {
        session: SessionId,
        cxid: i32,
    },
    /// A client reconnected to the learner with this session.
    Revalidate {
        session: SessionId,
    },
}

/// How many requests from one learner may wait for a gap to fill before more are dropped.
pub(super) const HELD_MAX: usize = 4096;

/// What one learner's current attempt has forwarded.
#[derive(Debug)]
pub(super) struct Inbound {
    nonce: u64,
    next: u64,
    /// Requests that came ahead of `next`, with when they came.
    held: BTreeMap<u64, (u64, Forwarded)>,
}

impl Inbound {
    pub fn new(nonce: u64) -> Inbound {
        Inbound { nonce, next: 1, held: BTreeMap::new() }
    }

    pub fn nonce(&self) -> u64 {
        self.nonce
    }

    /// Takes request `seq` in: held for its turn unless it is a repeat, or the holding space
    /// is full.
    pub fn accept(&mut self, now_ms: u64, seq: u64, request: Forwarded) {
        if seq < self.next || self.held.contains_key(&seq) || (seq != self.next && self.held.len() >= HELD_MAX) {
            return;
        }
        self.held.insert(seq, (now_ms, request));
    }

    /// The next request in order, if it is here.
    pub fn release(&mut self) -> Option<Forwarded> {
        let (_, request) = self.held.remove(&self.next)?;
        self.next += 1;
        Some(request)
    }

    /// Gives up on a missing request once the one after it has waited `wait_ms`; says whether
    /// anything can now be released.
    pub fn skip_gap(&mut self, now_ms: u64, wait_ms: u64) -> bool {
        match self.held.first_key_value() {
            Some((&seq, &(since, _))) if seq > self.next && now_ms.saturating_sub(since) >= wait_ms => {
                self.next = seq;
                true
            }
            _ => false,
        }
    }

    pub fn is_waiting(&self) -> bool {
        !self.held.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sync(cxid: i32) -> Forwarded {
        Forwarded::Sync { session: SessionId(1), cxid }
    }

    fn cxid(f: Option<Forwarded>) -> Option<i32> {
        match f {
            Some(Forwarded::Sync { cxid, .. } | Forwarded::Write { cxid, .. }) => Some(cxid),
            Some(Forwarded::Revalidate { .. }) => Some(-1),
            None => None,
        }
    }

    #[test]
    fn requests_come_out_once_and_in_order() {
        let mut inbound = Inbound::new(7);
        inbound.accept(0, 2, sync(20));
        assert_eq!(cxid(inbound.release()), None, "2 waits for 1");
        inbound.accept(1, 1, sync(10));
        inbound.accept(1, 1, sync(11));
        assert_eq!(cxid(inbound.release()), Some(10));
        assert_eq!(cxid(inbound.release()), Some(20));
        inbound.accept(2, 2, sync(21));
        inbound.accept(2, 1, sync(12));
        assert_eq!(cxid(inbound.release()), None, "repeats are dropped");
    }

    #[test]
    fn a_gap_that_never_fills_is_skipped_after_the_wait() {
        let mut inbound = Inbound::new(7);
        inbound.accept(100, 3, sync(30));
        assert!(!inbound.skip_gap(150, 100));
        assert!(inbound.skip_gap(200, 100));
        assert_eq!(cxid(inbound.release()), Some(30));
        assert!(!inbound.is_waiting());
        inbound.accept(300, 1, sync(10));
        assert_eq!(cxid(inbound.release()), None, "too late once skipped");
    }
}
