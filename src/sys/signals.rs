//! Signal masks and signalfd.
//!
//! The daemon blocks the signals it handles and reads them from a signalfd on the ring, so
//! no signal handler ever runs in it. Children inherit the blocked mask and ignored
//! dispositions across execve; the container init undoes both before it execs the user's
//! command (a container whose SIGPIPE is ignored breaks `yes | head`).

use std::io;
use std::mem::MaybeUninit;
use std::os::fd::{FromRawFd, OwnedFd};

fn sigset_of(signals: &[i32]) -> libc::sigset_t {
    let mut set = MaybeUninit::<libc::sigset_t>::uninit();
    // SAFETY: sigemptyset initialises the set it is given; set points to valid storage.
    unsafe { libc::sigemptyset(set.as_mut_ptr()) };
    // SAFETY: sigemptyset above initialised the set.
    let mut set = unsafe { set.assume_init() };
    for &s in signals {
        // SAFETY: set is an initialised sigset_t; an invalid signo only makes this fail.
        unsafe { libc::sigaddset(&mut set, s) };
    }
    set
}

/// Blocks `signals` for the calling thread and returns a signalfd (CLOEXEC|NONBLOCK) that
/// reports them.
pub fn block_and_signalfd(signals: &[i32]) -> io::Result<OwnedFd> {
    let set = sigset_of(signals);
    // SAFETY: set is an initialised sigset_t; the old-set pointer may be null.
    let rc = unsafe { libc::pthread_sigmask(libc::SIG_BLOCK, &set, std::ptr::null_mut()) };
    if rc != 0 {
        return Err(io::Error::from_raw_os_error(rc));
    }
    // SAFETY: -1 asks for a new signalfd; set is initialised; flags are valid.
    let fd = unsafe { libc::signalfd(-1, &set, libc::SFD_CLOEXEC | libc::SFD_NONBLOCK) };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: signalfd returned a new descriptor that nothing else owns.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// Unblocks every signal and resets every catchable signal to its default disposition.
/// Called by the container init first thing, to undo what it inherited across execve
/// (the daemon's blocked mask and ignored signals).
pub fn reset_inherited() -> io::Result<()> {
    unblock_all()?;
    for signo in 1..=libc::SIGRTMAX() {
        if signo == libc::SIGKILL || signo == libc::SIGSTOP {
            continue;
        }
        // SAFETY: SIG_DFL is always a valid disposition; failures (invalid or
        // libc-reserved signals) are ignored on purpose.
        unsafe { libc::signal(signo, libc::SIG_DFL) };
    }
    Ok(())
}

/// Unblocks every signal (the mask survives execve; handlers do not).
pub fn unblock_all() -> io::Result<()> {
    let set = sigset_of(&[]);
    // SAFETY: set is an initialised, empty sigset_t.
    let rc = unsafe { libc::pthread_sigmask(libc::SIG_SETMASK, &set, std::ptr::null_mut()) };
    if rc != 0 {
        return Err(io::Error::from_raw_os_error(rc));
    }
    Ok(())
}
