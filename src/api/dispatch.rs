//! Connections and request dispatch: parse a line, check it, call the supervisor, reply.

use std::os::fd::{AsFd, OwnedFd};

use base64::Engine;
use serde::de::DeserializeOwned;

use super::conn::{Conn, ReadOutcome};
use super::proto::*;
use crate::daemon::token::{conn as sub, Kind, Token};
use crate::daemon::{Daemon, POLLIN, POLLOUT};
use crate::fd_ledger::{Fd, Owner};
use crate::supervisor::container::ReplyTo;
use crate::sys::uring::Completion;

/// At most this many API connections at once; more are refused with an error.
pub const MAX_CONNECTIONS: usize = 1024;

fn params<T: DeserializeOwned>(v: serde_json::Value) -> Result<T, ApiError> {
    let v = if v.is_null() {
        serde_json::json!({})
    } else {
        v
    };
    serde_json::from_value(v)
        .map_err(|e| ApiError::new(ErrorCode::BadRequest, format!("params: {e}")))
}

impl Daemon {
    fn conn_token(&self, key: usize, s: u8) -> u64 {
        Token::encode(Kind::Conn, s, self.conns[key].serial as u16, key)
    }

    pub fn add_conn(&mut self, fd: OwnedFd) {
        let serial = self.next_serial();
        let fd = Fd::new(fd, Owner::Client(serial), "api connection");
        let cred = rustix::net::sockopt::socket_peercred(&fd);
        let me = rustix::process::geteuid().as_raw();
        let uid = cred.as_ref().map(|c| c.uid.as_raw()).unwrap_or(u32::MAX);
        let mut conn = Conn::new(serial, fd);
        let refuse = if uid != 0 && uid != me {
            Some(ApiError::new(
                ErrorCode::PermissionDenied,
                format!("uid {uid} may not use this daemon (only root and uid {me})"),
            ))
        } else if self.conns.len() >= MAX_CONNECTIONS {
            Some(ApiError::new(
                ErrorCode::LimitReached,
                format!("too many connections ({MAX_CONNECTIONS})"),
            ))
        } else {
            None
        };
        if let Some(err) = refuse {
            conn.queue_reply(&serde_json::json!({"id": null, "ok": false, "error": err}));
            let _ = conn.flush();
            return;
        }
        let key = self.conns.insert(conn);
        let t = self.conn_token(key, sub::IN);
        let c = &mut self.conns[key];
        c.poll_in = Some(self.ring.poll(c.fd.as_fd(), POLLIN, true, t));
    }

    pub fn on_conn_completion(&mut self, t: Token, mut c: Completion) {
        let key = t.key as usize;
        match self.conns.get(key) {
            Some(conn) if conn.serial as u16 == t.generation => {}
            _ => return,
        }
        match t.sub {
            sub::IN => {
                if !c.more {
                    self.conns[key].poll_in = None;
                }
                if !self.conns[key].dead && !self.conns[key].closing {
                    self.read_requests(key);
                }
                let conn = &self.conns[key];
                if conn.poll_in.is_none() && !conn.dead && !conn.closing {
                    let t = self.conn_token(key, sub::IN);
                    let conn = &mut self.conns[key];
                    conn.poll_in = Some(self.ring.poll(conn.fd.as_fd(), POLLIN, true, t));
                }
            }
            sub::OUT => {
                self.conns[key].poll_out = None;
                self.dirty_conns.push(key);
            }
            sub::LOG_READ => self.on_log_read(key, &mut c),
            _ => {}
        }
        self.maybe_free_conn(key);
    }

    /// Connections whose read budget ran out last turn.
    pub fn read_pending_conns(&mut self) {
        for key in std::mem::take(&mut self.read_again) {
            let live = self.conns.get(key).is_some_and(|c| !c.dead && !c.closing);
            if live {
                self.read_requests(key);
            }
        }
    }

    fn read_requests(&mut self, key: usize) {
        let mut lines = Vec::new();
        let Self { conns, scratch, .. } = self;
        let outcome = conns[key].read_lines(scratch, &mut lines);
        for line in lines {
            self.handle_line(key, &line);
        }
        match outcome {
            ReadOutcome::Open => {}
            ReadOutcome::More => self.read_again.push(key),
            ReadOutcome::Eof => {
                // The peer may only have shut down its writing side: its replies are still
                // owed. Close once they are flushed (or the socket fails).
                self.conns[key].closing = true;
                self.close_conn(key);
            }
            ReadOutcome::Oversized => {
                let err = ApiError::new(
                    ErrorCode::BadRequest,
                    format!(
                        "request line exceeds {MAX_REQUEST_LINE} bytes; closing the connection"
                    ),
                );
                self.conns[key]
                    .queue_reply(&serde_json::json!({"id": null, "ok": false, "error": err}));
                self.conns[key].closing = true;
                self.close_conn(key);
            }
        }
        self.dirty_conns.push(key);
    }

