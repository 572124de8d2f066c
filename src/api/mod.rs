//! The Unix-socket API: newline-delimited JSON, versioned, documented in docs/api.md.
//!
//! `proto` defines every request, reply and event (shared by the daemon and the client);
//! `conn` owns one connection's bounded buffers and framing; `dispatch` maps requests to
//! supervisor calls; `client` is the blocking client the CLI and the stress tool use.
//! A handler never blocks and never trusts input: a malformed line gets an error reply
//! naming what was wrong, an oversized one closes only that connection.

pub mod client;
pub mod conn;
pub mod dispatch;
pub mod proto;
