//! Replays `tests/semantics/script.json` against zabkeeper's data tree and compares every answer
//! with `expected.json`, which real Apache ZooKeeper 3.8.0 gave to the same script
//! (`tests/semantics/capture.sh` re-captures it).
//!
//! The harness plays a standalone server that handles one request at a time: each write goes
//! through prep and apply with the next zxid, each read through `txn::read`, and the answer is
//! written in the fixture's JSON shape (see tests/semantics/README.md).

use std::collections::BTreeMap;

use serde_json::{Value, json};
use zabkeeper_core::tree::{Acl, DataTree, Stat};
use zabkeeper_core::txn::{
    self, AuthContext, CreateOpcode, MultiWriteOp, PendingChanges, PrepConfig, Txn, TxnResult, WriteOp, read,
};
use zabkeeper_core::{ErrorCode, SessionId, Zxid};

const DIR: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/semantics");

struct Server {
    tree: DataTree,
    pending: PendingChanges,
    config: PrepConfig,
    last_zxid: Zxid,
    /// Script session name -> (id, auth ids).
    sessions: BTreeMap<String, AuthContext>,
    next_session: i64,
}

impl Server {
    fn new() -> Server {
        let mut server = Server {
            tree: DataTree::new(),
            pending: PendingChanges::default(),
            config: PrepConfig { extended_types: true, ..PrepConfig::default() },
            last_zxid: Zxid::ZERO,
            sessions: BTreeMap::new(),
            next_session: 0x0100_0000_0000_0000,
        };
        server.open_session("a");
        server
    }

    fn open_session(&mut self, name: &str) -> TxnResult {
        self.next_session += 1;
        let auth = AuthContext::new(SessionId(self.next_session)).with_id("ip", "127.0.0.1");
        self.sessions.insert(name.into(), auth.clone());
        self.write(&auth, WriteOp::CreateSession { timeout_ms: 30_000 })
    }

    fn write(&mut self, auth: &AuthContext, op: WriteOp) -> TxnResult {
        let zxid = self.last_zxid.next().expect("counter space");
        let txn: Txn = txn::prep(&self.tree, &mut self.pending, &self.config, auth, zxid, op);
        let result = txn::apply(&mut self.tree, zxid, 1_700_000_000_000 + zxid.as_i64(), &txn);
        self.pending.committed(zxid);
        self.last_zxid = zxid;
        assert!(self.pending.is_empty(), "every pending change is committed in a one-at-a-time server");
        result
    }

    fn owner_name(&self, owner: i64) -> Value {
        self.sessions.iter().find(|(_, a)| a.session.0 == owner).map_or(json!(owner), |(name, _)| json!(name))
    }

    fn stat(&self, stat: &Stat) -> Value {
        json!({
            "czxid": stat.czxid, "mzxid": stat.mzxid, "pzxid": stat.pzxid, "version": stat.version,
            "cversion": stat.cversion, "aversion": stat.aversion,
            "ephemeralOwner": self.owner_name(stat.ephemeral_owner),
            "dataLength": stat.data_length, "numChildren": stat.num_children,
        })
    }

    fn step(&mut self, step: &Value) -> Value {
        let op = step["op"].as_str().expect("op");
        let session = step.get("session").and_then(Value::as_str).unwrap_or("a");
        if op == "open_session" {
            return single(self.open_session(session), |_| Value::Null);
        }
        let auth = self.sessions.get(session).cloned().expect("session opened before use");
        let path = step.get("path").and_then(Value::as_str).unwrap_or_default();
        let skip = self.config.skip_acl;
        match op {
            "note" => Value::Null,
            "close_session" => single(self.write(&auth, WriteOp::CloseSession), |_| Value::Null),
            "get" => answer(read::get_data(&self.tree, &auth, path, skip).map(|(data, stat)| {
                json!({"data": data.map(|d| String::from_utf8_lossy(d).into_owned()), "stat": self.stat(&stat)})
            })),
            "exists" => answer(read::exists(&self.tree, path).map(|stat| json!({"stat": self.stat(&stat)}))),
            "children" => answer(
                read::get_children(&self.tree, &auth, path, skip)
                    .map(|(children, stat)| json!({"children": children, "stat": self.stat(&stat)})),
            ),
            "all_children_number" => {
                answer(read::all_children_number(&self.tree, &auth, path, skip).map(|n| json!({"number": n})))
            }
            "ephemerals" => {
                let prefix = step["prefix"].as_str().unwrap_or_default();
                json!({"ok": {"paths": read::ephemerals(&self.tree, auth.session, prefix)}})
            }
            "get_acl" => answer(
                read::get_acl(&self.tree, &auth, path, skip)
                    .map(|(acl, stat)| json!({"acl": acl_json(&acl), "stat": self.stat(&stat)})),
            ),
            "multi" => {
                let subs = step["ops"].as_array().expect("ops");
                let ops = subs.iter().map(|s| MultiWriteOp::try_from(write_op(s, true)).expect("a multi's op")).collect();
                match self.write(&auth, WriteOp::Multi(ops)) {
                    TxnResult::Multi(results) => {
                        let results: Vec<Value> =
                            subs.iter().zip(&results).map(|(sub, r)| self.multi_result(sub, r)).collect();
                        json!({"ok": {"results": results}})
                    }
                    other => json!({"err": other.error().code()}),
                }
            }
            _ => {
                let result = self.write(&auth, write_op(step, false));
                single(result, |r| self.write_result(r))
            }
        }
    }

