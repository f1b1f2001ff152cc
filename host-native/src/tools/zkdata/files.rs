//! Reading ZooKeeper's files: `snapshot.<zxid>` (plain or `.gz`), `log.<zxid>`, and the
//! `acceptedEpoch` / `currentEpoch` files, as ZooKeeper 3.4 to 3.9 write them.
//!
//! ```text
//! snapshot: FileHeader("ZKSN", 2, dbid) · sessions: int n, n x (long id, int timeout)
//!           · ACL cache: int n, n x (long id, vector<ACL>) · nodes: (ustring path, buffer data,
//!           long acl, StatPersisted)* · ustring "/" · seal · [ZxidDigest · seal] · [long zxid · seal]
//!           where seal = long Adler32 of every byte before it, ustring "/"
//! log:      FileHeader("ZKLG", 2, dbid) · (long Adler32, buffer txn, byte 'B')* · zeros
//!           where txn = TxnHeader · the record of its type · [TxnDigest]
//! ```

use std::collections::BTreeMap;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use zabkeeper_core::tree::{Acl, StatPersisted};
use zabkeeper_core::wire::jute::{DecodeError, Jute, Reader};

use super::ZkDataError;
use super::model::{TxnHeader, ZkNode, ZkTree, ZkTxn};

pub const SNAP_MAGIC: i32 = i32::from_be_bytes(*b"ZKSN");
pub const LOG_MAGIC: i32 = i32::from_be_bytes(*b"ZKLG");
pub const FILE_VERSION: i32 = 2;
/// The ACL id ZooKeeper never writes into its cache: the open ACL.
pub const OPEN_ACL_ID: i64 = -1;

/// `ZxidDigest`: the tree digest as of `zxid`, written after a snapshot's nodes (3.6+).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ZxidDigest {
    pub zxid: i64,
    pub version: i32,
    pub digest: u64,
}

/// A snapshot file as read.
#[derive(Debug)]
pub struct LoadedSnapshot {
    pub zxid: i64,
    pub tree: ZkTree,
    pub digest: Option<ZxidDigest>,
}

/// One entry of a transaction log.
#[derive(Clone, Debug)]
pub struct LogEntry {
    pub header: TxnHeader,
    pub txn: ZkTxn,
    /// `TxnDigest`: ZooKeeper's tree digest right after this txn (3.6+), with its version.
    pub digest: Option<(i32, u64)>,
}

/// A file named `<prefix>.<hex zxid>[.suffix]`, with its zxid.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Named {
    pub path: PathBuf,
    pub zxid: i64,
}

/// The files of `dir` named `prefix.<hex zxid>` (and, for snapshots, `.gz` / `.snappy`),
/// oldest first.
pub fn list(dir: &Path, prefix: &str) -> Result<Vec<Named>, ZkDataError> {
    let entries = std::fs::read_dir(dir).map_err(ZkDataError::io(dir, "listing"))?;
    let mut out = Vec::new();
    for entry in entries {
        let entry = entry.map_err(ZkDataError::io(dir, "listing"))?;
        let name = entry.file_name();
        let Some(name) = name.to_str() else { continue };
        let Some(rest) = name.strip_prefix(prefix).and_then(|r| r.strip_prefix('.')) else { continue };
        let hex = rest.split('.').next().unwrap_or_default();
        if let Ok(zxid) = u64::from_str_radix(hex, 16) {
            out.push(Named { path: entry.path(), zxid: zxid as i64 });
        }
    }
    out.sort_by_key(|n| (n.zxid, n.path.clone()));
    Ok(out)
}

fn damaged(path: &Path, offset: usize, what: impl Into<String>) -> ZkDataError {
    ZkDataError::Damaged { path: path.to_path_buf(), offset: offset as u64, what: what.into() }
}

/// The bytes of a snapshot, unpacked if ZooKeeper compressed it.
fn snapshot_bytes(path: &Path) -> Result<Vec<u8>, ZkDataError> {
    let raw = std::fs::read(path).map_err(ZkDataError::io(path, "reading"))?;
    let name = path.file_name().and_then(|n| n.to_str()).unwrap_or_default();
    if name.ends_with(".gz") {
        let mut out = Vec::new();
        flate2::read::GzDecoder::new(&raw[..])
            .read_to_end(&mut out)
            .map_err(|e| damaged(path, 0, format!("gzip: {e}")))?;
        Ok(out)
    } else if name.ends_with(".snappy") {
        unsnappy(path, &raw)
    } else {
        Ok(raw)
    }
}

