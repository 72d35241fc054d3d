//! `serve --sandbox`: a whole WhatsApp in the process. wasim runs on a loopback port,
//! sessions link to it, each new QR is scanned by wasim's "phone" (unless manual
//! scanning is asked for), and wasim's admin API is served under `/sandbox/admin`
//! behind our API key. Nothing leaves the machine. wasim's state (accounts, linked
//! devices and their keys, directory, address books, app-state, blocklists) is kept in
//! `DATA_DIR/sandbox/wasim.json`, so a restart restores every session without a scan.

use std::path::{Path, PathBuf};

use anyhow::Context;
use wacontacts_core::session::SessionName;
use wacontacts_engine::Engine;
use wasim::{AddressBookContact, DirectoryUser, Wasim, WasimConfig};

/// The demo directory used when no seed file is given.
const DEMO_SEED: &str = include_str!("sandbox_seed.json");

/// The client version announced to wasim (nothing is fetched from WhatsApp).
pub const CLIENT_VERSION: (u32, u32, u32) = (2, 3000, 1_000_000_000);

/// A running sandbox.
#[derive(Clone)]
pub struct Sandbox {
    wasim: Wasim,
    users: Vec<DirectoryUser>,
}

impl Sandbox {
    /// Starts wasim on a loopback port, seeded from `seed` or the demo directory.
    pub async fn start(seed: Option<&Path>) -> anyhow::Result<Self> {
        let users = match seed {
            Some(path) => wasim::seed_from_file(path)
                .with_context(|| format!("Failed to read the sandbox seed {}", path.display()))?,
            None => wasim::parse_seed(DEMO_SEED).context("Failed to parse the demo seed")?,
        };
        // A first sync gets the address book as a snapshot, as from WhatsApp; the
        // engine fetches it from wasim's port (a sandbox build routes the media host).
        let config = WasimConfig {
            snapshots: true,
            ..WasimConfig::default()
        };
        let wasim = Wasim::start("127.0.0.1:0".parse()?, config)
            .await
            .context("Failed to start the sandbox WhatsApp")?;
        wasim.upsert_users(users.clone()).await?;
        Ok(Self { wasim, users })
    }

    /// The file that keeps the sandbox's WhatsApp in `data_dir`.
    pub fn state_file(data_dir: &Path) -> PathBuf {
        data_dir.join("sandbox").join("wasim.json")
    }

    /// Loads the sandbox's WhatsApp from `data_dir` (when saved before) and keeps saving
    /// it there. Must run before sessions connect. Returns whether a state was loaded.
    pub fn persist_in(&self, data_dir: &Path) -> anyhow::Result<bool> {
        let file = Self::state_file(data_dir);
        let loaded = self
            .wasim
            .persist_to(&file)
            .with_context(|| format!("Failed to load the sandbox state {}", file.display()))?;
        if loaded {
            tracing::info!(file = %file.display(), "sandbox state restored");
        }
        Ok(loaded)
    }

    /// Where sessions connect.
    pub fn ws_url(&self) -> String {
        self.wasim.ws_url()
    }

    /// wasim's admin routes, to mount under `/sandbox/admin`.
    pub fn admin_router(&self) -> axum::Router {
        wasim::admin_router(self.wasim.clone())
    }

    /// The sandbox phone number that links `session`: stable per name.
    pub fn account_for(session: &SessionName) -> String {
        // FNV-1a: stable across runs and platforms.
        let mut hash: u64 = 0xcbf29ce484222325;
        for b in session.as_str().bytes() {
            hash ^= u64::from(b);
            hash = hash.wrapping_mul(0x100000001b3);
        }
        format!("1555{:07}", hash % 10_000_000)
    }

    /// Scans every QR a session shows as that session's sandbox phone, after filling
    /// the phone's address book with the directory, so a new session has contacts.
    pub fn spawn_auto_scan(&self, engine: &Engine) -> tokio::task::JoinHandle<()> {
        let mut qrs = engine.subscribe_qr();
        let sandbox = self.clone();
        tokio::spawn(async move {
            loop {
                let qr = match qrs.recv().await {
                    Ok(qr) => qr,
                    Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => continue,
                    Err(tokio::sync::broadcast::error::RecvError::Closed) => break,
                };
                let account = Self::account_for(&qr.session);
                if let Err(e) = sandbox.link(&account, &qr.code).await {
                    tracing::warn!(session = %qr.session, error = %e, "sandbox scan failed");
                }
            }
        })
    }

    async fn link(&self, account: &str, qr: &str) -> anyhow::Result<()> {
        for user in &self.users {
            let contact = AddressBookContact {
                phone: user.phone.clone(),
                full_name: user.push_name.as_ref().map(|n| format!("{n} (saved)")),
                first_name: user
                    .push_name
                    .as_ref()
                    .and_then(|n| n.split_whitespace().next())
                    .map(str::to_owned),
            };
            self.wasim.add_contact(account, contact).await?;
        }
        self.wasim.scan_qr(qr, Some(account)).await
    }

    /// Stops wasim.
    pub async fn shutdown(self) {
        self.wasim.shutdown().await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accounts_are_stable_and_distinct() {
        let a = Sandbox::account_for(&SessionName::parse("default").unwrap());
        let b = Sandbox::account_for(&SessionName::parse("sales").unwrap());
        assert_eq!(
            a,
            Sandbox::account_for(&SessionName::parse("default").unwrap())
        );
        assert_ne!(a, b);
        assert_eq!(a.len(), 11);
    }

    #[test]
    fn demo_seed_parses() {
        assert!(wasim::parse_seed(DEMO_SEED).unwrap().len() >= 5);
    }
}
