//! A chunked slab: stable `u32` handles, no doubling spikes when it grows past a million nodes,
//! and clones that cost next to nothing.
//!
//! Chunks and entries are reference-counted and copied on write: cloning the slab copies one
//! pointer per chunk of 4,096 entries; afterwards, the first change to a chunk copies its
//! pointer array and the first change to an entry copies that entry, while the clone keeps the
//! old ones. That is what lets a server serialise a snapshot of a million znodes on another
//! thread without holding up its writes.

use alloc::boxed::Box;
use alloc::sync::Arc;
use alloc::vec::Vec;

const CHUNK_BITS: u32 = 12;
const CHUNK_LEN: usize = 1 << CHUNK_BITS;

/// Handle of a node in the tree's slab.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct NodeId(pub(crate) u32);

/// A whole chunk in one allocation (with its reference counts): a lookup goes from the chunk
/// list straight to the entry's pointer, then to the entry.
type Chunk<T> = [Option<Arc<T>>; CHUNK_LEN];

#[derive(Debug)]
pub(crate) struct Slab<T> {
    chunks: Vec<Arc<Chunk<T>>>,
    free: Vec<u32>,
    len: usize,
    /// Entries ever handed out (the next fresh handle).
    used: usize,
}

impl<T> Clone for Slab<T> {
    fn clone(&self) -> Self {
        Slab { chunks: self.chunks.clone(), free: self.free.clone(), len: self.len, used: self.used }
    }
}

impl<T> Default for Slab<T> {
    fn default() -> Self {
        Slab { chunks: Vec::new(), free: Vec::new(), len: 0, used: 0 }
    }
}

impl<T: Clone> Slab<T> {
    pub(crate) fn len(&self) -> usize {
        self.len
    }

    pub(crate) fn insert(&mut self, value: T) -> NodeId {
        self.len += 1;
        if let Some(id) = self.free.pop() {
            let slot = self.slot_mut(NodeId(id));
            debug_assert!(slot.is_none());
            *slot = Some(Arc::new(value));
            return NodeId(id);
        }
        let id = NodeId(u32::try_from(self.used).expect("fewer than 2^32 znodes"));
        if self.used == self.chunks.len() * CHUNK_LEN {
            self.chunks.push(chunk_from((0..CHUNK_LEN).map(|_| None)));
        }
        self.used += 1;
        *self.slot_mut(id) = Some(Arc::new(value));
        id
    }

    pub(crate) fn remove(&mut self, id: NodeId) -> T {
        let value = self.slot_mut(id).take().expect("removing a live slab entry");
        self.free.push(id.0);
        self.len -= 1;
        Arc::unwrap_or_clone(value)
    }

    pub(crate) fn get(&self, id: NodeId) -> &T {
        let (c, i) = split(id);
        match self.chunks.get(c).and_then(|chunk| chunk.get(i)) {
            Some(Some(value)) => value,
            _ => panic!("dangling node id {}", id.0),
        }
    }

    pub(crate) fn get_mut(&mut self, id: NodeId) -> &mut T {
        Arc::make_mut(self.slot_mut(id).as_mut().expect("live slab entry"))
    }

    fn slot_mut(&mut self, id: NodeId) -> &mut Option<Arc<T>> {
        let (c, i) = split(id);
        let Some(chunk) = self.chunks.get_mut(c) else { panic!("node id {} out of range", id.0) };
        if Arc::get_mut(chunk).is_none() {
            // Shared with a clone: this slab gets its own copy of the pointer array.
            *chunk = chunk_from(chunk.iter().cloned());
        }
        match Arc::get_mut(chunk).and_then(|chunk| chunk.get_mut(i)) {
            Some(slot) => slot,
            None => panic!("node id {} out of range", id.0),
        }
    }
}

/// A chunk built on the heap. (Through a stack array, every function that might build one
/// would carry a 32 KiB frame, probed page by page on each call, even when it builds none.)
#[cold]
#[inline(never)]
fn chunk_from<T>(entries: impl Iterator<Item = Option<Arc<T>>>) -> Arc<Chunk<T>> {
    let entries: Box<[Option<Arc<T>>]> = entries.collect();
    match Box::<Chunk<T>>::try_from(entries) {
        Ok(chunk) => Arc::from(chunk),
        Err(entries) => panic!("a chunk holds {CHUNK_LEN} entries, not {}", entries.len()),
    }
}

fn split(id: NodeId) -> (usize, usize) {
    let id = id.0 as usize;
    (id >> CHUNK_BITS, id & (CHUNK_LEN - 1))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn handles_stay_stable_and_slots_are_reused() {
        let mut slab = Slab::default();
        let ids: Vec<NodeId> = (0..10_000u32).map(|i| slab.insert(i)).collect();
        assert_eq!(slab.len(), 10_000);
        assert_eq!(*slab.get(ids[5000]), 5000);
        assert_eq!(slab.remove(ids[17]), 17);
        let again = slab.insert(99);
        assert_eq!(again, ids[17]);
        assert_eq!(*slab.get(ids[9999]), 9999);
        assert_eq!(slab.len(), 10_000);
    }

    #[test]
    fn a_clone_keeps_what_it_saw() {
        let mut slab = Slab::default();
        let ids: Vec<NodeId> = (0..13_000u32).map(|i| slab.insert(i)).collect();
        let frozen = slab.clone();
        *slab.get_mut(ids[1]) = 1_000_001;
        assert_eq!(slab.remove(ids[4_500]), 4_500);
        let new = slab.insert(7);
        let more = slab.insert(8);
        assert_eq!(*slab.get(ids[1]), 1_000_001);
        assert_eq!(*slab.get(new), 7);
        assert_eq!(*slab.get(more), 8);
        assert_eq!(slab.len(), 13_001);
        // The clone still holds every old value and nothing new.
        assert_eq!(frozen.len(), 13_000);
        for (i, id) in ids.iter().enumerate() {
            assert_eq!(*frozen.get(*id), i as u32);
        }
        // Untouched chunks are still shared.
        assert!(Arc::ptr_eq(&slab.chunks[2], &frozen.chunks[2]));
        assert!(!Arc::ptr_eq(&slab.chunks[0], &frozen.chunks[0]));
    }
}
