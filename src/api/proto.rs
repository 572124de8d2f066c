//! Wire types. One JSON object per line, both ways.
//!
//! Request: `{"v":1,"id":N,"method":"...","params":{...}}`.
//! Reply: `{"id":N,"ok":true,"result":...}` or `{"id":N,"ok":false,"error":{"code","message"}}`.
//! Event (streams: attach, logs): `{"id":N,"event":"...",...}`; a stream ends with its reply.

use serde::{Deserialize, Serialize};

pub const PROTOCOL_VERSION: u32 = 1;
/// Longest request line accepted; a longer one closes the connection.
pub const MAX_REQUEST_LINE: usize = 1024 * 1024;

#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Envelope {
    pub v: u32,
    pub id: u64,
    pub method: String,
    #[serde(default)]
    pub params: serde_json::Value,
}

/// Stable error codes (docs/api.md lists them).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorCode {
    BadRequest,
    UnsupportedVersion,
    UnknownMethod,
    NotFound,
    Conflict,
    InvalidState,
    ExecFailed,
    SpawnFailed,
    LimitReached,
    PermissionDenied,
    Internal,
}

impl ErrorCode {
    /// Every code, for docs and the test that keeps docs/api.md in sync.
    pub const ALL: &[ErrorCode] = &[
        ErrorCode::BadRequest,
        ErrorCode::UnsupportedVersion,
        ErrorCode::UnknownMethod,
        ErrorCode::NotFound,
        ErrorCode::Conflict,
        ErrorCode::InvalidState,
        ErrorCode::ExecFailed,
        ErrorCode::SpawnFailed,
        ErrorCode::LimitReached,
        ErrorCode::PermissionDenied,
        ErrorCode::Internal,
    ];
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct ApiError {
    pub code: ErrorCode,
    pub message: String,
    /// Details for exec_failed: binary, errno, exit_code.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exec: Option<ExecFailure>,
}

impl ApiError {
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        Self {
            code,
            message: message.into(),
            exec: None,
        }
    }
}

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ExecFailure {
    pub binary: String,
    pub errno: i32,
    pub exit_code: i32,
}

