//! `ringmon stop`.

use std::path::Path;

use anyhow::Result;
use clap::Args;

#[derive(Args, Debug)]
pub struct StopArgs {
    /// Seconds to wait after the stop signal before killing every process
    /// [default: the daemon's --stop-timeout]
    #[arg(short = 't', long = "time", alias = "timeout")]
    pub time: Option<f64>,
    /// The first signal [default: the container's stop signal, SIGTERM unless its spec says]
    #[arg(short = 's', long)]
    pub signal: Option<String>,
    #[arg(required = true)]
    pub ids: Vec<String>,
}

pub fn run(a: StopArgs, socket: &Path) -> Result<i32> {
    let mut c = super::connect::connect(socket)?;
    let mut code = 0;
    for id in &a.ids {
        let params = serde_json::json!({"id": id, "timeout": a.time, "signal": a.signal});
        match c.call("stop", params) {
            Ok(_) => println!("{id}"),
            Err(e) => {
                eprintln!("ringmon: stop {id}: {e}");
                code = 1;
            }
        }
    }
    Ok(code)
}
