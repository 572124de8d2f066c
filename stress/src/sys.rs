//! The two raw syscalls the stress tool needs: kill(2) of a pid it started, and a
//! fork-like clone3 into new namespaces followed by execve, for the kernel floor.
#![allow(unsafe_code)]

use std::ffi::CString;
use std::io;
use std::os::fd::{AsRawFd, BorrowedFd, OwnedFd};

use ringmon::sys::spawn::{fork3, Forked};

/// kill(pid, sig) for a pid this process started (never a group: pid > 1).
pub fn kill(pid: i32, sig: i32) -> io::Result<()> {
    if pid <= 1 {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "pid must be > 1",
        ));
    }
    // SAFETY: kill takes two integers and touches no memory of ours.
    if unsafe { libc::kill(pid, sig) } < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// clone3(flags | CLONE_PIDFD) without CLONE_VM (`ringmon::sys::spawn::fork3`: the child
/// gets its own copy of our memory, like fork), then dup2(stdout, 1) and execve(argv[0],
/// argv, []) in the child. Returns the pidfd.
pub fn clone3_exec(flags: u64, argv: &[CString], stdout: BorrowedFd<'_>) -> io::Result<OwnedFd> {
    let out = stdout.as_raw_fd();
    let mut ptrs: Vec<*const libc::c_char> = argv.iter().map(|a| a.as_ptr()).collect();
    ptrs.push(std::ptr::null());
    let envp: [*const libc::c_char; 1] = [std::ptr::null()];
    match fork3(flags, libc::SIGCHLD as u64)? {
        Forked::Parent { pidfd, .. } => Ok(pidfd),
        // SAFETY: the child of a fork-like clone3 runs on its own copy of this stack and
        // only calls dup2, execve and _exit, all async-signal-safe, with pointers into
        // that copy (argv, envp, the path), which stay valid until the exec; _exit never
        // returns.
        Forked::Child => unsafe {
            if libc::dup2(out, 1) < 0 {
                libc::_exit(126);
            }
            libc::execve(ptrs[0], ptrs.as_ptr(), envp.as_ptr());
            libc::_exit(127);
        },
    }
}
