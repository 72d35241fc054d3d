//! `wasim`: a loopback WhatsApp server that a real whatsapp-rust client can pair with.
//!
//! One port serves the WebSocket chat endpoint (`/ws/chat`: WhatsApp framing, Noise XX,
//! binary stanzas) and the JSON admin API (`/admin/...`). Tests drive the same
//! operations in-process through [`Wasim`].

mod admin;
mod appstate;
mod blocklist;
mod conn;
pub mod directory;
mod events;
pub mod faults;
mod history;
mod media;
mod noise;
mod pairing;
mod persist;
mod picture;
mod prekeys;
mod signal;
mod state;
pub mod stats;
mod usync;

pub use admin::admin_router;
pub use directory::{
    AccountInfo, AddressBookContact, DeviceInfo, DirectoryUser, UserEvent, UsersBody, parse_seed,
    seed_from_file,
};
pub use faults::Fault;
pub use stats::{AccountStats, Stats};

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;

/// Settings of a wasim instance.
#[derive(Debug, Clone)]
pub struct WasimConfig {
    /// WebSocket connections served at once; more are refused with 503.
    pub max_connections: usize,
    /// Account used by `scan_qr` / `pair_code` when none is named.
    pub default_account: String,
    /// Push name of accounts created on the fly.
    pub default_push_name: String,
    /// The phone shares the app-state key as soon as a new companion uploaded its
    /// pre-keys (as real phones do). When false it only answers the companion's key
    /// request (which whatsapp-rust sends after a 10 s grace).
    pub auto_key_share: bool,
    /// Answer a first app-state sync (`return_snapshot="true"`) with a snapshot, as
    /// WhatsApp does: an encrypted blob on the media host (`w:m` media_conn →
    /// `media.wasim.invalid`), served by wasim at `GET /v/...`. The client's
    /// `HttpClient` must send `https://media.wasim.invalid/...` to wasim's port; off
    /// by default because a stock client cannot (patches from version 0 instead).
    pub snapshots: bool,
}

impl Default for WasimConfig {
    fn default() -> Self {
        Self {
            max_connections: 1024,
            default_account: "15550000001".to_string(),
            default_push_name: "Wasim Phone".to_string(),
            auto_key_share: true,
            snapshots: false,
        }
    }
}

/// A cheap-to-clone handle on one wasim instance (its state, and its listener once started).
#[derive(Clone)]
pub struct Wasim {
    pub(crate) shared: Arc<state::Shared>,
}

impl Wasim {
    /// A wasim with no listener yet: serve it with [`run`] or [`router`].
    pub fn new(config: WasimConfig) -> Wasim {
        Wasim {
            shared: Arc::new(state::Shared::new(config)),
        }
    }

    /// Binds `listen` (port 0 is fine) and serves in a background task until
    /// [`Wasim::shutdown`].
    pub async fn start(listen: SocketAddr, config: WasimConfig) -> anyhow::Result<Wasim> {
        let listener = tokio::net::TcpListener::bind(listen).await?;
        let handle = Wasim::new(config);
        let _ = handle.shared.addr.set(listener.local_addr()?);
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        *handle.shared.stop.lock().unwrap() = Some(tx);
        let h2 = handle.clone();
        let task = tokio::spawn(async move {
            if let Err(e) = run(listener, h2, async move {
                let _ = rx.await;
            })
            .await
            {
                tracing::warn!("wasim stopped: {e}");
            }
        });
        *handle.shared.task.lock().unwrap() = Some(task);
        Ok(handle)
    }

    /// The address the listener is bound to: known when [`Wasim::start`] returns, or once
    /// [`run`] has started (`0.0.0.0:0` before).
    pub fn addr(&self) -> SocketAddr {
        self.shared
            .addr
            .get()
            .copied()
            .unwrap_or_else(|| SocketAddr::from(([0, 0, 0, 0], 0)))
    }

    /// `ws://HOST:PORT/ws/chat`, the URL a client's transport connects to.
    pub fn ws_url(&self) -> String {
        format!("ws://{}/ws/chat", self.addr())
    }

    /// `http://HOST:PORT/admin`
    pub fn admin_url(&self) -> String {
        format!("http://{}/admin", self.addr())
    }

    /// Upserts directory users: given fields overwrite, absent ones stay; a LID is
    /// assigned to new users without one.
    pub async fn upsert_users(&self, users: Vec<DirectoryUser>) -> anyhow::Result<()> {
        self.shared.touch();
        self.shared.upsert_users(users).await
    }

    /// The directory as it stands.
    pub async fn users(&self) -> Vec<DirectoryUser> {
        self.shared.users().await
    }

    /// The "phone" of `account` (the default account when `None`; created when new)
    /// scans a QR string a client showed.
    pub async fn scan_qr(&self, qr: &str, account: Option<&str>) -> anyhow::Result<()> {
        self.shared.touch();
        pairing::scan_qr(&self.shared, qr, account).await
    }

