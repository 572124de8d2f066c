//! `density`: N long-running containers held at once. Reports the daemon's RSS and PSS per
//! container (from its smaps_rollup, through `stats`), its fds per container (the ledger),
//! kernel memory per container (/proc/meminfo), and the create -> running latency of probe
//! containers with none and with N held. The idle probes run before the N are created and
//! again after they are deleted, and the held ones are compared with both together: this
//! VM's speed drifts within minutes, and a drift between one idle run and the held run
//! would otherwise pass for a cost of the containers held.

use std::time::Instant;

use anyhow::{Context, Result};
use clap::Args;
use serde_json::json;

use crate::daemon::Daemon;
use crate::report::{Output, Samples};

#[derive(Args, Debug, Clone)]
pub struct DensityArgs {
    /// Containers held at once
    #[arg(long, default_value_t = 1000)]
    pub count: usize,
    /// Containers with a terminal
    #[arg(long)]
    pub tty: bool,
    /// Probe containers timed (create -> running) before and while the N are held
    #[arg(long, default_value_t = 50)]
    pub probes: usize,
    /// Then hold as many containers under conmon + runc, started as podman does, and add ratios
    #[arg(long)]
    pub compare: bool,
}

/// Kernel memory from /proc/meminfo, in bytes: slab, kernel stacks, page tables.
fn kernel_bytes() -> u64 {
    let text = std::fs::read_to_string("/proc/meminfo").unwrap_or_default();
    ["Slab:", "KernelStack:", "PageTables:"]
        .iter()
        .map(|k| {
            text.lines()
                .find(|l| l.starts_with(k))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|v| v.parse::<u64>().ok())
                .unwrap_or(0)
                * 1024
        })
        .sum()
}

/// create -> running of `probes` `sleep` containers, each deleted after.
fn probe(d: &Daemon, tty: bool, probes: usize) -> Result<Samples> {
    let mut c = d.client()?;
    let mut s = Samples::default();
    for _ in 0..probes {
        let t = Instant::now();
        let id = c.call("create", json!({"args": ["sleep", "1000"], "tty": tty}))?["id"]
            .as_str()
            .context("create: id")?
            .to_string();
        c.call("start", json!({ "id": id }))?;
        s.push(t.elapsed());
        c.call("delete", json!({"id": id, "force": true}))?;
    }
    Ok(s)
}

pub fn run(d: &Daemon, a: &DensityArgs) -> Result<Output> {
    let idle = probe(d, a.tty, a.probes)?;
    let s0 = d.stats()?;
    let k0 = kernel_bytes();
    let mut c = d.client()?;
    let mut ids = Vec::with_capacity(a.count);
    let t = Instant::now();
    for i in 0..a.count {
        let res = c
            .call("create", json!({"args": ["sleep", "1000"], "tty": a.tty}))
            .with_context(|| format!("create container {i} of {}", a.count))?;
        let id = res["id"].as_str().context("create: id")?.to_string();
        c.call("start", json!({ "id": id }))?;
        ids.push(id);
    }
    let fill = t.elapsed();
    let s1 = d.stats()?;
    let k1 = kernel_bytes();
    let held = probe(d, a.tty, a.probes)?;
    for id in &ids {
        c.call("delete", json!({"id": id, "force": true}))?;
    }
    let after = probe(d, a.tty, a.probes)?;
    let mut both = Samples(idle.0.clone());
    both.extend(Samples(after.0.clone()));
    let n = a.count.max(1) as f64;
    let delta = |k: &str| s1[k].as_i64().unwrap_or(0) - s0[k].as_i64().unwrap_or(0);
    let rss = delta("rss_bytes") as f64 / n;
    let pss = delta("pss_bytes") as f64 / n;
    let fds = delta("ledger_fds") as f64 / n;
    let kernel = (k1 as f64 - k0 as f64) / n;
    let ratio = if both.ms(0.5) > 0.0 {
        held.ms(0.5) / both.ms(0.5)
    } else {
        0.0
    };
    let mut table = format!(
        "density: {} containers held, tty={} (started in {:.2} s)\n\
         \x20 daemon RSS per container  {:>10.0} bytes\n\
         \x20 daemon PSS per container  {:>10.0} bytes\n\
         \x20 daemon fds per container  {:>10.2}\n\
         \x20 kernel memory per container {:>8.0} bytes (slab + stacks + page tables)\n",
        a.count,
        a.tty,
        fill.as_secs_f64(),
        rss,
        pss,
        fds,
        kernel
    );
    table.push_str(&idle.row("create->running, 0 held"));
    table.push_str(&held.row(&format!("create->running, {} held", a.count)));
    table.push_str(&after.row("create->running, 0 after"));
    table.push_str(&format!(
        "  ratio held/idle p50        {ratio:.2} (idle: the runs before and after, together)\n"
    ));
    let mut json = json!({"scenario": "density", "count": a.count, "tty": a.tty,
        "rss_per_container": rss, "pss_per_container": pss, "fds_per_container": fds,
        "kernel_bytes_per_container": kernel, "create_running_idle": idle.json(),
        "create_running_held": held.json(), "create_running_idle_after": after.json(),
        "held_over_idle_p50": ratio});
    if a.compare {
        let mut peers = Vec::new();
        for rt in crate::peers::RUNTIMES {
            let peer = crate::peers::density(rt, a, pss, fds)?;
            table.push_str(&peer.table);
            peers.push(json!({"peer": peer.peer, "ratios": peer.ratios}));
        }
        json["peers"] = json!(peers);
    }
    Ok(Output { table, json })
}
