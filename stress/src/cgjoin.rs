//! `cgroup-join`: what a move into a cgroup (a write to `cgroup.procs`) costs after an idle
//! gap, with no daemon (docs/design/0013-cgroup-joined-ahead.md). A child of ours is moved
//! back and forth between two empty cgroups of ours, `--count` times after each gap; the
//! first move after a quiet moment waits for an RCU grace period (the threadgroup rwsem's
//! writer side), later ones do not. The cgroups and the child are removed at the end.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use clap::Args;
use serde_json::json;

use crate::report::{Output, Samples};

#[derive(Args, Debug, Clone)]
pub struct CgroupJoinArgs {
    /// Moves after each gap
    #[arg(long, default_value_t = 50)]
    pub count: usize,
    /// Idle gaps before a move, in milliseconds, comma-separated
    #[arg(long, value_delimiter = ',', default_values_t = [0u64, 1, 10, 50, 100])]
    pub gaps: Vec<u64>,
    /// The hierarchy to move in [default: the cgroup2 mount, else the v1 pids one]
    #[arg(long)]
    pub hierarchy: Option<PathBuf>,
}

/// Our two cgroups and the child moved between them; dropping it ends the child and
/// removes the directories.
struct Bench {
    top: PathBuf,
    child: Child,
}

impl Drop for Bench {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        for d in ["a", "b"] {
            let _ = std::fs::remove_dir(self.top.join(d));
        }
        let _ = std::fs::remove_dir(&self.top);
    }
}

pub fn run(a: &CgroupJoinArgs) -> Result<Output> {
    let mount = match &a.hierarchy {
        Some(h) => h.clone(),
        None => default_hierarchy()?,
    };
    let top = mount.join(format!("ringmon-stress-cgjoin-{}", std::process::id()));
    std::fs::create_dir(&top).with_context(|| format!("mkdir {}", top.display()))?;
    let child = Command::new("sleep")
        .arg("3600")
        .stdin(Stdio::null())
        .spawn()
        .context("spawn sleep");
    let child = match child {
        Ok(c) => c,
        Err(e) => {
            let _ = std::fs::remove_dir(&top);
            return Err(e);
        }
    };
    let b = Bench { top, child };
    let files: Vec<PathBuf> = ["a", "b"]
        .iter()
        .map(|d| {
            let dir = b.top.join(d);
            std::fs::create_dir(&dir).with_context(|| format!("mkdir {}", dir.display()))?;
            Ok(dir.join("cgroup.procs"))
        })
        .collect::<Result<_>>()?;
    let pid = b.child.id().to_string();
    let mut table = format!(
        "cgroup-join: move a child between two cgroups under {} after an idle gap\n",
        mount.display()
    );
    let mut rows = Vec::new();
    let mut n = 0usize;
    for &gap in &a.gaps {
        let mut s = Samples::default();
        for _ in 0..a.count {
            std::thread::sleep(Duration::from_millis(gap));
            let t = Instant::now();
            move_to(&files[n % 2], &pid)?;
            s.push(t.elapsed());
            n += 1;
        }
        table.push_str(&s.row(&format!("after {gap} ms idle")));
        table.push_str(&format!("  {:<24} max {:>8.3} ms\n", "", s.ms(1.0)));
        rows.push(json!({"gap_ms": gap, "move": s.json(), "max_ms": s.ms(1.0)}));
    }
    drop(b);
    let json = json!({"scenario": "cgroup-join", "hierarchy": mount, "results": rows});
    Ok(Output { table, json })
}

fn move_to(procs: &Path, pid: &str) -> Result<()> {
    std::fs::write(procs, pid).with_context(|| format!("write {pid} to {}", procs.display()))
}

/// The cgroup2 mount, else the v1 hierarchy with the pids controller.
fn default_hierarchy() -> Result<PathBuf> {
    let info = std::fs::read_to_string("/proc/self/mountinfo").context("read mountinfo")?;
    let mut v1_pids = None;
    for line in info.lines() {
        let Some((pre, post)) = line.split_once(" - ") else {
            continue;
        };
        let point = pre.split(' ').nth(4).unwrap_or_default();
        let mut post = post.split(' ');
        let fstype = post.next().unwrap_or_default();
        let opts = post.nth(1).unwrap_or_default();
        if fstype == "cgroup2" {
            return Ok(PathBuf::from(point));
        }
        if fstype == "cgroup" && opts.split(',').any(|o| o == "pids") {
            v1_pids.get_or_insert_with(|| PathBuf::from(point));
        }
    }
    match v1_pids {
        Some(p) => Ok(p),
        None => bail!("no cgroup2 mount and no v1 pids hierarchy in /proc/self/mountinfo"),
    }
}
