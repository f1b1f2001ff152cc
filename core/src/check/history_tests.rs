//! Hand-made histories, one per broken guarantee, each rejected with exactly that guarantee; and
//! histories produced by the real prep, apply and read code (a leader plus lagging followers),
//! which must pass.

use alloc::string::{String, ToString};
use alloc::vec;
use alloc::vec::Vec;

use proptest::prelude::*;

use super::*;
use crate::ids::{SessionId, Zxid};
use crate::tree::{Acl, DataTree};
use crate::txn::{self, AuthContext, CreateOpcode, MultiWriteOp, PendingChanges, PrepConfig, TxnResult, WriteOp};

const S1: i64 = 0x0100_0000_0000_0001;
const S2: i64 = 0x0100_0000_0000_0002;
const S3: i64 = 0x0200_0000_0000_0003;

fn op(session: i64, cxid: i32, call: Call, invoked_ms: u64, outcome: Outcome) -> Op {
    let client = match session {
        S1 => 1,
        S2 => 2,
        _ => 3,
    };
    Op { client, session, cxid, call, invoked_ms, outcome }
}

fn ok(completed_ms: u64, zxid: i64, reply: Reply) -> Outcome {
    Outcome::Ok { completed_ms, zxid, reply }
}

fn err(completed_ms: u64, zxid: i64, code: ErrorCode) -> Outcome {
    Outcome::Err { completed_ms, zxid, code }
}

fn create(path: &str, data: &str) -> Call {
    Call::Create { path: path.into(), data: data.into(), ephemeral: false, sequential: false }
}

fn create_with(path: &str, ephemeral: bool, sequential: bool) -> Call {
    Call::Create { path: path.into(), data: Vec::new(), ephemeral, sequential }
}

fn set(path: &str, data: &str, version: i32) -> Call {
    Call::SetData { path: path.into(), data: data.into(), version }
}

fn delete(path: &str) -> Call {
    Call::Delete { path: path.into(), version: -1 }
}

fn get(path: &str) -> Call {
    Call::GetData { path: path.into() }
}

fn exists(path: &str) -> Call {
    Call::Exists { path: path.into() }
}

fn children(path: &str) -> Call {
    Call::GetChildren { path: path.into() }
}

fn sync() -> Call {
    Call::Sync { path: "/".into() }
}

fn data(text: &str, version: i32) -> Reply {
    Reply::Data { data: text.into(), version }
}

fn created(path: &str) -> Reply {
    Reply::Created(path.into())
}

fn names(list: &[&str]) -> Reply {
    Reply::Children(list.iter().map(|n| n.to_string()).collect())
}

fn w(zxid: i64, session: i64, cxid: i32, effect: Effect) -> CommittedWrite {
    CommittedWrite { zxid, session, cxid, effect }
}

fn e_create(path: &str, data: &str, parent_cversion: i32) -> Effect {
    Effect::Create { path: path.into(), data: data.into(), ephemeral_owner: None, parent_cversion }
}

fn e_ephemeral(path: &str, owner: i64, parent_cversion: i32) -> Effect {
    Effect::Create { path: path.into(), data: Vec::new(), ephemeral_owner: Some(owner), parent_cversion }
}

fn e_set(path: &str, data: &str, version: i32) -> Effect {
    Effect::SetData { path: path.into(), data: data.into(), version }
}

fn e_delete(path: &str) -> Effect {
    Effect::Delete { path: path.into() }
}

#[track_caller]
fn passes(ops: &[Op], log: &[CommittedWrite]) {
    if let Err(failure) = check(ops, log) {
        panic!("expected the history to pass:\n{failure}");
    }
}

#[track_caller]
fn fails(ops: &[Op], log: &[CommittedWrite], guarantee: Guarantee) -> Failure {
    match check(ops, log) {
        Ok(()) => panic!("expected \"{}\" to fail, but the history passed", guarantee.name()),
        Err(failure) => {
            assert_eq!(failure.guarantee, guarantee, "wrong guarantee:\n{failure}");
            failure
        }
    }
}

fn op_ids(failure: &Failure) -> Vec<usize> {
    failure.ops.iter().map(|(i, _)| *i).collect()
}

fn zxids(failure: &Failure) -> Vec<i64> {
    failure.writes.iter().map(|w| w.zxid).collect()
}

/// S1 creates /a = "x" (zxid 3) then sets it to "y" (zxid 4); S2 reads /a twice: once stale
/// (allowed: another session's write), then fresh.
fn base() -> (Vec<Op>, Vec<CommittedWrite>) {
    let ops = vec![
        op(S1, 1, create("/a", "x"), 10, ok(11, 3, created("/a"))),
        op(S1, 2, set("/a", "y", 0), 20, ok(21, 4, Reply::Version(1))),
        op(S2, 1, get("/a"), 22, ok(23, 3, data("x", 0))),
        op(S2, 2, get("/a"), 24, ok(25, 4, data("y", 1))),
    ];
    let log = vec![
        w(1, S1, 0, Effect::CreateSession),
        w(2, S2, 0, Effect::CreateSession),
        w(3, S1, 1, e_create("/a", "x", 1)),
        w(4, S1, 2, e_set("/a", "y", 1)),
    ];
    (ops, log)
}

