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
    /// An empty directory of the daemon's on which the init stages its mount namespace
    /// before its job (`init::rootfs::stage`; passed as `RINGMON_STAGE`).
    pub stage: Option<&'a std::path::Path>,
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

/// An init that was cloned and is starting up (exec of the sealed binary, its runtime)
/// while the daemon makes the container's state directory and cgroup: it blocks in its
/// first receive until `send_job`. Dropping it before then closes the handshake socket, so
/// the init exits at once; a daemon gives one up with `kill` and reaps it through the pidfd
/// (`Daemon::give_up`).
pub struct Booting {
    pub pid: i32,
    pub pidfd: Fd,
    sync: Fd,
    owner: Owner,
    /// A warm init's own cgroup, which it joins while it waits (`send_join`), made under
    /// `warm_id`: the id of the container that takes it (`cgroups/warm.rs`).
    pub cgroup: Option<crate::cgroups::CtrCgroup>,
    pub warm_id: Option<String>,
    /// A warm init told to seal the root it built ahead (`ToInit::Seal`): it may have
    /// detached the host's tree, so it takes only a job that needs none of it.
    pub sealed: bool,
}

/// Clones `ringmon init` from the sealed memfd into the namespaces of `ns`.
///
/// `slot` is a low fd number the daemon reserved at start-up (it holds a duplicate of the
/// sealed binary between spawns): the child's end of the handshake socket is put there for
/// the clone, so that the child needs no fd above `sys::spawn::SMALL_TABLE` and the clone
/// does not copy the daemon's whole fd table. Then the slot holds the binary again.
pub fn clone_init(
    exe: &Fd,
    slot: &Fd,
    ns: &NewNamespaces<'_>,
    owner: Owner,
) -> Result<Booting, SpawnError> {
    clone_ringmon(exe, slot, ns, owner, "init")
}

/// Clones `ringmon <personality> --sync-fd=N` ("init", or the warm pool's "zygote":
/// `runtime::zygote`) as `clone_init` does.
pub fn clone_ringmon(
    exe: &Fd,
    slot: &Fd,
    ns: &NewNamespaces<'_>,
    owner: Owner,
    personality: &'static str,
) -> Result<Booting, SpawnError> {
    let (ours, theirs) = handshake::pair()?;
    crate::sys::spawn::dup_onto(theirs.as_fd(), slot.as_fd())?;
    drop(theirs);
    let result = clone_with_slot(exe, slot, ns, personality);
    // Whatever happened, the slot must not keep the child's end open: its EOF is how the
    // daemon learns that the init exec'd or died.
    let restored = crate::sys::spawn::dup_onto(exe.as_fd(), slot.as_fd());
    let child = result?;
    restored?;
    let pidfd = Fd::new(child.pidfd, owner, "pidfd");
    rustix::fs::fcntl_setfl(&ours, rustix::fs::OFlags::NONBLOCK).map_err(io::Error::from)?;
    let sync = Fd::new(ours, owner, "init handshake");
    Ok(Booting {
        pid: child.pid,
        pidfd,
        sync,
        owner,
        cgroup: None,
        warm_id: None,
        sealed: false,
    })
}

fn clone_with_slot(
    exe: &Fd,
    slot: &Fd,
    ns: &NewNamespaces<'_>,
    personality: &'static str,
) -> Result<crate::sys::spawn::Spawned, SpawnError> {
    let argv = CStrArray::new(vec![
        CString::from(c"ringmon"),
        CString::new(personality).expect("no NUL in a personality"),
        CString::new(format!(
            "--sync-fd={}",
            std::os::fd::AsRawFd::as_raw_fd(&slot.as_fd())
        ))
        .expect("no NUL in a number"),
    ]);
    // The init's allocations are a few KiB: mimalloc's default 1 GiB arena reservation
    // costs it page faults for the arena's bitmaps on every container (docs/design/0009).
    // The user's command gets the spec's environment, not this one.
    let mut env = vec![
        CString::from(c"RINGMON_INIT=1"),
        CString::from(c"MIMALLOC_ARENA_RESERVE=4MiB"),
    ];
    if let Some(dir) = ns.stage {
        use std::os::unix::ffi::OsStrExt;
        let mut v = b"RINGMON_STAGE=".to_vec();
        v.extend_from_slice(dir.as_os_str().as_bytes());
        // A path from the daemon's own config: no NUL in it (a Path cannot hold one either).
        env.push(CString::new(v).map_err(|e| SpawnError::Io(io::Error::other(e)))?);
    }
    let envp = CStrArray::new(env);
    let guard = ns.pid_ns.map(PidNsGuard::enter).transpose()?;
    let child = spawn_exec(exe.as_fd(), &argv, &envp, slot.as_fd(), ns.clone_flags)
        .map_err(SpawnError::Clone)?;
    drop(guard);
    Ok(child)
}

