//! Ending containers without ever hanging: kill-all, `stop`, the kill deadline, the
//! removal of a container's cgroup, and OOM events.
//!
//! Every wait here is a ring timeout: the stop grace period, the kill deadline
//! (`--kill-timeout`), the v1 freezer's FROZEN check, the back-off between attempts to
//! remove a cgroup whose last tasks are still exiting. When the kill deadline passes with
//! processes left (a task in D state, a cgroup frozen by someone else), every pending
//! `delete` and `stop` is answered with an error that names them, and the container stays,
//! in a state from which `rm -f` can be retried.

use std::os::fd::AsFd;
use std::time::Duration;

use crate::api::proto::{ApiError, ErrorCode};
use crate::cgroups::kill::{self, Route};
use crate::cgroups::resources::Write;
use crate::cgroups::CtrCgroup;
use crate::daemon::token::{ctr, Kind, Token};
use crate::daemon::{Daemon, POLLIN};
use crate::runtime::spec::plan::ContainerPlan;
use crate::runtime::spec::Prepared;
use crate::supervisor::container::{ReplyTo, Status};
use crate::sys::uring::Completion;

/// How often the v1 freezer is checked, and for how many checks, before the signal is sent
/// to an incompletely frozen cgroup anyway.
const FREEZE_CHECK: Duration = Duration::from_millis(5);
const FREEZE_CHECKS: u32 = 200;
/// Longest back-off between attempts to remove a cgroup.
const CGROUP_RETRY_MAX_MS: u64 = 64;
const POLLPRI: u32 = libc::POLLPRI as u32;

impl Daemon {
    /// Checks a container's cgroup settings without touching the cgroupfs: the limits'
    /// writes (a refusal names the field) and `cgroupsPath`; returns the writes and the
    /// directories to make.
    pub fn plan_cgroup(
        &self,
        id: &str,
        prepared: &Prepared,
    ) -> Result<(Vec<Write>, CtrCgroup), String> {
        let writes = self
            .cgroups
            .plan(prepared.resources.as_ref())
            .map_err(|e| e.to_string())?;
        let path = prepared.cgroups_path.as_deref();
        // Without a cgroupsPath the directory is named by the (random) id: if it exists, it
        // is the one made for the warm init this create takes (cgroups/warm.rs).
        if self.cgroups.usable() && path.is_some() {
            self.cgroups
                .check_path(id, path)
                .map_err(|e| e.to_string())?;
        }
        let planned = self.cgroups.planned(id, path, &writes);
        Ok((writes, planned))
    }

    /// Puts in `plan` the `cgroup.procs` files of `planned` (container `id`) that its init
    /// joins, and those of them a warm init reserved for `id` is in already.
    pub fn set_cgroup_joins(&self, plan: &mut ContainerPlan, planned: &CtrCgroup, id: &str) {
        plan.cgroup_procs = planned.procs_files();
        plan.cgroup_ahead = self.cgroups.ahead(planned, id);
    }

    /// Makes the directories `plan_cgroup` planned (using those of `warm`, a warm init's
    /// made under the same id, as they are: `Cgroups::make`), writes the limits and registers the OOM
    /// notification; an empty cgroup without usable cgroups. On failure, what is left to
    /// remove once the init is reaped comes back with the error (`give_up` removes it in
    /// the ring's workers; the init may be in it already).
    pub fn make_cgroup(
        &mut self,
        planned: &CtrCgroup,
        writes: &[Write],
        warm: Option<CtrCgroup>,
    ) -> Result<CtrCgroup, (String, CtrCgroup)> {
        if !self.cgroups.usable() {
            return Ok(CtrCgroup::default());
        }
        let cg = self.cgroups.make(planned, writes, warm).map_err(|b| {
            let (e, left) = *b;
            (format!("cgroup: {e}"), left)
        })?;
        if let Some(efd) = self.oom_eventfd() {
            if let Err(e) = cg.register_oom_eventfd(efd) {
                return Err((format!("cgroup: OOM notification: {e}"), cg));
            }
        }
        if self.oom_watch.is_none() && !self.shutting_down {
            // v2: the parent's memory.events exists once memory is enabled above it.
            if let Ok((Some(fd), is_eventfd)) = crate::daemon::startup::oom_watch(&self.cgroups) {
                self.oom_watch = Some(fd);
                self.oom_watch_is_eventfd = is_eventfd;
                self.arm_oom_watch();
            }
        }
        Ok(cg)
    }

