//! Model-based tests: random operation sequences run through prep + apply and through a small,
//! obviously-correct model of ZooKeeper's rules (a flat map of path -> node, all-or-nothing
//! multi by cloning); results, Stats, errors and the whole tree must agree. Prep is also run
//! pipelined (several txns prepped before any is applied) to check the pending-change overlay.

use alloc::collections::BTreeMap;
use alloc::format;
use alloc::string::{String, ToString};
use alloc::vec;
use alloc::vec::Vec;

use proptest::prelude::*;

use super::*;
use crate::ids::Zxid;
use crate::tree::{self, DataTree, NodeKind, Stat, perms, snapshot};

const SESSIONS: [SessionId; 2] = [SessionId(0x0100_0000_0000_0001), SessionId(0x0100_0000_0000_0002)];

#[derive(Clone, Debug)]
struct MNode {
    data: Option<Vec<u8>>,
    czxid: i64,
    mzxid: i64,
    pzxid: i64,
    ctime: i64,
    mtime: i64,
    version: i32,
    creates: i32,
    aversion: i32,
    owner: i64,
    acl: Vec<Acl>,
}

#[derive(Clone, Debug)]
struct Model {
    nodes: BTreeMap<String, MNode>,
}

fn parent_key(path: &str) -> Option<String> {
    let slash = path.rfind('/')?;
    Some(if slash == 0 { "/".into() } else { path[..slash].into() })
}

impl Model {
    fn new() -> Model {
        let blank = |acl: Vec<Acl>, aversion| MNode {
            data: Some(Vec::new()),
            czxid: 0,
            mzxid: 0,
            pzxid: 0,
            ctime: 0,
            mtime: 0,
            version: 0,
            creates: 0,
            aversion,
            owner: 0,
            acl,
        };
        let mut nodes = BTreeMap::new();
        nodes.insert("/".into(), blank(Acl::open_unsafe(), 0));
        nodes.insert("/zookeeper".into(), blank(Acl::open_unsafe(), 0));
        nodes.insert("/zookeeper/quota".into(), blank(Acl::open_unsafe(), 0));
        nodes.insert("/zookeeper/config".into(), blank(Acl::read_unsafe(), -1));
        Model { nodes }
    }

    fn children(&self, path: &str) -> Vec<String> {
        self.nodes.keys().filter(|k| *k != "/" && parent_key(k).as_deref() == Some(path)).cloned().collect()
    }

    fn stat(&self, path: &str) -> Stat {
        let n = &self.nodes[path];
        let kids = self.children(path).len() as i32;
        Stat {
            czxid: n.czxid,
            mzxid: n.mzxid,
            ctime: n.ctime,
            mtime: n.mtime,
            version: n.version,
            cversion: 2 * n.creates - kids,
            aversion: n.aversion,
            ephemeral_owner: NodeKind::from_owner(n.owner).client_owner(),
            data_length: n.data.as_ref().map_or(0, Vec::len) as i32,
            num_children: kids,
            pzxid: n.pzxid,
        }
    }

    fn allowed(&self, path: &str, perm: i32) -> bool {
        self.nodes[path].acl.iter().any(|a| a.perms & perm != 0 && a.id.scheme == "world")
    }

    fn lookup(&self, path: &str) -> Option<&MNode> {
        self.nodes.get(if path.is_empty() { "/" } else { path })
    }

