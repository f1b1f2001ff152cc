//! Watch registrations and the notifications they cause: ZooKeeper 3.8's server-side
//! `WatchManager`, of which `DataTree` keeps two, plus the trigger calls that `DataTree.createNode`,
//! `deleteNode` and `setData` make (Programmer's Guide, "ZooKeeper Watches"; reference §1.4).
//!
//! One [`WatchManager`] per server holds the watches of the connections attached to that server.
//! A [`Watcher`] is one client connection.
//!
//! ```text
//!   getData / exists / getChildren with watch ──► add()
//!   addWatch (106)                            ──► add_persistent()
//!   SetWatches / SetWatches2 on reconnect     ──► add() / add_persistent()  (see below)
//!   removeWatches (18) / checkWatches (17)    ──► remove() / check()  ──► ErrorCode
//!   connection closed                         ──► remove_watcher()
//!   change applied to the tree                ──► node_created() / node_deleted() / data_changed()
//!                                                  ──► Notification, appended to the caller's Vec
//! ```
//!
//! The rules, as in ZooKeeper 3.8:
//! - There are two tables. The data table holds getData and exists watches (exists also watches a
//!   missing node); the child table holds getChildren watches. A persistent or recursive watch
//!   (addWatch) is put in both.
//! - In one table a watcher has at most one watch per path, with one mode (standard, persistent or
//!   recursive). Registering again replaces the mode: a getData watch added after a persistent
//!   watch on the same path turns the data half into a one-shot watch, which is then removed when
//!   it fires, while the child half stays persistent. (3.9 keeps both modes, ZOOKEEPER-4466.)
//! - A trigger on a path notifies every watcher of the path in that table, except that recursive
//!   watches never see NodeChildrenChanged; standard watches that fired are removed. When the
//!   table holds any recursive watch, the recursive watches of every ancestor fire too (again not
//!   for NodeChildrenChanged). Each watcher gets at most one notification per trigger.
//! - create: NodeCreated from the data table on the path, then NodeChildrenChanged from the child
//!   table on the parent. setData: NodeDataChanged from the data table. delete: NodeDeleted from
//!   the data table, then NodeDeleted from the child table to watchers the data table did not
//!   already notify (the child table's one-shot watches are removed either way), then
//!   NodeChildrenChanged on the parent. setACL notifies nobody.
//!
//! Within one trigger ZooKeeper notifies watchers in hash-set order; here the order is ascending
//! [`Watcher`], so runs are deterministic. What a client can rely on, the order of its own events,
//! is the same.
//!
//! From 3.8.4 on (ZOOKEEPER-4799) a connection only receives an event if it has READ on the node's
//! ACL: the node's own ACL for NodeCreated, NodeDeleted and NodeDataChanged, the parent's for
//! NodeChildrenChanged. The filter sits at delivery, after one-shot watches were removed, so it is
//! the host's job; 3.8.0 does not filter.
//!
//! Reconnection (SetWatches 101 and SetWatches2 105, `DataTree.setWatches`) is the server's job. For
//! each path of each list, in this order, it either sends the event at once (before the reply) or
//! registers the watch here:
//! - dataWatches: node missing → NodeDeleted; node mzxid > relativeZxid → NodeDataChanged; otherwise
//!   `add(path, WatchKind::Data, w)`;
//! - existWatches: node exists → NodeCreated; otherwise `add(path, WatchKind::Exist, w)`;
//! - childWatches: node missing → NodeDeleted; node pzxid > relativeZxid → NodeChildrenChanged;
//!   otherwise `add(path, WatchKind::Child, w)`;
//! - persistentWatches: `add_persistent(path, PersistentMode::Persistent, w)`, always;
//! - persistentRecursiveWatches: `add_persistent(path, PersistentMode::Recursive, w)`, always.

#[cfg(test)]
mod tests;

use alloc::collections::{BTreeMap, BTreeSet};
use alloc::string::String;
use alloc::vec::Vec;
use core::fmt;

use compact_str::CompactString;

use crate::error::ErrorCode;
use crate::tree::path::split_parent;

/// One client connection, as far as watches are concerned. Opaque: the server chooses the numbers.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Watcher(pub u64);

/// The server-generated event types (`Watcher.Event.EventType`); the discriminant is the wire value.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
#[repr(i32)]
pub enum EventType {
    NodeCreated = 1,
    NodeDeleted = 2,
    NodeDataChanged = 3,
    NodeChildrenChanged = 4,
}

