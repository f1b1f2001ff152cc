//! Unit tests of the watch tables against ZooKeeper 3.8's `WatchManager` and `DataTree` trigger
//! rules, and a property test against a small model.

use alloc::string::{String, ToString};
use alloc::vec;
use alloc::vec::Vec;

use proptest::prelude::*;

use super::*;
use EventType::{NodeChildrenChanged, NodeCreated, NodeDataChanged, NodeDeleted};

const W1: Watcher = Watcher(1);
const W2: Watcher = Watcher(2);
const W3: Watcher = Watcher(3);
const W4: Watcher = Watcher(4);

const CHILDREN: i32 = 1;
const DATA: i32 = 2;
const ANY: i32 = 3;

fn n(watcher: Watcher, event: EventType, path: &str) -> Notification {
    Notification { watcher, event, path: path.to_string() }
}

fn created(m: &mut WatchManager, path: &str) -> Vec<Notification> {
    let mut out = Vec::new();
    m.node_created(path, &|_| true, &mut out);
    m.check_invariants().unwrap();
    out
}

fn deleted(m: &mut WatchManager, path: &str) -> Vec<Notification> {
    let mut out = Vec::new();
    m.node_deleted(path, &|_| true, &mut out);
    m.check_invariants().unwrap();
    out
}

fn changed(m: &mut WatchManager, path: &str) -> Vec<Notification> {
    let mut out = Vec::new();
    m.data_changed(path, &|_| true, &mut out);
    m.check_invariants().unwrap();
    out
}

fn watches(data: Option<WatchMode>, child: Option<WatchMode>) -> PathWatches {
    PathWatches { data, child }
}

#[test]
fn wire_values() {
    let codes = [NodeCreated, NodeDeleted, NodeDataChanged, NodeChildrenChanged].map(EventType::code);
    assert_eq!(codes, [1, 2, 3, 4]);
    assert_eq!(PersistentMode::from_wire(0), Ok(PersistentMode::Persistent));
    assert_eq!(PersistentMode::from_wire(1), Ok(PersistentMode::Recursive));
    for mode in [-1, 2, 7] {
        assert_eq!(PersistentMode::from_wire(mode), Err(ErrorCode::MarshallingError));
    }
    assert_eq!(WatcherType::from_wire(1), Ok(WatcherType::Children));
    assert_eq!(WatcherType::from_wire(2), Ok(WatcherType::Data));
    assert_eq!(WatcherType::from_wire(3), Ok(WatcherType::Any));
    for value in [-1, 0, 4, 5] {
        assert_eq!(WatcherType::from_wire(value), Err(ErrorCode::MarshallingError));
    }
}

#[test]
fn exist_watch_on_a_missing_node_fires_node_created_once() {
    let mut m = WatchManager::default();
    m.add("/a", WatchKind::Exist, W1);
    assert_eq!(m.watches_of(W1), vec![("/a", watches(Some(WatchMode::Standard), None))]);
    assert_eq!(created(&mut m, "/a"), vec![n(W1, NodeCreated, "/a")]);
    assert_eq!(created(&mut m, "/a"), vec![]);
    assert_eq!(m.watch_count(), 0);
}

#[test]
fn data_and_exist_watches_share_the_data_table() {
    let mut m = WatchManager::default();
    m.add("/a", WatchKind::Data, W1);
    m.add("/a", WatchKind::Exist, W1);
    m.add("/a", WatchKind::Data, W1);
    m.add("/a", WatchKind::Data, W2);
    assert_eq!(m.watch_count(), 2);
    assert_eq!(changed(&mut m, "/a"), vec![n(W1, NodeDataChanged, "/a"), n(W2, NodeDataChanged, "/a")]);
    assert_eq!(changed(&mut m, "/a"), vec![]);
}

#[test]
fn exist_watch_also_fires_on_data_change_and_delete() {
    let mut m = WatchManager::default();
    m.add("/a", WatchKind::Exist, W1);
    assert_eq!(changed(&mut m, "/a"), vec![n(W1, NodeDataChanged, "/a")]);
    m.add("/a", WatchKind::Exist, W1);
    assert_eq!(deleted(&mut m, "/a"), vec![n(W1, NodeDeleted, "/a")]);
}

