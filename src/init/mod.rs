//! The container init: what runs in the child after it re-execs the sealed binary.
//!
//! It starts in the namespaces the clone made (and, for a joined pid namespace, the one the
//! daemon entered around the clone) and builds the container before it execs the user's
//! command. Steps, in order, each with its own error: verify the seals on our own binary,
//! adopt the handshake socket, receive the job, join the container's cgroups, join namespaces
//! by path, build the root
//! filesystem and pivot into it (`rootfs`), set up stdio (tty: the pty comes from the
//! container's own devpts instance and the master goes to the daemon *before* anything can
//! fail on the command), rlimits, compile seccomp, switch user and capabilities
//! (`identity`), chdir, report Ready, wait for Start, resolve the executable, reset signals,
//! mark every fd above 2 close-on-exec, load seccomp, exec. A failed exec is reported to the
//! daemon *and* written to the terminal or stderr, then the init exits 127 (not found) or
//! 126 (not executable). The init never talks to the API and never touches anything of the
//! daemon's but the handshake socket.

mod identity;
mod namespaces;
mod rootfs;
pub mod seccomp;
mod stdio;

use std::ffi::CString;
use std::io::{self, Write};
use std::os::fd::{AsFd, OwnedFd, RawFd};
use std::path::{Path, PathBuf};

use crate::runtime::handshake::{self, BeforeStart, FromInit, HandshakeError, Job};
use crate::runtime::sealed_exe;
use crate::runtime::spec::plan::ContainerPlan;
use crate::sys::exec::{close_range_cloexec, execve, CStrArray};

