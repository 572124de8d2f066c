//! Test harness: a real daemon on a temp socket and root, a client, and leak checks.
#![allow(dead_code)]

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

use ringmon::api::client::Client;

pub mod rootfs;

pub const BIN: &str = env!("CARGO_BIN_EXE_ringmon");

pub struct TestDaemon {
    pub dir: tempfile::TempDir,
    pub socket: PathBuf,
    pub child: Child,
    pub pid: i32,
}

/// Everything that must return to where it was after a scenario.
#[derive(Debug, PartialEq, Eq, Clone)]
pub struct Baseline {
    /// fds the daemon holds for itself and its containers (API connections excluded: they
    /// close asynchronously after the client goes away).
    pub daemon_fds: usize,
    pub container_fds: usize,
    /// fds of the warm inits (a constant number of them, refilled after every take).
    pub warm_fds: usize,
    pub ptys: u64,
    pub zombies: usize,
    pub children: usize,
    /// Mounts seen by the host (this test's mount namespace) and by the daemon.
    pub host_mounts: usize,
    pub daemon_mounts: usize,
    /// Container cgroup directories under the daemon's parents, in every hierarchy; the
    /// warm inits' own (named by the ids in `warm_inits.cgroup_ids`) are not counted.
    pub cgroups: usize,
    /// Containers' state directories under the daemon's root (a deleted container's is
    /// gone by the time its delete is answered).
    pub state_dirs: usize,
}

static DAEMONS: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);

impl TestDaemon {
    pub fn start() -> Self {
        Self::start_with(&[])
    }

    pub fn start_with(extra: &[&str]) -> Self {
        let dir = tempfile::Builder::new()
            .prefix("ringmon-test")
            .tempdir()
            .expect("tempdir");
        let socket = dir.path().join("ringmon.sock");
        // Each daemon gets a cgroup parent of its own, so leak checks see only its cgroups.
        let n = DAEMONS.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        let parent = format!("ringmon-test-{}-{n}", std::process::id());
        let parent_args: Vec<&str> = if extra.contains(&"--cgroup-parent") {
            Vec::new()
        } else {
            vec!["--cgroup-parent", parent.as_str()]
        };
        let mut child = Command::new(BIN)
            .arg("--socket")
            .arg(&socket)
            .args(["daemon", "--root"])
            .arg(dir.path())
            .arg("--background")
            .args(&parent_args)
            .args(extra)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("spawn daemon");
        // Readiness is an event: the daemon prints "ready <pid>" once it listens.
        let mut line = String::new();
        BufReader::new(child.stdout.take().expect("stdout"))
            .read_line(&mut line)
            .expect("read ready line");
        assert!(line.starts_with("ready "), "daemon did not start: {line:?}");
        let pid = child.id() as i32;
        Self {
            dir,
            socket,
            child,
            pid,
        }
    }

    pub fn client(&self) -> Client {
        Client::connect(&self.socket).expect("connect")
    }

    pub fn cli(&self) -> Command {
        let mut c = Command::new(BIN);
        c.env("RINGMON_SOCKET", &self.socket);
        c
    }

    pub fn baseline(&self) -> Baseline {
        let stats = self
            .client()
            .call("stats", serde_json::json!({}))
            .expect("stats");
        // /proc/PID/fd and the ledger, counted at the same instant inside the daemon.
        assert_eq!(
            stats["proc_fds"], stats["ledger_fds"],
            "/proc/PID/fd differs from the ledger: {stats}"
        );
        assert_eq!(
            stats["unaccounted_fds"],
            serde_json::json!([]),
            "fds outside the ledger"
        );
        let in_state = |k: &str| stats["containers"][k].as_u64().unwrap_or(0);
        assert_eq!(
            stats["containers_in_setup"].as_u64(),
            Some(in_state("creating") + in_state("starting")),
            "the daemon's count of containers in setup is off: {stats}"
        );
        let owned = |k: &str| stats["fds_by_owner"][k].as_u64().unwrap_or(0) as usize;
        let (zombies, children) = children_of(self.pid);
        Baseline {
            daemon_fds: owned("daemon"),
            container_fds: owned("containers"),
            warm_fds: owned("warm_inits"),
            ptys: host_ptys(),
            zombies,
            children,
            host_mounts: rootfs::mount_count("self"),
            daemon_mounts: rootfs::mount_count(&self.pid.to_string()),
            cgroups: {
                let warm: Vec<&str> = stats["warm_inits"]["cgroup_ids"]
                    .as_array()
                    .map(|a| a.iter().filter_map(|v| v.as_str()).collect())
                    .unwrap_or_default();
                parents_of(&stats)
                    .iter()
                    .map(|p| cgroup_children(p, &warm))
                    .sum()
            },
            state_dirs: std::fs::read_dir(self.dir.path().join("containers"))
                .map(|d| d.count())
                .unwrap_or(0),
        }
    }

