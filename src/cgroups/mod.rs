//! cgroups: one cgroup per container, under a parent the daemon owns, in every hierarchy
//! that serves it (pure v2, pure v1, or hybrid), with the spec's limits written before the
//! container's first instruction runs, and removed on delete.
//!
//! The daemon creates the directories and writes the limits at create; the init joins them
//! (it writes "0" to each `cgroup.procs`) as its first step after receiving its job, so the
//! daemon's loop never waits on a task migration (a write to `cgroup.procs` takes the
//! threadgroup rwsem and can wait for an RCU grace period) and the user's process starts
//! inside them. A warm init joins most of them before the job: its own directories, made
//! under the id of the container that takes it (`warm`). Kill-all, OOM and stats read and write the same directories
//! (`kill`, `oom`, `stats`). Every path this module touches is under a hierarchy mount from
//! `layout`; `Fs` writes to it, or to a fake cgroupfs in a temp dir in tests. It never
//! removes a directory it did not create.

pub mod controller;
pub mod kill;
pub mod layout;
pub mod oom;
pub mod resources;
pub mod stats;
mod warm;

use std::collections::BTreeSet;
use std::io;
use std::path::{Path, PathBuf};

use oci_spec::runtime::LinuxResources;

pub use controller::{Controller, Version};
pub use layout::{Layout, Mode};

/// Cgroups of one container walked for its pids and task count (its own and those below).
const MAX_SUBTREE: usize = 1024;

/// A failed cgroupfs call, with the call and the path.
#[derive(Debug, thiserror::Error)]
#[error("{call} {}: {err}", .path.display())]
pub struct FsError {
    pub call: &'static str,
    pub path: PathBuf,
    pub err: io::Error,
}

#[derive(Debug, thiserror::Error)]
pub enum CgroupError {
    #[error(transparent)]
    Fs(#[from] FsError),
    /// A limit the host cannot enforce, or a bad cgroupsPath; names the field.
    #[error("{0}")]
    Refused(String),
}

/// The one door to cgroupfs. A real cgroupfs creates a directory's files itself and refuses
/// O_CREAT of new ones; a fake one (tests) is a plain directory, so writes create files.
#[derive(Clone, Copy, Debug, Default)]
pub struct Fs {
    pub fake: bool,
}

impl Fs {
    pub fn write(&self, path: &Path, value: &str) -> Result<(), FsError> {
        use std::io::Write;
        let fail = |err| FsError {
            call: "write",
            path: path.to_path_buf(),
            err,
        };
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .create(self.fake)
            .truncate(self.fake)
            .open(path)
            .map_err(|err| FsError {
                call: "openat",
                path: path.to_path_buf(),
                err,
            })?;
        // One write(2): cgroupfs parses each write as one value.
        f.write_all(value.as_bytes()).map_err(fail)
    }

    pub fn read(&self, path: &Path) -> Result<String, FsError> {
        std::fs::read_to_string(path).map_err(|err| FsError {
            call: "read",
            path: path.to_path_buf(),
            err,
        })
    }

    fn mkdir(&self, path: &Path) -> Result<bool, FsError> {
        match std::fs::create_dir(path) {
            Ok(()) => Ok(true),
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => Ok(false),
            Err(err) => Err(FsError {
                call: "mkdir",
                path: path.to_path_buf(),
                err,
            }),
        }
    }

    pub fn mkdir_all(&self, path: &Path) -> Result<(), FsError> {
        std::fs::create_dir_all(path).map_err(|err| FsError {
            call: "mkdir",
            path: path.to_path_buf(),
            err,
        })
    }