#[test]
fn a_correct_history_passes() {
    let (mut ops, mut log) = base();
    ops.extend([
        // Sequential and ephemeral children; a refused create; children and exists reads.
        op(S1, 3, create_with("/a/s-", false, true), 30, ok(31, 5, created("/a/s-0000000000"))),
        op(S2, 3, create_with("/a/e", true, false), 30, ok(32, 6, created("/a/e"))),
        op(S1, 4, create("/a", "z"), 33, err(34, 7, ErrorCode::NodeExists)),
        op(S1, 5, create_with("/a/s-", false, true), 35, ok(36, 8, created("/a/s-0000000002"))),
        op(S1, 6, children("/a"), 37, ok(38, 8, names(&["s-0000000002", "e", "s-0000000000"]))),
        op(S3, 1, exists("/a/e"), 37, ok(38, 5, Reply::Exists(None))),
        op(S3, 2, exists("/a/e"), 39, ok(40, 6, Reply::Exists(Some(0)))),
        op(S3, 3, get("/nope"), 41, err(42, 6, ErrorCode::NoNode)),
        op(S3, 4, exists("/nope"), 43, err(44, 6, ErrorCode::NoNode)),
        // S2 closes its session: its ephemeral goes.
        op(S2, 4, Call::CloseSession, 45, ok(46, 9, Reply::Done)),
        op(S3, 5, children("/a"), 47, ok(48, 9, names(&["s-0000000000", "s-0000000002"]))),
        // A sync, then a read at least as fresh as every write completed before the sync.
        op(S3, 6, sync(), 49, ok(50, 9, Reply::Done)),
        op(S3, 7, get("/a"), 51, ok(52, 9, data("y", 1))),
    ]);
    log.extend([
        w(5, S1, 3, e_create("/a/s-0000000000", "", 1)),
        w(6, S2, 3, e_ephemeral("/a/e", S2, 2)),
        w(7, S1, 4, Effect::Error(ErrorCode::NodeExists)),
        w(8, S1, 5, e_create("/a/s-0000000002", "", 3)),
        w(9, S2, 4, Effect::CloseSession { session: S2, paths: vec!["/a/e".into()] }),
    ]);
    passes(&ops, &log);
}

#[test]
fn multi_all_or_nothing_passes() {
    let (mut ops, mut log) = base();
    let good = Call::Multi(vec![create("/m", "1"), set("/a", "z", 1), Call::Check { path: "/a".into(), version: 2 }]);
    let bad = Call::Multi(vec![create("/n", ""), Call::Check { path: "/a".into(), version: 0 }, delete("/a")]);
    let failed =
        Reply::Multi(vec![Err(ErrorCode::Ok), Err(ErrorCode::BadVersion), Err(ErrorCode::RuntimeInconsistency)]);
    ops.extend([
        op(S1, 3, good, 30, ok(31, 5, Reply::Multi(vec![Ok(created("/m")), Ok(Reply::Version(2)), Ok(Reply::Done)]))),
        op(S1, 4, bad.clone(), 32, ok(33, 6, failed)),
        // A client library may report a failed multi as its first error.
        op(S2, 3, bad, 34, err(35, 7, ErrorCode::BadVersion)),
        op(S2, 4, exists("/n"), 36, ok(37, 7, Reply::Exists(None))),
        op(S2, 5, get("/m"), 38, ok(39, 7, data("1", 0))),
    ]);
    let codes = vec![ErrorCode::Ok, ErrorCode::BadVersion, ErrorCode::RuntimeInconsistency];
    log.extend([
        w(
            5,
            S1,
            3,
            Effect::Multi(vec![e_create("/m", "1", 2), e_set("/a", "z", 2), Effect::Check { path: "/a".into() }]),
        ),
        w(6, S1, 4, Effect::MultiError(codes.clone())),
        w(7, S2, 3, Effect::MultiError(codes)),
    ]);
    passes(&ops, &log);
}

#[test]
fn unknown_writes_in_and_out_of_the_log_pass() {
    let (mut ops, mut log) = base();
    ops.extend([
        // In the log: applied, and a later read sees it.
        op(S1, 3, set("/a", "u", -1), 30, Outcome::Unknown),
        // Lost with the connection: never committed.
        op(S1, 4, create("/lost", ""), 31, Outcome::Unknown),
        // A client-side error is as good as no reply, committed or not.
        op(S2, 3, create("/b", ""), 32, err(40, 0, ErrorCode::ConnectionLoss)),
        op(S2, 4, create("/c", ""), 33, err(40, 0, ErrorCode::SessionExpired)),
        // Refused before any txn.
        op(S3, 1, create("/d", ""), 34, err(35, 6, ErrorCode::NotReadOnly)),
        op(S3, 2, get("/a"), 50, ok(51, 6, data("u", 2))),
        op(S3, 3, exists("/lost"), 52, ok(53, 6, Reply::Exists(None))),
        op(S3, 4, exists("/b"), 54, ok(55, 6, Reply::Exists(Some(0)))),
    ]);
    log.extend([w(5, S1, 3, e_set("/a", "u", 2)), w(6, S2, 3, e_create("/b", "", 2))]);
    passes(&ops, &log);
}

