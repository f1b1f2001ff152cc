//! The history checker's own data tree, independent of `crate::tree` and `crate::txn`: what
//! ZooKeeper's rules say a write does at a given point of the log, and every state each path
//! ever had, so that a read at any zxid is a binary search.

use alloc::collections::{BTreeMap, BTreeSet};
use alloc::format;
use alloc::string::String;
use alloc::vec::Vec;

use super::{Call, Effect, Guarantee, Reply};
use crate::error::ErrorCode;

/// Nodes present before any txn, with empty data and version 0.
const BUILTINS: [&str; 4] = ["/", "/zookeeper", "/zookeeper/quota", "/zookeeper/config"];

/// What a read can see of a node.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
struct Seen {
    data: Vec<u8>,
    version: i32,
}

#[derive(Clone, Debug, Default)]
struct Live {
    seen: Seen,
    /// The owning session of an ephemeral.
    owner: Option<i64>,
    /// ZooKeeper's stored cversion: child creates only; it names sequential children.
    child_creates: i32,
    num_children: usize,
}

/// The state of a path from `zxid` on (`None`: absent), and the committed write that made it.
#[derive(Clone, Debug)]
struct Version {
    zxid: i64,
    seen: Option<Seen>,
    write: Option<usize>,
}

/// The tree as the committed log builds it.
#[derive(Debug)]
pub(super) struct Model {
    now: BTreeMap<String, Live>,
    versions: BTreeMap<String, Vec<Version>>,
    /// Parent path -> names of every child it ever had.
    children: BTreeMap<String, BTreeSet<String>>,
    /// Session -> paths of its live ephemerals.
    owned: BTreeMap<i64, BTreeSet<String>>,
    /// Session -> zxid of its closeSession.
    closed: BTreeMap<i64, i64>,
    /// zxid -> index in the committed log.
    writes: BTreeMap<i64, usize>,
}

/// The changes of one committed write, ready for [`Model::commit`].
#[derive(Debug)]
pub(super) struct Changes {
    nodes: BTreeMap<String, Option<Live>>,
    closing: Option<i64>,
}

/// Staged changes on top of the model: one write's worth, or a prediction thrown away after.
#[derive(Debug)]
pub(super) struct Overlay<'m> {
    model: &'m Model,
    changes: Changes,
}

/// The parent as prep finds it: everything before the last '/', the root for "/x".
fn parent_of(path: &str) -> Option<&str> {
    let slash = path.rfind('/')?;
    if slash == 0 { Some("/") } else { path.get(..slash) }
}

fn child_path(parent: &str, name: &str) -> String {
    if parent == "/" { format!("/{name}") } else { format!("{parent}/{name}") }
}

fn check_version(expected: i32, current: i32) -> Result<(), ErrorCode> {
    if expected == -1 || expected == current { Ok(()) } else { Err(ErrorCode::BadVersion) }
}

/// ZooKeeper's per-op codes of a failed multi: `Ok` up to the failing op, its code, then
/// `RuntimeInconsistency`.
fn failed_multi_codes(codes: &[ErrorCode]) -> bool {
    match codes.iter().position(|code| *code != ErrorCode::Ok) {
        Some(at) => codes.iter().skip(at + 1).all(|code| *code == ErrorCode::RuntimeInconsistency),
        None => false,
    }
}

impl Model {
    pub(super) fn new() -> Model {
        let mut model = Model {
            now: BTreeMap::new(),
            versions: BTreeMap::new(),
            children: BTreeMap::new(),
            owned: BTreeMap::new(),
            closed: BTreeMap::new(),
            writes: BTreeMap::new(),
        };
        for path in BUILTINS {
            model.now.insert(path.into(), Live::default());
            let version = Version { zxid: 0, seen: Some(Seen::default()), write: None };
            model.versions.insert(path.into(), alloc::vec![version]);
            if let Some(parent) = parent_of(path).filter(|p| *p != path) {
                let name = path.rsplit('/').next().unwrap_or_default();
                model.children.entry(parent.into()).or_default().insert(name.into());
                if let Some(live) = model.now.get_mut(parent) {
                    live.num_children += 1;
                }
            }
        }
        model
    }

