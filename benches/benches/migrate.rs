//! Migration from and to Apache ZooKeeper: `zabkeeper import` of a ZooKeeper 3.8 snapshot of
//! a million znodes (read, checked by its Adler32 seals and digest, converted, written as our
//! checkpoint and fsynced), and `zabkeeper export` of the result back to a ZooKeeper snapshot.
//!
//! The tree: 1,000 parents of 1,000 children each holding 100 bytes, a tenth of them under a
//! digest ACL. Files go under the target directory's `tmp/` (or `ZABKEEPER_BENCH_DIR`). In
//! criterion's test mode (`-- --test`) the tree has 20,000 znodes; otherwise
//! `ZABKEEPER_BENCH_ZNODES` (default 1,000,000).

use std::fs;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use criterion::{BatchSize, BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use zabkeeper::tools::migrate::{self, ExportArgs, ImportArgs};
use zabkeeper::tools::zkdata;
use zabkeeper_benches::znode_count;
use zabkeeper_core::Zxid;
use zabkeeper_core::tree::{Acl, DataTree, perms};

const CHILDREN: usize = 1000;
const VALUE_BYTES: usize = 100;

fn scratch(name: &str) -> PathBuf {
    let base = std::env::var_os("ZABKEEPER_BENCH_DIR")
        .map_or_else(|| PathBuf::from(env!("CARGO_TARGET_TMPDIR")), PathBuf::from);
    let dir = base.join(format!("zabkeeper-bench-{name}-{}", std::process::id()));
    let _ = fs::remove_dir_all(&dir);
    fs::create_dir_all(&dir).expect("bench directory");
    dir
}

/// A ZooKeeper dataDir holding one snapshot of `count` znodes; returns its zxid.
fn zookeeper_data_dir(dir: &Path, count: usize) -> Zxid {
    let mut tree = DataTree::new();
    let open = Acl::open_unsafe();
    let guarded = vec![Acl::new(perms::ALL, "digest", "alice:XXXXXXXXXXXXXXXXXXXXXXXXXXX=")];
    let mut counter = 0u32;
    let mut zxid = || {
        counter += 1;
        Zxid::new(1, counter)
    };
    for parent in 0..count.div_ceil(CHILDREN) {
        let path = format!("/p{parent:04}");
        tree.create_node(&path, Some(Box::default()), &open, 0, -1, zxid(), 1_700_000_000_000).unwrap();
        for child in 0..CHILDREN.min(count - parent * CHILDREN) {
            let acl = if child % 10 == 0 { &guarded } else { &open };
            let data = vec![b'v'; VALUE_BYTES].into_boxed_slice();
            tree.create_node(&format!("{path}/n{child:04}"), Some(data), acl, 0, -1, zxid(), 1_700_000_000_000)
                .unwrap();
        }
    }
    let last = Zxid::new(1, counter);
    let version_dir = dir.join("version-2");
    fs::create_dir_all(&version_dir).unwrap();
    let bytes = zkdata::write::snapshot(&tree, &[(0x1_0000_0001, 30_000)], last.as_i64());
    fs::write(version_dir.join(format!("snapshot.{:x}", last.as_u64())), bytes).unwrap();
    last
}

fn migration(c: &mut Criterion) {
    let count = if std::env::args().any(|a| a == "--test") { 20_000 } else { znode_count() };
    let base = scratch("migrate");
    let zk = base.join("zookeeper");
    let started = Instant::now();
    let zxid = zookeeper_data_dir(&zk, count);
    let size: u64 = fs::read_dir(zk.join("version-2")).unwrap().map(|e| e.unwrap().metadata().unwrap().len()).sum();
    println!(
        "migration: a ZooKeeper snapshot of {count} znodes, {} MiB, built in {:.1} s",
        size >> 20,
        started.elapsed().as_secs_f64()
    );

    let ours = base.join("ours");
    let import_args = ImportArgs { from: zk.clone(), log_dir: None, to: ours.clone(), accept_digest_mismatch: false };
    let fresh = || {
        let _ = fs::remove_dir_all(&ours);
    };
    let mut group = c.benchmark_group("migration");
    group.sample_size(10).measurement_time(Duration::from_secs(30)).throughput(Throughput::Elements(count as u64));
    group.bench_function(BenchmarkId::new("import, znodes", count), |b| {
        b.iter_batched(
            fresh,
            |()| assert_eq!(migrate::import(&import_args).unwrap().zxid, zxid),
            BatchSize::PerIteration,
        );
    });
    let back = base.join("back");
    let export_args = ExportArgs { from: ours.clone(), to: back.clone() };
    group.bench_function(BenchmarkId::new("export, znodes", count), |b| {
        b.iter_batched(
            || {
                let _ = fs::remove_dir_all(&back);
            },
            |()| assert_eq!(migrate::export(&export_args).unwrap().znodes, count + count.div_ceil(CHILDREN) + 4),
            BatchSize::PerIteration,
        );
    });
    group.finish();
    let _ = fs::remove_dir_all(&base);
}

criterion_group!(migrate, migration);
criterion_main!(migrate);