    /// Sends `sig` to every process of the container: cgroup.kill, the members of its
    /// cgroup (v1: frozen first), or, without a cgroup, its init.
    pub fn kill_all(&mut self, key: usize, sig: i32) {
        let ct = &mut self.containers[key];
        let route = ct.cgroup.route(sig);
        match route {
            Route::CgroupKill => {
                if let Err(e) = ct.cgroup.cgroup_kill() {
                    eprintln!("ringmon daemon: {}: {e}", ct.name);
                    ct.cgroup.signal_members(sig);
                }
            }
            Route::Members => {
                ct.cgroup.signal_members(sig);
            }
            Route::Freeze => match ct.freeze_kill {
                // A kill already waits for the freeze: SIGKILL overrides what it will send.
                Some((pending, left)) => {
                    let sig = if sig == libc::SIGKILL { sig } else { pending };
                    ct.freeze_kill = Some((sig, left));
                }
                None => {
                    if let Err(e) = ct.cgroup.set_frozen(true) {
                        eprintln!("ringmon daemon: {}: {e}", ct.name);
                    }
                    ct.freeze_kill = Some((sig, FREEZE_CHECKS));
                    self.arm_freeze_poll(key);
                }
            },
            Route::InitOnly => {}
        }
        // The init reaches its cgroup only once it has read its job; SIGKILL goes to it
        // directly too, and so does any signal when there is no cgroup.
        let ct = &self.containers[key];
        if route == Route::InitOnly || sig == libc::SIGKILL || ct.status == Status::Creating {
            let _ = self.signal_container(key, sig);
        }
    }

    fn arm_freeze_poll(&mut self, key: usize) {
        let op = self.ctr_timeout(key, ctr::FREEZE_POLL, FREEZE_CHECK);
        self.containers[key].freeze_poll = Some(op);
    }

    /// A ring timeout that names the container; it counts as one of its ops until it
    /// completes (expired or cancelled).
    pub fn ctr_timeout(&mut self, key: usize, sub: u8, after: Duration) -> crate::sys::uring::OpId {
        let t = self.ctr_token(key, sub);
        let op = self.ring.timeout(after, t);
        self.containers[key].ops += 1;
        op
    }

    pub fn on_freeze_poll(&mut self, key: usize, c: &Completion) {
        let ct = &mut self.containers[key];
        ct.freeze_poll = None;
        let Some((sig, left)) = ct.freeze_kill else {
            return;
        };
        if c.result != -libc::ETIME {
            return;
        }
        if !ct.cgroup.is_frozen() && left > 0 {
            ct.freeze_kill = Some((sig, left - 1));
            self.arm_freeze_poll(key);
            return;
        }
        ct.freeze_kill = None;
        ct.cgroup.signal_members(sig);
        if let Err(e) = ct.cgroup.set_frozen(false) {
            eprintln!("ringmon daemon: {}: {e}", ct.name);
        }
    }

    /// Starts the kill deadline unless one is running.
    pub fn arm_kill_deadline(&mut self, key: usize) {
        if self.containers[key].kill_deadline.is_some() {
            return;
        }
        let op = self.ctr_timeout(key, ctr::KILL_DEADLINE, self.cfg.kill_timeout);
        self.containers[key].kill_deadline = Some(op);
    }

    /// The deadline passed with processes left: answer everyone waiting with their names.
    pub fn on_kill_deadline(&mut self, key: usize, c: &Completion) {
        let shutting_down = self.shutting_down;
        let kill_timeout = self.cfg.kill_timeout;
        let ct = &mut self.containers[key];
        // A cancelled deadline may complete after a new one was armed: leave that alone.
        // An expiry racing its own cancel finds the field already cleared.
        if c.result != -libc::ETIME || ct.kill_deadline.take().is_none() {
            return;
        }
        let mut pids = ct.cgroup.pids();
        if pids.is_empty() && ct.pidfd.is_some() {
            pids.push(ct.pid);
        }
        if pids.is_empty() && ct.status == Status::Stopped && ct.cgroup.is_none() {
            return;
        }
        let msg = format!(
            "container {}: processes survived SIGKILL for {kill_timeout:?}: {}; the container is kept, retry rm -f",
            ct.name,
            if pids.is_empty() {
                "none listed (cgroup busy)".to_string()
            } else {
                kill::describe(&pids)
            }
        );
        eprintln!("ringmon daemon: {msg}");
        ct.kill_error = Some(msg.clone());
        // The delete failed: keep the container for a retry, unless nobody asked for it
        // (auto-remove, a failed create), in which case it still goes once it can.
        if !shutting_down && !ct.pending_delete.is_empty() {
            ct.removing = false;
        }
        let waiting: Vec<ReplyTo> = ct
            .pending_delete
            .drain(..)
            .chain(ct.stop_waiters.drain(..))
            .collect();
        for r in waiting {
            self.reply_err(r, ApiError::new(ErrorCode::Internal, msg.clone()));
        }
        self.answer_removal_waiters(key);
    }

