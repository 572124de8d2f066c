//! Reaping: one WaitId(P_PIDFD) per container init on the ring (see supervisor), plus the
//! orphan sweep for processes re-parented to us as child subreaper.
//!
//! A pending P_ALL wait would steal statuses from the per-child pidfd waits (measured here),
//! so the sweep only *peeks* with waitid(P_ALL, WNOHANG|WNOWAIT) and reaps a pid only when
//! it is not one we track. A tracked child at the head of the queue stops the sweep; its
//! own WaitId reaps it and triggers the next sweep.

use crate::daemon::Daemon;

impl Daemon {
    /// A child with a WaitId of its own on the ring: a container's init, or an init given
    /// up (`give_up`). The sweep leaves those to their waits.
    pub fn is_tracked(&self, pid: i32) -> bool {
        self.by_pid.contains_key(&pid) || self.given_up.iter().any(|(_, g)| g.pid == pid)
    }

    pub fn sweep_orphans(&mut self) {
        // Bounded: each pass reaps one orphan, and no more orphans can exist than children.
        for _ in 0..65_536 {
            let pid = match crate::sys::process::peek_exited_child() {
                Ok(Some(pid)) => pid,
                Ok(None) => return,
                Err(e) => {
                    eprintln!("ringmon daemon: waitid P_ALL WNOWAIT: {e}");
                    return;
                }
            };
            if self.is_tracked(pid) {
                return;
            }
            let Some(p) = rustix::process::Pid::from_raw(pid) else {
                return;
            };
            match rustix::process::waitpid(Some(p), rustix::process::WaitOptions::NOHANG) {
                Ok(_) => self.orphans_reaped += 1,
                Err(e) => {
                    eprintln!("ringmon daemon: waitpid {pid}: {e}");
                    return;
                }
            }
        }
    }
}