/// The stream snappy-java's `SnappyOutputStream` writes (ZooKeeper's `snappy` compression):
/// an 8-byte magic, two version ints, then blocks of (int length, raw snappy block).
fn unsnappy(path: &Path, raw: &[u8]) -> Result<Vec<u8>, ZkDataError> {
    const MAGIC: &[u8; 8] = b"\x82SNAPPY\0";
    /// snappy-java writes blocks of 32 KiB; a block claiming more than this is refused
    /// before anything is allocated for it.
    const BLOCK_MAX: usize = 64 << 20;
    if raw.len() < 16 || &raw[..8] != MAGIC {
        return Err(damaged(path, 0, "not a snappy-java stream (bad magic)"));
    }
    let mut out = Vec::new();
    let mut at = 16;
    let mut decoder = snap::raw::Decoder::new();
    while at < raw.len() {
        let len = raw.get(at..at + 4).map(|b| u32::from_be_bytes([b[0], b[1], b[2], b[3]]) as usize);
        let block = len.and_then(|len| raw.get(at + 4..at + 4 + len));
        let Some(block) = block else { return Err(damaged(path, at, "snappy block cut short")) };
        let size = snap::raw::decompress_len(block).map_err(|e| damaged(path, at, format!("snappy: {e}")))?;
        if size > BLOCK_MAX {
            return Err(damaged(path, at, format!("snappy block of {size} bytes")));
        }
        let start = out.len();
        out.resize(start + size, 0);
        decoder.decompress(block, &mut out[start..]).map_err(|e| damaged(path, at, format!("snappy: {e}")))?;
        at += 4 + block.len();
    }
    Ok(out)
}

/// A cursor that knows where it is in its file, for errors that name the byte.
struct Cursor<'a> {
    path: &'a Path,
    len: usize,
    r: Reader<'a>,
    seals: Seals,
}

impl<'a> Cursor<'a> {
    fn new(path: &'a Path, bytes: &'a [u8]) -> Cursor<'a> {
        Cursor { path, len: bytes.len(), r: Reader::new(bytes), seals: Seals::Check }
    }

    fn offset(&self) -> usize {
        self.len - self.r.remaining()
    }

    fn fail(&self, what: impl Into<String>) -> ZkDataError {
        damaged(self.path, self.offset(), what)
    }

    fn read<T>(
        &mut self,
        what: &str,
        f: impl FnOnce(&mut Reader<'a>) -> Result<T, DecodeError>,
    ) -> Result<T, ZkDataError> {
        let at = self.offset();
        f(&mut self.r).map_err(|e| damaged(self.path, at, format!("{what}: {e}")))
    }

    fn header(&mut self, magic: i32, kind: &str) -> Result<(), ZkDataError> {
        let (m, version, _dbid) = self.read("file header", |r| Ok((r.int()?, r.int()?, r.long()?)))?;
        if m != magic {
            return Err(damaged(self.path, 0, format!("not a ZooKeeper {kind} (magic {m:#010x})")));
        }
        if version != FILE_VERSION {
            return Err(damaged(self.path, 4, format!("{kind} format version {version}, only {FILE_VERSION} exists")));
        }
        Ok(())
    }
}

fn adler32(bytes: &[u8]) -> u32 {
    let mut a = adler2::Adler32::new();
    a.write_slice(bytes);
    a.checksum()
}

/// Reads and checks one snapshot file: its seal, and the digest section if there is one.
pub fn read_snapshot(file: &Named) -> Result<LoadedSnapshot, ZkDataError> {
    let bytes = snapshot_bytes(&file.path)?;
    parse_snapshot(&file.path, &bytes, file.zxid)
}

/// [`read_snapshot`] of bytes already read (uncompressed); `path` names them in errors, and
/// `zxid` is the one the file's name gives.
pub fn parse_snapshot(path: &Path, bytes: &[u8], zxid: i64) -> Result<LoadedSnapshot, ZkDataError> {
    parse_snapshot_with(path, bytes, zxid, Seals::Check)
}

