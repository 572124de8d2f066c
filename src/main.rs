//! `ringmon`: parse argv, pick the personality (daemon, client command, container init, the
//! warm pool's zygote), exit with its code.

use clap::Parser;

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() {
    // The container init is exec'd once per container with exactly the argv the daemon
    // builds; it skips clap, whose command tree costs more to build than the init's own
    // work before its first syscall.
    if let Some(sync_fd) = ringmon::cli::init_argv(std::env::args_os()) {
        std::process::exit(ringmon::init::main(sync_fd));
    }
    if let Some(sync_fd) = ringmon::cli::zygote_argv(std::env::args_os()) {
        std::process::exit(ringmon::runtime::zygote::main(sync_fd));
    }
    let cli = ringmon::cli::Cli::parse();
    std::process::exit(ringmon::cli::main(cli));
}
