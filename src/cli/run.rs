//! `ringmon run`: create + start, stream the output, exit with the container's code.

use std::io::IsTerminal;
use std::path::Path;

use anyhow::Result;
use clap::Args;

use super::CreateArgs;

#[derive(Args, Debug)]
pub struct RunArgs {
    /// Remove the container when it exits (done by the daemon, even if this client dies)
    #[arg(long)]
    pub rm: bool,
    /// Detach: print the id and return once the container runs
    #[arg(short = 'd', long)]
    pub detach: bool,
    #[command(flatten)]
    pub create: CreateArgs,
}

pub fn run(a: RunArgs, socket: &Path) -> Result<i32> {
    let mut c = super::connect::connect_or_start(socket)?;
    let res = c.call("create", a.create.params(a.rm)?)?;
    let id = res["id"].as_str().unwrap_or_default().to_string();
    let tty = res["tty"].as_bool().unwrap_or(a.create.tty);
    if a.detach {
        c.call("start", serde_json::json!({"id": id}))?;
        println!("{id}");
        return Ok(0);
    }
    let _raw = (tty && a.create.interactive && std::io::stdin().is_terminal())
        .then(super::attach::RawMode::enable);
    if a.create.interactive {
        super::attach::forward_stdin(&c, id.clone())?;
    }
    let result = super::attach::start_attached(&mut c, &id);
    if result.is_err() {
        // Never leave a created-but-unstarted container behind.
        let _ = c.call("delete", serde_json::json!({"id": id, "force": true}));
    }
    result
}