impl EventType {
    pub const fn code(self) -> i32 {
        self as i32
    }
}

/// The one-shot watch a read sets.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum WatchKind {
    /// getData on an existing node.
    Data,
    /// exists, whether or not the node exists. Server-side it is a data watch.
    Exist,
    /// getChildren / getChildren2 on an existing node.
    Child,
}

/// The addWatch (106) modes ZooKeeper 3.8 accepts.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum PersistentMode {
    /// Mode 0: data and child events on the path; stays after firing.
    Persistent,
    /// Mode 1: created / deleted / data-changed events on the path and every descendant, never
    /// NodeChildrenChanged; stays after firing.
    Recursive,
}

impl PersistentMode {
    /// The mode for a wire value. 3.8 refuses anything but 0 and 1 with MarshallingError (its
    /// `WatcherMode.fromZooDef` throws and `FinalRequestProcessor` maps that to -5).
    pub const fn from_wire(mode: i32) -> Result<PersistentMode, ErrorCode> {
        match mode {
            0 => Ok(PersistentMode::Persistent),
            1 => Ok(PersistentMode::Recursive),
            _ => Err(ErrorCode::MarshallingError),
        }
    }
}

/// The `type` of removeWatches and checkWatches in 3.8 (`Watcher.WatcherType`); the discriminant
/// is the wire value. 3.8 has no Persistent (4) or PersistentRecursive (5).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
#[repr(i32)]
pub enum WatcherType {
    /// The child table.
    Children = 1,
    /// The data table.
    Data = 2,
    /// Both tables.
    Any = 3,
}

impl WatcherType {
    /// The type for a wire value. Any other value makes 3.8 answer MarshallingError
    /// (`WatcherType.fromInt` throws).
    pub const fn from_wire(value: i32) -> Result<WatcherType, ErrorCode> {
        match value {
            1 => Ok(WatcherType::Children),
            2 => Ok(WatcherType::Data),
            3 => Ok(WatcherType::Any),
            _ => Err(ErrorCode::MarshallingError),
        }
    }

    const fn touches_child_table(self) -> bool {
        matches!(self, WatcherType::Children | WatcherType::Any)
    }

    const fn touches_data_table(self) -> bool {
        matches!(self, WatcherType::Data | WatcherType::Any)
    }
}

/// How one watcher watches one path in one table.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum WatchMode {
    /// One-shot, removed when it fires.
    Standard,
    Persistent,
    Recursive,
}

impl From<PersistentMode> for WatchMode {
    fn from(mode: PersistentMode) -> WatchMode {
        match mode {
            PersistentMode::Persistent => WatchMode::Persistent,
            PersistentMode::Recursive => WatchMode::Recursive,
        }
    }
}

/// One event for one connection, to be sent as a notification (xid -1, state SyncConnected).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Notification {
    pub watcher: Watcher,
    pub event: EventType,
    pub path: String,
}

/// What one watcher has on one path: the mode in each table, if any.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PathWatches {
    pub data: Option<WatchMode>,
    pub child: Option<WatchMode>,
}

/// The counts `wchs` prints. Like ZooKeeper 3.8 they cover the data table only (getData, exists and
/// addWatch watches; getChildren watches are not counted), and `connections` counts every
/// connection that has ever set a data-table watch and is still open, even if all of them fired.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct WatchStats {
    pub connections: usize,
    pub paths: usize,
    pub watches: usize,
}

/// The exact text of `wchs` before its final newline.
impl fmt::Display for WatchStats {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} connections watching {} paths\nTotal watches:{}", self.connections, self.paths, self.watches)
    }
}

/// All watches of the connections attached to one server. See the module docs for the rules.
#[derive(Debug, Default)]
pub struct WatchManager {
    data: Table,
    child: Table,
}

impl WatchManager {
    /// Whether any connection has a persistent recursive watch.
    pub fn has_recursive(&self) -> bool {
        self.data.recursive > 0
    }

    /// Registers the one-shot watch a read sets. exists registers even when the node is missing;
    /// getData and getChildren only when the read succeeds.
    pub fn add(&mut self, path: &str, kind: WatchKind, w: Watcher) {
        match kind {
            WatchKind::Data | WatchKind::Exist => self.data.add(path, w, WatchMode::Standard),
            WatchKind::Child => self.child.add(path, w, WatchMode::Standard),
        }
    }

