//! Webhooks: the event names a session can subscribe to, the payload of each
//! contact fact, retry policies, the durable [`Outbox`] port, and the
//! [`Deliverer`] that drains one session's outbox in order through a
//! [`WebhookTransport`] (HTTP lives in the server; time comes from a [`Clock`]).
//!
//! Guarantees: an event enters the outbox in the same store transaction as the fact
//! that caused it; its `id` is fixed at enqueue, so every repeat carries the same
//! `id` (at least once); one session's events leave in enqueue order (an event in
//! backoff holds back the ones after it); an event that runs out of attempts is
//! set aside as a dead letter (listable, retryable) and the next one goes.

use std::sync::Arc;

use async_trait::async_trait;
use serde_json::{Value, json};

use crate::contact::NumberChange;
use crate::ids::{ContactRef, Lid, PhoneNumber};
use crate::ports::{Clock, StoreResult};
use crate::session::SessionName;

pub mod deliveries;

pub use deliveries::{
    DeliveryFailure, DeliveryLog, DeliveryRecord, MAX_DELIVERIES_PER_SESSION, redact_url,
};

/// Every event name a webhook may list (`*` subscribes to all of them).
pub const EVENTS: &[&str] = &[
    SESSION_STATUS,
    CONTACT_UPSERT,
    CONTACT_UPDATE,
    CONTACT_IDENTITY_CHANGED,
    CONTACT_NUMBER_CHANGED,
    LID_MAPPING,
    BLOCKLIST_UPDATE,
    CONTACTS_CHECK,
];
/// The session's status changed (WAHA's `{name, status}` payload).
pub const SESSION_STATUS: &str = "session.status";
/// An address-book entry was added or changed on the phone.
pub const CONTACT_UPSERT: &str = "contact.upsert";
/// A push name, about text, picture or business fact changed.
pub const CONTACT_UPDATE: &str = "contact.update";
/// A contact's identity key (security code) changed.
pub const CONTACT_IDENTITY_CHANGED: &str = "contact.identity_changed";
/// A contact moved to a new phone number (same LID).
pub const CONTACT_NUMBER_CHANGED: &str = "contact.number_changed";
/// A LID and a phone number were learned to be one account.
pub const LID_MAPPING: &str = "lid.mapping";
/// The account's blocklist changed.
pub const BLOCKLIST_UPDATE: &str = "blocklist.update";
/// Results of asynchronous number checks.
pub const CONTACTS_CHECK: &str = "contacts.check";

/// The first name in `events` that is neither a known event nor `*`.
pub fn unknown_event(events: &[String]) -> Option<&str> {
    events
        .iter()
        .map(String::as_str)
        .find(|e| *e != "*" && !EVENTS.contains(e))
}

/// WAHA's chat id of a person: `15551234567@c.us` or `123456789012345@lid`.
pub fn chat_id(who: &ContactRef) -> String {
    match who {
        ContactRef::Phone(p) => phone_id(p),
        ContactRef::Lid(l) => lid_id(l),
    }
}

fn phone_id(p: &PhoneNumber) -> String {
    format!("{}@c.us", p.wa_id())
}

fn lid_id(l: &Lid) -> String {
    format!("{}@lid", l.user())
}

/// Payloads of each event, built from the fact that caused it.
pub mod payload {
    use super::*;

    /// `contact.update`: `{id, <field>: value}` with only the field that changed
    /// (`pushname`, `about`, `pictureId`, `isBusiness` + `verifiedName`).
    pub fn contact_update(who: &ContactRef, fields: Value) -> Value {
        let mut out = json!({ "id": chat_id(who) });
        if let (Some(o), Value::Object(f)) = (out.as_object_mut(), fields) {
            o.extend(f);
        }
        out
    }

    /// `contact.upsert`: the address-book entry as WAHA names its fields.
    pub fn contact_upsert(
        who: &ContactRef,
        lid: Option<&Lid>,
        name: Option<&str>,
        first_name: Option<&str>,
    ) -> Value {
        json!({
            "id": chat_id(who),
            "lid": lid.map(lid_id),
            "name": name,
            "shortName": first_name,
        })
    }

    /// `contact.identity_changed`: On-Prem's identity object plus who it is.
    pub fn identity_changed(who: &ContactRef, hash: Option<&str>, at_ms: i64) -> Value {
        json!({
            "id": chat_id(who),
            "hash": hash,
            "created_timestamp": at_ms,
            "acknowledged": false,
        })
    }

