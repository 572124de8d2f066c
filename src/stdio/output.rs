//! Output: read, fan out, log, and the log writes that follow.

use std::os::fd::AsFd;

use base64::Engine;

use crate::daemon::token::ctr;
use crate::daemon::{Daemon, POLLIN};
use crate::supervisor::container::ReplyTo;
use crate::sys::uring::{Completion, Resource};

/// Poll events after which no later wake-up is due.
const HANGUP: u32 = (libc::POLLHUP | libc::POLLERR) as u32;

/// A log buffer smaller than this waits (up to `LOG_BATCH_DELAY`) for more output.
pub const LOG_BATCH_BYTES: usize = 64 * 1024;
/// How long a small log buffer waits; a follower (`logs -f`) sees output this much later
/// at most (attached clients get it as it is read).
const LOG_BATCH_DELAY: std::time::Duration = std::time::Duration::from_millis(5);

impl Daemon {
    pub fn arm_output(&mut self, key: usize, idx: usize) {
        let t = self.ctr_token(key, ctr::OUT + idx as u8);
        let ct = &mut self.containers[key];
        if let Some(s) = ct.streams[idx].as_mut() {
            if s.poll.is_none() && !s.done {
                s.poll = Some(self.ring.poll(s.fd.as_fd(), POLLIN, true, t));
                ct.ops += 1;
            }
        }
    }

    pub fn on_output(&mut self, key: usize, idx: usize, c: &Completion) {
        if let Some(s) = self.containers[key].streams[idx].as_mut() {
            if !c.more {
                s.poll = None;
            }
            // The hang-up is reported once, perhaps while reading is paused: remember it.
            s.hung_up |= c.result > 0 && c.result as u32 & HANGUP != 0;
        }
        self.read_output(key, idx);
        let ct = &mut self.containers[key];
        match ct.streams[idx].as_ref() {
            Some(s) if s.done && s.poll.is_none() => ct.streams[idx] = None,
            Some(s) if !s.done && !s.paused && s.poll.is_none() => self.arm_output(key, idx),
            _ => {}
        }
    }

    /// Reads until the stream is empty, ends, or the log buffer is full. A read shorter
    /// than asked for means the stream was empty: the poll wakes again when more comes,
    /// unless the writers are gone (`hung_up`), when only a read of EOF ends it.
    pub fn read_output(&mut self, key: usize, idx: usize) {
        let Self {
            containers,
            scratch,
            conns,
            clock,
            dirty_conns,
            ..
        } = self;
        let ct = &mut containers[key];
        let Some(s) = ct.streams[idx].as_mut() else {
            return;
        };
        let mut ended = false;
        while !s.done {
            let allowance = ct.log.read_allowance().min(scratch.len());
            if allowance == 0 {
                s.paused = true;
                break;
            }
            s.paused = false;
            match rustix::io::read(&s.fd, &mut scratch[..allowance]) {
                Ok(0) => ended = true,
                Ok(n) => {
                    let chunk = &scratch[..n];
                    let now = crate::logs::cri::Clock::now();
                    ct.log.append(clock, now, s.stream, chunk);
                    if !ct.attached.is_empty() {
                        ct.attached
                            .retain(|r| fan_out(conns, dirty_conns, r, s.stream, chunk));
                    }
                    if n < allowance && !s.hung_up {
                        break;
                    }
                }
                Err(rustix::io::Errno::AGAIN) => break,
                Err(rustix::io::Errno::INTR) => {}
                // EIO: the pty's last slave fd closed. Anything else ends the stream too.
                Err(_) => ended = true,
            }
            if ended {
                s.done = true;
            }
        }
        self.flush_log(key);
        if ended {
            self.close_stream(key, idx);
        }
    }

    /// Stops reading a stream; it is dropped once its poll has completed.
    pub fn close_stream(&mut self, key: usize, idx: usize) {
        let ct = &mut self.containers[key];
        let Some(s) = ct.streams[idx].as_mut() else {
            return;
        };
        s.done = true;
        match s.poll {
            Some(op) => self.ring.cancel(op),
            None => ct.streams[idx] = None,
        }
    }

    /// Submits the next log write if none is in flight; while the container's streams are
    /// open, a buffer under `LOG_BATCH_BYTES` waits up to `LOG_BATCH_DELAY` for more.
    /// Each write goes through an io-wq worker (buffered writes to ext4 cannot be done
    /// without blocking), so one per pty read of ~4 KiB cost more than the read itself
    /// (`ringmon-stress flood`, docs/benchmarks.md). Once every stream has ended, the rest is
    /// written at once: `wait` answers only when every byte is in the log.
    pub fn flush_log(&mut self, key: usize) {
        let ct = &self.containers[key];
        let ending = ct.streams.iter().flatten().all(|s| s.done);
        let pending = ct.log.pending_len();
        if !ending && pending < LOG_BATCH_BYTES {
            if pending > 0 && ct.log_timer.is_none() {
                let op = self.ctr_timeout(key, ctr::LOG_FLUSH, LOG_BATCH_DELAY);
                self.containers[key].log_timer = Some(op);
            }
            return;
        }
        self.submit_log(key);
    }

    /// Submits the next log write if none is in flight, whatever its size.
    pub fn submit_log(&mut self, key: usize) {
        let t = self.ctr_token(key, ctr::LOG_WRITE);
        let ct = &mut self.containers[key];
        if let Some(buf) = ct.log.take_for_write() {
            if let Some(fd) = &ct.log.fd {
                self.ring.write(fd.as_fd(), buf, 0, u64::MAX, t);
                ct.ops += 1;
            }
        }
    }

    pub fn on_log_write(&mut self, key: usize, c: &mut Completion) {
        let Resource::Buf { buf, start } = std::mem::replace(&mut c.resource, Resource::None)
        else {
            return;
        };
        if c.result > 0 {
            let end = start + c.result as usize;
            self.feed_followers(key, &buf[start..end]);
        }
        let ct = &mut self.containers[key];
        if let Some((buf, next)) = ct.log.write_done(buf, start, c.result) {
            let t = self.ctr_token(key, ctr::LOG_WRITE);
            let ct = &mut self.containers[key];
            if let Some(fd) = &ct.log.fd {
                self.ring.write(fd.as_fd(), buf, next, u64::MAX, t);
                ct.ops += 1;
            }
            return;
        }
        // Room again: resume paused readers before the next write goes out.
        for idx in 0..self.containers[key].streams.len() {
            let paused = self.containers[key].streams[idx]
                .as_ref()
                .is_some_and(|s| s.paused);
            if paused {
                self.read_output(key, idx);
                let still = self.containers[key].streams[idx]
                    .as_ref()
                    .is_some_and(|s| !s.done && !s.paused);
                if still {
                    self.arm_output(key, idx);
                }
            }
        }
        self.flush_log(key);
    }
}

/// Sends one chunk to an attached client; returns false when the client is gone.
fn fan_out(
    conns: &mut slab::Slab<crate::api::conn::Conn>,
    dirty: &mut Vec<usize>,
    r: &ReplyTo,
    stream: crate::logs::cri::Stream,
    chunk: &[u8],
) -> bool {
    let Some(conn) = conns.get_mut(r.conn) else {
        return false;
    };
    if conn.serial != r.serial || conn.dead {
        return false;
    }
    let ev = serde_json::json!({
        "id": r.id,
        "event": "output",
        "stream": stream,
        "data": base64::engine::general_purpose::STANDARD.encode(chunk),
    });
    conn.queue_event(&ev, chunk.len());
    dirty.push(r.conn);
    true
}
