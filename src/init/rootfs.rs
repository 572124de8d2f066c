//! The container's root filesystem, built inside its new mount namespace.
//!
//! Order (runc's, checked against the kernel rules it follows):
//! 1. "/" becomes rslave (or the spec's rootfsPropagation): nothing mounted here reaches
//!    the host.
//! 2. The rootfs is bind-mounted onto itself (a bundle, recursively) or, for the embedded
//!    default, the host's "/" is bind-mounted *non-recursively* onto a staging directory, so
//!    none of the host's other mounts come along.
//! 3. Every spec mount is placed on a target resolved inside the root with
//!    openat2(RESOLVE_IN_ROOT): a symlink in the rootfs (`/proc -> /etc`) resolves inside the
//!    root, never to the host. The mount goes onto that fd (`/proc/self/fd/N`), not onto a
//!    path that could be swapped between the check and the mount. Missing mount points are
//!    created with mkdirat on the resolved parent; in host-root mode nothing is ever created
//!    on the host's filesystem.
//! 4. A tmpfs /dev gets the standard device nodes and links.
//! 5. hostname, sysctls and oom_score_adj (through the host's /proc, which still shows this
//!    process, its namespaces already in place).
//! 6. maskedPaths and readonlyPaths.
//! 7. pivot_root(".", ".") and a lazy unmount of the old root; then "/" read-only.
//!
//! `pivot_root` walks every thread on the host (`chroot_fs_refs`, two spinlocks each: about
//! 1.3 ms per container with 3000 containers held), so an init pays it before its job
//! (`stage`: a warm init long before its container, docs/design/0010): the namespace's
//! root becomes an empty tmpfs with the host's tree below it at /old, and the init chroots
//! into /old, where the job's host paths resolve as before. Step 2 then attaches a
//! detached copy of the root (`open_tree(OPEN_TREE_CLONE)`) on the tmpfs, where steps 3-6
//! build it, and step 7 detaches the host's tree and chroots into the new root (`enter`;
//! a sealed warm init did both before its job: `seal`, docs/design/0015).
//! A process that escapes that chroot (with CAP_SYS_CHROOT) reaches only the namespace's
//! root: the tmpfs, which holds nothing but the two mount points. The host is not
//! reachable from it, as after a pivot_root.
//!
//! A mount namespace dies with its last process, so deleting a container leaves no mount
//! behind on the host.

use std::io;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};

use rustix::fs::{FileType, Mode, OFlags, ResolveFlags};
use rustix::io::Errno;
use rustix::mount::{
    MountFlags, MountPropagationFlags, MoveMountFlags, OpenTreeFlags, UnmountFlags,
};

use crate::runtime::spec::plan::{ContainerPlan, MountPlan};

