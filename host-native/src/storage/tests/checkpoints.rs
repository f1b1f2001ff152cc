//! Checkpoints against real files: the entries after a checkpoint's zxid are kept, recovery
//! equals the model image, retention keeps its starting points and their segments, and a
//! damaged checkpoint is passed over only for a log that checks out.

use super::*;
use crate::storage::files::Stage;

/// A durable write or a checkpoint, in the order the writer gets them.
#[derive(Clone, Debug)]
enum Step {
    Op(LogOp),
    Checkpoint(Zxid, Vec<u8>),
}

fn op(op: LogOp) -> Step {
    Step::Op(op)
}

/// A checkpoint at `epoch:counter` whose bytes say where it was taken.
fn checkpoint(epoch: u32, counter: u32) -> Step {
    Step::Checkpoint(Zxid::new(epoch, counter), format!("state at {epoch}:{counter}").repeat(20).into_bytes())
}

/// What the steps leave on disk, with only the first `checkpoints` checkpoints applied: the
/// image recovery builds when it starts from that checkpoint (or from the start of the log).
fn model_of(steps: &[Step], checkpoints: usize) -> Image {
    let mut image = Image::default();
    let mut taken = 0;
    for step in steps {
        match step {
            Step::Op(op) => image.apply(op).expect("the model accepts every test write"),
            Step::Checkpoint(zxid, bytes) => {
                if taken < checkpoints && *zxid > image.snapshot_zxid() {
                    image.snapshot = Some((*zxid, bytes.clone()));
                    image.log.retain(|e| e.zxid > *zxid);
                }
                taken += 1;
            }
        }
    }
    image
}

fn model_all(steps: &[Step]) -> Image {
    model_of(steps, usize::MAX)
}

/// Writes the steps through the writer thread and closes it. Each checkpoint taken is
/// waited for until its file is durable, so that none is skipped for a newer one.
fn write_steps(dir: &Path, options: StorageOptions, steps: &[Step]) {
    let (storage, image) = open(dir, options);
    let mut snapshot_zxid = image.snapshot_zxid();
    let (stages, seen) = mpsc::channel();
    let writer = storage.start_with_hook(
        |_| {},
        move |stage| {
            let _ = stages.send(stage);
        },
    );
    for (i, step) in steps.iter().enumerate() {
        match step {
            Step::Op(op) => {
                if let LogOp::InstallSnapshot { zxid, .. } = op {
                    snapshot_zxid = *zxid;
                }
                writer.persist(i as u64 + 1, op.clone());
            }
            Step::Checkpoint(zxid, bytes) => {
                writer.checkpoint(*zxid, bytes.clone());
                if *zxid > snapshot_zxid {
                    snapshot_zxid = *zxid;
                    while seen.recv().unwrap() != Stage::Durable {}
                }
            }
        }
    }
    writer.close().unwrap();
}

/// The checkpoint files, oldest first.
fn checkpoints(dir: &Path) -> Vec<PathBuf> {
    let mut found: Vec<PathBuf> = fs::read_dir(log_dir(dir))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.file_name().and_then(|n| n.to_str()).and_then(format::parse_checkpoint_name).is_some())
        .collect();
    found.sort();
    found
}

fn first_lsn(path: &Path) -> u64 {
    let name = path.file_name().unwrap().to_str().unwrap();
    format::parse_segment_name(name).or_else(|| format::parse_checkpoint_name(name)).unwrap()
}

fn replay_from(path: &Path) -> u64 {
    let bytes = fs::read(path).unwrap();
    format::Checkpoint::decode(&bytes, first_lsn(path)).unwrap().replay_from
}

/// Epochs, then appends `from..=to` in epoch 1.
fn appends(from: u32, to: u32) -> Vec<Step> {
    (from..=to).map(|c| op(append(1, c))).collect()
}

