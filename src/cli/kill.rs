//! `ringmon kill`.

use std::path::Path;

use anyhow::Result;
use clap::Args;

#[derive(Args, Debug)]
pub struct KillArgs {
    /// Signal name or number
    #[arg(short = 's', long, default_value = "TERM")]
    pub signal: String,
    /// Signal every process of the container (its cgroup), not only its init
    #[arg(short = 'a', long)]
    pub all: bool,
    #[arg(required = true)]
    pub ids: Vec<String>,
}

pub fn run(a: KillArgs, socket: &Path) -> Result<i32> {
    let mut c = super::connect::connect(socket)?;
    for id in &a.ids {
        c.call(
            "kill",
            serde_json::json!({"id": id, "signal": a.signal, "all": a.all}),
        )?;
        println!("{id}");
    }
    Ok(0)
}
