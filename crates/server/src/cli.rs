//! The command line: `wacontacts serve` and `wacontacts numbers …`.

use clap::{Parser, Subcommand};

use crate::app::{Application, shutdown_signal};
use crate::auth::KeySource;
use crate::config::{ServeArgs, Settings};

#[derive(Debug, Parser)]
#[command(name = "wacontacts", version, about = "WhatsApp contacts over HTTP")]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
#[allow(clippy::large_enum_variant)] // parsed once per process: size is no concern
pub enum Command {
    /// Run the HTTP server.
    Serve(ServeArgs),
    /// Work with phone numbers offline (no session needed).
    Numbers(crate::numbers_cli::NumbersArgs),
}

/// Parses the command line and runs it.
pub fn run() -> anyhow::Result<()> {
    let cli = Cli::parse();
    match cli.command {
        Command::Serve(args) => serve(args),
        Command::Numbers(args) => crate::numbers_cli::run(args),
    }
}

fn serve(args: ServeArgs) -> anyhow::Result<()> {
    crate::telemetry::init();
    let settings = Settings::resolve(&args, std::env::var("WACONTACTS_API_KEY").ok())?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async move {
        let app = Application::build(settings).await?;
        let url = format!("http://{}", app.addr());
        println!("wacontacts listening on {url}");
        println!("API docs: {url}/docs");
        match app.key_source() {
            KeySource::Configured => {
                println!("API key: as configured (WACONTACTS_API_KEY or config file)")
            }
            KeySource::File(path) => {
                println!("API key: in {} (send it as X-Api-Key)", path.display())
            }
        }
        app.run_until_stopped(shutdown_signal()).await
    })
}
