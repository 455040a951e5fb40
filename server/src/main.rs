use clap::Parser;

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
