//! Finding the daemon, and starting one in the background when none answers.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use anyhow::{bail, Context, Result};

use crate::api::client::{Client, ClientError};
use crate::daemon::config::DEFAULT_SOCKET;

pub fn socket_path(flag: Option<&Path>) -> PathBuf {
    flag.map(Path::to_path_buf)
        .unwrap_or_else(|| PathBuf::from(DEFAULT_SOCKET))
}

/// The daemon's root for a socket: its directory (so /run/ringmon/ringmon.sock -> /run/ringmon).
pub fn root_for(socket: &Path) -> PathBuf {
    socket
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .map(Path::to_path_buf)
        .unwrap_or_else(|| PathBuf::from(crate::daemon::config::DEFAULT_ROOT))
}

pub fn connect(socket: &Path) -> Result<Client> {
    Client::connect(socket).map_err(|e| {
        anyhow::anyhow!(
            "{e} (is `ringmon daemon` running? start one, or use `ringmon run`, which starts it)"
        )
    })
}

/// Connects, starting a background daemon first if nothing answers.
pub fn connect_or_start(socket: &Path) -> Result<Client> {
    match Client::connect(socket) {
        Ok(c) => return Ok(c),
        Err(ClientError::Connect(_, e))
            if matches!(
                e.kind(),
                std::io::ErrorKind::NotFound | std::io::ErrorKind::ConnectionRefused
            ) => {}
        Err(e) => return Err(e.into()),
    }
    let root = root_for(socket);
    std::fs::create_dir_all(&root).with_context(|| format!("mkdir {}", root.display()))?;
    let log_path = root.join("daemon.log");
    let log = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&log_path)
        .with_context(|| format!("open {}", log_path.display()))?;
    let exe = std::env::current_exe().context("readlink /proc/self/exe")?;
    let mut child = Command::new(exe)
        .arg("--socket")
        .arg(socket)
        .arg("daemon")
        .arg("--root")
        .arg(&root)
        .arg("--background")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(log)
        .process_group(0)
        .spawn()
        .context("spawn ringmon daemon")?;
    // The daemon writes "ready <pid>" on stdout once it listens: an event, not a poll.
    let mut line = String::new();
    if let Some(mut out) = child.stdout.take() {
        let mut buf = [0u8; 64];
        while !line.contains('\n') {
            let n = out.read(&mut buf).context("read daemon readiness")?;
            if n == 0 {
                break;
            }
            line.push_str(&String::from_utf8_lossy(&buf[..n]));
        }
    }
    if !line.starts_with("ready") {
        let status = child.try_wait().ok().flatten();
        bail!(
            "the background daemon did not start ({}); see {}",
            status
                .map(|s| s.to_string())
                .unwrap_or_else(|| "no readiness line".into()),
            log_path.display()
        );
    }
    eprintln!(
        "ringmon: started a daemon in the background (pid {}, socket {}, log {})",
        child.id(),
        socket.display(),
        log_path.display()
    );
    Client::connect(socket).map_err(Into::into)
}

use std::os::unix::process::CommandExt;
