//! Which cgroup hierarchies this host has, where they are mounted, and where the daemon sits
//! in each: pure v2, pure v1, or hybrid (v1 controllers plus a cgroup2 mount that may have
//! no controllers at all, like these machines; its core files, cgroup.kill, cgroup.freeze,
//! cgroup.events and cpu.stat, still work).
//!
//! Read from /proc/self/mountinfo and /proc/self/cgroup; the parsers take text so tests can
//! feed them any host. Nothing here writes to a cgroup.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use super::controller::Controller;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    /// Only a cgroup2 mount.
    V2,
    /// Only cgroup v1 mounts.
    V1,
    /// v1 controllers and a cgroup2 mount.
    Hybrid,
    /// No cgroup filesystem is mounted.
    None,
}

impl Mode {
    pub fn as_str(self) -> &'static str {
        match self {
            Mode::V2 => "v2",
            Mode::V1 => "v1",
            Mode::Hybrid => "hybrid",
            Mode::None => "none",
        }
    }
}

/// One mounted hierarchy and the daemon's own cgroup directory in it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Hierarchy {
    /// Where it is mounted (/sys/fs/cgroup/memory).
    pub mount: PathBuf,
    /// The daemon's cgroup as a directory under `mount`.
    pub own: PathBuf,
    /// v1: the controllers mounted together here (cpu,cpuacct); empty for cgroup2.
    pub controllers: Vec<Controller>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Layout {
    pub mode: Mode,
    /// The cgroup2 hierarchy (v2 or hybrid).
    pub unified: Option<Hierarchy>,
    /// Controllers listed in the cgroup2 root's cgroup.controllers.
    pub v2_controllers: Vec<Controller>,
    /// v1 hierarchies by controller; co-mounted controllers share one entry's value.
    pub v1: BTreeMap<Controller, Hierarchy>,
    /// Some cgroup hierarchy is mounted with `favordynmods` (the option acts on a lock all
    /// hierarchies share: see `daemon::startup::favordynmods_hint`).
    pub favordynmods: bool,
}

impl Layout {
    /// Every distinct v1 hierarchy once.
    pub fn v1_hierarchies(&self) -> Vec<&Hierarchy> {
        let mut out: Vec<&Hierarchy> = Vec::new();
        for h in self.v1.values() {
            if !out.iter().any(|o| o.mount == h.mount) {
                out.push(h);
            }
        }
        out
    }

    /// Restricts the layout to one version, for hosts where the operator wants that.
    pub fn only(mut self, mode: Mode) -> Self {
        match mode {
            Mode::V1 => {
                self.unified = None;
                self.v2_controllers.clear();
            }
            Mode::V2 => self.v1.clear(),
            Mode::Hybrid | Mode::None => {}
        }
        self.mode = self.derive_mode();
        self
    }

    /// The mode the mounted hierarchies make.
    fn derive_mode(&self) -> Mode {
        match (self.unified.is_some(), self.v1.is_empty()) {
            (true, true) => Mode::V2,
            (true, false) => Mode::Hybrid,
            (false, false) => Mode::V1,
            (false, true) => Mode::None,
        }
    }
}

/// Reads this process's layout.
pub fn detect() -> std::io::Result<Layout> {
    let mountinfo = std::fs::read_to_string("/proc/self/mountinfo")?;
    let cgroup = std::fs::read_to_string("/proc/self/cgroup")?;
    let mut layout = parse(&mountinfo, &cgroup);
    if let Some(u) = &layout.unified {
        let list = std::fs::read_to_string(u.mount.join("cgroup.controllers")).unwrap_or_default();
        layout.v2_controllers = parse_controllers(&list);
    }
    Ok(layout)
}

/// `cgroup.controllers` or `cgroup.subtree_control` text: names separated by spaces.
pub fn parse_controllers(text: &str) -> Vec<Controller> {
    text.split_whitespace()
        .filter_map(Controller::from_v2_name)
        .collect()
}

