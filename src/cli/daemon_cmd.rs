//! `ringmon daemon`.

use std::path::PathBuf;
use std::time::Duration;

use anyhow::Result;
use clap::Args;

use crate::daemon::config::CgroupChoice;
use crate::daemon::{self, Config};

#[derive(Args, Debug)]
pub struct DaemonArgs {
    /// State directory [default: the socket's directory, /run/ringmon]
    #[arg(long)]
    pub root: Option<PathBuf>,
    /// Seconds to wait for output after a process exits before closing its streams
    #[arg(long, default_value_t = 2.0)]
    pub drain_timeout: f64,
    /// Seconds between SIGTERM and SIGKILL when the daemon stops
    #[arg(long, default_value_t = 10.0)]
    pub stop_timeout: f64,
    /// io_uring submission queue entries (64..=16384; the completion queue is 4x)
    #[arg(long, default_value_t = 4096, value_parser = clap::value_parser!(u32).range(64..=16384))]
    pub ring_entries: u32,
    /// Seconds kill-all, stop (after its grace period) and rm -f wait for every process to
    /// die before they report the survivors
    #[arg(long, default_value_t = 10.0)]
    pub kill_timeout: f64,
    /// Parent of the containers' cgroups: relative to the daemon's own cgroup in each
    /// hierarchy, or absolute from the hierarchy's root
    #[arg(long, default_value = "ringmon")]
    pub cgroup_parent: String,
    /// Which cgroup hierarchies to use: auto (as mounted: v2, v1 or hybrid), v1, v2, or off
    /// (no cgroups: no limits; containers sharing a pid namespace need allow_partial_kill)
    #[arg(long, default_value = "auto", value_parser = ["auto", "v1", "v2", "off"])]
    pub cgroups: String,
    /// Which containers get a v1 memory cgroup of their own: those with a memory limit
    /// (limited), or every container (always: per-container memory usage and OOM kills
    /// without a limit too, at the price of spawn costs that grow with the containers held:
    /// removing a v1 memory cgroup walks every file system's LRU lists under the kernel's
    /// global cgroup lock; see docs/design/0008-cgroups.md)
    #[arg(long, default_value = "limited", value_parser = ["limited", "always"])]
    pub v1_memory: String,
    /// Inits to keep cloned ahead of the containers that take them (0..=16): their exec,
    /// start-up and namespaces are off the path of a create. A container whose spec has
    /// other namespaces than --warm-namespaces, or joins a pid namespace, clones its own
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u8).range(0..=16))]
    pub warm_inits: u8,
    /// The namespaces warm inits are made with, by their OCI names (pid, ipc, uts, mount,
    /// network); the default is the embedded default spec's. Bundles with a network
    /// namespace of their own want pid,ipc,uts,mount,network
    #[arg(long, default_value = crate::runtime::warm::DEFAULT_NAMESPACES)]
    pub warm_namespaces: String,
    /// Detach (new session) and report readiness on stdout (used when the CLI starts a daemon)
    #[arg(long, hide = true)]
    pub background: bool,
}

pub fn run(a: DaemonArgs, socket: PathBuf) -> Result<i32> {
    let root = a.root.unwrap_or_else(|| super::connect::root_for(&socket));
    if a.background {
        let _ = rustix::process::setsid();
    }
    let secs = |s: f64, what: &str| -> Result<Duration> {
        anyhow::ensure!(
            s.is_finite() && s >= 0.0,
            "--{what} must be a non-negative number of seconds"
        );
        Ok(Duration::from_secs_f64(s))
    };
    let cfg = Config {
        socket,
        root,
        drain_timeout: secs(a.drain_timeout, "drain-timeout")?,
        stop_timeout: secs(a.stop_timeout, "stop-timeout")?,
        ready_stdout: a.background,
        ring_entries: a.ring_entries,
        kill_timeout: secs(a.kill_timeout, "kill-timeout")?,
        cgroup_parent: check_parent(&a.cgroup_parent)?,
        cgroups: match a.cgroups.as_str() {
            "v1" => CgroupChoice::V1,
            "v2" => CgroupChoice::V2,
            "off" => CgroupChoice::Off,
            _ => CgroupChoice::Auto,
        },
        v1_memory_always: a.v1_memory == "always",
        warm_inits: usize::from(a.warm_inits),
        warm_flags: crate::runtime::warm::parse_namespaces(&a.warm_namespaces)
            .map_err(anyhow::Error::msg)?,
    };
    daemon::run(cfg)?;
    Ok(0)
}

/// A cgroup parent is a path of plain names: no "..", no empty or "." components.
fn check_parent(p: &str) -> Result<String> {
    let rel = p.trim_start_matches('/');
    let ok = !rel.is_empty()
        && !p.contains('\0')
        && rel
            .split('/')
            .all(|c| !c.is_empty() && c != "." && c != "..");
    anyhow::ensure!(
        ok,
        "--cgroup-parent {p:?}: give a path of directory names (no \"..\" or empty parts)"
    );
    Ok(p.to_string())
}
