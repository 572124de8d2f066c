//! Stdin and terminal size: client bytes to the pty master or the stdin pipe.
//!
//! Writes are non-blocking; what the container does not take yet waits in a bounded queue
//! and goes out when a one-shot POLLOUT fires. A full queue refuses more input with an
//! error rather than growing.

use std::os::fd::{AsFd, BorrowedFd};

use crate::api::proto::{ApiError, ErrorCode};
use crate::daemon::token::ctr;
use crate::daemon::{Daemon, POLLOUT};
use crate::supervisor::container::{Container, STDIN_QUEUE_CAP};
use crate::sys::uring::Completion;

fn stdin_fd(ct: &Container) -> Option<BorrowedFd<'_>> {
    let sink = ct.stdin.as_ref()?;
    match &sink.pipe {
        Some(p) => Some(p.as_fd()),
        None if ct.tty => ct.streams.first()?.as_ref().map(|s| s.fd.as_fd()),
        None => None,
    }
}

impl Daemon {
    pub fn write_stdin(&mut self, key: usize, data: &[u8], eof: bool) -> Result<(), ApiError> {
        let ct = &mut self.containers[key];
        let name = ct.name.clone();
        let Some(sink) = ct.stdin.as_mut() else {
            return Err(ApiError::new(
                ErrorCode::InvalidState,
                format!("container {name} has no stdin (create it with stdin or tty)"),
            ));
        };
        if sink.queue.len() + data.len() > STDIN_QUEUE_CAP {
            return Err(ApiError::new(
                ErrorCode::LimitReached,
                format!(
                    "container {name}: stdin buffer full ({STDIN_QUEUE_CAP} bytes); retry later"
                ),
            ));
        }
        sink.queue.extend_from_slice(data);
        sink.eof_requested |= eof;
        self.pump_stdin(key);
        Ok(())
    }

    fn pump_stdin(&mut self, key: usize) {
        let ct = &mut self.containers[key];
        let Some(sink) = ct.stdin.as_mut() else {
            return;
        };
        let mut queue = std::mem::take(&mut sink.queue);
        let eof = sink.eof_requested;
        let mut blocked = false;
        match stdin_fd(ct) {
            None => queue.clear(),
            Some(fd) => {
                while !queue.is_empty() {
                    match rustix::io::write(fd, &queue) {
                        Ok(n) => {
                            queue.drain(..n);
                        }
                        Err(rustix::io::Errno::AGAIN) => {
                            blocked = true;
                            break;
                        }
                        Err(rustix::io::Errno::INTR) => {}
                        // EPIPE/EIO: the reader is gone; input has nowhere to go.
                        Err(_) => queue.clear(),
                    }
                }
            }
        }
        let done = queue.is_empty() && eof;
        if let Some(sink) = ct.stdin.as_mut() {
            sink.queue = queue;
            if done && sink.poll.is_none() {
                // Closing the pipe's write end is the container's EOF on stdin.
                sink.pipe = None;
                if !ct.tty {
                    ct.stdin = None;
                }
                return;
            }
        }
        let needs_poll = blocked && ct.stdin.as_ref().is_some_and(|s| s.poll.is_none());
        if needs_poll {
            let t = self.ctr_token(key, ctr::STDIN);
            let ct = &self.containers[key];
            let op = stdin_fd(ct).map(|fd| self.ring.poll(fd, POLLOUT, false, t));
            let ct = &mut self.containers[key];
            if let (Some(op), Some(s)) = (op, ct.stdin.as_mut()) {
                s.poll = Some(op);
                ct.ops += 1;
            }
        }
    }

    pub fn on_stdin_writable(&mut self, key: usize, _c: &Completion) {
        if let Some(s) = self.containers[key].stdin.as_mut() {
            s.poll = None;
        }
        self.pump_stdin(key);
    }

    pub fn resize(&mut self, key: usize, rows: u16, cols: u16) -> Result<(), ApiError> {
        let ct = &self.containers[key];
        if rows == 0 || cols == 0 {
            return Err(ApiError::new(
                ErrorCode::BadRequest,
                "rows and cols must be positive",
            ));
        }
        if !ct.tty {
            return Err(ApiError::new(
                ErrorCode::InvalidState,
                format!("container {} has no tty", ct.name),
            ));
        }
        let Some(s) = ct.streams.first().and_then(|s| s.as_ref()) else {
            return Err(ApiError::new(
                ErrorCode::InvalidState,
                format!("container {}: the terminal is closed", ct.name),
            ));
        };
        let ws = rustix::termios::Winsize {
            ws_row: rows,
            ws_col: cols,
            ws_xpixel: 0,
            ws_ypixel: 0,
        };
        rustix::termios::tcsetwinsize(&s.fd, ws).map_err(|e| {
            ApiError::new(
                ErrorCode::Internal,
                format!("ioctl TIOCSWINSZ {}: {e}", ct.name),
            )
        })
    }
}
