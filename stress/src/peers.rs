//! `--compare`: the churn and density scenarios again with conmon + runc and conmon + crun
//! (`runtime`: crun in a mount namespace without the cgroup2 mount on hybrid hosts), each container
//! started the way podman starts it (libpod `oci_conmon_common.go`, `createOCIContainer`): a
//! bundle, then `conmon --api-version 1 ...` with the child ends of a sync and a start socket
//! named by `_OCI_SYNCPIPE` / `_OCI_STARTPIPE`. One byte on the start socket lets conmon fork
//! its monitor, which runs `runc create` and sends `{"data": PID}` on the sync socket
//! (created); then `runc start` (running); the monitor exits after writing `--exit-dir/ID` and
//! the k8s-file log (exit reported); then `runc delete` and the bundle's removal.
//!
//! This module owns one temp dir (busybox rootfs, bundles, exit dir, attach links, runc's
//! state root), the cgroup parent `/ringmon-peer-PID` in every hierarchy, and the conmon
//! monitors it starts: it is their subreaper while it runs and reaps each through a pidfd. It
//! never touches a process, container or cgroup it did not make, and never reports a number
//! it did not measure: a missing binary is a printed skip, a leftover is an error.

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Write};
use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::os::unix::fs::PermissionsExt;
use std::os::unix::net::UnixStream;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use rustix::io::{fcntl_setfd, FdFlags};
use rustix::process::{getpid, pidfd_open, set_child_subreaper, waitid, Pid, PidfdFlags};
use rustix::process::{WaitId, WaitIdOptions};
use serde_json::{json, Value};

use crate::churn::{rows, ChurnArgs, Phases};
use crate::density::DensityArgs;
use crate::runtime::Runtime;

/// What a scenario adds for the peer: table lines, the peer's JSON and the ratios.
pub struct Section {
    pub table: String,
    pub peer: Value,
    pub ratios: Value,
}

impl Section {
    fn skipped(runtime: &str, why: &str) -> Self {
        // Also on stderr, so that `--json` runs say it too.
        eprintln!("ringmon-stress: peer conmon + {runtime} skipped: {why}");
        Self {
            table: format!("peer conmon + {runtime}: skipped: {why}\n"),
            peer: json!({ "name": format!("conmon+{runtime}"), "skipped": why }),
            ratios: Value::Null,
        }
    }
}

/// The peers `--compare` runs, in this order.
pub const RUNTIMES: [&str; 2] = ["runc", "crun"];

/// Every spawn of this module holds this lock, as Go's `syscall.ForkLock` does in podman: the
/// child ends of a conmon's sockets lose O_CLOEXEC for that one spawn, and no other child may
/// inherit them meanwhile.
static SPAWN: Mutex<()> = Mutex::new(());

/// How long conmon may take to report the container's pid (podman: ContainerCreateTimeout).
const SYNC_TIMEOUT: Duration = Duration::from_secs(60);
/// The commands in the busybox rootfs.
const APPLETS: [&str; 4] = ["echo", "sh", "sleep", "true"];

