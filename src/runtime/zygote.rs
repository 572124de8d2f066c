//! The warm-init zygote (docs/design/0014): one small process, exec'd once from the sealed
//! memfd, that forks the warm inits so that the daemon never stalls in their clone.
//!
//! A warm init used to be cloned by the daemon itself (vfork-style, `sys::spawn`): the loop
//! stood still from the clone to the init's exec, and every init paid the exec of the
//! sealed binary and glibc's start-up again. The zygote pays those once. For each request
//! it forks (clone3, `sys::spawn::fork_sibling`) with the pool's namespace flags and
//! CLONE_PARENT, so the init is the *daemon's* child, reaped through the pidfd the zygote
//! sends back; the fork continues as `ringmon init` on the handshake socket that came with
//! the request.
//!
//! The protocol, on a SOCK_SEQPACKET pair:
//! - request (daemon -> zygote): the clone flags, an i32 in native byte order, and the
//!   child's end of its handshake socket (SCM_RIGHTS, exactly one fd);
//! - reply (zygote -> daemon), one per request and in order: the child's pid, or -errno of
//!   a failed clone3, an i32; with the child's pidfd (SCM_RIGHTS) when it is a pid.
//!
//! The zygote exits when the daemon closes its end (or dies: PR_SET_PDEATHSIG).

use std::collections::VecDeque;
use std::io::{self, Write};
use std::os::fd::{AsFd, BorrowedFd, OwnedFd, RawFd};

use rustix::net::{RecvFlags, SendFlags};

use super::handshake;
use super::spawn::{Booting, NewNamespaces, SpawnError};
use crate::fd_ledger::{Fd, Owner};
use crate::sys::spawn::{fork_sibling, Forked};

/// One i32 each way.
const WORD: usize = 4;

/// Receives one message of one i32 with at most one fd. `Ok(None)`: the peer closed (with
/// `DONTWAIT`, nothing queued is `WouldBlock`).
fn recv_word(sock: BorrowedFd<'_>, flags: RecvFlags) -> io::Result<Option<(i32, Option<OwnedFd>)>> {
    let mut buf = [0u8; WORD];
    let mut res = handshake::recv_with_fds(sock, &mut buf, flags)?;
    if res.bytes == 0 {
        return Ok(None);
    }
    if res.truncated || res.bytes != WORD || res.fds.len() > 1 {
        return Err(io::Error::other(format!(
            "malformed zygote message ({} bytes, {} fds)",
            res.bytes,
            res.fds.len()
        )));
    }
    Ok(Some((i32::from_ne_bytes(buf), res.fds.pop())))
}

fn send_word(sock: BorrowedFd<'_>, word: i32, fd: Option<BorrowedFd<'_>>) -> io::Result<()> {
    let fds: Vec<BorrowedFd<'_>> = fd.into_iter().collect();
    let flags = SendFlags::NOSIGNAL | SendFlags::DONTWAIT;
    handshake::send_with_fds(sock, &word.to_ne_bytes(), &fds, flags)
}

/// `ringmon zygote --sync-fd=N`: serves fork requests until the daemon closes the socket.
/// Returns the exit code.
pub fn main(sock_fd: RawFd) -> i32 {
    if let Err(e) = super::sealed_exe::verify_self() {
        let _ = writeln!(io::stderr(), "ringmon zygote: {e}");
        return 125;
    }
    let sock = match crate::sys::exec::adopt_inherited_fd(sock_fd) {
        Ok(fd) => fd,
        Err(e) => {
            let _ = writeln!(io::stderr(), "ringmon zygote: adopt fd {sock_fd}: {e}");
            return 125;
        }
    };
    // Its forks must not inherit it; they are the daemon's children, not ours.
    let _ = rustix::io::fcntl_setfd(&sock, rustix::io::FdFlags::CLOEXEC);
    // Gone with the daemon, even if it is killed (it then cannot close the socket).
    let _ = rustix::process::set_parent_process_death_signal(Some(rustix::process::Signal::KILL));
    if rustix::process::getppid().is_none_or(|p| p.as_raw_nonzero().get() == 1) {
        return 0;
    }
    // For every fork at once: each init starts with every signal at its default
    // disposition (init::main does the same for an init exec'd on its own; nothing here
    // changes them after this). The daemon's blocked mask stays: a terminal's ^C for the
    // daemon's process group does not end the zygote before the daemon does; each fork
    // unblocks its own (`init::main_adopted`).
    crate::sys::signals::reset_dispositions();
    loop {
        let (flags, handshake) = match recv_word(sock.as_fd(), RecvFlags::empty()) {
            Ok(None) => return 0,
            Ok(Some((flags, Some(fd)))) => (flags, fd),
            Ok(Some((_, None))) => {
                let _ = writeln!(io::stderr(), "ringmon zygote: a request without its socket");
                return 1;
            }
            Err(e) => {
                let _ = writeln!(io::stderr(), "ringmon zygote: recvmsg: {e}");
                return 1;
            }
        };
        let sent = match fork_sibling(flags) {
            Ok(Forked::Child) => {
                drop(sock);
                std::process::exit(crate::init::main_adopted(handshake));
            }
            Ok(Forked::Parent { pid, pidfd }) => {
                drop(handshake);
                send_word(sock.as_fd(), pid, Some(pidfd.as_fd()))
            }
            Err(e) => {
                drop(handshake);
                send_word(sock.as_fd(), -e.raw_os_error().unwrap_or(libc::EIO), None)
            }
        };
        if let Err(e) = sent {
            let _ = writeln!(io::stderr(), "ringmon zygote: sendmsg: {e}");
            return 1;
        }
    }
}

