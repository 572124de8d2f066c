//! The OCI runtime a peer runs under conmon: runc, or crun. crun 1.8 refuses a hybrid
//! cgroup host (v1 controllers beside a cgroup2 mount), so on such a host it runs in a
//! mount namespace of its own where the cgroup2 mount is gone and it sees plain v1: a
//! helper process (`unshare --mount --propagation private`, then `umount`, then `sleep`)
//! holds that namespace, and conmon and every crun command enter it with `nsenter --mount`
//! (which execs in place: the pid stays the one we spawned). The helper is ours and is
//! killed by pid when the runtime is dropped.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

use anyhow::{Context, Result};

pub struct Runtime {
    pub name: &'static str,
    pub bin: PathBuf,
    /// The helper holding crun's mount namespace, on a hybrid host.
    holder: Option<Child>,
}

impl Runtime {
    /// The runtime `name` ("runc" or "crun"), or why it cannot run here.
    pub fn open(name: &'static str) -> Result<std::result::Result<Self, String>> {
        let Some(bin) = crate::peers::find(name) else {
            return Ok(Err(format!(
                "{name} is not installed (not in PATH nor the system directories)"
            )));
        };
        let mut rt = Self::at(name, bin);
        let hide = cgroup2_mounts_beside_v1();
        if name == "crun" && !hide.is_empty() {
            match hold_namespace_without(&hide)? {
                Ok(child) => rt.holder = Some(child),
                Err(why) => return Ok(Err(why)),
            }
        }
        Ok(Ok(rt))
    }

    /// `bin` as the runtime `name`, run as it is (no namespace of its own).
    pub fn at(name: &'static str, bin: PathBuf) -> Self {
        Self {
            name,
            bin,
            holder: None,
        }
    }

    /// What the report calls it, with the namespace trick when it is used.
    pub fn label(&self) -> String {
        match &self.holder {
            Some(_) => format!(
                "{} (in a mount namespace without the cgroup2 mount)",
                self.name
            ),
            None => self.name.to_string(),
        }
    }

    /// A command running `bin` where this runtime runs: in the held namespace, if any.
    pub fn command(&self, bin: &Path) -> Command {
        match &self.holder {
            Some(h) => {
                let mut c = Command::new("nsenter");
                c.arg(format!("--mount=/proc/{}/ns/mnt", h.id()))
                    .arg("--")
                    .arg(bin);
                c
            }
            None => Command::new(bin),
        }
    }
}

impl Drop for Runtime {
    fn drop(&mut self) {
        if let Some(mut h) = self.holder.take() {
            // Our own child, by pid; then reaped.
            let _ = crate::sys::kill(h.id() as i32, libc::SIGKILL);
            let _ = h.wait();
        }
    }
}

/// cgroup2 mount points of a host that also has v1 hierarchies (hybrid); empty otherwise.
fn cgroup2_mounts_beside_v1() -> Vec<String> {
    let info = std::fs::read_to_string("/proc/self/mountinfo").unwrap_or_default();
    let (mut v1, mut v2) = (false, Vec::new());
    for line in info.lines() {
        let Some((left, right)) = line.split_once(" - ") else {
            continue;
        };
        let fstype = right.split_whitespace().next().unwrap_or("");
        let point = left.split_whitespace().nth(4).unwrap_or("");
        match fstype {
            "cgroup" => v1 = true,
            "cgroup2" => v2.push(point.to_string()),
            _ => {}
        }
    }
    if v1 {
        v2
    } else {
        Vec::new()
    }
}

/// Starts the helper: a private mount namespace with `points` unmounted, held by `sleep`.
/// Returns once the unmounts are done (the helper says so on its stdout).
fn hold_namespace_without(points: &[String]) -> Result<std::result::Result<Child, String>> {
    let script = points
        .iter()
        .map(|p| format!("umount '{p}' && "))
        .collect::<String>()
        + "echo ready && exec sleep 2147483647";
    let mut child = Command::new("unshare")
        .args(["--mount", "--propagation", "private", "--", "sh", "-c"])
        .arg(&script)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .context("spawn unshare --mount")?;
    let mut line = String::new();
    let stdout = child.stdout.take().context("the helper's stdout")?;
    BufReader::new(stdout)
        .read_line(&mut line)
        .context("read the mount namespace helper's stdout")?;
    if line.trim() != "ready" {
        let out = child.wait_with_output()?;
        return Ok(Err(format!(
            "could not hide the cgroup2 mount from crun ({script}): {}",
            String::from_utf8_lossy(&out.stderr).trim()
        )));
    }
    Ok(Ok(child))
}
