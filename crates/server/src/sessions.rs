//! The session service: what the HTTP layer calls to manage sessions. It owns the rules
//! (names, idempotence, what is restored after a restart) and joins the store (what the
//! user created) with the engine (what is linked and running right now).

use std::time::Duration;

use wacontacts_core::session::{SessionName, SessionStatus};
use wacontacts_engine::{Engine, EngineError, Me, SessionState};
use wacontacts_store::{NewSession, SessionRecord, Store, Written};

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
    Internal(#[from] anyhow::Error),
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

/// Creates, reads, updates, deletes, starts and stops sessions.
#[derive(Clone)]
pub struct SessionService {
    store: Store,
    engine: Engine,
}

impl std::fmt::Debug for SessionService {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SessionService")
    }
}

impl SessionService {
    pub fn new(store: Store, engine: Engine) -> Self {
        Self { store, engine }
    }

    pub fn engine(&self) -> &Engine {
        &self.engine
    }

    fn view(&self, record: SessionRecord) -> SessionView {
        let SessionState { status, reason, me } = self.engine.state(&record.name);
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
        let created = self
            .store
            .create_session(&NewSession {
                name: name.clone(),
                config,
            })
            .await?;
        if !created {
            return Err(SessionError::AlreadyExists(name));
        }
        if start {
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
        match self.store.update_session_config(name, &config).await? {
            Written::Done => self.get(name).await,
            Written::NotFound => Err(SessionError::NotFound(name.clone())),
        }
    }

    /// Stops, unlinks nothing, wipes the device state and forgets the session. Deleting
    /// one that does not exist is not an error (WAHA: idempotent).
    pub async fn delete(&self, name: &SessionName) -> Result<(), SessionError> {
        self.engine.delete(name).await?;
        self.store.delete_session(name).await?;
        Ok(())
    }

    /// Runs `op` on the session.
    pub async fn apply(
        &self,
        name: &SessionName,
        op: Lifecycle,
    ) -> Result<SessionView, SessionError> {
        match op {
            Lifecycle::Start => self.start(name).await,
            Lifecycle::Stop => self.stop(name).await,
            Lifecycle::Logout => self.logout(name).await,
            Lifecycle::Restart => self.restart(name).await,
        }
    }

    /// Starts a session (idempotent) and remembers to restore it after a restart.
    pub async fn start(&self, name: &SessionName) -> Result<SessionView, SessionError> {
        self.get(name).await?;
        self.store.set_session_desired_running(name, true).await?;
        self.engine.start(name).await?;
        self.get(name).await
    }

    /// Stops a session, keeping its keys.
    pub async fn stop(&self, name: &SessionName) -> Result<SessionView, SessionError> {
        self.get(name).await?;
        self.store.set_session_desired_running(name, false).await?;
        self.engine.stop(name).await?;
        self.store
            .set_session_status(name, SessionStatus::Stopped, None)
            .await?;
        self.get(name).await
    }

    /// Unlinks the device from the account and wipes its keys.
    pub async fn logout(&self, name: &SessionName) -> Result<SessionView, SessionError> {
        self.get(name).await?;
        self.store.set_session_desired_running(name, false).await?;
        self.engine.logout(name).await?;
        self.get(name).await
    }

    /// Stops and starts again.
    pub async fn restart(&self, name: &SessionName) -> Result<SessionView, SessionError> {
        self.get(name).await?;
        self.engine.stop(name).await?;
        self.start(name).await
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
        Ok(self.engine.qr(name))
    }

    /// Asks WhatsApp for a pair code for `phone` (digits with country code).
    pub async fn request_code(
        &self,
        name: &SessionName,
        phone: &str,
    ) -> Result<String, SessionError> {
        self.get(name).await?;
        self.store.set_session_desired_running(name, true).await?;
        Ok(self.engine.request_code(name, phone).await?)
    }

    /// Waits up to `patience` for a STARTING session to settle, then requires WORKING.
    pub async fn require_working(
        &self,
        name: &SessionName,
        patience: Duration,
    ) -> Result<SessionView, SessionError> {
        let deadline = tokio::time::Instant::now() + patience;
        loop {
            let view = self.get(name).await?;
            match view.status {
                SessionStatus::Working => return Ok(view),
                SessionStatus::Starting if tokio::time::Instant::now() < deadline => {
                    tokio::time::sleep(Duration::from_millis(100)).await;
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

    /// Starts, in the background, every session the user left running: a restart
    /// brings linked sessions back to WORKING without a new scan.
    pub async fn restore(&self) -> anyhow::Result<usize> {
        let wanted: Vec<_> = self
            .store
            .list_sessions()
            .await?
            .into_iter()
            .filter(|r| r.desired_running)
            .map(|r| r.name)
            .collect();
        let count = wanted.len();
        for name in wanted {
            let engine = self.engine.clone();
            tokio::spawn(async move {
                if let Err(e) = engine.start(&name).await {
                    tracing::warn!(session = %name, error = %e, "failed to restore a session");
                }
            });
        }
        Ok(count)
    }

    /// Persists every status change the engine reports, until the engine goes away.
    pub fn spawn_status_recorder(&self) -> tokio::task::JoinHandle<()> {
        let mut changes = self.engine.subscribe();
        let store = self.store.clone();
        tokio::spawn(async move {
            loop {
                match changes.recv().await {
                    Ok(change) => {
                        let reason = change.state.reason.as_deref();
                        if let Err(e) = store
                            .set_session_status(&change.session, change.state.status, reason)
                            .await
                        {
                            tracing::warn!(error = %format!("{e:#}"), "failed to record a session status");
                        }
                    }
                    Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => continue,
                    Err(tokio::sync::broadcast::error::RecvError::Closed) => break,
                }
            }
        })
    }
}
