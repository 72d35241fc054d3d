//! `wasim --listen 127.0.0.1:5222 --seed users.json`

use clap::Parser;
use std::net::SocketAddr;

#[derive(Parser, Debug)]
#[command(
    name = "wasim",
    about = "A loopback WhatsApp server for tests and sandboxes"
)]
struct Args {
    /// Address to listen on (WebSocket `/ws/chat` and admin `/admin` on the same port).
    #[arg(long, default_value = "127.0.0.1:5222")]
    listen: SocketAddr,
    /// JSON file of directory users: `{"users": [{"phone": ...}, ...]}`.
    #[arg(long)]
    seed: Option<std::path::PathBuf>,
    /// Most WebSocket connections served at once.
    #[arg(long, default_value_t = 1024)]
    max_connections: usize,
    /// Keep the state (accounts, linked devices, directory, address books...) in this
    /// JSON file: loaded at start, saved on change; linked clients survive a restart.
    #[arg(long)]
    state: Option<std::path::PathBuf>,
    /// Answer first app-state syncs with a snapshot, as WhatsApp does. The snapshot is
    /// downloaded from `https://media.wasim.invalid/…`, which the client must route to
    /// this port (a sandbox build of wacontacts does; other clients need the same).
    #[arg(long)]
    snapshots: bool,
    /// Account used when a QR scan names none.
    #[arg(long, default_value = "15550000001")]
    default_account: String,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        .init();
    let config = wasim::WasimConfig {
        max_connections: args.max_connections,
        default_account: args.default_account,
        snapshots: args.snapshots,
        ..Default::default()
    };
    let listener = tokio::net::TcpListener::bind(args.listen).await?;
    let handle = wasim::Wasim::new(config);
    if let Some(state) = &args.state
        && handle.persist_to(state)?
    {
        eprintln!("wasim: state restored from {}", state.display());
    }
    if let Some(seed) = &args.seed {
        let users = wasim::seed_from_file(seed)?;
        eprintln!("wasim: {} users from {}", users.len(), seed.display());
        handle.upsert_users(users).await?;
    }
    eprintln!(
        "wasim: listening on ws://{0}/ws/chat (admin: http://{0}/admin)",
        listener.local_addr()?
    );
    wasim::run(listener, handle, async {
        let _ = tokio::signal::ctrl_c().await;
    })
    .await
}