#[test]
fn a_checkpoint_keeps_the_entries_after_its_zxid() {
    let dir = tempdir();
    let mut steps = vec![op(LogOp::Epochs { accepted: 1, current: 1 })];
    steps.extend(appends(1, 10));
    // Entries 7..=10 are logged but not yet committed: they stay.
    steps.push(checkpoint(1, 6));
    steps.push(op(LogOp::Epochs { accepted: 2, current: 1 }));
    steps.extend(appends(11, 12));
    write_steps(dir.path(), options(), &steps);
    let image = open(dir.path(), options()).1;
    assert_same(&image, &model_all(&steps));
    assert_eq!(image.snapshot_zxid(), Zxid::new(1, 6));
    assert_eq!(image.log.iter().map(|e| e.zxid.counter()).collect::<Vec<_>>(), [7, 8, 9, 10, 11, 12]);
    assert_eq!((image.accepted_epoch, image.current_epoch), (2, 1));
    let files = checkpoints(dir.path());
    assert_eq!(files.len(), 1);
    // Epochs + 10 appends are lsns 1..=11; entry 7 is lsn 8.
    assert_eq!((first_lsn(&files[0]), replay_from(&files[0])), (12, 8));
}

#[test]
fn a_checkpoint_then_a_truncate_replays() {
    let dir = tempdir();
    let mut steps = vec![op(LogOp::Epochs { accepted: 1, current: 1 })];
    steps.extend(appends(1, 9));
    steps.push(checkpoint(1, 5));
    steps.push(op(LogOp::Truncate { after: Zxid::new(1, 7) }));
    steps.push(op(LogOp::Epochs { accepted: 2, current: 2 }));
    steps.push(op(append(2, 1)));
    write_steps(dir.path(), options(), &steps);
    let image = open(dir.path(), options()).1;
    assert_same(&image, &model_all(&steps));
    assert_eq!(
        image.log.iter().map(|e| e.zxid).collect::<Vec<_>>(),
        [Zxid::new(1, 6), Zxid::new(1, 7), Zxid::new(2, 1)]
    );
    // A second checkpoint after the truncate, then a restart and more writes.
    let more = [checkpoint(1, 7), op(append(2, 2))];
    write_steps(dir.path(), options(), &more);
    steps.extend(more);
    let image = open(dir.path(), options()).1;
    assert_same(&image, &model_all(&steps));
    assert_eq!(image.log.iter().map(|e| e.zxid).collect::<Vec<_>>(), [Zxid::new(2, 1), Zxid::new(2, 2)]);
}

#[test]
fn recovery_after_checkpoints_equals_the_model_across_restarts() {
    let dir = tempdir();
    let tiny = StorageOptions { segment_bytes: 600, prealloc_bytes: 512, ..options() };
    let mut all = vec![op(LogOp::Epochs { accepted: 1, current: 1 })];
    let mut counter = 0;
    for round in 0..8u32 {
        let mut steps = Vec::new();
        for _ in 0..15 {
            counter += 1;
            steps.push(op(append(1, counter)));
        }
        // Checkpoints a few entries behind the last append, as the commit point trails it.
        steps.push(checkpoint(1, counter - round % 4));
        if round % 3 == 1 {
            steps.push(op(LogOp::Truncate { after: Zxid::new(1, counter - 1) }));
            counter -= 1;
        }
        if round == 0 {
            steps.insert(0, all.remove(0));
        }
        write_steps(dir.path(), tiny, &steps);
        all.extend(steps);
        assert_same(&open(dir.path(), tiny).1, &model_all(&all));
    }
}

#[test]
fn a_stale_checkpoint_is_ignored() {
    let dir = tempdir();
    let mut steps = appends(1, 6);
    steps.push(checkpoint(1, 4));
    steps.push(checkpoint(1, 4));
    steps.push(checkpoint(1, 2));
    steps.push(op(LogOp::InstallSnapshot { zxid: Zxid::new(1, 9), snapshot: vec![9] }));
    steps.push(checkpoint(1, 9));
    steps.push(checkpoint(1, 8));
    write_steps(dir.path(), options(), &steps);
    assert!(checkpoints(dir.path()).is_empty(), "the install deleted the only checkpoint, later ones were stale");
    assert_same(&open(dir.path(), options()).1, &model_all(&steps));
}