    /// One write, applied at (zxid, time); `Err` leaves the model untouched.
    fn write(&mut self, op: &WriteOp, session: SessionId, zxid: i64, time: i64) -> Result<TxnResult, ErrorCode> {
        use ErrorCode::{
            BadArguments, BadVersion, InvalidAcl, NoAuth, NoChildrenForEphemerals, NoNode, NodeExists, NotEmpty,
            RuntimeInconsistency, Unimplemented,
        };
        match op.clone() {
            WriteOp::Create { opcode, path, data, acl, flags, .. } => {
                let mode = tree::CreateMode::from_flags(flags).ok_or(BadArguments)?;
                if mode.is_ttl() {
                    return Err(Unimplemented);
                }
                let slash = path.rfind('/').ok_or(BadArguments)?;
                if acl.is_empty() {
                    return Err(InvalidAcl);
                }
                let parent = if slash == 0 { "/".to_string() } else { path[..slash].to_string() };
                let p = self.lookup(&parent).ok_or(NoNode)?;
                if !self.allowed(&parent, perms::CREATE) {
                    return Err(NoAuth);
                }
                let path = if mode.is_sequential() { format!("{path}{:010}", p.creates) } else { path };
                tree::validate_path(&path).map_err(|_| BadArguments)?;
                if self.lookup(&path).is_some() {
                    return Err(NodeExists);
                }
                if matches!(NodeKind::from_owner(p.owner), NodeKind::Ephemeral(_)) {
                    return Err(NoChildrenForEphemerals);
                }
                let owner = match (mode, opcode) {
                    (_, CreateOpcode::CreateContainer) => tree::CONTAINER_OWNER,
                    (m, _) if m.is_ephemeral() => session.0,
                    _ => 0,
                };
                let parent_node = self.nodes.get_mut(&parent).unwrap();
                parent_node.creates += 1;
                parent_node.pzxid = zxid;
                let node = MNode {
                    data,
                    czxid: zxid,
                    mzxid: zxid,
                    pzxid: zxid,
                    ctime: time,
                    mtime: time,
                    version: 0,
                    creates: 0,
                    aversion: 0,
                    owner,
                    acl,
                };
                self.nodes.insert(path.clone(), node);
                Ok(TxnResult::Created { stat: self.stat(&path), path })
            }
            WriteOp::Delete { path, version } => {
                if tree::is_builtin(&path) {
                    return Err(BadArguments);
                }
                let parent = parent_key(&path).ok_or(BadArguments)?;
                self.nodes.get(&parent).ok_or(NoNode)?;
                if !self.allowed(&parent, perms::DELETE) {
                    return Err(NoAuth);
                }
                let node = self.nodes.get(&path).ok_or(NoNode)?;
                if version != -1 && version != node.version {
                    return Err(BadVersion);
                }
                if !self.children(&path).is_empty() {
                    return Err(NotEmpty);
                }
                self.nodes.remove(&path);
                let p = self.nodes.get_mut(&parent).unwrap();
                p.pzxid = p.pzxid.max(zxid);
                Ok(TxnResult::Deleted)
            }
            WriteOp::SetData { path, data, version } => {
                tree::validate_path(&path).map_err(|_| BadArguments)?;
                self.lookup(&path).ok_or(NoNode)?;
                if !self.allowed(&path, perms::WRITE) {
                    return Err(NoAuth);
                }
                let node = self.nodes.get_mut(&path).unwrap();
                if version != -1 && version != node.version {
                    return Err(BadVersion);
                }
                node.version += 1;
                node.data = data;
                node.mzxid = zxid;
                node.mtime = time;
                Ok(TxnResult::DataSet { stat: self.stat(&path) })
            }
            WriteOp::SetAcl { path, acl, version } => {
                tree::validate_path(&path).map_err(|_| BadArguments)?;
                if acl.is_empty() {
                    return Err(InvalidAcl);
                }
                self.lookup(&path).ok_or(NoNode)?;
                if !self.allowed(&path, perms::ADMIN) {
                    return Err(NoAuth);
                }
                let node = self.nodes.get_mut(&path).unwrap();
                if version != -1 && version != node.aversion {
                    return Err(BadVersion);
                }
                node.aversion += 1;
                node.acl = acl;
                Ok(TxnResult::AclSet { stat: self.stat(&path) })
            }
            WriteOp::Check { path, version } => {
                tree::validate_path(&path).map_err(|_| BadArguments)?;
                let node = self.lookup(&path).ok_or(NoNode)?;
                if !self.allowed(&path, perms::READ) {
                    return Err(NoAuth);
                }
                if version != -1 && version != node.version {
                    return Err(BadVersion);
                }
                Ok(TxnResult::Checked)
            }
            WriteOp::Multi(ops) => {
                let mut scratch = self.clone();
                let mut results = Vec::new();
                for (i, op) in ops.iter().enumerate() {
                    match scratch.write(&WriteOp::from(op.clone()), session, zxid, time) {
                        Ok(r) => results.push(r),
                        Err(code) => {
                            let mut codes = vec![TxnResult::Failed(ErrorCode::Ok); i];
                            codes.push(TxnResult::Failed(code));
                            codes.resize(ops.len(), TxnResult::Failed(RuntimeInconsistency));
                            return Ok(TxnResult::Multi(codes));
                        }
                    }
                }
                *self = scratch;
                Ok(TxnResult::Multi(results))
            }
            WriteOp::CloseSession => {
                let mine: Vec<String> =
                    self.nodes.iter().filter(|(_, n)| n.owner == session.0).map(|(p, _)| p.clone()).collect();
                for path in &mine {
                    self.nodes.remove(path);
                    let p = self.nodes.get_mut(&parent_key(path).unwrap()).unwrap();
                    p.pzxid = p.pzxid.max(zxid);
                }
                Ok(TxnResult::SessionClosed { deleted: mine })
            }
            other => panic!("model does not generate {other:?}"),
        }
    }