#[test]
fn data_change_fires_only_data_watches() {
    let mut m = WatchManager::default();
    m.add("/a", WatchKind::Data, W1);
    m.add("/a", WatchKind::Child, W2);
    m.add("/", WatchKind::Child, W3);
    assert_eq!(changed(&mut m, "/a"), vec![n(W1, NodeDataChanged, "/a")]);
    assert_eq!(m.watches_of(W2), vec![("/a", watches(None, Some(WatchMode::Standard)))]);
    assert_eq!(m.watches_of(W3), vec![("/", watches(None, Some(WatchMode::Standard)))]);
}

#[test]
fn create_fires_node_created_then_children_changed_on_the_parent() {
    let mut m = WatchManager::default();
    m.add("/a", WatchKind::Child, W2);
    m.add("/a/b", WatchKind::Exist, W3);
    m.add("/a/b", WatchKind::Exist, W1);
    m.add("/a", WatchKind::Child, W1);
    // A child watch on the created path itself is not a creation watch.
    m.add("/a/b", WatchKind::Child, W4);
    // Nor is a data watch on the parent.
    m.add("/a", WatchKind::Data, W4);
    assert_eq!(
        created(&mut m, "/a/b"),
        vec![
            n(W1, NodeCreated, "/a/b"),
            n(W3, NodeCreated, "/a/b"),
            n(W1, NodeChildrenChanged, "/a"),
            n(W2, NodeChildrenChanged, "/a"),
        ]
    );
    assert_eq!(m.watches_of(W1), vec![]);
    assert_eq!(
        m.watches_of(W4),
        vec![("/a", watches(Some(WatchMode::Standard), None)), ("/a/b", watches(None, Some(WatchMode::Standard)))]
    );
}

#[test]
fn the_parent_of_a_top_level_node_is_the_root() {
    let mut m = WatchManager::default();
    m.add("/", WatchKind::Child, W1);
    assert_eq!(created(&mut m, "/a"), vec![n(W1, NodeChildrenChanged, "/")]);
    m.add("/", WatchKind::Child, W1);
    assert_eq!(deleted(&mut m, "/a"), vec![n(W1, NodeChildrenChanged, "/")]);
}

#[test]
fn grandparents_child_watches_do_not_fire() {
    let mut m = WatchManager::default();
    m.add("/", WatchKind::Child, W1);
    m.add("/a", WatchKind::Data, W1);
    assert_eq!(created(&mut m, "/a/b"), vec![]);
    assert_eq!(deleted(&mut m, "/a/b"), vec![]);
    assert_eq!(m.watch_count(), 2);
}

#[test]
fn delete_sends_one_node_deleted_per_watcher_then_children_changed() {
    let mut m = WatchManager::default();
    m.add("/a/b", WatchKind::Data, W1);
    m.add("/a/b", WatchKind::Child, W1);
    m.add("/a/b", WatchKind::Child, W2);
    m.add("/a/b", WatchKind::Exist, W3);
    m.add("/a", WatchKind::Child, W4);
    m.add("/a", WatchKind::Child, W1);
    // Data table first (W1, W3), then the child table without W1, then the parent.
    assert_eq!(
        deleted(&mut m, "/a/b"),
        vec![
            n(W1, NodeDeleted, "/a/b"),
            n(W3, NodeDeleted, "/a/b"),
            n(W2, NodeDeleted, "/a/b"),
            n(W1, NodeChildrenChanged, "/a"),
            n(W4, NodeChildrenChanged, "/a"),
        ]
    );
    // W1's child watch on /a/b was removed too, although its event was folded into the data one.
    assert_eq!(m.watch_count(), 0);
    assert_eq!(deleted(&mut m, "/a/b"), vec![]);
}

