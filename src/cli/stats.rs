//! `ringmon stats`.

use std::path::Path;

use anyhow::Result;
use clap::Args;

use crate::api::proto::{ContainerStats, DaemonStats};

#[derive(Args, Debug)]
pub struct StatsArgs {
    /// JSON output
    #[arg(long)]
    pub json: bool,
    /// Containers: their CPU, memory and process counts from their cgroups
    pub ids: Vec<String>,
}

pub fn run(a: StatsArgs, socket: &Path) -> Result<i32> {
    let mut c = super::connect::connect(socket)?;
    if !a.ids.is_empty() {
        return containers(&mut c, &a);
    }
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
    println!(
        "orphans reaped     {} (outputs cut at the drain deadline: {})",
        s.orphans_reaped, s.drains_cut
    );
    println!("cgroups            {}", s.cgroup_layout);
    let w = &s.warm_inits;
    println!(
        "warm inits         {} of {} ({}): {} creates took one ({} waited for its fork, {} used the root it built ahead, {} were in their cgroup already, {} had sealed it), {} cloned their own, {} stale, {} died",
        w.pids.len(),
        w.wanted,
        w.namespaces.join(","),
        w.counts.taken,
        w.counts.waited,
        w.counts.root_built_ahead,
        w.counts.cgroup_joined_ahead,
        w.counts.sealed_taken,
        w.counts.cloned,
        w.counts.stale,
        w.counts.died
    );
    Ok(0)
}

fn containers(c: &mut crate::api::client::Client, a: &StatsArgs) -> Result<i32> {
    let mut all = Vec::new();
    for id in &a.ids {
        all.push(c.call("stats", serde_json::json!({ "id": id }))?);
    }
    if a.json {
        println!("{}", serde_json::to_string_pretty(&all)?);
        return Ok(0);
    }
    let opt = |v: Option<u64>, f: &dyn Fn(u64) -> String| v.map(f).unwrap_or_else(|| "-".into());
    let mib = |b: u64| format!("{:.1}MiB", b as f64 / (1 << 20) as f64);
    println!(
        "{:<12}  {:<20}  {:>10}  {:>10}  {:>10}  {:>10}  {:>9}  OOM",
        "ID", "NAME", "CPU", "MEM", "MEM PEAK", "MEM LIMIT", "PIDS"
    );
    for v in all {
        let s: ContainerStats = serde_json::from_value(v)?;
        let u = &s.usage;
        let pids = match (u.pids, u.pids_limit) {
            (Some(p), Some(l)) => format!("{p}/{l}"),
            (Some(p), None) => p.to_string(),
            _ => "-".into(),
        };
        println!(
            "{:<12}  {:<20}  {:>10}  {:>10}  {:>10}  {:>10}  {:>9}  {}",
            &s.id[..12.min(s.id.len())],
            s.name,
            opt(u.cpu_ns, &|n| format!("{:.3}s", n as f64 / 1e9)),
            opt(u.memory_bytes, &mib),
            opt(u.memory_peak_bytes, &mib),
            opt(u.memory_limit_bytes, &mib),
            pids,
            u.oom_kills
        );
    }
    Ok(0)
}
