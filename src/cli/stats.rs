//! `ringmon stats`.

use std::path::Path;

use anyhow::Result;
use clap::Args;

use crate::api::proto::DaemonStats;

#[derive(Args, Debug)]
pub struct StatsArgs {
    /// JSON output
    #[arg(long)]
    pub json: bool,
}

pub fn run(a: StatsArgs, socket: &Path) -> Result<i32> {
    let mut c = super::connect::connect(socket)?;
    let v = c.call("stats", serde_json::json!({}))?;
    if a.json {
        println!("{}", serde_json::to_string_pretty(&v)?);
        return Ok(0);
    }
    let s: DaemonStats = serde_json::from_value(v)?;
    let states: Vec<String> = s
        .containers
        .iter()
        .map(|(k, v)| format!("{v} {k}"))
        .collect();
    println!("daemon pid         {}", s.pid);
    println!(
        "containers         {}",
        if states.is_empty() {
            "none".into()
        } else {
            states.join(", ")
        }
    );
    println!("processes          {}", s.processes);
    println!("fds (ledger/proc)  {} / {}", s.ledger_fds, s.proc_fds);
    println!(
        "ptys held          {} (host in use: {})",
        s.ptys_held, s.ptys_host_in_use
    );
    println!(
        "rss / pss          {} KiB / {} KiB",
        s.rss_bytes / 1024,
        s.pss_bytes / 1024
    );
    println!("memory per process {} bytes RSS", s.rss_per_process_bytes);
    println!(
        "fd limit           {} (room for about {} tty containers)",
        s.nofile_limit, s.container_ceiling
    );
    println!("connections        {}", s.connections);
    Ok(0)
}
