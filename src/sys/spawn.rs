//! A vfork-style clone whose cost does not grow with the daemon's memory.
//!
//! `fork()` copies the parent's page tables: 1.3 ms at 16 MiB, 76 ms at 2 GiB on these
//! machines. `clone(CLONE_VM|CLONE_VFORK|CLONE_PIDFD)` shares the address space and
//! suspends the parent until the child has called execve, so it costs ~0.5 ms whatever the
//! daemon's size. The child runs on a private stack and does only async-signal-safe work:
//! clear close-on-exec on the one fd it must pass on, then execveat the sealed binary. The
//! pidfd exists before the pid can be reused (CLONE_PIDFD).
//!
//! Nor does it grow with the daemon's fds, when the fds the child needs are below a small
//! bound: a fork-like clone copies the whole fd table (thousands of pty masters and pipes)
//! and the exec then closes every one of those copies again (`do_close_on_exec`, measured
//! at 2000 containers held as the largest term of a create). With CLONE_FILES the child
//! shares the table instead, and its first call, `close_range(bound, ~0,
//! CLOSE_RANGE_UNSHARE)`, gives it a private copy of the fds below `bound` only.
//!
//! glibc's `clone()` wrapper is used rather than a raw clone3: with CLONE_VM and a new stack
//! the child must start in a function entered on that stack, which is what the wrapper does
//! (see ../shared/kernel-notes.md, "Spawning").

use std::io;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, OwnedFd, RawFd};
use std::sync::atomic::{AtomicI32, Ordering};

use super::exec::CStrArray;

/// The CLONE_NEW* bits a caller's namespace flags may carry into a clone.
const NS_MASK: i32 = libc::CLONE_NEWNS
    | libc::CLONE_NEWPID
    | libc::CLONE_NEWUTS
    | libc::CLONE_NEWIPC
    | libc::CLONE_NEWNET
    | libc::CLONE_NEWCGROUP;

/// What the child needs; it lives on the parent's heap, shared through CLONE_VM, and stays
/// valid because the parent is suspended until the child has exec'd or exited.
struct ChildArgs {
    exe: RawFd,
    keep: RawFd,
    /// With CLONE_FILES: unshare the table, keeping only fds below this.
    unshare_below: Option<u32>,
    argv: *const *const libc::c_char,
    envp: *const *const libc::c_char,
    /// errno of a failed fcntl/execveat, written by the child; 0 when exec succeeded.
    err: AtomicI32,
}

const STACK_SIZE: usize = 64 * 1024;

/// The fds a child keeps when it unshares its table: the daemon's first few (stdio, the
/// sealed binary, the spawn slot are among them).
pub const SMALL_TABLE: RawFd = 64;

