//! Receivers of a session: its `config.webhooks` (WAHA's `WebhookConfig`) plus the
//! global default from `--webhook-url`.

use std::sync::Arc;

use async_trait::async_trait;
use serde_json::Value;
use wacontacts_core::ports::{SessionStore, StoreResult};
use wacontacts_core::session::SessionName;
use wacontacts_core::webhook::{
    MAX_ATTEMPTS, MAX_RETRY_DELAY_MS, RetryKind, RetryPolicy, WebhookTarget, WebhookTargets,
    unknown_event,
};

/// The webhook every session gets (`--webhook-url`, `--webhook-events`,
/// `--webhook-hmac-key`).
#[derive(Debug, Clone)]
pub struct GlobalWebhook(pub WebhookTarget);

/// Why a `config.webhooks` entry is refused: a stable code, a message, the value.
#[derive(Debug, Clone, PartialEq)]
pub struct WebhookConfigError {
    pub code: &'static str,
    pub message: String,
    pub value: Value,
}

fn refuse(code: &'static str, message: &str, value: Value) -> WebhookConfigError {
    WebhookConfigError {
        code,
        message: message.to_owned(),
        value,
    }
}

/// Most webhooks per session, and custom headers per webhook.
pub const MAX_WEBHOOKS: usize = 10;
const MAX_HEADERS: usize = 20;

/// Parses a session config's `webhooks` (absent = none) into targets, refusing
/// what would not be acted on: a URL that is not http(s), an unknown event, a
/// retry policy other than `constant|linear|exponential`, attempts outside
/// 1–100, a delay outside 0–3600 s, an empty HMAC key, more than 10 webhooks.
pub fn targets_from_config(config: &Value) -> Result<Vec<WebhookTarget>, WebhookConfigError> {
    let Some(hooks) = config.get("webhooks").filter(|v| !v.is_null()) else {
        return Ok(Vec::new());
    };
    let hooks = hooks.as_array().ok_or_else(|| {
        refuse(
            "invalid_webhooks",
            "config.webhooks must be an array",
            hooks.clone(),
        )
    })?;
    if hooks.len() > MAX_WEBHOOKS {
        return Err(refuse(
            "too_many_webhooks",
            "A session has at most 10 webhooks",
            Value::from(hooks.len()),
        ));
    }
    hooks.iter().map(target).collect()
}

fn target(hook: &Value) -> Result<WebhookTarget, WebhookConfigError> {
    let url = hook
        .get("url")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .trim();
    // The document's pattern, `^https?://\S{2,2000}$`, counted in characters.
    let rest = url
        .strip_prefix("https://")
        .or_else(|| url.strip_prefix("http://"));
    let url_ok = rest.is_some_and(|rest| {
        (2..=2000).contains(&rest.chars().count()) && !rest.contains(char::is_whitespace)
    });
    if !url_ok {
        return Err(refuse(
            "invalid_webhook_url",
            "Webhook URLs must be absolute http:// or https:// URLs",
            hook.get("url").cloned().unwrap_or(Value::Null),
        ));
    }
    let events: Vec<String> = match hook.get("events") {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::Array(a)) => a
            .iter()
            .map(|e| {
                e.as_str().map(str::to_owned).ok_or_else(|| {
                    refuse(
                        "invalid_webhook_event",
                        "Event names are strings",
                        e.clone(),
                    )
                })
            })
            .collect::<Result<_, _>>()?,
        Some(other) => {
            return Err(refuse(
                "invalid_webhook_event",
                "events must be an array",
                other.clone(),
            ));
        }
    };
    if let Some(bad) = unknown_event(&events) {
        return Err(refuse(
            "unknown_webhook_event",
            &format!(
                "Unknown webhook event; known: *, {}",
                wacontacts_core::webhook::EVENTS.join(", ")
            ),
            Value::from(bad),
        ));
    }
    let hmac_key = match hook.get("hmac").and_then(|h| h.get("key")) {
        None | Some(Value::Null) => None,
        Some(Value::String(k)) if !k.is_empty() && k.len() <= 1024 => Some(k.clone()),
        // The key itself is a secret: never echoed.
        Some(_) => {
            return Err(refuse(
                "invalid_webhook_hmac",
                "hmac.key must be a string of 1-1024 characters",
                Value::from("hmac.key"),
            ));
        }
    };
    Ok(WebhookTarget {
        url: url.to_owned(),
        events,
        hmac_key,
        retry: retry(hook.get("retries"))?,
        headers: headers(hook.get("customHeaders"))?,
    })
}

