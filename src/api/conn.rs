//! One API connection: bounded read and write buffers, line framing, non-blocking I/O.
//!
//! Reads happen when a multishot POLLIN fires; writes are attempted at once and, when the
//! socket is full, resumed on a one-shot POLLOUT. A client that sends a line longer than
//! MAX_REQUEST_LINE gets an error and is disconnected; one that stops reading loses stream
//! events beyond EVENT_BUFFER_CAP (counted and reported) and is disconnected if even its
//! replies exceed REPLY_BUFFER_CAP. Nothing here can stall the loop or grow without bound.

use std::io;

use rustix::net::{RecvFlags, SendFlags};

use super::proto::MAX_REQUEST_LINE;
use crate::fd_ledger::Fd;
use crate::sys::uring::OpId;

/// Stream events (output, log chunks) are dropped past this many queued bytes.
pub const EVENT_BUFFER_CAP: usize = 4 * 1024 * 1024;
/// A client whose unread replies exceed this is disconnected.
pub const REPLY_BUFFER_CAP: usize = 16 * 1024 * 1024;
/// At most this much is read from one connection per readiness event (fairness).
const READ_BUDGET: usize = 256 * 1024;

pub struct Conn {
    pub serial: u64,
    pub fd: Fd,

    pub poll_in: Option<OpId>,
    pub poll_out: Option<OpId>,
    rbuf: Vec<u8>,
    scanned: usize,
    wbuf: Vec<u8>,
    wpos: usize,
    /// No more requests are read; the connection closes once its replies are flushed.
    pub closing: bool,
    /// The peer is gone or misbehaved beyond repair; free once no op is in flight.
    pub dead: bool,
    pub dropped_bytes: u64,
    /// The one `logs` stream this connection may have open.
    pub log_reader: Option<crate::logs::follow::LogReader>,
}

pub enum ReadOutcome {
    /// Zero or more complete lines were extracted; the socket is drained for now.
    Open,
    /// The read budget ran out with data still queued: read again on the next loop turn
    /// (the multishot poll will not fire again for data that is already there).
    More,
    /// The peer closed its side (or reset).
    Eof,
    /// A line exceeded MAX_REQUEST_LINE.
    Oversized,
}

impl Conn {
    pub fn new(serial: u64, fd: Fd) -> Self {
        Self {
            serial,
            fd,

            poll_in: None,
            poll_out: None,
            rbuf: Vec::new(),
            scanned: 0,
            wbuf: Vec::new(),
            wpos: 0,
            closing: false,
            dead: false,
            dropped_bytes: 0,
            log_reader: None,
        }
    }

    /// Reads what the socket has (up to the budget) and appends complete lines to `lines`.
    pub fn read_lines(&mut self, scratch: &mut [u8], lines: &mut Vec<Vec<u8>>) -> ReadOutcome {
        let mut budget = READ_BUDGET;
        loop {
            match rustix::net::recv(&self.fd, &mut *scratch, RecvFlags::DONTWAIT) {
                Ok((0, _)) => {
                    self.split(lines);
                    return ReadOutcome::Eof;
                }
                Ok((n, _)) => {
                    self.rbuf.extend_from_slice(&scratch[..n]);
                    self.split(lines);
                    if self.rbuf.len() > MAX_REQUEST_LINE {
                        return ReadOutcome::Oversized;
                    }
                    // A short read does not mean the socket is drained to its end: the
                    // peer's shutdown may already be queued behind this data, and the
                    // multishot poll will not fire again for it. Read until EAGAIN or 0.
                    budget = budget.saturating_sub(n);
                    if budget == 0 {
                        return ReadOutcome::More;
                    }
                }
                Err(rustix::io::Errno::AGAIN) => return ReadOutcome::Open,
                Err(rustix::io::Errno::INTR) => {}
                Err(_) => return ReadOutcome::Eof,
            }
        }
    }

    fn split(&mut self, lines: &mut Vec<Vec<u8>>) {
        let mut start = 0;
        let mut i = self.scanned;
        while let Some(off) = self.rbuf[i..].iter().position(|&b| b == b'\n') {
            let end = i + off;
            if end > start {
                lines.push(self.rbuf[start..end].to_vec());
            }
            start = end + 1;
            i = start;
        }
        self.rbuf.drain(..start);
        self.scanned = self.rbuf.len();
    }

    fn queued(&self) -> usize {
        self.wbuf.len() - self.wpos
    }

    /// Queues a reply line. Replies are never dropped; a client that does not read them
    /// is disconnected.
    pub fn queue_reply(&mut self, value: &serde_json::Value) {
        if self.dead {
            return;
        }
        self.note_dropped(value);
        if serde_json::to_writer(&mut self.wbuf, value).is_ok() {
            self.wbuf.push(b'\n');
        }
        if self.queued() > REPLY_BUFFER_CAP {
            self.dead = true;
        }
    }

    /// Queues a stream event unless the client is too far behind; returns false if dropped.
    pub fn queue_event(&mut self, value: &serde_json::Value, payload_len: usize) -> bool {
        if self.dead {
            return false;
        }
        if self.queued() > EVENT_BUFFER_CAP {
            self.dropped_bytes += payload_len as u64;
            return false;
        }
        self.note_dropped(value);
        let _ = serde_json::to_writer(&mut self.wbuf, value);
        self.wbuf.push(b'\n');
        true
    }