    /// `contact.number_changed`: `{id (new), previousId, lid, timestamp}`.
    pub fn number_changed(change: &NumberChange) -> Value {
        json!({
            "id": phone_id(&change.new_phone),
            "previousId": phone_id(&change.old_phone),
            "lid": change.lid.as_ref().map(lid_id),
            "timestamp": change.at_ms,
        })
    }

    /// `lid.mapping`: WAHA's `{lid, pn}` pair.
    pub fn lid_mapping(lid: &Lid, phone: &PhoneNumber) -> Value {
        json!({ "lid": lid_id(lid), "pn": phone_id(phone) })
    }

    /// `blocklist.update`: one change `{id, blocked}` or the full list `{ids}`.
    pub fn blocklist_changed(who: &ContactRef, blocked: bool) -> Value {
        json!({ "id": chat_id(who), "blocked": blocked })
    }

    /// `blocklist.update` after a full sync: every blocked id.
    pub fn blocklist_full(ids: &[ContactRef]) -> Value {
        json!({ "ids": ids.iter().map(chat_id).collect::<Vec<_>>() })
    }
}

/// How the wait between attempts grows (WAHA's `retries.policy`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RetryKind {
    /// `delay` every time.
    Constant,
    /// `delay × attempt`.
    Linear,
    /// `delay × 2^(attempt-1)`.
    Exponential,
}

impl RetryKind {
    /// WAHA's spelling: `constant`, `linear`, `exponential`; `None` otherwise.
    pub fn parse(s: &str) -> Option<RetryKind> {
        match s {
            "constant" => Some(RetryKind::Constant),
            "linear" => Some(RetryKind::Linear),
            "exponential" => Some(RetryKind::Exponential),
            _ => None,
        }
    }
}

/// How often and how patiently one webhook is retried.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    /// The base wait, in milliseconds.
    pub delay_ms: u64,
    /// Attempts in all (the first one included) before a dead letter; at least 1.
    pub attempts: u32,
    pub kind: RetryKind,
}

/// Longest wait between two attempts, whatever the policy says.
pub const MAX_RETRY_DELAY_MS: u64 = 3_600_000;
/// Most attempts a webhook may ask for.
pub const MAX_ATTEMPTS: u32 = 100;

impl Default for RetryPolicy {
    /// WAHA's defaults: 2 s, 15 attempts; exponential (WAHA's is constant; ours
    /// backs off, as the issue asks).
    fn default() -> Self {
        RetryPolicy {
            delay_ms: 2_000,
            attempts: 15,
            kind: RetryKind::Exponential,
        }
    }
}

impl RetryPolicy {
    /// The wait after failed attempt number `attempt` (1-based), capped at
    /// [`MAX_RETRY_DELAY_MS`].
    pub fn delay_after(&self, attempt: u32) -> u64 {
        let n = attempt.max(1) as u64;
        let d = match self.kind {
            RetryKind::Constant => self.delay_ms,
            RetryKind::Linear => self.delay_ms.saturating_mul(n),
            RetryKind::Exponential => self
                .delay_ms
                .saturating_mul(1u64.checked_shl((n - 1).min(40) as u32).unwrap_or(u64::MAX)),
        };
        d.min(MAX_RETRY_DELAY_MS)
    }
}

/// One receiver of a session's events.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WebhookTarget {
    /// Absolute http(s) URL.
    pub url: String,
    /// Event names, or `*` for all.
    pub events: Vec<String>,
    /// Signs the body with HMAC-SHA512 under this key when set.
    pub hmac_key: Option<String>,
    pub retry: RetryPolicy,
    /// Extra headers, `(name, value)`.
    pub headers: Vec<(String, String)>,
}

impl WebhookTarget {
    /// Whether this target subscribed to `event`.
    pub fn wants(&self, event: &str) -> bool {
        self.events.iter().any(|e| e == "*" || e == event)
    }
}