    /// Registers an addWatch watch, in both tables (`DataTree.addWatch`).
    pub fn add_persistent(&mut self, path: &str, mode: PersistentMode, w: Watcher) {
        self.data.add(path, w, mode.into());
        self.child.add(path, w, mode.into());
    }

    /// The events a create of `path` causes: NodeCreated on the path, then NodeChildrenChanged on
    /// its parent. A watcher that learns of it only through a recursive watch on an ancestor
    /// does so only if `may_read` says it may read the node (CVE-2024-23944; ZooKeeper 3.8.4);
    /// the same holds for [`WatchManager::node_deleted`] and [`WatchManager::data_changed`].
    pub fn node_created(&mut self, path: &str, may_read: &dyn Fn(Watcher) -> bool, out: &mut Vec<Notification>) {
        let fired = self.data.trigger(path, EventType::NodeCreated, may_read);
        notify(&fired, &[], EventType::NodeCreated, path, out);
        self.children_changed(path, out);
    }

    /// The events a delete of `path` causes (also for ephemeral cleanup): one NodeDeleted per
    /// watcher of the path in either table, then NodeChildrenChanged on the parent.
    pub fn node_deleted(&mut self, path: &str, may_read: &dyn Fn(Watcher) -> bool, out: &mut Vec<Notification>) {
        let from_data = self.data.trigger(path, EventType::NodeDeleted, may_read);
        notify(&from_data, &[], EventType::NodeDeleted, path, out);
        let from_child = self.child.trigger(path, EventType::NodeDeleted, may_read);
        notify(&from_child, &from_data, EventType::NodeDeleted, path, out);
        self.children_changed(path, out);
    }

    /// The events a setData of `path` causes: NodeDataChanged.
    pub fn data_changed(&mut self, path: &str, may_read: &dyn Fn(Watcher) -> bool, out: &mut Vec<Notification>) {
        let fired = self.data.trigger(path, EventType::NodeDataChanged, may_read);
        notify(&fired, &[], EventType::NodeDataChanged, path, out);
    }

    fn children_changed(&mut self, path: &str, out: &mut Vec<Notification>) {
        let Some((parent, _)) = split_parent(path) else { return };
        // No recursive watch sees NodeChildrenChanged: nothing to filter.
        let fired = self.child.trigger(parent, EventType::NodeChildrenChanged, &|_| true);
        notify(&fired, &[], EventType::NodeChildrenChanged, parent, out);
    }

    /// removeWatches (18): drops `w`'s watch on exactly `path` from the tables `watcher_type`
    /// names, whatever its mode (so type Data also drops the data half of a persistent watch, and
    /// Any drops persistent and recursive watches whole). Returns Ok if anything was removed,
    /// NoWatcher if not, MarshallingError for a type 3.8 does not know.
    pub fn remove(&mut self, path: &str, watcher_type: i32, w: Watcher) -> ErrorCode {
        let watcher_type = match WatcherType::from_wire(watcher_type) {
            Ok(t) => t,
            Err(code) => return code,
        };
        let from_child = watcher_type.touches_child_table() && self.child.remove(path, w);
        let from_data = watcher_type.touches_data_table() && self.data.remove(path, w);
        if from_child || from_data { ErrorCode::Ok } else { ErrorCode::NoWatcher }
    }

    /// checkWatches (17): Ok if the tables `watcher_type` names hold a watch on exactly `path`,
    /// NoWatcher if not, MarshallingError for an unknown type.
    ///
    /// ZooKeeper 3.8's `WatchManager.containsWatcher` answers yes when *any* connection watches
    /// the path, not only `_w`, and never looks at ancestors' recursive watches; this keeps that.
    /// (3.9 checks the connection's own watch, ZOOKEEPER-4466.)
    pub fn check(&self, path: &str, watcher_type: i32, _w: Watcher) -> ErrorCode {
        let watcher_type = match WatcherType::from_wire(watcher_type) {
            Ok(t) => t,
            Err(code) => return code,
        };
        let in_child = watcher_type.touches_child_table() && self.child.watched(path);
        let in_data = watcher_type.touches_data_table() && self.data.watched(path);
        if in_child || in_data { ErrorCode::Ok } else { ErrorCode::NoWatcher }
    }

