//! `ringmon-stress`: end-to-end scenarios against a ringmon daemon, through its public API
//! (the client the CLI uses). Each scenario prints a table (or JSON with `--json`) and
//! checks after itself that the daemon's fds, ptys, mounts, cgroups and children are back
//! where they were; a leak makes the run fail.

mod cgjoin;
mod churn;
mod daemon;
mod density;
mod flood;
mod floor;
mod peers;
mod report;
mod runtime;
mod sys;

use clap::{Parser, Subcommand};

#[derive(Parser, Debug)]
#[command(name = "ringmon-stress", about = "Prove ringmon's density and speed")]
struct Cli {
    /// A running daemon's socket; without it a daemon of our own is started in a temp dir
    #[arg(long, global = true)]
    socket: Option<std::path::PathBuf>,
    /// The ringmon binary for a daemon of our own [default: next to this binary]
    #[arg(long, global = true)]
    ringmon: Option<std::path::PathBuf>,
    /// An argument for a daemon of our own, repeatable (e.g. --daemon-arg=--warm-inits=0)
    #[arg(long = "daemon-arg", global = true, allow_hyphen_values = true)]
    daemon_args: Vec<String>,
    /// Print JSON instead of a table
    #[arg(long, global = true)]
    json: bool,
    #[command(subcommand)]
    scenario: Scenario,
}

#[derive(Subcommand, Debug)]
enum Scenario {
    /// create -> start -> output -> exit -> delete of short `echo hello` containers
    Churn(churn::ChurnCmd),
    /// N long-running containers held at once: memory and fds per container, and the
    /// create latency while they are held
    Density(density::DensityArgs),
    /// `inspect` and `list` latency while a churn runs
    Api(churn::ApiArgs),
    /// N containers writing as fast as they can: log throughput, daemon CPU per MB against
    /// a bare read loop over the same writers, bytes lost (none allowed), daemon RSS
    Flood(flood::FloodArgs),
    /// The kernel floor: clone3 with the containers' namespace flags + execve, no daemon
    Floor(floor::FloorArgs),
    /// A move into a cgroup after an idle gap, no daemon (why warm inits join ahead)
    CgroupJoin(cgjoin::CgroupJoinArgs),
}

fn main() {
    let cli = Cli::parse();
    match run(cli) {
        Ok(()) => {}
        Err(e) => {
            eprintln!("ringmon-stress: {e:#}");
            std::process::exit(1);
        }
    }
}

fn run(cli: Cli) -> anyhow::Result<()> {
    let out = match &cli.scenario {
        Scenario::Floor(a) => floor::run(a)?,
        Scenario::CgroupJoin(a) => cgjoin::run(a)?,
        scenario => {
            if cli.socket.is_some() && !cli.daemon_args.is_empty() {
                anyhow::bail!("--daemon-arg is for a daemon of our own, not one at --socket");
            }
            let d = daemon::Daemon::open(
                cli.socket.as_deref(),
                cli.ringmon.as_deref(),
                &cli.daemon_args,
            )?;
            let before = d.baseline()?;
            let out = match scenario {
                Scenario::Churn(a) => churn::run(&d, a)?,
                Scenario::Density(a) => density::run(&d, a)?,
                Scenario::Api(a) => churn::run_api(&d, a)?,
                Scenario::Flood(a) => flood::run(&d, a)?,
                Scenario::Floor(_) | Scenario::CgroupJoin(_) => unreachable!("handled above"),
            };
            d.check_back_to(&before)?;
            d.close()?;
            out
        }
    };
    if cli.json {
        println!("{}", serde_json::to_string_pretty(&out.json)?);
    } else {
        print!("{}", out.table);
    }
    Ok(())
}
