//! Round trips for every message type, known bytes from a live ZooKeeper 3.8.0, and "any bytes
//! decode to a value or an error" for every decoder.

use alloc::string::String;
use alloc::vec;
use alloc::vec::Vec;

use proptest::prelude::*;

use super::records::*;
use super::*;
use crate::tree::{Acl, Id, Stat};

fn text() -> impl Strategy<Value = String> {
    "\\PC{0,12}"
}

fn opt_text() -> impl Strategy<Value = Option<String>> {
    prop::option::of(text())
}

fn buffer() -> impl Strategy<Value = Option<Vec<u8>>> {
    prop::option::of(prop::collection::vec(any::<u8>(), 0..24))
}

fn acl() -> impl Strategy<Value = Vec<Acl>> {
    prop::collection::vec(
        (any::<i32>(), text(), text()).prop_map(|(perms, scheme, id)| Acl { perms, id: Id { scheme, id } }),
        0..3,
    )
}

fn stat() -> impl Strategy<Value = Stat> {
    (any::<[i64; 6]>(), any::<[i32; 5]>()).prop_map(|(l, i)| Stat {
        czxid: l[0],
        mzxid: l[1],
        ctime: l[2],
        mtime: l[3],
        ephemeral_owner: l[4],
        pzxid: l[5],
        version: i[0],
        cversion: i[1],
        aversion: i[2],
        data_length: i[3],
        num_children: i[4],
    })
}

fn strings() -> impl Strategy<Value = Vec<String>> {
    prop::collection::vec(text(), 0..4)
}

fn create() -> impl Strategy<Value = CreateRequest> {
    (text(), buffer(), acl(), any::<i32>()).prop_map(|(path, data, acl, flags)| CreateRequest {
        path,
        data,
        acl,
        flags,
    })
}

fn create_ttl() -> impl Strategy<Value = CreateTtlRequest> {
    (create(), any::<i64>()).prop_map(|(c, ttl)| CreateTtlRequest {
        path: c.path,
        data: c.data,
        acl: c.acl,
        flags: c.flags,
        ttl,
    })
}

fn path_version() -> impl Strategy<Value = PathVersion> {
    (text(), any::<i32>()).prop_map(|(path, version)| PathVersion { path, version })
}

fn path_watch() -> impl Strategy<Value = PathWatch> {
    (text(), any::<bool>()).prop_map(|(path, watch)| PathWatch { path, watch })
}

fn path() -> impl Strategy<Value = PathRecord> {
    text().prop_map(|path| PathRecord { path })
}

fn set_data() -> impl Strategy<Value = SetDataRequest> {
    (text(), buffer(), any::<i32>()).prop_map(|(path, data, version)| SetDataRequest { path, data, version })
}

fn multi_op() -> impl Strategy<Value = MultiOp> {
    prop_oneof![
        create().prop_map(MultiOp::Create),
        create().prop_map(MultiOp::Create2),
        create().prop_map(MultiOp::CreateContainer),
        create_ttl().prop_map(MultiOp::CreateTtl),
        path_version().prop_map(MultiOp::Delete),
        set_data().prop_map(MultiOp::SetData),
        path_version().prop_map(MultiOp::Check),
        path_watch().prop_map(MultiOp::GetData),
        path_watch().prop_map(MultiOp::GetChildren),
    ]
}

