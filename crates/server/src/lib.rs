//! The wacontacts server: configuration, wiring, CLI and the HTTP app.

pub mod api;
pub mod app;
pub mod auth;
pub mod callbacks;
pub mod cli;
pub mod clock;
pub mod config;
pub mod error;
pub mod lease;
pub mod metrics;
pub mod numbers_cli;
pub mod onprem_auth;
#[cfg(feature = "sandbox")]
pub mod sandbox;
pub mod state;
pub mod status_catchup;
pub mod telemetry;
pub mod webhooks;

pub use app::{Application, Limits, router};
pub use config::Settings;
