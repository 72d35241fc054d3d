//! The session service: what the HTTP layer calls to manage sessions. It owns the rules
//! (names, idempotence) and talks to the store; the engine joins it with the engine issue.

use wacontacts_core::session::{SessionName, SessionStatus};
use wacontacts_store::{NewSession, SessionRecord, Store, Written};

/// Why a session operation was refused.
#[derive(Debug, thiserror::Error)]
pub enum SessionError {
    #[error("session '{0}' does not exist")]
    NotFound(SessionName),
    #[error("session '{0}' already exists")]
    AlreadyExists(SessionName),
    #[error(transparent)]
    Internal(#[from] anyhow::Error),
}

/// Creates, reads, updates and deletes sessions.
#[derive(Clone, Debug)]
pub struct SessionService {
    store: Store,
}

impl SessionService {
    pub fn new(store: Store) -> Self {
        Self { store }
    }

    /// Creates a session. `start` records that the user wants it running; it stays
    /// STOPPED until the engine can start it.
    pub async fn create(
        &self,
        name: SessionName,
        config: serde_json::Value,
        start: bool,
    ) -> Result<SessionRecord, SessionError> {
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
            self.store.set_session_desired_running(&name, true).await?;
        }
        self.get(&name).await
    }

    /// All sessions, or only those not STOPPED (WAHA's default listing).
    pub async fn list(&self, include_stopped: bool) -> Result<Vec<SessionRecord>, SessionError> {
        let all = self.store.list_sessions().await?;
        Ok(all
            .into_iter()
            .filter(|s| include_stopped || s.status != SessionStatus::Stopped)
            .collect())
    }

    pub async fn get(&self, name: &SessionName) -> Result<SessionRecord, SessionError> {
        self.store
            .get_session(name)
            .await?
            .ok_or_else(|| SessionError::NotFound(name.clone()))
    }

    /// Replaces the config of an existing session.
    pub async fn update(
        &self,
        name: &SessionName,
        config: serde_json::Value,
    ) -> Result<SessionRecord, SessionError> {
        match self.store.update_session_config(name, &config).await? {
            Written::Done => self.get(name).await,
            Written::NotFound => Err(SessionError::NotFound(name.clone())),
        }
    }

    /// Deletes a session; deleting one that does not exist is not an error (WAHA: idempotent).
    pub async fn delete(&self, name: &SessionName) -> Result<(), SessionError> {
        self.store.delete_session(name).await?;
        Ok(())
    }
}