#[test]
fn an_unknown_write_in_the_log_must_still_be_its_call() {
    let (mut ops, mut log) = base();
    // Version 0 is stale at zxid 5 (the node is at 1): ZooKeeper refuses it, the log applied it.
    ops.push(op(S1, 3, set("/a", "u", 0), 30, Outcome::Unknown));
    log.push(w(5, S1, 3, e_set("/a", "u", 2)));
    let failure = fails(&ops, &log, Guarantee::LinearizableWrites);
    assert_eq!(op_ids(&failure), vec![4]);
    assert_eq!(zxids(&failure), vec![5]);
}

#[test]
fn errors_the_model_does_not_compute_are_taken_from_the_log() {
    let (mut ops, mut log) = base();
    ops.push(op(S2, 3, create("/acl", ""), 30, err(31, 5, ErrorCode::NoAuth)));
    ops.push(op(S2, 4, Call::Multi(vec![create("/m", ""), delete("/a")]), 32, err(33, 6, ErrorCode::NoAuth)));
    log.push(w(5, S2, 3, Effect::Error(ErrorCode::NoAuth)));
    log.push(w(6, S2, 4, Effect::MultiError(vec![ErrorCode::Ok, ErrorCode::NoAuth])));
    passes(&ops, &log);
}

#[test]
fn stale_read_beyond_the_sessions_own_write() {
    let (mut ops, log) = base();
    // S1 wrote "y" at zxid 4 (completed at 21), then reads at zxid 3.
    ops.push(op(S1, 3, get("/a"), 22, ok(23, 3, data("x", 0))));
    let failure = fails(&ops, &log, Guarantee::ReadYourWrites);
    assert_eq!(op_ids(&failure), vec![1, 4]);
    assert_eq!(zxids(&failure), vec![4]);
}

#[test]
fn stale_read_of_another_sessions_write_passes() {
    let (mut ops, log) = base();
    ops.push(op(S3, 1, get("/a"), 100, ok(101, 3, data("x", 0))));
    passes(&ops, &log);
}

#[test]
fn read_from_the_future() {
    let (mut ops, log) = base();
    // Answered at zxid 3, but shows "y", which only zxid 4 wrote.
    ops.push(op(S3, 1, get("/a"), 22, ok(23, 3, data("y", 1))));
    let failure = fails(&ops, &log, Guarantee::SequentiallyConsistentReads);
    assert_eq!(op_ids(&failure), vec![0, 1, 4]);
    assert_eq!(zxids(&failure), vec![3, 4]);
    assert!(failure.detail.contains("it was so at zxid 0x4"), "{}", failure.detail);
}

#[test]
fn read_at_a_zxid_never_committed() {
    let (mut ops, log) = base();
    ops.push(op(S3, 1, get("/a"), 22, ok(23, 9, data("y", 1))));
    let failure = fails(&ops, &log, Guarantee::SequentiallyConsistentReads);
    assert_eq!(op_ids(&failure), vec![4]);
}

#[test]
fn wrong_children_and_wrong_no_node() {
    let (mut ops, log) = base();
    ops.push(op(S3, 1, children("/"), 30, ok(31, 2, names(&["a", "zookeeper"]))));
    fails(&ops, &log, Guarantee::SequentiallyConsistentReads);
    let (mut ops, log) = base();
    ops.push(op(S3, 1, get("/a"), 30, err(31, 4, ErrorCode::NoNode)));
    fails(&ops, &log, Guarantee::SequentiallyConsistentReads);
    let (mut ops, log) = base();
    ops.push(op(S3, 1, children("/"), 30, ok(31, 4, names(&["zookeeper", "a"]))));
    ops.push(op(S3, 2, exists("/a"), 32, ok(33, 4, Reply::Exists(Some(1)))));
    passes(&ops, &log);
}

#[test]
fn zxid_going_backwards_after_a_session_move() {
    let (mut ops, log) = base();
    // S2 saw zxid 4, moved to a lagging server, and read at zxid 3 (consistent with zxid 3).
    ops.push(op(S2, 3, get("/a"), 40, ok(41, 3, data("x", 0))));
    let failure = fails(&ops, &log, Guarantee::SingleSystemImage);
    assert_eq!(op_ids(&failure), vec![3, 4]);
}

#[test]
fn lost_acknowledged_write() {
    let (mut ops, log) = base();
    ops.push(op(S2, 3, create("/gone", ""), 30, ok(31, 5, created("/gone"))));
    let failure = fails(&ops, &log, Guarantee::LostAcknowledgedWrite);
    assert_eq!(op_ids(&failure), vec![4]);
    assert!(failure.writes.is_empty());
}

#[test]
fn a_definite_error_is_an_error_txn() {
    let (mut ops, log) = base();
    ops.push(op(S2, 3, create("/a", ""), 30, err(31, 5, ErrorCode::NodeExists)));
    fails(&ops, &log, Guarantee::LinearizableWrites);
}

#[test]
fn a_write_committed_twice() {
    let (ops, mut log) = base();
    log.push(w(5, S1, 2, e_set("/a", "y", 2)));
    let failure = fails(&ops, &log, Guarantee::LinearizableWrites);
    assert_eq!(zxids(&failure), vec![4, 5]);
}

