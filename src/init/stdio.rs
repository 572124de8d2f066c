//! The init's stdio: a pty whose slave becomes the controlling terminal on 0/1/2, or the
//! pipes the daemon passed.

use std::io;
use std::os::fd::{AsFd, OwnedFd};

use rustix::fs::{Mode, OFlags};
use rustix::pty::OpenptFlags;

use crate::runtime::handshake::Job;

/// Sets up 0/1/2; in tty mode returns the pty master, to be sent to the daemon.
pub fn setup(job: &Job, fds: Vec<OwnedFd>) -> io::Result<Option<OwnedFd>> {
    if job.tty {
        return tty(job).map(Some);
    }
    let mut fds = fds.into_iter();
    let (Some(out), Some(err)) = (fds.next(), fds.next()) else {
        return Err(io::Error::other(
            "pipe mode job arrived without stdout/stderr fds",
        ));
    };
    let stdin = match fds.next() {
        Some(fd) => fd,
        None => open_null()?,
    };
    rustix::stdio::dup2_stdin(&stdin).map_err(|e| ctx("dup2 stdin", e))?;
    rustix::stdio::dup2_stdout(&out).map_err(|e| ctx("dup2 stdout", e))?;
    rustix::stdio::dup2_stderr(&err).map_err(|e| ctx("dup2 stderr", e))?;
    Ok(None)
}

fn ctx(what: &str, e: rustix::io::Errno) -> io::Error {
    io::Error::other(format!("{what}: {e}"))
}

fn open_null() -> io::Result<OwnedFd> {
    rustix::fs::open("/dev/null", OFlags::RDWR | OFlags::CLOEXEC, Mode::empty())
        .map_err(|e| ctx("openat /dev/null", e))
}

fn tty(job: &Job) -> io::Result<OwnedFd> {
    // After pivot_root, /dev/ptmx is the container's own devpts instance (pts/ptmx).
    let master =
        rustix::pty::openpt(OpenptFlags::RDWR | OpenptFlags::NOCTTY | OpenptFlags::CLOEXEC)
            .map_err(|e| ctx("openat /dev/ptmx", e))?;
    rustix::pty::grantpt(&master).map_err(|e| ctx("grantpt", e))?;
    rustix::pty::unlockpt(&master).map_err(|e| ctx("unlockpt", e))?;
    // The init leads a session of its own since its start (`init::run`): the slave can
    // become its controlling terminal.
    // TIOCGPTPEER opens the slave through the master, with no path lookup to race.
    let slave = rustix::pty::ioctl_tiocgptpeer(
        &master,
        OpenptFlags::RDWR | OpenptFlags::NOCTTY | OpenptFlags::CLOEXEC,
    )
    .map_err(|e| ctx("ioctl TIOCGPTPEER", e))?;
    rustix::process::ioctl_tiocsctty(&slave).map_err(|e| ctx("ioctl TIOCSCTTY", e))?;
    if let Some((rows, cols)) = job.winsize {
        let ws = rustix::termios::Winsize {
            ws_row: rows,
            ws_col: cols,
            ws_xpixel: 0,
            ws_ypixel: 0,
        };
        rustix::termios::tcsetwinsize(&slave, ws).map_err(|e| ctx("ioctl TIOCSWINSZ", e))?;
    }
    rustix::stdio::dup2_stdin(slave.as_fd()).map_err(|e| ctx("dup2 stdin", e))?;
    rustix::stdio::dup2_stdout(slave.as_fd()).map_err(|e| ctx("dup2 stdout", e))?;
    rustix::stdio::dup2_stderr(slave.as_fd()).map_err(|e| ctx("dup2 stderr", e))?;
    Ok(master)
}
