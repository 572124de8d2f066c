//! Whole-daemon stats: containers by state, fds (ledger and /proc), memory, ptys.

use crate::api::proto::DaemonStats;
use crate::daemon::Daemon;
use crate::fd_ledger;

/// (RSS, PSS) in bytes from /proc/self/smaps_rollup.
pub fn self_memory() -> (u64, u64) {
    let text = std::fs::read_to_string("/proc/self/smaps_rollup").unwrap_or_default();
    let field = |name: &str| {
        text.lines()
            .find(|l| l.starts_with(name))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|v| v.parse::<u64>().ok())
            .map(|kb| kb * 1024)
            .unwrap_or(0)
    };
    (field("Rss:"), field("Pss:"))
}

/// Ptys in use on the host (all devpts instances).
pub fn host_ptys() -> u64 {
    std::fs::read_to_string("/proc/sys/kernel/pty/nr")
        .ok()
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(0)
}

impl Daemon {
    pub fn stats(&self) -> DaemonStats {
        let mut by_state = std::collections::BTreeMap::new();
        let mut processes = 0;
        let mut ptys = 0;
        for (_, c) in &self.containers {
            *by_state.entry(c.status.as_str().to_string()).or_insert(0) += 1;
            if c.pidfd.is_some() {
                processes += 1;
            }
            if c.tty && c.streams.first().is_some_and(|s| s.is_some()) {
                ptys += 1;
            }
        }
        let (rss, pss) = self_memory();
        let open = fd_ledger::proc_fds().unwrap_or_default();
        DaemonStats {
            pid: std::process::id() as i32,
            version: env!("CARGO_PKG_VERSION").into(),
            uptime_seconds: self.started.elapsed().as_secs_f64(),
            containers: by_state,
            containers_in_setup: self.in_setup,
            processes,
            ledger_fds: fd_ledger::count(),
            proc_fds: open.len(),
            unaccounted_fds: fd_ledger::unaccounted(&open),
            fds_by_owner: fd_ledger::by_owner_kind(),
            fds_by_purpose: fd_ledger::by_purpose()
                .into_iter()
                .map(|(k, v)| (k.to_string(), v))
                .collect(),
            rss_bytes: rss,
            pss_bytes: pss,
            rss_per_process_bytes: if processes > 0 {
                rss / processes as u64
            } else {
                0
            },
            ptys_held: ptys,
            ptys_host_in_use: host_ptys(),
            nofile_limit: self.nofile,
            container_ceiling: crate::daemon::startup::container_ceiling(self.nofile),
            connections: self.conns.len(),
            ring_ops_in_flight: self.ring.in_flight(),
            orphans_reaped: self.orphans_reaped,
            drains_cut: self.drains_cut,
            warnings: self.warnings.clone(),
            cgroup_layout: self.cgroups.layout.mode.as_str().to_string(),
            cgroup_parents: self.cgroups.container_parents(),
            warm_inits: crate::api::proto::WarmStats {
                wanted: self.cfg.warm_inits,
                pids: self.warm.pids(),
                zygote: self.warm.zygote_pid(),
                cgroup_ids: self.warm.cgroup_ids(),
                namespaces: crate::runtime::warm::namespace_names(self.warm.flags())
                    .into_iter()
                    .map(String::from)
                    .collect(),
                counts: self.warm.counts,
            },
        }
    }
}
