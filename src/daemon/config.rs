//! Daemon configuration (from `ringmon daemon` flags).

use std::path::PathBuf;
use std::time::Duration;

pub const DEFAULT_ROOT: &str = "/run/ringmon";
pub const DEFAULT_SOCKET: &str = "/run/ringmon/ringmon.sock";

#[derive(Clone, Debug)]
pub struct Config {
    pub socket: PathBuf,
    pub root: PathBuf,
    /// How long output may keep flowing after a process exited (a grandchild holding the
    /// pipe or pty open) before the streams are closed and the exit reported.
    pub drain_timeout: Duration,
    /// Grace period between SIGTERM and SIGKILL when the daemon stops.
    pub stop_timeout: Duration,
    /// Write "ready <pid>\n" to stdout once the socket accepts connections, then point
    /// stdout at /dev/null (a CLI that started us in the background reads it).
    pub ready_stdout: bool,
    pub ring_entries: u32,
    /// How long kill-all, `stop` after its grace period and `rm -f` wait for every process
    /// to die before they report the survivors.
    pub kill_timeout: Duration,
    /// Where container cgroups go: relative to the daemon's own cgroup in each hierarchy,
    /// or absolute from the hierarchy's root.
    pub cgroup_parent: String,
    /// Which hierarchies to use.
    pub cgroups: CgroupChoice,
    /// `--v1-memory always`: every container gets a v1 memory cgroup, not only those with a
    /// memory limit.
    pub v1_memory_always: bool,
    /// How many inits to keep cloned ahead of the containers that take them (0: none).
    pub warm_inits: usize,
    /// The CLONE_NEW* flags warm inits are made with; a container with other namespaces
    /// clones its own init.
    pub warm_flags: i32,
}

/// `--cgroups`: the detected layout, one version of it, or none.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CgroupChoice {
    Auto,
    /// Only the v1 controllers (ignore a cgroup2 mount).
    V1,
    /// Only the cgroup2 mount (ignore v1 controllers).
    V2,
    Off,
}

impl Config {
    pub fn containers_dir(&self) -> PathBuf {
        self.root.join("containers")
    }

    /// An empty directory each host-root container binds the host's "/" onto, inside its
    /// own mount namespace (so one directory serves every container).
    pub fn host_root_staging(&self) -> PathBuf {
        self.root.join("host-root")
    }
}
