//! `logs` over the API: the file through ring reads, then (with follow) every write as it
//! lands.
//!
//! A reader first catches up by reading the log file at its own offset, paced by the
//! client's buffer. When a read returns end-of-file it turns live: each completed log write
//! covering [a, b) is sent from the in-memory buffer, starting at the reader's offset, so no
//! byte is sent twice or skipped even when a read raced with a write. The stream ends (its
//! reply) when the container has stopped and every byte has been sent.

use std::os::fd::AsFd;

use base64::Engine;
use rustix::fs::{Mode, OFlags};

use crate::api::proto::{ApiError, ErrorCode};
use crate::daemon::token::{conn as sub, Kind, Token};
use crate::daemon::Daemon;
use crate::fd_ledger::{Fd, Owner};
use crate::supervisor::container::{ReplyTo, Status};
use crate::sys::uring::Completion;

const READ_CHUNK: usize = 64 * 1024;

pub struct LogReader {
    pub reply: ReplyTo,
    pub ctr_key: usize,
    pub ctr_serial: u64,
    pub fd: Fd,
    pub offset: u64,
    pub follow: bool,
    pub op: Option<crate::sys::uring::OpId>,
    /// Caught up; fed from completed writes.
    pub live: bool,
    /// Waiting for the client to drain before the next read.
    pub waiting: bool,
}

impl Daemon {
    pub fn start_logs(&mut self, key: usize, follow: bool, r: ReplyTo) -> Result<(), ApiError> {
        if self.conns[r.conn].log_reader.is_some() {
            return Err(ApiError::new(
                ErrorCode::InvalidState,
                "a logs stream is already open on this connection",
            ));
        }
        let ct = &self.containers[key];
        let shown = ct.log_path.display();
        // The path may have been replaced since create (the container can reach it): never
        // block in open(2) on a FIFO, and read nothing but a regular file.
        let fd = rustix::fs::open(
            &ct.log_path,
            OFlags::RDONLY | OFlags::CLOEXEC | OFlags::NONBLOCK | OFlags::NOCTTY,
            Mode::empty(),
        )
        .map_err(|e| ApiError::new(ErrorCode::Internal, format!("openat {shown}: {e}")))?;
        let st = rustix::fs::fstat(&fd)
            .map_err(|e| ApiError::new(ErrorCode::Internal, format!("fstat {shown}: {e}")))?;
        if !rustix::fs::FileType::from_raw_mode(st.st_mode).is_file() {
            return Err(ApiError::new(
                ErrorCode::Internal,
                format!("{shown} is no longer a regular file"),
            ));
        }
        let serial = self.conns[r.conn].serial;
        self.conns[r.conn].log_reader = Some(LogReader {
            reply: r,
            ctr_key: key,
            ctr_serial: ct.serial,
            fd: Fd::new(fd, Owner::Client(serial), "log reader"),
            offset: 0,
            follow,
            op: None,
            live: false,
            waiting: false,
        });
        self.next_log_read(r.conn);
        Ok(())
    }

    fn next_log_read(&mut self, conn_key: usize) {
        let t = Token::encode(
            Kind::Conn,
            sub::LOG_READ,
            self.conns[conn_key].serial as u16,
            conn_key,
        );
        let conn = &mut self.conns[conn_key];
        let room = conn.has_room_for_events();
        let Some(lr) = conn.log_reader.as_mut() else {
            return;
        };
        if lr.op.is_some() || lr.live {
            return;
        }
        if !room {
            lr.waiting = true;
            return;
        }
        lr.waiting = false;
        let buf = Vec::with_capacity(READ_CHUNK);
        lr.op = Some(self.ring.read(lr.fd.as_fd(), buf, lr.offset, t));
    }

    /// Called when a connection's buffer has drained.
    pub fn resume_logs(&mut self, conn_key: usize) {
        if self.conns[conn_key]
            .log_reader
            .as_ref()
            .is_some_and(|l| l.waiting)
        {
            self.next_log_read(conn_key);
        }
    }

    pub fn on_log_read(&mut self, conn_key: usize, c: &mut Completion) {
        let conn = &mut self.conns[conn_key];
        let Some(lr) = conn.log_reader.as_mut() else {
            return;
        };
        lr.op = None;
        if conn.dead {
            return;
        }
        let buf = c.take_read_buf().unwrap_or_default();
        let r = lr.reply;
        if c.result < 0 {
            let e = std::io::Error::from_raw_os_error(-c.result);
            conn.log_reader = None;
            self.reply_err(
                r,
                ApiError::new(ErrorCode::Internal, format!("read log: {e}")),
            );
            return;
        }
        if !buf.is_empty() {
            lr.offset += buf.len() as u64;
            let ev = serde_json::json!({"id": r.id, "event": "log",
                "data": base64::engine::general_purpose::STANDARD.encode(&buf)});
            conn.queue_event(&ev, buf.len());
            self.dirty_conns.push(conn_key);
            self.next_log_read(conn_key);
            return;
        }
        // End of file.
        let (ctr_key, ctr_serial, offset, follow) =
            (lr.ctr_key, lr.ctr_serial, lr.offset, lr.follow);
        let ct = self
            .containers
            .get_mut(ctr_key)
            .filter(|ct| ct.serial == ctr_serial);
        match ct {
            Some(ct) if follow && ct.status != Status::Stopped => {
                if offset < ct.log.file_end() {
                    // A write landed after this read ran: read again.
                    self.next_log_read(conn_key);
                    return;
                }
                ct.followers.push(r);
                if let Some(lr) = self.conns[conn_key].log_reader.as_mut() {
                    lr.live = true;
                }
            }
            _ => {
                self.conns[conn_key].log_reader = None;
                self.reply_ok(r, serde_json::json!({}));
            }
        }
    }

    /// A log write [file_end - len, file_end) completed: feed live followers.
    pub fn feed_followers(&mut self, key: usize, data: &[u8]) {
        let ct = &self.containers[key];
        if ct.followers.is_empty() {
            return;
        }
        let a = ct.log.file_end();
        let b = a + data.len() as u64;
        let followers = ct.followers.clone();
        for r in followers {
            let Some(conn) = self
                .conns
                .get_mut(r.conn)
                .filter(|c| c.serial == r.serial && !c.dead)
            else {
                continue;
            };
            let Some(lr) = conn.log_reader.as_mut() else {
                continue;
            };
            if lr.offset >= b || lr.offset < a {
                continue;
            }
            let part = &data[(lr.offset - a) as usize..];
            lr.offset = b;
            let ev = serde_json::json!({"id": r.id, "event": "log",
                "data": base64::engine::general_purpose::STANDARD.encode(part)});
            conn.queue_event(&ev, part.len());
            self.dirty_conns.push(r.conn);
        }
        let conns = &self.conns;
        self.containers[key].followers.retain(|r| {
            conns
                .get(r.conn)
                .is_some_and(|c| c.serial == r.serial && !c.dead)
        });
    }

    /// The container stopped: end a follower's stream.
    pub fn end_log_follow(&mut self, r: ReplyTo) {
        if let Some(conn) = self.conns.get_mut(r.conn).filter(|c| c.serial == r.serial) {
            conn.log_reader = None;
        }
        self.reply_ok(r, serde_json::json!({}));
    }
}
