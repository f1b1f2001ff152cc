//! zabkeeper's native server, as a library: only its durable storage, so that benches and
//! tools outside the `zabkeeper` binary can drive the same log code the server runs. The
//! server itself (network, peers, the node task) lives in the binary.

pub mod storage;
