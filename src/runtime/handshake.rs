//! The daemon <-> init handshake: typed messages over a SOCK_SEQPACKET socketpair, with fds
//! passed as SCM_RIGHTS.
//!
//! Order: daemon sends `Job` (+ stdio pipe ends) -> init sets up and replies `Ready` (+ the
//! pty master, *before* it resolves the executable) or `SetupFailed` -> daemon sends `Start`
//! -> init execs. A successful exec closes the init's end (close-on-exec), so the daemon
//! reads end-of-file; a failed one sends `ExecFailed` first. The init side blocks; the
//! daemon side is non-blocking and driven by poll completions.

use std::io::{self, IoSlice, IoSliceMut};
use std::mem::MaybeUninit;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};

use rustix::net::{
    RecvAncillaryBuffer, RecvAncillaryMessage, RecvFlags, SendAncillaryBuffer,
    SendAncillaryMessage, SendFlags,
};
use serde::{Deserialize, Serialize};

/// Largest handshake message. It must fit the default AF_UNIX send buffer
/// (net.core.wmem_default, 208 KiB here) for a single SOCK_SEQPACKET datagram.
pub const MAX_MESSAGE: usize = 128 * 1024;
const MAX_FDS: usize = 4;

/// What the init must set up.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct Job {
    pub args: Vec<String>,
    pub env: Vec<String>,
    pub cwd: String,
    pub tty: bool,
    /// Pipe mode: an stdin pipe is attached (else /dev/null).
    pub stdin: bool,
    /// Initial terminal size (rows, cols).
    pub winsize: Option<(u16, u16)>,
    /// The container to build before the exec.
    pub container: super::spec::plan::ContainerPlan,
}

#[derive(Debug, Serialize, Deserialize, PartialEq)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ToInit {
    /// To a warm init, before its job: the root to build ahead (the embedded default's),
    /// which the job uses if its root is the same (`ContainerPlan::same_root`).
    Prebuild(Box<super::spec::plan::ContainerPlan>),
    /// To a warm init, first: the `cgroup.procs` files of its own cgroup, to join while it
    /// waits; it was made under the id of the container that takes the init, and becomes
    /// that container's (`cgroups/warm.rs`).
    JoinCgroups { procs: Vec<String> },
    /// To a warm init, after those two: if it built the root and joined its cgroup, detach
    /// the host's tree now and enter the root (docs/design/0015). The daemon then gives it
    /// only a job that needs nothing of the host's tree (`ContainerPlan::needs_host_tree`).
    Seal,
    /// The job; in pipe mode followed by fds: stdout, stderr, [stdin].
    Job(Box<Job>),
    /// Exec the command now.
    Start,
}

#[derive(Debug, Serialize, Deserialize, PartialEq)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum FromInit {
    /// Set up and waiting for Start. In tty mode the pty master comes with it.
    /// `root_built_ahead`: the root was the one a warm init built before its job.
    Ready {
        #[serde(default)]
        root_built_ahead: bool,
        /// It was in the container's cgroups before its job (its own, made ahead).
        #[serde(default)]
        cgroup_joined_ahead: bool,
    },
    /// A setup step failed; the init exits after sending this.
    SetupFailed { step: String, message: String },
    /// The exec of the user's command failed; the init exits with `exit_code` after this.
    ExecFailed {
        binary: String,
        errno: i32,
        message: String,
        exit_code: i32,
    },
}

