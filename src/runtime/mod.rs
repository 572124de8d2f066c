//! The parent side of container creation, and what parent and init share.
//!
//! `sealed_exe` makes the daemon's one sealed memfd copy of its own binary; `handshake`
//! is the typed message protocol between the daemon and a container's init; `spawn`
//! starts an init (vfork-style clone + execveat of the memfd) and hands it its job; `warm`
//! keeps a few inits cloned ahead of the containers that will take them. This
//! module never waits: everything after the clone is driven by the event loop.

pub mod handshake;
pub mod sealed_exe;
pub mod spawn;
pub mod spec;
pub mod warm;
pub mod zygote;