fn request() -> impl Strategy<Value = Request> {
    let watches = || (text(), any::<i32>()).prop_map(|(path, watcher_type)| WatchesRequest { path, watcher_type });
    let set_watches = (any::<i64>(), strings(), strings(), strings()).prop_map(|(relative_zxid, d, e, c)| SetWatches {
        relative_zxid,
        data_watches: d,
        exist_watches: e,
        child_watches: c,
    });
    let set_watches2 =
        (any::<i64>(), strings(), strings(), strings(), strings(), strings()).prop_map(|(z, d, e, c, p, r)| {
            SetWatches2 {
                relative_zxid: z,
                data_watches: d,
                exist_watches: e,
                child_watches: c,
                persistent_watches: p,
                persistent_recursive_watches: r,
            }
        });
    prop_oneof![
        create().prop_map(Request::Create),
        create().prop_map(Request::Create2),
        create().prop_map(Request::CreateContainer),
        create_ttl().prop_map(Request::CreateTtl),
        path_version().prop_map(Request::Delete),
        path_watch().prop_map(Request::Exists),
        path_watch().prop_map(Request::GetData),
        set_data().prop_map(Request::SetData),
        path().prop_map(Request::GetAcl),
        (text(), acl(), any::<i32>()).prop_map(|(path, acl, version)| Request::SetAcl(SetAclRequest {
            path,
            acl,
            version
        })),
        path_watch().prop_map(Request::GetChildren),
        path().prop_map(Request::Sync),
        Just(Request::Ping),
        path_watch().prop_map(Request::GetChildren2),
        path_version().prop_map(Request::Check),
        prop::collection::vec(multi_op(), 0..4).prop_map(Request::Multi),
        (opt_text(), opt_text(), opt_text(), any::<i64>()).prop_map(|(j, l, n, c)| Request::Reconfig(
            ReconfigRequest { joining_servers: j, leaving_servers: l, new_members: n, cur_config_id: c }
        )),
        watches().prop_map(Request::CheckWatches),
        watches().prop_map(Request::RemoveWatches),
        prop::collection::vec(multi_op(), 0..4).prop_map(Request::MultiRead),
        (any::<i32>(), text(), buffer()).prop_map(|(auth_type, scheme, auth)| Request::Auth(AuthPacket {
            auth_type,
            scheme,
            auth
        })),
        set_watches.prop_map(Request::SetWatches),
        buffer().prop_map(|token| Request::Sasl(SaslToken { token })),
        opt_text().prop_map(|prefix| Request::GetEphemerals(GetEphemeralsRequest { prefix })),
        path().prop_map(Request::GetAllChildrenNumber),
        set_watches2.prop_map(Request::SetWatches2),
        (text(), any::<i32>()).prop_map(|(path, mode)| Request::AddWatch(AddWatchRequest { path, mode })),
        Just(Request::WhoAmI),
        Just(Request::CloseSession),
    ]
}

fn multi_result() -> impl Strategy<Value = MultiResult> {
    prop_oneof![
        text().prop_map(|path| MultiResult::Create(CreateResponse { path })),
        (text(), stat()).prop_map(|(path, stat)| MultiResult::Create2(Create2Response { path, stat })),
        Just(MultiResult::Delete),
        stat().prop_map(|stat| MultiResult::SetData(StatResponse { stat })),
        Just(MultiResult::Check),
        (buffer(), stat()).prop_map(|(data, stat)| MultiResult::GetData(GetDataResponse { data, stat })),
        strings().prop_map(|children| MultiResult::GetChildren(GetChildrenResponse { children })),
        any::<i32>().prop_map(MultiResult::Error),
    ]
}

/// A reply body together with an opcode whose replies carry it.
fn response() -> impl Strategy<Value = (OpCode, Response)> {
    prop_oneof![
        Just((OpCode::Delete, Response::Empty)),
        text().prop_map(|path| (OpCode::Create, Response::Create(CreateResponse { path }))),
        (text(), stat()).prop_map(|(path, stat)| (OpCode::Create2, Response::Create2(Create2Response { path, stat }))),
        stat().prop_map(|stat| (OpCode::SetData, Response::Stat(StatResponse { stat }))),
        (buffer(), stat())
            .prop_map(|(data, stat)| (OpCode::GetData, Response::GetData(GetDataResponse { data, stat }))),
        (acl(), stat()).prop_map(|(acl, stat)| (OpCode::GetAcl, Response::GetAcl(GetAclResponse { acl, stat }))),
        strings().prop_map(|children| (OpCode::GetChildren, Response::GetChildren(GetChildrenResponse { children }))),
        (strings(), stat()).prop_map(|(children, stat)| (
            OpCode::GetChildren2,
            Response::GetChildren2(GetChildren2Response { children, stat })
        )),
        path().prop_map(|p| (OpCode::Sync, Response::Sync(p))),
        prop::collection::vec(multi_result(), 0..4).prop_map(|r| (OpCode::Multi, Response::Multi(r))),
        any::<i32>().prop_map(|total| (
            OpCode::GetAllChildrenNumber,
            Response::GetAllChildrenNumber(GetAllChildrenNumberResponse { total })
        )),
        strings().prop_map(|ephemerals| (
            OpCode::GetEphemerals,
            Response::GetEphemerals(GetEphemeralsResponse { ephemerals })
        )),
        any::<i32>().prop_map(|err| (OpCode::AddWatch, Response::AddWatch(ErrorResponse { err }))),
        prop::collection::vec((text(), text()).prop_map(|(auth_scheme, user)| ClientInfo { auth_scheme, user }), 0..3)
            .prop_map(|client_info| (OpCode::WhoAmI, Response::WhoAmI(WhoAmIResponse { client_info }))),
        buffer().prop_map(|token| (OpCode::Sasl, Response::Sasl(SaslToken { token }))),
    ]
}

