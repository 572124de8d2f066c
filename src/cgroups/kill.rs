//! Reaching every process of a container: cgroup.kill (v2, also on a hybrid host's
//! controller-less cgroup2), else signalling each member of the cgroup (v1 freezes first so
//! nothing forks meanwhile; the freeze and thaw are driven by the supervisor's timers), and
//! naming the survivors when a deadline passes.
//!
//! A member is signalled through a pidfd opened from its pid and kept only if the pid is
//! still listed in the cgroup *after* the pidfd exists: a pid reused in between by a process
//! outside the container is never signalled.

use std::os::fd::AsFd;

use super::{CtrCgroup, FsError};
use crate::fd_ledger::{Fd, Owner};

/// pidfds held at once while signalling the members of a cgroup.
const PIDFD_BATCH: usize = 256;

/// How a signal reaches the whole container.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Route {
    /// v2 `cgroup.kill` (SIGKILL only).
    CgroupKill,
    /// v1: freeze, signal each member, thaw.
    Freeze,
    /// Signal each member of the cgroup.
    Members,
    /// No cgroup: only the init's pidfd.
    InitOnly,
}

impl CtrCgroup {
    pub fn route(&self, signo: i32) -> Route {
        if self.is_none() {
            Route::InitOnly
        } else if signo == libc::SIGKILL && self.unified.is_some() {
            Route::CgroupKill
        } else if self.freezer_dir().is_some() {
            Route::Freeze
        } else {
            Route::Members
        }
    }

    /// Writes "1" to cgroup.kill: the kernel sends SIGKILL to every task, forks included.
    pub fn cgroup_kill(&self) -> Result<(), FsError> {
        match &self.unified {
            Some(d) => self.fs.write(&d.join("cgroup.kill"), "1"),
            None => Ok(()),
        }
    }

    /// The v1 freezer directory, when this container has one (pure v1 hosts).
    pub fn freezer_dir(&self) -> Option<&std::path::Path> {
        self.dir_for(super::Controller::Freezer, super::Version::V1)
    }

    /// v1 freezer: FROZEN or THAWED.
    pub fn set_frozen(&self, frozen: bool) -> Result<(), FsError> {
        match self.freezer_dir() {
            Some(d) => self.fs.write(
                &d.join("freezer.state"),
                if frozen { "FROZEN" } else { "THAWED" },
            ),
            None => Ok(()),
        }
    }

    /// Whether the v1 freezer reports FROZEN (a freeze completes asynchronously).
    pub fn is_frozen(&self) -> bool {
        self.freezer_dir()
            .and_then(|d| self.fs.read(&d.join("freezer.state")).ok())
            .is_some_and(|s| s.trim() == "FROZEN")
    }

    /// Sends `signo` to every member; returns how many were signalled. At most
    /// `PIDFD_BATCH` pidfds are open at once, whatever the cgroup's size.
    pub fn signal_members(&self, signo: i32) -> usize {
        let listed = self.pids();
        let mut sent = 0;
        for batch in listed.chunks(PIDFD_BATCH) {
            let held: Vec<(i32, Fd)> = batch
                .iter()
                .filter_map(|&pid| {
                    let p = rustix::process::Pid::from_raw(pid)?;
                    let flags = rustix::process::PidfdFlags::empty();
                    let fd = rustix::process::pidfd_open(p, flags).ok()?;
                    Some((pid, Fd::new(fd, Owner::Daemon, "pidfd (kill-all)")))
                })
                .collect();
            let still: std::collections::HashSet<i32> = self.pids().into_iter().collect();
            for (pid, fd) in &held {
                if still.contains(pid)
                    && crate::sys::process::pidfd_send_signal(fd.as_fd(), signo).is_ok()
                {
                    sent += 1;
                }
            }
        }
        sent
    }
}

/// "1234 sleep (D), 1240 sh (S)": who is still there, and in what state.
pub fn describe(pids: &[i32]) -> String {
    let shown: Vec<String> = pids
        .iter()
        .take(32)
        .map(|pid| {
            let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
            let comm = stat
                .split_once(" (")
                .and_then(|(_, r)| r.rsplit_once(") "))
                .map(|(c, rest)| (c.to_string(), rest.chars().next().unwrap_or('?')));
            match comm {
                Some((c, state)) => format!("{pid} {c} ({state})"),
                None => format!("{pid}"),
            }
        })
        .collect();
    let more = pids.len().saturating_sub(shown.len());
    if more > 0 {
        format!("{} and {more} more", shown.join(", "))
    } else {
        shown.join(", ")
    }
}