/// `churn` with conmon + `runtime`: `a.count` `echo hello` containers on `a.concurrency`
/// threads.
pub fn churn(runtime: &'static str, a: &ChurnArgs, ringmon_rate: f64) -> Result<Section> {
    let peer = match Peer::open(runtime)? {
        Ok(p) => p,
        Err(why) => return Ok(Section::skipped(runtime, &why)),
    };
    let next = AtomicUsize::new(0);
    let started = Instant::now();
    let all = std::thread::scope(|s| -> Result<Phases> {
        let workers: Vec<_> = (0..a.concurrency.max(1))
            .map(|_| {
                s.spawn(|| -> Result<Phases> {
                    let mut p = Phases::default();
                    while next.fetch_add(1, Ordering::SeqCst) < a.count {
                        if let Err(e) = peer.echo_hello(a.tty, &mut p) {
                            next.store(a.count, Ordering::SeqCst);
                            return Err(e);
                        }
                    }
                    Ok(p)
                })
            })
            .collect();
        crate::churn::join_all(workers.into_iter().map(|w| w.join()), "peer churn")
    })?;
    let wall = started.elapsed();
    let leftovers = peer.finish()?;
    let n = all.total.0.len();
    let rate = n as f64 / wall.as_secs_f64();
    let ratio = ringmon_rate / rate;
    let mut table = format!(
        "peer {}: {n} `echo hello` containers, tty={}, concurrency {}: {rate:.1} containers/s ({:.2} s)\n",
        peer.versions,
        a.tty,
        a.concurrency,
        wall.as_secs_f64()
    );
    table.push_str(&rows(&all));
    table.push_str(&format!(
        "  ringmon/peer containers/s {ratio:>8.2}x\n  peer leftovers: {}\n",
        leftovers.summary
    ));
    let peer_json = json!({"name": format!("conmon+{runtime}"), "runtime": peer.rt.label(),
        "versions": peer.versions, "conmon_command": peer.first_command(), "count": n, "seconds": wall.as_secs_f64(),
        "containers_per_second": rate, "create": all.create.json(), "start": all.start.json(),
        "run": all.run.json(), "delete": all.delete.json(), "total": all.total.json(),
        "leftovers": leftovers.json});
    Ok(Section {
        table,
        peer: peer_json,
        ratios: json!({ "containers_per_second_ringmon_over_peer": ratio }),
    })
}

/// `density` with conmon + `runtime`: `a.count` `sleep 1000` containers held, the conmon
/// monitors' PSS, RSS and fds per container, against ringmon's `pss`/`fds` per container.
pub fn density(
    runtime: &'static str,
    a: &DensityArgs,
    ringmon_pss: f64,
    ringmon_fds: f64,
) -> Result<Section> {
    let peer = match Peer::open(runtime)? {
        Ok(p) => p,
        Err(why) => return Ok(Section::skipped(runtime, &why)),
    };
    let t = Instant::now();
    let mut held = Vec::with_capacity(a.count);
    for i in 0..a.count {
        let c = peer
            .create(&["sleep", "1000"], a.tty)
            .with_context(|| format!("peer container {i} of {}", a.count))?;
        peer.rt_cmd(&["start", &c.id])?;
        held.push(c);
    }
    let fill = t.elapsed();
    let (mut pss, mut rss, mut fds) = (0u64, 0u64, 0u64);
    for c in &held {
        let (p, r) = memory(c.monitor_pid)?;
        pss += p;
        rss += r;
        fds += fd_count(c.monitor_pid)?;
    }
    for c in &held {
        peer.rt_cmd(&["kill", &c.id, "KILL"])?;
    }
    for mut c in held {
        peer.wait(&mut c)?;
        peer.delete(c)?;
    }
    let leftovers = peer.finish()?;
    let n = a.count.max(1) as f64;
    let (pss, rss, fds) = (pss as f64 / n, rss as f64 / n, fds as f64 / n);
    // ringmon's figures are deltas of one process and may be 0 (or below) per container.
    let ratio = |peer: f64, ours: f64| (ours > 0.0).then(|| peer / ours);
    let (pss_ratio, fds_ratio) = (ratio(pss, ringmon_pss), ratio(fds, ringmon_fds));
    let shown = |r: Option<f64>| {
        r.map_or("n/a (ringmon's delta is not above 0)".into(), |r| {
            format!("{r:.1}x")
        })
    };
    let table = format!(
        "peer {}: {} containers held, tty={} (started in {:.2} s)\n\
         \x20 conmon RSS per container  {rss:>10.0} bytes\n\
         \x20 conmon PSS per container  {pss:>10.0} bytes\n\
         \x20 conmon fds per container  {fds:>10.2}\n\
         \x20 conmon/ringmon PSS per container  {}\n\
         \x20 conmon/ringmon fds per container  {}\n\
         \x20 peer leftovers: {}\n",
        peer.versions,
        a.count,
        a.tty,
        fill.as_secs_f64(),
        shown(pss_ratio),
        shown(fds_ratio),
        leftovers.summary
    );
    let peer_json = json!({"name": format!("conmon+{runtime}"), "runtime": peer.rt.label(),
        "versions": peer.versions, "conmon_command": peer.first_command(), "count": a.count,
        "fill_seconds": fill.as_secs_f64(), "rss_per_container": rss, "pss_per_container": pss,
        "fds_per_container": fds, "leftovers": leftovers.json});
    Ok(Section {
        table,
        peer: peer_json,
        ratios: json!({"pss_per_container_peer_over_ringmon": pss_ratio,
                       "fds_per_container_peer_over_ringmon": fds_ratio}),
    })
}