#[test]
fn retention_keeps_the_newest_starting_points_and_their_segments() {
    for retain in [1, 3, 5] {
        let dir = tempdir();
        let tiny = StorageOptions { segment_bytes: 500, snap_retain_count: retain, ..options() };
        let kept = retain.max(3) as usize;
        let mut all = Vec::new();
        for round in 1..=8u32 {
            let mut steps = appends(round * 20 - 19, round * 20);
            steps.push(checkpoint(1, round * 20 - 3));
            if round == 1 {
                steps.insert(0, op(LogOp::Epochs { accepted: 1, current: 1 }));
            }
            write_steps(dir.path(), tiny, &steps);
            all.extend(steps);
            let snaps = checkpoints(dir.path());
            let files = segments(dir.path());
            // The start of the log counts as a starting point until retention drops it.
            let points = round as usize + 1;
            assert_eq!(snaps.len(), points.min(kept) - usize::from(points <= kept), "retain {retain} round {round}");
            if points <= kept {
                assert_eq!(first_lsn(&files[0]), 1, "retain {retain} round {round}: the whole log is kept");
            } else {
                // Exactly the segments from the one holding the oldest kept checkpoint's replay start.
                let from = replay_from(&snaps[0]);
                assert!(first_lsn(&files[0]) <= from && first_lsn(&files[1]) > from, "retain {retain} round {round}");
            }
            assert_same(&open(dir.path(), tiny).1, &model_all(&all));
        }
    }
}

#[test]
fn a_crash_while_writing_a_checkpoint_recovers_the_state_before() {
    let dir = tempdir();
    let mut steps = vec![op(LogOp::Epochs { accepted: 1, current: 1 })];
    steps.extend(appends(1, 10));
    steps.push(checkpoint(1, 4));
    steps.extend(appends(11, 20));
    write_steps(dir.path(), options(), &steps);
    // The next checkpoint, written whole or in part but never renamed into place.
    let reference = tempdir();
    let mut with_next = steps.clone();
    with_next.push(checkpoint(1, 18));
    write_steps(reference.path(), options(), &with_next);
    let next = checkpoints(reference.path()).pop().unwrap();
    let whole = fs::read(&next).unwrap();
    for cut in [0, 10, HEADER_BYTES + 3, whole.len() / 2, whole.len()] {
        let temp = log_dir(dir.path()).join(format!("{}.tmp", next.file_name().unwrap().to_str().unwrap()));
        fs::write(&temp, &whole[..cut]).unwrap();
        assert_same(&open(dir.path(), options()).1, &model_all(&steps));
        assert!(!temp.exists(), "a half-built checkpoint is deleted");
        assert_eq!(checkpoints(dir.path()).len(), 1);
    }
}

