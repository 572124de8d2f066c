//! A warm init's own cgroup (docs/design/0013-cgroup-joined-ahead.md).
//!
//! Moving a task into a cgroup (a write to `cgroup.procs`) takes the kernel's threadgroup
//! rwsem for writing, and when no move happened for a while that waits for an RCU grace
//! period: 6-14 ms here, against ~0.1 ms otherwise. cgroup2 cannot rename a cgroup, so
//! each warm init is given the id of the container that will take it: its directories are
//! made where that container's would be (the parent and the id, with no limits), and it
//! joins them while it waits. The create that takes it uses them as they are and writes
//! its limits; the init joins only what it is not in yet (a v1 hierarchy a limit needs,
//! or the directories of a cgroupsPath of the container's own).

use std::path::Path;

use super::{Cgroups, Controller, CtrCgroup};

impl Cgroups {
    /// The directories of the warm init reserved for container `id`, computed and not yet
    /// made: those of a container with no limits and no cgroupsPath.
    pub fn warm_plan(&self, id: &str) -> CtrCgroup {
        self.planned(id, None, &[])
    }

    /// Of `planned`'s `cgroup.procs` files (container `id`), those its warm init's
    /// directories serve as they are: an init that joined its own ahead is in these.
    pub fn ahead(&self, planned: &CtrCgroup, id: &str) -> Vec<String> {
        let warm = self.warm_plan(id);
        let v1 = planned
            .v1
            .iter()
            .filter(|(cs, d)| has(&warm, Some(cs), d))
            .map(|(_, d)| d);
        let unified = planned.unified.iter().filter(|d| has(&warm, None, d));
        v1.chain(unified).map(|d| procs_file(d)).collect()
    }
}

/// Whether `warm` has `dir` in the same hierarchy (the v1 one serving `controllers`;
/// None: cgroup2).
pub(super) fn has(warm: &CtrCgroup, controllers: Option<&[Controller]>, dir: &Path) -> bool {
    match controllers {
        Some(cs) => warm
            .v1
            .iter()
            .any(|(wcs, d)| wcs.as_slice() == cs && d == dir),
        None => warm.unified.as_deref() == Some(dir),
    }
}

pub(super) fn procs_file(dir: &Path) -> String {
    dir.join("cgroup.procs").display().to_string()
}
