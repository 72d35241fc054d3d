//! The session rules: names are unique, deletes are idempotent, lifecycle operations
//! record what the user wants restored after a restart, and contact calls wait a
//! little for a session that is still starting.

use std::collections::HashMap;
use std::sync::Arc;

use crate::policy::Policy;
use crate::ports::{Clock, Directory, SessionRuntime, SessionStore, StoreError};
use crate::session::{
    EngineError, Me, NewSession, SessionName, SessionRecord, SessionState, SessionStatus,
};

/// Why a session operation was refused.
#[derive(Debug, thiserror::Error)]
pub enum SessionError {
    #[error("session '{0}' does not exist")]
    NotFound(SessionName),
    #[error("session '{0}' already exists")]
    AlreadyExists(SessionName),
    #[error("session '{name}' is {status:?}, not {expected:?}")]
    NotWorking {
        name: SessionName,
        status: SessionStatus,
        expected: SessionStatus,
    },
    #[error(transparent)]
    Engine(#[from] EngineError),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// A session as the API shows it: what is stored plus the live state.
#[derive(Debug, Clone)]
pub struct SessionView {
    pub record: SessionRecord,
    pub status: SessionStatus,
    pub reason: Option<String>,
    pub me: Option<Me>,
}

/// A lifecycle operation on a session.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lifecycle {
    Start,
    Stop,
    Logout,
    Restart,
}

/// Creates, reads, updates, deletes, starts and stops sessions. Cheap to clone.
#[derive(Clone)]
pub struct SessionService {
    store: Arc<dyn SessionStore>,
    runtime: Arc<dyn SessionRuntime>,
    clock: Arc<dyn Clock>,
    policy: Policy,
    /// One lifecycle operation at a time per session, so that what is stored (the
    /// wish to run after a restart) lands in the same order as what the engine did.
    busy: Arc<std::sync::Mutex<HashMap<SessionName, Arc<futures::lock::Mutex<()>>>>>,
}

impl std::fmt::Debug for SessionService {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SessionService")
    }
}

impl SessionService {
    pub fn new(
        store: Arc<dyn SessionStore>,
        runtime: Arc<dyn SessionRuntime>,
        clock: Arc<dyn Clock>,
        policy: Policy,
    ) -> Self {
        Self {
            store,
            runtime,
            clock,
            policy,
            busy: Arc::default(),
        }
    }

    /// Waits for the session's other lifecycle operations; holds it until dropped.
    async fn exclusive(&self, name: &SessionName) -> futures::lock::OwnedMutexGuard<()> {
        let lock = self
            .busy
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .entry(name.clone())
            .or_default()
            .clone();
        lock.lock_owned().await
    }

    /// The rules in force.
    pub fn policy(&self) -> &Policy {
        &self.policy
    }

    /// The clock the services read.
    pub fn clock(&self) -> &Arc<dyn Clock> {
        &self.clock
    }

    fn view(&self, record: SessionRecord) -> SessionView {
        if !self.runtime.runs_here(&record.name) {
            // Another process runs it (a listing is answered by any process): what
            // its holder recorded.
            return SessionView {
                status: record.status,
                reason: record.failure_reason.clone(),
                me: None,
                record,
            };
        }
        let SessionState { status, reason, me } = self.runtime.state(&record.name);
        SessionView {
            reason: reason.or_else(|| record.failure_reason.clone()),
            record,
            status,
            me,
        }
    }

    /// Creates a session and, when `start`, starts it.
    pub async fn create(
        &self,
        name: SessionName,
        config: serde_json::Value,
        start: bool,
    ) -> Result<SessionView, SessionError> {
        let new = NewSession {
            name: name.clone(),
            config,
        };
        if !self.store.create_session(&new).await? {
            return Err(SessionError::AlreadyExists(name));
        }
        if start {
            let _busy = self.exclusive(&name).await;
            self.get(&name).await?;
            self.start(&name).await?;
        }
        self.get(&name).await
    }

    /// All sessions, or only those not STOPPED (WAHA's default listing).
    pub async fn list(&self, include_stopped: bool) -> Result<Vec<SessionView>, SessionError> {
        let all = self.store.list_sessions().await?;
        Ok(all
            .into_iter()
            .map(|r| self.view(r))
            .filter(|v| include_stopped || v.status != SessionStatus::Stopped)
            .collect())
    }

    /// One session with its live state.
    pub async fn get(&self, name: &SessionName) -> Result<SessionView, SessionError> {
        let record = self
            .store
            .get_session(name)
            .await?
            .ok_or_else(|| SessionError::NotFound(name.clone()))?;
        Ok(self.view(record))
    }

