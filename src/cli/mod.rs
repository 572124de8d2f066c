//! The `ringmon` command line: argument parsing and one file per subcommand.
//!
//! Client commands talk to the daemon through `api::client`; `run` and `create` start a
//! daemon in the background when none answers. Exit codes: the container's for `run` and
//! `wait`; 125 when ringmon itself failed (as docker does).

mod attach;
mod connect;
mod create;
mod daemon_cmd;
mod inspect;
mod kill;
mod limits;
mod logs;
mod ps;
mod rm;
mod run;
mod spec;
mod start;
mod stats;
mod stop;
mod wait;

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

pub use connect::socket_path;

/// Exit code when ringmon itself fails.
pub const EXIT_RINGMON_ERROR: i32 = 125;

#[derive(Parser, Debug)]
#[command(
    name = "ringmon",
    version,
    about = "One daemon, one thread, one io_uring: run and supervise thousands of containers",
    long_about = "ringmon is a container runtime and monitor in one daemon. `ringmon daemon` \
serves a Unix-socket API; the other commands are its client. `run` and `create` start a \
daemon in the background if none answers on the socket."
)]
pub struct Cli {
    /// API socket [default: /run/ringmon/ringmon.sock]
    #[arg(long, global = true, env = "RINGMON_SOCKET")]
    pub socket: Option<PathBuf>,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Run the daemon in the foreground
    Daemon(daemon_cmd::DaemonArgs),
    /// Create and start a container, stream its output and exit with its exit code
    Run(run::RunArgs),
    /// Create a container; its init waits for `start`
    Create(CreateArgs),
    /// Start created containers
    Start(start::StartArgs),
    /// Wait for containers to stop and print their exit codes
    Wait(wait::WaitArgs),
    /// Send a signal to a container's process (--all: to every process of it)
    Kill(kill::KillArgs),
    /// Stop containers: the stop signal, a grace period, then SIGKILL to every process
    Stop(stop::StopArgs),
    /// Remove containers
    #[command(alias = "delete")]
    Rm(rm::RmArgs),
    /// List containers
    #[command(alias = "list")]
    Ps(ps::PsArgs),
    /// Print a container's logs
    Logs(logs::LogsArgs),
    /// Print containers' details as JSON
    Inspect(inspect::InspectArgs),
    /// Show daemon statistics (fds, memory, ptys, containers), or containers' usage
    Stats(stats::StatsArgs),
    /// Write a default config.json for an OCI bundle (like `runc spec`)
    Spec(spec::SpecArgs),
    /// Container init (internal: run by the daemon from its sealed binary)
    #[command(hide = true)]
    Init {
        #[arg(long)]
        sync_fd: i32,
    },
    /// The warm pool's zygote (internal: run by the daemon from its sealed binary)
    #[command(hide = true)]
    Zygote {
        #[arg(long)]
        sync_fd: i32,
    },
}

/// Options shared by `create` and `run`.
#[derive(Args, Debug, Clone)]
pub struct CreateArgs {
    /// Allocate a pseudo-terminal
    #[arg(short = 't', long)]
    pub tty: bool,
    /// Keep stdin open (and forward ours, for run)
    #[arg(short = 'i', long)]
    pub interactive: bool,
    /// Container name
    #[arg(long)]
    pub name: Option<String>,
    /// Set an environment variable (KEY=VALUE), repeatable
    #[arg(short = 'e', long = "env", value_name = "KEY=VALUE")]
    pub env: Vec<String>,
    /// Working directory inside the container
    #[arg(short = 'w', long)]
    pub workdir: Option<String>,
    /// Log file [default: <root>/containers/<id>/container.log]
    #[arg(long)]
    pub log_path: Option<String>,
    /// OCI bundle directory (config.json + rootfs); CMD, if given, replaces process.args
    #[arg(long, conflicts_with = "rootfs")]
    pub bundle: Option<PathBuf>,
    /// Root filesystem directory, with ringmon's default spec (see `ringmon spec`).
    /// Without --bundle or --rootfs: the host's root, read-only
    #[arg(long)]
    pub rootfs: Option<PathBuf>,
    /// User inside the container, UID[:GID]
    #[arg(short = 'u', long)]
    pub user: Option<String>,
    /// Container hostname
    #[arg(long)]
    pub hostname: Option<String>,
    /// Bind mount SRC:DST[:ro|rw], repeatable
    #[arg(short = 'v', long = "volume", value_name = "SRC:DST[:ro]")]
    pub volumes: Vec<String>,
    #[command(flatten)]
    pub limits: limits::LimitArgs,
    /// Signal `stop` sends first [default: the spec's, else SIGTERM]
    #[arg(long, value_name = "SIGNAL")]
    pub stop_signal: Option<String>,
    /// Accept a container that shares a pid namespace although the daemon has no cgroups:
    /// kill then reaches only its init
    #[arg(long)]
    pub allow_partial_kill: bool,
    /// Command and arguments
    #[arg(
        required_unless_present = "bundle",
        trailing_var_arg = true,
        allow_hyphen_values = true,
        value_name = "CMD"
    )]
    pub command: Vec<String>,
}