#[test]
fn a_read_committed_as_a_write() {
    let (ops, mut log) = base();
    log.push(w(5, S2, 1, e_create("/r", "", 2)));
    fails(&ops, &log, Guarantee::LinearizableWrites);
}

#[test]
fn reply_zxid_differs_from_the_committed_one() {
    let (mut ops, log) = base();
    ops[1].outcome = ok(21, 5, Reply::Version(1));
    let failure = fails(&ops, &log, Guarantee::LinearizableWrites);
    assert_eq!(op_ids(&failure), vec![1]);
    assert_eq!(zxids(&failure), vec![4]);
}

#[test]
fn reply_differs_from_what_the_log_did() {
    let (mut ops, log) = base();
    ops[1].outcome = ok(21, 4, Reply::Version(2));
    fails(&ops, &log, Guarantee::LinearizableWrites);
    let (mut ops, log) = base();
    ops[1].outcome = err(21, 4, ErrorCode::BadVersion);
    fails(&ops, &log, Guarantee::LinearizableWrites);
}

#[test]
fn wrong_sequential_name() {
    let (mut ops, mut log) = base();
    ops.push(op(S1, 3, create_with("/a/s-", false, true), 30, ok(31, 5, created("/a/s-0000000001"))));
    // The log agrees with the reply, but /a never had a child: the suffix must be 0.
    log.push(w(5, S1, 3, e_create("/a/s-0000000001", "", 1)));
    let failure = fails(&ops, &log, Guarantee::LinearizableWrites);
    assert!(failure.detail.contains("/a/s-0000000000"), "{}", failure.detail);
    // The log is right and the reply names another node.
    let (mut ops, mut log) = base();
    ops.push(op(S1, 3, create_with("/a/s-", false, true), 30, ok(31, 5, created("/a/s-0000000001"))));
    log.push(w(5, S1, 3, e_create("/a/s-0000000000", "", 1)));
    fails(&ops, &log, Guarantee::LinearizableWrites);
}

#[test]
fn sequential_counter_counts_creates_not_children() {
    let (mut ops, mut log) = base();
    ops.extend([
        op(S1, 3, create("/a/x", ""), 30, ok(31, 5, created("/a/x"))),
        op(S1, 4, delete("/a/x"), 32, ok(33, 6, Reply::Done)),
        op(S1, 5, create_with("/a/s-", false, true), 34, ok(35, 7, created("/a/s-0000000001"))),
    ]);
    log.extend([
        w(5, S1, 3, e_create("/a/x", "", 1)),
        w(6, S1, 4, e_delete("/a/x")),
        w(7, S1, 5, e_create("/a/s-0000000001", "", 2)),
    ]);
    passes(&ops, &log);
}

#[test]
fn writes_reordered_against_real_time() {
    let (mut ops, mut log) = base();
    // S2's write was invoked (at 30) after S1's completed (at 21)... and committed before it.
    ops[1].outcome = ok(21, 6, Reply::Version(1));
    ops.push(op(S2, 3, create("/b", ""), 30, ok(31, 5, created("/b"))));
    ops[3].outcome = ok(25, 6, data("y", 1));
    log[3] = w(6, S1, 2, e_set("/a", "y", 1));
    log.insert(3, w(5, S2, 3, e_create("/b", "", 2)));
    let failure = fails(&ops, &log, Guarantee::LinearizableWrites);
    assert_eq!(op_ids(&failure), vec![1, 4]);
    assert_eq!(zxids(&failure), vec![5, 6]);
}

#[test]
fn concurrent_writes_may_commit_in_either_order() {
    let (mut ops, mut log) = base();
    ops.push(op(S2, 3, create("/b", ""), 30, ok(40, 6, created("/b"))));
    ops.push(op(S3, 1, create("/c", ""), 35, ok(38, 5, created("/c"))));
    log.push(w(5, S3, 1, e_create("/c", "", 2)));
    log.push(w(6, S2, 3, e_create("/b", "", 3)));
    passes(&ops, &log);
}

#[test]
fn sync_then_stale_read() {
    let (mut ops, log) = base();
    // S1's write of zxid 4 completed at 21; S3 syncs from 22 and then reads at zxid 3.
    ops.push(op(S3, 1, sync(), 22, ok(23, 3, Reply::Done)));
    ops.push(op(S3, 2, get("/a"), 24, ok(25, 3, data("x", 0))));
    let failure = fails(&ops, &log, Guarantee::Sync);
    assert_eq!(op_ids(&failure), vec![1, 4, 5]);
    // A read pipelined behind the sync is not judged by it, but cannot fall below its reply.
    let (mut ops, log) = base();
    ops.push(op(S3, 1, sync(), 22, ok(30, 4, Reply::Done)));
    ops.push(op(S3, 2, get("/a"), 24, ok(30, 3, data("x", 0))));
    fails(&ops, &log, Guarantee::SingleSystemImage);
    let (mut ops, log) = base();
    ops.push(op(S3, 1, get("/a"), 22, ok(23, 3, data("x", 0))));
    ops.push(op(S3, 2, sync(), 24, ok(30, 4, Reply::Done)));
    passes(&ops, &log);
}

