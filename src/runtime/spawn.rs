//! Starting a container's init: sealed binary, handshake socket, stdio pipes, clone.

use std::ffi::CString;
use std::io;
use std::os::fd::{AsFd, OwnedFd};

use rustix::pipe::PipeFlags;

use super::handshake::{self, Encoded, Job, ToInit};
use crate::fd_ledger::{Fd, Owner};
use crate::sys::exec::CStrArray;
use crate::sys::spawn::spawn_exec;

#[derive(Debug, thiserror::Error)]
pub enum SpawnError {
    #[error(transparent)]
    Io(#[from] io::Error),
    #[error("pipe2 for {0}: {1}")]
    Pipe(&'static str, io::Error),
    #[error("clone + execveat sealed ringmon init: {0}")]
    Clone(io::Error),
    #[error("join pid namespace: {0}")]
    PidNs(String),
    #[error("send job to init: {0}")]
    Handshake(#[from] handshake::HandshakeError),
}

/// The daemon's side of a freshly spawned init.
pub struct Spawned {
    pub pid: i32,
    pub pidfd: Fd,
    pub sync: Fd,
    /// Pipe mode: read ends of stdout and stderr, write end of stdin (if requested).
    pub stdout: Option<Fd>,
    pub stderr: Option<Fd>,
    pub stdin: Option<Fd>,
}

fn pipe(what: &'static str) -> Result<(OwnedFd, OwnedFd), SpawnError> {
    rustix::pipe::pipe_with(PipeFlags::CLOEXEC).map_err(|e| SpawnError::Pipe(what, e.into()))
}

fn nonblocking(fd: &OwnedFd) -> io::Result<()> {
    let fl = rustix::fs::fcntl_getfl(fd)?;
    rustix::fs::fcntl_setfl(fd, fl | rustix::fs::OFlags::NONBLOCK)?;
    Ok(())
}

/// The namespaces the clone creates or enters.
#[derive(Debug, Default)]
pub struct NewNamespaces<'a> {
    /// CLONE_NEW* flags.
    pub clone_flags: i32,
    /// A pid namespace to start the init in (e.g. `/proc/PID/ns/pid` of another container).
    pub pid_ns: Option<&'a str>,
}

/// Enters a pid namespace for the next clone (setns(CLONE_NEWPID) sets the namespace of
/// future children only) and returns to the daemon's own when dropped.
struct PidNsGuard {
    own: OwnedFd,
}

impl PidNsGuard {
    fn enter(path: &str) -> Result<Self, SpawnError> {
        let open = |p: &str| {
            rustix::fs::open(
                p,
                rustix::fs::OFlags::RDONLY | rustix::fs::OFlags::CLOEXEC,
                rustix::fs::Mode::empty(),
            )
            .map_err(|e| SpawnError::PidNs(format!("openat {p}: {e}")))
        };
        let own = open("/proc/self/ns/pid")?;
        let target = open(path)?;
        rustix::thread::move_into_link_name_space(
            target.as_fd(),
            Some(rustix::thread::LinkNameSpaceType::ProcessID),
        )
        .map_err(|e| SpawnError::PidNs(format!("setns {path}: {e}")))?;
        Ok(Self { own })
    }
}

impl Drop for PidNsGuard {
    fn drop(&mut self) {
        // Our own active namespace is always a valid target; failing here would put every
        // later container into the wrong namespace, so say so loudly.
        if let Err(e) = rustix::thread::move_into_link_name_space(
            self.own.as_fd(),
            Some(rustix::thread::LinkNameSpaceType::ProcessID),
        ) {
            eprintln!("ringmon: setns back to the daemon's pid namespace failed: {e}");
        }
    }
}

/// The job for the init, encoded once by the caller (which checked its size before
/// spawning anything), and the two facts of it that decide the stdio fds sent along.
#[derive(Debug)]
pub struct InitJob {
    pub message: Encoded,
    pub tty: bool,
    /// Pipe mode: send the read end of an stdin pipe.
    pub stdin: bool,
}

impl InitJob {
    pub fn new(job: Job) -> Result<Self, handshake::HandshakeError> {
        let (tty, stdin) = (job.tty, job.stdin);
        Ok(Self {
            message: Encoded::new(&ToInit::Job(Box::new(job)))?,
            tty,
            stdin,
        })
    }
}

/// Spawns `ringmon init` from the sealed memfd and sends it `job`.
pub fn spawn_init(
    exe: &Fd,
    job: &InitJob,
    ns: &NewNamespaces<'_>,
    owner: Owner,
) -> Result<Spawned, SpawnError> {
    let (ours, theirs) = handshake::pair()?;
    let argv = CStrArray::new(vec![
        CString::from(c"ringmon"),
        CString::from(c"init"),
        CString::new(format!(
            "--sync-fd={}",
            std::os::fd::AsRawFd::as_raw_fd(&theirs)
        ))
        .expect("no NUL in a number"),
    ]);
    let envp = CStrArray::new(vec![CString::from(c"RINGMON_INIT=1")]);
    let guard = ns.pid_ns.map(PidNsGuard::enter).transpose()?;
    let child = spawn_exec(exe.as_fd(), &argv, &envp, theirs.as_fd(), ns.clone_flags)
        .map_err(SpawnError::Clone)?;
    drop(guard);
    drop(theirs);
    let pidfd = Fd::new(child.pidfd, owner, "pidfd");
    rustix::fs::fcntl_setfl(&ours, rustix::fs::OFlags::NONBLOCK).map_err(io::Error::from)?;
    let sync = Fd::new(ours, owner, "init handshake");

    let (mut stdout, mut stderr, mut stdin) = (None, None, None);
    if job.tty {
        handshake::send_encoded(sync.as_fd(), &job.message, &[])?;
    } else {
        let (out_r, out_w) = pipe("stdout")?;
        let (err_r, err_w) = pipe("stderr")?;
        let mut pass = vec![out_w, err_w];
        if job.stdin {
            let (in_r, in_w) = pipe("stdin")?;
            pass.push(in_r);
            nonblocking(&in_w)?;
            stdin = Some(Fd::new(in_w, owner, "stdin pipe"));
        }
        nonblocking(&out_r)?;
        nonblocking(&err_r)?;
        stdout = Some(Fd::new(out_r, owner, "stdout pipe"));
        stderr = Some(Fd::new(err_r, owner, "stderr pipe"));
        handshake::send_encoded(sync.as_fd(), &job.message, &handshake::borrow_all(&pass))?;
        // Our copies of the child's ends close here, so EOF arrives when the child's last
        // copy closes.
    }
    Ok(Spawned {
        pid: child.pid,
        pidfd,
        sync,
        stdout,
        stderr,
        stdin,
    })
}
