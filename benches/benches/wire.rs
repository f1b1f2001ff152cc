//! The jute codec on the common messages: decode and encode of setData (1 KiB), getData,
//! create, and their replies. Throughput is reported in bytes, so criterion prints MB/s.

use std::hint::black_box;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use zabkeeper_core::tree::{Acl, Stat};
use zabkeeper_core::wire::records::{
    CreateRequest, GetDataResponse, PathWatch, ReplyHeader, SetDataRequest, StatResponse,
};
use zabkeeper_core::wire::{
    DEFAULT_MAX_FRAME, Jute, OpCode, Reader, Request, Response, encode_reply, split_frame, write_frame,
};

fn frame(request: &Request) -> Vec<u8> {
    let mut out = Vec::new();
    write_frame(&mut out, |o| request.encode(7, o));
    out
}

fn benches(c: &mut Criterion) {
    let stat = Stat { czxid: 1 << 32 | 5, mzxid: 1 << 32 | 9, version: 3, data_length: 1024, ..Stat::default() };
    let set_data = Request::SetData(SetDataRequest {
        path: "/app/config/service-a".into(),
        data: Some(vec![b'x'; 1024]),
        version: 3,
    });
    let get_data = Request::GetData(PathWatch { path: "/app/config/service-a".into(), watch: true });
    let create = Request::Create(CreateRequest {
        path: "/app/locks/lock-".into(),
        data: Some(vec![1; 16]),
        acl: Acl::open_unsafe(),
        flags: 3,
    });
    let mut group = c.benchmark_group("wire");
    for (name, request) in [("set_data_1k", &set_data), ("get_data", &get_data), ("create", &create)] {
        let bytes = frame(request);
        group.throughput(Throughput::Bytes(bytes.len() as u64));
        group.bench_function(format!("decode_{name}"), |b| {
            b.iter(|| {
                let f = split_frame(black_box(&bytes), DEFAULT_MAX_FRAME).unwrap().unwrap();
                black_box(Request::decode(f.payload).unwrap());
            })
        });
        let mut out = Vec::with_capacity(bytes.len());
        group.bench_function(format!("encode_{name}"), |b| {
            b.iter(|| {
                out.clear();
                write_frame(&mut out, |o| black_box(request).encode(7, o));
                black_box(&out);
            })
        });
    }
    let header = ReplyHeader { xid: 7, zxid: 1 << 32 | 9, err: 0 };
    let replies = [
        ("set_data_reply", OpCode::SetData, Response::Stat(StatResponse { stat })),
        (
            "get_data_reply_1k",
            OpCode::GetData,
            Response::GetData(GetDataResponse { data: Some(vec![b'x'; 1024]), stat }),
        ),
    ];
    for (name, opcode, body) in replies {
        let mut bytes = Vec::new();
        encode_reply(&header, &body, &mut bytes);
        group.throughput(Throughput::Bytes(bytes.len() as u64));
        group.bench_function(format!("decode_{name}"), |b| {
            b.iter(|| {
                let mut r = Reader::new(black_box(&bytes));
                let h = ReplyHeader::read(&mut r).unwrap();
                black_box(Response::read(opcode, h.err, &mut r).unwrap());
            })
        });
        let mut out = Vec::with_capacity(bytes.len());
        group.bench_function(format!("encode_{name}"), |b| {
            b.iter(|| {
                out.clear();
                encode_reply(&header, black_box(&body), &mut out);
                black_box(&out);
            })
        });
    }
    group.finish();
}

criterion_group!(wire, benches);
criterion_main!(wire);