    fn assert_matches(&self, tree: &DataTree) {
        let mut seen = 0;
        tree.walk(|path, node| {
            seen += 1;
            let m = self.nodes.get(path).unwrap_or_else(|| panic!("tree has {path}, model does not"));
            assert_eq!(node.stat(), self.stat(path), "stat of {path}");
            assert_eq!(node.data(), m.data.as_deref(), "data of {path}");
            assert_eq!(&**node.acl(), &m.acl[..], "acl of {path}");
        });
        assert_eq!(seen, self.nodes.len(), "node count");
    }
}

fn path_strategy() -> impl Strategy<Value = String> {
    prop::sample::select(vec![
        "/a",
        "/b",
        "/a/x",
        "/a/y",
        "/b/x",
        "/a/x/z",
        "/a/s-",
        "/",
        "/zookeeper",
        "/zookeeper/quota",
        "/a/",
        "a",
        "/a//x",
        "/a/.",
        "",
    ])
    .prop_map(String::from)
}

fn acl_strategy() -> impl Strategy<Value = Vec<Acl>> {
    prop_oneof![
        6 => Just(Acl::open_unsafe()),
        1 => Just(Acl::read_unsafe()),
        1 => Just(vec![Acl::new(perms::READ | perms::CREATE, "world", "anyone")]),
        1 => Just(Vec::new()),
    ]
}

fn data_strategy() -> impl Strategy<Value = Option<Vec<u8>>> {
    prop_oneof![Just(None), prop::collection::vec(any::<u8>(), 0..8).prop_map(Some)]
}

fn simple_op() -> impl Strategy<Value = WriteOp> {
    let version = prop::sample::select(vec![-1, 0, 1, 2]);
    prop_oneof![
        4 => (path_strategy(), data_strategy(), acl_strategy(), 0..6i32, any::<bool>()).prop_map(|(path, data, acl, flags, container)| WriteOp::Create {
            opcode: if container { CreateOpcode::CreateContainer } else { CreateOpcode::Create2 },
            path, data, acl, flags, ttl_ms: -1,
        }),
        2 => (path_strategy(), version.clone()).prop_map(|(path, version)| WriteOp::Delete { path, version }),
        2 => (path_strategy(), data_strategy(), version.clone()).prop_map(|(path, data, version)| WriteOp::SetData { path, data, version }),
        1 => (path_strategy(), acl_strategy(), version.clone()).prop_map(|(path, acl, version)| WriteOp::SetAcl { path, acl, version }),
    ]
}

fn op_strategy() -> impl Strategy<Value = (usize, WriteOp)> {
    let check = (path_strategy(), prop::sample::select(vec![-1, 0, 1]))
        .prop_map(|(path, version)| MultiWriteOp::Check { path, version });
    let simple = simple_op()
        .prop_filter("no setACL in multi", |op| !matches!(op, WriteOp::SetAcl { .. }))
        .prop_map(|op| MultiWriteOp::try_from(op).expect("a single write"));
    let in_multi = prop_oneof![4 => simple, 1 => check];
    let op = prop_oneof![
        8 => simple_op(),
        2 => prop::collection::vec(in_multi, 0..4).prop_map(WriteOp::Multi),
        1 => Just(WriteOp::CloseSession),
    ];
    (0..SESSIONS.len(), op)
}