#[derive(Debug, thiserror::Error)]
pub enum RootfsError {
    #[error("{call} {path}: {err}")]
    Sys {
        call: &'static str,
        path: String,
        err: io::Error,
    },
    #[error("mount point {0} does not exist in the host's root, and ringmon does not create directories on the host")]
    NoHostMountPoint(String),
    #[error("this warm init detached the host's tree before its job (sealed), and the job needs it: {0}")]
    Sealed(&'static str),
}

fn sys(call: &'static str, path: impl Into<String>) -> impl FnOnce(Errno) -> RootfsError {
    let path = path.into();
    move |e| RootfsError::Sys {
        call,
        path,
        err: e.into(),
    }
}

fn proc_fd(fd: &OwnedFd) -> String {
    format!("/proc/self/fd/{}", fd.as_raw_fd())
}

/// Steps 1-6 up to the pivot, and `configure` after: the root and its mounts, masked and
/// read-only paths (what `same_root` compares). Returns the new root's directory fd.
///
/// After `stage`, the root is built in place on the staging tmpfs (its `new`): a detached
/// copy of the host's "/" (not recursive) or of the bundle's rootfs (recursive) is attached
/// there, and given the spec's rootfsPropagation; `enter` then needs no move.
pub fn build(plan: &ContainerPlan, staged: Option<&Staged>) -> Result<OwnedFd, RootfsError> {
    let propagation = MountPropagationFlags::from_bits_retain(plan.root_propagation);
    rustix::mount::mount_change("/", propagation).map_err(sys("mount --make-rslave", "/"))?;
    let (root_path, recursive) = match &plan.host_root_at {
        Some(staging) => (staging.clone(), false),
        None => (plan.rootfs.clone(), true),
    };
    let root = match staged {
        Some(st) => {
            let source = if recursive { root_path.as_str() } else { "/" };
            attach_copy(source, recursive, st)?
        }
        None => {
            if recursive {
                rustix::mount::mount_bind_recursive(root_path.as_str(), root_path.as_str())
                    .map_err(sys("mount --rbind", root_path.clone()))?;
            } else {
                rustix::mount::mount_bind("/", root_path.as_str())
                    .map_err(sys("mount --bind / onto", root_path.clone()))?;
            }
            rustix::fs::open(
                root_path.as_str(),
                OFlags::PATH | OFlags::DIRECTORY | OFlags::CLOEXEC,
                Mode::empty(),
            )
            .map_err(sys("openat", root_path.clone()))?
        }
    };
    if staged.is_some() {
        rustix::mount::mount_change(proc_fd(&root).as_str(), propagation)
            .map_err(sys("mount --make-rslave", "the new root"))?;
    }
    let host_dev = plan
        .host_root_at
        .is_some()
        .then(|| rustix::fs::fstat(&root).map(|s| s.st_dev))
        .transpose()
        .map_err(sys("fstat", root_path.clone()))?;
    let ctx = Root {
        fd: &root,
        host_dev,
    };
    for m in &plan.mounts {
        ctx.mount(m)?;
    }
    for p in &plan.masked_paths {
        ctx.mask(p)?;
    }
    for p in &plan.readonly_paths {
        ctx.make_readonly(p)?;
    }
    // `mount_on_dir` left the cwd in the last mount's target.
    rustix::process::chdir("/").map_err(sys("chdir", "/"))?;
    Ok(root)
}

/// What the plan sets besides the root: hostname, domain name, sysctls, oom_score_adj.
pub fn configure(plan: &ContainerPlan) -> Result<(), RootfsError> {
    if let Some(h) = &plan.hostname {
        rustix::system::sethostname(h.as_bytes()).map_err(sys("sethostname", h.clone()))?;
    }
    if let Some(d) = &plan.domainname {
        rustix::system::setdomainname(d.as_bytes()).map_err(sys("setdomainname", d.clone()))?;
    }
    for (key, value) in &plan.sysctl {
        let path = format!("/proc/sys/{}", key.replace('.', "/"));
        std::fs::write(&path, value).map_err(|err| RootfsError::Sys {
            call: "write",
            path,
            err,
        })?;
    }
    if let Some(adj) = plan.oom_score_adj {
        std::fs::write("/proc/self/oom_score_adj", adj.to_string()).map_err(|err| {
            RootfsError::Sys {
                call: "write",
                path: "/proc/self/oom_score_adj".into(),
                err,
            }
        })?;
    }
    Ok(())
}

/// The mount namespace staged before the job (`stage`): its root, an empty tmpfs.
pub struct Staged {
    tmpfs: OwnedFd,
}

/// Before the job: "/" becomes rslave (the job's rootfsPropagation is applied later, as
/// before), a small tmpfs is mounted on `dir` (an empty directory of the daemon's) and
/// pivoted into, the host's tree going to its `old`, and the init chroots into `old`.
pub fn stage(dir: &str) -> Result<Staged, RootfsError> {
    rustix::mount::mount_change(
        "/",
        MountPropagationFlags::DOWNSTREAM | MountPropagationFlags::REC,
    )
    .map_err(sys("mount --make-rslave", "/"))?;
    rustix::mount::mount(
        "ringmon",
        dir,
        "tmpfs",
        MountFlags::NOSUID | MountFlags::NODEV | MountFlags::NOEXEC,
        c"mode=700,size=16k,nr_inodes=8",
    )
    .map_err(sys("mount tmpfs on", dir))?;
    let tmpfs = rustix::fs::open(
        dir,
        OFlags::PATH | OFlags::DIRECTORY | OFlags::CLOEXEC,
        Mode::empty(),
    )
    .map_err(sys("openat", dir))?;
    for d in ["old", "new"] {
        rustix::fs::mkdirat(&tmpfs, d, Mode::from_raw_mode(0o700))
            .map_err(sys("mkdirat", format!("{dir}/{d} (staging tmpfs)")))?;
    }
    rustix::process::fchdir(&tmpfs).map_err(sys("fchdir", dir))?;
    rustix::process::pivot_root(".", "old")
        .map_err(sys("pivot_root", format!("{dir} (staging tmpfs)")))?;
    rustix::process::chdir("old").map_err(sys("chdir", "/old"))?;
    rustix::process::chroot(".").map_err(sys("chroot", "/old"))?;
    rustix::process::chdir("/").map_err(sys("chdir", "/"))?;
    Ok(Staged { tmpfs })
}

/// A detached copy of `source` (its mounts below too when `recursive`), attached at the
/// staging tmpfs's `new`; returns its root. Detached, it moves whatever the propagation of
/// its source's parent (a mount under a shared parent could not be moved).
fn attach_copy(source: &str, recursive: bool, st: &Staged) -> Result<OwnedFd, RootfsError> {
    let mut flags = OpenTreeFlags::OPEN_TREE_CLONE | OpenTreeFlags::OPEN_TREE_CLOEXEC;
    if recursive {
        flags |= OpenTreeFlags::AT_RECURSIVE;
    }
    let tree = rustix::mount::open_tree(rustix::fs::CWD, source, flags)
        .map_err(sys("open_tree OPEN_TREE_CLONE", source))?;
    rustix::mount::move_mount(
        &tree,
        "",
        &st.tmpfs,
        "new",
        MoveMountFlags::MOVE_MOUNT_F_EMPTY_PATH,
    )
    .map_err(sys(
        "move_mount",
        format!("{source} onto the staging tmpfs"),
    ))?;
    drop(tree);
    rustix::fs::openat(
        &st.tmpfs,
        "new",
        OFlags::PATH | OFlags::DIRECTORY | OFlags::CLOEXEC,
        Mode::empty(),
    )
    .map_err(sys("openat", "new root (staging tmpfs)"))
}

impl Staged {
    /// Undoes a `build` on the staging tmpfs (a warm init's root built ahead, not the
    /// job's): the tree at `new` is detached, with every mount below it.
    pub fn discard_root(&self) -> Result<(), RootfsError> {
        self.detach("new", "the root built ahead (/new of the staging tmpfs)")
    }

