//! The end of a container: its init reaped, its output drained, its exit made final and
//! answered, and the container freed once nothing names it any more.

use std::io;

use crate::api::proto::{ApiError, ErrorCode, ExitReport};
use crate::daemon::token::ctr;
use crate::daemon::Daemon;
use crate::supervisor::container::{set_status, ExitRecord, ReplyTo, Status};
use crate::supervisor::lifecycle::now_rfc3339;
use crate::sys::uring::Completion;

/// The exit record in a container's state directory, and the name it is written under
/// before its rename.
const EXIT_RECORD: &str = "exit.json";
const EXIT_RECORD_TMP: &str = "exit.json.tmp";

impl Daemon {
    /// The init (or the user's process it became) was reaped.
    pub(crate) fn on_exit(&mut self, key: usize, c: &Completion) {
        let report = match (c.result, c.siginfo()) {
            (0, Some(info)) if info.code == libc::CLD_EXITED => ExitReport {
                exit_code: info.status,
                ..Default::default()
            },
            (0, Some(info)) => ExitReport {
                exit_code: 128 + info.status,
                signal: Some(info.status),
                ..Default::default()
            },
            (res, _) => ExitReport {
                exit_code: -1,
                error: Some(format!(
                    "waitid P_PIDFD: {}",
                    io::Error::from_raw_os_error(-res)
                )),
                ..Default::default()
            },
        };
        // Read whatever the init said before it died (an exec error, a setup error).
        self.drain_sync(key);
        // Without a pid namespace of its own, the init's death does not end the rest: end
        // it as the kernel would for a namespace's init (containerd's shim does the same).
        let ct = &self.containers[key];
        if ct.shares_pid_ns && !ct.cgroup.is_none() {
            self.kill_all(key, libc::SIGKILL);
        }
        let ct = &mut self.containers[key];
        ct.pidfd = None;
        self.by_pid.remove(&ct.pid);
        let mut report = report;
        // The setup error explains the exit only if the command never ran.
        let never_ran = ct.exec_failure.is_some() || ct.status == Status::Creating;
        if report.error.is_none() && never_ran {
            report.error = ct.setup_error.clone();
        }
        ct.exit = Some(report.clone());
        match ct.status {
            Status::Creating => {
                let msg = format!(
                    "init exited (status {}) before it was ready{}",
                    report.exit_code,
                    ct.setup_error
                        .as_ref()
                        .map(|e| format!(": {e}"))
                        .unwrap_or_default()
                );
                let err = ct
                    .create_error
                    .clone()
                    .unwrap_or_else(|| ApiError::new(ErrorCode::SpawnFailed, msg));
                // Nobody will ever see this container: it goes away on its own, and the
                // create is answered then (`maybe_free_container`).
                ct.failed_create = ct.pending_create.take().map(|r| (r, err));
                ct.removing = true;
            }
            // Exec'd and already exited before the handshake EOF was seen.
            Status::Starting if ct.exec_failure.is_none() => {
                set_status(&mut self.in_setup, ct, Status::Running);
                ct.started_at = Some(now_rfc3339());
                if let Some(r) = ct.pending_start.take() {
                    self.reply_ok(r, serde_json::json!({}));
                }
            }
            _ => {}
        }
        let ct = &mut self.containers[key];
        ct.sync_eof = true;
        match ct.sync_poll {
            Some(op) => self.ring.cancel(op),
            None => ct.sync = None,
        }
        if !ct.streams_done() && ct.drain_deadline.is_none() {
            let op = self.ctr_timeout(key, ctr::DRAIN_DEADLINE, self.cfg.drain_timeout);
            self.containers[key].drain_deadline = Some(op);
        }
        // Output that is still in the kernel buffers is read now, not after the next event.
        for idx in 0..self.containers[key].streams.len() {
            self.read_output(key, idx);
        }
        // Orphans queued behind this child's exit can be reaped now.
        self.sweep_orphans();
        // A take whose container never ran (its init died first) is refilled here.
        self.refill_warm();
    }