    /// Replaces the config of an existing session.
    pub async fn update(
        &self,
        name: &SessionName,
        config: serde_json::Value,
    ) -> Result<SessionView, SessionError> {
        if !self.store.update_session_config(name, &config).await? {
            return Err(SessionError::NotFound(name.clone()));
        }
        self.get(name).await
    }

    /// Stops, wipes the device state (without unlinking) and forgets the session.
    /// Deleting one that does not exist is not an error (WAHA: idempotent).
    pub async fn delete(&self, name: &SessionName) -> Result<(), SessionError> {
        let _busy = self.exclusive(name).await;
        // The record first: a start racing in sees no session instead of reviving it.
        self.store.delete_session(name).await?;
        self.runtime.delete(name).await?;
        self.busy
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(name);
        Ok(())
    }

    /// Runs `op` on the session.
    pub async fn apply(
        &self,
        name: &SessionName,
        op: Lifecycle,
    ) -> Result<SessionView, SessionError> {
        let busy = self.exclusive(name).await;
        self.get(name).await?;
        match op {
            Lifecycle::Start => {
                self.start(name).await?;
            }
            Lifecycle::Stop => {
                self.store.set_desired_running(name, false).await?;
                self.runtime.stop(name).await?;
                self.store
                    .set_session_status(name, SessionStatus::Stopped, None)
                    .await?;
            }
            Lifecycle::Logout => {
                self.store.set_desired_running(name, false).await?;
                self.runtime.logout(name).await?;
            }
            Lifecycle::Restart => {
                self.runtime.stop(name).await?;
                self.start(name).await?;
            }
        }
        drop(busy);
        self.get(name).await
    }

    /// Starts a session (idempotent) and remembers to restore it after a restart.
    async fn start(&self, name: &SessionName) -> Result<(), SessionError> {
        self.store.set_desired_running(name, true).await?;
        self.runtime.start(name).await?;
        Ok(())
    }

    /// The current QR string while the session waits for a scan.
    pub async fn qr(&self, name: &SessionName) -> Result<Option<String>, SessionError> {
        let view = self.get(name).await?;
        if view.status != SessionStatus::ScanQrCode {
            return Err(SessionError::NotWorking {
                name: name.clone(),
                status: view.status,
                expected: SessionStatus::ScanQrCode,
            });
        }
        Ok(self.runtime.qr(name))
    }

    /// Asks WhatsApp for a pair code for `phone` (digits with country code).
    pub async fn request_code(
        &self,
        name: &SessionName,
        phone: &str,
    ) -> Result<String, SessionError> {
        let _busy = self.exclusive(name).await;
        self.get(name).await?;
        self.store.set_desired_running(name, true).await?;
        Ok(self.runtime.request_code(name, phone).await?)
    }

    /// Waits up to the policy's patience for a STARTING session to settle, then
    /// requires WORKING.
    pub async fn require_working(&self, name: &SessionName) -> Result<SessionView, SessionError> {
        let deadline = self.clock.now_ms() + self.policy.starting_patience.as_millis() as i64;
        loop {
            let view = self.get(name).await?;
            match view.status {
                SessionStatus::Working => return Ok(view),
                SessionStatus::Starting if self.clock.now_ms() < deadline => {
                    self.clock.sleep(self.policy.starting_poll).await;
                }
                status => {
                    return Err(SessionError::NotWorking {
                        name: name.clone(),
                        status,
                        expected: SessionStatus::Working,
                    });
                }
            }
        }
    }

    /// WhatsApp's directory of a running session (calls answer `NotConnected`
    /// until it is WORKING); `None` when it does not run.
    pub fn directory(&self, name: &SessionName) -> Option<Arc<dyn Directory>> {
        self.runtime.directory(name)
    }

    /// The sessions to start after a restart: those the user left running.
    pub async fn to_restore(&self) -> Result<Vec<SessionName>, SessionError> {
        Ok(self
            .store
            .list_sessions()
            .await?
            .into_iter()
            .filter(|r| r.desired_running)
            .map(|r| r.name)
            .collect())
    }

    /// Persists a status the engine reported.
    pub async fn record_status(
        &self,
        name: &SessionName,
        state: &SessionState,
    ) -> Result<(), SessionError> {
        self.store
            .set_session_status(name, state.status, state.reason.as_deref())
            .await?;
        Ok(())
    }
}