    /// Detaches the tree at `dir` of the staging tmpfs, made private first: with a shared
    /// rootfsPropagation its mounts may be peers of the root's, and its unmount would
    /// propagate to them (the root would lose /dev).
    fn detach(&self, dir: &str, what: &str) -> Result<(), RootfsError> {
        let path = format!("/proc/self/fd/{}/{dir}", self.tmpfs.as_raw_fd());
        rustix::mount::mount_change(
            path.as_str(),
            MountPropagationFlags::PRIVATE | MountPropagationFlags::REC,
        )
        .map_err(sys("mount --make-rprivate", what))?;
        rustix::mount::unmount(path.as_str(), UnmountFlags::DETACH).map_err(sys("umount2", what))
    }
}

/// Before the job (`ToInit::Seal`), for a warm init whose root is built: `enter`'s
/// detach and chroot, ahead. The detach waits for an expedited RCU grace period (20-60 us
/// here, more in its tail), which no create then waits for. From here on no host path
/// resolves: the daemon gives this init only a job that needs none
/// (`ContainerPlan::needs_host_tree`).
pub fn seal(root: &OwnedFd, staged: &Staged) -> Result<(), RootfsError> {
    // The host's tree, through the tmpfs (outside this chroot): nothing of it stays
    // reachable.
    staged.detach("old", "the host's tree (/old of the staging tmpfs)")?;
    rustix::process::fchdir(root).map_err(sys("fchdir", "new root"))?;
    rustix::process::chroot(".").map_err(sys("chroot", "new root"))?;
    rustix::process::chdir("/").map_err(sys("chdir", "/"))
}

/// Step 7 after `stage`: the root was built on the staging tmpfs; the host's tree is
/// detached and the init chroots into the root (unless `seal` did both before the job);
/// then "/" read-only if asked.
pub fn enter(
    root: OwnedFd,
    staged: Staged,
    sealed: bool,
    readonly: bool,
) -> Result<(), RootfsError> {
    if !sealed {
        seal(&root, &staged)?;
    }
    drop(staged);
    if readonly {
        set_readonly(&root, "/")?;
    }
    Ok(())
}

/// Step 7: pivot_root into `root`, drop the old root, then make "/" read-only if asked.
pub fn pivot(root: OwnedFd, readonly: bool) -> Result<(), RootfsError> {
    rustix::process::fchdir(&root).map_err(sys("fchdir", "new root"))?;
    rustix::process::pivot_root(".", ".").map_err(sys("pivot_root", "."))?;
    rustix::mount::unmount(".", UnmountFlags::DETACH).map_err(sys("umount2", "old root"))?;
    rustix::process::chdir("/").map_err(sys("chdir", "/"))?;
    if readonly {
        set_readonly(&root, "/")?;
    }
    Ok(())
}

/// Makes the mount `tree` names (the root of a mount: an `open_tree` copy, or a root's fd)
/// read-only, keeping its other flags (nosuid, nodev, noexec, atime).
fn set_readonly(tree: &OwnedFd, what: &str) -> Result<(), RootfsError> {
    crate::sys::mount::set_readonly(tree.as_fd()).map_err(|err| RootfsError::Sys {
        call: "mount_setattr MOUNT_ATTR_RDONLY",
        path: what.to_string(),
        err,
    })
}

struct Root<'a> {
    fd: &'a OwnedFd,
    /// Host-root mode: the host filesystem's device, on which nothing may be created.
    host_dev: Option<u64>,
}

