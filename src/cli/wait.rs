//! `ringmon wait`: prints each container's exit code; exits with the last one.

use std::path::Path;

use anyhow::Result;
use clap::Args;

#[derive(Args, Debug)]
pub struct WaitArgs {
    #[arg(required = true)]
    pub ids: Vec<String>,
}

pub fn run(a: WaitArgs, socket: &Path) -> Result<i32> {
    let mut c = super::connect::connect(socket)?;
    let mut last = 0;
    for id in &a.ids {
        let res = c.call("wait", serde_json::json!({"id": id}))?;
        last = res["exit_code"].as_i64().unwrap_or(-1) as i32;
        println!("{last}");
    }
    Ok(last)
}
