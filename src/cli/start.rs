//! `ringmon start`.

use std::path::Path;

use anyhow::Result;
use clap::Args;

#[derive(Args, Debug)]
pub struct StartArgs {
    /// Attach to the output and exit with the container's exit code
    #[arg(short = 'a', long)]
    pub attach: bool,
    #[arg(required = true)]
    pub ids: Vec<String>,
}

pub fn run(a: StartArgs, socket: &Path) -> Result<i32> {
    let mut c = super::connect::connect(socket)?;
    if a.attach {
        anyhow::ensure!(a.ids.len() == 1, "start --attach takes one container");
        return super::attach::start_attached(&mut c, &a.ids[0]);
    }
    let mut code = 0;
    for id in &a.ids {
        match c.call("start", serde_json::json!({"id": id})) {
            Ok(_) => println!("{id}"),
            Err(e) => {
                eprintln!("ringmon: start {id}: {e}");
                code = super::EXIT_RINGMON_ERROR;
            }
        }
    }
    Ok(code)
}