    /// rmdir; a directory already gone counts as removed. EBUSY means it still has tasks.
    pub fn rmdir(&self, path: &Path) -> Result<(), FsError> {
        let res = if self.fake {
            std::fs::remove_dir_all(path)
        } else {
            std::fs::remove_dir(path)
        };
        match res {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
            Err(err) => Err(FsError {
                call: "rmdir",
                path: path.to_path_buf(),
                err,
            }),
        }
    }
}

/// The host's cgroups as the daemon uses them.
#[derive(Debug)]
pub struct Cgroups {
    pub layout: Layout,
    /// `--cgroup-parent`: relative to the daemon's own cgroup in each hierarchy, or
    /// absolute from the hierarchy's root.
    parent: String,
    pub fs: Fs,
    /// Why containers get no cgroup (disabled, or nothing usable is mounted).
    pub unusable: Option<String>,
    /// Directories above containers' cgroups that this daemon made (and so may remove).
    made: std::cell::RefCell<BTreeSet<PathBuf>>,
    /// v1: every container gets a memory cgroup (`--v1-memory always`), not only those
    /// with a memory limit.
    pub v1_memory_always: bool,
}

/// One container's cgroup directories.
#[derive(Clone, Debug, Default)]
pub struct CtrCgroup {
    /// The cgroup2 directory (pure v2 or hybrid).
    pub unified: Option<PathBuf>,
    /// v1 directories, with the controllers each one serves.
    pub v1: Vec<(Vec<Controller>, PathBuf)>,
    /// A warm init's directories that are not the container's (it has a cgroupsPath of its
    /// own): the init leaves them when it joins the container's, and they go with the
    /// container's (`remove`).
    pub leftover: Vec<PathBuf>,
    /// The v1 memory directory's `memory.oom_control`, or the v2 `memory.events`.
    pub fs: Fs,
}

/// The v1 controllers every container's cgroup gets whether or not a limit asks for them.
///
/// - On a hybrid host, none: the cgroup2 directory every container gets has what the
///   daemon reads without a limit (CPU time in `cpu.stat`, which cgroup2 keeps without any
///   controller; the tasks in `cgroup.threads`) and `cgroup.kill` for kill-all. Each v1
///   directory more cost a mkdir on the loop (about 30 us here, half of it creating the
///   controller's files), an rmdir and an offline in the kernel at delete, and a move for
///   the init (ADR 0008's addendum).
/// - On a v1-only host: cpuacct and pids for stats, and the freezer for kill-all.
/// - With `--v1-memory always`, memory too. A v1 memory cgroup is otherwise made only for
///   a memory limit: its removal walks every superblock's LRU lists while holding the
///   kernel's global cgroup_mutex, so with N containers held each delete costs O(N) and
///   stalls the next create's cgroup writes (docs/design/0008-cgroups.md).
fn always_v1(mode: Mode, memory: bool) -> Vec<Controller> {
    let mut v = Vec::new();
    if mode == Mode::V1 {
        v.extend([Controller::Cpuacct, Controller::Pids, Controller::Freezer]);
    }
    if memory {
        v.push(Controller::Memory);
    }
    v
}

impl Cgroups {
    pub fn new(layout: Layout, parent: &str, fs: Fs) -> Self {
        let unusable = match layout.mode {
            Mode::None => Some("no cgroup filesystem is mounted".to_string()),
            _ => None,
        };
        Self {
            layout,
            parent: parent.to_string(),
            fs,
            unusable,
            made: Default::default(),
            v1_memory_always: false,
        }
    }

    pub fn disabled(reason: &str) -> Self {
        Self {
            layout: Layout {
                mode: Mode::None,
                unified: None,
                v2_controllers: Vec::new(),
                v1: Default::default(),
                favordynmods: false,
            },
            parent: String::new(),
            fs: Fs::default(),
            unusable: Some(reason.to_string()),
            made: Default::default(),
            v1_memory_always: false,
        }
    }

    pub fn usable(&self) -> bool {
        self.unusable.is_none()
    }

    /// Where `path` lives in hierarchy `h`: an absolute path from the hierarchy's root;
    /// otherwise under the parent (itself absolute from the root, or relative to the
    /// daemon's own cgroup).
    fn base(&self, h: &layout::Hierarchy, path: &str) -> PathBuf {
        if path.starts_with('/') {
            h.mount.join(path.trim_start_matches('/'))
        } else if self.parent.starts_with('/') {
            h.mount.join(self.parent.trim_start_matches('/'))
        } else {
            h.own.join(&self.parent)
        }
    }