/// Builds the layout from mountinfo and /proc/self/cgroup text (v2 controllers are left
/// for the caller to read from the mount).
pub fn parse(mountinfo: &str, proc_cgroup: &str) -> Layout {
    // /proc/self/cgroup: "ID:controllers:path"; "0::path" is cgroup2.
    let mut own_v2 = None;
    let mut own_v1: BTreeMap<String, String> = BTreeMap::new();
    for line in proc_cgroup.lines() {
        let mut f = line.splitn(3, ':');
        let (Some(_), Some(ctrls), Some(path)) = (f.next(), f.next(), f.next()) else {
            continue;
        };
        if ctrls.is_empty() {
            own_v2 = Some(path.to_string());
        } else {
            own_v1.insert(ctrls.to_string(), path.to_string());
        }
    }
    let mut layout = Layout {
        mode: Mode::None,
        unified: None,
        v2_controllers: Vec::new(),
        v1: BTreeMap::new(),
        favordynmods: false,
    };
    for line in mountinfo.lines() {
        // "36 35 0:30 /root /mnt rw,... shared:1 - cgroup cgroup rw,memory"
        let Some((left, right)) = line.split_once(" - ") else {
            continue;
        };
        let l: Vec<&str> = left.split(' ').collect();
        let r: Vec<&str> = right.split(' ').collect();
        if l.len() < 5 || r.len() < 3 {
            continue;
        }
        let (root, mount) = (unescape(l[3]), PathBuf::from(unescape(l[4])));
        if matches!(r[0], "cgroup" | "cgroup2") {
            layout.favordynmods |= r[2].split(',').any(|o| o == "favordynmods");
        }
        match r[0] {
            "cgroup2" if layout.unified.is_none() => {
                let own = own_v2.as_deref().unwrap_or("/");
                layout.unified = Some(Hierarchy {
                    own: under(&mount, &root, own),
                    mount,
                    controllers: Vec::new(),
                });
            }
            "cgroup" => {
                let ctrls: Vec<Controller> = r[2]
                    .split(',')
                    .filter_map(Controller::from_v1_name)
                    .collect();
                if ctrls.is_empty() || ctrls.iter().any(|c| layout.v1.contains_key(c)) {
                    continue;
                }
                // /proc/self/cgroup names the hierarchy by its controller list, in the
                // kernel's order, which is not always the mount options' order.
                let own = own_v1
                    .iter()
                    .find(|(names, _)| {
                        let names: Vec<&str> = names.split(',').collect();
                        ctrls.iter().all(|c| names.contains(&c.v1_name()))
                    })
                    .map(|(_, p)| p.as_str())
                    .unwrap_or("/");
                let h = Hierarchy {
                    own: under(&mount, &root, own),
                    mount,
                    controllers: ctrls.clone(),
                };
                for c in ctrls {
                    layout.v1.insert(c, h.clone());
                }
            }
            _ => {}
        }
    }
    layout.mode = layout.derive_mode();
    layout
}

/// The directory of cgroup `path` in a hierarchy mounted at `mount` whose mount root is
/// `root` (not "/" inside a cgroup namespace or for a bind-mounted subtree).
fn under(mount: &Path, root: &str, path: &str) -> PathBuf {
    let rel = path.strip_prefix(root).unwrap_or(path);
    let rel = rel.trim_start_matches('/');
    if rel.is_empty() {
        mount.to_path_buf()
    } else {
        mount.join(rel)
    }
}