/// One container of the peer, from conmon's report of its pid until `delete`.
struct Ctr {
    id: String,
    bundle: PathBuf,
    /// The conmon monitor: our child once conmon's first process has exited (we are the
    /// subreaper), so the pid stays ours until we reap it.
    monitor_pid: i32,
    monitor: OwnedFd,
}

struct Peer {
    conmon: PathBuf,
    rt: Runtime,
    versions: String,
    dir: tempfile::TempDir,
    /// `runc spec`'s config.json with the busybox rootfs and without a network namespace.
    template: Value,
    /// `/ringmon-peer-PID`: each container's cgroupsPath is `<this>/<id>`.
    cgroup_parent: String,
    next: AtomicUsize,
    /// Containers runc may still know, with their monitor's pid (0 once reaped): what `Drop`
    /// removes when a scenario fails half-way.
    live: Mutex<HashMap<String, i32>>,
    /// The first conmon command line, environment included, for the report.
    first: Mutex<Option<Vec<String>>>,
    before: Host,
}

/// What must be back after the peer's run, and what is only reported (host-wide counts).
#[derive(Debug, PartialEq, Eq)]
struct Host {
    children: usize,
    mounts: usize,
    ptys: u64,
}

struct Leftovers {
    summary: String,
    json: Value,
}

impl Peer {
    /// The peer in a temp dir of its own, or why it is skipped.
    fn open(runtime: &'static str) -> Result<std::result::Result<Self, String>> {
        let (conmon, busybox) = match binaries() {
            Ok(b) => b,
            Err(why) => return Ok(Err(why)),
        };
        let rt = match Runtime::open(runtime)? {
            Ok(rt) => rt,
            Err(why) => return Ok(Err(why)),
        };
        let versions = format!(
            "{} + {}",
            version(&mut Command::new(&conmon))?,
            version(&mut rt.command(&rt.bin))?
        );
        let dir = tempfile::Builder::new().prefix("ringmon-peer").tempdir()?;
        for d in ["bundles", "exits", "sockets", "runc", "run"] {
            std::fs::create_dir(dir.path().join(d))?;
        }
        let rootfs = busybox_rootfs(dir.path(), &busybox)?;
        let template = runtime_spec(&rt, dir.path(), &rootfs)?;
        let peer = Self {
            conmon,
            rt,
            versions,
            dir,
            template,
            cgroup_parent: format!("/ringmon-peer-{}", std::process::id()),
            next: AtomicUsize::new(0),
            live: Mutex::new(HashMap::new()),
            first: Mutex::new(None),
            before: host(),
        };
        // conmon double-forks: its monitor would be re-parented to init, which nobody here
        // can wait on. As the subreaper we get it and can reap it through a pidfd.
        set_child_subreaper(Some(getpid())).context("prctl PR_SET_CHILD_SUBREAPER")?;
        Ok(Ok(peer))
    }

    /// create -> start -> exit -> delete of `echo hello`, checking its exit file and log.
    fn echo_hello(&self, tty: bool, p: &mut Phases) -> Result<()> {
        let t0 = Instant::now();
        let mut c = self.create(&["echo", "hello"], tty)?;
        let t1 = Instant::now();
        self.rt_cmd(&["start", &c.id])?;
        let t2 = Instant::now();
        let code = self.wait(&mut c)?;
        let log = std::fs::read_to_string(c.bundle.join("ctr.log"))
            .with_context(|| format!("read {}", c.bundle.join("ctr.log").display()))?;
        let t3 = Instant::now();
        let id = c.id.clone();
        self.delete(c)?;
        let t4 = Instant::now();
        // k8s-file lines: `<time> stdout P|F <content>`; a pty may hand "hello" and the
        // "\r\n" over in two reads, which conmon logs as a P record and an F record.
        let hello = k8s_file_content(&log).starts_with("hello");
        if code != 0 || !hello {
            bail!("peer container {id}: exit {code}, log {log:?}");
        }
        p.record([t0, t1, t2, t3, t4]);
        Ok(())
    }