impl Booting {
    /// An init forked by the zygote (`runtime::zygote`): the daemon's child all the same.
    pub fn forked(pid: i32, pidfd: Fd, sync: Fd) -> Self {
        Self {
            pid,
            pidfd,
            sync,
            owner: Owner::Warm,
            cgroup: None,
            warm_id: None,
            sealed: false,
        }
    }

    /// The daemon's end of the handshake socket.
    pub fn sync_fd(&self) -> std::os::fd::BorrowedFd<'_> {
        self.sync.as_fd()
    }

    /// Sends the job (and, for pipes, the child's ends of its stdio pipes). On failure the
    /// init comes back, for the caller to give up (`kill`).
    pub fn send_job(self, job: &InitJob) -> Result<Spawned, Box<(SpawnError, Booting)>> {
        match self.send(job) {
            Ok((stdout, stderr, stdin)) => Ok(Spawned {
                pid: self.pid,
                pidfd: self.pidfd,
                sync: self.sync,
                stdout,
                stderr,
                stdin,
            }),
            Err(e) => Err(Box::new((e, self))),
        }
    }

    /// A warm init's own cgroup (`ToInit::JoinCgroups`), sent first: on success it is
    /// this init's, to remove when the init is given up.
    pub fn send_join(&mut self, cg: crate::cgroups::CtrCgroup) -> Result<(), SpawnError> {
        let msg = handshake::Encoded::new(&handshake::ToInit::JoinCgroups {
            procs: cg.procs_files(),
        })?;
        handshake::send_encoded(self.sync.as_fd(), &msg, &[])?;
        self.cgroup = Some(cg);
        Ok(())
    }

    /// A warm init's root to build ahead (`ToInit::Prebuild`), sent before its job.
    pub fn send_prebuild(&self, msg: &handshake::Encoded) -> Result<(), SpawnError> {
        handshake::send_encoded(self.sync.as_fd(), msg, &[])?;
        Ok(())
    }

    /// The word to seal the root built ahead (`ToInit::Seal`), after `send_prebuild`.
    pub fn send_seal(&mut self) -> Result<(), SpawnError> {
        let msg = handshake::Encoded::new(&handshake::ToInit::Seal)?;
        handshake::send_encoded(self.sync.as_fd(), &msg, &[])?;
        self.sealed = true;
        Ok(())
    }

    /// SIGKILL through the pidfd (never blocks); the handshake socket closes. The pidfd is
    /// the caller's, to reap the init with.
    pub fn kill(self) -> Fd {
        let _ = rustix::process::pidfd_send_signal(&self.pidfd, rustix::process::Signal::KILL);
        self.pidfd
    }

    #[allow(clippy::type_complexity)]
    fn send(&self, job: &InitJob) -> Result<(Option<Fd>, Option<Fd>, Option<Fd>), SpawnError> {
        if job.tty {
            handshake::send_encoded(self.sync.as_fd(), &job.message, &[])?;
            return Ok((None, None, None));
        }
        let (out_r, out_w) = pipe("stdout")?;
        let (err_r, err_w) = pipe("stderr")?;
        let mut pass = vec![out_w, err_w];
        let mut stdin = None;
        if job.stdin {
            let (in_r, in_w) = pipe("stdin")?;
            pass.push(in_r);
            nonblocking(&in_w)?;
            stdin = Some(Fd::new(in_w, self.owner, "stdin pipe"));
        }
        nonblocking(&out_r)?;
        nonblocking(&err_r)?;
        let stdout = Fd::new(out_r, self.owner, "stdout pipe");
        let stderr = Fd::new(err_r, self.owner, "stderr pipe");
        handshake::send_encoded(
            self.sync.as_fd(),
            &job.message,
            &handshake::borrow_all(&pass),
        )?;
        // Our copies of the child's ends close here, so EOF arrives when the child's last
        // copy closes.
        Ok((Some(stdout), Some(stderr), stdin))
    }

    /// Hands a warm init to the container it becomes: its fds change owner in the ledger.
    pub fn adopt(mut self, owner: Owner) -> Self {
        self.pidfd.reown(owner);
        self.sync.reown(owner);
        self.owner = owner;
        self
    }

    /// Still waiting for its job: an init never writes to the handshake socket before it
    /// has one, so anything readable (an error report, EOF) or a hang-up means it is gone.
    /// poll(2) with a zero timeout: never blocks.
    pub fn waiting(&self) -> bool {
        use rustix::event::{poll, PollFd, PollFlags};
        let mut fds = [PollFd::new(&self.sync, PollFlags::IN)];
        match poll(&mut fds, Some(&rustix::event::Timespec::default())) {
            Ok(0) => true,
            Ok(_) | Err(_) => false,
        }
    }
}
