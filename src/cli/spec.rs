//! `ringmon spec`: writes a default config.json, like `runc spec`.

use std::io::Write;
use std::path::PathBuf;

use anyhow::{Context, Result};
use clap::Args;

use crate::runtime::spec::defaults;

#[derive(Args, Debug)]
pub struct SpecArgs {
    /// Give the process a terminal
    #[arg(short = 't', long)]
    pub tty: bool,
    /// root.path to write [default: rootfs]
    #[arg(long, default_value = "rootfs")]
    pub rootfs: String,
    /// Directory to write config.json into
    #[arg(short = 'b', long, default_value = ".")]
    pub bundle: PathBuf,
}

pub fn run(a: SpecArgs) -> Result<i32> {
    let spec = defaults::runc_like(a.tty, &a.rootfs);
    let path = a.bundle.join("config.json");
    let mut text = serde_json::to_string_pretty(&spec)?;
    text.push('\n');
    // create_new: never overwrite a bundle's existing config.json (runc refuses too).
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(&path)
        .with_context(|| format!("create {}", path.display()))?;
    f.write_all(text.as_bytes())
        .with_context(|| format!("write {}", path.display()))?;
    Ok(0)
}