#[test]
fn a_damaged_newest_checkpoint_falls_back_only_to_a_complete_log() {
    let dir = tempdir();
    let tiny = StorageOptions { segment_bytes: 500, ..options() };
    let mut all = vec![op(LogOp::Epochs { accepted: 1, current: 1 })];
    for round in 1..=5u32 {
        all.extend(appends(round * 20 - 19, round * 20));
        all.push(checkpoint(1, round * 20 - 2));
    }
    all.extend(appends(101, 105));
    write_steps(dir.path(), tiny, &all);
    let snaps = checkpoints(dir.path());
    assert_eq!(snaps.len(), 3);
    let newest = snaps[2].clone();
    let before = fs::read(&newest).unwrap();
    for offset in [0, 17, HEADER_BYTES + 2, HEADER_BYTES + 30, before.len() - 1] {
        fs::write(&newest, &before).unwrap();
        flip_bit(&newest, offset, 5);
        // The checkpoint before it, and the whole log from there: the fourth checkpoint's view.
        assert_same(&open(dir.path(), tiny).1, &model_of(&all, 4));
        assert!(newest.exists(), "a damaged checkpoint is kept until a newer one is durable");
    }
    // Both damaged: the oldest kept checkpoint still has its whole log.
    flip_bit(&snaps[1], 3, 1);
    assert_same(&open(dir.path(), tiny).1, &model_of(&all, 3));
    // All damaged, and the start of the log is gone: refused, naming the newest checkpoint.
    flip_bit(&snaps[0], HEADER_BYTES + 40, 1);
    let files: Vec<(PathBuf, Vec<u8>)> = fs::read_dir(log_dir(dir.path()))
        .unwrap()
        .map(|e| e.unwrap().path())
        .map(|p| (p.clone(), fs::read(p).unwrap()))
        .collect();
    let (path, _, what) = damaged(Storage::open(dir.path(), tiny));
    assert_eq!(path, newest);
    assert!(what.contains("earlier segments are missing"), "{what}");
    for (path, bytes) in &files {
        assert_eq!(&fs::read(path).unwrap(), bytes, "{} untouched", path.display());
    }
    // The next checkpoint after a fallback deletes the damaged ones.
    fs::write(&newest, &before).unwrap();
    let more = [checkpoint(1, 104), op(append(1, 106))];
    write_steps(dir.path(), tiny, &more);
    all.extend(more);
    assert_eq!(
        checkpoints(dir.path()),
        [snaps[2].clone(), log_dir(dir.path()).join(format::checkpoint_name(first_lsn(&snaps[2]) + 5))]
    );
    assert_same(&open(dir.path(), tiny).1, &model_all(&all));
}

#[test]
fn a_damaged_checkpoint_with_a_gap_before_it_is_an_error() {
    let dir = tempdir();
    let tiny = StorageOptions { segment_bytes: 400, ..options() };
    let mut all = vec![op(LogOp::Epochs { accepted: 1, current: 1 })];
    all.extend(appends(1, 30));
    all.push(checkpoint(1, 28));
    all.extend(appends(31, 40));
    write_steps(dir.path(), tiny, &all);
    let snaps = checkpoints(dir.path());
    let files = segments(dir.path());
    assert_eq!(first_lsn(&files[0]), 1, "the start of the log is the second starting point");
    // A segment only the start of the log needs is lost, and the checkpoint is damaged.
    fs::remove_file(&files[1]).unwrap();
    assert_same(&open(dir.path(), tiny).1, &model_all(&all));
    flip_bit(&snaps[0], 9, 0);
    let (path, _, what) = damaged(Storage::open(dir.path(), tiny));
    assert_eq!(path, snaps[0]);
    assert!(what.contains("does not check out"), "{what}");
}

#[test]
fn a_log_that_ends_before_its_checkpoint_is_an_error() {
    let dir = tempdir();
    let no_prealloc = StorageOptions { prealloc_bytes: 0, ..options() };
    let mut all = appends(1, 10);
    all.push(checkpoint(1, 10));
    write_steps(dir.path(), no_prealloc, &all);
    let segment = segments(dir.path())[0].clone();
    let len = fs::metadata(&segment).unwrap().len();
    // The last record, synced before the checkpoint was written, is gone.
    fs::OpenOptions::new().write(true).open(&segment).unwrap().set_len(len - 5).unwrap();
    let (path, _, what) = damaged(Storage::open(dir.path(), no_prealloc));
    assert_eq!(path, checkpoints(dir.path())[0]);
    assert!(what.contains("records are missing"), "{what}");
}

#[test]
fn an_install_after_checkpoints_supersedes_them() {
    let dir = tempdir();
    let tiny = StorageOptions { segment_bytes: 500, ..options() };
    let mut all = appends(1, 30);
    all.push(checkpoint(1, 10));
    all.extend(appends(31, 40));
    all.push(checkpoint(1, 35));
    all.push(op(LogOp::InstallSnapshot { zxid: Zxid::new(2, 5), snapshot: vec![2; 100] }));
    all.push(op(append(2, 6)));
    write_steps(dir.path(), tiny, &all);
    assert!(checkpoints(dir.path()).is_empty());
    assert_eq!(segments(dir.path()).len(), 1);
    assert_same(&open(dir.path(), tiny).1, &model_all(&all));
    // A checkpoint left behind by a crash before the delete goes on the next open.
    let stray = log_dir(dir.path()).join(format::checkpoint_name(3));
    fs::write(&stray, b"old").unwrap();
    assert_same(&open(dir.path(), tiny).1, &model_all(&all));
    assert!(!stray.exists());
    // And checkpoints go on after the install.
    let more = [checkpoint(2, 6), op(append(2, 7))];
    write_steps(dir.path(), tiny, &more);
    all.extend(more);
    assert_same(&open(dir.path(), tiny).1, &model_all(&all));
    assert_eq!(checkpoints(dir.path()).len(), 1);
}

