//! POSTs the answers of queued On-Prem checks to the user's callback URL (the
//! `CallbackSender` port; the retries and the at-least-once bookkeeping are core's).

use std::time::Duration;

use async_trait::async_trait;
use serde_json::json;
use wacontacts_core::ports::CallbackSender;
use wacontacts_core::queued::CheckOutcome;

/// How long a receiver may take to answer one callback.
const TIMEOUT: Duration = Duration::from_secs(10);

/// Callbacks over HTTP with reqwest.
#[derive(Debug, Clone)]
pub struct HttpCallbacks {
    client: reqwest::Client,
}

impl HttpCallbacks {
    pub fn new() -> anyhow::Result<Self> {
        let client = reqwest::Client::builder()
            .timeout(TIMEOUT)
            .user_agent(concat!("wacontacts/", env!("CARGO_PKG_VERSION")))
            .build()?;
        Ok(Self { client })
    }
}

/// On-Prem's contacts answer: `{"contacts": [{input, status, wa_id?}]}`.
pub fn contacts_body(outcomes: &[CheckOutcome]) -> serde_json::Value {
    let contacts: Vec<serde_json::Value> = outcomes
        .iter()
        .map(|o| {
            let mut c = json!({"input": o.input, "status": o.status.as_str()});
            if let Some(wa_id) = &o.wa_id {
                c["wa_id"] = wa_id.clone().into();
            }
            c
        })
        .collect();
    json!({ "contacts": contacts })
}

#[async_trait]
impl CallbackSender for HttpCallbacks {
    async fn send(&self, url: &str, outcomes: &[CheckOutcome]) -> Result<(), String> {
        let response = self
            .client
            .post(url)
            .json(&contacts_body(outcomes))
            .send()
            .await
            // Without the URL: it may carry credentials.
            .map_err(|e| format!("callback failed: {}", e.without_url()))?;
        let status = response.status();
        if status.is_success() {
            Ok(())
        } else {
            Err(format!("callback answered {status}"))
        }
    }
}