#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CreateParams {
    /// Command and arguments; args[0] is resolved through PATH in the container. May be
    /// empty with a bundle whose config.json names the command.
    #[serde(default)]
    pub args: Vec<String>,
    /// An OCI bundle directory (config.json + rootfs), absolute.
    #[serde(default)]
    pub bundle: Option<String>,
    /// A root filesystem directory, absolute: ringmon generates runc's default spec for it.
    /// Without bundle or rootfs: the host's root, read-only (the embedded default).
    #[serde(default)]
    pub rootfs: Option<String>,
    /// `UID[:GID]`, numeric.
    #[serde(default)]
    pub user: Option<String>,
    #[serde(default)]
    pub hostname: Option<String>,
    /// Bind mounts, `SRC:DST[:ro|rw]`.
    #[serde(default)]
    pub volumes: Vec<String>,
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub env: Vec<String>,
    #[serde(default)]
    pub cwd: Option<String>,
    #[serde(default)]
    pub tty: bool,
    /// Keep stdin open (a pipe in pipe mode; the pty in tty mode accepts input anyway).
    #[serde(default)]
    pub stdin: bool,
    /// Initial terminal size [rows, cols].
    #[serde(default)]
    pub winsize: Option<(u16, u16)>,
    /// Log file; default `<root>/containers/<id>/container.log`.
    #[serde(default)]
    pub log_path: Option<String>,
    /// Delete the container as soon as it has exited and its waiters are answered.
    #[serde(default)]
    pub auto_remove: bool,
    /// OCI `linux.resources` (memory, cpu, pids, ...), merged over the spec's.
    #[serde(default)]
    pub resources: Option<serde_json::Value>,
    /// The signal `stop` sends first (default: the spec's annotation, else SIGTERM).
    #[serde(default)]
    pub stop_signal: Option<String>,
    /// Accept a container that shares a pid namespace although the daemon has no cgroup
    /// for it: kill then reaches only its init.
    #[serde(default)]
    pub allow_partial_kill: bool,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IdParams {
    pub id: String,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KillParams {
    pub id: String,
    /// A name ("TERM", "SIGKILL") or a number; default SIGTERM.
    #[serde(default)]
    pub signal: Option<serde_json::Value>,
    /// Signal every process of the container (its cgroup), not only its init.
    #[serde(default)]
    pub all: bool,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StopParams {
    pub id: String,
    /// Seconds between the stop signal and SIGKILL; default the daemon's --stop-timeout.
    #[serde(default)]
    pub timeout: Option<f64>,
    /// Overrides the container's stop signal.
    #[serde(default)]
    pub signal: Option<serde_json::Value>,
}

#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StatsParams {
    /// A container: its cgroup usage instead of the daemon's stats.
    #[serde(default)]
    pub id: Option<String>,
}

/// One container's usage, from its cgroup.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct ContainerStats {
    pub id: String,
    pub name: String,
    pub status: String,
    #[serde(flatten)]
    pub usage: crate::cgroups::stats::Usage,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DeleteParams {
    pub id: String,
    /// Kill a running container first.
    #[serde(default)]
    pub force: bool,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LogsParams {
    pub id: String,
    #[serde(default)]
    pub follow: bool,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AttachParams {
    pub id: String,
}

/// Methods without parameters still reject unknown ones.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NoParams {}

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StdinParams {
    pub id: String,
    /// Base64 bytes to write to the container's stdin.
    #[serde(default)]
    pub data: String,
    /// Close stdin after writing (pipe mode).
    #[serde(default)]
    pub eof: bool,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ResizeParams {
    pub id: String,
    pub rows: u16,
    pub cols: u16,
}

/// A container's exit, as reported by wait and inspect.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct ExitReport {
    /// Exit code, or 128+N for death by signal N.
    pub exit_code: i32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub signal: Option<i32>,
    /// Why the command did not run (exec or setup failure), when it did not.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    pub finished_at: String,
    /// The OOM killer killed the init or another of the container's processes.
    #[serde(default)]
    pub oom_killed: bool,
    /// An auto-remove container's removal failed (the container is kept, for `rm -f`):
    /// only in the answers to its `wait` and `attach` requests.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub removal_error: Option<String>,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct CreateResult {
    pub id: String,
    pub name: String,
    pub pid: i32,
    /// Whether the container has a terminal (a bundle's process.terminal decides when the
    /// caller did not ask for one).
    pub tty: bool,
    /// What the caller accepted with allow_partial_kill.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub warning: Option<String>,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct ContainerInfo {
    pub id: String,
    pub name: String,
    pub status: String,
    pub pid: i32,
    pub args: Vec<String>,
    pub tty: bool,
    pub created_at: String,
    #[serde(default)]
    pub started_at: Option<String>,
    #[serde(default)]
    pub exit: Option<ExitReport>,
    pub log_path: String,
    pub log_bytes: u64,
    pub log_lost_bytes: u64,
    /// The last error writing the log (e.g. ENOSPC), if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub log_error: Option<String>,
    pub fds: usize,
    /// The OOM killer killed one of the container's processes.
    #[serde(default)]
    pub oom_killed: bool,
    /// Its cgroup directories, one per hierarchy.
    #[serde(default)]
    pub cgroup_paths: Vec<String>,
    /// Why the last delete or stop gave up, naming the processes that survived.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kill_error: Option<String>,
}

#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct DaemonStats {
    pub pid: i32,
    pub version: String,
    pub uptime_seconds: f64,
    pub containers: std::collections::BTreeMap<String, usize>,
    /// Containers creating or starting, as the daemon counts them for its warm-pool
    /// refills (it must equal `containers`' creating + starting).
    #[serde(default)]
    pub containers_in_setup: usize,
    pub processes: usize,
    pub ledger_fds: usize,
    pub proc_fds: usize,
    pub unaccounted_fds: Vec<i32>,
    /// Ledger fds by owner kind: daemon, containers, clients.
    pub fds_by_owner: std::collections::BTreeMap<String, usize>,
    pub fds_by_purpose: std::collections::BTreeMap<String, usize>,
    pub rss_bytes: u64,
    pub pss_bytes: u64,
    pub rss_per_process_bytes: u64,
    pub ptys_held: usize,
    pub ptys_host_in_use: u64,
    pub nofile_limit: u64,
    pub container_ceiling: u64,
    pub connections: usize,
    pub ring_ops_in_flight: usize,
    pub orphans_reaped: u64,
    /// Containers whose output streams were closed at the drain deadline, still open.
    #[serde(default)]
    pub drains_cut: u64,
    /// Start-up warnings (e.g. oom_score_adj not permitted).
    #[serde(default)]
    pub warnings: Vec<String>,
    /// The cgroup layout containers get: v2, v1, hybrid, or none.
    #[serde(default)]
    pub cgroup_layout: String,
    /// The parent directories of the containers' cgroups, one per hierarchy.
    #[serde(default)]
    pub cgroup_parents: Vec<String>,
    /// Inits cloned ahead of the creates that take them (`runtime::warm`).
    #[serde(default)]
    pub warm_inits: WarmStats,
}

#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct WarmStats {
    /// How many the daemon keeps (`--warm-inits`).
    pub wanted: usize,
    /// Their pids (waiting for a job).
    pub pids: Vec<i32>,
    /// The zygote that forks them (`runtime::zygote`), while one runs.
    #[serde(default)]
    pub zygote: Option<i32>,
    /// Their namespaces (`--warm-namespaces`).
    pub namespaces: Vec<String>,
    /// The ids reserved for the containers that will take them, of those holding a cgroup
    /// of their own under that id (a directory in each of `cgroup_parents`).
    #[serde(default)]
    pub cgroup_ids: Vec<String>,
    #[serde(flatten)]
    pub counts: crate::runtime::warm::WarmCounts,
}

/// A line from the daemon, as the client parses it.
#[derive(Debug, Deserialize)]
pub struct Incoming {
    pub id: Option<u64>,
    #[serde(default)]
    pub ok: Option<bool>,
    #[serde(default)]
    pub result: Option<serde_json::Value>,
    #[serde(default)]
    pub error: Option<ApiError>,
    #[serde(default)]
    pub event: Option<String>,
    #[serde(flatten)]
    pub rest: serde_json::Map<String, serde_json::Value>,
}

/// Every method, for docs and the sync test.
pub const METHODS: &[&str] = &[
    "version", "create", "start", "wait", "kill", "stop", "delete", "list", "inspect", "logs",
    "stats", "attach", "stdin", "resize",
];