#[test]
fn partial_multi() {
    let calls = vec![create("/m", ""), create("/no/parent", "")];
    let failed = vec![ErrorCode::Ok, ErrorCode::NoNode];
    // The reply claims the first op happened and the second failed.
    let (mut ops, mut log) = base();
    let partial = Reply::Multi(vec![Ok(created("/m")), Err(ErrorCode::NoNode)]);
    ops.push(op(S1, 3, Call::Multi(calls.clone()), 30, ok(31, 5, partial)));
    log.push(w(5, S1, 3, Effect::MultiError(failed.clone())));
    fails(&ops, &log, Guarantee::MultiAtomicity);
    // The log applied the first op alone.
    let (mut ops, mut log) = base();
    ops.push(op(S1, 3, Call::Multi(calls), 30, Outcome::Unknown));
    log.push(w(5, S1, 3, Effect::Multi(vec![e_create("/m", "", 2)])));
    fails(&ops, &log, Guarantee::MultiAtomicity);
    // A committed failed multi whose codes break ZooKeeper's convention.
    let (ops, mut log) = base();
    log.push(w(5, S3, 1, Effect::MultiError(vec![ErrorCode::NoNode, ErrorCode::Ok])));
    fails(&ops, &log, Guarantee::MultiAtomicity);
    // A committed multi that cannot apply whole.
    let (ops, mut log) = base();
    log.push(w(5, S3, 1, Effect::Multi(vec![e_create("/m", "", 2), e_create("/m", "", 3)])));
    fails(&ops, &log, Guarantee::CommittedLog);
}

#[test]
fn ephemeral_created_for_a_closed_session() {
    let (ops, mut log) = base();
    log.push(w(5, S3, 7, Effect::CloseSession { session: S3, paths: Vec::new() }));
    log.push(w(6, S3, 8, e_ephemeral("/a/e", S3, 1)));
    let failure = fails(&ops, &log, Guarantee::Ephemerals);
    assert_eq!(zxids(&failure), vec![5, 6]);
}

#[test]
fn close_deletes_another_sessions_node() {
    let (ops, mut log) = base();
    log.push(w(5, S2, 9, e_ephemeral("/a/e", S2, 1)));
    log.push(w(6, S3, 7, Effect::CloseSession { session: S3, paths: vec!["/a/e".into()] }));
    fails(&ops, &log, Guarantee::Ephemerals);
}

#[test]
fn ephemerals_go_with_their_session() {
    let (mut ops, mut log) = base();
    log.push(w(5, S2, 9, e_ephemeral("/a/e", S2, 1)));
    log.push(w(6, S2, 10, Effect::CloseSession { session: S2, paths: Vec::new() }));
    ops.push(op(S3, 1, exists("/a/e"), 30, ok(31, 5, Reply::Exists(Some(0)))));
    ops.push(op(S3, 2, exists("/a/e"), 32, ok(33, 6, Reply::Exists(None))));
    passes(&ops, &log);
    ops.push(op(S3, 3, exists("/a/e"), 34, ok(35, 6, Reply::Exists(Some(0)))));
    fails(&ops, &log, Guarantee::SequentiallyConsistentReads);
}

#[test]
fn replies_out_of_cxid_order() {
    let (mut ops, log) = base();
    ops[1].invoked_ms = 10;
    ops[0].outcome = ok(22, 3, created("/a"));
    let failure = fails(&ops, &log, Guarantee::FifoClientOrder);
    assert_eq!(op_ids(&failure), vec![0, 1]);
}

#[test]
fn writes_committed_out_of_cxid_order() {
    let ops = vec![
        op(S1, 1, create("/a", ""), 10, ok(15, 3, created("/a"))),
        op(S1, 2, create("/b", ""), 10, ok(16, 2, created("/b"))),
    ];
    let log = vec![
        w(1, S1, 0, Effect::CreateSession),
        w(2, S1, 2, e_create("/b", "", 1)),
        w(3, S1, 1, e_create("/a", "", 2)),
    ];
    let failure = fails(&ops, &log, Guarantee::FifoClientOrder);
    assert_eq!(op_ids(&failure), vec![0, 1]);
}

#[test]
fn a_session_refusal_may_land_out_of_order() {
    let ops = vec![
        op(S1, 1, create("/a", ""), 10, Outcome::Unknown),
        op(S1, 2, create("/b", ""), 20, ok(21, 2, created("/b"))),
    ];
    let log = vec![w(2, S1, 2, e_create("/b", "", 1)), w(3, S1, 1, Effect::Error(ErrorCode::SessionMoved))];
    passes(&ops, &log);
}

#[test]
fn committed_log_that_does_not_fit() {
    let (ops, mut log) = base();
    log.push(w(5, S3, 1, e_set("/a", "z", 3)));
    let failure = fails(&ops, &log, Guarantee::CommittedLog);
    assert_eq!(zxids(&failure), vec![5]);
    let (ops, mut log) = base();
    log.push(w(5, S3, 1, e_create("/a/b", "", 1)));
    log.push(w(6, S3, 2, e_delete("/a")));
    fails(&ops, &log, Guarantee::CommittedLog);
    let (ops, mut log) = base();
    log.push(w(5, S3, 1, e_create("/a/b", "", 2)));
    fails(&ops, &log, Guarantee::CommittedLog);
    let (ops, mut log) = base();
    log.push(w(4, S3, 1, e_delete("/a")));
    fails(&ops, &log, Guarantee::CommittedLog);
}