/// Whether a snapshot's Adler32 seals are checked: always, but by the fuzzer, which needs its
/// mutations to reach what comes after them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Seals {
    Check,
    Ignore,
}

/// [`parse_snapshot`], with the seals checked or not.
pub fn parse_snapshot_with(path: &Path, bytes: &[u8], zxid: i64, seals: Seals) -> Result<LoadedSnapshot, ZkDataError> {
    let mut c = Cursor::new(path, bytes);
    c.seals = seals;
    c.header(SNAP_MAGIC, "snapshot")?;
    let mut tree = ZkTree::empty();
    let sessions = c.read("session table", |r| {
        let n = r.int()?;
        if n < 0 || n as usize > r.remaining() / 12 {
            return Err(DecodeError::BadLength(n));
        }
        (0..n).map(|_| Ok((r.long()?, r.int()?))).collect::<Result<Vec<_>, _>>()
    })?;
    tree.sessions = sessions.into_iter().collect();
    let acls = read_acl_cache(&mut c)?;
    let mut progress = crate::progress::Progress::new("reading ZooKeeper's snapshot", "bytes", bytes.len() as u64);
    let mut read_to = c.offset();
    loop {
        let at = c.offset();
        progress.advance((at - read_to) as u64);
        read_to = at;
        let path = c.read("node path", |r| r.opt_ustring())?.ok_or_else(|| damaged(c.path, at, "null node path"))?;
        if path == "/" {
            break;
        }
        let node = c.read("node", |r| {
            let data = r.buffer()?;
            let acl = r.long()?;
            Ok((data, acl, StatPersisted::read(r)?))
        })?;
        let (data, acl_id, stat) = node;
        let acl = match acls.get(&acl_id) {
            Some(list) => list.clone(),
            None if acl_id == OPEN_ACL_ID => Acl::open_unsafe().into(),
            None => {
                return Err(damaged(
                    c.path,
                    at,
                    format!("node {path:?} names ACL {acl_id}, which is not in the cache"),
                ));
            }
        };
        let node = ZkNode { data, acl, stat, children: Default::default() };
        tree.insert_loaded(&path, node).map_err(|why| damaged(c.path, at, why))?;
    }
    progress.finish();
    if tree.get("").is_none() {
        return Err(c.fail("the snapshot has no root node"));
    }
    check_seal(&mut c, bytes, "the snapshot's checksum")?;
    let mut digest = None;
    if c.r.remaining() > 0 {
        let d = c.read("digest section", |r| {
            let zxid = r.long()?;
            let version = r.int()?;
            let digest = if version < 2 {
                let hex = r.ustring()?;
                u64::from_str_radix(&hex, 16).map_err(|_| DecodeError::BadLength(-1))?
            } else {
                r.long()? as u64
            };
            Ok(ZxidDigest { zxid, version, digest })
        })?;
        check_seal(&mut c, bytes, "the digest section's checksum")?;
        digest = Some(d);
    }
    if c.r.remaining() > 0 {
        c.read("last processed zxid", |r| r.long())?;
        check_seal(&mut c, bytes, "the last zxid's checksum")?;
    }
    if c.r.remaining() > 0 {
        return Err(c.fail("bytes after the end of the snapshot"));
    }
    tree.last_zxid = zxid;
    Ok(LoadedSnapshot { zxid, tree, digest })
}

fn read_acl_cache(c: &mut Cursor<'_>) -> Result<BTreeMap<i64, Arc<[Acl]>>, ZkDataError> {
    c.read("ACL cache", |r| {
        let n = r.int()?;
        if n < 0 || n as usize > r.remaining() / 12 {
            return Err(DecodeError::BadLength(n));
        }
        let mut out = BTreeMap::new();
        for _ in 0..n {
            let id = r.long()?;
            let list = r.vector(Acl::read)?;
            out.insert(id, Arc::from(list));
        }
        Ok(out)
    })
}

/// `SnapStream.checkSealIntegrity`: the Adler32 of everything read so far, then "/".
fn check_seal(c: &mut Cursor<'_>, bytes: &[u8], what: &str) -> Result<(), ZkDataError> {
    let at = c.offset();
    let expected = adler32(&bytes[..at]);
    let (val, slash) = c.read(what, |r| Ok((r.long()?, r.ustring()?)))?;
    if (val != i64::from(expected) && c.seals == Seals::Check) || slash != "/" {
        return Err(damaged(c.path, at, format!("{what} does not match (CRC corruption)")));
    }
    Ok(())
}