impl Root<'_> {
    /// Opens `path` (an absolute path inside the container) as an O_PATH fd, resolved in the
    /// root: `..` and symlinks cannot leave it, and /proc magic links are refused.
    fn resolve(&self, path: &str) -> Result<OwnedFd, Errno> {
        rustix::fs::openat2(
            self.fd,
            path,
            OFlags::PATH | OFlags::CLOEXEC,
            Mode::empty(),
            ResolveFlags::IN_ROOT | ResolveFlags::NO_MAGICLINKS,
        )
    }

    /// Resolves `path`, creating missing components (directories, or a file for the last one
    /// when `dir` is false).
    fn ensure(&self, path: &str, dir: bool) -> Result<OwnedFd, RootfsError> {
        match self.resolve(path) {
            Ok(fd) => return Ok(fd),
            Err(Errno::NOENT) => {}
            Err(e) => return Err(sys("openat2", path)(e)),
        }
        let comps: Vec<&str> = path
            .split('/')
            .filter(|c| !c.is_empty() && *c != ".")
            .collect();
        let mut cur = self.resolve("/").map_err(sys("openat2", "/"))?;
        let mut prefix = String::new();
        for (i, c) in comps.iter().enumerate() {
            prefix.push('/');
            prefix.push_str(c);
            match self.resolve(&prefix) {
                Ok(fd) => {
                    cur = fd;
                    continue;
                }
                Err(Errno::NOENT) => {}
                Err(e) => return Err(sys("openat2", prefix.clone())(e)),
            }
            if let Some(dev) = self.host_dev {
                let st = rustix::fs::fstat(&cur).map_err(sys("fstat", prefix.clone()))?;
                if st.st_dev == dev {
                    return Err(RootfsError::NoHostMountPoint(path.to_string()));
                }
            }
            let last = i + 1 == comps.len();
            let made = if last && !dir {
                rustix::fs::openat(
                    &cur,
                    *c,
                    OFlags::CREATE
                        | OFlags::EXCL
                        | OFlags::NOFOLLOW
                        | OFlags::RDONLY
                        | OFlags::CLOEXEC,
                    Mode::from_raw_mode(0o644),
                )
                .map(drop)
            } else {
                rustix::fs::mkdirat(&cur, *c, Mode::from_raw_mode(0o755))
            };
            match made {
                Ok(()) | Err(Errno::EXIST) => {}
                Err(e) => {
                    return Err(sys(
                        if last && !dir {
                            "openat O_CREAT"
                        } else {
                            "mkdirat"
                        },
                        prefix.clone(),
                    )(e))
                }
            }
            cur = self
                .resolve(&prefix)
                .map_err(sys("openat2", prefix.clone()))?;
        }
        Ok(cur)
    }

    fn mount(&self, m: &MountPlan) -> Result<(), RootfsError> {
        let dest = m.destination.as_str();
        if m.bind {
            let src_is_dir = rustix::fs::stat(m.source.as_str())
                .map(|s| FileType::from_raw_mode(s.st_mode).is_dir())
                .map_err(sys("stat", m.source.clone()))?;
            let target = self.ensure(dest, src_is_dir)?;
            let t = proc_fd(&target);
            let res = if m.recursive {
                rustix::mount::mount_bind_recursive(m.source.as_str(), t.as_str())
            } else {
                rustix::mount::mount_bind(m.source.as_str(), t.as_str())
            };
            res.map_err(sys("mount --bind", format!("{} onto {dest}", m.source)))?;
        } else {
            let target = self.ensure(dest, true)?;
            let data = std::ffi::CString::new(m.data.as_str())
                .map_err(|_| sys("mount", dest)(Errno::INVAL))?;
            mount_on_dir(&target, |dot| {
                rustix::mount::mount(
                    m.source.as_str(),
                    dot,
                    m.fstype.as_str(),
                    MountFlags::from_bits_retain(m.flags),
                    data.as_c_str(),
                )
            })
            .map_err(sys(
                "mount",
                format!("{} ({}) on {dest}", m.source, m.fstype),
            ))?;
        }
        // The target fd still names the directory *under* the new mount: reopen to reach it.
        let top = self.resolve(dest).map_err(sys("openat2", dest))?;
        if m.bind && m.flags != 0 {
            rustix::mount::mount_remount(
                proc_fd(&top).as_str(),
                MountFlags::BIND | MountFlags::from_bits_retain(m.flags),
                "",
            )
            .map_err(sys("mount -o remount,bind", dest))?;
        }
        if m.propagation != 0 {
            rustix::mount::mount_change(
                proc_fd(&top).as_str(),
                MountPropagationFlags::from_bits_retain(m.propagation),
            )
            .map_err(sys("mount --make-*", dest))?;
        }
        if dest == "/dev" && m.fstype == "tmpfs" {
            // An O_PATH directory fd serves as the dirfd of mknodat and symlinkat.
            make_devices(top.as_fd())?;
        }
        Ok(())
    }

    /// Hides `path`: /dev/null over a file, an empty read-only tmpfs over a directory.
    fn mask(&self, path: &str) -> Result<(), RootfsError> {
        let target = match self.resolve(path) {
            Ok(fd) => fd,
            Err(Errno::NOENT) => return Ok(()),
            Err(e) => return Err(sys("openat2", path)(e)),
        };
        let st = rustix::fs::fstat(&target).map_err(sys("fstat", path))?;
        if FileType::from_raw_mode(st.st_mode).is_dir() {
            mount_on_dir(&target, |dot| {
                rustix::mount::mount("tmpfs", dot, "tmpfs", MountFlags::RDONLY, None)
            })
            .map_err(sys("mount tmpfs (masked path)", path))
        } else {
            let null = rustix::mount::open_tree(
                rustix::fs::CWD,
                "/dev/null",
                OpenTreeFlags::OPEN_TREE_CLONE | OpenTreeFlags::OPEN_TREE_CLOEXEC,
            )
            .map_err(sys("open_tree OPEN_TREE_CLONE", "/dev/null (masked path)"))?;
            attach_over(&null, &target).map_err(sys("move_mount /dev/null (masked path)", path))
        }
    }

    /// A copy of the mount tree at `path` attached over it, its top mount read-only (runc's
    /// readonlyPaths: a recursive bind onto itself, then a read-only remount of the top).
    fn make_readonly(&self, path: &str) -> Result<(), RootfsError> {
        let target = match self.resolve(path) {
            Ok(fd) => fd,
            Err(Errno::NOENT) => return Ok(()),
            Err(e) => return Err(sys("openat2", path)(e)),
        };
        let tree = rustix::mount::open_tree(
            &target,
            "",
            OpenTreeFlags::OPEN_TREE_CLONE
                | OpenTreeFlags::OPEN_TREE_CLOEXEC
                | OpenTreeFlags::AT_RECURSIVE
                | OpenTreeFlags::AT_EMPTY_PATH,
        )
        .map_err(sys("open_tree OPEN_TREE_CLONE (readonly path)", path))?;
        set_readonly(&tree, path)?;
        attach_over(&tree, &target).map_err(sys("move_mount (readonly path)", path))
    }
}