#[test]
fn persistent_watch_fires_like_data_and_child_watches_and_stays() {
    let mut m = WatchManager::default();
    m.add_persistent("/p", PersistentMode::Persistent, W1);
    let both = watches(Some(WatchMode::Persistent), Some(WatchMode::Persistent));
    assert_eq!(m.watches_of(W1), vec![("/p", both)]);
    assert_eq!(created(&mut m, "/p"), vec![n(W1, NodeCreated, "/p")]);
    assert_eq!(created(&mut m, "/p/x"), vec![n(W1, NodeChildrenChanged, "/p")]);
    assert_eq!(changed(&mut m, "/p"), vec![n(W1, NodeDataChanged, "/p")]);
    assert_eq!(changed(&mut m, "/p"), vec![n(W1, NodeDataChanged, "/p")]);
    assert_eq!(changed(&mut m, "/p/x"), vec![]);
    assert_eq!(created(&mut m, "/p/x/y"), vec![]);
    assert_eq!(deleted(&mut m, "/p/x"), vec![n(W1, NodeChildrenChanged, "/p")]);
    assert_eq!(deleted(&mut m, "/p"), vec![n(W1, NodeDeleted, "/p")]);
    assert_eq!(m.watches_of(W1), vec![("/p", both)]);
    assert_eq!(created(&mut m, "/p"), vec![n(W1, NodeCreated, "/p")]);
}

#[test]
fn recursive_watch_covers_the_subtree_without_children_changed() {
    let mut m = WatchManager::default();
    m.add_persistent("/r", PersistentMode::Recursive, W1);
    assert_eq!(created(&mut m, "/r"), vec![n(W1, NodeCreated, "/r")]);
    assert_eq!(created(&mut m, "/r/x"), vec![n(W1, NodeCreated, "/r/x")]);
    assert_eq!(created(&mut m, "/r/x/y"), vec![n(W1, NodeCreated, "/r/x/y")]);
    assert_eq!(changed(&mut m, "/r/x/y"), vec![n(W1, NodeDataChanged, "/r/x/y")]);
    assert_eq!(changed(&mut m, "/r"), vec![n(W1, NodeDataChanged, "/r")]);
    assert_eq!(deleted(&mut m, "/r/x/y"), vec![n(W1, NodeDeleted, "/r/x/y")]);
    assert_eq!(deleted(&mut m, "/r/x"), vec![n(W1, NodeDeleted, "/r/x")]);
    assert_eq!(deleted(&mut m, "/r"), vec![n(W1, NodeDeleted, "/r")]);
    // Siblings and names that merely share the prefix are outside.
    assert_eq!(created(&mut m, "/rx"), vec![]);
    assert_eq!(changed(&mut m, "/s/r"), vec![]);
    assert_eq!(m.watches_of(W1), vec![("/r", watches(Some(WatchMode::Recursive), Some(WatchMode::Recursive)))]);
}

#[test]
fn recursive_watch_on_the_root_sees_every_change_once() {
    let mut m = WatchManager::default();
    m.add_persistent("/", PersistentMode::Recursive, W1);
    m.add_persistent("/a", PersistentMode::Recursive, W1);
    m.add_persistent("/a/b", PersistentMode::Recursive, W2);
    assert_eq!(created(&mut m, "/a/b/c"), vec![n(W1, NodeCreated, "/a/b/c"), n(W2, NodeCreated, "/a/b/c")]);
    assert_eq!(changed(&mut m, "/z"), vec![n(W1, NodeDataChanged, "/z")]);
    assert_eq!(deleted(&mut m, "/a/b/c"), vec![n(W1, NodeDeleted, "/a/b/c"), n(W2, NodeDeleted, "/a/b/c")]);
}

#[test]
fn recursive_watch_and_a_child_watch_below_it() {
    let mut m = WatchManager::default();
    m.add_persistent("/r", PersistentMode::Recursive, W1);
    m.add("/r/x", WatchKind::Child, W1);
    assert_eq!(created(&mut m, "/r/x/y"), vec![n(W1, NodeCreated, "/r/x/y"), n(W1, NodeChildrenChanged, "/r/x")]);
    assert_eq!(created(&mut m, "/r/x/z"), vec![n(W1, NodeCreated, "/r/x/z")]);
}