/// Where reading a log file stopped.
#[derive(Debug, PartialEq, Eq)]
pub enum LogEnd {
    /// At the zeros ZooKeeper preallocates, or exactly at the end of the file.
    Clean,
    /// In a record that was never completely written (ZooKeeper stops there too).
    Torn { offset: u64 },
}

/// Reads every complete entry of one log file, CRC-checked; a torn last record ends it.
pub fn read_log(
    file: &Named,
    each: impl FnMut(LogEntry, u64) -> Result<(), ZkDataError>,
) -> Result<LogEnd, ZkDataError> {
    let bytes = std::fs::read(&file.path).map_err(ZkDataError::io(&file.path, "reading"))?;
    parse_log(&file.path, &bytes, each)
}

/// [`read_log`] of bytes already read; `path` names them in errors.
pub fn parse_log(
    path: &Path,
    bytes: &[u8],
    mut each: impl FnMut(LogEntry, u64) -> Result<(), ZkDataError>,
) -> Result<LogEnd, ZkDataError> {
    let mut c = Cursor::new(path, bytes);
    c.header(LOG_MAGIC, "transaction log")?;
    loop {
        let at = c.offset();
        if c.r.remaining() == 0 {
            return Ok(LogEnd::Clean);
        }
        // Anything short of a whole record is where ZooKeeper's iterator meets EOF.
        let Ok(crc) = c.r.long() else { return Ok(LogEnd::Torn { offset: at as u64 }) };
        let len = match c.r.int() {
            // ZooKeeper defines EOF as an empty record: the preallocated zeros.
            Ok(0) => return Ok(LogEnd::Clean),
            Ok(len) if len > 0 => len as usize,
            Ok(len) => return Err(damaged(path, at + 8, format!("record length {len}"))),
            Err(_) => return Ok(LogEnd::Torn { offset: at as u64 }),
        };
        let Ok(record) = c.r.take(len) else { return Ok(LogEnd::Torn { offset: at as u64 }) };
        match c.r.take(1) {
            Ok(b"B") => {}
            _ => return Ok(LogEnd::Torn { offset: at as u64 }),
        }
        if i64::from(adler32(record)) != crc {
            return Err(damaged(path, at, "record checksum does not match (CRC check failed)"));
        }
        let entry = decode_txn(record).map_err(|why| damaged(path, at + 12, why))?;
        each(entry, at as u64)?;
    }
}

/// `SerializeUtils.deserializeTxn`: the header, the record of its type, the digest if any.
pub fn decode_txn(bytes: &[u8]) -> Result<LogEntry, String> {
    let mut r = Reader::new(bytes);
    let header = (|| {
        Ok::<_, DecodeError>(TxnHeader {
            client_id: r.long()?,
            cxid: r.int()?,
            zxid: r.long()?,
            time_ms: r.long()?,
            kind: r.int()?,
        })
    })()
    .map_err(|e| format!("txn header: {e}"))?;
    let txn = decode_record(header.kind, &mut r)
        .map_err(|e| format!("txn {:#x} of type {}: {e}", header.zxid, header.kind))?;
    let digest = if r.remaining() >= 12 {
        let version = r.int().map_err(|e| e.to_string())?;
        Some((version, r.long().map_err(|e| e.to_string())? as u64))
    } else {
        None
    };
    Ok(LogEntry { header, txn, digest })
}

/// Opcodes of the logged txn types (`ZooDefs.OpCode`).
mod op {
    pub const CREATE: i32 = 1;
    pub const DELETE: i32 = 2;
    pub const SET_DATA: i32 = 5;
    pub const SET_ACL: i32 = 7;
    pub const CHECK: i32 = 13;
    pub const MULTI: i32 = 14;
    pub const CREATE2: i32 = 15;
    pub const RECONFIG: i32 = 16;
    pub const CREATE_CONTAINER: i32 = 19;
    pub const DELETE_CONTAINER: i32 = 20;
    pub const CREATE_TTL: i32 = 21;
    pub const ERROR: i32 = -1;
    pub const CREATE_SESSION: i32 = -10;
    pub const CLOSE_SESSION: i32 = -11;
}