fn retry(v: Option<&Value>) -> Result<RetryPolicy, WebhookConfigError> {
    let mut p = RetryPolicy::default();
    let Some(v) = v.filter(|v| !v.is_null()) else {
        return Ok(p);
    };
    if let Some(kind) = v.get("policy").filter(|k| !k.is_null()) {
        p.kind = kind.as_str().and_then(RetryKind::parse).ok_or_else(|| {
            refuse(
                "invalid_webhook_retries",
                "retries.policy is constant, linear or exponential",
                kind.clone(),
            )
        })?;
    }
    if let Some(d) = v.get("delaySeconds").filter(|d| !d.is_null()) {
        let ms = d
            .as_f64()
            .filter(|s| (0.0..=3600.0).contains(s))
            .ok_or_else(|| {
                refuse(
                    "invalid_webhook_retries",
                    "retries.delaySeconds is 0-3600",
                    d.clone(),
                )
            })?;
        p.delay_ms = ((ms * 1000.0) as u64).min(MAX_RETRY_DELAY_MS);
    }
    if let Some(a) = v.get("attempts").filter(|a| !a.is_null()) {
        p.attempts = a
            .as_u64()
            .filter(|n| (1..=MAX_ATTEMPTS as u64).contains(n))
            .ok_or_else(|| {
                refuse(
                    "invalid_webhook_retries",
                    "retries.attempts is 1-100",
                    a.clone(),
                )
            })? as u32;
    }
    Ok(p)
}

fn headers(v: Option<&Value>) -> Result<Vec<(String, String)>, WebhookConfigError> {
    let Some(list) = v.filter(|v| !v.is_null()) else {
        return Ok(Vec::new());
    };
    let bad = |v: &Value| {
        refuse(
            "invalid_webhook_header",
            "customHeaders are [{name, value}] of valid HTTP headers",
            v.clone(),
        )
    };
    let list = list
        .as_array()
        .filter(|l| l.len() <= MAX_HEADERS)
        .ok_or_else(|| bad(list))?;
    list.iter()
        .map(|h| {
            let name = h.get("name").and_then(Value::as_str);
            let value = h.get("value").and_then(Value::as_str);
            match (name, value) {
                (Some(n), Some(v))
                    if reqwest::header::HeaderName::from_bytes(n.as_bytes()).is_ok()
                        && reqwest::header::HeaderValue::from_str(v).is_ok() =>
                {
                    Ok((n.to_owned(), v.to_owned()))
                }
                _ => Err(bad(h.get("name").unwrap_or(h))),
            }
        })
        .collect()
}

/// Targets read from the session's stored config at delivery time.
pub struct ConfigTargets {
    sessions: Arc<dyn SessionStore>,
    global: Option<GlobalWebhook>,
}

impl ConfigTargets {
    pub fn new(sessions: Arc<dyn SessionStore>, global: Option<GlobalWebhook>) -> Self {
        ConfigTargets { sessions, global }
    }
}

#[async_trait]
impl WebhookTargets for ConfigTargets {
    async fn targets(&self, session: &SessionName) -> StoreResult<Vec<WebhookTarget>> {
        let mut out: Vec<WebhookTarget> = self.global.iter().map(|g| g.0.clone()).collect();
        if let Some(record) = self.sessions.get_session(session).await? {
            match targets_from_config(&record.config) {
                Ok(t) => out.extend(t),
                // Validated on the way in; a bad stored config is logged, not fatal.
                Err(e) => {
                    tracing::warn!(session = %session, code = e.code, "stored webhook config is invalid")
                }
            }
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn refuses_what_it_would_not_act_on() {
        let code = |c: Value| {
            targets_from_config(&json!({ "webhooks": [c] }))
                .unwrap_err()
                .code
        };
        assert_eq!(code(json!({"url": "ftp://x"})), "invalid_webhook_url");
        assert_eq!(code(json!({"url": "http://x"})), "invalid_webhook_url");
        // The pattern counts characters, not bytes: 2,000 of 3 bytes each are accepted.
        let wide = format!("https://{}", "€".repeat(2_000));
        assert!(targets_from_config(&json!({ "webhooks": [{ "url": wide }] })).is_ok());
        let long = format!("https://{}", "a".repeat(2_001));
        assert_eq!(code(json!({ "url": long })), "invalid_webhook_url");
        assert_eq!(
            code(json!({"url": "http://x.test", "events": ["message"]})),
            "unknown_webhook_event"
        );
        assert_eq!(
            code(json!({"url": "http://x.test", "retries": {"policy": "random"}})),
            "invalid_webhook_retries"
        );
        assert_eq!(
            code(json!({"url": "http://x.test", "retries": {"attempts": 0}})),
            "invalid_webhook_retries"
        );
        assert_eq!(
            code(json!({"url": "http://x.test", "hmac": {"key": ""}})),
            "invalid_webhook_hmac"
        );
        assert_eq!(
            code(json!({"url": "http://x.test", "customHeaders": [{"name": "a b", "value": "x"}]})),
            "invalid_webhook_header"
        );
        let ok = targets_from_config(&json!({"webhooks": [{
            "url": "http://x.test/h", "events": ["*"], "hmac": {"key": "k"},
            "retries": {"delaySeconds": 1, "attempts": 3, "policy": "linear"},
            "customHeaders": [{"name": "X-A", "value": "1"}]}]}))
        .unwrap();
        assert_eq!(
            ok[0].retry,
            RetryPolicy {
                delay_ms: 1000,
                attempts: 3,
                kind: RetryKind::Linear
            }
        );
        assert_eq!(ok[0].headers, vec![("X-A".into(), "1".into())]);
    }
}
