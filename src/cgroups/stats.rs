//! Per-container usage from its cgroup: CPU time, memory now and at its peak, processes.

use serde::{Deserialize, Serialize};

use super::{Controller, CtrCgroup, Version};

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Usage {
    /// CPU time of every task, user + system, in nanoseconds.
    pub cpu_ns: Option<u64>,
    pub memory_bytes: Option<u64>,
    pub memory_peak_bytes: Option<u64>,
    pub memory_limit_bytes: Option<u64>,
    pub pids: Option<u64>,
    pub pids_limit: Option<u64>,
    pub oom_kills: u64,
}

impl CtrCgroup {
    fn read_u64(&self, c: Controller, v: Version, file: &str) -> Option<u64> {
        let d = self.dir_for(c, v)?;
        self.fs.read(&d.join(file)).ok()?.trim().parse().ok()
    }

    pub fn usage(&self) -> Usage {
        use Controller::*;
        use Version::*;
        let v2 = |file: &str| {
            self.unified
                .as_ref()
                .and_then(|d| self.fs.read(&d.join(file)).ok())
        };
        let cpu_ns = self
            .read_u64(Cpuacct, V1, "cpuacct.usage")
            .or_else(|| v2("cpu.stat").map(|t| super::oom::field(&t, "usage_usec") * 1000));
        let memory_bytes = self
            .read_u64(Memory, V1, "memory.usage_in_bytes")
            .or_else(|| self.read_u64(Memory, V2, "memory.current"));
        let memory_peak_bytes = self
            .read_u64(Memory, V1, "memory.max_usage_in_bytes")
            .or_else(|| self.read_u64(Memory, V2, "memory.peak"));
        // "max" (v2) does not parse: unlimited. v1 says unlimited with a huge number.
        let memory_limit_bytes = self
            .read_u64(Memory, V1, "memory.limit_in_bytes")
            .filter(|&n| n < (1 << 62))
            .or_else(|| self.read_u64(Memory, V2, "memory.max"));
        let pids = self
            .read_u64(Pids, V1, "pids.current")
            .or_else(|| self.read_u64(Pids, V2, "pids.current"))
            .or_else(|| self.tasks());
        let pids_limit = self
            .read_u64(Pids, V1, "pids.max")
            .or_else(|| self.read_u64(Pids, V2, "pids.max"));
        Usage {
            cpu_ns,
            memory_bytes,
            memory_peak_bytes,
            memory_limit_bytes,
            pids,
            pids_limit,
            oom_kills: self.oom_kills(),
        }
    }
}
