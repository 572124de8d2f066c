//! `ringmon inspect`.

use std::path::Path;

use anyhow::Result;
use clap::Args;

#[derive(Args, Debug)]
pub struct InspectArgs {
    #[arg(required = true)]
    pub ids: Vec<String>,
}

pub fn run(a: InspectArgs, socket: &Path) -> Result<i32> {
    let mut c = super::connect::connect(socket)?;
    let mut out = Vec::new();
    for id in &a.ids {
        out.push(c.call("inspect", serde_json::json!({"id": id}))?);
    }
    println!("{}", serde_json::to_string_pretty(&out)?);
    Ok(0)
}