#[test]
fn malformed_histories() {
    let (mut ops, log) = base();
    ops.push(op(S1, 2, get("/a"), 30, ok(31, 4, data("y", 1))));
    fails(&ops, &log, Guarantee::WellFormedHistory);
    let (mut ops, log) = base();
    ops[2].outcome = ok(5, 3, data("x", 0));
    fails(&ops, &log, Guarantee::WellFormedHistory);
}

#[test]
fn a_failure_prints_a_short_history() {
    let (mut ops, log) = base();
    ops.push(op(S1, 3, get("/a"), 22, ok(23, 3, data("x", 0))));
    let text = alloc::format!("{}", fails(&ops, &log, Guarantee::ReadYourWrites));
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 4, "{text}");
    assert!(lines[0].starts_with("read your writes: op #4 read at zxid 0x3"), "{text}");
    assert!(lines[1].contains("op #1 client 1 session 0x100000000000001 cxid 2: setData /a \"y\" v0"), "{text}");
    assert!(lines[3].contains("committed zxid 0x4"), "{text}");
}

#[test]
fn from_txn_keeps_what_the_model_needs() {
    let txn = Txn::Create(crate::txn::CreateTxn {
        path: "/e".into(),
        data: None,
        acl: Acl::open_unsafe(),
        ephemeral_owner: S1,
        parent_cversion: 4,
    });
    assert_eq!(
        from_txn(7, S1, 3, &txn),
        w(
            7,
            S1,
            3,
            Effect::Create { path: "/e".into(), data: Vec::new(), ephemeral_owner: Some(S1), parent_cversion: 4 }
        )
    );
    let container = Txn::Create(crate::txn::CreateTxn {
        path: "/c".into(),
        data: Some(b"d".to_vec()),
        acl: Acl::open_unsafe(),
        ephemeral_owner: crate::tree::CONTAINER_OWNER,
        parent_cversion: 1,
    });
    assert_eq!(from_txn(8, S1, 4, &container).effect, e_create("/c", "d", 1));
    let close = Txn::CloseSession { session: SessionId(S2), paths: vec!["/x".into()] };
    assert_eq!(from_txn(9, S2, 0, &close).effect, Effect::CloseSession { session: S2, paths: vec!["/x".into()] });
}

/// A leader that preps and applies each write at once, and followers that apply the same log
/// later: the real code paths, producing a history every guarantee holds for.
struct Reference {
    leader: DataTree,
    pending: PendingChanges,
    log: Vec<(Zxid, Txn)>,
    /// Per follower: its tree and how many log entries it has applied.
    followers: Vec<(DataTree, usize)>,
    ops: Vec<Op>,
    committed: Vec<CommittedWrite>,
    /// Per session: next cxid, log entries seen, closed.
    sessions: Vec<(i64, i32, usize, bool)>,
    now_ms: u64,
}

impl Reference {
    fn new(sessions: &[i64], followers: usize) -> Reference {
        let mut reference = Reference {
            leader: DataTree::new(),
            pending: PendingChanges::default(),
            log: Vec::new(),
            followers: (0..followers).map(|_| (DataTree::new(), 0)).collect(),
            ops: Vec::new(),
            committed: Vec::new(),
            sessions: sessions.iter().map(|&s| (s, 1, 0, false)).collect(),
            now_ms: 0,
        };
        for &session in sessions {
            reference.commit(session, 0, WriteOp::CreateSession { timeout_ms: 4000 });
        }
        reference
    }

    fn commit(&mut self, session: i64, cxid: i32, op: WriteOp) -> (Zxid, TxnResult) {
        let zxid = Zxid::new(1, self.log.len() as u32 + 1);
        let auth = AuthContext::new(SessionId(session));
        let txn = txn::prep(&self.leader, &mut self.pending, &PrepConfig::default(), &auth, zxid, op);
        self.committed.push(from_txn(zxid.as_i64(), session, cxid, &txn));
        self.log.push((zxid, txn.clone()));
        let result = txn::apply(&mut self.leader, zxid, 0, &txn);
        self.pending.committed(zxid);
        (zxid, result)
    }

    fn tick(&mut self) -> u64 {
        self.now_ms += 10;
        self.now_ms
    }

    fn next_cxid(&mut self, s: usize) -> (i64, i32) {
        let entry = &mut self.sessions[s];
        entry.1 += 1;
        (entry.0, entry.1 - 1)
    }

    /// `fate`: 0 acknowledged, 1 committed without a reply, 2 lost before prep.
    fn write(&mut self, s: usize, call: Call, fate: u8) {
        if self.sessions[s].3 {
            return;
        }
        let (session, cxid) = self.next_cxid(s);
        let invoked_ms = self.tick();
        let outcome = if fate == 2 {
            Outcome::Unknown
        } else {
            let closes = call == Call::CloseSession;
            let (zxid, result) = self.commit(session, cxid, write_op(&call));
            self.sessions[s].2 = self.log.len();
            self.sessions[s].3 |= closes;
            let completed_ms = self.tick();
            match (fate, reply_of(&result)) {
                (0, Ok(reply)) => Outcome::Ok { completed_ms, zxid: zxid.as_i64(), reply },
                (0, Err(code)) => Outcome::Err { completed_ms, zxid: zxid.as_i64(), code },
                _ => Outcome::Unknown,
            }
        };
        self.ops.push(Op { client: s as u32, session, cxid, call, invoked_ms, outcome });
    }

