//! The only module allowed to use `unsafe`.
//!
//! It wraps the few kernel interfaces that rustix does not offer (io_uring submission,
//! a vfork-style clone with a pidfd, execveat/execve, close_range, signal masks and
//! signalfd, mount_setattr) behind safe functions. Every `unsafe` block names the invariants it relies on.
//! Nothing here knows about containers, the API or logs: callers own policy, this module
//! owns memory safety.

pub mod exec;
pub mod mount;
pub mod process;
pub mod signals;
pub mod spawn;
pub mod uring;
