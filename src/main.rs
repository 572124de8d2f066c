//! `ringmon`: parse argv, pick the personality (daemon, client command, container init),
//! exit with its code.

use clap::Parser;

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() {
    let cli = ringmon::cli::Cli::parse();
    std::process::exit(ringmon::cli::main(cli));
}
