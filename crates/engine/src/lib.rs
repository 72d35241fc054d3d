//! WhatsApp sessions of wacontacts on whatsapp-rust: the only crate of ours (with
//! wasim) that links it.
//!
//! An [`Engine`] owns every session of the process. A session is one companion
//! device linked to one WhatsApp account, like WhatsApp Web: [`Engine::start`]
//! shows QR codes ([`Engine::qr`]) or asks for a pair code
//! ([`Engine::request_code`]) for a new device, and logs in with the stored keys
//! otherwise. Its device state (keys, Signal sessions, app-state) lives in our
//! database, through [`wacontacts_store::device::Devices`]; a per-session
//! `device.db` of an older version is imported at the session's first start.
//! Status changes are broadcast ([`Engine::subscribe`]); what WhatsApp's events
//! tell about contacts goes to the [`ContactEventSink`] given to [`Engine::new`];
//! [`Engine::directory`] answers questions to WhatsApp.
//!
//! ```text
//! start ─► STARTING ─► SCAN_QR_CODE ─(scan / code)─► STARTING ─► WORKING
//!            └──────────(stored keys)────────────────────────────┘
//! WORKING ─(connection lost)─► STARTING ─(reconnected)─► WORKING
//! any ─ stop ─► STOPPED · logout ─► STOPPED (reason "logged out"), keys wiped
//! unlinked on the phone / QR never scanned / ban ─► FAILED (reason), keys wiped on unlink
//! ```

mod app_state_catch_up;
mod caches;
mod config;
mod convert;
mod directory;
mod error;
mod events;
mod http;
mod session;

pub use caches::{LidCacheUsage, SessionMemory};
pub use config::{
    DEFAULT_CONCURRENT_LOGINS, DEFAULT_LID_CACHE_BYTES, EngineConfig, parse_client_version,
};
pub use error::EngineError;
pub use session::{Me, QrCode, SessionState, StatusChange};

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, RwLock};

use tokio::sync::broadcast;
use wacontacts_core::ports::{ContactEventSink, Directory, SessionRuntime};
use wacontacts_core::session::SessionName;
use wacontacts_store::device::Devices;

use crate::session::{Session, Shared};

/// All WhatsApp sessions of this process. Cheap to clone.
#[derive(Clone)]
pub struct Engine {
    shared: Arc<Shared>,
    sessions: Arc<RwLock<HashMap<SessionName, Arc<Session>>>>,
}

impl Engine {
    /// An engine with no session running. Events of every session go to `sink`;
    /// device state is kept in `devices` (the store's database).
    pub fn new(config: EngineConfig, sink: Arc<dyn ContactEventSink>, devices: Devices) -> Self {
        let (status_tx, _) = broadcast::channel(1024);
        let (qr_tx, _) = broadcast::channel(256);
        let logins = Arc::new(tokio::sync::Semaphore::new(
            config.max_concurrent_logins.max(1),
        ));
        Self {
            shared: Arc::new(Shared {
                logins,
                lid_memory: caches::LidMemory::new(config.lid_cache_bytes),
                http: http::EngineHttp::new(config.whatsapp_url.as_deref()),
                config,
                sink,
                devices,
                status_tx,
                qr_tx,
                closed: AtomicBool::new(false),
            }),
            sessions: Arc::new(RwLock::new(HashMap::new())),
        }
    }

    /// The engine's settings.
    pub fn config(&self) -> &EngineConfig {
        &self.shared.config
    }

    fn session(&self, name: &SessionName) -> Arc<Session> {
        if let Some(s) = self
            .sessions
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .get(name)
        {
            return s.clone();
        }
        self.sessions
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .entry(name.clone())
            .or_insert_with(|| Session::new(name.clone(), self.shared.clone()))
            .clone()
    }

    fn existing(&self, name: &SessionName) -> Option<Arc<Session>> {
        self.sessions
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .get(name)
            .cloned()
    }