    /// The bundle, then conmon until it reports the container's pid (runc create done).
    fn create(&self, args: &[&str], tty: bool) -> Result<Ctr> {
        let n = self.next.fetch_add(1, Ordering::SeqCst);
        let id = format!("rmpeer-{}-{n}", std::process::id());
        let bundle = self.dir.path().join("bundles").join(&id);
        std::fs::create_dir(&bundle).with_context(|| format!("mkdir {}", bundle.display()))?;
        let mut spec = self.template.clone();
        spec["process"]["args"] = json!(args);
        spec["process"]["terminal"] = json!(tty);
        spec["linux"]["cgroupsPath"] = json!(format!("{}/{id}", self.cgroup_parent));
        std::fs::write(bundle.join("config.json"), serde_json::to_vec(&spec)?)?;

        let (sync, sync_child) = UnixStream::pair().context("socketpair for the sync pipe")?;
        let (start, start_child) = UnixStream::pair().context("socketpair for the start pipe")?;
        let env = [
            ("_OCI_SYNCPIPE", sync_child.as_raw_fd().to_string()),
            ("_OCI_STARTPIPE", start_child.as_raw_fd().to_string()),
            ("XDG_RUNTIME_DIR", self.path("run")),
        ];
        let argv = self.conmon_args(&id, &bundle, tty);
        let mut cmd = self.rt.command(&self.conmon);
        cmd.args(&argv)
            .envs(env.iter().map(|(k, v)| (*k, v)))
            .env_remove("NOTIFY_SOCKET")
            .current_dir(&bundle)
            .process_group(0)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        let child = spawn(&mut cmd, vec![sync_child.into(), start_child.into()])?;
        self.remember(&env, &argv);
        // conmon waits for this byte before it forks: podman moves it into a cgroup first.
        let signalled = (&start).write_all(&[0]);
        let out = child.wait_with_output().context("wait for conmon")?;
        if !out.status.success() {
            bail!(
                "conmon for {id} exited with {}: {}",
                out.status,
                String::from_utf8_lossy(&out.stderr).trim()
            );
        }
        signalled.context("write conmon's start pipe")?;
        let (monitor_pid, monitor) = self.adopt(&id, &bundle)?;
        let pid = read_sync(&sync, &id, &bundle)?;
        if pid <= 0 {
            bail!("peer container {id}: conmon reported pid {pid}");
        }
        Ok(Ctr {
            id,
            bundle,
            monitor_pid,
            monitor,
        })
    }

