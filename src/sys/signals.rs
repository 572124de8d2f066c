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

/// Resets every catchable signal, 1 to 64, to its default disposition: an ignored signal
/// survives execve (the daemon's SIGPIPE, as Rust's runtime sets it, or whatever started
/// the daemon ignored). The container init's first step (`init::main`), or the zygote's
/// once for all its forks, which inherit it. Through the raw syscall: glibc's `signal`
/// refuses 32 and 33 (its own), which an inherited SIG_IGN would otherwise keep.
pub fn reset_dispositions() {
    /// The kernel's `struct sigaction` for rt_sigaction on x86_64 and aarch64.
    #[repr(C)]
    struct KernelSigaction {
        handler: usize,
        flags: u64,
        restorer: usize,
        mask: u64,
    }
    let dfl = KernelSigaction {
        handler: libc::SIG_DFL,
        flags: 0,
        restorer: 0,
        mask: 0,
    };
    for signo in 1..=64 {
        if signo == libc::SIGKILL || signo == libc::SIGSTOP {
            continue;
        }
        // SAFETY: `dfl` is a valid kernel sigaction (SIG_DFL needs no restorer) that
        // outlives the call, the old action is not asked for (null), and the sigset size
        // is the kernel's (8 bytes). Nothing in this process relies on a handler.
        unsafe {
            libc::syscall(
                libc::SYS_rt_sigaction,
                signo,
                &dfl as *const KernelSigaction,
                std::ptr::null_mut::<KernelSigaction>(),
                8usize,
            )
        };
    }
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