#[test]
fn persistent_watch_over_a_one_shot_takes_its_place() {
    // ZooKeeper 3.8 keeps one mode per watcher and path in each table: the later add wins.
    let mut m = WatchManager::default();
    m.add("/p", WatchKind::Data, W1);
    m.add_persistent("/p", PersistentMode::Persistent, W1);
    assert_eq!(m.stats().watches, 1);
    assert_eq!(changed(&mut m, "/p"), vec![n(W1, NodeDataChanged, "/p")]);
    assert_eq!(changed(&mut m, "/p"), vec![n(W1, NodeDataChanged, "/p")]);
}

#[test]
fn one_shot_over_a_persistent_watch_turns_its_data_half_one_shot() {
    let mut m = WatchManager::default();
    m.add_persistent("/p", PersistentMode::Persistent, W1);
    m.add("/p", WatchKind::Data, W1);
    assert_eq!(m.watches_of(W1), vec![("/p", watches(Some(WatchMode::Standard), Some(WatchMode::Persistent)))]);
    // One event, and the data half is gone after it.
    assert_eq!(changed(&mut m, "/p"), vec![n(W1, NodeDataChanged, "/p")]);
    assert_eq!(changed(&mut m, "/p"), vec![]);
    assert_eq!(m.watches_of(W1), vec![("/p", watches(None, Some(WatchMode::Persistent)))]);
    // The child half still reports children and deletion.
    assert_eq!(created(&mut m, "/p/x"), vec![n(W1, NodeChildrenChanged, "/p")]);
    assert_eq!(deleted(&mut m, "/p"), vec![n(W1, NodeDeleted, "/p")]);
    assert_eq!(deleted(&mut m, "/p"), vec![n(W1, NodeDeleted, "/p")]);
}

#[test]
fn one_shot_over_a_recursive_watch_leaves_only_the_child_half_recursive() {
    let mut m = WatchManager::default();
    m.add_persistent("/r", PersistentMode::Recursive, W1);
    m.add("/r", WatchKind::Exist, W1);
    // The data table has no recursive watch left: creations and data changes below /r are silent.
    assert_eq!(created(&mut m, "/r/x"), vec![]);
    assert_eq!(changed(&mut m, "/r/x"), vec![]);
    // The child table's recursive half still reports deletions below /r.
    assert_eq!(deleted(&mut m, "/r/x"), vec![n(W1, NodeDeleted, "/r/x")]);
    // The exist watch on /r fires once.
    assert_eq!(changed(&mut m, "/r"), vec![n(W1, NodeDataChanged, "/r")]);
    assert_eq!(changed(&mut m, "/r"), vec![]);
    assert_eq!(m.watches_of(W1), vec![("/r", watches(None, Some(WatchMode::Recursive)))]);
}

#[test]
fn recursive_replaced_by_persistent_stops_covering_descendants() {
    let mut m = WatchManager::default();
    m.add_persistent("/r", PersistentMode::Recursive, W1);
    m.add_persistent("/r", PersistentMode::Persistent, W1);
    assert_eq!(created(&mut m, "/r/x"), vec![n(W1, NodeChildrenChanged, "/r")]);
    assert_eq!(changed(&mut m, "/r/x"), vec![]);
}

#[test]
fn remove_codes_and_tables() {
    let mut m = WatchManager::default();
    m.add("/a", WatchKind::Data, W1);
    for bad in [0, 4, 5, -1] {
        assert_eq!(m.remove("/a", bad, W1), ErrorCode::MarshallingError);
    }
    assert_eq!(m.remove("/a", CHILDREN, W1), ErrorCode::NoWatcher);
    assert_eq!(m.remove("/a", DATA, W2), ErrorCode::NoWatcher);
    assert_eq!(m.remove("/b", ANY, W1), ErrorCode::NoWatcher);
    assert_eq!(m.watch_count(), 1);
    assert_eq!(m.remove("/a", DATA, W1), ErrorCode::Ok);
    assert_eq!(m.remove("/a", DATA, W1), ErrorCode::NoWatcher);
    assert_eq!(changed(&mut m, "/a"), vec![]);

    m.add("/a", WatchKind::Child, W1);
    assert_eq!(m.remove("/a", DATA, W1), ErrorCode::NoWatcher);
    assert_eq!(m.remove("/a", ANY, W1), ErrorCode::Ok);
    assert_eq!(m.watch_count(), 0);
    m.check_invariants().unwrap();
}

