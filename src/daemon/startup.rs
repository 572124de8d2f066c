//! Process-wide setup before the loop starts: limits, subreaper, OOM score, the socket.

use std::io;
use std::os::fd::OwnedFd;
use std::path::Path;

use rustix::net::{AddressFamily, SocketAddrUnix, SocketFlags, SocketType};
use rustix::process::Resource;

use crate::fd_ledger::{Fd, Owner};

/// fds kept free for API clients: up to MAX_CONNECTIONS connections, each with one `logs`
/// reader. Client fds are not counted against containers; this reserve covers them.
pub const RESERVED_FDS: u64 = 2 * crate::api::dispatch::MAX_CONNECTIONS as u64;
/// fds a running tty container holds: pty master, pidfd, log file.
pub const FDS_PER_TTY_CONTAINER: u64 = 3;
/// Peak fds while a container is being created (pipe mode with stdin: both ends of three
/// pipes and of the handshake socketpair, the pidfd, the log file).
pub const FDS_PER_CREATE: u64 = 9;

#[derive(Debug, thiserror::Error)]
pub enum StartupError {
    #[error("setrlimit RLIMIT_NOFILE: {0}")]
    Rlimit(io::Error),
    #[error("prctl PR_SET_CHILD_SUBREAPER: {0}")]
    Subreaper(io::Error),
    #[error("mkdir {0}: {1}")]
    Mkdir(String, io::Error),
    #[error("another daemon is serving {0}")]
    AlreadyRunning(String),
    #[error("socket path {0} is too long for a Unix socket")]
    SocketPath(String),
    #[error("bind {0}: {1}")]
    Bind(String, io::Error),
    #[error("listen {0}: {1}")]
    Listen(String, io::Error),
    #[error("io_uring_setup: {0}")]
    Ring(io::Error),
    #[error("io_uring is missing required opcodes: {0}")]
    MissingOps(String),
    #[error("signalfd: {0}")]
    Signals(io::Error),
    #[error(transparent)]
    Sealed(#[from] crate::runtime::sealed_exe::SealError),
}

/// Raises the soft RLIMIT_NOFILE to the hard limit; returns the new limit.
pub fn raise_nofile() -> Result<u64, StartupError> {
    let lim = rustix::process::getrlimit(Resource::Nofile);
    let hard = lim.maximum;
    let new = rustix::process::Rlimit {
        current: hard,
        maximum: hard,
    };
    rustix::process::setrlimit(Resource::Nofile, new)
        .map_err(|e| StartupError::Rlimit(e.into()))?;
    Ok(hard.unwrap_or(u64::MAX))
}

pub fn container_ceiling(nofile: u64) -> u64 {
    nofile.saturating_sub(RESERVED_FDS) / FDS_PER_TTY_CONTAINER
}

pub fn become_subreaper() -> Result<(), StartupError> {
    rustix::process::set_child_subreaper(Some(rustix::process::getpid()))
        .map_err(|e| StartupError::Subreaper(e.into()))
}

/// Tries oom_score_adj -1000; returns a warning when not permitted (no CAP_SYS_RESOURCE).
pub fn protect_from_oom() -> Option<String> {
    match std::fs::write("/proc/self/oom_score_adj", b"-1000") {
        Ok(()) => None,
        Err(e) => Some(format!(
            "write /proc/self/oom_score_adj -1000: {e}; the daemon stays OOM-killable"
        )),
    }
}

pub fn make_dir(path: &Path) -> Result<(), StartupError> {
    use std::os::unix::fs::DirBuilderExt;
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(path)
        .map_err(|e| StartupError::Mkdir(path.display().to_string(), e))
}

/// Binds the API socket with mode 0600. A stale socket file is replaced; a live one (a
/// daemon answers) is an error.
pub fn bind_socket(path: &Path) -> Result<Fd, StartupError> {
    let shown = path.display().to_string();
    let addr = SocketAddrUnix::new(path).map_err(|_| StartupError::SocketPath(shown.clone()))?;
    if path.exists() {
        if std::os::unix::net::UnixStream::connect(path).is_ok() {
            return Err(StartupError::AlreadyRunning(shown));
        }
        let _ = std::fs::remove_file(path);
    }
    let sock: OwnedFd = rustix::net::socket_with(
        AddressFamily::UNIX,
        SocketType::STREAM,
        SocketFlags::CLOEXEC | SocketFlags::NONBLOCK,
        None,
    )
    .map_err(|e| StartupError::Bind(shown.clone(), e.into()))?;
    // The daemon is single-threaded, so a temporary umask cannot race: the socket is never
    // reachable with wider permissions than 0600.
    let old = rustix::process::umask(rustix::fs::Mode::from_raw_mode(0o177));
    let bound = rustix::net::bind(&sock, &addr);
    rustix::process::umask(old);
    bound.map_err(|e| StartupError::Bind(shown.clone(), e.into()))?;
    rustix::net::listen(&sock, 1024).map_err(|e| StartupError::Listen(shown, e.into()))?;
    Ok(Fd::new(sock, Owner::Daemon, "api listener"))
}

/// A warning when the kernel offers `favordynmods` and no mounted cgroup hierarchy uses it.
///
/// Each init moves itself into its container's cgroups (a write to `cgroup.procs`), which
/// takes the kernel's global `cgroup_threadgroup_rwsem` for writing; without
/// `favordynmods` that write waits for an RCU grace period whenever the semaphore has been
/// idle for a while: create p99 13.6 ms against 3.0 ms with it, p50 2.07 against 1.71 ms
/// (docs/benchmarks.md). The option is the host's to set (one hierarchy with it is enough:
/// the semaphore is shared), so the daemon only says so.
pub fn favordynmods_hint(
    features: &str,
    layout: &crate::cgroups::layout::Layout,
) -> Option<String> {
    if layout.favordynmods || !features.lines().any(|l| l.trim() == "favordynmods") {
        return None;
    }
    let (fstype, point) = match (&layout.unified, layout.v1_hierarchies().first()) {
        (Some(u), _) => ("cgroup2", &u.mount),
        (None, Some(h)) => ("cgroup", &h.mount),
        (None, None) => return None,
    };
    Some(format!(
        "no cgroup hierarchy is mounted with favordynmods: each container's move into its cgroups now and then waits for an RCU grace period (create p99 about 4x longer); `mount -o remount,favordynmods {}` ({fstype}) sets it for all",
        point.display()
    ))
}

/// The host's cgroups as `--cgroups` and `--cgroup-parent` ask.
pub fn cgroups(cfg: &super::Config) -> crate::cgroups::Cgroups {
    use super::config::CgroupChoice;
    use crate::cgroups::{layout, Cgroups, Fs, Mode};
    if cfg.cgroups == CgroupChoice::Off {
        return Cgroups::disabled("--cgroups off");
    }
    let layout = match layout::detect() {
        Ok(l) => l,
        Err(e) => return Cgroups::disabled(&format!("read /proc/self/mountinfo: {e}")),
    };
    let layout = match cfg.cgroups {
        CgroupChoice::V1 => layout.only(Mode::V1),
        CgroupChoice::V2 => layout.only(Mode::V2),
        _ => layout,
    };
    let mut cg = Cgroups::new(layout, &cfg.cgroup_parent, Fs::default());
    cg.v1_memory_always = cfg.v1_memory_always;
    cg
}

/// One fd that reports OOM kills in any container: a v1 eventfd (registered in each
/// container's memory cgroup at create), or the v2 parent's hierarchical memory.events.
/// Ok(None) when the host has no memory controller; Err is a warning.
pub fn oom_watch(cg: &crate::cgroups::Cgroups) -> Result<(Option<Fd>, bool), String> {
    use crate::cgroups::{Controller, Version};
    match cg.version_of(Controller::Memory) {
        Some(Version::V1) => {
            let fd = rustix::event::eventfd(
                0,
                rustix::event::EventfdFlags::CLOEXEC | rustix::event::EventfdFlags::NONBLOCK,
            )
            .map_err(|e| format!("eventfd for OOM notifications: {e}"))?;
            Ok((Some(Fd::new(fd, Owner::Daemon, "oom eventfd")), true))
        }
        Some(Version::V2) => {
            let Some(dir) = cg.container_parents().into_iter().find(|d| {
                cg.layout
                    .unified
                    .as_ref()
                    .is_some_and(|u| Path::new(d).starts_with(&u.mount))
            }) else {
                return Ok((None, false));
            };
            let events = Path::new(&dir).join("memory.events");
            match rustix::fs::open(
                &events,
                rustix::fs::OFlags::RDONLY | rustix::fs::OFlags::CLOEXEC,
                rustix::fs::Mode::empty(),
            ) {
                Ok(fd) => Ok((Some(Fd::new(fd, Owner::Daemon, "memory.events")), false)),
                // The memory controller is enabled in the parent only once a container
                // asks for a memory limit; exits still read each container's counter.
                Err(_) => Ok((None, false)),
            }
        }
        None => Ok((None, false)),
    }
}

#[cfg(test)]
mod tests {
    use super::favordynmods_hint;
    use crate::cgroups::layout::parse;

