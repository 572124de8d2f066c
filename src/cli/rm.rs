//! `ringmon rm`.

use std::path::Path;

use anyhow::Result;
use clap::Args;

#[derive(Args, Debug)]
pub struct RmArgs {
    /// Kill running containers first
    #[arg(short = 'f', long)]
    pub force: bool,
    #[arg(required = true)]
    pub ids: Vec<String>,
}

pub fn run(a: RmArgs, socket: &Path) -> Result<i32> {
    let mut c = super::connect::connect(socket)?;
    let mut code = 0;
    for id in &a.ids {
        match c.call("delete", serde_json::json!({"id": id, "force": a.force})) {
            Ok(_) => println!("{id}"),
            Err(e) => {
                eprintln!("ringmon: rm {id}: {e}");
                code = 1;
            }
        }
    }
    Ok(code)
}