#[test]
fn remove_any_drops_persistent_and_recursive_watches_whole() {
    let mut m = WatchManager::default();
    m.add_persistent("/p", PersistentMode::Persistent, W1);
    m.add_persistent("/r", PersistentMode::Recursive, W1);
    assert_eq!(m.remove("/p", ANY, W1), ErrorCode::Ok);
    assert_eq!(m.remove("/r", ANY, W1), ErrorCode::Ok);
    assert_eq!(m.watch_count(), 0);
    assert_eq!(created(&mut m, "/p/x"), vec![]);
    assert_eq!(created(&mut m, "/r/x"), vec![]);
    assert_eq!(m.remove("/r", ANY, W1), ErrorCode::NoWatcher);
}

#[test]
fn remove_by_table_splits_a_persistent_watch() {
    let mut m = WatchManager::default();
    m.add_persistent("/p", PersistentMode::Persistent, W1);
    assert_eq!(m.remove("/p", DATA, W1), ErrorCode::Ok);
    assert_eq!(changed(&mut m, "/p"), vec![]);
    assert_eq!(created(&mut m, "/p/x"), vec![n(W1, NodeChildrenChanged, "/p")]);
    assert_eq!(m.remove("/p", CHILDREN, W1), ErrorCode::Ok);
    assert_eq!(created(&mut m, "/p/y"), vec![]);

    m.add_persistent("/r", PersistentMode::Recursive, W1);
    assert_eq!(m.remove("/r", DATA, W1), ErrorCode::Ok);
    assert_eq!(created(&mut m, "/r/x"), vec![]);
    assert_eq!(deleted(&mut m, "/r/x"), vec![n(W1, NodeDeleted, "/r/x")]);
}

#[test]
fn remove_does_not_reach_ancestors_recursive_watches() {
    let mut m = WatchManager::default();
    m.add_persistent("/r", PersistentMode::Recursive, W1);
    assert_eq!(m.remove("/r/x", ANY, W1), ErrorCode::NoWatcher);
    assert_eq!(m.check("/r/x", ANY, W1), ErrorCode::NoWatcher);
}

#[test]
fn check_codes_and_the_any_connection_rule_of_3_8() {
    let mut m = WatchManager::default();
    m.add("/a", WatchKind::Data, W1);
    m.add("/c", WatchKind::Child, W1);
    for bad in [0, 4, 5] {
        assert_eq!(m.check("/a", bad, W1), ErrorCode::MarshallingError);
    }
    assert_eq!(m.check("/a", DATA, W1), ErrorCode::Ok);
    assert_eq!(m.check("/a", ANY, W1), ErrorCode::Ok);
    assert_eq!(m.check("/a", CHILDREN, W1), ErrorCode::NoWatcher);
    assert_eq!(m.check("/c", CHILDREN, W1), ErrorCode::Ok);
    assert_eq!(m.check("/c", DATA, W1), ErrorCode::NoWatcher);
    assert_eq!(m.check("/b", ANY, W1), ErrorCode::NoWatcher);
    // 3.8 only asks whether anybody watches the path in that table.
    assert_eq!(m.check("/a", DATA, W2), ErrorCode::Ok);
    // Checking removes nothing.
    assert_eq!(m.watch_count(), 2);
    assert_eq!(changed(&mut m, "/a"), vec![n(W1, NodeDataChanged, "/a")]);
    assert_eq!(m.check("/a", DATA, W1), ErrorCode::NoWatcher);
}

#[test]
fn closing_a_connection_drops_all_its_watches_and_only_those() {
    let mut m = WatchManager::default();
    m.add("/a", WatchKind::Data, W1);
    m.add("/a", WatchKind::Child, W1);
    m.add_persistent("/r", PersistentMode::Recursive, W1);
    m.add("/a", WatchKind::Data, W2);
    m.add("/", WatchKind::Child, W2);
    m.remove_watcher(W1);
    m.check_invariants().unwrap();
    assert_eq!(m.watches_of(W1), vec![]);
    assert_eq!(m.stats(), WatchStats { connections: 1, paths: 1, watches: 1 });
    assert_eq!(m.watch_count(), 2);
    assert_eq!(created(&mut m, "/r/x"), vec![]);
    assert_eq!(deleted(&mut m, "/a"), vec![n(W2, NodeDeleted, "/a"), n(W2, NodeChildrenChanged, "/")]);
    m.remove_watcher(W1);
    m.remove_watcher(W2);
    assert_eq!(m.stats(), WatchStats::default());
    assert_eq!(m.report_by_watcher(), vec![]);
}

