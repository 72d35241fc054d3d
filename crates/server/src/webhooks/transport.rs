//! POSTs WAHA's webhook envelope with reqwest:
//! `{id, timestamp, event, session, metadata, me, payload, engine, environment}`,
//! headers `X-Webhook-Request-Id`, `X-Webhook-Timestamp`, and, with a key,
//! `X-Webhook-Hmac` (hex HMAC-SHA512 of the exact body) and
//! `X-Webhook-Hmac-Algorithm: sha512`.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use hmac::{KeyInit, Mac};
use serde_json::{Value, json};
use wacontacts_core::ports::SessionRuntime;
use wacontacts_core::session::SessionName;
use wacontacts_core::webhook::{
    DeliveryFailure, DeliveryResult, OutboxEntry, WebhookTarget, WebhookTransport,
};

/// The `engine` WAHA puts in every envelope; ours names itself.
pub const ENGINE: &str = "WACONTACTS";
/// Longest one POST may take, connecting included.
const POST_TIMEOUT: Duration = Duration::from_secs(10);
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// The HTTP side of webhook delivery.
pub struct HttpTransport {
    client: reqwest::Client,
    runtime: Arc<dyn SessionRuntime>,
}

impl HttpTransport {
    pub fn new(runtime: Arc<dyn SessionRuntime>) -> anyhow::Result<Self> {
        let client = reqwest::Client::builder()
            .timeout(POST_TIMEOUT)
            .connect_timeout(CONNECT_TIMEOUT)
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(concat!("wacontacts/", env!("CARGO_PKG_VERSION")))
            .build()?;
        Ok(HttpTransport { client, runtime })
    }

    /// The envelope of `entry`, as bytes (what the HMAC signs).
    fn body(&self, session: &SessionName, entry: &OutboxEntry) -> Vec<u8> {
        let me =
            self.runtime.state(session).me.map(
                |m| json!({ "id": m.id, "pushName": m.push_name, "lid": m.lid, "jid": m.jid }),
            );
        let envelope = json!({
            "id": entry.id,
            "timestamp": entry.created_ms,
            "event": entry.event,
            "session": session.as_str(),
            "me": me,
            "payload": entry.payload,
            "engine": ENGINE,
            "environment": {
                "version": env!("CARGO_PKG_VERSION"),
                "engine": ENGINE,
                "tier": "CORE",
                "browser": Value::Null,
            },
        });
        envelope.to_string().into_bytes()
    }
}

/// Hex HMAC-SHA512 of `body` under `key`.
pub fn sign(key: &str, body: &[u8]) -> String {
    let mut mac = hmac::Hmac::<sha2::Sha512>::new_from_slice(key.as_bytes())
        .expect("HMAC takes keys of any length");
    mac.update(body);
    hex::encode(mac.finalize().into_bytes())
}

#[async_trait]
impl WebhookTransport for HttpTransport {
    async fn post(
        &self,
        target: &WebhookTarget,
        session: &SessionName,
        entry: &OutboxEntry,
    ) -> DeliveryResult {
        let body = self.body(session, entry);
        let mut request = self
            .client
            .post(&target.url)
            .header("Content-Type", "application/json")
            .header("X-Webhook-Request-Id", &entry.id)
            .header("X-Webhook-Timestamp", entry.created_ms.to_string());
        if let Some(key) = &target.hmac_key {
            request = request
                .header("X-Webhook-Hmac", sign(key, &body))
                .header("X-Webhook-Hmac-Algorithm", "sha512");
        }
        for (name, value) in &target.headers {
            request = request.header(name, value);
        }
        match request.body(body).send().await {
            Ok(r) if r.status().is_success() => Ok(r.status().as_u16()),
            Ok(r) => Err(DeliveryFailure::Status(r.status().as_u16())),
            // No URL in the reason: it may carry credentials.
            Err(e) if e.is_timeout() => Err(DeliveryFailure::Transport("timed out".into())),
            Err(e) if e.is_connect() => Err(DeliveryFailure::Transport("could not connect".into())),
            Err(_) => Err(DeliveryFailure::Transport("request failed".into())),
        }
    }
}