    fn handle_line(&mut self, key: usize, line: &[u8]) {
        let env: Envelope = match serde_json::from_slice(line) {
            Ok(e) => e,
            Err(e) => {
                let id = serde_json::from_slice::<serde_json::Value>(line)
                    .ok()
                    .and_then(|v| v.get("id").and_then(|i| i.as_u64()));
                let err = ApiError::new(ErrorCode::BadRequest, format!("malformed request: {e}"));
                self.conns[key]
                    .queue_reply(&serde_json::json!({"id": id, "ok": false, "error": err}));
                return;
            }
        };
        let reply = ReplyTo {
            conn: key,
            serial: self.conns[key].serial,
            id: env.id,
        };
        if env.v != PROTOCOL_VERSION {
            let msg = format!(
                "unsupported protocol version {} (this daemon speaks {PROTOCOL_VERSION})",
                env.v
            );
            self.reply_err(reply, ApiError::new(ErrorCode::UnsupportedVersion, msg));
            return;
        }
        if let Err(e) = self.handle(env.method.as_str(), env.params, reply) {
            self.reply_err(reply, e);
        }
    }

    /// Runs one request. Ok(()) means it was answered or will be (wait, create, streams).
    fn handle(&mut self, method: &str, p: serde_json::Value, r: ReplyTo) -> Result<(), ApiError> {
        match method {
            "version" => {
                let NoParams {} = params(p)?;
                self.reply_ok(
                    r,
                    serde_json::json!({"protocol": PROTOCOL_VERSION,
                    "version": env!("CARGO_PKG_VERSION"), "methods": METHODS}),
                );
            }
            "create" => self.create(params(p)?, r)?,
            "start" => {
                let p: IdParams = params(p)?;
                let k = self.lookup(&p.id)?;
                self.start(k, r)?;
            }
            "wait" => {
                let p: IdParams = params(p)?;
                let k = self.lookup(&p.id)?;
                self.answer_at_stop(k, r, false);
            }
            "kill" => {
                let p: KillParams = params(p)?;
                let sig = match &p.signal {
                    Some(v) => crate::supervisor::signals::parse(v).map_err(|e| {
                        ApiError::new(ErrorCode::BadRequest, format!("signal: {e}"))
                    })?,
                    None => libc::SIGTERM,
                };
                let k = self.lookup(&p.id)?;
                self.kill(k, sig, p.all)?;
                self.reply_ok(r, serde_json::json!({}));
            }
            "stop" => {
                let p: StopParams = params(p)?;
                let sig = match &p.signal {
                    Some(v) => Some(crate::supervisor::signals::parse(v).map_err(|e| {
                        ApiError::new(ErrorCode::BadRequest, format!("signal: {e}"))
                    })?),
                    None => None,
                };
                let grace = match p.timeout {
                    Some(t) if t.is_finite() && (0.0..=1e9).contains(&t) => {
                        std::time::Duration::from_secs_f64(t)
                    }
                    Some(t) => {
                        return Err(ApiError::new(
                            ErrorCode::BadRequest,
                            format!("timeout: {t} is not a number of seconds from 0"),
                        ))
                    }
                    None => self.cfg.stop_timeout,
                };
                let k = self.lookup(&p.id)?;
                self.stop_container(k, grace, sig, Some(r));
            }
            "delete" => {
                let p: DeleteParams = params(p)?;
                let k = self.lookup(&p.id)?;
                self.delete(k, p.force, r)?;
            }
            "list" => {
                let NoParams {} = params(p)?;
                let mut v: Vec<ContainerInfo> =
                    self.containers.iter().map(|(_, c)| c.info()).collect();
                v.sort_by(|a, b| a.created_at.cmp(&b.created_at));
                self.reply_ok(r, serde_json::to_value(v).unwrap_or_default());
            }
            "inspect" => {
                let p: IdParams = params(p)?;
                let k = self.lookup(&p.id)?;
                let v = serde_json::to_value(self.containers[k].info()).unwrap_or_default();
                self.reply_ok(r, v);
            }
            "stats" => {
                let p: StatsParams = params(p)?;
                let v = match &p.id {
                    Some(id) => {
                        let ct = &self.containers[self.lookup(id)?];
                        serde_json::to_value(ContainerStats {
                            id: ct.id.clone(),
                            name: ct.name.clone(),
                            status: ct.status.as_str().into(),
                            usage: ct.cgroup.usage(),
                        })
                    }
                    // Inits the zygote is forking are neither in the pool nor gone yet:
                    // the reply waits for those asked for by now (`answer_waiting_stats`),
                    // not for later ones (a churn beside it would hold it forever).
                    None if self.warm.pending() > 0
                        || self.given_up_rmdirs_upto(self.given_up_seq) =>
                    {
                        let (asked, gu) = (self.warm.asked(), self.given_up_seq);
                        self.stats_waiting.push((r, asked, gu));
                        return Ok(());
                    }
                    None => serde_json::to_value(self.stats()),
                };
                self.reply_ok(r, v.unwrap_or_default());
            }
            "attach" => {
                let p: AttachParams = params(p)?;
                let k = self.lookup(&p.id)?;
                self.answer_at_stop(k, r, true);
            }
            "stdin" => {
                let p: StdinParams = params(p)?;
                let data = base64::engine::general_purpose::STANDARD
                    .decode(p.data.as_bytes())
                    .map_err(|e| {
                        ApiError::new(ErrorCode::BadRequest, format!("data: not base64: {e}"))
                    })?;
                let k = self.lookup(&p.id)?;
                self.write_stdin(k, &data, p.eof)?;
                self.reply_ok(r, serde_json::json!({}));
            }
            "resize" => {
                let p: ResizeParams = params(p)?;
                let k = self.lookup(&p.id)?;
                self.resize(k, p.rows, p.cols)?;
                self.reply_ok(r, serde_json::json!({}));
            }
            "logs" => {
                let p: LogsParams = params(p)?;
                let k = self.lookup(&p.id)?;
                self.start_logs(k, p.follow, r)?;
            }
            other => {
                return Err(ApiError::new(
                    ErrorCode::UnknownMethod,
                    format!("unknown method {other:?}"),
                ));
            }
        }
        Ok(())
    }