#[test]
fn stats_and_reports_follow_the_data_table_of_3_8() {
    let mut m = WatchManager::default();
    m.add("/a", WatchKind::Data, W1);
    m.add("/b", WatchKind::Exist, W1);
    m.add("/a", WatchKind::Exist, W2);
    m.add("/c", WatchKind::Child, W3);
    m.add_persistent("/p", PersistentMode::Persistent, W4);
    assert_eq!(m.stats(), WatchStats { connections: 3, paths: 3, watches: 4 });
    assert_eq!(m.watch_count(), 6);
    assert_eq!(m.stats().to_string(), "3 connections watching 3 paths\nTotal watches:4");
    assert_eq!(
        m.report_by_path(),
        vec![("/a", vec![W1, W2]), ("/b", vec![W1]), ("/p", vec![W4])] as Vec<(&str, Vec<Watcher>)>
    );

    // W2's only watch fires; 3.8 still lists the connection, with no paths.
    assert_eq!(changed(&mut m, "/a"), vec![n(W1, NodeDataChanged, "/a"), n(W2, NodeDataChanged, "/a")]);
    assert_eq!(m.stats(), WatchStats { connections: 3, paths: 2, watches: 2 });
    assert_eq!(
        m.report_by_watcher(),
        vec![(W1, vec!["/b"]), (W2, vec![]), (W4, vec!["/p"])] as Vec<(Watcher, Vec<&str>)>
    );
    assert_eq!(m.remove("/b", DATA, W1), ErrorCode::Ok);
    assert_eq!(m.stats(), WatchStats { connections: 3, paths: 1, watches: 1 });
    m.remove_watcher(W2);
    assert_eq!(m.stats(), WatchStats { connections: 2, paths: 1, watches: 1 });
}

// A model that spells the 3.8 rules out over a flat list of (table, path, watcher) -> mode.

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum T {
    Data,
    Child,
}

#[derive(Default)]
struct Model {
    watches: BTreeMap<(T, String, Watcher), WatchMode>,
    /// Connections with a (possibly emptied) entry in each table, as 3.8's watch2Paths keeps them.
    entries: BTreeSet<(T, Watcher)>,
}

fn is_strict_ancestor(a: &str, p: &str) -> bool {
    if a == "/" {
        return p != "/";
    }
    p.len() > a.len() && p.starts_with(a) && p.as_bytes()[a.len()] == b'/'
}

fn model_parent(p: &str) -> Option<&str> {
    match p.rfind('/') {
        _ if p == "/" => None,
        Some(0) => Some("/"),
        Some(i) => Some(&p[..i]),
        None => None,
    }
}

impl Model {
    fn add(&mut self, t: T, path: &str, w: Watcher, mode: WatchMode) {
        self.watches.insert((t, path.to_string(), w), mode);
        self.entries.insert((t, w));
    }

    fn trigger(&mut self, t: T, path: &str, event: EventType) -> BTreeSet<Watcher> {
        let cc = event == NodeChildrenChanged;
        let mut fired = BTreeSet::new();
        self.watches.retain(|(table, p, w), mode| {
            if *table != t {
                return true;
            }
            if p == path {
                if *mode == WatchMode::Recursive && cc {
                    return true;
                }
                fired.insert(*w);
                return *mode != WatchMode::Standard;
            }
            if is_strict_ancestor(p, path) && *mode == WatchMode::Recursive && !cc {
                fired.insert(*w);
            }
            true
        });
        fired
    }

    fn emit(fired: &BTreeSet<Watcher>, skip: &BTreeSet<Watcher>, event: EventType, path: &str) -> Vec<Notification> {
        fired.iter().filter(|w| !skip.contains(w)).map(|&w| n(w, event, path)).collect()
    }