    /// The directory mkdir -p starts from for `dir`: the daemon's own cgroup when `dir` is
    /// below it, else the hierarchy's root.
    fn root_for<'h>(h: &'h layout::Hierarchy, dir: &Path) -> &'h Path {
        if dir.starts_with(&h.own) {
            &h.own
        } else {
            &h.mount
        }
    }

    /// The container's directory in hierarchy `h`: `cgroups_path` from the spec (relative to
    /// the parent, or absolute), else the parent plus the container id.
    fn dir_in(&self, h: &layout::Hierarchy, id: &str, cgroups_path: Option<&str>) -> PathBuf {
        match cgroups_path {
            Some(p) if p.starts_with('/') => self.base(h, p),
            Some(p) => self.base(h, "").join(p),
            None => self.base(h, "").join(id),
        }
    }

    /// The directory containers' cgroups are made in, in each hierarchy.
    pub fn container_parents(&self) -> Vec<String> {
        if !self.usable() {
            return Vec::new();
        }
        let mut hs: Vec<&layout::Hierarchy> = self.layout.v1_hierarchies();
        hs.extend(self.layout.unified.as_ref());
        hs.iter()
            .map(|h| self.base(h, "").display().to_string())
            .collect()
    }

    /// Removes every directory this daemon made above its containers' cgroups (the
    /// parents, and the intermediate levels of cgroupsPath), deepest first, if nothing else
    /// lives in them (daemon shutdown). Directories that existed before are left alone.
    pub fn remove_parents(&self) {
        let mut made: Vec<PathBuf> = std::mem::take(&mut *self.made.borrow_mut())
            .into_iter()
            .collect();
        made.sort_by_key(|p| std::cmp::Reverse(p.components().count()));
        for dir in made {
            let _ = self.fs.rmdir(&dir);
        }
    }

    /// After a container's cgroup is gone: removes the intermediate levels of its
    /// cgroupsPath that this daemon made and that nothing else uses now.
    pub fn prune(&self, dirs: &[PathBuf]) {
        let bases = self.container_parents();
        let mut made = self.made.borrow_mut();
        for dir in dirs {
            let mut up = dir.parent();
            while let Some(p) = up {
                let is_parent = bases.iter().any(|b| Path::new(b).starts_with(p));
                if is_parent || !made.contains(p) || self.fs.rmdir(p).is_err() {
                    break;
                }
                made.remove(p);
                up = p.parent();
            }
        }
    }

    /// Which version serves `c` for containers here.
    pub fn version_of(&self, c: Controller) -> Option<Version> {
        if self.layout.v1.contains_key(&c) {
            Some(Version::V1)
        } else if self.layout.unified.is_some() && self.layout.v2_controllers.contains(&c) {
            Some(Version::V2)
        } else {
            None
        }
    }

    /// Whether an optional interface file exists on this host, judged in the daemon's own
    /// cgroup of the hierarchy that serves `c` (v1 children have the same files; in v2 a
    /// controller's files show once it is enabled).
    fn has_file(&self, c: Controller, file: &str) -> bool {
        let dir = match self.version_of(c) {
            Some(Version::V1) => self.layout.v1.get(&c).map(|h| h.own.clone()),
            Some(Version::V2) => self.layout.unified.as_ref().map(|h| h.own.clone()),
            None => None,
        };
        let Some(dir) = dir else { return false };
        if dir.join(file).exists() {
            return true;
        }
        // v2: the controller may not be enabled above the daemon's cgroup yet; its root
        // shows every file the kernel has.
        let root = self.layout.unified.as_ref().map(|h| h.mount.join(file));
        self.version_of(c) == Some(Version::V2) && root.is_some_and(|r| r.exists())
    }

    /// Plans the writes for `res` without touching anything: the refusal, if any, names
    /// the field (create calls this before a process exists).
    pub fn plan(&self, res: Option<&LinuxResources>) -> Result<Vec<resources::Write>, CgroupError> {
        let Some(res) = res else {
            return Ok(Vec::new());
        };
        if !self.usable() {
            if resources::controllers_needed(res).is_empty() {
                return Ok(Vec::new());
            }
            let why = self.unusable.as_deref().unwrap_or("");
            return Err(CgroupError::Refused(format!(
                "linux.resources: this daemon runs containers without cgroups ({why}), so no limit can be enforced"
            )));
        }
        let version = |c| self.version_of(c);
        let has_file = |c, f: &str| self.has_file(c, f);
        let host = resources::Host {
            version: &version,
            has_file: &has_file,
            unified: self.layout.unified.is_some(),
        };
        resources::plan(res, &host).map_err(CgroupError::Refused)
    }

    /// Checks a spec's `linux.cgroupsPath`; the validator already refused "..", NUL and
    /// empty components.
    pub fn check_path(&self, id: &str, cgroups_path: Option<&str>) -> Result<(), CgroupError> {
        let Some(h) = self
            .layout
            .unified
            .as_ref()
            .or(self.layout.v1.values().next())
        else {
            return Ok(());
        };
        let dir = self.dir_in(h, id, cgroups_path);
        if dir.exists() {
            return Err(CgroupError::Refused(format!(
                "linux.cgroupsPath: {} already exists (a container's cgroup must be its own)",
                dir.display()
            )));
        }
        Ok(())
    }

    /// The container's directories, computed and not yet made: which hierarchies it joins
    /// (every v1 hierarchy serving a controller it needs, and the cgroup2 one) and where.
    pub fn planned(
        &self,
        id: &str,
        cgroups_path: Option<&str>,
        writes: &[resources::Write],
    ) -> CtrCgroup {
        let mut cg = CtrCgroup {
            fs: self.fs,
            ..CtrCgroup::default()
        };
        if !self.usable() {
            return cg;
        }
        let mut v1_needed: BTreeSet<Controller> =
            always_v1(self.layout.mode, self.v1_memory_always)
                .into_iter()
                .collect();
        for w in writes.iter().filter(|w| w.version == Version::V1) {
            v1_needed.insert(w.controller);
        }
        for h in self.layout.v1_hierarchies() {
            if h.controllers.iter().any(|c| v1_needed.contains(c)) {
                cg.v1
                    .push((h.controllers.clone(), self.dir_in(h, id, cgroups_path)));
            }
        }
        if let Some(h) = &self.layout.unified {
            cg.unified = Some(self.dir_in(h, id, cgroups_path));
        }
        cg
    }

    /// Makes the container's directories and writes `writes` into them. On failure
    /// everything made so far is removed again.
    pub fn create(
        &self,
        id: &str,
        cgroups_path: Option<&str>,
        writes: &[resources::Write],
    ) -> Result<CtrCgroup, CgroupError> {
        self.make(&self.planned(id, cgroups_path, writes), writes, None)
            .map_err(|b| b.0)
    }

    /// Makes the directories of `planned` (from `planned`) and writes `writes` into them.
    /// Those that `warm` (a warm init's, made ahead under the container's id and maybe
    /// joined: `warm.rs`) has already are used as they are. The result holds only what
    /// was made or came from `warm`, so a failure removes nothing of anyone else's; on
    /// failure it comes back with what could not be removed yet (a warm init's
    /// directories while it is in them), for the caller to remove once the init is reaped.
    pub fn make(
        &self,
        planned: &CtrCgroup,
        writes: &[resources::Write],
        warm: Option<CtrCgroup>,
    ) -> Result<CtrCgroup, Box<(CgroupError, CtrCgroup)>> {
        let mut cg = CtrCgroup {
            fs: self.fs,
            leftover: warm.as_ref().map(CtrCgroup::dirs).unwrap_or_default(),
            ..CtrCgroup::default()
        };
        match self.build(&mut cg, planned, writes, warm.as_ref()) {
            Ok(()) => Ok(cg),
            Err(e) => {
                let _ = cg.remove();
                Err(Box::new((e, cg)))
            }
        }
    }

    fn build(
        &self,
        cg: &mut CtrCgroup,
        planned: &CtrCgroup,
        writes: &[resources::Write],
        warm: Option<&CtrCgroup>,
    ) -> Result<(), CgroupError> {
        let v2_needed: BTreeSet<Controller> = writes
            .iter()
            .filter(|w| w.version == Version::V2)
            .map(|w| w.controller)
            .collect();
        let hierarchies = self.layout.v1_hierarchies();
        for (controllers, dir) in &planned.v1 {
            let Some(h) = hierarchies.iter().find(|h| &h.controllers == controllers) else {
                continue;
            };
            let cpuset = h.controllers.contains(&Controller::Cpuset);
            let ours = warm.is_some_and(|w| warm::has(w, Some(controllers), dir));
            self.make_dir(Self::root_for(h, dir), dir, cpuset, (&[], &[]), ours)?;
            cg.adopted(dir, ours);
            cg.v1.push((controllers.clone(), dir.clone()));
        }
        if let (Some(h), Some(dir)) = (&self.layout.unified, &planned.unified) {
            let enable: Vec<Controller> = v2_needed.iter().copied().collect();
            // Memory and pids serve stats and OOM reports even without limits: enabled
            // where the host lets us (not below a cgroup that has processes of its own).
            let wanted: Vec<Controller> = [Controller::Memory, Controller::Pids]
                .into_iter()
                .filter(|c| self.version_of(*c) == Some(Version::V2) && !v2_needed.contains(c))
                .collect();
            let ours = warm.is_some_and(|w| warm::has(w, None, dir));
            self.make_dir(Self::root_for(h, dir), dir, false, (&enable, &wanted), ours)?;
            cg.adopted(dir, ours);
            cg.unified = Some(dir.clone());
        }
        for w in writes {
            let dir = cg.dir_for(w.controller, w.version).ok_or_else(|| {
                CgroupError::Refused(format!(
                    "linux.resources: no {} directory for the {} controller",
                    if w.version == Version::V1 { "v1" } else { "v2" },
                    w.controller.v1_name()
                ))
            })?;
            self.fs.write(&dir.join(&w.file), &w.value)?;
        }
        Ok(())
    }

    /// mkdir -p from `base` down to `dir`, which must be new (a container's cgroup is its
    /// own; `ours`: it is, made for a warm init under the container's id, and only the
    /// levels above it are looked at). v1 cpuset directories start with no cpus and no mems, and no task may join
    /// them: copy the parent's. v2 controllers are enabled in `cgroup.subtree_control` of
    /// every level above `dir`: those in `enable.0` must be, those in `enable.1` where the
    /// host allows.
    fn make_dir(
        &self,
        base: &Path,
        dir: &Path,
        cpuset: bool,
        enable: (&[Controller], &[Controller]),
        ours: bool,
    ) -> Result<(), CgroupError> {
        let place = |here: &Path| if ours { Ok(true) } else { self.fs.mkdir(here) };
        // A warm init's directory has its cpuset already.
        let cpuset = cpuset && !ours;
        // The parents exist already but for a daemon's first container: one mkdir, not one
        // per level (each costs a path walk on every create). Only where no level needs a
        // controller enabled; ENOENT means a parent is missing, and the walk makes it.
        if enable.0.is_empty() && enable.1.is_empty() && dir != base {
            match place(dir) {
                Ok(true) => {
                    if cpuset {
                        if let Some(up) = dir.parent() {
                            self.inherit_cpuset(up, dir)?;
                        }
                    }
                    return Ok(());
                }
                Ok(false) => return Err(Self::not_its_own(dir)),
                Err(e) if e.err.kind() == io::ErrorKind::NotFound => {}
                Err(e) => return Err(e.into()),
            }
        }
        let rel = dir.strip_prefix(base).unwrap_or(dir);
        let mut at = base.to_path_buf();
        let mut chain = vec![at.clone()];
        for part in rel.components() {
            at.push(part);
            chain.push(at.clone());
        }
        for pair in chain.windows(2) {
            let (up, here) = (&pair[0], &pair[1]);
            if !enable.0.is_empty() {
                self.enable_v2(up, enable.0)?;
            }
            if !enable.1.is_empty() {
                let _ = self.enable_v2(up, enable.1);
            }
            let made = if here == dir {
                place(here)?
            } else {
                self.fs.mkdir(here)?
            };
            if made && here != dir {
                self.made.borrow_mut().insert(here.clone());
            }
            if here == dir && !made {
                return Err(Self::not_its_own(dir));
            }
            if cpuset && made {
                self.inherit_cpuset(up, here)?;
            }
        }
        Ok(())
    }

    fn not_its_own(dir: &Path) -> CgroupError {
        CgroupError::Refused(format!(
            "linux.cgroupsPath: {} already exists (a container's cgroup must be its own)",
            dir.display()
        ))
    }

    /// A new v1 cpuset directory gets its parent's cpus and mems (it starts with none).
    fn inherit_cpuset(&self, up: &Path, here: &Path) -> Result<(), CgroupError> {
        for f in ["cpuset.cpus", "cpuset.mems"] {
            let cur = self.fs.read(&here.join(f)).unwrap_or_default();
            if cur.trim().is_empty() {
                let from = self.fs.read(&up.join(f))?;
                self.fs.write(&here.join(f), from.trim())?;
            }
        }
        Ok(())
    }

    fn enable_v2(&self, dir: &Path, want: &[Controller]) -> Result<(), CgroupError> {
        let file = dir.join("cgroup.subtree_control");
        let cur = self.fs.read(&file).unwrap_or_default();
        let on: Vec<&str> = cur
            .split_whitespace()
            .map(|n| n.trim_start_matches('+'))
            .collect();
        let missing: Vec<&str> = want
            .iter()
            .filter_map(|c| c.v2_name())
            .filter(|n| !on.contains(n))
            .collect();
        if missing.is_empty() {
            return Ok(());
        }
        // The whole set: enabling again what is on is a no-op for cgroupfs, and a fake one
        // (a plain file) keeps the full list.
        let all: Vec<String> = on.iter().chain(&missing).map(|n| format!("+{n}")).collect();
        self.fs.write(&file, &all.join(" ")).map_err(|e| {
            let hint = if e.err.raw_os_error() == Some(libc::EBUSY) {
                " (that cgroup has processes of its own: start the daemon in a leaf cgroup, or give --cgroup-parent an absolute path)"
            } else {
                ""
            };
            CgroupError::Refused(format!("enable {}: {e}{hint}", missing.join(" ")))
        })
    }
}

