//! The container table and every container's state machine.
//!
//! Creating -> Created -> Starting -> Running -> Stopped, with the init's exit possible at
//! any point. A container becomes Stopped only when its process has been reaped, every
//! output stream has reached EOF/EIO (or the drain deadline), and every byte is in the log;
//! only then are waiters answered. It is freed only when no ring op names it any more, so
//! its fds are closed after the kernel is done with them. This module never blocks: every
//! wait is a ring completion or a ring timeout.

pub mod container;
pub mod exit;
pub mod given_up;
pub mod ids;
pub mod lifecycle;
pub mod signals;
pub mod state_dir;
pub mod stop;
pub mod warm_pool;