    /// podman's `sharedConmonArgs` + `createOCIContainer` for a root container with cgroupfs,
    /// k8s-file logs and a runc of its own state root.
    fn conmon_args(&self, id: &str, bundle: &Path, tty: bool) -> Vec<String> {
        let b = |f: &str| bundle.join(f).display().to_string();
        let mut v: Vec<String> = [
            "--api-version",
            "1",
            "-c",
            id,
            "-u",
            id,
            "-r",
            &self.rt.bin.display().to_string(),
            "-b",
            &bundle.display().to_string(),
            "-p",
            &b("pidfile"),
            "-n",
            id,
            "--exit-dir",
            &self.path("exits"),
            "--runtime-arg",
            "--root",
            "--runtime-arg",
            &self.path("runc"),
            "-l",
            &format!("k8s-file:{}", b("ctr.log")),
            "--log-level",
            "error",
            "--runtime-arg",
            "--log-format=json",
            "--runtime-arg",
            "--log",
            &format!("--runtime-arg={}", b("oci-log")),
            "--socket-dir-path",
            &self.path("sockets"),
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        if tty {
            v.push("-t".into());
        }
        v.extend(["--conmon-pidfile".into(), b("conmon.pid")]);
        v
    }

    /// conmon's monitor, re-parented to us when conmon's first process exited.
    fn adopt(&self, id: &str, bundle: &Path) -> Result<(i32, OwnedFd)> {
        let file = bundle.join("conmon.pid");
        let text =
            std::fs::read_to_string(&file).with_context(|| format!("read {}", file.display()))?;
        let raw: i32 = text
            .trim()
            .parse()
            .with_context(|| format!("{}: {text:?}", file.display()))?;
        let pid = Pid::from_raw(raw).with_context(|| format!("{}: pid {raw}", file.display()))?;
        if parent_of(raw) != Some(std::process::id() as i32) {
            bail!("conmon monitor {raw} of {id} is not our child: the subreaper did not take it");
        }
        self.lock_live().insert(id.to_string(), raw);
        let pidfd = pidfd_open(pid, PidfdFlags::empty())
            .with_context(|| format!("pidfd_open conmon monitor {raw}"))?;
        Ok((raw, pidfd))
    }

    /// Waits for the monitor's exit (after it wrote the exit file and the log); the exit code.
    fn wait(&self, c: &mut Ctr) -> Result<i32> {
        waitid(WaitId::PidFd(c.monitor.as_fd()), WaitIdOptions::EXITED)
            .with_context(|| format!("waitid conmon monitor {} of {}", c.monitor_pid, c.id))?;
        if let Some(pid) = self.lock_live().get_mut(&c.id) {
            *pid = 0;
        }
        let file = self.dir.path().join("exits").join(&c.id);
        let text = std::fs::read_to_string(&file)
            .with_context(|| format!("read exit file {}", file.display()))?;
        text.trim()
            .parse()
            .with_context(|| format!("exit file {}: {text:?}", file.display()))
    }

    /// `runc delete`, then the bundle, the exit file and the attach link (podman's
    /// `removeConmonFiles`; conmon 2.1.6 leaves the link, later ones unlink it themselves).
    fn delete(&self, c: Ctr) -> Result<()> {
        self.rt_cmd(&["delete", &c.id])?;
        self.lock_live().remove(&c.id);
        std::fs::remove_dir_all(&c.bundle)
            .with_context(|| format!("rm -r {}", c.bundle.display()))?;
        let exit = self.dir.path().join("exits").join(&c.id);
        std::fs::remove_file(&exit).with_context(|| format!("rm {}", exit.display()))?;
        let link = self.dir.path().join("sockets").join(&c.id);
        match std::fs::remove_file(&link) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                Err(e).with_context(|| format!("rm {}", link.display()))
            }
            _ => Ok(()),
        }
    }

    /// `runc|crun --root <ours> ARGS`: its stdout, or an error with its stderr.
    fn rt_cmd(&self, args: &[&str]) -> Result<String> {
        let root = self.path("runc");
        run(
            self.rt
                .command(&self.rt.bin)
                .args(["--root", root.as_str()]),
            args,
        )
    }

    /// Checks that everything the peer made is gone and removes the cgroup parents; reports
    /// the host-wide counts beside.
    fn finish(&self) -> Result<Leftovers> {
        let mut left: Vec<String> = self.lock_live().keys().cloned().collect();
        let listed = self.rt_cmd(&["list", "-q"])?;
        let rt = self.rt.name;
        left.extend(listed.lines().map(|l| format!("{rt} container {l}")));
        for d in ["bundles", "exits", "sockets"] {
            for e in std::fs::read_dir(self.dir.path().join(d))?.flatten() {
                left.push(e.path().display().to_string());
            }
        }
        left.extend(self.remove_cgroup_parents());
        let now = host();
        if now.children != self.before.children {
            left.push(format!(
                "child processes: {} before, {} after",
                self.before.children, now.children
            ));
        }
        if !left.is_empty() {
            bail!("the peer left behind: {}", left.join(", "));
        }
        let summary = format!(
            "none ({rt} state, cgroup dirs, bundles, exit files, attach links, children); \
             host ptys {} -> {}, our mounts {} -> {}",
            self.before.ptys, now.ptys, self.before.mounts, now.mounts
        );
        let json = json!({"ours": [], "host_ptys": [self.before.ptys, now.ptys],
                          "mounts": [self.before.mounts, now.mounts]});
        Ok(Leftovers { summary, json })
    }

    /// rmdir `/sys/fs/cgroup/*/ringmon-peer-PID`; names what cannot be removed.
    fn remove_cgroup_parents(&self) -> Vec<String> {
        let mut left = Vec::new();
        let name = self.cgroup_parent.trim_start_matches('/');
        for h in std::fs::read_dir("/sys/fs/cgroup")
            .into_iter()
            .flatten()
            .flatten()
        {
            let dir = h.path().join(name);
            if !dir.is_dir() {
                continue;
            }
            for sub in std::fs::read_dir(&dir).into_iter().flatten().flatten() {
                if sub.path().is_dir() {
                    left.push(format!("cgroup {}", sub.path().display()));
                }
            }
            if let Err(e) = std::fs::remove_dir(&dir) {
                left.push(format!("rmdir {}: {e}", dir.display()));
            }
        }
        left
    }

    fn path(&self, sub: &str) -> String {
        self.dir.path().join(sub).display().to_string()
    }

    fn lock_live(&self) -> MutexGuard<'_, HashMap<String, i32>> {
        self.live.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn remember(&self, env: &[(&str, String)], argv: &[String]) {
        let mut first = self.first.lock().unwrap_or_else(|e| e.into_inner());
        if first.is_none() {
            let mut line: Vec<String> = env.iter().map(|(k, v)| format!("{k}={v}")).collect();
            line.push(self.conmon.display().to_string());
            line.extend(argv.iter().cloned());
            *first = Some(line);
        }
    }

    fn first_command(&self) -> Value {
        json!(*self.first.lock().unwrap_or_else(|e| e.into_inner()))
    }
}

