//! OOM kills: how many times the kernel's OOM killer killed a task of a container, whether
//! its init or any child.
//!
//! The counters are `oom_kill` in v1 `memory.oom_control` and v2 `memory.events`. The
//! daemon watches for OOM events with one fd for all containers (not one each, which would
//! cost an fd per container): on v1 a single eventfd registered in every container's
//! `cgroup.event_control` for its `memory.oom_control`; on v2 the parent's hierarchical
//! `memory.events`, polled for POLLPRI. An event makes the daemon re-read the counters of
//! the running containers; every exit reads the container's counter once more, which also
//! catches kills by the global OOM killer (no memcg event fires for those).

use std::os::fd::{AsFd, AsRawFd, BorrowedFd};

use super::{Controller, CtrCgroup, FsError, Version};

impl CtrCgroup {
    /// The file holding the oom_kill counter.
    fn oom_file(&self) -> Option<std::path::PathBuf> {
        if let Some(d) = self.dir_for(Controller::Memory, Version::V1) {
            return Some(d.join("memory.oom_control"));
        }
        let d = self.unified.as_ref()?.join("memory.events");
        d.exists().then_some(d)
    }

    /// OOM kills in this container so far (0 when the host cannot tell).
    pub fn oom_kills(&self) -> u64 {
        self.oom_file()
            .and_then(|f| self.fs.read(&f).ok())
            .map(|t| field(&t, "oom_kill"))
            .unwrap_or(0)
    }

    /// v1: registers `eventfd` for this container's OOM notifications.
    pub fn register_oom_eventfd(&self, eventfd: BorrowedFd<'_>) -> Result<(), FsError> {
        let Some(d) = self.dir_for(Controller::Memory, Version::V1) else {
            return Ok(());
        };
        let control = d.join("memory.oom_control");
        let file = std::fs::File::open(&control).map_err(|err| FsError {
            call: "openat",
            path: control.clone(),
            err,
        })?;
        // The registration holds its own reference on the cgroup; the control file can
        // close at once. It ends when the cgroup is removed.
        let line = format!("{} {}", eventfd.as_raw_fd(), file.as_fd().as_raw_fd());
        self.fs.write(&d.join("cgroup.event_control"), &line)
    }
}

/// The value of `key` in a flat keyed file ("oom_kill 3").
pub fn field(text: &str, key: &str) -> u64 {
    text.lines()
        .filter_map(|l| l.split_once(' '))
        .find(|(k, _)| *k == key)
        .and_then(|(_, v)| v.trim().parse().ok())
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counters_come_from_flat_keyed_files() {
        let v1 = "oom_kill_disable 0\nunder_oom 0\noom_kill 2\n";
        assert_eq!(field(v1, "oom_kill"), 2);
        let v2 = "low 0\nhigh 0\nmax 5\noom 1\noom_kill 1\noom_group_kill 0\n";
        assert_eq!(field(v2, "oom_kill"), 1);
        assert_eq!(field(v2, "oom"), 1);
        assert_eq!(field("", "oom_kill"), 0);
    }
}