    /// Reads through follower `f`, which first applies up to `advance` more entries, and at
    /// least everything the session has seen (a sync: the whole log).
    fn read(&mut self, s: usize, f: usize, call: Call, advance: usize) {
        if self.sessions[s].3 {
            return;
        }
        let (session, cxid) = self.next_cxid(s);
        let invoked_ms = self.tick();
        let target = match call {
            Call::Sync { .. } => self.log.len(),
            _ => (self.followers[f].1 + advance).max(self.sessions[s].2).min(self.log.len()),
        };
        let (tree, applied) = &mut self.followers[f];
        for (zxid, txn) in &self.log[*applied..target.max(*applied)] {
            txn::apply(tree, *zxid, 0, txn);
        }
        *applied = target.max(*applied);
        let zxid = tree.last_zxid().as_i64();
        let answer = read_on(tree, session, &call);
        self.sessions[s].2 = self.sessions[s].2.max(*applied);
        let completed_ms = self.tick();
        let outcome = match answer {
            Ok(reply) => Outcome::Ok { completed_ms, zxid, reply },
            Err(code) => Outcome::Err { completed_ms, zxid, code },
        };
        self.ops.push(Op { client: s as u32, session, cxid, call, invoked_ms, outcome });
    }
}

fn write_op(call: &Call) -> WriteOp {
    match call {
        Call::Create { path, data, ephemeral, sequential } => WriteOp::Create {
            opcode: CreateOpcode::Create,
            path: path.clone(),
            data: Some(data.clone()),
            acl: Acl::open_unsafe(),
            flags: i32::from(*ephemeral) | (i32::from(*sequential) << 1),
            ttl_ms: -1,
        },
        Call::Delete { path, version } => WriteOp::Delete { path: path.clone(), version: *version },
        Call::SetData { path, data, version } => {
            WriteOp::SetData { path: path.clone(), data: Some(data.clone()), version: *version }
        }
        Call::Check { path, version } => WriteOp::Check { path: path.clone(), version: *version },
        Call::Multi(calls) => WriteOp::Multi(
            calls.iter().map(|call| MultiWriteOp::try_from(write_op(call)).expect("a multi's op")).collect(),
        ),
        Call::CloseSession => WriteOp::CloseSession,
        _ => panic!("not a write: {call}"),
    }
}

fn reply_of(result: &TxnResult) -> Result<Reply, ErrorCode> {
    match result {
        TxnResult::Created { path, .. } => Ok(Reply::Created(path.clone())),
        TxnResult::DataSet { stat } => Ok(Reply::Version(stat.version)),
        TxnResult::Multi(results) => Ok(Reply::Multi(results.iter().map(reply_of).collect())),
        TxnResult::Failed(code) => Err(*code),
        _ => Ok(Reply::Done),
    }
}

fn read_on(tree: &DataTree, session: i64, call: &Call) -> Result<Reply, ErrorCode> {
    let auth = AuthContext::new(SessionId(session));
    match call {
        Call::GetData { path } => txn::read::get_data(tree, &auth, path, false)
            .map(|(data, stat)| Reply::Data { data: data.unwrap_or_default().to_vec(), version: stat.version }),
        Call::Exists { path } => txn::read::exists(tree, path).map(|stat| Reply::Exists(Some(stat.version))),
        Call::GetChildren { path } => txn::read::get_children(tree, &auth, path, false)
            .map(|(names, _)| Reply::Children(names.into_iter().map(String::from).collect())),
        Call::Sync { .. } => Ok(Reply::Done),
        _ => panic!("not a read: {call}"),
    }
}

#[test]
fn reference_scenario_passes_and_tampering_is_caught() {
    let mut r = Reference::new(&[S1, S2, S3], 2);
    r.write(0, create("/p", "0"), 0);
    r.write(0, create_with("/p/q-", false, true), 0);
    r.write(1, create_with("/p/e-", true, true), 0);
    r.read(2, 0, children("/p"), 0);
    r.write(1, Call::Multi(vec![set("/p", "1", 0), create("/p/x", "")]), 0);
    r.write(0, Call::Multi(vec![delete("/p/x"), set("/p", "2", 0)]), 0);
    r.read(2, 1, get("/p"), 1);
    r.write(1, Call::CloseSession, 0);
    r.read(2, 1, sync(), 0);
    r.read(2, 1, children("/p"), 0);
    r.read(0, 0, exists("/p/e-0000000001"), 1);
    passes(&r.ops, &r.committed);
    let last_children = r.ops.iter().rev().find(|o| matches!(o.call, Call::GetChildren { .. }));
    assert!(
        matches!(last_children, Some(Op { outcome: Outcome::Ok { reply, .. }, .. }) if *reply == names(&["q-0000000000", "x"]))
    );

    // Drop the committed close, which had an ok reply.
    let mut log = r.committed.clone();
    log.retain(|w| !matches!(w.effect, Effect::CloseSession { .. }));
    fails(&r.ops, &log, Guarantee::LostAcknowledgedWrite);
    // A follower answering the sync'd read from before the sync.
    let mut ops = r.ops.clone();
    let read = ops.iter().rposition(|o| matches!(o.call, Call::GetChildren { .. })).unwrap_or_default();
    if let Outcome::Ok { zxid, .. } = &mut ops[read].outcome {
        *zxid -= 1;
    }
    fails(&ops, &r.committed, Guarantee::Sync);
}