impl Drop for Peer {
    /// After a failure half-way: `runc delete --force` what runc may still have, reap the
    /// monitors (they exit once their container is gone), remove the cgroup parents.
    fn drop(&mut self) {
        let live = std::mem::take(&mut *self.lock_live());
        for (id, monitor) in live {
            if let Err(e) = self.rt_cmd(&["delete", "--force", &id]) {
                eprintln!("ringmon-stress: peer cleanup: {e:#}");
            }
            // The pid is still ours: an unreaped child of this process.
            if let Some(pid) = Pid::from_raw(monitor) {
                if let Ok(fd) = pidfd_open(pid, PidfdFlags::empty()) {
                    let _ = waitid(WaitId::PidFd(fd.as_fd()), WaitIdOptions::EXITED);
                }
            }
        }
        for left in self.remove_cgroup_parents() {
            eprintln!("ringmon-stress: peer cleanup: {left}");
        }
        let _ = set_child_subreaper(None);
    }
}

/// The output a k8s-file log's records reassemble to: P contents joined to what follows,
/// each F content ending a line.
fn k8s_file_content(log: &str) -> String {
    let mut out = String::new();
    // Not `lines()`: it would take a content's "\r" for half of a line ending.
    for line in log.split('\n').filter(|l| !l.is_empty()) {
        let mut parts = line.splitn(4, ' ');
        let (_time, _stream, tag) = (parts.next(), parts.next(), parts.next());
        out.push_str(parts.next().unwrap_or(""));
        if tag != Some("P") {
            out.push('\n');
        }
    }
    out
}

/// conmon and busybox, or why the peer is skipped.
fn binaries() -> std::result::Result<(PathBuf, PathBuf), String> {
    let conmon = find("conmon").ok_or("conmon is not installed (not in PATH nor /usr/bin)")?;
    let busybox = Path::new("/bin/busybox");
    if !busybox.is_file() {
        return Err("/bin/busybox is missing (Debian's busybox-static) for the rootfs".into());
    }
    Ok((conmon, busybox.to_path_buf()))
}

/// The first executable `name` in PATH or the usual system directories.
pub fn find(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    let system = [
        "/usr/local/sbin",
        "/usr/local/bin",
        "/usr/sbin",
        "/usr/bin",
        "/sbin",
        "/bin",
    ];
    std::env::split_paths(&path)
        .chain(system.iter().map(PathBuf::from))
        .map(|d| d.join(name))
        .find(|p| {
            p.metadata()
                .is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
        })
}

