//! Sessions: how ids are made, how timeouts are negotiated, how passwords are derived, and when
//! a session expires.
//!
//! A session is replicated state: a `createSession` txn opens it on every server and a
//! `closeSession` txn (sent by the client, or issued by the leader at expiry) closes it and
//! deletes its ephemerals. Expiry itself is decided by the leader alone, from the client
//! activity every server reports ([`SessionTracker`]), as in ZooKeeper's
//! `SessionTrackerImpl` and `ExpiryQueue`.

use alloc::collections::{BTreeMap, BTreeSet};
use alloc::vec::Vec;

use crate::ids::{IdMap, ServerId, SessionId};

/// `minSessionTimeout` / `maxSessionTimeout`, and the tick that rounds expiry times.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SessionConfig {
    pub tick_ms: u64,
    pub min_timeout_ms: i32,
    pub max_timeout_ms: i32,
}

impl SessionConfig {
    /// ZooKeeper's defaults: 2 and 20 ticks.
    pub fn new(tick_ms: u64) -> SessionConfig {
        let tick = i32::try_from(tick_ms).unwrap_or(i32::MAX);
        SessionConfig { tick_ms, min_timeout_ms: tick.saturating_mul(2), max_timeout_ms: tick.saturating_mul(20) }
    }

    /// The timeout a client asking for `requested` gets: clamped into [min, max].
    pub fn negotiate(&self, requested: i32) -> i32 {
        requested.clamp(self.min_timeout_ms, self.max_timeout_ms.max(self.min_timeout_ms))
    }
}

/// Session ids as ZooKeeper lays them out: the server id in the top byte, the low 40 bits of
/// the server's monotonic clock (ms) at start-up in the next five bytes, a counter in the last
/// two. Ids from different servers never collide; ids of one server rise.
#[derive(Clone, Debug)]
pub struct SessionIds {
    next: i64,
}

impl SessionIds {
    pub fn new(server: ServerId, now_ms: u64) -> SessionIds {
        let time = ((now_ms << 24) >> 8) as i64;
        let mut next = time | ((server.0 as i64) << 56);
        if next == i64::MIN {
            // i64::MIN marks container nodes in ephemeralOwner: never a session id.
            next += 1;
        }
        SessionIds { next }
    }

    pub fn next_id(&mut self) -> SessionId {
        let id = self.next;
        self.next = self.next.wrapping_add(1);
        if self.next == i64::MIN || self.next == 0 {
            self.next = self.next.wrapping_add(1);
        }
        SessionId(id)
    }
}

/// The 16-byte password of a session. Clients treat it as opaque and echo it on reconnect; any
/// server of the ensemble recomputes it from the id and the ensemble's `secret`, so nothing
/// about it is replicated. (ZooKeeper derives it from the id alone; it is a guard against
/// mistakes, not an authentication scheme.)
pub fn password(secret: u64, session: SessionId) -> [u8; 16] {
    let mut input = [0u8; 24];
    input[..8].copy_from_slice(&secret.to_be_bytes());
    input[8..16].copy_from_slice(&session.0.to_be_bytes());
    input[16..].copy_from_slice(b"zbk-pass");
    xxhash_rust::xxh3::xxh3_128(&input).to_be_bytes()
}

/// One tracked session.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Tracked {
    pub timeout_ms: i32,
    /// The bucket it expires in (a multiple of the tick).
    pub expires_at_ms: u64,
    /// Its closeSession txn has been issued: it no longer counts as alive.
    pub closing: bool,
}

/// The leader's view of which sessions are alive and when each expires. Expiry times are
/// rounded up to the next tick, so a session expires between `timeout` and `timeout + tick`
/// after it was last heard from, and one bucket holds all sessions of a tick.
#[derive(Clone, Debug)]
pub struct SessionTracker {
    tick_ms: u64,
    sessions: IdMap<SessionId, Tracked>,
    buckets: BTreeMap<u64, BTreeSet<SessionId>>,
}

impl SessionTracker {
    pub fn new(tick_ms: u64) -> SessionTracker {
        SessionTracker { tick_ms: tick_ms.max(1), sessions: IdMap::default(), buckets: BTreeMap::new() }
    }

    fn bucket_of(&self, now_ms: u64, timeout_ms: i32) -> u64 {
        let at = now_ms.saturating_add(u64::try_from(timeout_ms).unwrap_or(0));
        (at / self.tick_ms + 1) * self.tick_ms
    }

    /// Starts tracking a session (or refreshes it when already tracked).
    pub fn add(&mut self, session: SessionId, timeout_ms: i32, now_ms: u64) {
        if let Some(t) = self.sessions.get_mut(&session) {
            t.timeout_ms = timeout_ms;
        } else {
            let at = self.bucket_of(now_ms, timeout_ms);
            self.sessions.insert(session, Tracked { timeout_ms, expires_at_ms: at, closing: false });
            self.buckets.entry(at).or_default().insert(session);
        }
        self.touch(session, now_ms);
    }

    /// The client was heard from: push its expiry out. False if the session is unknown or
    /// closing (its client must be told it expired).
    pub fn touch(&mut self, session: SessionId, now_ms: u64) -> bool {
        let Some(t) = self.sessions.get(&session).copied() else { return false };
        if t.closing {
            return false;
        }
        let at = self.bucket_of(now_ms, t.timeout_ms);
        if at > t.expires_at_ms {
            self.unbucket(session, t.expires_at_ms);
            self.buckets.entry(at).or_default().insert(session);
            if let Some(t) = self.sessions.get_mut(&session) {
                t.expires_at_ms = at;
            }
        }
        true
    }

    fn unbucket(&mut self, session: SessionId, at: u64) {
        if let Some(bucket) = self.buckets.get_mut(&at) {
            bucket.remove(&session);
            if bucket.is_empty() {
                self.buckets.remove(&at);
            }
        }
    }

