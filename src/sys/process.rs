//! Signals by pidfd, with raw signal numbers (rustix's `Signal` cannot name real-time
//! signals safely).

use std::io;
use std::os::fd::{AsRawFd, BorrowedFd};

/// pidfd_send_signal(pidfd, signo, NULL, 0).
pub fn pidfd_send_signal(pidfd: BorrowedFd<'_>, signo: i32) -> io::Result<()> {
    // SAFETY: plain integer arguments; a null siginfo asks the kernel to fill one in as for
    // kill(2).
    let rc = unsafe {
        libc::syscall(
            libc::SYS_pidfd_send_signal,
            pidfd.as_raw_fd(),
            signo,
            std::ptr::null::<libc::siginfo_t>(),
            0u32,
        )
    };
    if rc < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// waitid(P_ALL, WEXITED|WNOHANG|WNOWAIT): the pid of some exited child, without reaping
/// it; None when no child has exited.
pub fn peek_exited_child() -> io::Result<Option<i32>> {
    // SAFETY: siginfo_t is plain old data; all-zero is valid, and si_pid stays 0 when no
    // child is waitable (WNOHANG).
    let mut info: libc::siginfo_t = unsafe { std::mem::zeroed() };
    // SAFETY: info points to a valid siginfo_t for the kernel to fill.
    let rc = unsafe {
        libc::waitid(
            libc::P_ALL,
            0,
            &mut info,
            libc::WEXITED | libc::WNOHANG | libc::WNOWAIT,
        )
    };
    if rc < 0 {
        let e = io::Error::last_os_error();
        if e.raw_os_error() == Some(libc::ECHILD) {
            return Ok(None);
        }
        return Err(e);
    }
    // SAFETY: the kernel filled a SIGCHLD siginfo (or left it zeroed).
    let pid = unsafe { info.si_pid() };
    Ok((pid > 0).then_some(pid))
}

/// unshare(CLONE_NEWCGROUP): a new cgroup namespace rooted at the caller's current cgroup.
pub fn unshare_cgroup_ns() -> io::Result<()> {
    // SAFETY: rustix marks unshare unsafe for CLONE_FILES (fd tables diverging between
    // threads); CLONE_NEWCGROUP touches no fd table and the init is single-threaded.
    unsafe { rustix::thread::unshare_unsafe(rustix::thread::UnshareFlags::NEWCGROUP) }
        .map_err(io::Error::from)
}
