//! `ringmon logs`: the container's output, reassembled from its CRI log.

use std::io::Write;
use std::path::Path;

use anyhow::Result;
use base64::Engine;
use clap::Args;

use crate::api::client::into_result;
use crate::logs::cri::{self, Stream};

#[derive(Args, Debug)]
pub struct LogsArgs {
    /// Keep streaming until the container stops
    #[arg(short = 'f', long)]
    pub follow: bool,
    /// Prefix each line with its timestamp
    #[arg(short = 't', long)]
    pub timestamps: bool,
    /// Print the raw CRI log records
    #[arg(long)]
    pub raw: bool,
    pub id: String,
}

pub fn run(a: LogsArgs, socket: &Path) -> Result<i32> {
    let mut c = super::connect::connect(socket)?;
    let req = c.send("logs", serde_json::json!({"id": a.id, "follow": a.follow}))?;
    let b64 = base64::engine::general_purpose::STANDARD;
    let mut pending = Vec::new();
    let mut out = std::io::stdout().lock();
    let mut err = std::io::stderr();
    let mut at_line_start = true;
    loop {
        let m = c.next_message()?;
        if m.id != Some(req) {
            continue;
        }
        if m.event.is_none() {
            into_result(m)?;
            return Ok(0);
        }
        let data = m
            .rest
            .get("data")
            .and_then(|d| d.as_str())
            .unwrap_or_default();
        pending.extend(b64.decode(data).unwrap_or_default());
        // Only whole records are parsed; a record cut by a chunk boundary waits.
        let Some(cut) = pending.iter().rposition(|&b| b == b'\n') else {
            continue;
        };
        let records: Vec<u8> = pending.drain(..=cut).collect();
        if a.raw {
            out.write_all(&records)?;
            continue;
        }
        cri::reassemble(&records, |stream, ts, bytes| {
            let w: &mut dyn Write = if stream == Stream::Stderr {
                &mut err
            } else {
                &mut out
            };
            if a.timestamps && at_line_start {
                let _ = write!(w, "{ts} ");
            }
            let _ = w.write_all(bytes);
            at_line_start = bytes.ends_with(b"\n");
        })
        .map_err(|e| anyhow::anyhow!("malformed log record: {e}"))?;
        out.flush()?;
    }
}
