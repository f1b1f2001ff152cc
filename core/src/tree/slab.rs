//! A chunked slab: stable `u32` handles, no doubling spikes when it grows past a million nodes.

use alloc::vec::Vec;

const CHUNK_BITS: u32 = 12;
const CHUNK_LEN: usize = 1 << CHUNK_BITS;

/// Handle of a node in the tree's slab.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct NodeId(pub(crate) u32);

#[derive(Debug, Clone)]
pub(crate) struct Slab<T> {
    chunks: Vec<Vec<Option<T>>>,
    free: Vec<u32>,
    len: usize,
}

impl<T> Default for Slab<T> {
    fn default() -> Self {
        Slab { chunks: Vec::new(), free: Vec::new(), len: 0 }
    }
}

impl<T> Slab<T> {
    pub(crate) fn len(&self) -> usize {
        self.len
    }

    pub(crate) fn insert(&mut self, value: T) -> NodeId {
        self.len += 1;
        if let Some(id) = self.free.pop() {
            let slot = self.slot_mut(NodeId(id));
            debug_assert!(slot.is_none());
            *slot = Some(value);
            return NodeId(id);
        }
        if self.chunks.last().is_none_or(|c| c.len() == CHUNK_LEN) {
            self.chunks.push(Vec::with_capacity(CHUNK_LEN));
        }
        let chunk_index = self.chunks.len() - 1;
        let chunk = self.chunks.last_mut().expect("a chunk was just ensured");
        let id = (chunk_index << CHUNK_BITS) | chunk.len();
        chunk.push(Some(value));
        NodeId(u32::try_from(id).expect("fewer than 2^32 znodes"))
    }

    pub(crate) fn remove(&mut self, id: NodeId) -> T {
        let value = self.slot_mut(id).take().expect("removing a live slab entry");
        self.free.push(id.0);
        self.len -= 1;
        value
    }

    pub(crate) fn get(&self, id: NodeId) -> &T {
        let (c, i) = split(id);
        match self.chunks.get(c).and_then(|chunk| chunk.get(i)) {
            Some(Some(value)) => value,
            _ => panic!("dangling node id {}", id.0),
        }
    }

    pub(crate) fn get_mut(&mut self, id: NodeId) -> &mut T {
        self.slot_mut(id).as_mut().expect("live slab entry")
    }

    fn slot_mut(&mut self, id: NodeId) -> &mut Option<T> {
        let (c, i) = split(id);
        match self.chunks.get_mut(c).and_then(|chunk| chunk.get_mut(i)) {
            Some(slot) => slot,
            None => panic!("node id {} out of range", id.0),
        }
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
}
