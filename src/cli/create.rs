//! `ringmon create`.

use std::path::Path;

use anyhow::Result;

use super::CreateArgs;

pub fn run(a: CreateArgs, socket: &Path) -> Result<i32> {
    let mut c = super::connect::connect_or_start(socket)?;
    let res = c.call("create", a.params(false)?)?;
    println!("{}", res["id"].as_str().unwrap_or_default());
    Ok(0)
}