/// Runs `ops` through prep (in batches of `batch` outstanding txns) and apply, and through the
/// model one at a time; every result and the final trees must agree.
fn run(ops: Vec<(usize, WriteOp)>, batch: usize) {
    let mut tree = DataTree::new();
    let mut model = Model::new();
    let mut pending = PendingChanges::default();
    let config = PrepConfig::default();
    let mut zxid = Zxid::new(1, 0);
    for chunk in ops.chunks(batch) {
        let mut prepared = Vec::new();
        for (who, op) in chunk {
            zxid = zxid.next().unwrap();
            let auth = AuthContext::new(SESSIONS[*who]).with_id("ip", "127.0.0.1");
            prepared.push((zxid, prep(&tree, &mut pending, &config, &auth, zxid, op.clone())));
        }
        for ((z, txn), (who, op)) in prepared.into_iter().zip(chunk) {
            let time = z.as_i64() * 10;
            let got = apply(&mut tree, z, time, &txn);
            pending.committed(z);
            let want = model.write(op, SESSIONS[*who], z.as_i64(), time).unwrap_or_else(TxnResult::Failed);
            assert_eq!(got, want, "op {op:?} by session {who}");
        }
        tree.check_invariants().unwrap();
        model.assert_matches(&tree);
    }
    assert!(pending.is_empty());
    let mut bytes = Vec::new();
    snapshot::write(&tree, &[], &mut bytes);
    let restored = snapshot::read(&bytes).unwrap().tree;
    assert_eq!(restored.digest(), tree.digest());
    model.assert_matches(&restored);
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 300, ..ProptestConfig::default() })]

    #[test]
    fn prep_and_apply_agree_with_the_model(ops in prop::collection::vec(op_strategy(), 1..60)) {
        run(ops, 1);
    }

    #[test]
    fn pipelined_prep_agrees_with_the_model(ops in prop::collection::vec(op_strategy(), 1..60), batch in 2usize..6) {
        run(ops, batch);
    }
}

#[test]
fn failed_multi_leaves_no_pending_trace() {
    let tree = DataTree::new();
    let mut pending = PendingChanges::default();
    let auth = AuthContext::new(SESSIONS[0]);
    let create = |path: &str| WriteOp::Create {
        opcode: CreateOpcode::Create,
        path: path.into(),
        data: None,
        acl: Acl::open_unsafe(),
        flags: 0,
        ttl_ms: -1,
    };
    let op = WriteOp::Multi(vec![
        MultiWriteOp::try_from(create("/m")).unwrap(),
        MultiWriteOp::try_from(create("/m/x")).unwrap(),
        MultiWriteOp::Check { path: "/m".into(), version: 7 },
    ]);
    let txn = prep(&tree, &mut pending, &PrepConfig::default(), &auth, Zxid::new(1, 1), op);
    assert_eq!(txn, Txn::MultiError(vec![ErrorCode::Ok, ErrorCode::Ok, ErrorCode::BadVersion]));
    assert!(pending.is_empty());
    let txn = prep(&tree, &mut pending, &PrepConfig::default(), &auth, Zxid::new(1, 2), create("/m"));
    assert!(matches!(txn, Txn::Create(_)));
    assert_eq!(pending.len(), 2, "the node and its parent");
}

#[test]
fn ttl_nodes_need_extended_types_and_a_valid_ttl() {
    let tree = DataTree::new();
    let mut pending = PendingChanges::default();
    let auth = AuthContext::new(SESSIONS[0]);
    let ttl = |ttl_ms, flags| WriteOp::Create {
        opcode: CreateOpcode::CreateTtl,
        path: "/t".into(),
        data: None,
        acl: Acl::open_unsafe(),
        flags,
        ttl_ms,
    };
    let off = PrepConfig::default();
    let on = PrepConfig { extended_types: true, ..PrepConfig::default() };
    let z = Zxid::new(1, 1);
    assert_eq!(prep(&tree, &mut pending, &off, &auth, z, ttl(100, 5)), Txn::Error(ErrorCode::Unimplemented));
    for bad in [0, -5, tree::TTL_MAX_MS + 1] {
        assert_eq!(prep(&tree, &mut pending, &on, &auth, z, ttl(bad, 5)), Txn::Error(ErrorCode::BadArguments));
    }
    assert_eq!(prep(&tree, &mut pending, &on, &auth, z, ttl(100, 0)), Txn::Error(ErrorCode::BadArguments));
    let Txn::Create(create) = prep(&tree, &mut pending, &on, &auth, z, ttl(tree::TTL_MAX_MS, 6)) else {
        panic!("TTL create refused")
    };
    assert_eq!(create.path, "/t0000000000", "the root starts at stored cversion 0");
    assert_eq!(NodeKind::from_owner(create.ephemeral_owner), NodeKind::Ttl { ttl_ms: tree::TTL_MAX_MS });
}