    fn write_result(&self, result: &TxnResult) -> Value {
        match result {
            TxnResult::Created { path, stat } => json!({"path": path, "stat": self.stat(stat)}),
            TxnResult::DataSet { stat } | TxnResult::AclSet { stat } => json!({"stat": self.stat(stat)}),
            _ => Value::Null,
        }
    }

    /// Multi results as ZooKeeper 3.8.0 sends them: create and create2 both come back as a
    /// plain create; container and TTL creates as create2 with a Stat.
    fn multi_result(&self, sub: &Value, result: &TxnResult) -> Value {
        match result {
            TxnResult::Failed(code) => json!({"err": code.code()}),
            TxnResult::Created { path, stat } => {
                if create_opcode(sub, true) == CreateOpcode::Create || create_opcode(sub, true) == CreateOpcode::Create2
                {
                    json!({"op": "create", "path": path})
                } else {
                    json!({"op": "create2", "path": path, "stat": self.stat(stat)})
                }
            }
            TxnResult::Deleted => json!({"op": "delete"}),
            TxnResult::DataSet { stat } => json!({"op": "set", "stat": self.stat(stat)}),
            TxnResult::Checked => json!({"op": "check"}),
            other => panic!("unexpected multi result {other:?}"),
        }
    }
}

fn single(result: TxnResult, ok: impl FnOnce(&TxnResult) -> Value) -> Value {
    match result.error() {
        ErrorCode::Ok => json!({"ok": ok(&result)}),
        code => json!({"err": code.code()}),
    }
}

fn answer(result: Result<Value, ErrorCode>) -> Value {
    match result {
        Ok(v) => json!({"ok": v}),
        Err(code) => json!({"err": code.code()}),
    }
}

fn acl_json(acl: &[Acl]) -> Value {
    acl.iter().map(|a| json!({"perms": a.perms, "scheme": a.id.scheme, "id": a.id.id})).collect()
}

fn parse_acl(step: &Value) -> Vec<Acl> {
    match step.get("acl").and_then(Value::as_array) {
        None => Acl::open_unsafe(),
        Some(list) => list
            .iter()
            .map(|a| {
                Acl::new(
                    a["perms"].as_i64().expect("perms") as i32,
                    a["scheme"].as_str().unwrap(),
                    a["id"].as_str().unwrap(),
                )
            })
            .collect(),
    }
}

fn mode_flags(step: &Value) -> i32 {
    match step.get("mode").and_then(Value::as_str).unwrap_or("persistent") {
        "persistent" => 0,
        "ephemeral" => 1,
        "persistent_sequential" => 2,
        "ephemeral_sequential" => 3,
        "container" => 4,
        "persistent_ttl" => 5,
        "persistent_sequential_ttl" => 6,
        other => panic!("unknown mode {other}"),
    }
}

/// The opcode capture.py sent: 15 for single creates (1 for a multi's "create"), 19 for
/// containers, 21 for TTL modes.
fn create_opcode(step: &Value, in_multi: bool) -> CreateOpcode {
    match mode_flags(step) {
        4 => CreateOpcode::CreateContainer,
        5 | 6 => CreateOpcode::CreateTtl,
        _ if in_multi && step["op"] == "create" => CreateOpcode::Create,
        _ => CreateOpcode::Create2,
    }
}

fn write_op(step: &Value, in_multi: bool) -> WriteOp {
    let path = step["path"].as_str().expect("path").to_string();
    let data = step.get("data").and_then(Value::as_str).map(|d| d.as_bytes().to_vec());
    let version = step.get("version").and_then(Value::as_i64).unwrap_or(-1) as i32;
    match step["op"].as_str().expect("op") {
        "create" | "create2" => WriteOp::Create {
            opcode: create_opcode(step, in_multi),
            path,
            data,
            acl: parse_acl(step),
            flags: mode_flags(step),
            ttl_ms: step.get("ttl").and_then(Value::as_i64).unwrap_or(-1),
        },
        "delete" => WriteOp::Delete { path, version },
        "set" => WriteOp::SetData { path, data, version },
        "set_acl" => WriteOp::SetAcl { path, acl: parse_acl(step), version },
        "check" => WriteOp::Check { path, version },
        other => panic!("unknown write op {other}"),
    }
}

fn load(name: &str) -> Vec<Value> {
    let text = std::fs::read_to_string(format!("{DIR}/{name}")).expect("fixture present");
    serde_json::from_str(&text).expect("fixture is JSON")
}

#[test]
fn data_tree_answers_like_zookeeper_3_8() {
    let script = load("script.json");
    let expected = load("expected.json");
    assert_eq!(script.len(), expected.len());
    let mut server = Server::new();
    let mut mismatches = Vec::new();
    for (index, (step, want)) in script.iter().zip(&expected).enumerate() {
        let got = server.step(step);
        if &got != want {
            mismatches.push(format!("step {index}: {step}\n   zookeeper: {want}\n   zabkeeper: {got}"));
        }
        server.tree.check_invariants().unwrap_or_else(|e| panic!("step {index}: {e}"));
    }
    assert!(mismatches.is_empty(), "{} of {} steps differ:\n{}", mismatches.len(), script.len(), mismatches.join("\n"));
}
