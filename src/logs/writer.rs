//! A container's log file and its bounded buffer.
//!
//! Output is formatted into `pending`; at most one write per log is in flight (through the
//! ring, never a blocking write on the loop), so records land in order. When `pending` is
//! over its cap the output streams stop reading (the pty or pipe then fills up and the
//! container blocks, as with a slow terminal): memory stays bounded and nothing is dropped.

use std::io;
use std::os::fd::OwnedFd;
use std::path::Path;

use rustix::fs::{Mode, OFlags};

use super::cri::{format_chunk, Clock, Stream};
use crate::fd_ledger::{Fd, Owner};

/// Above this many buffered bytes, readers pause until the in-flight write completes.
pub const LOG_BUFFER_CAP: usize = 256 * 1024;
/// Framing of one record ("<30-byte timestamp> stdout F " + "\n") plus one content byte.
const WORST_CASE_RECORD_BYTES: usize = 42;

pub struct LogWriter {
    /// None once the container has stopped: nothing writes after that.
    pub fd: Option<Fd>,
    pending: Vec<u8>,
    spare: Vec<u8>,
    inflight: bool,
    /// Output bytes accepted from the container (before CRI framing).
    pub content_bytes: u64,
    /// Bytes the kernel has confirmed written to the file.
    pub written_bytes: u64,
    /// Bytes lost to failed writes (e.g. ENOSPC), reported by inspect.
    pub lost_bytes: u64,
    pub last_error: Option<String>,
    /// File size when it was opened (logs are appended to, never truncated).
    base: u64,
}

impl LogWriter {
    /// Opens (never truncates) the log at `path`, which must be a regular file.
    ///
    /// O_NONBLOCK keeps a FIFO or device at that path from blocking the loop in open(2)
    /// (it means nothing for a regular file); anything but a regular file is refused.
    pub fn open(path: &Path, owner: Owner) -> io::Result<Self> {
        let fd: OwnedFd = rustix::fs::open(
            path,
            OFlags::WRONLY
                | OFlags::CREATE
                | OFlags::APPEND
                | OFlags::CLOEXEC
                | OFlags::NONBLOCK
                | OFlags::NOCTTY,
            Mode::from_raw_mode(0o640),
        )
        .map_err(|e| io::Error::other(format!("openat {}: {e}", path.display())))?;
        let st = rustix::fs::fstat(&fd)
            .map_err(|e| io::Error::other(format!("fstat {}: {e}", path.display())))?;
        if !rustix::fs::FileType::from_raw_mode(st.st_mode).is_file() {
            return Err(io::Error::other(format!(
                "{} is not a regular file",
                path.display()
            )));
        }
        Ok(Self {
            base: st.st_size as u64,
            fd: Some(Fd::new(fd, owner, "log file")),
            ..Self::closed()
        })
    }

    /// A log with no file, for a container whose log could not be opened: it is killed
    /// before it runs, and nothing is ever written.
    pub fn closed() -> Self {
        Self {
            base: 0,
            fd: None,
            pending: Vec::new(),
            spare: Vec::new(),
            inflight: false,
            content_bytes: 0,
            written_bytes: 0,
            lost_bytes: 0,
            last_error: None,
        }
    }

    /// Formats one chunk of output into the buffer.
    pub fn append(&mut self, clock: &mut Clock, now: (i64, u32), stream: Stream, chunk: &[u8]) {
        self.content_bytes += chunk.len() as u64;
        format_chunk(clock, now, stream, chunk, &mut self.pending);
    }

    /// Closes the file once everything is written (the container has stopped).
    pub fn close(&mut self) {
        if self.idle() {
            self.fd = None;
        }
    }

    /// Offset of the end of everything the kernel has confirmed written.
    pub fn file_end(&self) -> u64 {
        self.base + self.written_bytes
    }

    /// How many bytes of output may be read now. Every byte can become a record of its own
    /// (an empty line costs 41 bytes of framing), so the read size is bounded such that even
    /// the worst case keeps the buffer under 2 x LOG_BUFFER_CAP. Zero: pause.
    pub fn read_allowance(&self) -> usize {
        if self.pending.len() >= LOG_BUFFER_CAP {
            return 0;
        }
        (2 * LOG_BUFFER_CAP - self.pending.len()) / WORST_CASE_RECORD_BYTES
    }

