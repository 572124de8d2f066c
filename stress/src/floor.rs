//! `floor`: what the kernel alone costs for a container-like process, with no daemon:
//! clone3 with the namespace flags of ringmon's embedded default (mount, pid, uts, ipc;
//! `--net` adds network, as the busybox bundle's spec does) and an execve of the command.
//! Two instants per run: the exec done (a close-on-exec pipe reaches EOF), the floor of
//! ringmon's create -> running; and the exit reaped, the floor of a container's whole life.
//! `churn --floor` runs one of these after each container, so the ratios are pair by pair.

use std::ffi::CString;
use std::fs::File;
use std::io::Read;
use std::os::fd::{AsFd, OwnedFd};
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use clap::Args;
use serde_json::json;

use crate::report::{Output, Samples};

#[derive(Args, Debug, Clone)]
pub struct FloorArgs {
    /// Runs
    #[arg(long, default_value_t = 1000)]
    pub count: usize,
    /// Add a network namespace
    #[arg(long)]
    pub net: bool,
    /// The command, an absolute path and its arguments
    #[arg(default_values_t = ["/bin/true".to_string()])]
    pub command: Vec<String>,
}

/// One floor process's instants, from just before clone3.
#[derive(Clone, Copy)]
pub struct FloorRun {
    pub exec: Duration,
    pub reaped: Duration,
}

/// The floor's fixed parts: flags, argv, and /dev/null for the command's stdout.
pub struct Floor {
    flags: u64,
    argv: Vec<CString>,
    devnull: OwnedFd,
    pub label: String,
}

impl Floor {
    pub fn new(net: bool, command: &[String]) -> Result<Self> {
        let mut flags =
            (libc::CLONE_NEWNS | libc::CLONE_NEWPID | libc::CLONE_NEWUTS | libc::CLONE_NEWIPC)
                as u64;
        if net {
            flags |= libc::CLONE_NEWNET as u64;
        }
        let argv = command
            .iter()
            .map(|s| CString::new(s.as_str()))
            .collect::<Result<_, _>>()?;
        let devnull = File::options()
            .write(true)
            .open("/dev/null")
            .context("open /dev/null")?
            .into();
        let label = format!(
            "clone3(CLONE_NEWNS|NEWPID|NEWUTS|NEWIPC{}) + execve {command:?}",
            if net { "|NEWNET" } else { "" }
        );
        Ok(Self {
            flags,
            argv,
            devnull,
            label,
        })
    }

    /// One run; fails unless the command exits 0.
    pub fn once(&self) -> Result<FloorRun> {
        let (r, w) = rustix::pipe::pipe_with(rustix::pipe::PipeFlags::CLOEXEC)?;
        let t = Instant::now();
        let pidfd = crate::sys::clone3_exec(self.flags, &self.argv, self.devnull.as_fd())?;
        drop(w);
        // EOF once the child's copy of the write end closed: at its exec (or its exit).
        let mut byte = [0u8; 1];
        File::from(r)
            .read(&mut byte)
            .context("read the exec pipe")?;
        let exec = t.elapsed();
        let st = wait(pidfd.as_fd())?;
        let reaped = t.elapsed();
        if st != 0 {
            bail!("{:?} exited with status {st}", self.argv);
        }
        Ok(FloorRun { exec, reaped })
    }
}

pub fn run(a: &FloorArgs) -> Result<Output> {
    let f = Floor::new(a.net, &a.command)?;
    let (mut exec, mut life) = (Samples::default(), Samples::default());
    for _ in 0..a.count {
        let r = f.once()?;
        exec.push(r.exec);
        life.push(r.reaped);
    }
    let mut table = format!("floor: {} (no daemon)\n", f.label);
    table.push_str(&exec.row("clone3 -> exec done"));
    table.push_str(&life.row("clone3 -> exit reaped"));
    let json = json!({"scenario": "floor", "net": a.net, "command": a.command,
                      "exec": exec.json(), "lifetime": life.json()});
    Ok(Output { table, json })
}

/// waitid(P_PIDFD): the exit status (128+N for a signal).
fn wait(pidfd: std::os::fd::BorrowedFd<'_>) -> Result<i32> {
    use rustix::process::{waitid, WaitId, WaitIdOptions};
    let st = waitid(WaitId::PidFd(pidfd), WaitIdOptions::EXITED)?;
    let Some(st) = st else {
        bail!("waitid: no status")
    };
    Ok(match (st.exit_status(), st.terminating_signal()) {
        (Some(code), _) => code,
        (None, Some(sig)) => 128 + sig,
        _ => -1,
    })
}