    /// An auto-remove container (or a failed create's) could not be removed: those
    /// waiting for it get its exit report with the removal error now (a failed create, its
    /// error); the error is also logged and shown by `inspect`.
    fn answer_removal_waiters(&mut self, key: usize) {
        let ct = &mut self.containers[key];
        if let Some((r, e)) = ct.failed_create.take() {
            self.reply_err(r, e);
        }
        let ct = &mut self.containers[key];
        if ct.removal_waiters.is_empty() {
            return;
        }
        let report = ct.exit.clone().map(|mut e| {
            e.removal_error = ct.kill_error.clone();
            e
        });
        let exit = serde_json::to_value(&report).unwrap_or_default();
        for r in std::mem::take(&mut ct.removal_waiters) {
            self.reply_ok(r, exit.clone());
        }
    }

    /// `stop`: the stop signal to the init, `grace` to exit, then SIGKILL to everything
    /// and the kill deadline. `r` is answered with the exit once the container has stopped.
    pub fn stop_container(
        &mut self,
        key: usize,
        grace: Duration,
        signal: Option<i32>,
        r: Option<ReplyTo>,
    ) {
        let ct = &mut self.containers[key];
        if ct.status == Status::Stopped {
            if let Some(r) = r {
                self.answer_exit(key, r);
            }
            return;
        }
        ct.stop_waiters.extend(r);
        ct.kill_error = None;
        let started = matches!(ct.status, Status::Running | Status::Starting);
        if !started || grace.is_zero() || ct.exit.is_some() {
            // Never ran (a created init is not the user's process), or no grace at all, or
            // the init is gone and only stragglers hold its output open.
            self.kill_all(key, libc::SIGKILL);
            self.arm_kill_deadline(key);
            return;
        }
        let sig = signal.unwrap_or(ct.stop_signal);
        let _ = self.signal_container(key, sig);
        // A second stop (or the daemon's shutdown) with a shorter grace period wins.
        let at = std::time::Instant::now() + grace;
        let ct = &mut self.containers[key];
        match (ct.stop_timer, ct.stop_at) {
            (Some(_), Some(old)) if old <= at => return,
            (Some(op), _) => self.ring.cancel_timeout(op),
            (None, _) => {}
        }
        let op = self.ctr_timeout(key, ctr::STOP_GRACE, grace);
        let ct = &mut self.containers[key];
        ct.stop_timer = Some(op);
        ct.stop_at = Some(at);
    }

    pub fn on_stop_grace(&mut self, key: usize, c: &Completion) {
        let ct = &mut self.containers[key];
        // A cancelled (replaced) grace period completes too: it touches nothing.
        if c.result != -libc::ETIME || ct.stop_timer.take().is_none() {
            return;
        }
        ct.stop_at = None;
        if ct.status == Status::Stopped {
            return;
        }
        self.kill_all(key, libc::SIGKILL);
        self.arm_kill_deadline(key);
    }

    /// Removes the cgroup of a stopped container that is being deleted; true once it is
    /// gone. Its directories' rmdirs run in the ring's workers (IORING_OP_UNLINKAT with
    /// AT_REMOVEDIR), in parallel: an rmdir takes the kernel's cgroup_mutex, which a task
    /// joining a cgroup elsewhere (the next warm init) holds through an RCU grace period,
    /// so on the loop it stalled every client for 3-20 ms in one delete of fourteen here.
    /// Tasks still in it (orphans of a container without its own pid namespace, tasks
    /// still exiting) are killed, and removal is retried with back-off until the kill
    /// deadline.
    pub fn remove_cgroup(&mut self, key: usize) -> bool {
        let ct = &mut self.containers[key];
        if ct.cgroup_rmdirs > 0 {
            return false;
        }
        if let Some(e) = ct.cgroup_rmdir_error.take() {
            self.cgroup_removal_failed(key, e);
            return false;
        }
        if ct.cgroup.is_none() {
            let removed = std::mem::take(&mut ct.cgroup_removed);
            self.cgroups.prune(&removed);
            return true;
        }
        if ct.cgroup_retry.is_some() {
            return false;
        }
        let t = self.ctr_token(key, ctr::CGROUP_RMDIR);
        for dir in self.containers[key].cgroup.removal_dirs() {
            if self.ring.unlinkat(&dir, true, t).is_some() {
                let ct = &mut self.containers[key];
                ct.cgroup_rmdirs += 1;
                ct.ops += 1;
            } else {
                // A path the ring cannot name (a NUL byte): removed here.
                self.rmdir_done(key, &dir, crate::cgroups::rmdir_now(&dir));
            }
        }
        // Every rmdir done at once (none went through the ring): decide now.
        if self.containers[key].cgroup_rmdirs == 0 {
            return self.remove_cgroup(key);
        }
        false
    }

