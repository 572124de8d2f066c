//! One container as the daemon sees it: state, fds, in-flight ops and who waits on it.

use std::path::PathBuf;

use crate::api::proto::{ContainerInfo, ExecFailure, ExitReport};
use crate::cgroups::CtrCgroup;
use crate::fd_ledger::{self, Fd, Owner};
use crate::logs::cri::Stream;
use crate::logs::writer::LogWriter;
use crate::sys::uring::OpId;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Status {
    /// The init is setting up; `create` has not been answered.
    Creating,
    /// The init is waiting for start.
    Created,
    /// Start was sent; waiting for the exec to succeed or fail.
    Starting,
    /// The user's process runs (or has exited while its output drains).
    Running,
    /// Exited, drained and logged; the exit is final.
    Stopped,
}

/// Sets a container's status, keeping `in_setup` (the daemon's count of containers in
/// setup, `Status::in_setup`) right.
pub fn set_status(in_setup: &mut usize, ct: &mut Container, to: Status) {
    match (ct.status.in_setup(), to.in_setup()) {
        (false, true) => *in_setup += 1,
        (true, false) => *in_setup = in_setup.saturating_sub(1),
        _ => {}
    }
    ct.status = to;
}

impl Status {
    /// Between a create and its answer, or a start and its exec: the daemon's loop is what
    /// the container's client waits on.
    pub fn in_setup(self) -> bool {
        matches!(self, Status::Creating | Status::Starting)
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Status::Creating => "creating",
            Status::Created => "created",
            Status::Starting => "starting",
            Status::Running => "running",
            Status::Stopped => "stopped",
        }
    }
}

/// A request waiting for an answer: the connection (slab key + serial) and request id.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ReplyTo {
    pub conn: usize,
    pub serial: u64,
    pub id: u64,
}

/// One output stream: the pty master, or the read end of a stdout/stderr pipe.
pub struct OutStream {
    pub fd: Fd,
    pub stream: Stream,
    pub poll: Option<OpId>,
    /// EOF or EIO seen, or the drain deadline passed: no more reads.
    pub done: bool,
    /// Reading paused because the log buffer is full.
    pub paused: bool,
    /// A poll reported POLLHUP or POLLERR: the kernel will not wake the poll again, so
    /// reads go on past a short one until EOF (or EIO, or a full log buffer).
    pub hung_up: bool,
}

/// Where stdin goes: the pty master (tty) or the write end of the stdin pipe.
pub struct StdinSink {
    /// None in tty mode (writes go to the pty master in `streams[0]`).
    pub pipe: Option<Fd>,
    pub queue: Vec<u8>,
    pub poll: Option<OpId>,
    pub eof_requested: bool,
}

pub const STDIN_QUEUE_CAP: usize = 256 * 1024;