/// An event waiting in the outbox.
#[derive(Debug, Clone, PartialEq)]
pub struct OutboxEntry {
    /// Position in the session's queue (the store's order).
    pub seq: i64,
    /// The event id (`evt_…`), fixed at enqueue: repeats carry the same one.
    pub id: String,
    pub event: String,
    pub payload: Value,
    /// Unix ms when the fact was stored (the envelope's `timestamp`).
    pub created_ms: i64,
    /// Attempts made so far.
    pub attempts: u32,
    /// Unix ms before which it must not be tried again.
    pub next_at_ms: i64,
}

/// An event that ran out of attempts.
#[derive(Debug, Clone, PartialEq)]
pub struct DeadLetter {
    pub id: String,
    pub event: String,
    pub payload: Value,
    pub created_ms: i64,
    pub attempts: u32,
    /// What the receiver said last (status code or transport error), no secrets.
    pub last_error: String,
    /// Unix ms when it was set aside.
    pub failed_ms: i64,
}

/// Outbox depth: events waiting and dead letters, over every session.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct OutboxDepth {
    pub pending: u64,
    pub dead: u64,
}

/// Most events waiting per session. Past it, the oldest waiting events become dead
/// letters (still listed and retryable), so nothing is dropped silently.
pub const MAX_PENDING_PER_SESSION: u64 = 100_000;
/// Most dead letters kept per session; the oldest are pruned beyond it.
pub const MAX_DEAD_PER_SESSION: u64 = 10_000;

/// The durable outbox of webhook events, per session, in the store.
#[async_trait]
pub trait Outbox: Send + Sync {
    /// Appends an event that no stored fact carries (session status, check
    /// results); returns its id. Facts enqueue theirs in their own transaction.
    async fn enqueue(
        &self,
        session: &SessionName,
        event: &str,
        payload: &Value,
        at_ms: i64,
    ) -> StoreResult<String>;

    /// The oldest waiting (not dead) event of `session`, if any.
    async fn next_pending(&self, session: &SessionName) -> StoreResult<Option<OutboxEntry>>;

    /// Removes a delivered event.
    async fn delivered(&self, seq: i64) -> StoreResult<()>;

    /// Records a failed attempt: `attempts` so far, not before `next_at_ms`.
    async fn failed(
        &self,
        seq: i64,
        attempts: u32,
        next_at_ms: i64,
        error: &str,
    ) -> StoreResult<()>;

    /// Sets an event aside as a dead letter (pruning the oldest past the cap).
    async fn dead_letter(
        &self,
        seq: i64,
        attempts: u32,
        error: &str,
        at_ms: i64,
    ) -> StoreResult<()>;

    /// A session's dead letters, newest first, at most `limit`.
    async fn dead_letters(&self, session: &SessionName, limit: u32)
    -> StoreResult<Vec<DeadLetter>>;

    /// Queues dead letter `id` again at the end of the session's queue, same id,
    /// attempts reset; `false` when there is no such dead letter.
    async fn retry_dead_letter(&self, session: &SessionName, id: &str) -> StoreResult<bool>;

    /// Sessions with waiting events (to resume delivery after a restart).
    async fn sessions_with_pending(&self) -> StoreResult<Vec<SessionName>>;

    /// Waiting events and dead letters over every session.
    async fn depth(&self) -> StoreResult<OutboxDepth>;
}

/// A new event id: `evt_` then 26 lowercase hex/base32-ish characters from time
/// and randomness `rand` (the caller's entropy; ids only need to be unique).
pub fn new_event_id(at_ms: i64, rand: u64) -> String {
    format!(
        "evt_{:012x}{:016x}",
        at_ms.max(0) as u64 & 0xffff_ffff_ffff,
        rand
    )
}

/// What one POST did: the receiver's 2xx status, or why it failed.
pub type DeliveryResult = Result<u16, DeliveryFailure>;

/// Sends one event to one target (HTTP in the server).
#[async_trait]
pub trait WebhookTransport: Send + Sync {
    /// POSTs `entry` of `session` to `target`; `Ok` carries the 2xx status, `Err`
    /// the non-2xx status or the transport error class (for logs, the delivery log
    /// and the dead letter).
    async fn post(
        &self,
        target: &WebhookTarget,
        session: &SessionName,
        entry: &OutboxEntry,
    ) -> DeliveryResult;
}

/// Where a session's receivers come from (its config plus the global default).
#[async_trait]
pub trait WebhookTargets: Send + Sync {
    /// The receivers of `session` now (empty when it has none).
    async fn targets(&self, session: &SessionName) -> StoreResult<Vec<WebhookTarget>>;
}