    pub(crate) fn on_drain_deadline(&mut self, key: usize, c: &Completion) {
        let ct = &mut self.containers[key];
        ct.drain_deadline = None;
        if c.result != -libc::ETIME {
            return;
        }
        // A grandchild still holds the pipe or pty: stop waiting for EOF.
        if ct.streams.iter().flatten().any(|s| !s.done) {
            self.drains_cut += 1;
        }
        for idx in 0..self.containers[key].streams.len() {
            self.read_output(key, idx);
            self.close_stream(key, idx);
        }
    }

    /// Answers `r` with the exit report now if the container has stopped, else once it has
    /// (and, for an auto-remove container, once it is gone); an `attach` request also
    /// receives the output meanwhile.
    pub fn answer_at_stop(&mut self, key: usize, r: ReplyTo, attach: bool) {
        let ct = &mut self.containers[key];
        if ct.status == Status::Stopped && ct.auto_remove && ct.removing && ct.kill_error.is_none()
        {
            ct.removal_waiters.push(r);
        } else if ct.status == Status::Stopped {
            self.answer_exit(key, r);
        } else if attach {
            ct.attached.push(r);
        } else {
            ct.waiters.push(r);
        }
    }

    /// Answers `r` with the exit report of a stopped container, once its `exit.json` is
    /// in place: whoever sees the exit finds its record on disk.
    pub fn answer_exit(&mut self, key: usize, r: ReplyTo) {
        let ct = &mut self.containers[key];
        if ct.exit_record == ExitRecord::Writing {
            ct.waiters.push(r);
        } else {
            let v = serde_json::to_value(&ct.exit).unwrap_or_default();
            self.reply_ok(r, v);
        }
    }

    /// Exited, drained, logged: the exit becomes final, and waiters are answered once it
    /// is recorded in `exit.json`.
    pub fn try_stop(&mut self, key: usize) {
        let Some(ct) = self.containers.get_mut(key) else {
            return;
        };
        if !ct.ready_to_stop() {
            return;
        }
        set_status(&mut self.in_setup, ct, Status::Stopped);
        let mut report = ct.exit.clone().unwrap_or(ExitReport {
            exit_code: -1,
            ..Default::default()
        });
        report.finished_at = now_rfc3339();
        // Kills by a memcg's OOM killer and by the global one both count here.
        ct.oom_killed |= ct.cgroup.oom_kills() > 0;
        report.oom_killed = ct.oom_killed;
        ct.exit = Some(report.clone());
        if let Some(op) = ct.drain_deadline.take() {
            self.ring.cancel_timeout(op);
        }
        // A delete keeps its deadline for the removal of the cgroup that follows.
        if !ct.removing {
            if let Some(op) = ct.kill_deadline.take() {
                self.ring.cancel_timeout(op);
            }
        }
        let ct = &mut self.containers[key];
        ct.log.close();
        // Every byte is written (ready_to_stop): a held-back flush has nothing left to do.
        if let Some(op) = ct.log_timer.take() {
            self.ring.cancel_timeout(op);
        }
        let ct = &mut self.containers[key];
        if ct.auto_remove {
            ct.removing = true;
        }
        self.write_exit_record(key, &report);
        let ct = &mut self.containers[key];
        // `attach` and `stop` callers get the exit report as `wait` callers do.
        let mut others: Vec<ReplyTo> = (ct.attached.drain(..))
            .chain(ct.stop_waiters.drain(..))
            .collect();
        ct.waiters.append(&mut others);
        if ct.auto_remove {
            ct.removal_waiters.append(&mut ct.waiters);
        }
        let followers = std::mem::take(&mut ct.followers);
        if let Some(op) = ct.stop_timer.take() {
            self.ring.cancel_timeout(op);
        }
        ct.stop_at = None;
        // Otherwise `on_exit_record` answers them, once the record is in place.
        if ct.exit_record != ExitRecord::Writing {
            self.answer_waiters(key);
        }
        for f in followers {
            self.end_log_follow(f);
        }
    }

