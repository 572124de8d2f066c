//! Controller names, as cgroup v1 mounts and cgroup v2's `cgroup.controllers` spell them.

/// A cgroup controller ringmon knows by name.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Controller {
    Cpu,
    Cpuacct,
    Cpuset,
    Memory,
    Pids,
    /// `blkio` on v1, `io` on v2.
    Io,
    Devices,
    Freezer,
    Hugetlb,
    NetCls,
    NetPrio,
    Rdma,
}

impl Controller {
    pub const ALL: &[Controller] = &[
        Controller::Cpu,
        Controller::Cpuacct,
        Controller::Cpuset,
        Controller::Memory,
        Controller::Pids,
        Controller::Io,
        Controller::Devices,
        Controller::Freezer,
        Controller::Hugetlb,
        Controller::NetCls,
        Controller::NetPrio,
        Controller::Rdma,
    ];

    /// The name in a cgroup v1 mount's options and in /proc/PID/cgroup.
    pub fn v1_name(self) -> &'static str {
        match self {
            Controller::Cpu => "cpu",
            Controller::Cpuacct => "cpuacct",
            Controller::Cpuset => "cpuset",
            Controller::Memory => "memory",
            Controller::Pids => "pids",
            Controller::Io => "blkio",
            Controller::Devices => "devices",
            Controller::Freezer => "freezer",
            Controller::Hugetlb => "hugetlb",
            Controller::NetCls => "net_cls",
            Controller::NetPrio => "net_prio",
            Controller::Rdma => "rdma",
        }
    }

    /// The name in cgroup v2's `cgroup.controllers`; None for controllers v2 does not have
    /// (v2 has no cpuacct, devices, freezer, net_cls or net_prio controller: accounting,
    /// freezing and device filtering are core features or eBPF there).
    pub fn v2_name(self) -> Option<&'static str> {
        match self {
            Controller::Cpu => Some("cpu"),
            Controller::Cpuset => Some("cpuset"),
            Controller::Memory => Some("memory"),
            Controller::Pids => Some("pids"),
            Controller::Io => Some("io"),
            Controller::Hugetlb => Some("hugetlb"),
            Controller::Rdma => Some("rdma"),
            Controller::Cpuacct
            | Controller::Devices
            | Controller::Freezer
            | Controller::NetCls
            | Controller::NetPrio => None,
        }
    }

    pub fn from_v1_name(name: &str) -> Option<Self> {
        Self::ALL.iter().copied().find(|c| c.v1_name() == name)
    }

    pub fn from_v2_name(name: &str) -> Option<Self> {
        Self::ALL
            .iter()
            .copied()
            .find(|c| c.v2_name() == Some(name))
    }
}

/// Which cgroup version serves a controller for a container.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Version {
    V1,
    V2,
}
