//! Joining namespaces by path (a pod's shared network or ipc namespace).
//!
//! New namespaces come from the clone flags; a pid namespace to join is entered by the daemon
//! around the clone (setns(CLONE_NEWPID) applies only to children). The rest are joined here,
//! before anything is mounted.

use std::os::fd::AsFd;

use rustix::fs::{Mode, OFlags};

use crate::runtime::spec::plan::NsJoin;

#[derive(Debug, thiserror::Error)]
#[error("{call} {path} ({kind} namespace): {err}")]
pub struct NsError {
    call: &'static str,
    path: String,
    kind: String,
    err: rustix::io::Errno,
}

pub fn join(list: &[NsJoin]) -> Result<(), NsError> {
    for ns in list {
        let fail = |call, err| NsError {
            call,
            path: ns.path.clone(),
            kind: ns.kind.clone(),
            err,
        };
        let fd = rustix::fs::open(
            ns.path.as_str(),
            OFlags::RDONLY | OFlags::CLOEXEC,
            Mode::empty(),
        )
        .map_err(|e| fail("openat", e))?;
        rustix::thread::move_into_link_name_space(fd.as_fd(), None)
            .map_err(|e| fail("setns", e))?;
    }
    Ok(())
}