    /// Makes `changes`, the effect of the committed write `write` at `zxid`, the current state.
    pub(super) fn commit(&mut self, changes: Changes, zxid: i64, write: usize) {
        for (path, live) in changes.nodes {
            let old = self.now.get(&path);
            let seen = live.as_ref().map(|l| &l.seen);
            if old.map(|l| &l.seen) != seen {
                let version = Version { zxid, seen: seen.cloned(), write: Some(write) };
                self.versions.entry(path.clone()).or_default().push(version);
            }
            if old.is_none()
                && live.is_some()
                && let Some(parent) = parent_of(&path)
            {
                let name = path.rsplit('/').next().unwrap_or_default();
                self.children.entry(parent.into()).or_default().insert(name.into());
            }
            if let Some(session) = old.and_then(|l| l.owner)
                && let Some(paths) = self.owned.get_mut(&session)
            {
                paths.remove(&path);
            }
            if let Some(session) = live.as_ref().and_then(|l| l.owner) {
                self.owned.entry(session).or_default().insert(path.clone());
            }
            match live {
                Some(live) => self.now.insert(path, live),
                None => self.now.remove(&path),
            };
        }
        if let Some(session) = changes.closing {
            self.closed.entry(session).or_insert(zxid);
        }
        self.writes.insert(zxid, write);
    }

    /// The session's live ephemerals, sorted.
    fn owned(&self, session: i64) -> Vec<String> {
        self.owned.get(&session).map(|paths| paths.iter().cloned().collect()).unwrap_or_default()
    }

    /// An ephemeral that `effect` creates for a session the log already closed:
    /// (path, session, zxid of the close).
    pub(super) fn ephemeral_of_closed(&self, effect: &Effect) -> Option<(String, i64, i64)> {
        match effect {
            Effect::Create { path, ephemeral_owner: Some(session), .. } => {
                self.closed.get(session).map(|zxid| (path.clone(), *session, *zxid))
            }
            Effect::Multi(effects) => effects.iter().find_map(|e| self.ephemeral_of_closed(e)),
            _ => None,
        }
    }

    /// The version of `path` in force at `zxid`.
    fn at(&self, path: &str, zxid: i64) -> Option<&Version> {
        let versions = self.versions.get(path)?;
        let after = versions.partition_point(|v| v.zxid <= zxid);
        versions.get(after.checked_sub(1)?)
    }

    fn seen_at(&self, path: &str, zxid: i64) -> Option<&Seen> {
        self.at(path, zxid)?.seen.as_ref()
    }

    fn children_at(&self, path: &str, zxid: i64) -> Option<Vec<String>> {
        self.seen_at(path, zxid)?;
        let names = self.children.get(path).into_iter().flatten();
        Some(names.filter(|name| self.seen_at(&child_path(path, name), zxid).is_some()).cloned().collect())
    }

    /// The answer to the read `call` at `zxid`; `None` for anything but a read.
    pub(super) fn read(&self, call: &Call, zxid: i64) -> Option<Result<Reply, ErrorCode>> {
        Some(match call {
            Call::GetData { path } => match self.seen_at(path, zxid) {
                Some(seen) => Ok(Reply::Data { data: seen.data.clone(), version: seen.version }),
                None => Err(ErrorCode::NoNode),
            },
            Call::Exists { path } => Ok(Reply::Exists(self.seen_at(path, zxid).map(|s| s.version))),
            Call::GetChildren { path } => self.children_at(path, zxid).map(Reply::Children).ok_or(ErrorCode::NoNode),
            _ => return None,
        })
    }

    /// The paths whose versions decide the read `call`.
    fn read_paths(&self, call: &Call) -> Vec<String> {
        match call {
            Call::GetData { path } | Call::Exists { path } => alloc::vec![path.clone()],
            Call::GetChildren { path } => {
                let names = self.children.get(path).into_iter().flatten();
                core::iter::once(path.clone()).chain(names.map(|name| child_path(path, name))).collect()
            }
            _ => Vec::new(),
        }
    }

    /// The last committed write at or before `zxid` that changed what `call` reads.
    pub(super) fn last_write(&self, call: &Call, zxid: i64) -> Option<usize> {
        let paths = self.read_paths(call);
        paths.iter().filter_map(|path| self.at(path, zxid)).max_by_key(|v| v.zxid).and_then(|v| v.write)
    }

