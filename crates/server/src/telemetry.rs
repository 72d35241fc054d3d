//! Logging via tracing. `RUST_LOG` filters (default `info`); `WACONTACTS_LOG_FORMAT=json`
//! switches to JSON lines. Info level never carries secrets or phone numbers.

use tracing_subscriber::EnvFilter;

/// Installs the global subscriber once; later calls are ignored.
pub fn init() {
    let filter = EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| EnvFilter::new("info,sqlx=warn,whatsapp_rust=warn,wacore=warn"));
    let json = std::env::var("WACONTACTS_LOG_FORMAT").is_ok_and(|v| v == "json");
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_target(true);
    let _ = if json {
        builder.json().try_init()
    } else {
        builder.try_init()
    };
}
