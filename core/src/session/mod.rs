//! Sessions: how ids are made, how timeouts are negotiated, how passwords are made and
//! checked, and when a session expires.
//!
//! A session is replicated state: a `createSession` txn opens it on every server and a
//! `closeSession` txn (sent by the client, or issued by the leader at expiry) closes it and
//! deletes its ephemerals. Expiry itself is decided by the leader alone, from the client
//! activity every server reports ([`SessionTracker`]), as in ZooKeeper's
//! `SessionTrackerImpl` and `ExpiryQueue`.

use alloc::collections::{BTreeMap, BTreeSet};
use alloc::vec::Vec;

use core::fmt;

use hmac::{Hmac, Mac};
use sha2::Sha256;

use crate::ids::{IdMap, ServerId, SessionId, Zxid};

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

/// A session's password: 16 opaque bytes the client echoes when it reconnects.
pub type Password = [u8; 16];

/// What every server keeps of an open session (in its database and its snapshots).
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct SessionRecord {
    /// The negotiated timeout.
    pub timeout_ms: i32,
    pub password: Password,
}

/// The key a leader makes new sessions' passwords with: random, drawn by the host when the
/// server starts, and never sent anywhere. A password is kept with its session (in the
/// createSession txn, and so in every member's log and snapshot), so no other member needs the
/// key to check it, and a new leader makes new sessions' passwords with a key of its own.
#[derive(Clone, Copy, Default, PartialEq, Eq)]
pub struct SessionKey(pub [u8; 32]);

impl fmt::Debug for SessionKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SessionKey(..)")
    }
}

/// The password of the session `session` created by the txn `zxid`: HMAC-SHA256 under the
/// leader's key, cut to 16 bytes. Nobody without the key can compute it from the (public)
/// session id, and a session id used again later gets another password.
pub fn password(key: &SessionKey, session: SessionId, zxid: Zxid) -> Password {
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(&key.0).expect("HMAC takes any key length");
    mac.update(b"zabkeeper session password");
    mac.update(&session.0.to_be_bytes());
    mac.update(&zxid.as_u64().to_be_bytes());
    let tag = mac.finalize().into_bytes();
    let mut out = [0; 16];
    out.copy_from_slice(&tag[..16]);
    out
}

/// The password of a session created before passwords were kept (a `CreateSessionV1` txn or
/// a version 1 snapshot): derived from its id and a constant, as weak as ZooKeeper's own.
/// Such sessions keep working across an upgrade; new ones get [`password`]s.
pub fn legacy_password(session: SessionId) -> Password {
    let mut input = [0u8; 24];
    input[..8].copy_from_slice(&0x5a62_6b70_6173_7377u64.to_be_bytes());
    input[8..16].copy_from_slice(&session.0.to_be_bytes());
    input[16..].copy_from_slice(b"zbk-pass");
    xxhash_rust::xxh3::xxh3_128(&input).to_be_bytes()
}

/// Whether a client offered the session's password, compared in constant time (a client may
/// send any length; only exactly the 16 bytes match).
pub fn password_matches(kept: &Password, offered: Option<&[u8]>) -> bool {
    let Some(offered) = offered.filter(|o| o.len() == kept.len()) else { return false };
    kept.iter().zip(offered).fold(0u8, |diff, (a, b)| diff | (a ^ b)) == 0
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

    /// The expiry sets, soonest first: the time (ms) their sessions expire at and the sessions
    /// (ZooKeeper's `dump` shows them).
    pub fn expiry_sets(&self) -> impl Iterator<Item = (u64, &BTreeSet<SessionId>)> {
        self.buckets.iter().map(|(at, set)| (*at, set))
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
    use alloc::format;
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
    fn passwords_depend_on_key_session_and_zxid() {
        let (k, z) = (SessionKey([7; 32]), Zxid::new(1, 1));
        let a = password(&k, SessionId(1), z);
        assert_eq!(a, password(&k, SessionId(1), z));
        assert_ne!(a, password(&k, SessionId(2), z));
        assert_ne!(a, password(&k, SessionId(1), Zxid::new(1, 2)));
        assert_ne!(a, password(&SessionKey([8; 32]), SessionId(1), z));
        assert_ne!(a, legacy_password(SessionId(1)));
        assert_eq!(format!("{k:?}"), "SessionKey(..)", "the key never shows in a log");
    }

    #[test]
    fn only_the_exact_password_matches() {
        let kept = password(&SessionKey([1; 32]), SessionId(5), Zxid::new(2, 9));
        assert!(password_matches(&kept, Some(&kept)));
        let mut other = kept;
        other[15] ^= 1;
        assert!(!password_matches(&kept, Some(&other)));
        assert!(!password_matches(&kept, Some(&kept[..15])));
        assert!(!password_matches(&kept, Some(&[kept.as_slice(), &[0]].concat())));
        assert!(!password_matches(&kept, None));
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