/// The first line of `CMD --version`.
fn version(cmd: &mut Command) -> Result<String> {
    let text = run(cmd, &["--version"])?;
    Ok(text.lines().next().unwrap_or("unknown version").to_string())
}

/// `cmd ARGS` to its end: its stdout, or an error with its stderr.
fn run(cmd: &mut Command, args: &[&str]) -> Result<String> {
    cmd.args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let out = spawn(cmd, Vec::new())?.wait_with_output()?;
    if !out.status.success() {
        let argv: Vec<String> = std::iter::once(cmd.get_program())
            .chain(cmd.get_args())
            .map(|a| a.to_string_lossy().into_owned())
            .collect();
        bail!(
            "{}: {}: {}",
            argv.join(" "),
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// Spawns `cmd` under the spawn lock; `pass` are handed to the child under their own numbers.
fn spawn(cmd: &mut Command, pass: Vec<OwnedFd>) -> Result<Child> {
    let _guard = SPAWN.lock().unwrap_or_else(|e| e.into_inner());
    for fd in &pass {
        fcntl_setfd(fd, FdFlags::empty()).context("fcntl F_SETFD (clear FD_CLOEXEC)")?;
    }
    let child = cmd
        .spawn()
        .with_context(|| format!("spawn {}", cmd.get_program().to_string_lossy()))?;
    // Closed before the lock is released: no other spawn may inherit them.
    drop(pass);
    Ok(child)
}

/// conmon's `{"data": PID}` line (a negative PID with a "message" when runc create failed).
fn read_sync(sync: &UnixStream, id: &str, bundle: &Path) -> Result<i32> {
    sync.set_read_timeout(Some(SYNC_TIMEOUT))?;
    let mut line = String::new();
    BufReader::new(sync)
        .read_line(&mut line)
        .with_context(|| format!("peer container {id}: read conmon's sync pipe"))?;
    let runc_said = || {
        std::fs::read_to_string(bundle.join("oci-log"))
            .unwrap_or_default()
            .trim()
            .to_string()
    };
    if line.is_empty() {
        bail!(
            "peer container {id}: conmon closed its sync pipe; runc: {}",
            runc_said()
        );
    }
    let v: Value = serde_json::from_str(line.trim())
        .with_context(|| format!("peer container {id}: conmon sent {line:?}"))?;
    let data = v["data"]
        .as_i64()
        .with_context(|| format!("peer container {id}: conmon sent {line:?}"))?;
    if data < 0 {
        bail!(
            "peer container {id}: runc create failed: {} {}",
            v["message"],
            runc_said()
        );
    }
    Ok(data as i32)
}

/// `<dir>/rootfs`: /bin/busybox and its applets as symlinks, the mount points runc needs.
fn busybox_rootfs(dir: &Path, busybox: &Path) -> Result<PathBuf> {
    let rootfs = dir.join("rootfs");
    for d in ["bin", "proc", "dev", "sys", "tmp"] {
        std::fs::create_dir_all(rootfs.join(d))?;
    }
    std::fs::copy(busybox, rootfs.join("bin/busybox"))
        .with_context(|| format!("copy {}", busybox.display()))?;
    for app in APPLETS {
        std::os::unix::fs::symlink("busybox", rootfs.join("bin").join(app))?;
    }
    Ok(rootfs)
}

/// The runtime's own `spec` config.json, rooted at `rootfs` (read-only, shared by every
/// container) and without the network namespace, as ringmon's embedded default (pid, ipc,
/// uts, mount).
fn runtime_spec(rt: &Runtime, dir: &Path, rootfs: &Path) -> Result<Value> {
    let spec_dir = dir.join("spec");
    std::fs::create_dir(&spec_dir)?;
    let bundle = format!("--bundle={}", spec_dir.display());
    run(&mut rt.command(&rt.bin), &["spec", &bundle])?;
    let file = spec_dir.join("config.json");
    let text =
        std::fs::read_to_string(&file).with_context(|| format!("read {}", file.display()))?;
    std::fs::remove_dir_all(&spec_dir)?;
    let mut v: Value = serde_json::from_str(&text).context("the runtime's spec config.json")?;
    v["root"] = json!({"path": rootfs, "readonly": true});
    if let Some(ns) = v["linux"]["namespaces"].as_array_mut() {
        ns.retain(|n| n["type"] != "network");
    }
    Ok(v)
}

/// (PSS, RSS) of `pid` in bytes, from its smaps_rollup.
fn memory(pid: i32) -> Result<(u64, u64)> {
    let file = format!("/proc/{pid}/smaps_rollup");
    let text = std::fs::read_to_string(&file).with_context(|| format!("read {file}"))?;
    let kb = |key: &str| -> Result<u64> {
        let line = text.lines().find(|l| l.starts_with(key));
        let v = line.and_then(|l| l.split_whitespace().nth(1));
        let kb: u64 = v.with_context(|| format!("{file}: no {key}"))?.parse()?;
        Ok(kb * 1024)
    };
    Ok((kb("Pss:")?, kb("Rss:")?))
}

fn fd_count(pid: i32) -> Result<u64> {
    let dir = format!("/proc/{pid}/fd");
    Ok(std::fs::read_dir(&dir)
        .with_context(|| format!("read {dir}"))?
        .count() as u64)
}

/// The parent of `pid`, from /proc/PID/stat.
fn parent_of(pid: i32) -> Option<i32> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let (_, rest) = stat.rsplit_once(") ")?;
    rest.split_whitespace().nth(1)?.parse().ok()
}

/// Our children, the host's ptys in use and our mount count.
fn host() -> Host {
    let me = std::process::id() as i32;
    let children = std::fs::read_dir("/proc")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| e.file_name().to_str()?.parse::<i32>().ok())
        .filter(|&pid| parent_of(pid) == Some(me))
        .count();
    let ptys = std::fs::read_to_string("/proc/sys/kernel/pty/nr")
        .ok()
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(0);
    let mounts = std::fs::read_to_string("/proc/self/mountinfo")
        .map(|m| m.lines().count())
        .unwrap_or(0);
    Host {
        children,
        mounts,
        ptys,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn conmon_gets_podmans_flags_and_the_terminal_only_with_tty() {
        let dir = tempfile::tempdir().expect("tempdir");
        let peer = Peer {
            conmon: "/usr/bin/conmon".into(),
            rt: Runtime::at("runc", "/usr/sbin/runc".into()),
            versions: String::new(),
            template: json!({}),
            cgroup_parent: format!("/ringmon-peer-test-{}", std::process::id()),
            next: AtomicUsize::new(0),
            live: Mutex::new(HashMap::new()),
            first: Mutex::new(None),
            before: host(),
            dir,
        };
        let b = Path::new("/b");
        let pipes = peer.conmon_args("id1", b, false);
        for flag in [
            "--api-version",
            "-c",
            "-u",
            "-r",
            "-b",
            "-p",
            "-n",
            "--exit-dir",
            "-l",
        ] {
            assert!(pipes.iter().any(|a| a == flag), "{flag} in {pipes:?}");
        }
        assert!(pipes.contains(&"k8s-file:/b/ctr.log".to_string()));
        assert!(!pipes.contains(&"-t".to_string()));
        assert!(peer.conmon_args("id1", b, true).contains(&"-t".to_string()));
        // Nothing was started: Drop has nothing to delete.
    }

    #[test]
    fn k8s_file_records_reassemble_across_p_and_f() {
        let log = "t stdout P hello\nt stdout F \r\nt stdout F two words\n";
        assert_eq!(k8s_file_content(log), "hello\r\ntwo words\n");
    }

    #[test]
    fn a_missing_binary_is_not_found_and_sh_is() {
        assert!(find("ringmon-no-such-binary").is_none());
        assert!(find("sh").is_some());
    }

    #[test]
    fn the_parent_of_this_process_is_read_from_proc() {
        let me = std::process::id() as i32;
        assert_eq!(
            parent_of(me),
            Some(std::os::unix::process::parent_id() as i32)
        );
        assert!(parent_of(-1).is_none());
    }
}
