//! The recent-deliveries log: what each POST of a session's webhook events did
//! (delivered or failed, to which receiver, with which answer), newest
//! [`MAX_DELIVERIES_PER_SESSION`] kept. The outbox forgets a delivered event, so
//! this log is what lets a user see that deliveries work, beside the dead letters.
//!
//! Receivers' URLs are stored as [`redact_url`] leaves them: no user info and no
//! query values (both are where webhook URLs carry secrets), so the log can be
//! shown in the dashboard without leaking a receiver's credentials.

use async_trait::async_trait;

use crate::ports::StoreResult;
use crate::session::SessionName;

/// Most delivery outcomes kept per session; older ones are pruned in the write
/// that adds new ones.
pub const MAX_DELIVERIES_PER_SESSION: u32 = 200;

/// Why one POST failed: the receiver's non-2xx status, or a transport error class.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DeliveryFailure {
    /// The receiver answered with this non-2xx status.
    Status(u16),
    /// No answer: a short class such as `timed out` or `could not connect`; never
    /// the URL (it may carry credentials).
    Transport(String),
}

impl DeliveryFailure {
    /// The HTTP status, when the receiver answered.
    pub fn status(&self) -> Option<u16> {
        match self {
            DeliveryFailure::Status(s) => Some(*s),
            DeliveryFailure::Transport(_) => None,
        }
    }
}

impl std::fmt::Display for DeliveryFailure {
    /// `HTTP 503`, or the transport class: the dead letter's `lastError`.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            DeliveryFailure::Status(s) => write!(f, "HTTP {s}"),
            DeliveryFailure::Transport(class) => f.write_str(class),
        }
    }
}

/// One POST of one event to one receiver.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeliveryRecord {
    /// The event id (`evt_…`), the same on every attempt.
    pub event_id: String,
    /// The event name (`contact.update`, …).
    pub event: String,
    /// The receiver, as [`redact_url`] leaves it.
    pub url: String,
    /// Whether the receiver answered 2xx.
    pub delivered: bool,
    /// The receiver's HTTP status; `None` when it did not answer.
    pub status: Option<u16>,
    /// Why it failed (`HTTP 503`, `timed out`, …); `None` when delivered.
    pub error: Option<String>,
    /// Attempts made at this event so far, this one included (1 = first).
    pub attempts: u32,
    /// When the attempt ended, Unix ms.
    pub at_ms: i64,
}

/// The per-session log of delivery outcomes, in the store.
#[async_trait]
pub trait DeliveryLog: Send + Sync {
    /// Appends `records` (in the order given, the last one newest) to `session`'s
    /// log and, in the same write, prunes all but the newest
    /// [`MAX_DELIVERIES_PER_SESSION`]. An empty slice writes nothing.
    async fn record_deliveries(
        &self,
        session: &SessionName,
        records: &[DeliveryRecord],
    ) -> StoreResult<()>;

    /// `session`'s outcomes, newest first: `offset` skipped, at most `limit`.
    async fn recent_deliveries(
        &self,
        session: &SessionName,
        limit: u32,
        offset: u32,
    ) -> StoreResult<Vec<DeliveryRecord>>;
}

/// `url` without what may be secret: user info (`user:pass@`) is dropped, every
/// query value becomes `***` (names stay: they tell receivers apart), and the
/// fragment is dropped. Scheme, host, port and path are kept as given. Input is an
/// absolute `http(s)://` URL (what webhook configs accept); anything without `://`
/// is returned without its query and fragment.
pub fn redact_url(url: &str) -> String {
    let url = url.split('#').next().unwrap_or_default();
    let (before_query, query) = match url.split_once('?') {
        Some((b, q)) => (b, Some(q)),
        None => (url, None),
    };
    let mut out = match before_query.split_once("://") {
        Some((scheme, rest)) => {
            let (authority, path) = match rest.find('/') {
                Some(i) => rest.split_at(i),
                None => (rest, ""),
            };
            let host = authority.rsplit('@').next().unwrap_or_default();
            format!("{scheme}://{host}{path}")
        }
        None => before_query.to_owned(),
    };
    if let Some(query) = query {
        let names: Vec<String> = query
            .split('&')
            .filter(|p| !p.is_empty())
            .map(|p| match p.split_once('=') {
                Some((name, _)) => format!("{name}=***"),
                None => "***".to_owned(),
            })
            .collect();
        if !names.is_empty() {
            out.push('?');
            out.push_str(&names.join("&"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redaction_drops_user_info_query_values_and_fragments() {
        let cases = [
            ("http://127.0.0.1:9/hook", "http://127.0.0.1:9/hook"),
            (
                "https://user:pa%40ss@hooks.example.com/a/b?token=s3cret&x=1#frag",
                "https://hooks.example.com/a/b?token=***&x=***",
            ),
            ("https://u@h.test", "https://h.test"),
            ("https://h.test/p?justasecret", "https://h.test/p?***"),
            ("https://h.test/p?", "https://h.test/p"),
            // An `@` in the path is not user info.
            ("https://h.test/@me?k=v", "https://h.test/@me?k=***"),
            ("not a url?k=v", "not a url?k=***"),
        ];
        for (given, want) in cases {
            assert_eq!(redact_url(given), want, "{given}");
        }
    }

    #[test]
    fn failures_read_as_dead_letters_say_them() {
        assert_eq!(DeliveryFailure::Status(503).to_string(), "HTTP 503");
        assert_eq!(DeliveryFailure::Status(503).status(), Some(503));
        let t = DeliveryFailure::Transport("timed out".into());
        assert_eq!((t.to_string().as_str(), t.status()), ("timed out", None));
    }
}