/// mountinfo escapes space, tab, newline and backslash as \ooo.
fn unescape(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'\\'
            && i + 4 <= b.len()
            && b[i + 1..i + 4].iter().all(|c| (b'0'..=b'7').contains(c))
        {
            let v = (b[i + 1] - b'0') * 64 + (b[i + 2] - b'0') * 8 + (b[i + 3] - b'0');
            out.push(v);
            i += 4;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    const HYBRID_MOUNTS: &str = "\
25 30 0:23 / /sys rw,nosuid,nodev,noexec,relatime shared:7 - sysfs sysfs rw
26 25 0:24 / /sys/fs/cgroup rw,relatime shared:8 - tmpfs tmpfs rw,mode=755
27 26 0:25 / /sys/fs/cgroup/cpu rw,relatime shared:9 - cgroup cgroup rw,cpu
28 26 0:26 / /sys/fs/cgroup/cpuacct rw,relatime shared:10 - cgroup cgroup rw,cpuacct
29 26 0:27 / /sys/fs/cgroup/memory rw,relatime shared:11 - cgroup cgroup rw,memory
30 26 0:28 / /sys/fs/cgroup/pids rw,relatime shared:12 - cgroup cgroup rw,pids
31 26 0:29 / /sys/fs/cgroup/systemd rw,relatime shared:13 - cgroup cgroup rw,name=systemd
32 26 0:30 / /sys/fs/cgroup/unified rw,relatime shared:14 - cgroup2 cgroup2 rw
";
    const HYBRID_CGROUP: &str = "\
9:name=systemd:/
8:pids:/
4:memory:/process_api/f57c
2:cpuacct:/
1:cpu:/
0::/
";

    #[test]
    fn a_hybrid_host_has_v1_controllers_and_a_unified_mount() {
        let l = parse(HYBRID_MOUNTS, HYBRID_CGROUP);
        assert_eq!(l.mode, Mode::Hybrid);
        let u = l.unified.as_ref().expect("unified");
        assert_eq!(u.mount, Path::new("/sys/fs/cgroup/unified"));
        assert_eq!(u.own, Path::new("/sys/fs/cgroup/unified"));
        assert_eq!(
            l.v1[&Controller::Memory].own,
            Path::new("/sys/fs/cgroup/memory/process_api/f57c")
        );
        assert_eq!(
            l.v1[&Controller::Pids].own,
            Path::new("/sys/fs/cgroup/pids")
        );
        assert_eq!(l.v1.len(), 4, "name=systemd is not a controller");
        assert_eq!(l.v1_hierarchies().len(), 4);
        let v1 = l.clone().only(Mode::V1);
        assert_eq!((v1.mode, v1.unified.is_none()), (Mode::V1, true));
        let v2 = l.only(Mode::V2);
        assert_eq!((v2.mode, v2.v1.len()), (Mode::V2, 0));
    }

    #[test]
    fn co_mounted_controllers_share_a_hierarchy_and_pure_v2_is_recognised() {
        let mounts = "27 26 0:25 / /sys/fs/cgroup/cpu,cpuacct rw - cgroup cgroup rw,cpuacct,cpu\n";
        let l = parse(mounts, "3:cpu,cpuacct:/a/b\n");
        assert_eq!(l.mode, Mode::V1);
        assert_eq!(l.v1_hierarchies().len(), 1);
        assert_eq!(
            l.v1[&Controller::Cpuacct].own,
            Path::new("/sys/fs/cgroup/cpu,cpuacct/a/b")
        );
        let v2 = parse(
            "30 26 0:30 / /sys/fs/cgroup rw - cgroup2 cgroup2 rw,nsdelegate\n",
            "0::/user.slice/x\n",
        );
        assert_eq!(v2.mode, Mode::V2);
        assert_eq!(
            v2.unified.expect("v2").own,
            Path::new("/sys/fs/cgroup/user.slice/x")
        );
        assert_eq!(parse("", "").mode, Mode::None);
    }

    #[test]
    fn a_mount_root_below_the_hierarchy_root_is_stripped_and_escapes_are_decoded() {
        let l = parse(
            "30 26 0:30 /pod /sys/fs/cgroup\\040x rw - cgroup2 cgroup2 rw\n",
            "0::/pod/ctr\n",
        );
        assert_eq!(
            l.unified.expect("v2").own,
            Path::new("/sys/fs/cgroup x/ctr")
        );
        assert_eq!(
            parse_controllers("cpuset cpu io memory hugetlb pids rdma misc"),
            vec![
                Controller::Cpuset,
                Controller::Cpu,
                Controller::Io,
                Controller::Memory,
                Controller::Hugetlb,
                Controller::Pids,
                Controller::Rdma
            ]
        );
    }
}
