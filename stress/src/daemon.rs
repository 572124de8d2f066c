//! The daemon under test: one already running (`--socket`) or one of our own in a temp
//! dir, and the leak check every scenario ends with.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

use anyhow::{bail, Context, Result};
use ringmon::api::client::Client;

pub struct Daemon {
    pub socket: PathBuf,
    pub pid: i32,
    child: Option<Child>,
    _dir: Option<tempfile::TempDir>,
}

/// What must be back where it was after a scenario.
#[derive(Debug, PartialEq, Eq)]
pub struct Baseline {
    daemon_fds: u64,
    container_fds: u64,
    /// The warm inits' fds (their number is constant: each create's is replaced).
    warm_fds: u64,
    ptys: u64,
    mounts: usize,
    cgroups: usize,
    children: usize,
    zombies: usize,
}

impl Daemon {
    pub fn open(socket: Option<&Path>, ringmon: Option<&Path>, args: &[String]) -> Result<Self> {
        if let Some(s) = socket {
            let mut d = Self {
                socket: s.to_path_buf(),
                pid: 0,
                child: None,
                _dir: None,
            };
            d.pid = d.stats()?["pid"].as_i64().context("stats: pid")? as i32;
            return Ok(d);
        }
        let bin = match ringmon {
            Some(b) => b.to_path_buf(),
            None => std::env::current_exe()?
                .parent()
                .context("the stress binary's directory")?
                .join("ringmon"),
        };
        let dir = tempfile::Builder::new()
            .prefix("ringmon-stress")
            .tempdir()?;
        let socket = dir.path().join("ringmon.sock");
        let parent = format!("ringmon-stress-{}", std::process::id());
        let mut child = Command::new(&bin)
            .arg("--socket")
            .arg(&socket)
            .args(["daemon", "--root"])
            .arg(dir.path())
            .args(["--background", "--cgroup-parent", &parent])
            .args(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .with_context(|| format!("start {}", bin.display()))?;
        let mut line = String::new();
        BufReader::new(child.stdout.take().context("daemon stdout")?).read_line(&mut line)?;
        let Some(pid) = line
            .strip_prefix("ready ")
            .and_then(|p| p.trim().parse().ok())
        else {
            bail!("the daemon did not start: {line:?}");
        };
        Ok(Self {
            socket,
            pid,
            child: Some(child),
            _dir: Some(dir),
        })
    }

    /// Another handle on the same daemon, for a thread (it does not own the daemon).
    pub fn attach_to(socket: &Path, pid: i32) -> Self {
        Self {
            socket: socket.to_path_buf(),
            pid,
            child: None,
            _dir: None,
        }
    }

    pub fn client(&self) -> Result<Client> {
        Ok(Client::connect(&self.socket)?)
    }

    pub fn stats(&self) -> Result<serde_json::Value> {
        Ok(self.client()?.call("stats", serde_json::json!({}))?)
    }

    pub fn baseline(&self) -> Result<Baseline> {
        let s = self.stats()?;
        if s["proc_fds"] != s["ledger_fds"] || s["unaccounted_fds"] != serde_json::json!([]) {
            bail!("the daemon's /proc/PID/fd and its fd ledger differ: {s}");
        }
        let owned = |k: &str| s["fds_by_owner"][k].as_u64().unwrap_or(0);
        // Container cgroups: the warm inits' own (named by their reserved ids) are not counted.
        let warm: Vec<&str> = s["warm_inits"]["cgroup_ids"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|v| v.as_str())
            .collect();
        let cgroups = s["cgroup_parents"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|p| p.as_str())
            .map(|p| {
                std::fs::read_dir(p)
                    .map(|d| {
                        d.flatten()
                            .filter(|e| e.path().is_dir())
                            .filter(|e| !warm.iter().any(|w| e.file_name() == *w))
                            .count()
                    })
                    .unwrap_or(0)
            })
            .sum();
        let (children, zombies) = children_of(self.pid);
        Ok(Baseline {
            daemon_fds: owned("daemon"),
            container_fds: owned("containers"),
            warm_fds: owned("warm_inits"),
            // The daemon's own: the host-wide count moves with anything else on the host.
            ptys: s["ptys_held"].as_u64().unwrap_or(0),
            mounts: std::fs::read_to_string(format!("/proc/{}/mountinfo", self.pid))?
                .lines()
                .count(),
            cgroups,
            children,
            zombies,
        })
    }

    /// Fails, naming what differs, unless everything is back at `before`.
    pub fn check_back_to(&self, before: &Baseline) -> Result<()> {
        let now = self.baseline()?;
        if &now != before {
            bail!("leak: the daemon is not back at its baseline\n  before {before:?}\n  after  {now:?}");
        }
        Ok(())
    }

    /// Stops a daemon of our own (SIGTERM to the pid we started) and waits for it.
    pub fn close(mut self) -> Result<()> {
        if let Some(mut child) = self.child.take() {
            let pid = child.id() as i32;
            crate::sys::kill(pid, libc::SIGTERM).with_context(|| format!("kill {pid}"))?;
            let st = child.wait()?;
            if !st.success() {
                bail!("the daemon exited with {st}");
            }
        }
        Ok(())
    }
}

impl Drop for Daemon {
    /// A scenario that failed half-way still stops the daemon it started (by its pid).
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = crate::sys::kill(child.id() as i32, libc::SIGTERM);
            let _ = child.wait();
        }
    }
}

/// (children, zombies) of `pid`.
fn children_of(pid: i32) -> (usize, usize) {
    let mut all = 0;
    let mut zombies = 0;
    for e in std::fs::read_dir("/proc").into_iter().flatten().flatten() {
        let Ok(stat) = std::fs::read_to_string(e.path().join("stat")) else {
            continue;
        };
        let Some((_, rest)) = stat.rsplit_once(") ") else {
            continue;
        };
        let f: Vec<&str> = rest.split_whitespace().collect();
        if f.get(1).and_then(|p| p.parse::<i32>().ok()) == Some(pid) {
            all += 1;
            zombies += usize::from(f[0] == "Z");
        }
    }
    (all, zombies)
}