    /// Marks a session closing (its closeSession txn is on its way).
    pub fn set_closing(&mut self, session: SessionId) {
        if let Some(t) = self.sessions.get(&session).copied() {
            self.unbucket(session, t.expires_at_ms);
            if let Some(t) = self.sessions.get_mut(&session) {
                t.closing = true;
            }
        }
    }

    /// Forgets a session (its closeSession txn was applied).
    pub fn remove(&mut self, session: SessionId) {
        if let Some(t) = self.sessions.remove(&session) {
            self.unbucket(session, t.expires_at_ms);
        }
    }

    /// Sessions whose bucket time has come, oldest bucket first; they are marked closing.
    pub fn expired(&mut self, now_ms: u64) -> Vec<SessionId> {
        let mut out = Vec::new();
        while let Some((&at, _)) = self.buckets.first_key_value() {
            if at > now_ms {
                break;
            }
            if let Some((_, ids)) = self.buckets.pop_first() {
                for id in ids {
                    if let Some(t) = self.sessions.get_mut(&id) {
                        t.closing = true;
                    }
                    out.push(id);
                }
            }
        }
        out
    }

    /// When the next bucket is due.
    pub fn next_expiry_ms(&self) -> Option<u64> {
        self.buckets.first_key_value().map(|(at, _)| *at)
    }

    pub fn get(&self, session: SessionId) -> Option<&Tracked> {
        self.sessions.get(&session)
    }

    /// Alive (tracked and not closing).
    pub fn is_alive(&self, session: SessionId) -> bool {
        self.sessions.get(&session).is_some_and(|t| !t.closing)
    }

    pub fn len(&self) -> usize {
        self.sessions.len()
    }

    pub fn is_empty(&self) -> bool {
        self.sessions.is_empty()
    }

    /// Every tracked session, by id.
    pub fn iter(&self) -> impl Iterator<Item = (SessionId, &Tracked)> {
        let mut all: Vec<(SessionId, &Tracked)> = self.sessions.iter().map(|(id, t)| (*id, t)).collect();
        all.sort_unstable_by_key(|(id, _)| *id);
        all.into_iter()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::vec;

    #[test]
    fn timeouts_are_clamped_to_two_and_twenty_ticks_by_default() {
        let config = SessionConfig::new(2000);
        assert_eq!((config.min_timeout_ms, config.max_timeout_ms), (4000, 40000));
        assert_eq!(config.negotiate(1), 4000);
        assert_eq!(config.negotiate(30000), 30000);
        assert_eq!(config.negotiate(i32::MAX), 40000);
        assert_eq!(config.negotiate(-5), 4000);
    }

    #[test]
    fn ids_carry_the_server_id_in_the_top_byte_and_the_clock_below() {
        let mut ids = SessionIds::new(ServerId(1), 0xda266);
        // As observed on ZooKeeper 3.8.0: 0x0100000da2660002 is the third session.
        ids.next_id();
        ids.next_id();
        assert_eq!(ids.next_id(), SessionId(0x0100_000d_a266_0002));
        let mut other = SessionIds::new(ServerId(2), 0xda266);
        assert_eq!(other.next_id().0 >> 56, 2);
        // Only the low 40 bits of the clock are kept.
        let mut wrapped = SessionIds::new(ServerId(3), (1 << 40) | 5);
        assert_eq!(wrapped.next_id(), SessionId((3 << 56) | (5 << 16)));
    }

    #[test]
    fn the_container_marker_is_never_an_id() {
        let mut ids = SessionIds::new(ServerId(0x80), 0);
        assert_ne!(ids.next_id(), SessionId(i64::MIN));
    }

    #[test]
    fn passwords_depend_on_session_and_secret() {
        let a = password(7, SessionId(1));
        assert_eq!(a, password(7, SessionId(1)));
        assert_ne!(a, password(7, SessionId(2)));
        assert_ne!(a, password(8, SessionId(1)));
    }

    #[test]
    fn expiry_is_rounded_up_to_the_next_tick_and_touch_postpones_it() {
        let mut t = SessionTracker::new(100);
        t.add(SessionId(1), 1000, 50);
        // 50 + 1000 = 1050, rounded up to the next tick: 1100.
        assert_eq!(t.get(SessionId(1)).unwrap().expires_at_ms, 1100);
        assert_eq!(t.next_expiry_ms(), Some(1100));
        assert!(t.expired(1099).is_empty());
        assert!(t.touch(SessionId(1), 600));
        assert_eq!(t.get(SessionId(1)).unwrap().expires_at_ms, 1700);
        assert!(t.expired(1100).is_empty());
        assert_eq!(t.expired(1700), vec![SessionId(1)]);
        assert!(!t.is_alive(SessionId(1)));
        assert!(!t.touch(SessionId(1), 1701), "a closing session is not revived");
        t.remove(SessionId(1));
        assert!(t.is_empty() && t.next_expiry_ms().is_none());
    }

    #[test]
    fn one_bucket_expires_all_its_sessions_in_id_order() {
        let mut t = SessionTracker::new(100);
        t.add(SessionId(3), 500, 10);
        t.add(SessionId(1), 500, 20);
        t.add(SessionId(2), 900, 20);
        assert_eq!(t.expired(600), vec![SessionId(1), SessionId(3)]);
        assert_eq!(t.expired(1000), vec![SessionId(2)]);
    }

    #[test]
    fn a_closing_session_leaves_its_bucket() {
        let mut t = SessionTracker::new(100);
        t.add(SessionId(1), 500, 0);
        t.set_closing(SessionId(1));
        assert!(t.expired(10_000).is_empty());
        assert_eq!(t.len(), 1);
    }
}
