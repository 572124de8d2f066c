//! Container stdio in the daemon: output streams (pty master or pipes) read through ring
//! readiness, fanned out to attached clients and into the log; stdin and resize.
//!
//! Reads use multishot POLL_ADD plus a non-blocking read(2) on a shared scratch buffer
//! (as cheap as READ_MULTISHOT here, see ../shared/kernel-notes.md) and stop at EOF (pipes)
//! or EIO (pty, once every slave fd is closed). A stream is closed only after its poll's
//! final completion. Nothing here splices or starts io-wq workers.

pub mod output;
pub mod stdin;
