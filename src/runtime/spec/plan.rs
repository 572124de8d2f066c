//! What the init executes: the spec reduced to plain, checked steps.
//!
//! The daemon turns a validated OCI spec into a `ContainerPlan` at create (every name mapped,
//! every mount option parsed), so the init never interprets JSON it could misread and every
//! refusal happens before a process exists. The plan travels in the handshake's `Job`.

use serde::{Deserialize, Serialize};

/// A namespace joined by path inside the init (pid is joined by the daemon around the clone,
/// because setns(CLONE_NEWPID) only applies to children).
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct NsJoin {
    /// The spec's type name, for error messages.
    pub kind: String,
    /// The CLONE_NEW* flag.
    pub flag: i32,
    pub path: String,
}

/// One mount, options already parsed.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct MountPlan {
    pub destination: String,
    /// "bind" or the filesystem type.
    pub fstype: String,
    pub source: String,
    /// MS_* flags other than propagation and MS_BIND/MS_REC.
    pub flags: u32,
    /// MS_PRIVATE/MS_SLAVE/MS_SHARED/MS_UNBINDABLE, with MS_REC for the r-forms; 0: leave.
    pub propagation: u32,
    /// Filesystem data options joined with commas (mode=755,size=65536k).
    pub data: String,
    pub bind: bool,
    pub recursive: bool,
}

#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq)]
pub struct Capabilities {
    pub bounding: u64,
    pub effective: u64,
    pub permitted: u64,
    pub inheritable: u64,
    pub ambient: u64,
}

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct Rlimit {
    /// RLIMIT_NOFILE etc.
    pub name: String,
    pub soft: u64,
    pub hard: u64,
}

#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq)]
pub struct ContainerPlan {
    /// Absolute host path of the root filesystem.
    pub rootfs: String,
    /// Host-root mode: bind the host's "/" (not recursively) here and use it as the root.
    pub host_root_at: Option<String>,
    pub readonly_root: bool,
    /// Propagation for "/" of the new mount namespace (MS_SLAVE|MS_REC by default).
    pub root_propagation: u32,
    pub join: Vec<NsJoin>,
    pub mounts: Vec<MountPlan>,
    pub masked_paths: Vec<String>,
    pub readonly_paths: Vec<String>,
    pub hostname: Option<String>,
    pub domainname: Option<String>,
    pub sysctl: Vec<(String, String)>,
    pub rlimits: Vec<Rlimit>,
    pub oom_score_adj: Option<i32>,
    pub umask: Option<u32>,
    pub uid: u32,
    pub gid: u32,
    pub additional_gids: Vec<u32>,
    pub capabilities: Option<Capabilities>,
    pub no_new_privileges: bool,
    pub seccomp: Option<oci_spec::runtime::LinuxSeccomp>,
    /// The `cgroup.procs` files of the container's cgroups, joined first thing.
    pub cgroup_procs: Vec<String>,
    /// Those of them a warm init's own cgroup made ahead (`cgroups/warm.rs`): an init that
    /// joined its own before the job is in these already.
    #[serde(default)]
    pub cgroup_ahead: Vec<String>,
    /// Make a cgroup namespace after joining them (its root is then the container's cgroup).
    pub unshare_cgroup_ns: bool,
}

impl ContainerPlan {
    /// Whether two plans build the same root (`init::rootfs::build` reads only these
    /// fields), so that a root built ahead for one (a warm init's) serves the other.
    pub fn same_root(&self, other: &ContainerPlan) -> bool {
        self.rootfs == other.rootfs
            && self.host_root_at == other.host_root_at
            && self.root_propagation == other.root_propagation
            && self.mounts == other.mounts
            && self.masked_paths == other.masked_paths
            && self.readonly_paths == other.readonly_paths
    }

    /// What of this job needs the host's tree, which an init that sealed the root it built
    /// for `ahead` has detached (`ToInit::Seal`, docs/design/0015): None when such an init
    /// can run it. The cgroup files are checked as the daemon filled them in.
    pub fn needs_host_tree(&self, ahead: &ContainerPlan) -> Option<&'static str> {
        if !self.same_root(ahead) {
            Some("its root is not the one built ahead")
        } else if !self.join.is_empty() {
            Some("it joins namespaces by path")
        } else if self.unshare_cgroup_ns {
            Some("it makes a cgroup namespace")
        } else if !self.sysctl.is_empty() {
            Some("it sets sysctls (written through the host's /proc)")
        } else if !self
            .cgroup_procs
            .iter()
            .all(|f| self.cgroup_ahead.contains(f))
        {
            Some("it joins cgroups other than the warm init's own")
        } else {
            None
        }
    }
}

/// Linux capability names by number (capability.h), CAP_CHOWN = 0 .. CAP_CHECKPOINT_RESTORE = 40.
pub const CAPABILITY_NAMES: [&str; 41] = [
    "CAP_CHOWN",
    "CAP_DAC_OVERRIDE",
    "CAP_DAC_READ_SEARCH",
    "CAP_FOWNER",
    "CAP_FSETID",
    "CAP_KILL",
    "CAP_SETGID",
    "CAP_SETUID",
    "CAP_SETPCAP",
    "CAP_LINUX_IMMUTABLE",
    "CAP_NET_BIND_SERVICE",
    "CAP_NET_BROADCAST",
    "CAP_NET_ADMIN",
    "CAP_NET_RAW",
    "CAP_IPC_LOCK",
    "CAP_IPC_OWNER",
    "CAP_SYS_MODULE",
    "CAP_SYS_RAWIO",
    "CAP_SYS_CHROOT",
    "CAP_SYS_PTRACE",
    "CAP_SYS_PACCT",
    "CAP_SYS_ADMIN",
    "CAP_SYS_BOOT",
    "CAP_SYS_NICE",
    "CAP_SYS_RESOURCE",
    "CAP_SYS_TIME",
    "CAP_SYS_TTY_CONFIG",
    "CAP_MKNOD",
    "CAP_LEASE",
    "CAP_AUDIT_WRITE",
    "CAP_AUDIT_CONTROL",
    "CAP_SETFCAP",
    "CAP_MAC_OVERRIDE",
    "CAP_MAC_ADMIN",
    "CAP_SYSLOG",
    "CAP_WAKE_ALARM",
    "CAP_BLOCK_SUSPEND",
    "CAP_AUDIT_READ",
    "CAP_PERFMON",
    "CAP_BPF",
    "CAP_CHECKPOINT_RESTORE",
];