/// mount(2) onto the directory `target` (an O_PATH fd) through the cwd: `mount` is called
/// with ".", after an fchdir into it. mount(2) takes only paths, and the other way to name
/// an fd, `/proc/self/fd/N`, is a procfs lookup that is cold in every new init (a new
/// process's `/proc/PID` dentries), about half of each mount's cost here. The cwd is left
/// in the target: `build` goes back to "/" when it is done, and nothing in between uses
/// a relative path.
fn mount_on_dir(
    target: &OwnedFd,
    mount: impl FnOnce(&str) -> Result<(), Errno>,
) -> Result<(), Errno> {
    rustix::process::fchdir(target)?;
    mount(".")
}

/// Attaches the detached mount tree `tree` (an `open_tree(OPEN_TREE_CLONE)` fd) over
/// `target`, an O_PATH fd of a file or directory: no path is looked up.
fn attach_over(tree: &OwnedFd, target: &OwnedFd) -> Result<(), Errno> {
    rustix::mount::move_mount(
        tree,
        "",
        target,
        "",
        MoveMountFlags::MOVE_MOUNT_F_EMPTY_PATH | MoveMountFlags::MOVE_MOUNT_T_EMPTY_PATH,
    )
}

/// The device nodes and links of a container's /dev (runc's list).
fn make_devices(dev: BorrowedFd<'_>) -> Result<(), RootfsError> {
    const NODES: [(&str, u32, u32); 6] = [
        ("null", 1, 3),
        ("zero", 1, 5),
        ("full", 1, 7),
        ("random", 1, 8),
        ("urandom", 1, 9),
        ("tty", 5, 0),
    ];
    for (name, major, minor) in NODES {
        rustix::fs::mknodat(
            dev,
            name,
            FileType::CharacterDevice,
            Mode::from_raw_mode(0o666),
            rustix::fs::makedev(major, minor),
        )
        .map_err(sys("mknodat", format!("/dev/{name}")))?;
        rustix::fs::chmodat(
            dev,
            name,
            Mode::from_raw_mode(0o666),
            rustix::fs::AtFlags::empty(),
        )
        .map_err(sys("fchmodat", format!("/dev/{name}")))?;
    }
    const LINKS: [(&str, &str); 5] = [
        ("/proc/self/fd", "fd"),
        ("/proc/self/fd/0", "stdin"),
        ("/proc/self/fd/1", "stdout"),
        ("/proc/self/fd/2", "stderr"),
        ("pts/ptmx", "ptmx"),
    ];
    for (to, name) in LINKS {
        rustix::fs::symlinkat(to, dev, name).map_err(sys("symlinkat", format!("/dev/{name}")))?;
    }
    Ok(())
}
