//! `ringmon ps`.

use std::path::Path;

use anyhow::Result;
use clap::Args;

use crate::api::proto::ContainerInfo;

#[derive(Args, Debug)]
pub struct PsArgs {
    /// Show stopped containers too
    #[arg(short = 'a', long)]
    pub all: bool,
    /// Only ids
    #[arg(short = 'q', long)]
    pub quiet: bool,
    /// JSON output
    #[arg(long)]
    pub json: bool,
}

pub fn run(a: PsArgs, socket: &Path) -> Result<i32> {
    let mut c = super::connect::connect(socket)?;
    let list: Vec<ContainerInfo> = serde_json::from_value(c.call("list", serde_json::json!({}))?)?;
    let list: Vec<_> = list
        .into_iter()
        .filter(|i| a.all || i.status != "stopped")
        .collect();
    if a.json {
        println!("{}", serde_json::to_string_pretty(&list)?);
        return Ok(0);
    }
    if !a.quiet {
        println!(
            "{:<14} {:<20} {:<9} {:>8} {:<6} COMMAND",
            "ID", "NAME", "STATUS", "PID", "EXIT"
        );
    }
    for i in list {
        if a.quiet {
            println!("{}", &i.id[..12.min(i.id.len())]);
            continue;
        }
        let exit = i
            .exit
            .as_ref()
            .map(|e| e.exit_code.to_string())
            .unwrap_or_default();
        println!(
            "{:<14} {:<20} {:<9} {:>8} {:<6} {}",
            &i.id[..12.min(i.id.len())],
            i.name,
            i.status,
            i.pid,
            exit,
            i.args.join(" ")
        );
    }
    Ok(0)
}