/// Random damage to checkpoint files: open never panics, and whatever it accepts is the log
/// seen from one of the checkpoints (or from its start).
#[test]
fn damaged_checkpoints_never_panic() {
    let reference = tempdir();
    let tiny = StorageOptions { segment_bytes: 700, prealloc_bytes: 256, snap_retain_count: 4, ..options() };
    let mut steps = vec![op(LogOp::Epochs { accepted: 1, current: 1 })];
    for round in 1..=3u32 {
        steps.extend(appends(round * 10 - 9, round * 10));
        steps.push(checkpoint(1, round * 10 - 3));
    }
    steps.extend(appends(31, 33));
    write_steps(reference.path(), tiny, &steps);
    let files: Vec<(PathBuf, Vec<u8>)> = fs::read_dir(log_dir(reference.path()))
        .unwrap()
        .map(|e| e.unwrap().path())
        .map(|p| (p.clone(), fs::read(p).unwrap()))
        .collect();
    let snaps = checkpoints(reference.path());
    assert_eq!(snaps.len(), 3);
    let views: Vec<Image> = (0..=3).map(|k| model_of(&steps, k)).collect();
    let mut rng = XorShift(0x1234_5678_9abc_def1);
    let mut seen = [0usize; 4];
    for round in 0..200 {
        let dir = tempdir();
        fs::create_dir_all(log_dir(dir.path())).unwrap();
        for (path, bytes) in &files {
            let mut bytes = bytes.clone();
            if snaps.contains(path) && rng.next().is_multiple_of(2) {
                damage(&mut bytes, &mut rng);
            }
            fs::write(log_dir(dir.path()).join(path.file_name().unwrap()), bytes).unwrap();
        }
        let (_, image) = Storage::open(dir.path(), tiny).unwrap_or_else(|e| panic!("round {round}: {e}"));
        let found = (image.accepted_epoch, image.current_epoch, &image.snapshot, &image.log);
        let view = views
            .iter()
            .position(|v| (v.accepted_epoch, v.current_epoch, &v.snapshot, &v.log) == found)
            .unwrap_or_else(|| panic!("round {round}: recovered something no starting point gives"));
        seen[view] += 1;
    }
    assert!(seen.iter().all(|n| *n > 0), "{seen:?}");
}

#[test]
fn a_damaged_checkpoint_is_never_a_blank_image() {
    let dir = tempdir();
    // A checkpoint before any record: the only file.
    write_steps(dir.path(), options(), &[checkpoint(1, 3)]);
    assert!(segments(dir.path()).is_empty());
    let snap = checkpoints(dir.path())[0].clone();
    assert_eq!(open(dir.path(), options()).1.snapshot_zxid(), Zxid::new(1, 3));
    flip_bit(&snap, HEADER_BYTES + 30, 2);
    let (path, _, what) = damaged(Storage::open(dir.path(), options()));
    assert_eq!(path, snap);
    assert!(what.contains("no log to start from"), "{what}");
}

/// A hook that holds the checkpoint thread the first time it reaches `stage`: `reached`
/// says it is there, a send on `release` lets it go on.
fn hold_at(stage: Stage) -> (impl FnMut(Stage) + Send + 'static, mpsc::Receiver<()>, mpsc::Sender<()>) {
    let (at, reached) = mpsc::channel();
    let (release, held) = mpsc::channel();
    let mut holding = true;
    let hook = move |now: Stage| {
        if holding && now == stage {
            holding = false;
            at.send(()).unwrap();
            held.recv().unwrap();
        }
    };
    (hook, reached, release)
}