/// dup3(src, dst, O_CLOEXEC): puts `src`'s file at fd number `dst`, which the caller owns
/// (the file that was there is closed, atomically).
pub fn dup_onto(src: BorrowedFd<'_>, dst: BorrowedFd<'_>) -> io::Result<()> {
    // SAFETY: dup3 takes plain integers; `dst` is an fd the caller owns and keeps owning (only
    // the file behind the number changes), so no other owner's fd is closed.
    let rc = unsafe { libc::dup3(src.as_raw_fd(), dst.as_raw_fd(), libc::O_CLOEXEC) };
    if rc < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

extern "C" fn child_main(arg: *mut libc::c_void) -> libc::c_int {
    // SAFETY: arg is the ChildArgs pointer passed to clone below; the parent keeps it alive
    // and does not touch it until this child has exec'd or exited (CLONE_VFORK).
    let args = unsafe { &*(arg as *const ChildArgs) };
    if let Some(bound) = args.unshare_below {
        // SAFETY: close_range takes plain integers; with CLOSE_RANGE_UNSHARE it first gives
        // this child its own fd table (the fds below `bound`), so the parent's is untouched.
        let rc = unsafe {
            libc::syscall(
                libc::SYS_close_range,
                bound,
                u32::MAX,
                libc::CLOSE_RANGE_UNSHARE,
            )
        };
        if rc < 0 {
            // SAFETY: __errno_location always returns this thread's valid errno pointer.
            args.err
                .store(unsafe { *libc::__errno_location() }, Ordering::SeqCst);
            // SAFETY: _exit is async-signal-safe and never returns.
            unsafe { libc::_exit(127) };
        }
    }
    // SAFETY: fcntl on an fd number only changes the child's own fd table (no CLONE_FILES,
    // or a table of its own since the close_range above).
    if unsafe { libc::fcntl(args.keep, libc::F_SETFD, 0) } < 0 {
        // SAFETY: __errno_location always returns this thread's valid errno pointer.
        args.err
            .store(unsafe { *libc::__errno_location() }, Ordering::SeqCst);
        // SAFETY: _exit is async-signal-safe and never returns.
        unsafe { libc::_exit(127) };
    }
    // SAFETY: argv and envp are null-terminated arrays kept alive by the parent; the path is
    // a static empty string used with AT_EMPTY_PATH.
    unsafe {
        libc::syscall(
            libc::SYS_execveat,
            args.exe,
            c"".as_ptr(),
            args.argv,
            args.envp,
            libc::AT_EMPTY_PATH,
        );
    }
    // SAFETY: as above.
    args.err
        .store(unsafe { *libc::__errno_location() }, Ordering::SeqCst);
    // SAFETY: _exit is async-signal-safe and never returns.
    unsafe { libc::_exit(127) }
}

/// A child that has exec'd the sealed binary.
pub struct Spawned {
    pub pid: i32,
    pub pidfd: OwnedFd,
}

/// Clones a child, in new namespaces for each CLONE_NEW* bit of `namespaces`, that executes
/// the binary behind `exe` with `argv`/`envp`, keeping `keep` open across the exec (its
/// close-on-exec flag is cleared in the child only). When both fds are below
/// `SMALL_TABLE`, the child shares our fd table until it unshares the fds below that bound
/// (module docs); otherwise it gets a copy of the whole table, as with fork.
///
/// Returns once the child has exec'd. When the exec itself failed, the child has already
/// exited; it is reaped here and the exec's error is returned.
pub fn spawn_exec(
    exe: BorrowedFd<'_>,
    argv: &CStrArray,
    envp: &CStrArray,
    keep: BorrowedFd<'_>,
    namespaces: i32,
) -> io::Result<Spawned> {
    let small = exe.as_raw_fd() < SMALL_TABLE && keep.as_raw_fd() < SMALL_TABLE;
    let args = Box::new(ChildArgs {
        exe: exe.as_raw_fd(),
        keep: keep.as_raw_fd(),
        unshare_below: small.then_some(SMALL_TABLE as u32),
        argv: argv.as_ptr(),
        envp: envp.as_ptr(),
        err: AtomicI32::new(0),
    });
    let mut stack = vec![0u8; STACK_SIZE];
    // The stack grows down: pass its 16-byte aligned top.
    let top = (stack.as_mut_ptr() as usize + STACK_SIZE) & !15;
    let mut pidfd: libc::c_int = -1;
    // Only CLONE_NEW* bits are taken from the caller.
    let flags = libc::CLONE_VM
        | libc::CLONE_VFORK
        | libc::CLONE_PIDFD
        | libc::SIGCHLD
        | if small { libc::CLONE_FILES } else { 0 }
        | (namespaces & NS_MASK);
    // SAFETY: child_main only reads `args` and calls async-signal-safe functions on its own
    // stack `stack`, which (like `args`, argv and envp) outlives the child's use of it
    // because CLONE_VFORK suspends us until the child has exec'd or exited. The daemon
    // blocks its handled signals, so no handler runs on the shared stack. With CLONE_PIDFD
    // the kernel stores the pidfd through the parent_tid pointer, which points at `pidfd`.
    let pid = unsafe {
        libc::clone(
            child_main,
            top as *mut libc::c_void,
            flags,
            &*args as *const ChildArgs as *mut libc::c_void,
            &mut pidfd as *mut libc::c_int,
        )
    };
    if pid < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: with CLONE_PIDFD and a successful clone the kernel installed a new pidfd
    // (O_CLOEXEC) that nothing else owns.
    let pidfd = unsafe { OwnedFd::from_raw_fd(pidfd) };
    drop(stack);
    let err = args.err.load(Ordering::SeqCst);
    if err != 0 {
        // The child has already called _exit: reap it so it does not linger as a zombie.
        let _ = rustix::process::waitid(
            rustix::process::WaitId::PidFd(pidfd.as_fd()),
            rustix::process::WaitIdOptions::EXITED,
        );
        return Err(io::Error::from_raw_os_error(err));
    }
    Ok(Spawned { pid, pidfd })
}

/// `struct clone_args` of clone3(2), up to `cgroup` (CLONE_ARGS_SIZE_VER2, 88 bytes).
#[repr(C)]
#[derive(Default)]
struct CloneArgs {
    flags: u64,
    pidfd: u64,
    child_tid: u64,
    parent_tid: u64,
    exit_signal: u64,
    stack: u64,
    stack_size: u64,
    tls: u64,
    set_tid: u64,
    set_tid_size: u64,
    cgroup: u64,
}

/// Which side of `fork3` (or `fork_sibling`) the caller is on.
pub enum Forked {
    /// The new process: a copy of the caller, continuing from the call.
    Child,
    /// The caller, with the child's pid (in the caller's pid namespace) and a pidfd for it.
    Parent { pid: i32, pidfd: OwnedFd },
}

/// A fork-like clone3 whose child is the caller's *sibling* (CLONE_PARENT: its parent is
/// the caller's parent, which reaps it through a pidfd of its own), in new namespaces for
/// each CLONE_NEW* bit of `namespaces`. The caller keeps a pidfd (CLONE_PIDFD, close-on-exec)
/// to pass on. The warm-init zygote uses it (`runtime::zygote`): the daemon's children are
/// made without the daemon stalling in a clone.
///
/// Only for a single-threaded caller: as after fork(2), the child has only the calling
/// thread, and no atfork handlers run (nothing in ringmon registers one).
pub fn fork_sibling(namespaces: i32) -> io::Result<Forked> {
    // With CLONE_PARENT the exit signal is the caller's own (SIGCHLD to the common
    // parent); clone3 requires 0 here.
    fork3((libc::CLONE_PARENT | (namespaces & NS_MASK)) as u64, 0)
}

/// clone3(`flags` | CLONE_PIDFD) without CLONE_VM or a stack of its own: the child runs on
/// a copy of the caller's memory and returns from this same call, as with fork(2). The
/// stress tool's kernel floor uses it too. Only for a single-threaded caller (the child
/// has only the calling thread).
pub fn fork3(flags: u64, exit_signal: u64) -> io::Result<Forked> {
    let mut pidfd: libc::c_int = -1;
    let args = CloneArgs {
        flags: flags | libc::CLONE_PIDFD as u64,
        pidfd: &mut pidfd as *mut libc::c_int as u64,
        exit_signal,
        ..Default::default()
    };
    // SAFETY: `args` is a valid clone_args of the size passed, and `pidfd` outlives the call
    // (the kernel writes the pidfd there before returning). Without CLONE_VM and with no
    // stack given, the child runs on a copy of this thread's memory and stack, returning
    // 0 from this same call, as with fork(2); the caller is single-threaded (documented).
    let rc = unsafe {
        libc::syscall(
            libc::SYS_clone3,
            &args as *const CloneArgs,
            std::mem::size_of::<CloneArgs>(),
        )
    };
    match rc {
        n if n < 0 => Err(io::Error::last_os_error()),
        0 => Ok(Forked::Child),
        pid => {
            // SAFETY: with CLONE_PIDFD and a successful clone3 the kernel installed a new
            // pidfd (O_CLOEXEC) in this process that nothing else owns.
            let pidfd = unsafe { OwnedFd::from_raw_fd(pidfd) };
            Ok(Forked::Parent {
                pid: pid as i32,
                pidfd,
            })
        }
    }
}