    /// The zxid nearest to `zxid` at which `call` would have read `seen`, and the write committed
    /// there.
    pub(super) fn when_seen(
        &self,
        call: &Call,
        seen: &Result<Reply, ErrorCode>,
        zxid: i64,
    ) -> Option<(i64, Option<usize>)> {
        let mut candidates: Vec<i64> = self
            .read_paths(call)
            .iter()
            .filter_map(|path| self.versions.get(path))
            .flatten()
            .map(|v| v.zxid)
            .chain(core::iter::once(0))
            .collect();
        candidates.sort_unstable();
        candidates.dedup();
        let when = candidates
            .into_iter()
            .filter(|&at| self.read(call, at).as_ref() == Some(seen))
            .min_by_key(|&at| at.abs_diff(zxid))?;
        Some((when, self.writes.get(&when).copied()))
    }
}

impl<'m> Overlay<'m> {
    pub(super) fn new(model: &'m Model) -> Overlay<'m> {
        Overlay { model, changes: Changes { nodes: BTreeMap::new(), closing: None } }
    }

    pub(super) fn finish(self) -> Changes {
        self.changes
    }

    fn get(&self, path: &str) -> Option<&Live> {
        match self.changes.nodes.get(path) {
            Some(change) => change.as_ref(),
            None => self.model.now.get(path),
        }
    }

    fn put(&mut self, path: &str, live: Option<Live>) {
        self.changes.nodes.insert(path.into(), live);
    }

    /// What `call` from `session` does here, by ZooKeeper's rules in prep's order (only the
    /// checks the model knows: existence, versions, children, ephemeral parents).
    pub(super) fn predict(&mut self, call: &Call, session: i64) -> Effect {
        match call {
            Call::Multi(calls) => self.predict_multi(calls, session),
            Call::CloseSession => Effect::CloseSession { session, paths: self.model.owned(session) },
            call => self.predict_one(call, session).unwrap_or_else(Effect::Error),
        }
    }

    fn predict_multi(&mut self, calls: &[Call], session: i64) -> Effect {
        let mut effects = Vec::with_capacity(calls.len());
        for (index, call) in calls.iter().enumerate() {
            if !matches!(call, Call::Create { .. } | Call::Delete { .. } | Call::SetData { .. } | Call::Check { .. }) {
                return Effect::Error(ErrorCode::MarshallingError);
            }
            match self.predict_one(call, session) {
                Ok(effect) => {
                    let fits = self.step(&effect);
                    assert!(fits.is_ok(), "a predicted effect fits the state it was predicted on: {fits:?}");
                    effects.push(effect);
                }
                Err(code) => {
                    let mut codes = alloc::vec![ErrorCode::Ok; index];
                    codes.push(code);
                    codes.resize(calls.len(), ErrorCode::RuntimeInconsistency);
                    return Effect::MultiError(codes);
                }
            }
        }
        Effect::Multi(effects)
    }

    fn predict_one(&self, call: &Call, session: i64) -> Result<Effect, ErrorCode> {
        match call {
            Call::Create { path, data, ephemeral, sequential } => {
                let parent = self.get(parent_of(path).ok_or(ErrorCode::BadArguments)?).ok_or(ErrorCode::NoNode)?;
                let path = if *sequential { format!("{path}{:010}", parent.child_creates) } else { path.clone() };
                if self.get(&path).is_some() {
                    return Err(ErrorCode::NodeExists);
                }
                if parent.owner.is_some() {
                    return Err(ErrorCode::NoChildrenForEphemerals);
                }
                let parent_cversion = parent.child_creates.wrapping_add(1);
                Ok(Effect::Create {
                    path,
                    data: data.clone(),
                    ephemeral_owner: ephemeral.then_some(session),
                    parent_cversion,
                })
            }
            Call::Delete { path, version } => {
                if BUILTINS.contains(&path.as_str()) {
                    return Err(ErrorCode::BadArguments);
                }
                self.get(parent_of(path).ok_or(ErrorCode::BadArguments)?).ok_or(ErrorCode::NoNode)?;
                let node = self.get(path).ok_or(ErrorCode::NoNode)?;
                check_version(*version, node.seen.version)?;
                if node.num_children > 0 {
                    return Err(ErrorCode::NotEmpty);
                }
                Ok(Effect::Delete { path: path.clone() })
            }
            Call::SetData { path, data, version } => {
                let node = self.get(path).ok_or(ErrorCode::NoNode)?;
                check_version(*version, node.seen.version)?;
                Ok(Effect::SetData {
                    path: path.clone(),
                    data: data.clone(),
                    version: node.seen.version.wrapping_add(1),
                })
            }
            Call::Check { path, version } => {
                let node = self.get(path).ok_or(ErrorCode::NoNode)?;
                check_version(*version, node.seen.version)?;
                Ok(Effect::Check { path: path.clone() })
            }
            _ => Err(ErrorCode::MarshallingError),
        }
    }

    /// Stages a committed effect, checking that it fits the state it lands on.
    pub(super) fn step(&mut self, effect: &Effect) -> Result<(), (Guarantee, String)> {
        let misfit = |detail: String| (Guarantee::CommittedLog, detail);
        match effect {
            Effect::Create { path, data, ephemeral_owner, parent_cversion } => {
                let parent_path = parent_of(path).ok_or_else(|| misfit(format!("create {path}: not a path")))?;
                let Some(parent) = self.get(parent_path) else {
                    return Err(misfit(format!("create {path}: no parent")));
                };
                let creates = parent.child_creates.wrapping_add(1);
                if parent.owner.is_some() {
                    return Err(misfit(format!("create {path}: the parent is an ephemeral")));
                }
                if *parent_cversion != creates {
                    return Err(misfit(format!("create {path}: parent cversion {parent_cversion}, not {creates}")));
                }
                if self.get(path).is_some() {
                    return Err(misfit(format!("create {path}: it exists")));
                }
                let parent = Live { child_creates: creates, num_children: parent.num_children + 1, ..parent.clone() };
                self.put(parent_path, Some(parent));
                let seen = Seen { data: data.clone(), version: 0 };
                self.put(path, Some(Live { seen, owner: *ephemeral_owner, ..Live::default() }));
            }
            Effect::Delete { path } => self.delete(path)?,
            Effect::SetData { path, data, version } => {
                let Some(node) = self.get(path) else {
                    return Err(misfit(format!("setData {path}: no such node")));
                };
                let next = node.seen.version.wrapping_add(1);
                if *version != next {
                    return Err(misfit(format!("setData {path}: version {version}, not {next}")));
                }
                let node = Live { seen: Seen { data: data.clone(), version: next }, ..node.clone() };
                self.put(path, Some(node));
            }
            Effect::Check { path } => {
                if self.get(path).is_none() {
                    return Err(misfit(format!("check {path}: no such node")));
                }
            }
            Effect::CloseSession { session, paths } => {
                let owned = self.model.owned(*session);
                if let Some(path) = paths.iter().find(|p| !owned.contains(p)) {
                    let detail = format!("closing session {session:#x} deletes {path}, which is not its ephemeral");
                    return Err((Guarantee::Ephemerals, detail));
                }
                for path in &owned {
                    self.delete(path)?;
                }
                self.changes.closing = Some(*session);
            }
            Effect::Multi(effects) => {
                for (index, effect) in effects.iter().enumerate() {
                    if !matches!(
                        effect,
                        Effect::Create { .. } | Effect::Delete { .. } | Effect::SetData { .. } | Effect::Check { .. }
                    ) {
                        return Err((Guarantee::MultiAtomicity, format!("op {index} of a multi is {effect}")));
                    }
                    self.step(effect)
                        .map_err(|(guarantee, detail)| (guarantee, format!("multi op {index}: {detail}")))?;
                }
            }
            Effect::MultiError(codes) => {
                if !failed_multi_codes(codes) {
                    return Err((Guarantee::MultiAtomicity, format!("a failed multi with per-op codes {codes:?}")));
                }
            }
            Effect::CreateSession | Effect::Error(_) | Effect::Other => {}
        }
        Ok(())
    }

    fn delete(&mut self, path: &str) -> Result<(), (Guarantee, String)> {
        let misfit = |detail: String| (Guarantee::CommittedLog, detail);
        let Some(node) = self.get(path) else {
            return Err(misfit(format!("delete {path}: no such node")));
        };
        if node.num_children > 0 {
            return Err(misfit(format!("delete {path}: it has children")));
        }
        let Some((parent_path, parent)) = parent_of(path).and_then(|p| Some((p, self.get(p)?))) else {
            return Err(misfit(format!("delete {path}: no parent")));
        };
        let parent = Live { num_children: parent.num_children.saturating_sub(1), ..parent.clone() };
        self.put(parent_path, Some(parent));
        self.put(path, None);
        Ok(())
    }
}