    /// The directories the daemon makes container cgroups in, one per hierarchy.
    pub fn cgroup_parents(&self) -> Vec<PathBuf> {
        let stats = self
            .client()
            .call("stats", serde_json::json!({}))
            .expect("stats");
        parents_of(&stats)
    }

    /// Asserts the daemon is exactly at `before` (its fds, ledger, ptys, children).
    pub fn assert_back_to(&self, before: &Baseline) {
        let now = self.baseline();
        assert_eq!(&now, before, "daemon state leaked (now vs before)");
    }

    /// SIGTERM and wait; returns the exit status. The daemon's cgroup parents are gone
    /// afterwards.
    pub fn stop(mut self) -> std::process::ExitStatus {
        let parents = self.cgroup_parents();
        let pid = rustix::process::Pid::from_raw(self.pid).expect("pid");
        rustix::process::kill_process(pid, rustix::process::Signal::TERM).expect("kill");
        let status = self.child.wait().expect("wait daemon");
        for p in parents {
            assert!(!p.exists(), "cgroup parent {} left behind", p.display());
        }
        status
    }

    pub fn root(&self) -> &Path {
        self.dir.path()
    }
}

impl Drop for TestDaemon {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            if let Some(pid) = rustix::process::Pid::from_raw(self.pid) {
                let _ = rustix::process::kill_process(pid, rustix::process::Signal::TERM);
            }
            let _ = self.child.wait();
        }
    }
}

/// The cgroup parents named in a `stats` reply.
fn parents_of(stats: &serde_json::Value) -> Vec<PathBuf> {
    stats["cgroup_parents"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|p| p.as_str().map(PathBuf::from))
                .collect()
        })
        .unwrap_or_default()
}

/// Subdirectories (container cgroups) of a cgroup parent whose names are not in
/// `except`; 0 when it does not exist.
pub fn cgroup_children(parent: &Path, except: &[&str]) -> usize {
    std::fs::read_dir(parent)
        .map(|d| {
            d.flatten()
                .filter(|e| e.path().is_dir())
                .filter(|e| !except.iter().any(|x| e.file_name() == *x))
                .count()
        })
        .unwrap_or(0)
}

pub fn host_ptys() -> u64 {
    std::fs::read_to_string("/proc/sys/kernel/pty/nr")
        .expect("pty nr")
        .trim()
        .parse()
        .expect("number")
}

/// (zombie children, all children) of `pid`.
pub fn children_of(pid: i32) -> (usize, usize) {
    let mut zombies = 0;
    let mut all = 0;
    for e in std::fs::read_dir("/proc").expect("proc").flatten() {
        let Ok(stat) = std::fs::read_to_string(e.path().join("stat")) else {
            continue;
        };
        let Some(close) = stat.rfind(')') else {
            continue;
        };
        let f: Vec<&str> = stat[close + 2..].split_whitespace().collect();
        if f.get(1).and_then(|p| p.parse::<i32>().ok()) == Some(pid) {
            all += 1;
            if f[0] == "Z" {
                zombies += 1;
            }
        }
    }
    (zombies, all)
}

/// create; returns the new container's id.
pub fn create(c: &mut Client, params: serde_json::Value) -> String {
    let res = c.call("create", params).expect("create");
    res["id"].as_str().expect("id").to_string()
}

/// create + attach + start + wait over one connection; returns (exit code, output, id).
pub fn run_api(c: &mut Client, params: serde_json::Value) -> (i32, Vec<u8>, String) {
    let res = c.call("create", params).expect("create");
    let id = res["id"].as_str().expect("id").to_string();
    let (code, out) = start_attached(c, &id);
    (code, out, id)
}

/// attach + start + wait for a created container; returns (exit code, output).
pub fn start_attached(c: &mut Client, id: &str) -> (i32, Vec<u8>) {
    use base64::Engine;
    let attach = c
        .send("attach", serde_json::json!({"id": id}))
        .expect("attach");
    c.send("start", serde_json::json!({"id": id}))
        .expect("start");
    let mut out = Vec::new();
    loop {
        let m = c.next_message().expect("next");
        if m.id == Some(attach) && m.event.as_deref() == Some("output") {
            let d = m.rest["data"].as_str().expect("data");
            out.extend(
                base64::engine::general_purpose::STANDARD
                    .decode(d)
                    .expect("b64"),
            );
        } else if m.id == Some(attach) && m.event.is_none() {
            let v = ringmon::api::client::into_result(m).expect("exit");
            return (v["exit_code"].as_i64().expect("code") as i32, out);
        }
    }
}
