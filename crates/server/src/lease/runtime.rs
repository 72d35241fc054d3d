//! The engine as the session service sees it once leases exist: a session is started,
//! linked or logged out only by the node holding its lease (taking it first when it is
//! free), so two processes never run one WhatsApp device.

use std::sync::Arc;

use async_trait::async_trait;
use wacontacts_core::ports::{Directory, SessionRuntime};
use wacontacts_core::session::{EngineError, SessionName, SessionState};
use wacontacts_engine::Engine;

use super::Leases;

/// [`Engine`] behind this node's leases.
pub struct LeasedRuntime {
    pub engine: Engine,
    pub leases: Leases,
}

impl LeasedRuntime {
    /// Holds `name` here or says where it is not.
    async fn claim(&self, name: &SessionName) -> Result<(), EngineError> {
        match self.leases.claim(name).await {
            Ok(true) => Ok(()),
            Ok(false) => Err(EngineError::Elsewhere),
            Err(e) => Err(EngineError::Device(format!("lease: {e:#}"))),
        }
    }
}

#[async_trait]
impl SessionRuntime for LeasedRuntime {
    fn state(&self, name: &SessionName) -> SessionState {
        self.engine.state(name)
    }
    async fn start(&self, name: &SessionName) -> Result<(), EngineError> {
        self.claim(name).await?;
        self.engine.start(name).await
    }
    /// Stopped sessions stay held here: this node still delivers their webhooks and
    /// answers for them.
    async fn stop(&self, name: &SessionName) -> Result<(), EngineError> {
        self.engine.stop(name).await
    }
    async fn logout(&self, name: &SessionName) -> Result<(), EngineError> {
        self.claim(name).await?;
        self.engine.logout(name).await
    }
    async fn delete(&self, name: &SessionName) -> Result<(), EngineError> {
        // The session's row (and so its lease) is already gone.
        let result = self.engine.delete(name).await;
        self.leases.forget(name);
        result
    }
    fn qr(&self, name: &SessionName) -> Option<String> {
        self.engine.qr(name)
    }
    async fn request_code(
        &self,
        name: &SessionName,
        phone_digits: &str,
    ) -> Result<String, EngineError> {
        self.claim(name).await?;
        self.engine.request_code(name, phone_digits).await
    }
    fn directory(&self, name: &SessionName) -> Option<Arc<dyn Directory>> {
        self.engine.directory(name)
    }
    fn runs_here(&self, name: &SessionName) -> bool {
        self.leases.holds(name)
    }
}