#[derive(Debug, thiserror::Error)]
pub enum InitError {
    #[error("verify seals: {0}")]
    Seals(#[from] sealed_exe::SealError),
    #[error("adopt handshake fd {0}: {1}")]
    SyncFd(RawFd, io::Error),
    #[error(transparent)]
    Handshake(#[from] HandshakeError),
    #[error("set up stdio: {0}")]
    Stdio(io::Error),
    #[error("chdir {0}: {1}")]
    Chdir(String, io::Error),
    #[error("join namespace: {0}")]
    Namespace(#[from] namespaces::NsError),
    #[error("root filesystem: {0}")]
    Rootfs(#[from] rootfs::RootfsError),
    #[error("{0}")]
    Identity(#[from] identity::IdentityError),
    #[error("seccomp: {0}")]
    Seccomp(#[from] seccomp::SeccompError),
    #[error("join cgroup: {0}: {1}")]
    Cgroup(String, io::Error),
}

/// Runs the init; returns the exit code to use if it could not exec.
pub fn main(sync_fd: RawFd) -> i32 {
    // Step 1, before anything else: refuse to run from anything but the sealed memfd.
    if let Err(e) = sealed_exe::verify_self() {
        let _ = writeln!(io::stderr(), "ringmon init: {e}");
        return 125;
    }
    let sync = match crate::sys::exec::adopt_inherited_fd(sync_fd) {
        Ok(fd) => fd,
        Err(e) => {
            let _ = writeln!(
                io::stderr(),
                "ringmon init: {}",
                InitError::SyncFd(sync_fd, e)
            );
            return 125;
        }
    };
    // The daemon's ignored signals were inherited across execve (a zygote resets them
    // once for all its forks); its blocked mask is undone in `main_adopted`.
    crate::sys::signals::reset_dispositions();
    main_adopted(sync)
}

/// The init from its handshake socket on: after `main`'s checks and its reset of the
/// signal dispositions, or in a fork of the warm pool's zygote (`runtime::zygote`), which
/// made them once for all its forks (a fork inherits the dispositions).
pub fn main_adopted(sync: OwnedFd) -> i32 {
    // Nothing but stdio may cross into the user's process.
    let _ = rustix::io::fcntl_setfd(&sync, rustix::io::FdFlags::CLOEXEC);
    // The daemon's blocked mask (inherited across execve, and kept by the zygote) is
    // undone now, so that a signal sent to a created (not yet started) container acts at
    // once instead of waiting for the exec.
    let _ = crate::sys::signals::unblock_all();
    match run(&sync) {
        Ok(code) => code,
        Err((step, e)) => {
            let _ = handshake::send(
                sync.as_fd(),
                &FromInit::SetupFailed {
                    step: step.into(),
                    message: e.to_string(),
                },
                &[],
            );
            125
        }
    }
}

fn run(sync: &OwnedFd) -> Result<i32, (&'static str, InitError)> {
    // A session of its own, first: signals to the daemon's process group never reach the
    // container, and a tty job's slave can become its controlling terminal. A warm init
    // makes it while it waits.
    rustix::process::setsid().map_err(|e| {
        (
            "stdio",
            InitError::Stdio(io::Error::other(format!("setsid: {e}"))),
        )
    })?;
    // Before the job: the mount namespace's pivot (which walks every thread on the host)
    // happens now, while a warm init waits (rootfs.rs).
    let staged = match std::env::var("RINGMON_STAGE") {
        Ok(dir) => Some(rootfs::stage(&dir).map_err(|e| ("stage the mount namespace", e.into()))?),
        Err(_) => None,
    };
    // Mount points and device nodes get exactly the modes asked for; the spec's umask is
    // set once the container is built.
    rustix::process::umask(rustix::fs::Mode::empty());
    let Waited {
        job,
        fds,
        built,
        joined: joined_ahead,
        sealed,
    } = wait_for_job(sync, staged.as_ref())?;
    let plan = &job.container;
    if sealed {
        // The daemon sends a sealed init only a job that fits it; this guards its check.
        let why = match &built {
            Some((ahead, _)) => plan.needs_host_tree(ahead),
            None => Some("no root was built ahead"),
        };
        if let Some(why) = why {
            let e = rootfs::RootfsError::Sealed(why);
            return Err(("rootfs", e.into()));
        }
    }
    // First, so that everything the container does from here on is accounted and limited.
    // A warm init that joined its own cgroup (made under this container's id) is in those.
    let cgroup_joined_ahead = joined_ahead && !plan.cgroup_ahead.is_empty();
    let to_join = plan
        .cgroup_procs
        .iter()
        .filter(|f| !(joined_ahead && plan.cgroup_ahead.contains(f)));
    join_cgroups(to_join).map_err(|e| ("cgroup", e))?;
    if plan.unshare_cgroup_ns {
        crate::sys::process::unshare_cgroup_ns().map_err(|e| {
            (
                "cgroup",
                InitError::Cgroup("unshare CLONE_NEWCGROUP".into(), e),
            )
        })?;
    }
    namespaces::join(&plan.join).map_err(|e| ("namespaces", e.into()))?;
    // A root built ahead serves if the job's is the same and nothing joined or made since
    // (a mount namespace, a cgroup namespace for a cgroup mount) would change it.
    let fits = |ahead: &ContainerPlan| {
        ahead.same_root(plan) && plan.join.is_empty() && !plan.unshare_cgroup_ns
    };
    let (root, root_built_ahead) = match (built, staged.as_ref()) {
        (Some((ahead, root)), _) if fits(&ahead) => (root, true),
        (built, st) => {
            if let (Some(_), Some(st)) = (built, st) {
                st.discard_root().map_err(|e| ("rootfs", e.into()))?;
            }
            (
                rootfs::build(plan, st).map_err(|e| ("rootfs", e.into()))?,
                false,
            )
        }
    };
    rootfs::configure(plan).map_err(|e| ("rootfs", e.into()))?;
    match staged {
        Some(st) => rootfs::enter(root, st, sealed, plan.readonly_root),
        None => rootfs::pivot(root, plan.readonly_root),
    }
    .map_err(|e| ("pivot_root", e.into()))?;
    let master = stdio::setup(&job, fds).map_err(|e| ("stdio", InitError::Stdio(e)))?;
    identity::rlimits(plan).map_err(|e| ("rlimits", e.into()))?;
    let filter = match &plan.seccomp {
        Some(s) => Some(seccomp::compile(s).map_err(|e| ("seccomp", e.into()))?),
        None => None,
    };
    // Without no_new_privs, loading a filter needs CAP_SYS_ADMIN: load it while the init
    // still has it (runc does the same); with no_new_privs it is loaded right before execve.
    if !plan.no_new_privileges {
        if let Some(f) = &filter {
            f.load().map_err(|e| ("seccomp", e.into()))?;
        }
    }
    identity::switch(plan).map_err(|e| ("user and capabilities", e.into()))?;
    // Setup that can fail is done before Ready, so create reports it.
    rustix::process::chdir(job.cwd.as_str())
        .map_err(|e| ("chdir", InitError::Chdir(job.cwd.clone(), e.into())))?;
    rustix::process::umask(rustix::fs::Mode::from_raw_mode(plan.umask.unwrap_or(0o022)));
    // The pty master goes to the daemon before anything about the command is looked at, so
    // the daemon holds the terminal when an exec error is written to it (crun#1524).
    let fds: Vec<_> = master.iter().map(|m| m.as_fd()).collect();
    let ready = FromInit::Ready {
        root_built_ahead,
        cgroup_joined_ahead,
    };
    handshake::send(sync.as_fd(), &ready, &fds).map_err(|e| ("send ready", e.into()))?;
    drop(master);
    handshake::expect_start(sync.as_fd()).map_err(|e| ("wait for start", e.into()))?;
    let late_filter = filter.filter(|_| plan.no_new_privileges);
    Ok(exec(sync, &job, late_filter.as_ref()))
}

/// What an init has when its job comes (`wait_for_job`).
struct Waited {
    job: Job,
    fds: Vec<OwnedFd>,
    /// The root built ahead, with its plan.
    built: Option<(ContainerPlan, OwnedFd)>,
    /// In all of its own cgroup (`ToInit::JoinCgroups`).
    joined: bool,
    /// The host's tree is detached and the init is in the root built ahead (`ToInit::Seal`).
    sealed: bool,
}

/// Waits for the job. A warm init may first get its own cgroup to join
/// (`ToInit::JoinCgroups`; whether it is in all of it comes back), a plan to build a root
/// from ahead of it (`ToInit::Prebuild`: that root comes back with its plan), and the
/// word to seal that root (`ToInit::Seal`), which it follows only with both done. A join
/// or build that fails is undone or forgotten (the job's own then reports what is wrong);
/// a seal that fails ends the init (the daemon finds it dead when it takes it; the same
/// detach would have failed its job).
fn wait_for_job(
    sync: &OwnedFd,
    staged: Option<&rootfs::Staged>,
) -> Result<Waited, (&'static str, InitError)> {
    let mut built: Option<(ContainerPlan, OwnedFd)> = None;
    let mut joined = false;
    let mut sealed = false;
    loop {
        let first = handshake::expect_job(sync.as_fd()).map_err(|e| ("receive job", e.into()))?;
        match first {
            BeforeStart::Job(job, fds) => {
                return Ok(Waited {
                    job: *job,
                    fds,
                    built,
                    joined,
                    sealed,
                })
            }
            BeforeStart::JoinCgroups(files) => {
                // A move that fails leaves the job's join to do it all (and report the
                // error).
                joined = join_cgroups(files.iter()).is_ok();
            }
            BeforeStart::Prebuild(plan) => {
                let Some(st) = staged else { continue };
                if built.is_some() {
                    continue;
                }
                match rootfs::build(&plan, Some(st)) {
                    Ok(root) => built = Some((*plan, root)),
                    // Nothing may be attached yet (the copy failed); whatever is, the
                    // job's root is attached over it and it dies with the namespace.
                    Err(_) => {
                        let _ = st.discard_root();
                    }
                }
            }
            BeforeStart::Seal => {
                let (Some(st), Some((_, root)), true, false) = (staged, &built, joined, sealed)
                else {
                    continue;
                };
                rootfs::seal(root, st).map_err(|e| ("seal the root built ahead", e.into()))?;
                sealed = true;
            }
        }
    }
}

/// Moves this process into each of the container's cgroups ("0" means the writer).
fn join_cgroups<'a>(procs: impl Iterator<Item = &'a String>) -> Result<(), InitError> {
    for file in procs {
        let res = std::fs::OpenOptions::new()
            .write(true)
            .open(file)
            .and_then(|mut f| f.write_all(b"0"));
        res.map_err(|e| InitError::Cgroup(format!("write {file}"), e))?;
    }
    Ok(())
}

/// Resolves and execs the command. Returns only on failure, with the exit code.
fn exec(sync: &OwnedFd, job: &Job, filter: Option<&seccomp::Filter>) -> i32 {
    let binary = job.args.first().cloned().unwrap_or_default();
    let path_env = job
        .env
        .iter()
        .find_map(|e| e.strip_prefix("PATH="))
        .unwrap_or(crate::runtime::spec::defaults::DEFAULT_PATH);
    let (e, message) = match resolve(&binary, path_env) {
        Ok(path) => {
            let e = prepare_and_exec(&path, job, filter);
            let m = format!("exec {binary:?}: {}", describe(&e));
            (e, m)
        }
        Err(e) if !binary.contains('/') && !binary.is_empty() => {
            let m = format!("exec {binary:?}: executable file not found in $PATH");
            (e, m)
        }
        Err(e) => {
            let m = format!("exec {binary:?}: {}", describe(&e));
            (e, m)
        }
    };
    let errno = e.raw_os_error().unwrap_or(libc::EINVAL);
    let exit_code = if errno == libc::ENOENT { 127 } else { 126 };
    // Both: the terminal/stderr for whoever is attached (and the log), and the daemon for
    // the API's structured error.
    let _ = writeln!(io::stderr(), "ringmon: {message}");
    let _ = handshake::send(
        sync.as_fd(),
        &FromInit::ExecFailed {
            binary,
            errno,
            message,
            exit_code,
        },
        &[],
    );
    exit_code
}

/// "no such file or directory" rather than "No such file or directory (os error 2)".
pub fn describe(e: &io::Error) -> String {
    match e.raw_os_error() {
        Some(errno) => {
            let s = io::Error::from_raw_os_error(errno).to_string();
            let s = s.split(" (os error").next().unwrap_or(&s).to_string();
            s.to_lowercase()
        }
        None => e.to_string(),
    }
}

/// PATH lookup with execvp's rules: a name with a slash is used as is; otherwise the first
/// PATH entry holding an executable regular file wins, and a non-executable match is
/// remembered for EACCES.
fn resolve(binary: &str, path_env: &str) -> io::Result<PathBuf> {
    if binary.is_empty() {
        return Err(io::Error::from_raw_os_error(libc::ENOENT));
    }
    if binary.contains('/') {
        return Ok(PathBuf::from(binary));
    }
    let mut denied = None;
    for dir in path_env.split(':') {
        let dir = if dir.is_empty() { "." } else { dir };
        let cand = Path::new(dir).join(binary);
        match rustix::fs::stat(&cand) {
            Ok(st) if rustix::fs::FileType::from_raw_mode(st.st_mode).is_file() => {
                if rustix::fs::access(&cand, rustix::fs::Access::EXEC_OK).is_ok() {
                    return Ok(cand);
                }
                denied.get_or_insert(cand);
            }
            _ => {}
        }
    }
    match denied {
        Some(p) => Ok(p),
        None => Err(io::Error::from_raw_os_error(libc::ENOENT)),
    }
}

/// Returns only on failure.
fn prepare_and_exec(path: &Path, job: &Job, filter: Option<&seccomp::Filter>) -> io::Error {
    match try_exec(path, job, filter) {
        Ok(e) | Err(e) => e,
    }
}

fn try_exec(path: &Path, job: &Job, filter: Option<&seccomp::Filter>) -> io::Result<io::Error> {
    let to_c = |s: &str| {
        CString::new(s).map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "NUL in argument"))
    };
    let cpath = CString::new(path.as_os_str().as_encoded_bytes())
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "NUL in path"))?;
    let argv = CStrArray::new(
        job.args
            .iter()
            .map(|a| to_c(a))
            .collect::<io::Result<_>>()?,
    );
    let envp = CStrArray::new(job.env.iter().map(|a| to_c(a)).collect::<io::Result<_>>()?);
    // Dispositions were reset at the init's start and nothing here installs a handler or
    // ignores a signal since; a caught handler would not survive the exec anyway. Only the
    // mask is made sure of (the start path pays one syscall, not 64).
    crate::sys::signals::unblock_all()?;
    close_range_cloexec(3)?;
    if let Some(f) = filter {
        f.load()
            .map_err(|e| io::Error::other(format!("seccomp: {e}")))?;
    }
    Ok(execve(&cpath, &argv, &envp))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resolve_follows_path_rules() {
        assert_eq!(
            resolve("sh", "/nonexistent:/bin").expect("sh"),
            PathBuf::from("/bin/sh")
        );
        assert_eq!(resolve("./x", "/bin").expect("slash"), PathBuf::from("./x"));
        let e = resolve("no-such-binary-xyz", "/bin:/usr/bin").expect_err("missing");
        assert_eq!(e.raw_os_error(), Some(libc::ENOENT));
        assert!(resolve("", "/bin").is_err());
    }

    #[test]
    fn errno_text_is_lowercase_without_os_error_suffix() {
        let e = io::Error::from_raw_os_error(libc::ENOENT);
        assert_eq!(
            describe(&e),
            "No such file or directory".to_string().to_lowercase()
        );
    }
}