/// Drains one session's outbox: call [`Deliverer::run_due`] whenever something
/// may be due; it returns when the next attempt is due. Every POST's outcome goes
/// to `log` once the outbox recorded it.
pub struct Deliverer {
    pub outbox: Arc<dyn Outbox>,
    pub log: Arc<dyn DeliveryLog>,
    pub transport: Arc<dyn WebhookTransport>,
    pub targets: Arc<dyn WebhookTargets>,
    pub clock: Arc<dyn Clock>,
}

/// Most events one [`Deliverer::run_due`] call sends before returning, so that a
/// busy session yields now and then.
const BATCH: usize = 256;

impl Deliverer {
    /// Delivers the due events of `session` in order. Returns `Some(ms)` when the
    /// next waiting event is due at Unix `ms` (possibly now), `None` when nothing
    /// waits. An event no target wants is removed; an event some target refused
    /// is retried for every target that wants it (at least once, same id) after
    /// the strictest policy among the failing targets, and set aside as a dead
    /// letter once one of them ran out of attempts.
    pub async fn run_due(&self, session: &SessionName) -> StoreResult<Option<i64>> {
        for _ in 0..BATCH {
            let Some(entry) = self.outbox.next_pending(session).await? else {
                return Ok(None);
            };
            let now = self.clock.now_ms();
            if entry.next_at_ms > now {
                return Ok(Some(entry.next_at_ms));
            }
            // Read per event: a config changed mid-batch applies to the next event.
            let targets = self.targets.targets(session).await?;
            let wanted: Vec<&WebhookTarget> =
                targets.iter().filter(|t| t.wants(&entry.event)).collect();
            let attempts = entry.attempts + 1;
            let mut failure: Option<(String, RetryPolicy)> = None;
            let mut outcomes = Vec::with_capacity(wanted.len());
            for target in wanted {
                let result = self.transport.post(target, session, &entry).await;
                outcomes.push(self.record(&entry, target, attempts, &result));
                if let Err(e) = result {
                    tracing::warn!(session = %session, event = %entry.event, id = %entry.id, error = %e, "webhook delivery failed");
                    let stricter = failure
                        .as_ref()
                        .is_none_or(|(_, p)| target.retry.attempts < p.attempts);
                    if stricter {
                        failure = Some((e.to_string(), target.retry));
                    }
                }
            }
            let Some((error, policy)) = failure else {
                self.outbox.delivered(entry.seq).await?;
                self.log_outcomes(session, &outcomes).await;
                continue;
            };
            let now = self.clock.now_ms();
            if attempts >= policy.attempts {
                tracing::warn!(session = %session, id = %entry.id, attempts, "webhook event dead-lettered");
                self.outbox
                    .dead_letter(entry.seq, attempts, &error, now)
                    .await?;
                self.log_outcomes(session, &outcomes).await;
                continue;
            }
            let next = now.saturating_add(policy.delay_after(attempts) as i64);
            self.outbox
                .failed(entry.seq, attempts, next, &error)
                .await?;
            self.log_outcomes(session, &outcomes).await;
            return Ok(Some(next));
        }
        Ok(Some(self.clock.now_ms()))
    }

    /// The log line of one POST, stamped now.
    fn record(
        &self,
        entry: &OutboxEntry,
        target: &WebhookTarget,
        attempts: u32,
        result: &DeliveryResult,
    ) -> DeliveryRecord {
        DeliveryRecord {
            event_id: entry.id.clone(),
            event: entry.event.clone(),
            url: redact_url(&target.url),
            delivered: result.is_ok(),
            status: match result {
                Ok(status) => Some(*status),
                Err(e) => e.status(),
            },
            error: result.as_ref().err().map(ToString::to_string),
            attempts,
            at_ms: self.clock.now_ms(),
        }
    }

    /// Writes outcomes after the outbox recorded them: a failed log write loses
    /// only log lines (said loudly), never an event or its order.
    async fn log_outcomes(&self, session: &SessionName, outcomes: &[DeliveryRecord]) {
        if let Err(e) = self.log.record_deliveries(session, outcomes).await {
            tracing::error!(session = %session, error = %format!("{:#}", e.0), "failed to log webhook deliveries");
        }
    }
}

#[cfg(test)]
mod tests;