    /// Tells the client how much stream data it missed, before the next thing it gets
    /// (another event, or the reply that ends the stream).
    fn note_dropped(&mut self, next: &serde_json::Value) {
        if self.dropped_bytes > 0 {
            let note = serde_json::json!({"event": "dropped", "bytes": self.dropped_bytes,
                "id": next.get("id").cloned().unwrap_or_default()});
            self.dropped_bytes = 0;
            let _ = serde_json::to_writer(&mut self.wbuf, &note);
            self.wbuf.push(b'\n');
        }
    }

    /// Whether there is room for more stream data (logs readers pace themselves on this).
    pub fn has_room_for_events(&self) -> bool {
        self.queued() < EVENT_BUFFER_CAP / 2
    }

    pub fn wants_write(&self) -> bool {
        self.queued() > 0
    }

    /// Writes as much as the socket takes. Ok(true): everything is out.
    pub fn flush(&mut self) -> io::Result<bool> {
        while self.wpos < self.wbuf.len() {
            match rustix::net::send(
                &self.fd,
                &self.wbuf[self.wpos..],
                SendFlags::DONTWAIT | SendFlags::NOSIGNAL,
            ) {
                Ok(n) => self.wpos += n,
                Err(rustix::io::Errno::AGAIN) => break,
                Err(rustix::io::Errno::INTR) => {}
                Err(e) => return Err(e.into()),
            }
        }
        if self.wpos == self.wbuf.len() {
            self.wbuf.clear();
            self.wpos = 0;
            if self.wbuf.capacity() > 1024 * 1024 {
                self.wbuf.shrink_to(64 * 1024);
            }
            Ok(true)
        } else {
            if self.wpos > 1024 * 1024 {
                self.wbuf.drain(..self.wpos);
                self.wpos = 0;
            }
            Ok(false)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fd_ledger::Owner;

    fn pair() -> (Conn, std::os::unix::net::UnixStream) {
        let (a, b) = std::os::unix::net::UnixStream::pair().expect("pair");
        a.set_nonblocking(true).expect("nonblocking");
        let conn = Conn::new(1, Fd::new(a.into(), Owner::Client(1), "test conn"));
        (conn, b)
    }

    #[test]
    fn splits_lines_across_reads() {
        use std::io::Write;
        let (mut c, mut peer) = pair();
        let mut scratch = vec![0u8; 16];
        let mut lines = Vec::new();
        peer.write_all(b"{\"a\":1}\n{\"b\"").expect("write");
        assert!(matches!(
            c.read_lines(&mut scratch, &mut lines),
            ReadOutcome::Open
        ));
        assert_eq!(lines, vec![b"{\"a\":1}".to_vec()]);
        peer.write_all(b":2}\n").expect("write");
        lines.clear();
        c.read_lines(&mut scratch, &mut lines);
        assert_eq!(lines, vec![b"{\"b\":2}".to_vec()]);
        drop(peer);
        assert!(matches!(
            c.read_lines(&mut scratch, &mut lines),
            ReadOutcome::Eof
        ));
    }

    #[test]
    fn oversized_line_is_detected_without_growing_forever() {
        use std::io::Write;
        let (mut c, peer) = pair();
        let big = vec![b'x'; MAX_REQUEST_LINE + 10];
        let writer = std::thread::spawn(move || {
            let mut peer = peer;
            let _ = peer.write_all(&big);
        });
        let mut scratch = vec![0u8; 64 * 1024];
        let mut lines = Vec::new();
        let mut seen = false;
        for _ in 0..100_000 {
            match c.read_lines(&mut scratch, &mut lines) {
                ReadOutcome::Oversized => {
                    seen = true;
                    break;
                }
                ReadOutcome::Eof => break,
                ReadOutcome::Open | ReadOutcome::More => std::thread::yield_now(),
            }
        }
        assert!(seen);
        drop(c);
        let _ = writer.join();
    }

    #[test]
    fn the_dropped_count_precedes_the_reply_that_ends_a_stream() {
        let (mut c, _peer) = pair();
        let ev = serde_json::json!({"id": 1, "event": "output", "data": "x"});
        while c.queue_event(&ev, 1024) {}
        c.wbuf.clear();
        c.wpos = 0;
        c.queue_reply(&serde_json::json!({"id": 1, "ok": true}));
        let text = String::from_utf8(c.wbuf.clone()).expect("utf8");
        let first: serde_json::Value =
            serde_json::from_str(text.lines().next().expect("line")).expect("json");
        assert_eq!(first["event"], "dropped");
        assert_eq!(first["bytes"], 1024);
        assert!(text
            .lines()
            .nth(1)
            .is_some_and(|l| l.contains("\"ok\":true")));
    }

    #[test]
    fn events_are_dropped_not_buffered_without_bound() {
        let (mut c, _peer) = pair();
        let ev = serde_json::json!({"id": 1, "event": "output", "data": "x".repeat(1024)});
        let mut dropped = 0;
        for _ in 0..10_000 {
            if !c.queue_event(&ev, 1024) {
                dropped += 1;
            }
        }
        assert!(dropped > 0);
        assert!(c.queued() <= EVENT_BUFFER_CAP + 2048);
    }
}
