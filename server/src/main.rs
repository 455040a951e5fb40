// The console's view types nest deeply (components are not type-erased in
// debug builds either, see Cargo.toml); the default limit of 128 is too low.
#![recursion_limit = "256"]
use clap::Parser;

#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[tokio::main]
async fn main() -> std::process::ExitCode {
    let cli = herald_server::cli::Cli::parse();
    match herald_server::cli::execute(cli).await {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("herald: {e:#}");
            std::process::ExitCode::from(2)
        }
    }
}