    const FEATURES: &str = "nsdelegate\nfavordynmods\nmemory_localevents\n";
    const HYBRID: &str = "\
27 1 254:0 / / rw,relatime - ext4 /dev/vda rw,discard
31 30 0:27 / /sys/fs/cgroup/cpuacct rw,relatime - cgroup cgroup rw,cpuacct
40 30 0:36 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw
";

    #[test]
    fn the_favordynmods_hint_names_the_cgroup2_mount_when_no_hierarchy_has_it() {
        let w = favordynmods_hint(FEATURES, &parse(HYBRID, "")).expect("a hint");
        assert!(
            w.contains("mount -o remount,favordynmods /sys/fs/cgroup/unified"),
            "{w}"
        );
        let with = HYBRID.replace("cgroup2 cgroup2 rw", "cgroup2 cgroup2 rw,favordynmods");
        assert_eq!(
            favordynmods_hint(FEATURES, &parse(&with, "")),
            None,
            "set on one: enough"
        );
        let v1 = HYBRID.replace(
            "cgroup cgroup rw,cpuacct",
            "cgroup cgroup rw,cpuacct,favordynmods",
        );
        assert_eq!(
            favordynmods_hint(FEATURES, &parse(&v1, "")),
            None,
            "set on a v1 one: enough"
        );
        assert_eq!(
            favordynmods_hint("nsdelegate\n", &parse(HYBRID, "")),
            None,
            "kernel without it"
        );
        let none = "27 1 254:0 / / rw,relatime - ext4 /dev/vda rw\n";
        assert_eq!(
            favordynmods_hint(FEATURES, &parse(none, "")),
            None,
            "no cgroups mounted"
        );
    }
}