    fn live_conn(&mut self, r: ReplyTo) -> Option<&mut Conn> {
        self.conns
            .get_mut(r.conn)
            .filter(|c| c.serial == r.serial && !c.dead)
    }

    pub fn reply_ok(&mut self, r: ReplyTo, result: serde_json::Value) {
        if let Some(c) = self.live_conn(r) {
            c.queue_reply(&serde_json::json!({"id": r.id, "ok": true, "result": result}));
            self.dirty_conns.push(r.conn);
        }
    }

    pub fn reply_err(&mut self, r: ReplyTo, e: ApiError) {
        if let Some(c) = self.live_conn(r) {
            c.queue_reply(&serde_json::json!({"id": r.id, "ok": false, "error": e}));
            self.dirty_conns.push(r.conn);
        }
    }

    pub fn flush_dirty_conns(&mut self) {
        let mut dirty = std::mem::take(&mut self.dirty_conns);
        dirty.sort_unstable();
        dirty.dedup();
        for key in dirty.drain(..) {
            let Some(conn) = self.conns.get_mut(key) else {
                continue;
            };
            if conn.poll_out.is_some() {
                continue;
            }
            match conn.flush() {
                Ok(true) => {
                    if conn.closing {
                        self.close_conn(key);
                    } else {
                        self.resume_logs(key);
                    }
                }
                Ok(false) if !conn.dead => {
                    let t = self.conn_token(key, sub::OUT);
                    let conn = &mut self.conns[key];
                    conn.poll_out = Some(self.ring.poll(conn.fd.as_fd(), POLLOUT, false, t));
                }
                _ => self.close_conn(key),
            }
            self.maybe_free_conn(key);
        }
        if self.dirty_conns.is_empty() {
            self.dirty_conns = dirty;
        }
    }

    /// Stops reading and cancels everything in flight; the connection is freed when the
    /// last of its ops has completed.
    pub fn close_conn(&mut self, key: usize) {
        let Some(conn) = self.conns.get_mut(key) else {
            return;
        };
        if conn.closing && conn.wants_write() && !conn.dead {
            // Flush the last error first; closing continues when it is out.
            if let Some(op) = conn.poll_in {
                self.ring.cancel(op);
            }
            return;
        }
        conn.dead = true;
        for op in [conn.poll_in, conn.poll_out].into_iter().flatten() {
            self.ring.cancel(op);
        }
        if let Some(op) = conn.log_reader.as_ref().and_then(|l| l.op) {
            self.ring.cancel(op);
        }
    }

    pub fn maybe_free_conn(&mut self, key: usize) {
        let Some(conn) = self.conns.get(key) else {
            return;
        };
        let idle = conn.poll_in.is_none()
            && conn.poll_out.is_none()
            && conn.log_reader.as_ref().is_none_or(|l| l.op.is_none());
        if conn.dead && idle {
            self.conns.remove(key);
        }
    }
}