impl CtrCgroup {
    pub fn is_none(&self) -> bool {
        self.unified.is_none() && self.v1.is_empty() && self.leftover.is_empty()
    }

    /// A warm init's directory that is the container's, no longer left over.
    fn adopted(&mut self, dir: &Path, ours: bool) {
        if ours {
            self.leftover.retain(|d| d != dir);
        }
    }

    /// The directory serving `c` in `version`.
    pub fn dir_for(&self, c: Controller, version: Version) -> Option<&Path> {
        match version {
            Version::V2 => self.unified.as_deref(),
            Version::V1 => self
                .v1
                .iter()
                .find(|(cs, _)| cs.contains(&c))
                .map(|(_, d)| d.as_path()),
        }
    }

    /// The v1 directory of `c`, else the unified one (for files both versions name alike).
    pub fn any_dir_for(&self, c: Controller) -> Option<&Path> {
        self.dir_for(c, Version::V1)
            .or_else(|| self.dir_for(c, Version::V2))
    }

    /// Every `cgroup.procs` the init joins.
    pub fn procs_files(&self) -> Vec<String> {
        self.v1
            .iter()
            .map(|(_, d)| d)
            .chain(self.unified.as_ref())
            .map(|d| warm::procs_file(d))
            .collect()
    }

    /// One directory to list members from (all of them hold every task of the container).
    pub fn member_dir(&self) -> Option<&Path> {
        self.unified
            .as_deref()
            .or_else(|| self.v1.first().map(|(_, d)| d.as_path()))
    }