    /// The phone of `account` enters the pair code a client showed.
    pub async fn pair_code(&self, account: &str, code: &str) -> anyhow::Result<()> {
        self.shared.touch();
        pairing::enter_pair_code(&self.shared, account, code).await
    }

    /// Adds (or renames) an address-book contact of `account`, pushed to its linked
    /// devices as an app-state `contact` mutation.
    pub async fn add_contact(
        &self,
        account: &str,
        contact: AddressBookContact,
    ) -> anyhow::Result<()> {
        self.shared.touch();
        appstate::add_contact(&self.shared, account, contact).await
    }

    /// The app-state key `(key_id, key_data)` the phone of `account` shares with its
    /// companions, for tests that build app-state patches of their own.
    pub async fn app_state_key(&self, account: &str) -> Option<(Vec<u8>, [u8; 32])> {
        let w = self.shared.world.lock().await;
        w.accounts
            .get(&directory::normalize_phone(account))
            .map(|a| (a.appstate.key_id.clone(), a.appstate.key_data))
    }

    /// The public identity key of `user_phone`'s phone, as a client fetching its
    /// keys sees it (it changes with [`UserEvent::Identity`]).
    pub async fn identity_key(&self, user_phone: &str) -> Option<[u8; 32]> {
        let w = self.shared.world.lock().await;
        w.users
            .get(&directory::normalize_phone(user_phone))
            .map(|u| u.keys.identity_pub())
    }

    /// Makes `user_phone` cause an event seen by the linked devices.
    pub async fn push_event(&self, user_phone: &str, event: UserEvent) -> anyhow::Result<()> {
        self.shared.touch();
        conn::push_event(&self.shared, user_phone, event).await
    }

    /// Applies a fault.
    pub async fn fault(&self, fault: Fault) -> anyhow::Result<()> {
        self.shared.touch();
        state::apply_fault(&self.shared, fault).await
    }

    /// IQ counters per account.
    pub async fn stats(&self) -> Stats {
        self.shared.stats().await
    }

    /// Accounts and their linked devices.
    pub async fn accounts(&self) -> Vec<AccountInfo> {
        self.shared.accounts().await
    }

    /// Keeps the state in `path` (e.g. `data/sandbox/wasim.json`): loads it now when it
    /// exists (accounts, linked devices and their keys, directory, address books,
    /// app-state, blocklists: linked clients log in again without a scan), then saves it
    /// atomically whenever it changed (checked every half second) and on shutdown.
    /// Call it before clients connect (it fails while wasim is busy); needs a Tokio
    /// runtime. Returns whether a saved state was loaded.
    pub fn persist_to(&self, path: impl Into<std::path::PathBuf>) -> anyhow::Result<bool> {
        let path = path.into();
        let loaded = {
            let mut w =
                self.shared.world.try_lock().map_err(|_| {
                    anyhow::anyhow!("wasim is busy: persist_to before clients connect")
                })?;
            persist::load(&mut w, &path)?
        };
        *self.shared.state_file.lock().unwrap() = Some(path.clone());
        persist::spawn_saver(&self.shared, path);
        Ok(loaded)
    }

    /// Stops the listener started by [`Wasim::start`] and closes every connection.
    pub async fn shutdown(self) {
        let state_file = self.shared.state_file.lock().unwrap().clone();
        if let Some(path) = state_file
            && let Err(e) = persist::write(&self.shared, &path).await
        {
            tracing::warn!("wasim: state not saved to {}: {e}", path.display());
        }
        let stop = self.shared.stop.lock().unwrap().take();
        if let Some(tx) = stop {
            let _ = tx.send(());
        }
        self.shared.close_all().await;
        let task = self.shared.task.lock().unwrap().take();
        if let Some(task) = task {
            let _ = tokio::time::timeout(std::time::Duration::from_secs(5), task).await;
        }
    }
}

/// The whole app: `/ws/chat` and `/admin/...`.
pub fn router(handle: Wasim) -> axum::Router {
    chat_router(handle.clone())
        .merge(media::media_router(handle.clone()))
        .nest("/admin", admin_router(handle))
}

/// Only the WebSocket endpoint `/ws/chat` (honours `max_connections`).
pub fn chat_router(handle: Wasim) -> axum::Router {
    conn::ws_router(handle)
}

/// Serves `handle` on `listener` until `shutdown` resolves.
pub async fn run(
    listener: tokio::net::TcpListener,
    handle: Wasim,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    let addr = listener.local_addr()?;
    let _ = handle.shared.addr.set(addr);
    let app = router(handle.clone());
    let shared = handle.shared.clone();
    axum::serve(listener, app)
        .with_graceful_shutdown(async move {
            shutdown.await;
            shared.close_all().await;
        })
        .await?;
    Ok(())
}
