//! Container logs in the CRI format that kubelet reads:
//! `<RFC3339Nano timestamp> <stdout|stderr> <F|P> <content>\n`.
//!
//! `cri` formats and parses records (pure functions, property-tested and benchmarked);
//! `writer` owns a container's log file and its bounded buffer, and writes only through
//! the ring. Logs are never truncated on open.

pub mod cri;
pub mod follow;
pub mod writer;