    /// Starts a session: a new device goes to SCAN_QR_CODE (QR codes, or a pair
    /// code through [`Engine::request_code`]); stored keys log in and go to
    /// WORKING. Returns once the client runs, not once it is connected; follow
    /// [`Engine::subscribe`] or [`Engine::state`]. Idempotent while running.
    pub async fn start(&self, name: &SessionName) -> Result<(), EngineError> {
        self.session(name).start().await
    }

    /// Disconnects a session and keeps its keys: the next start logs in without
    /// a scan. Stopping a stopped session is fine.
    pub async fn stop(&self, name: &SessionName) -> Result<(), EngineError> {
        match self.existing(name) {
            Some(s) => s.stop().await,
            None => Ok(()),
        }
    }

    /// Unlinks the device on WhatsApp (connecting first if it is not running;
    /// the unlink is best effort) and wipes its keys. Ends STOPPED with reason
    /// "logged out".
    pub async fn logout(&self, name: &SessionName) -> Result<(), EngineError> {
        self.session(name).logout().await
    }

    /// Stops a session and removes its device state, without unlinking on
    /// WhatsApp. Forgets the session.
    pub async fn delete(&self, name: &SessionName) -> Result<(), EngineError> {
        let session = self.session(name);
        session.delete().await?;
        self.sessions
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .remove(name);
        Ok(())
    }

    /// The session's current state (STOPPED for a session never started).
    pub fn state(&self, name: &SessionName) -> SessionState {
        self.existing(name)
            .map(|s| s.state())
            .unwrap_or_else(SessionState::stopped)
    }

    /// The QR code to show now (raw string, to render as a QR image), while the
    /// session is in SCAN_QR_CODE. WhatsApp rotates it (60 s, then 20 s each).
    pub fn qr(&self, name: &SessionName) -> Option<String> {
        self.existing(name).and_then(|s| s.qr())
    }

    /// Asks WhatsApp for a pair code to link `phone_digits` (country code
    /// included; `+`, spaces, dashes and parentheses are ignored), starting the
    /// session if needed. The answer looks like `ABCD-EFGH`.
    pub async fn request_code(
        &self,
        name: &SessionName,
        phone_digits: &str,
    ) -> Result<String, EngineError> {
        self.session(name).request_code(phone_digits).await
    }

    /// Status changes of every session, for persisting them and for webhooks.
    /// Also fires (same status) when `me` becomes known at login.
    pub fn subscribe(&self) -> broadcast::Receiver<StatusChange> {
        self.shared.status_tx.subscribe()
    }

    /// Every new QR code of every session, as WhatsApp rotates them (the
    /// sandbox scans each with wasim; a UI may push them). Not fired after
    /// [`Engine::shutdown`].
    pub fn subscribe_qr(&self) -> broadcast::Receiver<QrCode> {
        self.shared.qr_tx.subscribe()
    }

    /// WhatsApp's directory as the session sees it, while the session runs
    /// (calls answer `NotConnected` until it is WORKING).
    pub fn directory(&self, name: &SessionName) -> Option<Arc<dyn Directory>> {
        let session = self.existing(name)?;
        if !session.is_running() {
            return None;
        }
        Some(Arc::new(directory::SessionDirectory {
            session,
            timeout: self.shared.config.call_timeout,
        }))
    }

    /// What the session's client holds in memory, while it runs.
    pub async fn session_memory(&self, name: &SessionName) -> Option<SessionMemory> {
        let client = self.existing(name)?.client()?;
        Some(SessionMemory::of(&client.memory_report().await))
    }

    /// The LID↔phone mappings held in memory for all sessions together.
    pub fn lid_cache_usage(&self) -> LidCacheUsage {
        self.shared.lid_memory.usage()
    }