    /// How many tasks (threads) are in the container's cgroups, for stats where no pids
    /// controller counts them: `cgroup.threads` of its cgroup2 directory and of every
    /// cgroup below it (`subtree`), else `tasks` of its first v1 one and below.
    pub fn tasks(&self) -> Option<u64> {
        let dir = self.member_dir()?;
        let file = if self.unified.as_deref() == Some(dir) {
            "cgroup.threads"
        } else {
            "tasks"
        };
        let mut n = 0;
        for (i, d) in self.subtree().iter().enumerate() {
            match self.fs.read(&d.join(file)) {
                Ok(list) => n += list.lines().filter(|l| !l.trim().is_empty()).count() as u64,
                // The container's own must be readable; one below may be gone meanwhile.
                Err(_) if i == 0 => return None,
                Err(_) => {}
            }
        }
        Some(n)
    }

    /// The pids in the container's cgroups: its own and every one below it (a container
    /// with a writable cgroupfs may make its own, as runc's `kill --all` finds too).
    pub fn pids(&self) -> Vec<i32> {
        self.subtree()
            .iter()
            .flat_map(|d| {
                let list = self.fs.read(&d.join("cgroup.procs")).unwrap_or_default();
                let pids: Vec<i32> = list.lines().filter_map(|l| l.trim().parse().ok()).collect();
                pids
            })
            .collect()
    }

