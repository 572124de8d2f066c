//! ringmon: one daemon, one thread, one io_uring, supervising thousands of containers.
//!
//! Module map (data flows top to bottom): `sys` (the only unsafe code), `fd_ledger`,
//! `daemon` (the loop and its tokens), `api` (socket protocol), `supervisor` (container
//! state machines), `cgroups` (per-container cgroups, limits, kill-all, OOM), `runtime` (parent side of spawning), `init` (child side after the
//! re-exec), `stdio` (output, stdin), `reaper`, `logs`, `cli` (the client).
#![deny(unsafe_code)]

pub mod api;
pub mod cgroups;
pub mod cli;
pub mod daemon;
pub mod fd_ledger;
pub mod init;
pub mod logs;
pub mod reaper;
pub mod runtime;
pub mod stdio;
pub mod supervisor;
#[allow(unsafe_code)]
pub mod sys;