    pub fn on_cgroup_rmdir(&mut self, key: usize, c: &Completion) {
        let ct = &mut self.containers[key];
        ct.cgroup_rmdirs = ct.cgroup_rmdirs.saturating_sub(1);
        let Some(dir) = c.path() else {
            return;
        };
        self.rmdir_done(key, dir, -c.result);
        // on_ctr_completion calls maybe_free_container next, which goes on.
    }

    fn rmdir_done(&mut self, key: usize, dir: &std::path::Path, err: i32) {
        let ct = &mut self.containers[key];
        match ct.cgroup.rmdir_done(dir, err) {
            Ok(()) => ct.cgroup_removed.push(dir.to_path_buf()),
            Err(e) => {
                ct.cgroup_rmdir_error.get_or_insert(e);
            }
        }
    }

    /// One or more of the cgroup's rmdirs failed: EBUSY (tasks left) kills them and
    /// retries; anything else answers the deletes with the error.
    fn cgroup_removal_failed(&mut self, key: usize, e: crate::cgroups::FsError) {
        let ct = &mut self.containers[key];
        let name = ct.name.clone();
        if e.err.raw_os_error() == Some(libc::EBUSY) {
            // Cgroups the container made below its own keep it busy too: they are
            // removed first, deepest first (a cold path; the walk reads cgroupfs here).
            ct.cgroup.adopt_subtrees();
            // Each delete attempt kills what is left once and starts its deadline.
            if ct.cgroup_backoff_ms == 1 || ct.kill_deadline.is_none() {
                self.kill_all(key, libc::SIGKILL);
                self.arm_kill_deadline(key);
            }
            let ct = &mut self.containers[key];
            let wait = Duration::from_millis(ct.cgroup_backoff_ms);
            ct.cgroup_backoff_ms = (ct.cgroup_backoff_ms * 2).min(CGROUP_RETRY_MAX_MS);
            let op = self.ctr_timeout(key, ctr::CGROUP_RETRY, wait);
            self.containers[key].cgroup_retry = Some(op);
            return;
        }
        let msg = format!("container {name}: remove cgroup: {e}");
        eprintln!("ringmon daemon: {msg}");
        ct.kill_error = Some(msg.clone());
        if !self.shutting_down {
            ct.removing = false;
        }
        for r in std::mem::take(&mut ct.pending_delete) {
            self.reply_err(r, ApiError::new(ErrorCode::Internal, msg.clone()));
        }
        self.answer_removal_waiters(key);
    }

    pub fn on_cgroup_retry(&mut self, key: usize) {
        self.containers[key].cgroup_retry = None;
        // on_ctr_completion calls maybe_free_container next, which retries.
    }

    /// Arms the daemon-wide OOM watch (one fd for every container).
    pub fn arm_oom_watch(&mut self) {
        let Some(fd) = &self.oom_watch else {
            return;
        };
        let events = if self.oom_watch_is_eventfd {
            POLLIN
        } else {
            POLLPRI
        };
        let t = Token::encode(Kind::Oom, 0, 0, 0);
        self.oom_poll = Some(self.ring.poll(fd.as_fd(), events, true, t));
    }

    fn oom_eventfd(&self) -> Option<std::os::fd::BorrowedFd<'_>> {
        self.oom_watch
            .as_ref()
            .filter(|_| self.oom_watch_is_eventfd)
            .map(|f| f.as_fd())
    }

    /// Some container hit an OOM kill: re-read the counters of those not yet marked.
    pub fn on_oom_event(&mut self, c: Completion) {
        if !c.more {
            self.oom_poll = None;
        }
        if let Some(fd) = &self.oom_watch {
            // Reset the eventfd's counter, or re-read memory.events so kernfs re-arms POLLPRI.
            let mut buf = [0u8; 512];
            let _ = if self.oom_watch_is_eventfd {
                rustix::io::read(fd, &mut buf)
            } else {
                rustix::io::pread(fd, &mut buf, 0)
            };
        }
        for (_, ct) in self.containers.iter_mut() {
            if !ct.oom_killed && ct.status != Status::Stopped && ct.cgroup.oom_kills() > 0 {
                ct.oom_killed = true;
            }
        }
        if self.oom_poll.is_none() && !self.shutting_down && c.result >= 0 {
            self.arm_oom_watch();
        }
    }
}