    /// The container's member directory (`member_dir`) and every cgroup below it.
    fn subtree(&self) -> Vec<PathBuf> {
        self.member_dir().map(subtree_of).unwrap_or_default()
    }

    /// Makes every cgroup below the container's own (made by the container, through a
    /// writable cgroupfs) a directory to remove: an rmdir of a cgroup with children is
    /// EBUSY, so each removal round takes away the deepest ones left (`removal_dirs` run
    /// in parallel; the parents' EBUSY retries them). At most `MAX_SUBTREE` in all. Only
    /// the container's own directories are walked: those already adopted are below them.
    pub fn adopt_subtrees(&mut self) {
        for dir in self.dirs() {
            for below in subtree_of(&dir).into_iter().skip(1) {
                if self.leftover.len() >= MAX_SUBTREE {
                    return;
                }
                if !self.leftover.contains(&below) {
                    self.leftover.push(below);
                }
            }
        }
    }

    /// Every directory of the container.
    pub fn dirs(&self) -> Vec<PathBuf> {
        self.v1
            .iter()
            .map(|(_, d)| d.clone())
            .chain(self.unified.clone())
            .collect()
    }

    /// Every directory still to remove at delete: the warm init's leftovers, the v1
    /// directories and the unified one. Each is independent of the others (separate
    /// hierarchies, or siblings), so their rmdirs may run in parallel.
    pub fn removal_dirs(&self) -> Vec<PathBuf> {
        self.leftover.iter().cloned().chain(self.dirs()).collect()
    }