/// Maps capability names (CAP_X, or X as docker accepts) to a bit mask.
pub fn cap_mask(names: &[String]) -> Result<u64, String> {
    let mut mask = 0u64;
    for n in names {
        // "CAP_CHOWN", "cap_chown" and "chown" all name it; compared without allocating.
        let has_prefix = n.get(..4).is_some_and(|p| p.eq_ignore_ascii_case("CAP_"));
        let short = if has_prefix { &n[4..] } else { n.as_str() };
        let found = CAPABILITY_NAMES.iter().position(|c| {
            c.strip_prefix("CAP_")
                .is_some_and(|c| c.eq_ignore_ascii_case(short))
        });
        match found {
            Some(bit) => mask |= 1 << bit,
            None => return Err(format!("unknown capability {n:?}")),
        }
    }
    Ok(mask)
}

/// Names ringmon maps to setrlimit resources.
pub fn rlimit_resource(name: &str) -> Option<rustix::process::Resource> {
    use rustix::process::Resource as R;
    Some(match name {
        "RLIMIT_AS" => R::As,
        "RLIMIT_CORE" => R::Core,
        "RLIMIT_CPU" => R::Cpu,
        "RLIMIT_DATA" => R::Data,
        "RLIMIT_FSIZE" => R::Fsize,
        "RLIMIT_LOCKS" => R::Locks,
        "RLIMIT_MEMLOCK" => R::Memlock,
        "RLIMIT_MSGQUEUE" => R::Msgqueue,
        "RLIMIT_NICE" => R::Nice,
        "RLIMIT_NOFILE" => R::Nofile,
        "RLIMIT_NPROC" => R::Nproc,
        "RLIMIT_RSS" => R::Rss,
        "RLIMIT_RTPRIO" => R::Rtprio,
        "RLIMIT_RTTIME" => R::Rttime,
        "RLIMIT_SIGPENDING" => R::Sigpending,
        "RLIMIT_STACK" => R::Stack,
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_sealed_init_runs_only_jobs_that_need_nothing_of_the_hosts_tree() {
        let ahead = ContainerPlan {
            rootfs: "/run/x/host-root".into(),
            host_root_at: Some("/run/x/host-root".into()),
            masked_paths: vec!["/proc/kcore".into()],
            ..Default::default()
        };
        let procs = vec!["/sys/fs/cgroup/unified/ringmon/abc/cgroup.procs".to_string()];
        let fits = ContainerPlan {
            hostname: Some("other".into()),
            cgroup_procs: procs.clone(),
            cgroup_ahead: procs.clone(),
            ..ahead.clone()
        };
        assert_eq!(fits.needs_host_tree(&ahead), None);
        let cases: [(&str, ContainerPlan); 5] = [
            (
                "root",
                ContainerPlan {
                    readonly_paths: vec!["/mnt".into()],
                    ..fits.clone()
                },
            ),
            (
                "namespaces",
                ContainerPlan {
                    join: vec![NsJoin {
                        kind: "network".into(),
                        flag: libc::CLONE_NEWNET,
                        path: "/proc/1/ns/net".into(),
                    }],
                    ..fits.clone()
                },
            ),
            (
                "cgroup namespace",
                ContainerPlan {
                    unshare_cgroup_ns: true,
                    ..fits.clone()
                },
            ),
            (
                "sysctls",
                ContainerPlan {
                    sysctl: vec![("net.ipv4.ip_forward".into(), "1".into())],
                    ..fits.clone()
                },
            ),
            (
                "cgroups",
                ContainerPlan {
                    cgroup_ahead: Vec::new(),
                    ..fits.clone()
                },
            ),
        ];
        for (what, plan) in cases {
            let why = plan.needs_host_tree(&ahead);
            assert!(why.is_some_and(|w| w.contains(what)), "{what}: {why:?}");
        }
    }

    #[test]
    fn capability_names_map_to_their_numbers() {
        assert_eq!(cap_mask(&["CAP_CHOWN".into()]), Ok(1));
        assert_eq!(cap_mask(&["CAP_SYS_ADMIN".into()]), Ok(1 << 21));
        assert_eq!(cap_mask(&["kill".into()]), Ok(1 << 5));
        assert_eq!(cap_mask(&["CAP_CHECKPOINT_RESTORE".into()]), Ok(1 << 40));
        assert!(cap_mask(&["CAP_FLY".into()])
            .expect_err("unknown")
            .contains("CAP_FLY"));
        assert_eq!(cap_mask(&["cap_Net_Raw".into()]), Ok(1 << 13));
        assert!(cap_mask(&["CAP_".into()]).is_err());
        assert!(cap_mask(&["ÇAP_KILL".into()]).is_err());
    }

    #[test]
    fn rlimit_names_are_the_spec_names() {
        assert!(rlimit_resource("RLIMIT_NOFILE").is_some());
        assert!(rlimit_resource("NOFILE").is_none());
    }
}