impl CreateArgs {
    pub fn params(&self, auto_remove: bool) -> anyhow::Result<serde_json::Value> {
        let winsize = if self.tty { local_winsize() } else { None };
        let abs = |p: &Option<PathBuf>| -> anyhow::Result<Option<String>> {
            p.as_ref()
                .map(|p| {
                    std::path::absolute(p)
                        .map(|p| p.display().to_string())
                        .map_err(|e| anyhow::anyhow!("{}: {e}", p.display()))
                })
                .transpose()
        };
        let volumes = self
            .volumes
            .iter()
            .map(|v| match v.split_once(':') {
                Some((src, rest)) if !src.starts_with('/') => std::path::absolute(src)
                    .map(|s| format!("{}:{rest}", s.display()))
                    .map_err(|e| anyhow::anyhow!("volume {v}: {e}")),
                _ => Ok(v.clone()),
            })
            .collect::<anyhow::Result<Vec<_>>>()?;
        Ok(serde_json::json!({
            "args": self.command,
            "bundle": abs(&self.bundle)?,
            "rootfs": abs(&self.rootfs)?,
            "user": self.user,
            "hostname": self.hostname,
            "volumes": volumes,
            "name": self.name,
            "env": self.env,
            "cwd": self.workdir,
            "tty": self.tty,
            "stdin": self.interactive,
            "winsize": winsize,
            "log_path": self.log_path,
            "auto_remove": auto_remove,
            "resources": self.limits.resources()?,
            "stop_signal": self.stop_signal,
            "allow_partial_kill": self.allow_partial_kill,
        }))
    }
}

fn local_winsize() -> Option<(u16, u16)> {
    let ws = rustix::termios::tcgetwinsize(std::io::stdout()).ok()?;
    (ws.ws_row > 0 && ws.ws_col > 0).then_some((ws.ws_row, ws.ws_col))
}

/// The init's argv as the daemon builds it (`ringmon init --sync-fd=N`, see
/// `runtime::spawn`), or None for anything else, which then goes through clap (where a
/// malformed init command line gets clap's error).
pub fn init_argv(args: impl Iterator<Item = std::ffi::OsString>) -> Option<i32> {
    personality_argv(args, "init")
}

/// The same for the warm pool's zygote (`runtime::zygote`): `ringmon zygote --sync-fd=N`.
pub fn zygote_argv(args: impl Iterator<Item = std::ffi::OsString>) -> Option<i32> {
    personality_argv(args, "zygote")
}

fn personality_argv(
    mut args: impl Iterator<Item = std::ffi::OsString>,
    personality: &str,
) -> Option<i32> {
    let _argv0 = args.next()?;
    if args.next()? != personality {
        return None;
    }
    let fd = args.next()?;
    if args.next().is_some() {
        return None;
    }
    fd.to_str()?.strip_prefix("--sync-fd=")?.parse().ok()
}

/// Runs a parsed command line; returns the process exit code.
pub fn main(cli: Cli) -> i32 {
    let socket = socket_path(cli.socket.as_deref());
    let result = match cli.command {
        Command::Daemon(a) => daemon_cmd::run(a, socket),
        Command::Run(a) => run::run(a, &socket),
        Command::Create(a) => create::run(a, &socket),
        Command::Start(a) => start::run(a, &socket),
        Command::Wait(a) => wait::run(a, &socket),
        Command::Kill(a) => kill::run(a, &socket),
        Command::Stop(a) => stop::run(a, &socket),
        Command::Rm(a) => rm::run(a, &socket),
        Command::Ps(a) => ps::run(a, &socket),
        Command::Logs(a) => logs::run(a, &socket),
        Command::Inspect(a) => inspect::run(a, &socket),
        Command::Stats(a) => stats::run(a, &socket),
        Command::Spec(a) => spec::run(a),
        Command::Init { sync_fd } => Ok(crate::init::main(sync_fd)),
        Command::Zygote { sync_fd } => Ok(crate::runtime::zygote::main(sync_fd)),
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("ringmon: {e:#}");
            EXIT_RINGMON_ERROR
        }
    }
}

#[cfg(test)]
mod tests {
    use super::init_argv;

    fn argv(a: &[&str]) -> impl Iterator<Item = std::ffi::OsString> {
        a.iter()
            .map(std::ffi::OsString::from)
            .collect::<Vec<_>>()
            .into_iter()
    }

    #[test]
    fn init_fast_path_takes_only_the_daemons_exact_argv() {
        assert_eq!(
            init_argv(argv(&["ringmon", "init", "--sync-fd=11"])),
            Some(11)
        );
        // Everything else goes to clap, which names what is wrong.
        assert_eq!(
            init_argv(argv(&["ringmon", "init", "--sync-fd", "11"])),
            None
        );
        assert_eq!(init_argv(argv(&["ringmon", "init", "--sync-fd=x"])), None);
        assert_eq!(
            init_argv(argv(&["ringmon", "init", "--sync-fd=1", "y"])),
            None
        );
        assert_eq!(init_argv(argv(&["ringmon", "run", "--sync-fd=1"])), None);
        assert_eq!(init_argv(argv(&["ringmon"])), None);
        assert_eq!(
            super::zygote_argv(argv(&["ringmon", "zygote", "--sync-fd=9"])),
            Some(9)
        );
        assert_eq!(init_argv(argv(&["ringmon", "zygote", "--sync-fd=9"])), None);
    }
}