    /// A connection closed: drops all its watches. The server must not add watches for `w` again
    /// (ZooKeeper ignores registrations from a closed connection).
    pub fn remove_watcher(&mut self, w: Watcher) {
        self.data.remove_watcher(w);
        self.child.remove_watcher(w);
    }

    /// The `wchs` counts (data table only, as in 3.8).
    pub fn stats(&self) -> WatchStats {
        WatchStats { connections: self.data.by_watcher.len(), paths: self.data.by_path.len(), watches: self.data.len }
    }

    /// `mntr`'s zk_watch_count: the watches of both tables (`DataTree.getWatchCount`), so a
    /// persistent watch counts twice.
    pub fn watch_count(&self) -> usize {
        self.data.len + self.child.len
    }

    /// What `wchc` lists (3.8 `dumpWatches(byPath = false)`, data table only): each connection with
    /// an entry in the data table, even one whose watches all fired, and its watched paths.
    pub fn report_by_watcher(&self) -> Vec<(Watcher, Vec<&str>)> {
        self.data.by_watcher.iter().map(|(w, paths)| (*w, paths.iter().map(|p| p.as_str()).collect())).collect()
    }

    /// What `wchp` lists (3.8 `dumpWatches(byPath = true)`, data table only): each watched path
    /// and its watchers.
    pub fn report_by_path(&self) -> Vec<(&str, Vec<Watcher>)> {
        self.data.by_path.iter().map(|(p, watchers)| (p.as_str(), watchers.keys().copied().collect())).collect()
    }

    /// Every path `w` watches, in either table, with the mode held in each.
    pub fn watches_of(&self, w: Watcher) -> Vec<(&str, PathWatches)> {
        let mut merged: BTreeMap<&str, PathWatches> = BTreeMap::new();
        for (table, is_data) in [(&self.data, true), (&self.child, false)] {
            for path in table.by_watcher.get(&w).into_iter().flatten() {
                let mode = table.mode(path, w);
                let entry = merged.entry(path.as_str()).or_default();
                if is_data {
                    entry.data = mode;
                } else {
                    entry.child = mode;
                }
            }
        }
        merged.into_iter().collect()
    }

    /// Checks that both tables' indexes agree with each other and with their counters.
    pub fn check_invariants(&self) -> Result<(), String> {
        self.data.check_invariants().map_err(|e| alloc::format!("data table: {e}"))?;
        self.child.check_invariants().map_err(|e| alloc::format!("child table: {e}"))
    }
}

/// Appends one `event` for each watcher in `fired` that is not in `already` (both sorted).
fn notify(fired: &[Watcher], already: &[Watcher], event: EventType, path: &str, out: &mut Vec<Notification>) {
    for &watcher in fired {
        if already.binary_search(&watcher).is_err() {
            out.push(Notification { watcher, event, path: path.into() });
        }
    }
}

/// The strict ancestors of a valid path, nearest first: "/a/b" gives "/a", then "/".
fn ancestors(path: &str) -> impl Iterator<Item = &str> {
    core::iter::successors(split_parent(path).map(|(parent, _)| parent), |p| split_parent(p).map(|(parent, _)| parent))
}

/// One of ZooKeeper's two `WatchManager`s: a path index, a per-watcher reverse index, and the
/// count of recursive watches that decides whether a trigger walks the ancestors.
#[derive(Debug, Default)]
struct Table {
    by_path: BTreeMap<CompactString, BTreeMap<Watcher, WatchMode>>,
    /// Like 3.8's `watch2Paths`, a watcher's entry stays (possibly empty) until its connection
    /// closes; `wchs` and `wchc` show it.
    by_watcher: BTreeMap<Watcher, BTreeSet<CompactString>>,
    /// Number of (path, watcher) pairs.
    len: usize,
    /// Number of pairs in mode Recursive.
    recursive: usize,
}

impl Table {
    fn add(&mut self, path: &str, w: Watcher, mode: WatchMode) {
        let old = match self.by_path.get_mut(path) {
            Some(watchers) => watchers.insert(w, mode),
            None => {
                self.by_path.insert(path.into(), BTreeMap::from([(w, mode)]));
                None
            }
        };
        if old.is_none() {
            self.len += 1;
            let inserted = self.by_watcher.entry(w).or_default().insert(path.into());
            assert!(inserted, "watch index out of step at {path}");
        }
        self.count_recursive(old, Some(mode));
    }