    fn children_changed(&mut self, path: &str) -> Vec<Notification> {
        let Some(parent) = model_parent(path) else { return vec![] };
        let fired = self.trigger(T::Child, parent, NodeChildrenChanged);
        Model::emit(&fired, &BTreeSet::new(), NodeChildrenChanged, parent)
    }

    fn created(&mut self, path: &str) -> Vec<Notification> {
        let mut out = Model::emit(&self.trigger(T::Data, path, NodeCreated), &BTreeSet::new(), NodeCreated, path);
        out.extend(self.children_changed(path));
        out
    }

    fn deleted(&mut self, path: &str) -> Vec<Notification> {
        let from_data = self.trigger(T::Data, path, NodeDeleted);
        let from_child = self.trigger(T::Child, path, NodeDeleted);
        let mut out = Model::emit(&from_data, &BTreeSet::new(), NodeDeleted, path);
        out.extend(Model::emit(&from_child, &from_data, NodeDeleted, path));
        out.extend(self.children_changed(path));
        out
    }

    fn changed(&mut self, path: &str) -> Vec<Notification> {
        Model::emit(&self.trigger(T::Data, path, NodeDataChanged), &BTreeSet::new(), NodeDataChanged, path)
    }

    fn tables(watcher_type: i32) -> Option<&'static [T]> {
        match watcher_type {
            1 => Some(&[T::Child]),
            2 => Some(&[T::Data]),
            3 => Some(&[T::Child, T::Data]),
            _ => None,
        }
    }

    fn remove(&mut self, path: &str, watcher_type: i32, w: Watcher) -> ErrorCode {
        let Some(tables) = Model::tables(watcher_type) else { return ErrorCode::MarshallingError };
        let mut removed = false;
        for &t in tables {
            removed |= self.watches.remove(&(t, path.to_string(), w)).is_some();
        }
        if removed { ErrorCode::Ok } else { ErrorCode::NoWatcher }
    }

    fn check(&self, path: &str, watcher_type: i32) -> ErrorCode {
        let Some(tables) = Model::tables(watcher_type) else { return ErrorCode::MarshallingError };
        let found = self.watches.keys().any(|(t, p, _)| tables.contains(t) && p == path);
        if found { ErrorCode::Ok } else { ErrorCode::NoWatcher }
    }

    fn close(&mut self, w: Watcher) {
        self.watches.retain(|(_, _, watcher), _| *watcher != w);
        self.entries.retain(|(_, watcher)| *watcher != w);
    }

    fn stats(&self) -> WatchStats {
        let data: Vec<&String> = self.watches.keys().filter(|(t, _, _)| *t == T::Data).map(|(_, p, _)| p).collect();
        let paths: BTreeSet<&String> = data.iter().copied().collect();
        let connections = self.entries.iter().filter(|(t, _)| *t == T::Data).count();
        WatchStats { connections, paths: paths.len(), watches: data.len() }
    }

    fn watches_of(&self, w: Watcher) -> Vec<(&str, PathWatches)> {
        let mut merged: BTreeMap<&str, PathWatches> = BTreeMap::new();
        for ((t, p, watcher), mode) in &self.watches {
            if *watcher != w {
                continue;
            }
            let entry = merged.entry(p.as_str()).or_default();
            match t {
                T::Data => entry.data = Some(*mode),
                T::Child => entry.child = Some(*mode),
            }
        }
        merged.into_iter().collect()
    }
}