proptest! {
    #[test]
    fn every_request_round_trips(xid in any::<i32>(), request in request()) {
        let mut bytes = Vec::new();
        request.encode(xid, &mut bytes);
        prop_assert_eq!(Request::decode(&bytes), Ok((xid, request)));
    }

    #[test]
    fn every_response_round_trips(xid in any::<i32>(), zxid in any::<i64>(), (opcode, body) in response()) {
        let mut bytes = Vec::new();
        encode_reply(&records::ReplyHeader { xid, zxid, err: 0 }, &body, &mut bytes);
        let mut r = Reader::new(&bytes);
        let header = records::ReplyHeader::read(&mut r).unwrap();
        prop_assert_eq!((header.xid, header.zxid, header.err), (xid, zxid, 0));
        prop_assert_eq!(Response::read(opcode, header.err, &mut r), Ok(body));
        prop_assert!(r.is_empty());
    }

    #[test]
    fn handshakes_round_trip(z in any::<i64>(), t in any::<i32>(), s in any::<i64>(), passwd in buffer(), ro in prop::option::of(any::<bool>())) {
        let request = ConnectRequest { protocol_version: 0, last_zxid_seen: z, timeout_ms: t, session_id: s, passwd: passwd.clone(), read_only: ro };
        let mut bytes = Vec::new();
        request.encode(&mut bytes);
        prop_assert_eq!(ConnectRequest::decode(&bytes), Ok(request));
        let response = ConnectResponse { protocol_version: 0, timeout_ms: t, session_id: s, passwd, read_only: ro };
        let mut bytes = Vec::new();
        response.encode(&mut bytes);
        prop_assert_eq!(ConnectResponse::decode(&bytes), Ok(response));
    }

    #[test]
    fn notifications_round_trip(event_type in any::<i32>(), state in any::<i32>(), path in text()) {
        let event = WatcherEvent { event_type, state, path };
        let mut bytes = Vec::new();
        encode_notification(-1, &event, &mut bytes);
        let mut r = Reader::new(&bytes);
        prop_assert_eq!(records::ReplyHeader::read(&mut r).unwrap().xid, NOTIFICATION_XID);
        prop_assert_eq!(WatcherEvent::read(&mut r), Ok(event));
    }

    /// Untrusted bytes: every decoder returns, without panicking, whatever it is given.
    #[test]
    fn any_bytes_decode_or_fail_cleanly(bytes in prop::collection::vec(any::<u8>(), 0..96)) {
        let _ = Request::decode(&bytes);
        let _ = ConnectRequest::decode(&bytes);
        let _ = ConnectResponse::decode(&bytes);
        for op in OpCode::ALL {
            let _ = Response::read(op, 0, &mut Reader::new(&bytes));
        }
        let _ = split_frame(&bytes, DEFAULT_MAX_FRAME);
    }

    /// Mutating a valid request must also never panic (reaches deeper than random bytes).
    #[test]
    fn mutated_requests_decode_or_fail_cleanly(request in request(), flips in prop::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..4)) {
        let mut bytes = Vec::new();
        request.encode(7, &mut bytes);
        for (at, value) in flips {
            let i = at.index(bytes.len());
            bytes[i] = value;
        }
        let _ = Request::decode(&bytes);
    }
}

fn hex(s: &str) -> Vec<u8> {
    let digits: Vec<u8> = s.bytes().filter(u8::is_ascii_hexdigit).collect();
    digits.chunks(2).map(|p| u8::from_str_radix(core::str::from_utf8(p).unwrap(), 16).unwrap()).collect()
}

#[test]
fn failed_multi_body_matches_zookeeper_3_8() {
    // From the reference: create, check v99, create -> errs [0, -103, -2].
    let body = Response::Multi(vec![MultiResult::Error(0), MultiResult::Error(-103), MultiResult::Error(-2)]);
    let mut bytes = Vec::new();
    body.write(&mut bytes);
    assert_eq!(
        bytes,
        hex(
            "ffffffff 00 00000000 00000000 ffffffff 00 ffffff99 ffffff99 ffffffff 00 fffffffe fffffffe ffffffff 01 ffffffff"
        )
    );
}