    /// Names of the sessions with device keys (linked, or linking), whether running
    /// or not: rows in the database plus legacy `device.db` files not imported yet.
    pub async fn stored_sessions(&self) -> Result<Vec<SessionName>, EngineError> {
        let mut names = self
            .shared
            .devices
            .sessions()
            .await
            .map_err(|e| EngineError::Device(format!("{e:#}")))?;
        let dir = self.shared.config.data_dir.join("sessions");
        if let Ok(entries) = std::fs::read_dir(dir) {
            names.extend(
                entries
                    .flatten()
                    .filter(|e| e.path().join("device.db").is_file())
                    .filter_map(|e| SessionName::parse(e.file_name().to_str()?).ok()),
            );
        }
        names.sort();
        names.dedup();
        Ok(names)
    }

    /// Disconnects one session and forgets it, keeping its keys and without
    /// broadcasting a status change: another process that took over its lease runs it
    /// now, and the status it records must not be overwritten by ours. A later
    /// [`Engine::start`] here starts it afresh.
    pub async fn release(&self, name: &SessionName) {
        let Some(session) = self.existing(name) else {
            return;
        };
        session.shutdown().await;
        let mut sessions = self.sessions.write().unwrap_or_else(|p| p.into_inner());
        if sessions.get(name).is_some_and(|s| Arc::ptr_eq(s, &session)) {
            sessions.remove(name);
        }
    }

    /// Disconnects every session, keeping keys, without broadcasting status
    /// changes: the statuses persisted by the caller stay as they were, so the
    /// next process restarts the sessions that were WORKING. Later starts fail
    /// with `ShuttingDown`.
    pub async fn shutdown(&self) {
        self.shared.closed.store(true, Ordering::Relaxed);
        // Sessions waiting for a login turn give up instead of holding the shutdown.
        self.shared.logins.close();
        let sessions: Vec<Arc<Session>> = self
            .sessions
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .values()
            .cloned()
            .collect();
        whatsapp_rust::futures::future::join_all(sessions.iter().map(|s| s.shutdown())).await;
    }
}

/// The engine as the session service's runtime.
#[async_trait::async_trait]
impl SessionRuntime for Engine {
    fn state(&self, name: &SessionName) -> SessionState {
        Engine::state(self, name)
    }
    async fn start(&self, name: &SessionName) -> Result<(), EngineError> {
        Engine::start(self, name).await
    }
    async fn stop(&self, name: &SessionName) -> Result<(), EngineError> {
        Engine::stop(self, name).await
    }
    async fn logout(&self, name: &SessionName) -> Result<(), EngineError> {
        Engine::logout(self, name).await
    }
    async fn delete(&self, name: &SessionName) -> Result<(), EngineError> {
        Engine::delete(self, name).await
    }
    fn qr(&self, name: &SessionName) -> Option<String> {
        Engine::qr(self, name)
    }
    async fn request_code(
        &self,
        name: &SessionName,
        phone_digits: &str,
    ) -> Result<String, EngineError> {
        Engine::request_code(self, name, phone_digits).await
    }
    fn directory(&self, name: &SessionName) -> Option<Arc<dyn Directory>> {
        Engine::directory(self, name)
    }
}

#[cfg(test)]
mod tests {
    /// The release build links whatsapp-rust without any `danger-*` feature: only
    /// the `sandbox` feature and dev-dependencies (test builds) may add one.
    #[test]
    fn no_danger_feature_in_normal_dependencies() {
        let manifest = include_str!("../Cargo.toml");
        let deps = manifest
            .split("\n[")
            .find(|section| section.starts_with("dependencies]"))
            .expect("a [dependencies] section");
        let wa = deps
            .lines()
            .find(|l| l.starts_with("whatsapp-rust"))
            .expect("whatsapp-rust in [dependencies]");
        assert!(!wa.contains("danger"), "{wa}");
        assert!(!wa.contains("simd"), "{wa}");
        let root = include_str!("../../../Cargo.toml");
        let root_wa = root
            .lines()
            .find(|l| l.starts_with("whatsapp-rust"))
            .expect("whatsapp-rust in the workspace dependencies");
        assert!(root_wa.contains("default-features = false"), "{root_wa}");
        assert!(!root_wa.contains("danger"), "{root_wa}");
    }
}