    /// rmdir of every directory, synchronously: for the cold paths (a failed create, a
    /// given-up init's cgroup once it is reaped). The first failure
    /// (EBUSY: tasks remain) is returned and the directories not yet removed stay listed,
    /// so the call can be repeated. A delete removes them through the ring instead
    /// (`supervisor::stop::remove_cgroup`): rmdir waits for the kernel's cgroup_mutex,
    /// which a task joining a cgroup elsewhere holds through an RCU grace period.
    pub fn remove(&mut self) -> Result<(), FsError> {
        let mut first = None;
        for d in self.removal_dirs() {
            if let Err(e) = self.rmdir_done(&d, rmdir_now(&d)) {
                first.get_or_insert(e);
            }
        }
        match first {
            Some(e) => Err(e),
            None => Ok(()),
        }
    }

    /// Records the outcome of one directory's rmdir (`err` is the errno, 0 on success; a
    /// directory already gone counts as removed): a removed directory is no longer listed,
    /// a failed one stays so that the removal can be repeated. On a fake cgroupfs (tests)
    /// a directory holds plain files, so ENOTEMPTY is retried as a recursive removal.
    pub fn rmdir_done(&mut self, dir: &Path, err: i32) -> Result<(), FsError> {
        let res = match err {
            0 | libc::ENOENT => Ok(()),
            libc::ENOTEMPTY if self.fs.fake => self.fs.rmdir(dir),
            e => Err(FsError {
                call: "rmdir",
                path: dir.to_path_buf(),
                err: io::Error::from_raw_os_error(e),
            }),
        };
        if res.is_ok() {
            self.leftover.retain(|d| d != dir);
            self.v1.retain(|(_, d)| d != dir);
            if self.unified.as_deref() == Some(dir) {
                self.unified = None;
            }
        }
        res
    }
}

/// rmdir of `dir` on this thread: 0, or the errno (for `CtrCgroup::rmdir_done`).
pub fn rmdir_now(dir: &Path) -> i32 {
    match std::fs::remove_dir(dir) {
        Ok(()) => 0,
        Err(e) => e.raw_os_error().unwrap_or(libc::EIO),
    }
}

/// `dir` and every cgroup below it, breadth first, at most `MAX_SUBTREE` of them (a
/// container cannot make the daemon walk without bound).
fn subtree_of(dir: &Path) -> Vec<PathBuf> {
    let mut all = vec![dir.to_path_buf()];
    let mut next = 0;
    while next < all.len() && all.len() < MAX_SUBTREE {
        let Ok(entries) = std::fs::read_dir(&all[next]) else {
            next += 1;
            continue;
        };
        next += 1;
        for e in entries.flatten() {
            if e.file_type().is_ok_and(|t| t.is_dir()) {
                all.push(e.path());
                if all.len() == MAX_SUBTREE {
                    break;
                }
            }
        }
    }
    all
}

#[cfg(test)]
mod tests;