#[test]
fn connect_response_is_37_bytes_or_36_for_old_clients() {
    let response = ConnectResponse {
        protocol_version: 0,
        timeout_ms: 30_000,
        session_id: 0x0100_000d_a266_0002,
        passwd: Some(vec![0xab; 16]),
        read_only: Some(false),
    };
    let mut bytes = Vec::new();
    response.encode(&mut bytes);
    assert_eq!(bytes.len(), 37);
    assert_eq!(&bytes[..16], &hex("00000000 00007530 0100000da2660002")[..]);
    let mut old = Vec::new();
    ConnectResponse { read_only: None, ..response }.encode(&mut old);
    assert_eq!(old.len(), 36);
    let expired = ConnectResponse::expired(false);
    let mut bytes = Vec::new();
    expired.encode(&mut bytes);
    assert_eq!(bytes, hex("00000000 00000000 0000000000000000 00000010 00000000000000000000000000000000 00"));
}

#[test]
fn old_and_new_connect_requests() {
    let mut bytes = Vec::new();
    ConnectRequest { timeout_ms: 30_000, passwd: Some(vec![0; 16]), read_only: Some(false), ..Default::default() }
        .encode(&mut bytes);
    assert_eq!(bytes.len(), 45);
    assert_eq!(ConnectRequest::decode(&bytes[..44]).unwrap().read_only, None);
    assert_eq!(ConnectRequest::decode(&bytes).unwrap().read_only, Some(false));
    assert!(ConnectRequest::decode(&bytes[..30]).is_err());
}

#[test]
fn unknown_opcodes_keep_their_xid() {
    let mut bytes = Vec::new();
    bytes.extend_from_slice(&7i32.to_be_bytes());
    bytes.extend_from_slice(&999i32.to_be_bytes());
    assert_eq!(Request::decode(&bytes), Err(DecodeError::UnknownOpcode { xid: 7, opcode: 999 }));
    let mut zero = Vec::new();
    zero.extend_from_slice(&3i32.to_be_bytes());
    zero.extend_from_slice(&0i32.to_be_bytes());
    assert_eq!(Request::decode(&zero), Err(DecodeError::UnknownOpcode { xid: 3, opcode: 0 }));
}

#[test]
fn get_data_reply_body_matches_zookeeper_3_8() {
    let stat = Stat { data_length: 2, ..Stat::default() };
    let mut bytes = Vec::new();
    Response::GetData(GetDataResponse { data: Some(b"v0".to_vec()), stat }).write(&mut bytes);
    assert_eq!(&bytes[..6], &hex("00000002 7630")[..]);
    assert_eq!(bytes.len(), 6 + 68, "a Stat is 68 bytes");
}

#[test]
fn a_huge_vector_count_does_not_allocate() {
    // getChildren reply claiming 2^31-1 children in a 12-byte body.
    let bytes = hex("7fffffff 00000001 41");
    let result = Response::read(OpCode::GetChildren, 0, &mut Reader::new(&bytes));
    assert!(matches!(result, Err(DecodeError::Truncated { .. })));
}

/// A multi's ops are read in a loop, one `MultiHeader` and record at a time, and a multi or
/// multiRead op inside a multi is refused (ZooKeeper's `MultiOperationRecord` has no such op):
/// a request of a million nested multi headers is one clean error, with no recursion.
#[test]
fn a_multi_inside_a_client_multi_is_a_decode_error() {
    let header = |opcode: i32| {
        let mut h = Vec::new();
        MultiHeader { opcode, done: false, err: -1 }.write(&mut h);
        h
    };
    for outer in [OpCode::Multi, OpCode::MultiRead] {
        for inner in [OpCode::Multi, OpCode::MultiRead] {
            let mut bytes = Vec::new();
            RequestHeader { xid: 7, opcode: outer.code() }.write(&mut bytes);
            bytes.extend_from_slice(&header(inner.code()).repeat(1_000_000));
            assert_eq!(Request::decode(&bytes), Err(DecodeError::BadMultiOp(inner.code())), "{inner:?} in {outer:?}");
        }
    }
}