#[derive(Clone, Debug)]
enum Op {
    Add(&'static str, WatchKind, Watcher),
    AddPersistent(&'static str, PersistentMode, Watcher),
    Created(&'static str),
    Deleted(&'static str),
    Changed(&'static str),
    Remove(&'static str, i32, Watcher),
    Check(&'static str, i32, Watcher),
    Close(Watcher),
}

const PATHS: [&str; 7] = ["/", "/a", "/a/b", "/a/b/c", "/ab", "/b", "/b/a"];

fn op_strategy() -> impl Strategy<Value = Op> {
    let path = prop::sample::select(&PATHS[..]);
    let watcher = (1u64..=3).prop_map(Watcher);
    let kind = prop::sample::select(&[WatchKind::Data, WatchKind::Exist, WatchKind::Child][..]);
    let mode = prop::sample::select(&[PersistentMode::Persistent, PersistentMode::Recursive][..]);
    prop_oneof![
        4 => (path.clone(), kind, watcher.clone()).prop_map(|(p, k, w)| Op::Add(p, k, w)),
        2 => (path.clone(), mode, watcher.clone()).prop_map(|(p, m, w)| Op::AddPersistent(p, m, w)),
        2 => path.clone().prop_map(Op::Created),
        2 => path.clone().prop_map(Op::Deleted),
        2 => path.clone().prop_map(Op::Changed),
        1 => (path.clone(), 0i32..=5, watcher.clone()).prop_map(|(p, t, w)| Op::Remove(p, t, w)),
        1 => (path, 0i32..=5, watcher.clone()).prop_map(|(p, t, w)| Op::Check(p, t, w)),
        1 => watcher.prop_map(Op::Close),
    ]
}

fn run(ops: Vec<Op>) {
    let mut m = WatchManager::default();
    let mut model = Model::default();
    for op in ops {
        match op {
            Op::Add(p, kind, w) => {
                m.add(p, kind, w);
                let t = if kind == WatchKind::Child { T::Child } else { T::Data };
                model.add(t, p, w, WatchMode::Standard);
            }
            Op::AddPersistent(p, mode, w) => {
                m.add_persistent(p, mode, w);
                model.add(T::Data, p, w, mode.into());
                model.add(T::Child, p, w, mode.into());
            }
            Op::Created(p) => assert_eq!(created(&mut m, p), model.created(p), "create {p}"),
            Op::Deleted(p) => assert_eq!(deleted(&mut m, p), model.deleted(p), "delete {p}"),
            Op::Changed(p) => assert_eq!(changed(&mut m, p), model.changed(p), "setData {p}"),
            Op::Remove(p, t, w) => assert_eq!(m.remove(p, t, w), model.remove(p, t, w), "remove {p} {t}"),
            Op::Check(p, t, w) => assert_eq!(m.check(p, t, w), model.check(p, t), "check {p} {t}"),
            Op::Close(w) => {
                m.remove_watcher(w);
                model.close(w);
            }
        }
        m.check_invariants().unwrap();
        assert_eq!(m.stats(), model.stats());
        assert_eq!(m.watch_count(), model.watches.len());
    }
    for w in 1..=3 {
        assert_eq!(m.watches_of(Watcher(w)), model.watches_of(Watcher(w)));
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 400, ..ProptestConfig::default() })]

    #[test]
    fn tables_agree_with_the_model(ops in prop::collection::vec(op_strategy(), 1..80)) {
        run(ops);
    }
}

/// CVE-2024-23944: a recursive watch on an ancestor tells only the connections that may read
/// the changed node; a watch on the node itself is not filtered (its read was checked when it
/// was set, as in ZooKeeper).
#[test]
fn a_recursive_watch_on_an_ancestor_hears_only_of_nodes_it_may_read() {
    let mut m = WatchManager::default();
    let (reader, outsider) = (Watcher(1), Watcher(2));
    m.add_persistent("/", PersistentMode::Recursive, reader);
    m.add_persistent("/", PersistentMode::Recursive, outsider);
    m.add("/secret", WatchKind::Data, outsider);
    let only_reader = |w: Watcher| w == reader;
    let mut out = Vec::new();
    m.node_created("/secret", &only_reader, &mut out);
    assert_eq!(
        out,
        vec![n(reader, EventType::NodeCreated, "/secret"), n(outsider, EventType::NodeCreated, "/secret")],
        "the outsider's own watch on /secret fires; its recursive one on / would not"
    );
    out.clear();
    m.data_changed("/secret", &only_reader, &mut out);
    assert_eq!(out, vec![n(reader, EventType::NodeDataChanged, "/secret")]);
    out.clear();
    m.node_deleted("/secret", &only_reader, &mut out);
    assert_eq!(out, vec![n(reader, EventType::NodeDeleted, "/secret")]);
    m.check_invariants().unwrap();
}