pub struct Container {
    pub serial: u64,
    pub id: String,
    pub name: String,
    pub status: Status,
    pub pid: i32,
    pub args: Vec<String>,
    pub tty: bool,
    pub created_at: String,
    pub started_at: Option<String>,
    pub dir: PathBuf,
    pub log_path: PathBuf,
    pub pidfd: Option<Fd>,
    pub sync: Option<Fd>,
    pub sync_poll: Option<OpId>,
    /// The init's end closed (exec succeeded, or it died).
    pub sync_eof: bool,
    /// Output streams, indexed as in their tokens; None once closed.
    pub streams: Vec<Option<OutStream>>,
    pub stdin: Option<StdinSink>,
    pub log: LogWriter,
    /// The raw exit from waitid, before the output is drained.
    pub exit: Option<ExitReport>,
    pub exec_failure: Option<ExecFailure>,
    pub setup_error: Option<String>,
    /// What the daemon could not make after the job was sent (the state directory, the
    /// log): the init is killed, and this is the create's reply once it is reaped.
    pub create_error: Option<crate::api::proto::ApiError>,
    pub drain_deadline: Option<OpId>,
    pub kill_deadline: Option<OpId>,
    /// Ops in flight whose completion names this container; it is freed only at zero.
    pub ops: u32,
    pub pending_create: Option<ReplyTo>,
    pub pending_start: Option<ReplyTo>,
    pub waiters: Vec<ReplyTo>,
    pub attached: Vec<ReplyTo>,
    pub pending_delete: Vec<ReplyTo>,
    /// An auto-remove container's `wait` and `attach` callers: answered with the exit
    /// report once the container is gone (like `docker run --rm`), or once its removal
    /// failed.
    pub removal_waiters: Vec<ReplyTo>,
    /// A create whose init exited before it was ready: answered with its error once the
    /// container is gone (its cgroup and state directory), so that a client that sees the
    /// error sees the daemon as it was before the create; or once its removal failed.
    pub failed_create: Option<(ReplyTo, crate::api::proto::ApiError)>,
    /// `logs --follow` readers that caught up with the file and get writes as they land.
    pub followers: Vec<ReplyTo>,
    pub auto_remove: bool,
    /// Delete was requested; the container is freed once stopped and idle.
    pub removing: bool,
    /// Its cgroup directories (none when the daemon runs without cgroups).
    pub cgroup: CtrCgroup,
    /// The OOM killer killed one of its processes (the init or any other).
    pub oom_killed: bool,
    /// It has no pid namespace of its own: killing the init does not kill the rest.
    pub shares_pid_ns: bool,
    /// The signal `stop` sends first (SIGTERM unless the spec's annotation says otherwise).
    pub stop_signal: i32,
    /// `stop` requests waiting for the container to stop.
    pub stop_waiters: Vec<ReplyTo>,
    pub stop_timer: Option<OpId>,
    /// When the running grace period ends.
    pub stop_at: Option<std::time::Instant>,
    /// v1 kill-all in progress: the signal to send once the freezer reports FROZEN, and
    /// how many checks are left.
    pub freeze_kill: Option<(i32, u32)>,
    pub freeze_poll: Option<OpId>,
    /// A pending retry of the cgroup's removal, and the next back-off in milliseconds.
    pub cgroup_retry: Option<OpId>,
    /// The cgroup's rmdirs in flight, the directories they removed (for `prune`), and
    /// the first of them that failed.
    pub cgroup_rmdirs: usize,
    pub cgroup_removed: Vec<std::path::PathBuf>,
    pub cgroup_rmdir_error: Option<crate::cgroups::FsError>,
    /// Armed while a small log buffer waits for more output before its write.
    pub log_timer: Option<OpId>,
    pub cgroup_backoff_ms: u64,
    /// Why the last delete or stop gave up (survivors), shown by inspect.
    pub kill_error: Option<String>,
    /// Said at create: what kill cannot reach (allow_partial_kill).
    pub warning: Option<String>,
    /// `exit.json`, written at the stop; `wait` is answered once it is in place.
    pub exit_record: ExitRecord,
}

/// Where the container's `exit.json` is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ExitRecord {
    /// Not stopped yet.
    None,
    /// Being written (`Ring::write_file`): answers to `wait` are held meanwhile.
    Writing,
    Written,
    /// Its write failed (logged): `exit.json` or `exit.json.tmp` may be left.
    Failed,
}

impl Container {
    pub fn generation(&self) -> u16 {
        self.serial as u16
    }

    pub fn owner(&self) -> Owner {
        Owner::Container(self.serial)
    }

    pub fn streams_done(&self) -> bool {
        self.streams.iter().all(|s| s.is_none())
    }

    /// Exited, drained and logged: ready to become Stopped.
    pub fn ready_to_stop(&self) -> bool {
        self.status != Status::Stopped
            && self.exit.is_some()
            && self.streams_done()
            && self.log.idle()
            && self.sync.is_none()
    }

    pub fn info(&self) -> ContainerInfo {
        ContainerInfo {
            id: self.id.clone(),
            name: self.name.clone(),
            status: self.status.as_str().into(),
            pid: self.pid,
            args: self.args.clone(),
            tty: self.tty,
            created_at: self.created_at.clone(),
            started_at: self.started_at.clone(),
            exit: if self.status == Status::Stopped {
                self.exit.clone()
            } else {
                None
            },
            log_path: self.log_path.display().to_string(),
            log_bytes: self.log.content_bytes,
            log_lost_bytes: self.log.lost_bytes,
            log_error: self.log.last_error.clone(),
            fds: fd_ledger::count_owned_by(self.owner()),
            oom_killed: self.oom_killed,
            cgroup_paths: self
                .cgroup
                .v1
                .iter()
                .map(|(_, d)| d)
                .chain(self.cgroup.unified.as_ref())
                .map(|d| d.display().to_string())
                .collect(),
            kill_error: self.kill_error.clone(),
        }
    }
}
