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
mod logs;
mod ps;
mod rm;
mod run;
mod start;
mod stats;
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
    /// Send a signal to a container's process
    Kill(kill::KillArgs),
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
    /// Show daemon statistics (fds, memory, ptys, containers)
    Stats(stats::StatsArgs),
    /// Container init (internal: run by the daemon from its sealed binary)
    #[command(hide = true)]
    Init {
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
    /// Command and arguments
    #[arg(
        required = true,
        trailing_var_arg = true,
        allow_hyphen_values = true,
        value_name = "CMD"
    )]
    pub command: Vec<String>,
}

impl CreateArgs {
    pub fn params(&self, auto_remove: bool) -> serde_json::Value {
        let winsize = if self.tty { local_winsize() } else { None };
        serde_json::json!({
            "args": self.command,
            "name": self.name,
            "env": self.env,
            "cwd": self.workdir,
            "tty": self.tty,
            "stdin": self.interactive,
            "winsize": winsize,
            "log_path": self.log_path,
            "auto_remove": auto_remove,
        })
    }
}

fn local_winsize() -> Option<(u16, u16)> {
    let ws = rustix::termios::tcgetwinsize(std::io::stdout()).ok()?;
    (ws.ws_row > 0 && ws.ws_col > 0).then_some((ws.ws_row, ws.ws_col))
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
        Command::Rm(a) => rm::run(a, &socket),
        Command::Ps(a) => ps::run(a, &socket),
        Command::Logs(a) => logs::run(a, &socket),
        Command::Inspect(a) => inspect::run(a, &socket),
        Command::Stats(a) => stats::run(a, &socket),
        Command::Init { sync_fd } => Ok(crate::init::main(sync_fd)),
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("ringmon: {e:#}");
            EXIT_RINGMON_ERROR
        }
    }
}