    /// Answers every `wait` (and `attach`, `stop`) caller with the exit report.
    fn answer_waiters(&mut self, key: usize) {
        let ct = &mut self.containers[key];
        let waiters = std::mem::take(&mut ct.waiters);
        let v = serde_json::to_value(&ct.exit).unwrap_or_default();
        for r in waiters {
            self.reply_ok(r, v.clone());
        }
    }

    /// `exit.json` in the container's state directory, written and renamed into place in
    /// the ring's workers (an `O_CREAT` open and a rename wait for ext4's journal).
    fn write_exit_record(&mut self, key: usize, report: &ExitReport) {
        let t = self.ctr_token(key, ctr::EXIT_RECORD);
        let ct = &mut self.containers[key];
        let body = serde_json::to_vec(report).unwrap_or_default();
        let (tmp, path) = (ct.dir.join(EXIT_RECORD_TMP), ct.dir.join(EXIT_RECORD));
        if self.ring.write_file(&tmp, &path, body, t).is_some() {
            ct.exit_record = ExitRecord::Writing;
            ct.ops += 1;
        } else {
            eprintln!(
                "ringmon daemon: exit record of {}: {} cannot be named (NUL byte)",
                ct.name,
                path.display()
            );
            ct.exit_record = ExitRecord::Failed;
        }
    }

    pub(crate) fn on_exit_record(&mut self, key: usize, c: &Completion) {
        let ct = &mut self.containers[key];
        ct.exit_record = match c.file_write_error() {
            None => ExitRecord::Written,
            Some(e) => {
                eprintln!("ringmon daemon: exit record of {}: {e}", ct.name);
                ExitRecord::Failed
            }
        };
        self.answer_waiters(key);
    }

    /// Frees a container whose deletion was asked for, once nothing in flight names it.
    pub fn maybe_free_container(&mut self, key: usize) {
        let Some(ct) = self.containers.get(key) else {
            return;
        };
        if !ct.removing || ct.status != Status::Stopped {
            return;
        }
        // The cgroup first: its removal may wait on ring timeouts of its own.
        if !self.remove_cgroup(key) {
            return;
        }
        let ct = &mut self.containers[key];
        if let Some(op) = ct.kill_deadline.take() {
            self.ring.cancel_timeout(op);
        }
        if ct.ops != 0 {
            return;
        }
        let mut ct = self.containers.remove(key);
        self.by_id.remove(&ct.id);
        self.by_name.remove(&ct.name);
        // What the daemon put in the state directory; a log path of the create's own
        // choosing stays where it is.
        let mut files = match ct.exit_record {
            ExitRecord::Written => vec![ct.dir.join(EXIT_RECORD)],
            ExitRecord::Failed => vec![ct.dir.join(EXIT_RECORD), ct.dir.join(EXIT_RECORD_TMP)],
            ExitRecord::None | ExitRecord::Writing => Vec::new(),
        };
        if ct.log_path.parent() == Some(ct.dir.as_path()) {
            files.push(ct.log_path.clone());
        }
        let dir = std::mem::take(&mut ct.dir);
        let exit = serde_json::to_value(&ct.exit).unwrap_or_default();
        let pending: Vec<(ReplyTo, Result<serde_json::Value, ApiError>)> =
            std::mem::take(&mut ct.pending_delete)
                .into_iter()
                .map(|r| (r, Ok(serde_json::json!({}))))
                .chain(ct.removal_waiters.drain(..).map(|r| (r, Ok(exit.clone()))))
                .chain(ct.failed_create.take().map(|(r, e)| (r, Err(e))))
                .collect();
        // Its fds (the log's among them) close first: the unlink then drops the last
        // reference, in the ring's worker.
        drop(ct);
        self.remove_state_dir(dir, &files, pending);
    }
}