/// Persists `steps` (writes only) from seq 1 and waits until the last is reported durable.
fn persist_and_wait(writer: &super::super::Writer, seen: &mpsc::Receiver<u64>, steps: &[Step]) {
    for (i, step) in steps.iter().enumerate() {
        let Step::Op(op) = step else { unreachable!("writes only") };
        writer.persist(i as u64 + 1, op.clone());
    }
    while seen.recv().unwrap() < steps.len() as u64 {}
}

/// The files of the log directory, as a crash at this moment leaves them.
fn files_now(dir: &Path) -> Vec<(String, Vec<u8>)> {
    let mut files: Vec<(String, Vec<u8>)> = fs::read_dir(log_dir(dir))
        .unwrap()
        .map(|e| e.unwrap().path())
        .map(|p| (p.file_name().unwrap().to_str().unwrap().to_string(), fs::read(&p).unwrap()))
        .collect();
    files.sort();
    files
}

fn open_files(files: &[(String, Vec<u8>)], options: StorageOptions) -> Image {
    let dir = tempdir();
    fs::create_dir_all(log_dir(dir.path())).unwrap();
    for (name, bytes) in files {
        fs::write(log_dir(dir.path()).join(name), bytes).unwrap();
    }
    open(dir.path(), options).1
}

/// A crash at each step of writing a checkpoint file, while the writes queued after it go
/// on. Those writes are durable without waiting for the file; nothing is deleted before the
/// file is durable; the files at each step recover every durable write, from the checkpoint
/// before until the new one is renamed into place. A crash part way through the deletes
/// retention starts afterwards recovers the same.
#[test]
fn a_crash_at_every_step_of_a_checkpoint_recovers() {
    let tiny = StorageOptions { segment_bytes: 500, ..options() };
    let mut before = vec![op(LogOp::Epochs { accepted: 1, current: 1 })];
    for round in 1..=3u32 {
        before.extend(appends(round * 20 - 19, round * 20));
        before.push(checkpoint(1, round * 20 - 3));
    }
    before.extend(appends(61, 70));
    let after = appends(71, 90);
    let mut all = before.clone();
    all.push(checkpoint(1, 68));
    all.extend(after.clone());
    let (without, with) = (model_of(&all, 3), model_all(&all));
    for stage in [Stage::Started, Stage::Created, Stage::Written, Stage::Synced, Stage::Renamed, Stage::Durable] {
        let dir = tempdir();
        write_steps(dir.path(), tiny, &before);
        let at_start = files_now(dir.path());
        let (storage, _) = open(dir.path(), tiny);
        let (reports, seen) = mpsc::channel();
        let (hook, reached, release) = hold_at(stage);
        let writer = storage.start_with_hook(move |seq| reports.send(seq).unwrap(), hook);
        let Step::Checkpoint(zxid, bytes) = &all[before.len()] else { unreachable!() };
        writer.checkpoint(*zxid, bytes.clone());
        reached.recv().unwrap();
        persist_and_wait(&writer, &seen, &after);
        let crashed = files_now(dir.path());
        release.send(()).unwrap();
        writer.close().unwrap();

        let snap = format::checkpoint_name(first_lsn(&checkpoints(dir.path()).pop().unwrap()));
        let has_snap = crashed.iter().any(|(name, _)| *name == snap);
        assert_eq!(has_snap, stage >= Stage::Renamed, "{stage:?}");
        for (name, _) in &at_start {
            assert!(
                crashed.iter().any(|(n, _)| n == name),
                "{stage:?}: {name} deleted before the checkpoint is durable"
            );
        }
        assert_same(&open_files(&crashed, tiny), if has_snap { &with } else { &without });
        // A rename whose directory entry did not reach the disk.
        let unrenamed: Vec<_> = crashed.iter().filter(|(name, _)| *name != snap).cloned().collect();
        assert_same(&open_files(&unrenamed, tiny), &without);

        // Retention ran once the file was durable; a crash may stop its deletes anywhere.
        let end = files_now(dir.path());
        let deleted: Vec<_> = crashed.iter().filter(|(name, _)| end.iter().all(|(n, _)| n != name)).collect();
        assert!(!deleted.is_empty(), "{stage:?}: retention deleted something");
        assert_same(&open_files(&end, tiny), &with);
        for file in &deleted {
            let mut partly = end.clone();
            partly.push((*file).clone());
            assert_same(&open_files(&partly, tiny), &with);
        }
    }
}

