// The console's view types nest deeply (components are not type-erased in
// debug builds either, see Cargo.toml); the default limit of 128 is too low.
#![recursion_limit = "256"]
use clap::Parser;

#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> std::process::ExitCode {
    // A transform worker (started by the server, never by hand) runs jq
    // programs one at a time and needs no runtime, flags or environment.
    if std::env::args_os()
        .nth(1)
        .is_some_and(|a| a == herald_engine::transform::WORKER_COMMAND)
    {
        return match herald_engine::transform::worker_main() {
            Ok(()) => std::process::ExitCode::SUCCESS,
            Err(_) => std::process::ExitCode::from(2),
        };
    }
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("herald: cannot start the runtime: {e}");
            return std::process::ExitCode::from(2);
        }
    };
    runtime.block_on(async {
        let cli = herald_server::cli::Cli::parse();
        match herald_server::cli::execute(cli).await {
            Ok(()) => std::process::ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("herald: {e:#}");
                std::process::ExitCode::from(2)
            }
        }
    })
}
