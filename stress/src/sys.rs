//! The two raw syscalls the stress tool needs: kill(2) of a pid it started, and a
//! fork-like clone3 into new namespaces followed by execve, for the kernel floor.
#![allow(unsafe_code)]

use std::ffi::CString;
use std::io;
use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd, OwnedFd};

use ringmon::sys::spawn::CloneArgs;

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

/// clone3(flags | CLONE_PIDFD) without CLONE_VM (the child gets its own copy of our
/// memory, like fork), then dup2(stdout, 1) and execve(argv[0], argv, []) in the child.
/// Returns the pidfd.
pub fn clone3_exec(flags: u64, argv: &[CString], stdout: BorrowedFd<'_>) -> io::Result<OwnedFd> {
    let out = stdout.as_raw_fd();
    let mut ptrs: Vec<*const libc::c_char> = argv.iter().map(|a| a.as_ptr()).collect();
    ptrs.push(std::ptr::null());
    let envp: [*const libc::c_char; 1] = [std::ptr::null()];
    let mut pidfd: libc::c_int = -1;
    let args = CloneArgs {
        flags: flags | libc::CLONE_PIDFD as u64,
        pidfd: &mut pidfd as *mut libc::c_int as u64,
        exit_signal: libc::SIGCHLD as u64,
        ..Default::default()
    };
    // SAFETY: a fork-like clone3 (no CLONE_VM, no new stack): the child runs on its own
    // copy of this stack and only calls dup2, execve and _exit, all async-signal-safe, with
    // pointers into that copy (argv, envp, the path), which stay valid until the exec.
    let pid = unsafe {
        libc::syscall(
            libc::SYS_clone3,
            &args as *const CloneArgs,
            std::mem::size_of::<CloneArgs>(),
        )
    };
    if pid < 0 {
        return Err(io::Error::last_os_error());
    }
    if pid == 0 {
        // SAFETY: see above; _exit never returns.
        unsafe {
            if libc::dup2(out, 1) < 0 {
                libc::_exit(126);
            }
            libc::execve(ptrs[0], ptrs.as_ptr(), envp.as_ptr());
            libc::_exit(127);
        }
    }
    // SAFETY: CLONE_PIDFD stored a new pidfd (close-on-exec) that nothing else owns.
    Ok(unsafe { OwnedFd::from_raw_fd(pidfd) })
}
