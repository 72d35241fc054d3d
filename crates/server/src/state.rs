//! Shared state handed to handlers explicitly (no globals).

use axum::extract::FromRef;
use wacontacts_core::identity::IdentityService;
use wacontacts_core::service::{CheckService, ContactService, SessionService};
use wacontacts_store::Store;

use crate::auth::ApiKey;
use crate::metrics::Metrics;
use crate::webhooks::Dispatcher;

/// Everything a handler may need; cheap to clone.
#[derive(Clone, Debug)]
pub struct AppState {
    pub store: Store,
    pub sessions: SessionService,
    pub contacts: ContactService,
    pub checks: CheckService,
    pub api_key: ApiKey,
    pub metrics: Metrics,
    /// `/v1`'s session, check queue and token lifetime.
    pub onprem: crate::api::onprem::OnPrem,
    /// Identity changes of contacts (On-Prem's identity object).
    pub identity: IdentityService,
    /// Webhook delivery; `enqueue` is the hook for events no stored fact carries.
    pub webhooks: Dispatcher,
    /// This node's leases, and the forwarding of other nodes' sessions.
    pub proxy: crate::lease::proxy::Proxy,
}

impl FromRef<AppState> for ApiKey {
    fn from_ref(state: &AppState) -> Self {
        state.api_key.clone()
    }
}

impl FromRef<AppState> for Metrics {
    fn from_ref(state: &AppState) -> Self {
        state.metrics.clone()
    }
}