#[test]
fn apply_refuses_a_multi_that_does_not_fit_without_touching_the_tree() {
    let mut tree = DataTree::new();
    let digest = tree.digest();
    let create = |path: &str| {
        MultiTxn::Create(CreateTxn {
            path: path.into(),
            data: None,
            acl: Acl::open_unsafe(),
            ephemeral_owner: 0,
            parent_cversion: -1,
        })
    };
    let bad = Txn::Multi(vec![create("/ok"), create("/missing/child")]);
    assert_eq!(apply(&mut tree, Zxid::new(1, 1), 0, &bad), TxnResult::Failed(ErrorCode::NoNode));
    assert_eq!(tree.digest(), digest);
    assert!(tree.get("/ok").is_none());
}

/// Variant tag of [`WriteOp::Multi`] in postcard (its sixth variant).
pub(crate) const WRITE_OP_MULTI: u8 = 5;
/// Variant tag of [`Txn::Multi`] in postcard (its eighth variant).
pub(crate) const TXN_MULTI: u8 = 7;
/// Multis nested in a hostile payload: 2 MB of bytes. Decoding them by recursion needs far more
/// stack than any thread has (it overflowed and aborted the server).
pub(crate) const HOSTILE_DEPTH: usize = 1_000_000;

/// The postcard bytes of `depth` multis, each but the last holding the next as its one op, the
/// last empty: `depth - 1` times `[multi, 1]` (the tag, then a length of 1), then `[multi, 0]`.
/// `multi` is the multi's variant tag ([`WRITE_OP_MULTI`] or [`TXN_MULTI`]).
pub(crate) fn nested_multis(multi: u8, depth: usize) -> Vec<u8> {
    let mut bytes = Vec::with_capacity(2 * depth);
    for _ in 1..depth {
        bytes.extend_from_slice(&[multi, 1]);
    }
    bytes.extend_from_slice(&[multi, 0]);
    bytes
}

/// The declarations from before a multi's ops were flat: a multi held writes (or txns) of any
/// kind, multis included, and serde decoded them by recursing once per level. Kept to pin that a
/// multi's bytes did not change, and to show what the hostile bytes meant to the old code.
mod before_flat_multis {
    use super::*;

    #[derive(Debug, PartialEq, serde::Serialize, serde::Deserialize)]
    pub enum WriteOp {
        Create {
            opcode: CreateOpcode,
            path: String,
            #[serde(with = "crate::bytes_serde::option")]
            data: Option<Vec<u8>>,
            acl: Vec<Acl>,
            flags: i32,
            ttl_ms: i64,
        },
        Delete {
            path: String,
            version: i32,
        },
        SetData {
            path: String,
            #[serde(with = "crate::bytes_serde::option")]
            data: Option<Vec<u8>>,
            version: i32,
        },
        SetAcl {
            path: String,
            acl: Vec<Acl>,
            version: i32,
        },
        Check {
            path: String,
            version: i32,
        },
        Multi(Vec<WriteOp>),
        CreateSession {
            timeout_ms: i32,
        },
        CloseSession,
        DeleteContainer {
            path: String,
        },
    }

    #[derive(Debug, PartialEq, serde::Serialize, serde::Deserialize)]
    pub enum Txn {
        Create(CreateTxn),
        Delete {
            path: String,
        },
        SetData {
            path: String,
            #[serde(with = "crate::bytes_serde::option")]
            data: Option<Vec<u8>>,
            version: i32,
        },
        SetAcl {
            path: String,
            acl: Vec<Acl>,
            version: i32,
        },
        Check {
            path: String,
            version: i32,
        },
        CreateSession {
            session: SessionId,
            timeout_ms: i32,
        },
        CloseSession {
            session: SessionId,
            paths: Vec<String>,
        },
        Multi(Vec<Txn>),
        MultiError(Vec<ErrorCode>),
        Error(ErrorCode),
    }