#[test]
fn a_checkpoint_waiting_behind_one_being_written_gives_way_to_a_newer_one() {
    let dir = tempdir();
    let mut all = vec![op(LogOp::Epochs { accepted: 1, current: 1 })];
    all.extend(appends(1, 30));
    write_steps(dir.path(), options(), &all);
    let (storage, _) = open(dir.path(), options());
    let (hook, reached, release) = hold_at(Stage::Started);
    let writer = storage.start_with_hook(|_| {}, hook);
    let more = [checkpoint(1, 10), op(append(1, 31)), checkpoint(1, 20), op(append(1, 32)), checkpoint(1, 25)];
    for (i, step) in more.iter().enumerate() {
        match step {
            Step::Op(op) => writer.persist(i as u64 + 1, op.clone()),
            Step::Checkpoint(zxid, bytes) => writer.checkpoint(*zxid, bytes.clone()),
        }
        if i == 0 {
            reached.recv().unwrap();
        }
    }
    release.send(()).unwrap();
    writer.close().unwrap();
    all.extend(more);
    // Lsns: epochs 1, appends 2..=31; the checkpoints stand before lsns 32, 33 and 34.
    assert_eq!(checkpoints(dir.path()).iter().map(|p| first_lsn(p)).collect::<Vec<_>>(), [32, 34]);
    let image = open(dir.path(), options()).1;
    assert_same(&image, &model_all(&all));
    assert_eq!(image.snapshot_zxid(), Zxid::new(1, 25));
}

/// The node asks `checkpoint_busy` before it builds a snapshot: busy from the hand-over until
/// the file is durable, and not for a checkpoint that is not newer than the last.
#[test]
fn a_checkpoint_is_busy_until_its_file_is_durable() {
    let dir = tempdir();
    let (storage, _) = open(dir.path(), options());
    let (hook, reached, release) = hold_at(Stage::Synced);
    let (reports, seen) = mpsc::channel();
    let writer = storage.start_with_hook(move |seq| reports.send(seq).unwrap(), hook);
    assert!(!writer.checkpoint_busy());
    persist_and_wait(&writer, &seen, &appends(1, 10));
    let Step::Checkpoint(zxid, bytes) = checkpoint(1, 10) else { unreachable!() };
    writer.checkpoint(zxid, bytes.clone());
    assert!(writer.checkpoint_busy(), "busy from the hand-over");
    reached.recv().unwrap();
    assert!(writer.checkpoint_busy(), "busy while its file is written");
    release.send(()).unwrap();
    let idle = |writer: &super::super::Writer| {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        while writer.checkpoint_busy() {
            assert!(std::time::Instant::now() < deadline, "still busy");
            std::thread::sleep(std::time::Duration::from_millis(1));
        }
    };
    idle(&writer);
    assert_eq!(checkpoints(dir.path()).len(), 1, "idle once the file is durable");
    // Not newer than the last: ignored, and not busy for long.
    writer.checkpoint(zxid, bytes);
    idle(&writer);
    writer.close().unwrap();
}