#[derive(Clone, Debug)]
enum Action {
    Write { session: usize, call: Call, fate: u8 },
    Read { session: usize, follower: usize, call: Call, advance: usize },
}

fn path() -> impl Strategy<Value = String> {
    prop::sample::select(vec!["/a", "/a", "/a/b", "/a/s-", "/c", "/c", "/c/d"]).prop_map(String::from)
}

fn single_write() -> impl Strategy<Value = Call> {
    let text = prop::sample::select(vec!["", "x", "yy"]);
    let version = prop::sample::select(vec![-1, -1, 0, 1, 2]);
    prop_oneof![
        3 => (path(), text.clone(), any::<bool>(), any::<bool>())
            .prop_map(|(path, data, ephemeral, sequential)| Call::Create { path, data: data.into(), ephemeral, sequential }),
        1 => (path(), version.clone()).prop_map(|(path, version)| Call::Delete { path, version }),
        3 => (path(), text, version.clone()).prop_map(|(path, data, version)| Call::SetData { path, data: data.into(), version }),
        1 => (path(), version).prop_map(|(path, version)| Call::Check { path, version }),
    ]
}

fn action() -> impl Strategy<Value = Action> {
    let write = prop_oneof![
        32 => single_write(),
        8 => prop::collection::vec(single_write(), 0..4).prop_map(Call::Multi),
        1 => Just(Call::CloseSession),
    ];
    let read = prop_oneof![
        path().prop_map(|path| Call::GetData { path }),
        path().prop_map(|path| Call::Exists { path }),
        prop::sample::select(vec!["/", "/a", "/c"]).prop_map(|p| Call::GetChildren { path: p.into() }),
        Just(sync()),
    ];
    prop_oneof![
        (0..4usize, write, prop::sample::select(vec![0u8, 0, 0, 0, 1, 2]))
            .prop_map(|(session, call, fate)| Action::Write { session, call, fate }),
        (0..4usize, 0..2usize, read, 0..4usize).prop_map(|(session, follower, call, advance)| Action::Read {
            session,
            follower,
            call,
            advance
        }),
    ]
}

fn run(actions: Vec<Action>) -> Reference {
    let mut r = Reference::new(&[S1, S2, S3, S3 + 1], 2);
    for action in actions {
        match action {
            Action::Write { session, call, fate } => r.write(session, call, fate),
            Action::Read { session, follower, call, advance } => r.read(session, follower, call, advance),
        }
    }
    r
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 400, ..ProptestConfig::default() })]

    #[test]
    fn histories_of_the_real_code_pass(actions in prop::collection::vec(action(), 1..80)) {
        let r = run(actions);
        if let Err(failure) = check(&r.ops, &r.committed) {
            prop_assert!(false, "{}", failure);
        }
    }

    #[test]
    fn tampered_histories_of_the_real_code_fail(actions in prop::collection::vec(action(), 1..80), pick: prop::sample::Index) {
        let r = run(actions);
        // Data no write ever stores, in a read's reply.
        let reads: Vec<usize> = (0..r.ops.len())
            .filter(|&i| matches!(r.ops[i].outcome, Outcome::Ok { reply: Reply::Data { .. }, .. }))
            .collect();
        if !reads.is_empty() {
            let mut ops = r.ops.clone();
            if let Outcome::Ok { reply: Reply::Data { data, .. }, .. } = &mut ops[reads[pick.index(reads.len())]].outcome {
                *data = b"zz".to_vec();
            }
            let failure = check(&ops, &r.committed).err();
            prop_assert_eq!(failure.map(|f| f.guarantee), Some(Guarantee::SequentiallyConsistentReads));
        }
        // A write's reply zxid off by one.
        let writes: Vec<usize> =
            (0..r.ops.len()).filter(|&i| is_write(&r.ops[i].call) && ack(&r.ops[i].outcome).is_some()).collect();
        if !writes.is_empty() {
            let chosen = writes[pick.index(writes.len())];
            let mut ops = r.ops.clone();
            if let Outcome::Ok { zxid, .. } | Outcome::Err { zxid, .. } = &mut ops[chosen].outcome {
                *zxid += 1;
            }
            let failure = check(&ops, &r.committed).err();
            prop_assert_eq!(failure.map(|f| f.guarantee), Some(Guarantee::LinearizableWrites));
            // The same write missing from the log.
            let zxid = ack(&r.ops[chosen].outcome).map(|(_, zxid)| zxid);
            let log: Vec<CommittedWrite> = r.committed.iter().filter(|w| Some(w.zxid) != zxid).cloned().collect();
            prop_assert!(check(&r.ops, &log).is_err());
        }
    }
}
