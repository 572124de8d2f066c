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
