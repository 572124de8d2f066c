//! Streaming a container's output to our stdout/stderr, forwarding stdin, and the local
//! terminal's raw mode. Shared by `run` and `start --attach`.

use std::io::{Read, Write};

use anyhow::Result;
use base64::Engine;

use crate::api::client::{into_result, Client, ClientError};
use crate::api::proto::{ErrorCode, ExitReport};

/// Request ids of forwarded stdin; they never collide with the main thread's.
const STDIN_IDS: u64 = 1 << 40;

/// Puts the local terminal in raw mode for as long as it lives.
pub struct RawMode {
    saved: Option<rustix::termios::Termios>,
}

impl RawMode {
    pub fn enable() -> Self {
        let stdin = std::io::stdin();
        let saved = rustix::termios::tcgetattr(&stdin).ok();
        if let Some(t) = &saved {
            let mut raw = t.clone();
            raw.make_raw();
            let _ = rustix::termios::tcsetattr(&stdin, rustix::termios::OptionalActions::Now, &raw);
        }
        Self { saved }
    }
}

impl Drop for RawMode {
    fn drop(&mut self) {
        if let Some(t) = &self.saved {
            let _ = rustix::termios::tcsetattr(
                std::io::stdin(),
                rustix::termios::OptionalActions::Now,
                t,
            );
        }
    }
}

/// Forwards our stdin to the container on a second handle of the connection.
pub fn forward_stdin(c: &Client, id: String) -> Result<()> {
    let mut w = c.writer()?;
    std::thread::spawn(move || {
        let mut buf = [0u8; 16 * 1024];
        let mut seq = STDIN_IDS;
        loop {
            let n = std::io::stdin().read(&mut buf).unwrap_or(0);
            let data = base64::engine::general_purpose::STANDARD.encode(&buf[..n]);
            let req = serde_json::json!({"v": 1, "id": seq, "method": "stdin",
                "params": {"id": id, "data": data, "eof": n == 0}});
            seq += 1;
            let mut line = serde_json::to_vec(&req).unwrap_or_default();
            line.push(b'\n');
            if w.write_all(&line).is_err() || n == 0 {
                return;
            }
        }
    });
    Ok(())
}

/// Starts `id` with its output attached; returns the container's exit code.
pub fn start_attached(c: &mut Client, id: &str) -> Result<i32> {
    let attach = c.send("attach", serde_json::json!({"id": id}))?;
    let start = c.send("start", serde_json::json!({"id": id}))?;
    stream_until_exit(c, attach, Some(start))
}

/// Prints output events of `attach` until its final reply (the exit). A failed start
/// other than an exec failure ends the stream with ringmon's error code.
pub fn stream_until_exit(c: &mut Client, attach: u64, start: Option<u64>) -> Result<i32> {
    let b64 = base64::engine::general_purpose::STANDARD;
    let mut stdout = std::io::stdout().lock();
    let mut stderr = std::io::stderr();
    loop {
        let m = c.next_message()?;
        if m.id == Some(attach) && m.event.as_deref() == Some("output") {
            let data = m
                .rest
                .get("data")
                .and_then(|d| d.as_str())
                .unwrap_or_default();
            let bytes = b64.decode(data).unwrap_or_default();
            if m.rest.get("stream").and_then(|s| s.as_str()) == Some("stderr") {
                let _ = stderr.write_all(&bytes);
            } else {
                let _ = stdout.write_all(&bytes);
                let _ = stdout.flush();
            }
            continue;
        }
        if m.event.as_deref() == Some("dropped") {
            let n = m.rest.get("bytes").and_then(|b| b.as_u64()).unwrap_or(0);
            let _ = writeln!(stderr, "ringmon: {n} bytes of output were not shown (too slow to read); they are in the log");
            continue;
        }
        if m.id.is_some_and(|id| id >= STDIN_IDS) && m.event.is_none() {
            if let Err(e) = into_result(m) {
                let _ = writeln!(stderr, "ringmon: input not delivered: {e}");
            }
            continue;
        }
        if m.id == start && m.event.is_none() {
            if let Err(ClientError::Api(e)) = into_result(m) {
                // An exec failure was also written to the terminal/stderr, and the exit
                // (127/126) follows on the attach stream.
                if e.code != ErrorCode::ExecFailed {
                    anyhow::bail!("start: {e}");
                }
            }
            continue;
        }
        if m.id == Some(attach) && m.event.is_none() {
            let v = into_result(m)?;
            let exit: ExitReport = serde_json::from_value(v)?;
            let _ = stdout.flush();
            if let Some(e) = &exit.removal_error {
                eprintln!("ringmon: {e}");
            }
            return Ok(if exit.exit_code < 0 {
                super::EXIT_RINGMON_ERROR
            } else {
                exit.exit_code
            });
        }
    }
}