fn decode_record(kind: i32, r: &mut Reader<'_>) -> Result<ZkTxn, String> {
    let e = |e: DecodeError| e.to_string();
    Ok(match kind {
        op::CREATE_SESSION => ZkTxn::CreateSession { timeout_ms: r.int().map_err(e)? },
        op::CLOSE_SESSION => {
            // 3.6's CloseSessionTxn, or nothing at all before it.
            if r.remaining() >= 4 {
                let mut probe = r.clone();
                match probe.vector(|r| r.ustring()) {
                    Ok(paths) => {
                        *r = probe;
                        ZkTxn::CloseSession { paths: Some(paths) }
                    }
                    Err(_) => ZkTxn::CloseSession { paths: None },
                }
            } else {
                ZkTxn::CloseSession { paths: None }
            }
        }
        op::CREATE | op::CREATE2 => {
            let path = r.ustring().map_err(e)?;
            let data = r.buffer().map_err(e)?;
            let acl = r.vector(Acl::read).map_err(e)?;
            let ephemeral = r.bool().map_err(e)?;
            // 3.3's CreateTxnV0 ends here; ZooKeeper then fixes the parent's cversion itself.
            let parent_cversion = if r.remaining() >= 4 { r.int().map_err(e)? } else { -1 };
            ZkTxn::Create { create2: kind == op::CREATE2, path, data, acl, ephemeral, parent_cversion }
        }
        op::CREATE_CONTAINER => ZkTxn::CreateContainer {
            path: r.ustring().map_err(e)?,
            data: r.buffer().map_err(e)?,
            acl: r.vector(Acl::read).map_err(e)?,
            parent_cversion: r.int().map_err(e)?,
        },
        op::CREATE_TTL => ZkTxn::CreateTtl {
            path: r.ustring().map_err(e)?,
            data: r.buffer().map_err(e)?,
            acl: r.vector(Acl::read).map_err(e)?,
            parent_cversion: r.int().map_err(e)?,
            ttl_ms: r.long().map_err(e)?,
        },
        op::DELETE | op::DELETE_CONTAINER => ZkTxn::Delete { path: r.ustring().map_err(e)? },
        op::SET_DATA | op::RECONFIG => {
            ZkTxn::SetData { path: r.ustring().map_err(e)?, data: r.buffer().map_err(e)?, version: r.int().map_err(e)? }
        }
        op::SET_ACL => ZkTxn::SetAcl {
            path: r.ustring().map_err(e)?,
            acl: r.vector(Acl::read).map_err(e)?,
            version: r.int().map_err(e)?,
        },
        op::CHECK => ZkTxn::Check { path: r.ustring().map_err(e)?, version: r.int().map_err(e)? },
        op::ERROR => ZkTxn::Error { code: r.int().map_err(e)? },
        op::MULTI => {
            let subs = r.vector(|r| Ok((r.int()?, r.buffer()?.unwrap_or_default()))).map_err(e)?;
            let failed = subs.iter().any(|(kind, _)| *kind == op::ERROR);
            let mut ops = Vec::with_capacity(subs.len());
            for (kind, bytes) in subs {
                if failed && kind != op::ERROR {
                    // ZooKeeper does not even read the ops of a failed multi.
                    ops.push(ZkTxn::Error { code: 0 });
                    continue;
                }
                if kind == op::MULTI || kind == op::CREATE_SESSION || kind == op::CLOSE_SESSION {
                    return Err(format!("a multi holding an op of type {kind}"));
                }
                let mut sub = Reader::new(&bytes);
                ops.push(decode_record(kind, &mut sub)?);
            }
            ZkTxn::Multi { failed, ops }
        }
        other => return Err(format!("unknown txn type {other}")),
    })
}