    /// Nothing buffered and nothing in flight.
    /// Formatted bytes waiting for a write.
    pub fn pending_len(&self) -> usize {
        self.pending.len()
    }

    pub fn idle(&self) -> bool {
        !self.inflight && self.pending.is_empty()
    }

    /// The buffer to submit next, if no write is in flight.
    pub fn take_for_write(&mut self) -> Option<Vec<u8>> {
        if self.inflight || self.pending.is_empty() || self.fd.is_none() {
            return None;
        }
        self.inflight = true;
        let mut next = std::mem::take(&mut self.spare);
        next.clear();
        Some(std::mem::replace(&mut self.pending, next))
    }

    /// Handles a write completion. Returns the remainder to resubmit after a short write.
    pub fn write_done(
        &mut self,
        buf: Vec<u8>,
        start: usize,
        result: i32,
    ) -> Option<(Vec<u8>, usize)> {
        if result < 0 {
            let lost = (buf.len() - start) as u64;
            self.lost_bytes += lost;
            self.last_error = Some(format!(
                "write log: {}",
                io::Error::from_raw_os_error(-result)
            ));
        } else {
            self.written_bytes += result as u64;
            let next = start + result as usize;
            if next < buf.len() {
                if result > 0 {
                    return Some((buf, next));
                }
                // A zero-length write makes no progress: count the rest as lost.
                self.lost_bytes += (buf.len() - next) as u64;
                self.last_error = Some("write log: no progress (0 bytes written)".into());
            }
        }
        self.inflight = false;
        if buf.capacity() <= 2 * LOG_BUFFER_CAP {
            self.spare = buf;
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buffers_swap_and_short_writes_resume() {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut w = LogWriter::open(&dir.path().join("c.log"), Owner::Container(1)).expect("open");
        let mut clock = Clock::default();
        w.append(&mut clock, (0, 0), Stream::Stdout, b"hello\n");
        assert!(!w.idle());
        let buf = w.take_for_write().expect("buffer");
        assert!(
            w.take_for_write().is_none(),
            "one write in flight at a time"
        );
        let len = buf.len();
        let (buf, start) = w.write_done(buf, 0, 3).expect("short write resubmits");
        assert_eq!(start, 3);
        assert!(w.write_done(buf, start, (len - 3) as i32).is_none());
        assert!(w.idle());
        assert_eq!(w.written_bytes, len as u64);
    }

    #[test]
    fn a_fifo_is_refused_without_blocking() {
        let dir = tempfile::tempdir().expect("tempdir");
        let p = dir.path().join("log");
        rustix::fs::mknodat(
            rustix::fs::CWD,
            &p,
            rustix::fs::FileType::Fifo,
            Mode::from_raw_mode(0o600),
            0,
        )
        .expect("mkfifo");
        // No reader: O_NONBLOCK makes open(2) fail with ENXIO instead of blocking.
        let err = LogWriter::open(&p, Owner::Container(1))
            .err()
            .expect("must fail");
        assert!(
            err.to_string().contains("No such device or address"),
            "{err}"
        );
        // With a reader the open succeeds, and the type check refuses it.
        let _reader =
            rustix::fs::open(&p, OFlags::RDONLY | OFlags::NONBLOCK, Mode::empty()).expect("reader");
        let err = LogWriter::open(&p, Owner::Container(1))
            .err()
            .expect("must fail");
        assert!(err.to_string().contains("is not a regular file"), "{err}");
    }

    #[test]
    fn open_never_truncates() {
        let dir = tempfile::tempdir().expect("tempdir");
        let p = dir.path().join("c.log");
        std::fs::write(&p, b"old line\n").expect("write");
        let _w = LogWriter::open(&p, Owner::Container(1)).expect("open");
        assert_eq!(std::fs::read(&p).expect("read"), b"old line\n");
    }
}