    fn count_recursive(&mut self, old: Option<WatchMode>, new: Option<WatchMode>) {
        match (old == Some(WatchMode::Recursive), new == Some(WatchMode::Recursive)) {
            (false, true) => self.recursive += 1,
            (true, false) => self.recursive -= 1,
            _ => {}
        }
    }

    fn mode(&self, path: &str, w: Watcher) -> Option<WatchMode> {
        self.by_path.get(path)?.get(&w).copied()
    }

    fn watched(&self, path: &str) -> bool {
        self.by_path.contains_key(path)
    }

    /// The watchers `event` on `path` notifies, sorted and without duplicates; the standard
    /// watches among them are dropped. Those notified through a recursive watch on an ancestor
    /// only if `may_read` says so.
    fn trigger(&mut self, path: &str, event: EventType, may_read: &dyn Fn(Watcher) -> bool) -> Vec<Watcher> {
        let mut fired = Vec::new();
        if self.by_path.is_empty() {
            return fired;
        }
        let children_changed = event == EventType::NodeChildrenChanged;
        if let Some(watchers) = self.by_path.get_mut(path) {
            let by_watcher = &mut self.by_watcher;
            let mut dropped = 0;
            watchers.retain(|&w, mode| {
                if *mode == WatchMode::Recursive && children_changed {
                    return true;
                }
                fired.push(w);
                if *mode != WatchMode::Standard {
                    return true;
                }
                let removed = by_watcher.get_mut(&w).is_some_and(|paths| paths.remove(path));
                assert!(removed, "watch index out of step at {path}");
                dropped += 1;
                false
            });
            self.len -= dropped;
            if watchers.is_empty() {
                self.by_path.remove(path);
            }
        }
        // Ancestors only hold interest through recursive watches, and those ignore
        // NodeChildrenChanged, so the walk is needed only for the other events.
        if self.recursive > 0 && !children_changed {
            for ancestor in ancestors(path) {
                let Some(watchers) = self.by_path.get(ancestor) else { continue };
                fired.extend(
                    watchers
                        .iter()
                        .filter(|(w, mode)| **mode == WatchMode::Recursive && may_read(**w))
                        .map(|(w, _)| *w),
                );
            }
            fired.sort_unstable();
            fired.dedup();
        }
        fired
    }

    fn remove(&mut self, path: &str, w: Watcher) -> bool {
        let Some(watchers) = self.by_path.get_mut(path) else { return false };
        let Some(mode) = watchers.remove(&w) else { return false };
        if watchers.is_empty() {
            self.by_path.remove(path);
        }
        let removed = self.by_watcher.get_mut(&w).is_some_and(|paths| paths.remove(path));
        assert!(removed, "watch index out of step at {path}");
        self.len -= 1;
        self.count_recursive(Some(mode), None);
        true
    }

    fn remove_watcher(&mut self, w: Watcher) {
        let Some(paths) = self.by_watcher.remove(&w) else { return };
        for path in paths {
            let watchers = self.by_path.get_mut(&path).expect("reverse index names a watched path");
            let mode = watchers.remove(&w).expect("reverse index names a watch");
            if watchers.is_empty() {
                self.by_path.remove(&path);
            }
            self.len -= 1;
            self.count_recursive(Some(mode), None);
        }
    }

    fn check_invariants(&self) -> Result<(), String> {
        let mut len = 0;
        let mut recursive = 0;
        for (path, watchers) in &self.by_path {
            if watchers.is_empty() {
                return Err(alloc::format!("empty watcher set kept for {path}"));
            }
            for (w, mode) in watchers {
                if !self.by_watcher.get(w).is_some_and(|paths| paths.contains(path)) {
                    return Err(alloc::format!("{w:?} on {path} missing from the reverse index"));
                }
                len += 1;
                recursive += usize::from(*mode == WatchMode::Recursive);
            }
        }
        let reverse_len: usize = self.by_watcher.values().map(BTreeSet::len).sum();
        if (len, recursive, reverse_len) != (self.len, self.recursive, self.len) {
            return Err(alloc::format!(
                "counted {len} watches ({recursive} recursive), reverse index {reverse_len}, counters {} ({})",
                self.len,
                self.recursive
            ));
        }
        Ok(())
    }
}