/// A snapshot install while a checkpoint file is being written: the checkpoint is older than
/// the new base segment, so it never counts and its file goes.
#[test]
fn an_install_while_a_checkpoint_is_written_supersedes_it() {
    for stage in [Stage::Synced, Stage::Renamed, Stage::Durable] {
        let dir = tempdir();
        let mut all = vec![op(LogOp::Epochs { accepted: 1, current: 1 })];
        all.extend(appends(1, 20));
        write_steps(dir.path(), options(), &all);
        let (storage, _) = open(dir.path(), options());
        let (reports, seen) = mpsc::channel();
        let (hook, reached, release) = hold_at(stage);
        let writer = storage.start_with_hook(move |seq| reports.send(seq).unwrap(), hook);
        writer.checkpoint(Zxid::new(1, 15), b"state at 1:15".to_vec());
        reached.recv().unwrap();
        let install = [op(LogOp::InstallSnapshot { zxid: Zxid::new(2, 5), snapshot: vec![5; 40] }), op(append(2, 6))];
        persist_and_wait(&writer, &seen, &install);
        all.push(checkpoint(1, 15));
        all.extend(install);
        assert_same(&open_files(&files_now(dir.path()), options()), &model_all(&all));
        release.send(()).unwrap();
        writer.close().unwrap();
        assert!(checkpoints(dir.path()).is_empty(), "{stage:?}");
        assert_eq!(segments(dir.path()).len(), 1, "{stage:?}");
        assert_same(&open(dir.path(), options()).1, &model_all(&all));
    }
}

/// A snapshot handed over unbuilt is serialised on the checkpoint thread, and recovers the
/// same as one handed over as bytes.
#[test]
fn a_snapshot_built_on_the_checkpoint_thread_recovers_the_same() {
    let dir = tempdir();
    let (storage, _) = open(dir.path(), options());
    let (reports, seen) = mpsc::channel();
    let writer = storage.start(move |seq| reports.send(seq).unwrap(), |_| {});
    let mut all = appends(1, 10);
    persist_and_wait(&writer, &seen, &all);
    let step = checkpoint(1, 10);
    let Step::Checkpoint(zxid, bytes) = step.clone() else { unreachable!() };
    let (built_on, thread) = mpsc::channel();
    writer.checkpoint(
        zxid,
        super::super::Snapshot::Build(Box::new(move || {
            built_on.send(std::thread::current().name().map(String::from)).unwrap();
            bytes
        })),
    );
    assert_eq!(thread.recv().unwrap().as_deref(), Some("zabkeeper-checkpoint"));
    writer.close().unwrap();
    all.push(step);
    assert_eq!(checkpoints(dir.path()).len(), 1);
    assert_same(&open(dir.path(), options()).1, &model_all(&all));
}

/// Waits (bounded) until the writer says it failed.
fn wait_failed(writer: &crate::storage::Writer) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while !writer.failed() {
        assert!(std::time::Instant::now() < deadline, "the writer never said it failed");
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
}

/// A panic on the writer thread (here in the `durable` report) is a storage failure the node
/// sees, never a writer that silently stops reporting writes durable.
#[test]
fn a_panic_on_the_writer_thread_counts_as_a_storage_failure() {
    let dir = tempdir();
    let (storage, _) = open(dir.path(), StorageOptions::default());
    let writer = storage.start(|_| panic!("deliberate: the durable report panics"), |_| {});
    writer.persist(1, LogOp::Epochs { accepted: 1, current: 1 });
    wait_failed(&writer);
    assert!(matches!(writer.close(), Err(StorageError::WriterLost)));
}

/// A panic on the checkpoint thread stops the writer at the next write: a checkpoint that never
/// reports would keep the log from ever being trimmed.
#[test]
fn a_panic_on_the_checkpoint_thread_stops_the_writer() {
    let dir = tempdir();
    let (storage, _) = open(dir.path(), StorageOptions::default());
    let writer = storage.start_with_hook(|_| {}, |_| panic!("deliberate: the checkpoint thread panics"));
    writer.persist(1, LogOp::Epochs { accepted: 1, current: 1 });
    writer.persist(2, append(1, 1));
    writer.checkpoint(Zxid::new(1, 1), b"state".to_vec());
    let mut seq = 3;
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while !writer.failed() {
        assert!(std::time::Instant::now() < deadline, "the writer never said it failed");
        writer.persist(seq, append(1, seq as u32 - 1));
        seq += 1;
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
    assert!(matches!(writer.close(), Err(StorageError::CheckpointerLost)));
}