/// A request whose reply has not been read yet: the daemon's end of the handshake socket,
/// and the pool's epoch when it was sent (`WarmInits`: a reply from an older epoch is an
/// init forked before the mount table last changed).
struct Pending {
    sync: Fd,
    epoch: u64,
}

/// What a reply brought.
pub enum Reply {
    /// A forked init, waiting for its job, and the epoch of its request.
    Born(Booting, u64),
    /// clone3 failed in the zygote.
    Failed(io::Error),
}

/// The daemon's side of the zygote.
pub struct Zygote {
    process: Booting,
    pending: VecDeque<Pending>,
}

impl Zygote {
    /// Clones and execs the zygote (once: the same vfork-style clone as a cold init's, in
    /// the daemon's own namespaces) with the environment an init gets.
    pub fn spawn(exe: &Fd, slot: &Fd, stage: &std::path::Path) -> Result<Self, SpawnError> {
        let ns = NewNamespaces {
            clone_flags: 0,
            pid_ns: None,
            stage: Some(stage),
        };
        let process = super::spawn::clone_ringmon(exe, slot, &ns, Owner::Warm, "zygote")?;
        Ok(Self {
            process,
            pending: VecDeque::new(),
        })
    }

    pub fn pid(&self) -> i32 {
        self.process.pid
    }

    /// The socket to poll for replies (and the zygote's death: POLLHUP).
    pub fn sock(&self) -> BorrowedFd<'_> {
        self.process.sync_fd()
    }

    /// Requests not answered yet.
    pub fn pending(&self) -> usize {
        self.pending.len()
    }

    /// Asks for an init with `flags`; never blocks (a full socket buffer is an error).
    pub fn request(&mut self, flags: i32, epoch: u64) -> io::Result<()> {
        let (ours, theirs) = handshake::pair()?;
        rustix::fs::fcntl_setfl(&ours, rustix::fs::OFlags::NONBLOCK)?;
        send_word(self.sock(), flags, Some(theirs.as_fd()))
            .map_err(|e| io::Error::other(format!("sendmsg to the zygote: {e}")))?;
        let sync = Fd::new(ours, Owner::Warm, "init handshake");
        self.pending.push_back(Pending { sync, epoch });
        Ok(())
    }

    /// The replies queued now (never blocks). `Err` means the zygote is gone (closed its
    /// end, or sent something malformed): the replies read before it are in the `Ok`
    /// part of the pair, and the requests still pending are dropped (their inits, if any
    /// were forked, see their socket close and exit; the orphan sweep reaps them).
    pub fn replies(&mut self) -> (Vec<Reply>, Option<String>) {
        let mut out = Vec::new();
        loop {
            match recv_word(self.sock(), RecvFlags::DONTWAIT) {
                Ok(Some((word, fd))) => {
                    let Some(p) = self.pending.pop_front() else {
                        return (out, Some("a reply to no request".into()));
                    };
                    match (word, fd) {
                        (pid, Some(pidfd)) if pid > 0 => {
                            let pidfd = Fd::new(pidfd, Owner::Warm, "pidfd");
                            out.push(Reply::Born(Booting::forked(pid, pidfd, p.sync), p.epoch));
                        }
                        (neg, None) if neg < 0 => {
                            out.push(Reply::Failed(io::Error::from_raw_os_error(-neg)));
                        }
                        (word, fd) => {
                            let why = format!("a malformed reply ({word}, fd: {})", fd.is_some());
                            return (out, Some(why));
                        }
                    }
                }
                Ok(None) => return (out, Some("it closed its socket (exited)".into())),
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return (out, None),
                Err(e) => return (out, Some(format!("recvmsg: {e}"))),
            }
        }
    }

    /// The zygote's process, for the daemon to kill and reap (`Daemon::give_up`); its
    /// pending requests are dropped.
    pub fn into_process(self) -> Booting {
        self.process
    }
}
