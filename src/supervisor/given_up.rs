//! Inits that will not become containers: a failed create's, or one that left the warm
//! pool. Each is killed and reaped through a WaitId of its own; then its cgroup's
//! directories are removed in the ring's workers, and a failed create's error is answered.

use std::os::fd::AsFd;
use std::path::Path;

use crate::api::proto::ApiError;
use crate::daemon::token::{Kind, Token};
use crate::daemon::Daemon;
use crate::supervisor::container::ReplyTo;
use crate::sys::uring::Completion;

impl Daemon {
    /// Kills an init that will not become a container (its create failed after the clone,
    /// or it left the warm pool) and reaps it through a WaitId of its own. A create's error
    /// (`reply`) goes out once it is reaped, so that a client that sees the error sees the
    /// daemon's children as they were before the create.
    pub fn give_up(
        &mut self,
        mut b: crate::runtime::spawn::Booting,
        reply: Option<(ReplyTo, ApiError)>,
    ) {
        let pid = b.pid;
        let cgroup = b.cgroup.take();
        let pidfd = b.kill();
        let key = self.given_up.vacant_key();
        let t = Token::encode(Kind::GivenUp, 0, 0, key);
        self.ring.waitid_pidfd(pidfd.as_fd(), t);
        self.given_up.insert(GivenUp {
            pid,
            _pidfd: pidfd,
            reply,
            cgroup,
            rmdirs: 0,
            seq: 0,
        });
    }

    /// A given-up init's WaitId (`sub` 0) or one of its cgroup's rmdirs completed.
    pub fn on_given_up(&mut self, t: Token, c: &Completion) {
        let key = t.key as usize;
        if t.sub == GIVEN_UP_RMDIR {
            self.on_given_up_rmdir(key, c);
        } else {
            self.on_given_up_reaped(key);
        }
    }

    /// The cgroup it was in (a warm init's own, or a failed create's) is empty now: its
    /// directories are removed in the ring's workers, as a deleted container's are
    /// (`remove_cgroup`: an rmdir waits for the kernel's cgroup_mutex).
    fn on_given_up_reaped(&mut self, key: usize) {
        let t = Token::encode(Kind::GivenUp, GIVEN_UP_RMDIR, 0, key);
        if let Some(g) = self.given_up.get_mut(key) {
            for dir in g
                .cgroup
                .as_ref()
                .map(|c| c.removal_dirs())
                .unwrap_or_default()
            {
                if self.ring.unlinkat(&dir, true, t).is_some() {
                    g.rmdirs += 1;
                } else if let Some(cg) = g.cgroup.as_mut() {
                    // A path the ring cannot name (a NUL byte): removed here.
                    let err = crate::cgroups::rmdir_now(&dir);
                    given_up_rmdir_done(g.pid, cg, &dir, err);
                }
            }
            if g.rmdirs > 0 {
                self.given_up_seq += 1;
                g.seq = self.given_up_seq;
            }
        }
        self.finish_given_up(key);
        // Orphans whose SIGCHLD coalesced with this one's.
        self.sweep_orphans();
    }

    fn on_given_up_rmdir(&mut self, key: usize, c: &Completion) {
        let Some(g) = self.given_up.get_mut(key) else {
            return;
        };
        g.rmdirs = g.rmdirs.saturating_sub(1);
        if let (Some(dir), Some(cg)) = (c.path(), g.cgroup.as_mut()) {
            given_up_rmdir_done(g.pid, cg, dir, -c.result);
        }
        self.finish_given_up(key);
    }

    /// Forgets a given-up init once nothing in flight names it; a failed create's error
    /// is answered then.
    fn finish_given_up(&mut self, key: usize) {
        if self.given_up.get(key).is_some_and(|g| g.rmdirs == 0) {
            let g = self.given_up.remove(key);
            if let Some((r, e)) = g.reply {
                self.reply_err(r, e);
            }
            self.answer_waiting_stats();
        }
    }

    /// Whether the cgroup rmdirs of a given-up init numbered `seq` or lower are in flight:
    /// a `stats` asked after its reaping waits for them (they always complete), so that
    /// it counts the cgroups as they are once the init is gone.
    pub(crate) fn given_up_rmdirs_upto(&self, seq: u64) -> bool {
        self.given_up
            .iter()
            .any(|(_, g)| g.rmdirs > 0 && g.seq <= seq)
    }
}

impl GivenUp {
    /// What is left to do for it, for the shutdown's list of survivors.
    pub fn waiting_for(&self) -> &'static str {
        if self.rmdirs > 0 {
            "its cgroup's rmdir in flight"
        } else {
            "not reaped"
        }
    }
}

/// A given-up init's cgroup rmdir (its WaitId is sub 0).
const GIVEN_UP_RMDIR: u8 = 1;

/// One rmdir of a given-up init's cgroup is done (`err`: its errno, 0 on success). A
/// failure is logged; the directory stays (nothing retries it).
fn given_up_rmdir_done(pid: i32, cg: &mut crate::cgroups::CtrCgroup, dir: &Path, err: i32) {
    if let Err(e) = cg.rmdir_done(dir, err) {
        eprintln!("ringmon daemon: init {pid}: remove its cgroup: {e}");
    }
}

/// An init killed before it became a container, until its WaitId has reaped it and the
/// rmdirs of its cgroup have completed.
pub struct GivenUp {
    pub pid: i32,
    _pidfd: crate::fd_ledger::Fd,
    /// A failed create's error, answered once the init is reaped and its cgroup removed.
    reply: Option<(ReplyTo, ApiError)>,
    /// The cgroup directories it may have been in, removed once it is reaped.
    cgroup: Option<crate::cgroups::CtrCgroup>,
    /// The cgroup's rmdirs in flight in the ring.
    rmdirs: usize,
    /// Its number in `Daemon::given_up_seq` once its rmdirs are submitted.
    seq: u64,
}