/// A decimal epoch file (`acceptedEpoch`, `currentEpoch`), if there is one.
pub fn read_epoch(dir: &Path, name: &str) -> Result<Option<u32>, ZkDataError> {
    let path = dir.join(name);
    match std::fs::read_to_string(&path) {
        Ok(text) => {
            let value: i64 =
                text.trim().parse().map_err(|_| damaged(&path, 0, format!("not a number: {:?}", text.trim())))?;
            u32::try_from(value).map(Some).map_err(|_| damaged(&path, 0, format!("epoch {value} out of range")))
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(ZkDataError::Io { path, action: "reading", source: e }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_close_session_without_a_body_and_with_one_both_decode() {
        let mut bytes = 7i64.to_be_bytes().to_vec();
        bytes.extend_from_slice(&1i32.to_be_bytes());
        bytes.extend_from_slice(&0x1_0000_0005i64.to_be_bytes());
        bytes.extend_from_slice(&99i64.to_be_bytes());
        bytes.extend_from_slice(&op::CLOSE_SESSION.to_be_bytes());
        let bare = decode_txn(&bytes).unwrap();
        assert_eq!(bare.txn, ZkTxn::CloseSession { paths: None });
        assert_eq!(bare.header.zxid, 0x1_0000_0005);
        let mut with = bytes.clone();
        with.extend_from_slice(&1i32.to_be_bytes());
        "/e".to_string().write(&mut with);
        with.extend_from_slice(&2i32.to_be_bytes());
        with.extend_from_slice(&42i64.to_be_bytes());
        let full = decode_txn(&with).unwrap();
        assert_eq!(full.txn, ZkTxn::CloseSession { paths: Some(vec!["/e".into()]) });
        assert_eq!(full.digest, Some((2, 42)));
    }

    #[test]
    fn unknown_types_and_nested_multis_are_errors() {
        let mut bytes = vec![0u8; 28];
        bytes.extend_from_slice(&99i32.to_be_bytes());
        assert!(decode_txn(&bytes).unwrap_err().contains("unknown txn type 99"));
        let mut multi = vec![0u8; 28];
        multi.extend_from_slice(&op::MULTI.to_be_bytes());
        multi.extend_from_slice(&1i32.to_be_bytes());
        multi.extend_from_slice(&op::MULTI.to_be_bytes());
        multi.extend_from_slice(&0i32.to_be_bytes());
        assert!(decode_txn(&multi).unwrap_err().contains("a multi holding"));
    }

    #[test]
    fn a_create_of_zookeeper_3_3_without_a_parent_cversion_decodes_with_minus_one() {
        let mut bytes = Vec::new();
        5i64.write(&mut bytes);
        2i32.write(&mut bytes);
        0x7i64.write(&mut bytes);
        100i64.write(&mut bytes);
        op::CREATE.write(&mut bytes);
        "/old".to_string().write(&mut bytes);
        Some(b"v".to_vec()).write(&mut bytes);
        Acl::open_unsafe().write(&mut bytes);
        true.write(&mut bytes);
        let entry = decode_txn(&bytes).unwrap();
        assert_eq!(
            entry.txn,
            ZkTxn::Create {
                create2: false,
                path: "/old".into(),
                data: Some(b"v".to_vec()),
                acl: Acl::open_unsafe(),
                ephemeral: true,
                parent_cversion: -1,
            }
        );
        assert_eq!(entry.digest, None, "no digest before 3.6");
    }

    /// A 3.8 snapshot from the fixture, with the section 3.9 adds after the digest (the last
    /// processed zxid and one more seal), and without any digest section (3.5 and older).
    #[test]
    fn snapshots_with_the_last_zxid_section_of_3_9_and_without_a_digest_read() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../tests/zkdata/zookeeper-3.8-standalone/version-2/snapshot.aa");
        let bytes = std::fs::read(&path).unwrap();
        let plain = parse_snapshot(&path, &bytes, 0xaa).unwrap();
        assert!(plain.digest.is_some());
        let mut newer = bytes.clone();
        0xaai64.write(&mut newer);
        let seal = i64::from(adler32(&newer));
        seal.write(&mut newer);
        "/".to_string().write(&mut newer);
        let read = parse_snapshot(&path, &newer, 0xaa).unwrap();
        assert_eq!(read.tree.digest(), plain.tree.digest());
        newer[bytes.len() + 8] ^= 1;
        assert!(parse_snapshot(&path, &newer, 0xaa).is_err(), "its seal is checked");
        // Cut at the end of the first seal: what 3.5 wrote.
        let digest_section = 8 + 4 + 8 + 8 + 4 + 1;
        let older = &bytes[..bytes.len() - digest_section];
        let read = parse_snapshot(&path, older, 0xaa).unwrap();
        assert_eq!(read.digest, None);
        assert_eq!(read.tree.digest(), plain.tree.digest());
    }
}
