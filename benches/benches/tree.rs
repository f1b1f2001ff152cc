//! The data tree at a million znodes: getData, setData, create, and memory per znode.
//!
//! Shape: 1,000 parents under the root, each with 1,000 children named `n000000`..; 100-byte
//! values. Memory overhead is the heap the tree holds beyond its names and data, divided by the
//! node count, measured with a counting allocator (requested bytes; malloc's own per-allocation
//! overhead is not included).

use std::hint::black_box;

use criterion::{BatchSize, Criterion, criterion_group, criterion_main};
use zabkeeper_benches::{CountingAlloc, znode_count};
use zabkeeper_core::tree::{Acl, DataTree};
use zabkeeper_core::txn::{self, AuthContext, PendingChanges, PrepConfig, WriteOp, read};
use zabkeeper_core::{SessionId, Zxid};

#[global_allocator]
static ALLOC: CountingAlloc = CountingAlloc;

const VALUE_LEN: usize = 100;

struct BigTree {
    tree: DataTree,
    paths: Vec<String>,
    zxid: Zxid,
}

fn build(count: usize) -> BigTree {
    let acl = Acl::open_unsafe();
    let parents = count.div_ceil(1000).max(1);
    let before = CountingAlloc::live_bytes();
    let mut tree = DataTree::new();
    let mut zxid = Zxid::new(1, 0);
    let mut payload_bytes = 0usize;
    let mut names = Vec::with_capacity(count);
    for p in 0..parents {
        let parent = format!("/p{p:04}");
        zxid = zxid.next().expect("counter");
        tree.create_node(&parent, Some(Box::default()), &acl, 0, -1, zxid, 0).expect("parent");
        payload_bytes += parent.len() - 1;
        for c in 0..count / parents {
            zxid = zxid.next().expect("counter");
            let path = format!("{parent}/n{c:06}");
            tree.create_node(&path, Some(vec![7u8; VALUE_LEN].into_boxed_slice()), &acl, 0, -1, zxid, 0)
                .expect("child");
            payload_bytes += 7 + VALUE_LEN;
            names.push(path);
        }
    }
    let tree_bytes = CountingAlloc::live_bytes()
        - before
        - names.iter().map(|n| n.capacity()).sum::<usize>()
        - names.capacity() * std::mem::size_of::<String>();
    let nodes = tree.node_count();
    println!(
        "tree memory: {nodes} znodes, {} MiB on the heap, {:.1} bytes of overhead per znode beyond name and data",
        tree_bytes >> 20,
        (tree_bytes - payload_bytes) as f64 / nodes as f64
    );
    BigTree { tree, paths: names, zxid }
}

fn benches(c: &mut Criterion) {
    let count = znode_count();
    let mut big = build(count);
    let auth = AuthContext::new(SessionId(1));
    let mut group = c.benchmark_group(format!("tree_{count}"));

    let mut i = 0usize;
    group.bench_function("get_data", |b| {
        b.iter(|| {
            i = (i + 7919) % big.paths.len();
            black_box(read::get_data(&big.tree, &auth, &big.paths[i], false).expect("present"));
        })
    });

    let mut version = 0i32;
    group.bench_function("set_data_tree", |b| {
        b.iter_batched(
            || vec![9u8; VALUE_LEN].into_boxed_slice(),
            |data| {
                i = (i + 7919) % big.paths.len();
                version = version.wrapping_add(1);
                big.zxid = big.zxid.next().expect("counter");
                black_box(big.tree.set_data(&big.paths[i], Some(data), version, big.zxid, 1).expect("present"));
            },
            BatchSize::SmallInput,
        )
    });

    let mut pending = PendingChanges::default();
    let config = PrepConfig::default();
    group.bench_function("set_data_prep_apply", |b| {
        b.iter_batched(
            || vec![9u8; VALUE_LEN],
            |data| {
                i = (i + 7919) % big.paths.len();
                big.zxid = big.zxid.next().expect("counter");
                let op = WriteOp::SetData { path: big.paths[i].clone(), data: Some(data), version: -1 };
                let t = txn::prep(&big.tree, &mut pending, &config, &auth, big.zxid, op);
                black_box(txn::apply(&mut big.tree, big.zxid, 1, &t));
                pending.committed(big.zxid);
            },
            BatchSize::SmallInput,
        )
    });

    let acl = Acl::open_unsafe();
    let mut created = 0u64;
    group.bench_function("create", |b| {
        b.iter_batched(
            || {
                created += 1;
                (format!("/p0000/new{created:09}"), vec![5u8; VALUE_LEN].into_boxed_slice())
            },
            |(path, data)| {
                big.zxid = big.zxid.next().expect("counter");
                black_box(big.tree.create_node(&path, Some(data), &acl, 0, -1, big.zxid, 1).expect("fresh"));
            },
            BatchSize::SmallInput,
        )
    });
    group.finish();
}

criterion_group!(tree, benches);
criterion_main!(tree);