    pub fn write_op(op: &MultiWriteOp) -> WriteOp {
        match op.clone() {
            MultiWriteOp::Create { opcode, path, data, acl, flags, ttl_ms } => {
                WriteOp::Create { opcode, path, data, acl, flags, ttl_ms }
            }
            MultiWriteOp::Delete { path, version } => WriteOp::Delete { path, version },
            MultiWriteOp::SetData { path, data, version } => WriteOp::SetData { path, data, version },
            MultiWriteOp::SetAcl { path, acl, version } => WriteOp::SetAcl { path, acl, version },
            MultiWriteOp::Check { path, version } => WriteOp::Check { path, version },
        }
    }

    pub fn txn(op: &MultiTxn) -> Txn {
        match op.clone() {
            MultiTxn::Create(create) => Txn::Create(create),
            MultiTxn::Delete { path } => Txn::Delete { path },
            MultiTxn::SetData { path, data, version } => Txn::SetData { path, data, version },
            MultiTxn::SetAcl { path, acl, version } => Txn::SetAcl { path, acl, version },
            MultiTxn::Check { path, version } => Txn::Check { path, version },
        }
    }
}

/// A multi of every kind of op a multi can hold.
fn every_multi_write_op() -> Vec<MultiWriteOp> {
    vec![
        MultiWriteOp::Create {
            opcode: CreateOpcode::CreateTtl,
            path: "/a".into(),
            data: Some(b"x".to_vec()),
            acl: Acl::open_unsafe(),
            flags: 5,
            ttl_ms: 1000,
        },
        MultiWriteOp::Delete { path: "/b".into(), version: 3 },
        MultiWriteOp::SetData { path: "/c".into(), data: None, version: -1 },
        MultiWriteOp::SetAcl { path: "/d".into(), acl: Acl::read_unsafe(), version: 2 },
        MultiWriteOp::Check { path: "/e".into(), version: 7 },
    ]
}

fn every_multi_txn() -> Vec<MultiTxn> {
    vec![
        MultiTxn::Create(CreateTxn {
            path: "/a0000000001".into(),
            data: Some(b"x".to_vec()),
            acl: Acl::open_unsafe(),
            ephemeral_owner: SESSIONS[0].0,
            parent_cversion: 4,
        }),
        MultiTxn::Delete { path: "/b".into() },
        MultiTxn::SetData { path: "/c".into(), data: Some(Vec::new()), version: 9 },
        MultiTxn::SetAcl { path: "/d".into(), acl: Acl::read_unsafe(), version: 2 },
        MultiTxn::Check { path: "/e".into(), version: 7 },
    ]
}

#[test]
fn a_multi_is_encoded_as_when_multis_could_nest() {
    let ops = every_multi_write_op();
    let new = WriteOp::Multi(ops.clone());
    let old = before_flat_multis::WriteOp::Multi(ops.iter().map(before_flat_multis::write_op).collect());
    let bytes = postcard::to_allocvec(&new).unwrap();
    assert_eq!(bytes, postcard::to_allocvec(&old).unwrap());
    assert_eq!(bytes[..2], [WRITE_OP_MULTI, 5]);
    assert_eq!(postcard::from_bytes::<WriteOp>(&bytes).unwrap(), new);

    let ops = every_multi_txn();
    let new = Txn::Multi(ops.clone());
    let old = before_flat_multis::Txn::Multi(ops.iter().map(before_flat_multis::txn).collect());
    let bytes = postcard::to_allocvec(&new).unwrap();
    assert_eq!(bytes, postcard::to_allocvec(&old).unwrap());
    assert_eq!(bytes[..2], [TXN_MULTI, 5]);
    assert_eq!(postcard::from_bytes::<Txn>(&bytes).unwrap(), new);

    // A multi op on its own is encoded as the same write or txn outside a multi.
    for op in every_multi_write_op() {
        let alone = postcard::to_allocvec(&WriteOp::from(op.clone())).unwrap();
        assert_eq!(postcard::to_allocvec(&op).unwrap(), alone);
    }
    for op in every_multi_txn() {
        let alone = postcard::to_allocvec(&Txn::from(op.clone())).unwrap();
        assert_eq!(postcard::to_allocvec(&op).unwrap(), alone);
    }
}