#[derive(Debug, thiserror::Error)]
pub enum HandshakeError {
    #[error("sendmsg on handshake socket: {0}")]
    Send(io::Error),
    #[error("recvmsg on handshake socket: {0}")]
    Recv(io::Error),
    #[error("handshake message of {0} bytes is larger than {MAX_MESSAGE}")]
    TooLarge(usize),
    #[error("handshake message was truncated")]
    Truncated,
    #[error("malformed handshake message: {0}")]
    Decode(serde_json::Error),
    #[error("expected {expected}, got {got}")]
    Unexpected { expected: &'static str, got: String },
    #[error("peer closed the handshake socket while {0} was expected")]
    Closed(&'static str),
}

/// A message serialized once, its size already checked against `MAX_MESSAGE`.
#[derive(Debug)]
pub struct Encoded(Vec<u8>);

impl Encoded {
    pub fn new<T: Serialize>(msg: &T) -> Result<Self, HandshakeError> {
        let bytes = serde_json::to_vec(msg).map_err(HandshakeError::Decode)?;
        if bytes.len() > MAX_MESSAGE {
            return Err(HandshakeError::TooLarge(bytes.len()));
        }
        Ok(Self(bytes))
    }
}

/// Sends one message with `fds` attached.
pub fn send<T: Serialize>(
    sock: BorrowedFd<'_>,
    msg: &T,
    fds: &[BorrowedFd<'_>],
) -> Result<(), HandshakeError> {
    send_encoded(sock, &Encoded::new(msg)?, fds)
}

/// Sends an already encoded message with `fds` attached.
pub fn send_encoded(
    sock: BorrowedFd<'_>,
    msg: &Encoded,
    fds: &[BorrowedFd<'_>],
) -> Result<(), HandshakeError> {
    send_with_fds(sock, &msg.0, fds, SendFlags::NOSIGNAL).map_err(HandshakeError::Send)
}

/// sendmsg(2) of one datagram with up to `MAX_FDS` fds (SCM_RIGHTS); the zygote's protocol
/// uses it too (`runtime::zygote`).
pub fn send_with_fds(
    sock: BorrowedFd<'_>,
    bytes: &[u8],
    fds: &[BorrowedFd<'_>],
    flags: SendFlags,
) -> io::Result<()> {
    let mut space = [MaybeUninit::<u8>::uninit(); rustix::cmsg_space!(ScmRights(MAX_FDS))];
    let mut anc = SendAncillaryBuffer::new(&mut space);
    if !fds.is_empty() && !anc.push(SendAncillaryMessage::ScmRights(fds)) {
        return Err(io::Error::other("too many fds"));
    }
    rustix::net::sendmsg(sock, &[IoSlice::new(bytes)], &mut anc, flags)?;
    Ok(())
}

/// One datagram received by `recv_with_fds`.
pub struct Received {
    pub bytes: usize,
    /// The datagram or its fds did not fit (MSG_TRUNC, MSG_CTRUNC).
    pub truncated: bool,
    pub fds: Vec<OwnedFd>,
}

/// recvmsg(2) of one datagram into `buf`, with up to `MAX_FDS` fds, which arrive
/// close-on-exec (`flags` adds to MSG_CMSG_CLOEXEC).
pub fn recv_with_fds(
    sock: BorrowedFd<'_>,
    buf: &mut [u8],
    flags: RecvFlags,
) -> io::Result<Received> {
    let mut space = [MaybeUninit::<u8>::uninit(); rustix::cmsg_space!(ScmRights(MAX_FDS))];
    let mut anc = RecvAncillaryBuffer::new(&mut space);
    let res = rustix::net::recvmsg(
        sock,
        &mut [IoSliceMut::new(buf)],
        &mut anc,
        flags | RecvFlags::CMSG_CLOEXEC,
    )?;
    let mut fds = Vec::new();
    for msg in anc.drain() {
        if let RecvAncillaryMessage::ScmRights(rights) = msg {
            fds.extend(rights);
        }
    }
    let truncated = res.flags.contains(rustix::net::ReturnFlags::TRUNC)
        || res.flags.contains(rustix::net::ReturnFlags::CTRUNC);
    Ok(Received {
        bytes: res.bytes,
        truncated,
        fds,
    })
}

/// Receives one message; fds arrive close-on-exec. `Ok(None)` means the peer closed.
pub fn recv<T: for<'de> Deserialize<'de>>(
    sock: BorrowedFd<'_>,
    buf: &mut Vec<u8>,
) -> Result<Option<(T, Vec<OwnedFd>)>, HandshakeError> {
    buf.clear();
    buf.resize(MAX_MESSAGE, 0);
    let res = recv_with_fds(sock, buf, RecvFlags::empty()).map_err(HandshakeError::Recv)?;
    if res.truncated {
        return Err(HandshakeError::Truncated);
    }
    if res.bytes == 0 {
        return Ok(None);
    }
    let msg = serde_json::from_slice(&buf[..res.bytes]).map_err(HandshakeError::Decode)?;
    Ok(Some((msg, res.fds)))
}

/// What an init receives first: its job (with its fds), or, for a warm init, the root to
/// build before it (`ToInit::Prebuild`).
#[derive(Debug)]
pub enum BeforeStart {
    Job(Box<Job>, Vec<OwnedFd>),
    Prebuild(Box<super::spec::plan::ContainerPlan>),
    JoinCgroups(Vec<String>),
    Seal,
}

/// A blocking receive for the init, naming what it expected when something else arrives.
pub fn expect_job(sock: BorrowedFd<'_>) -> Result<BeforeStart, HandshakeError> {
    let mut buf = Vec::new();
    match recv::<ToInit>(sock, &mut buf)? {
        Some((ToInit::Job(job), fds)) => Ok(BeforeStart::Job(job, fds)),
        Some((ToInit::Prebuild(plan), _)) => Ok(BeforeStart::Prebuild(plan)),
        Some((ToInit::JoinCgroups { procs }, _)) => Ok(BeforeStart::JoinCgroups(procs)),
        Some((ToInit::Seal, _)) => Ok(BeforeStart::Seal),
        Some((other, _)) => Err(HandshakeError::Unexpected {
            expected: "job",
            got: format!("{other:?}"),
        }),
        None => Err(HandshakeError::Closed("job")),
    }
}

/// The init waits here between create and start.
pub fn expect_start(sock: BorrowedFd<'_>) -> Result<(), HandshakeError> {
    let mut buf = Vec::new();
    match recv::<ToInit>(sock, &mut buf)? {
        Some((ToInit::Start, _)) => Ok(()),
        Some((other, _)) => Err(HandshakeError::Unexpected {
            expected: "start",
            got: format!("{other:?}"),
        }),
        None => Err(HandshakeError::Closed("start")),
    }
}

/// A connected SOCK_SEQPACKET pair (both ends close-on-exec).
pub fn pair() -> io::Result<(OwnedFd, OwnedFd)> {
    rustix::net::socketpair(
        rustix::net::AddressFamily::UNIX,
        rustix::net::SocketType::SEQPACKET,
        rustix::net::SocketFlags::CLOEXEC,
        None,
    )
    .map_err(|e| io::Error::other(format!("socketpair AF_UNIX SOCK_SEQPACKET: {e}")))
}

/// Helper for tests and callers holding owned fds.
pub fn borrow_all(fds: &[OwnedFd]) -> Vec<BorrowedFd<'_>> {
    fds.iter().map(|f| f.as_fd()).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn job_and_fds_round_trip() {
        let (a, b) = pair().expect("pair");
        let job = Job {
            args: vec!["echo".into(), "hi".into()],
            env: vec!["PATH=/bin".into()],
            cwd: "/".into(),
            tty: false,
            stdin: false,
            winsize: Some((24, 80)),
            container: Default::default(),
        };
        let (r, w) = rustix::pipe::pipe_with(rustix::pipe::PipeFlags::CLOEXEC).expect("pipe");
        send(
            a.as_fd(),
            &ToInit::Job(Box::new(job.clone())),
            &[r.as_fd(), w.as_fd()],
        )
        .expect("send");
        let BeforeStart::Job(got, fds) = expect_job(b.as_fd()).expect("recv") else {
            panic!("a job was sent")
        };
        let got = *got;
        assert_eq!(got, job);
        assert_eq!(fds.len(), 2);
        let flags = rustix::io::fcntl_getfd(&fds[0]).expect("getfd");
        assert!(
            flags.contains(rustix::io::FdFlags::CLOEXEC),
            "received fds are CLOEXEC"
        );
    }

    #[test]
    fn unexpected_message_is_named() {
        let (a, b) = pair().expect("pair");
        send(a.as_fd(), &ToInit::Start, &[]).expect("send");
        let err = expect_job(b.as_fd()).expect_err("must fail");
        assert!(err.to_string().contains("expected job"), "{err}");
        drop(a);
        let err = expect_start(b.as_fd()).expect_err("closed");
        assert!(err.to_string().contains("closed"), "{err}");
    }
}
