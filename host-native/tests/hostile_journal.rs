//! A journal record whose txn nests a million multis (a 2 MB record, well checksummed): opening
//! the log used to overflow the stack of the recovering thread and abort the server; now the
//! record does not decode and recovery stops with an error naming the file and offset, as for
//! any other damage (docs/FORMAT.md).

use std::path::Path;

use zabkeeper::storage::{SUBDIR, Storage, StorageError, StorageOptions};

/// Segment header fields (docs/FORMAT.md): magic, format version, flags (0: not a base
/// segment).
const SEGMENT_MAGIC: &[u8; 8] = b"ZABKLOG\n";
const FORMAT_VERSION: u32 = 1;
/// Variant tag of `Txn::Multi` in postcard.
const TXN_MULTI: u8 = 7;
/// Multis nested in the hostile record.
const HOSTILE_DEPTH: usize = 1_000_000;

/// `depth` multis, each but the last holding the next as its one op.
fn nested_multis(multi: u8, depth: usize) -> Vec<u8> {
    let mut bytes = [multi, 1].repeat(depth - 1);
    bytes.extend_from_slice(&[multi, 0]);
    bytes
}

/// The payload of an `Append` (0) of an entry (zxid 1, time 5, session 1, cxid 1, zigzag
/// varints) whose txn is `depth` nested multis.
fn append_record(depth: usize) -> Vec<u8> {
    [&[0, 1, 10, 2, 2][..], &nested_multis(TXN_MULTI, depth)].concat()
}

/// Writes `dir/zabkeeper-v1/log.0000000000000001`: a segment header at lsn 1, then one record
/// holding `payload`.
fn write_segment(dir: &Path, payload: &[u8]) {
    let mut header = Vec::new();
    header.extend_from_slice(SEGMENT_MAGIC);
    header.extend_from_slice(&FORMAT_VERSION.to_le_bytes());
    header.extend_from_slice(&0u32.to_le_bytes());
    header.extend_from_slice(&1u64.to_le_bytes());
    header.extend_from_slice(&0u32.to_le_bytes());
    header.extend_from_slice(&crc32c::crc32c(&header).to_le_bytes());
    // Frame: len, batch_back 0, lsn 1, payload CRC, header CRC; then the payload.
    let mut frame = Vec::new();
    frame.extend_from_slice(&(payload.len() as u32).to_le_bytes());
    frame.extend_from_slice(&0u32.to_le_bytes());
    frame.extend_from_slice(&1u64.to_le_bytes());
    frame.extend_from_slice(&crc32c::crc32c(payload).to_le_bytes());
    frame.extend_from_slice(&crc32c::crc32c(&frame).to_le_bytes());
    frame.extend_from_slice(payload);
    let sub = dir.join(SUBDIR);
    std::fs::create_dir_all(&sub).unwrap();
    std::fs::write(sub.join("log.0000000000000001"), [header, frame].concat()).unwrap();
}

fn options() -> StorageOptions {
    StorageOptions { prealloc_bytes: 0, ..StorageOptions::default() }
}

#[test]
fn a_hand_built_log_of_one_empty_multi_opens() {
    let dir = tempfile::tempdir().unwrap();
    write_segment(dir.path(), &append_record(1));
    let (_, image) = Storage::open(dir.path(), options()).expect("the log opens");
    assert_eq!(image.log.len(), 1, "the entry is in the log");
}

#[test]
fn a_log_record_with_deeply_nested_multis_is_damage_not_a_crash() {
    let dir = tempfile::tempdir().unwrap();
    write_segment(dir.path(), &append_record(HOSTILE_DEPTH));
    match Storage::open(dir.path(), options()) {
        Err(StorageError::Damaged { offset, what, .. }) => {
            assert_eq!(offset, 32, "the record right after the segment header");
            assert!(what.contains("does not decode"), "{what}");
        }
        other => panic!("expected a damaged log, got {other:?}"),
    }
}