#[test]
fn nested_multi_bytes_are_what_the_old_declarations_recursed_on() {
    use before_flat_multis as old;
    let bytes = nested_multis(WRITE_OP_MULTI, 3);
    let nested = old::WriteOp::Multi(vec![old::WriteOp::Multi(vec![old::WriteOp::Multi(vec![])])]);
    assert_eq!(postcard::from_bytes::<old::WriteOp>(&bytes).unwrap(), nested);
    let bytes = nested_multis(TXN_MULTI, 3);
    let nested = old::Txn::Multi(vec![old::Txn::Multi(vec![old::Txn::Multi(vec![])])]);
    assert_eq!(postcard::from_bytes::<old::Txn>(&bytes).unwrap(), nested);
    // One level is a plain empty multi, then and now.
    assert_eq!(postcard::from_bytes::<WriteOp>(&nested_multis(WRITE_OP_MULTI, 1)).unwrap(), WriteOp::Multi(vec![]));
    assert_eq!(postcard::from_bytes::<Txn>(&nested_multis(TXN_MULTI, 1)).unwrap(), Txn::Multi(vec![]));
}

#[test]
fn a_multi_inside_a_multi_does_not_decode() {
    for depth in [2, 3] {
        assert!(postcard::from_bytes::<WriteOp>(&nested_multis(WRITE_OP_MULTI, depth)).is_err(), "depth {depth}");
        assert!(postcard::from_bytes::<Txn>(&nested_multis(TXN_MULTI, depth)).is_err(), "depth {depth}");
    }
}

/// A million nested multis (2 MB) overflowed the stack of the thread decoding them (the server
/// aborted); now decoding stops at the second multi with an error.
#[test]
fn deeply_nested_multis_are_a_decode_error() {
    assert!(postcard::from_bytes::<WriteOp>(&nested_multis(WRITE_OP_MULTI, HOSTILE_DEPTH)).is_err());
    assert!(postcard::from_bytes::<Txn>(&nested_multis(TXN_MULTI, HOSTILE_DEPTH)).is_err());
}

#[test]
fn a_multi_holding_a_session_or_container_op_does_not_decode() {
    // A multi of one op: createSession (6), closeSession (7), deleteContainer (8) of "/x".
    for op in [&[6, 2][..], &[7], &[8, 2, b'/', b'x']] {
        let bytes = [&[WRITE_OP_MULTI, 1][..], op].concat();
        assert!(postcard::from_bytes::<WriteOp>(&bytes).is_err(), "{bytes:?}");
        assert!(postcard::from_bytes::<WriteOp>(&bytes[2..]).is_ok(), "{bytes:?} alone");
    }
    // A multi of one txn: createSession (5), closeSession (6), multiError (8), error (9).
    for op in [&[5, 2, 2][..], &[6, 2, 0], &[8, 0], &[9, 0]] {
        let bytes = [&[TXN_MULTI, 1][..], op].concat();
        assert!(postcard::from_bytes::<Txn>(&bytes).is_err(), "{bytes:?}");
        assert!(postcard::from_bytes::<Txn>(&bytes[2..]).is_ok(), "{bytes:?} alone");
    }
}

#[test]
fn a_multi_holding_set_acl_is_refused_whole_in_prep_and_in_apply() {
    let mut tree = DataTree::new();
    let mut pending = PendingChanges::default();
    let auth = AuthContext::new(SESSIONS[0]);
    let set_acl = MultiWriteOp::SetAcl { path: "/".into(), acl: Acl::open_unsafe(), version: -1 };
    let check = MultiWriteOp::Check { path: "/".into(), version: -1 };
    let op = WriteOp::Multi(vec![check, set_acl]);
    let txn = prep(&tree, &mut pending, &PrepConfig::default(), &auth, Zxid::new(1, 1), op);
    assert_eq!(txn, Txn::Error(ErrorCode::MarshallingError));
    assert!(pending.is_empty());
    let digest = tree.digest();
    let txn = Txn::Multi(vec![
        MultiTxn::Check { path: "/".into(), version: 0 },
        MultiTxn::SetAcl { path: "/".into(), acl: Acl::read_unsafe(), version: 1 },
    ]);
    assert_eq!(apply(&mut tree, Zxid::new(1, 1), 0, &txn), TxnResult::Failed(ErrorCode::MarshallingError));
    assert_eq!(tree.digest(), digest);
}
