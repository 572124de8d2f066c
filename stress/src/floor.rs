//! `floor`: what the kernel alone costs for a container-like process, with no daemon:
//! clone3 with the namespace flags of ringmon's embedded default (mount, pid, uts, ipc;
//! `--net` adds network, as the busybox bundle's spec does) and an execve of the command,
//! until it has exited and been reaped.

use std::ffi::CString;
use std::os::fd::AsFd;
use std::time::Instant;

use anyhow::{bail, Result};
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

pub fn run(a: &FloorArgs) -> Result<Output> {
    let mut flags =
        (libc::CLONE_NEWNS | libc::CLONE_NEWPID | libc::CLONE_NEWUTS | libc::CLONE_NEWIPC) as u64;
    if a.net {
        flags |= libc::CLONE_NEWNET as u64;
    }
    let argv: Vec<CString> = a
        .command
        .iter()
        .map(|s| CString::new(s.as_str()))
        .collect::<Result<_, _>>()?;
    let mut s = Samples::default();
    for _ in 0..a.count {
        let t = Instant::now();
        let pidfd = crate::sys::clone3_exec(flags, &argv)?;
        let st = rustix_wait(pidfd.as_fd())?;
        s.push(t.elapsed());
        if st != 0 {
            bail!("{:?} exited with status {st}", a.command);
        }
    }
    let mut table = format!(
        "floor: clone3(CLONE_NEWNS|NEWPID|NEWUTS|NEWIPC{}) + execve {:?} until reaped\n",
        if a.net { "|NEWNET" } else { "" },
        a.command
    );
    table.push_str(&s.row("clone3 -> exit reaped"));
    let json = json!({"scenario": "floor", "net": a.net, "command": a.command,
                      "lifetime": s.json()});
    Ok(Output { table, json })
}

/// waitid(P_PIDFD): the exit status (128+N for a signal).
fn rustix_wait(pidfd: std::os::fd::BorrowedFd<'_>) -> Result<i32> {
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
