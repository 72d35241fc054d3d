//! The delivery rules with a fake clock, an in-memory outbox and a scripted receiver.

use std::collections::VecDeque;
use std::sync::Mutex;
use std::time::Duration;

use super::*;
use crate::service::fakes::FakeClock;

#[derive(Default)]
struct MemOutbox {
    pending: Mutex<Vec<OutboxEntry>>,
    dead: Mutex<Vec<DeadLetter>>,
    next_seq: Mutex<i64>,
}

#[async_trait]
impl Outbox for MemOutbox {
    async fn enqueue(
        &self,
        _: &SessionName,
        event: &str,
        payload: &Value,
        at: i64,
    ) -> StoreResult<String> {
        let mut seq = self.next_seq.lock().unwrap();
        *seq += 1;
        let id = format!("evt_{seq}");
        self.pending.lock().unwrap().push(OutboxEntry {
            seq: *seq,
            id: id.clone(),
            event: event.into(),
            payload: payload.clone(),
            created_ms: at,
            attempts: 0,
            next_at_ms: 0,
        });
        Ok(id)
    }
    async fn next_pending(&self, _: &SessionName) -> StoreResult<Option<OutboxEntry>> {
        Ok(self.pending.lock().unwrap().first().cloned())
    }
    async fn delivered(&self, seq: i64) -> StoreResult<()> {
        self.pending.lock().unwrap().retain(|e| e.seq != seq);
        Ok(())
    }
    async fn failed(&self, seq: i64, attempts: u32, next: i64, _: &str) -> StoreResult<()> {
        for e in self
            .pending
            .lock()
            .unwrap()
            .iter_mut()
            .filter(|e| e.seq == seq)
        {
            e.attempts = attempts;
            e.next_at_ms = next;
        }
        Ok(())
    }
    async fn dead_letter(&self, seq: i64, attempts: u32, error: &str, at: i64) -> StoreResult<()> {
        let mut p = self.pending.lock().unwrap();
        let i = p.iter().position(|e| e.seq == seq).unwrap();
        let e = p.remove(i);
        self.dead.lock().unwrap().push(DeadLetter {
            id: e.id,
            event: e.event,
            payload: e.payload,
            created_ms: e.created_ms,
            attempts,
            last_error: error.into(),
            failed_ms: at,
        });
        Ok(())
    }
    async fn dead_letters(&self, _: &SessionName, _: u32) -> StoreResult<Vec<DeadLetter>> {
        Ok(self.dead.lock().unwrap().clone())
    }
    async fn retry_dead_letter(&self, _: &SessionName, _: &str) -> StoreResult<bool> {
        Ok(false)
    }
    async fn sessions_with_pending(&self) -> StoreResult<Vec<SessionName>> {
        Ok(Vec::new())
    }
    async fn depth(&self) -> StoreResult<OutboxDepth> {
        Ok(OutboxDepth::default())
    }
}

/// Answers from a script (true = 2xx), then 2xx; records what it got.
#[derive(Default)]
struct Receiver {
    script: Mutex<VecDeque<bool>>,
    got: Mutex<Vec<(String, i64)>>,
    clock: Arc<FakeClock>,
}

#[async_trait]
impl WebhookTransport for Receiver {
    async fn post(&self, _: &WebhookTarget, _: &SessionName, e: &OutboxEntry) -> DeliveryResult {
        self.got
            .lock()
            .unwrap()
            .push((e.id.clone(), self.clock.now_ms()));
        if self.script.lock().unwrap().pop_front().unwrap_or(true) {
            Ok(204)
        } else {
            Err(DeliveryFailure::Status(503))
        }
    }
}

/// The delivery log in memory, oldest first.
#[derive(Default)]
struct MemLog(Mutex<Vec<DeliveryRecord>>);

#[async_trait]
impl DeliveryLog for MemLog {
    async fn record_deliveries(&self, _: &SessionName, r: &[DeliveryRecord]) -> StoreResult<()> {
        self.0.lock().unwrap().extend_from_slice(r);
        Ok(())
    }
    async fn recent_deliveries(
        &self,
        _: &SessionName,
        _: u32,
        _: u32,
    ) -> StoreResult<Vec<DeliveryRecord>> {
        Ok(self.0.lock().unwrap().iter().rev().cloned().collect())
    }
}

struct Targets(Vec<WebhookTarget>);

#[async_trait]
impl WebhookTargets for Targets {
    async fn targets(&self, _: &SessionName) -> StoreResult<Vec<WebhookTarget>> {
        Ok(self.0.clone())
    }
}

fn target(events: &[&str], retry: RetryPolicy) -> WebhookTarget {
    WebhookTarget {
        url: "http://example.test/".into(),
        events: events.iter().map(|s| s.to_string()).collect(),
        hmac_key: None,
        retry,
        headers: Vec::new(),
    }
}

struct Fixture {
    outbox: Arc<MemOutbox>,
    log: Arc<MemLog>,
    receiver: Arc<Receiver>,
    clock: Arc<FakeClock>,
    deliverer: Deliverer,
    session: SessionName,
}

fn fixture(targets: Vec<WebhookTarget>, script: &[bool]) -> Fixture {
    let clock = Arc::new(FakeClock::default());
    clock.advance(Duration::from_secs(1_000));
    let outbox = Arc::new(MemOutbox::default());
    let log = Arc::new(MemLog::default());
    let receiver = Arc::new(Receiver {
        script: Mutex::new(script.iter().copied().collect()),
        clock: clock.clone(),
        ..Default::default()
    });
    let deliverer = Deliverer {
        outbox: outbox.clone(),
        log: log.clone(),
        transport: receiver.clone(),
        targets: Arc::new(Targets(targets)),
        clock: clock.clone(),
    };
    Fixture {
        outbox,
        log,
        receiver,
        clock,
        deliverer,
        session: SessionName::default_name(),
    }
}

const EXP: RetryPolicy = RetryPolicy {
    delay_ms: 1_000,
    attempts: 4,
    kind: RetryKind::Exponential,
};

#[test]
fn policies_grow_as_named() {
    let p = |kind| RetryPolicy {
        delay_ms: 100,
        attempts: 5,
        kind,
    };
    let waits = |kind| (1..=4).map(|a| p(kind).delay_after(a)).collect::<Vec<_>>();
    assert_eq!(waits(RetryKind::Constant), [100, 100, 100, 100]);
    assert_eq!(waits(RetryKind::Linear), [100, 200, 300, 400]);
    assert_eq!(waits(RetryKind::Exponential), [100, 200, 400, 800]);
    assert_eq!(
        p(RetryKind::Exponential).delay_after(200),
        MAX_RETRY_DELAY_MS
    );
    assert_eq!(RetryKind::parse("linear"), Some(RetryKind::Linear));
    assert_eq!(RetryKind::parse("fibonacci"), None);
}

#[test]
fn unknown_event_names_are_found() {
    let names = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
    assert_eq!(unknown_event(&names(&["*", "contact.update"])), None);
    assert_eq!(
        unknown_event(&names(&["session.status", "message"])),
        Some("message")
    );
}

#[tokio::test]
async fn backs_off_exponentially_keeps_order_and_the_id() {
    let f = fixture(vec![target(&["*"], EXP)], &[false, false, true]);
    f.outbox
        .enqueue(&f.session, "contact.update", &json!({"n": 1}), 0)
        .await
        .unwrap();
    f.outbox
        .enqueue(&f.session, "contact.update", &json!({"n": 2}), 0)
        .await
        .unwrap();
    let t0 = f.clock.now_ms();
    // First attempt fails: the next is due a second later, and event 2 waits.
    assert_eq!(
        f.deliverer.run_due(&f.session).await.unwrap(),
        Some(t0 + 1_000)
    );
    assert_eq!(
        f.deliverer.run_due(&f.session).await.unwrap(),
        Some(t0 + 1_000),
        "not due yet"
    );
    f.clock.advance(Duration::from_millis(1_000));
    // Second fails: twice the wait.
    assert_eq!(
        f.deliverer.run_due(&f.session).await.unwrap(),
        Some(t0 + 3_000)
    );
    f.clock.advance(Duration::from_millis(2_000));
    // Third succeeds, then event 2 goes at once.
    assert_eq!(f.deliverer.run_due(&f.session).await.unwrap(), None);
    let got = f.receiver.got.lock().unwrap().clone();
    let ids: Vec<&str> = got.iter().map(|(id, _)| id.as_str()).collect();
    assert_eq!(
        ids,
        ["evt_1", "evt_1", "evt_1", "evt_2"],
        "same id on every repeat, in order"
    );
    assert_eq!(got[1].1, t0 + 1_000);
    assert_eq!(got[2].1, t0 + 3_000);
}

#[tokio::test]
async fn dead_letters_after_the_last_attempt_and_moves_on() {
    let f = fixture(vec![target(&["*"], EXP)], &[false, false, false, false]);
    f.outbox
        .enqueue(&f.session, "lid.mapping", &json!({}), 0)
        .await
        .unwrap();
    f.outbox
        .enqueue(&f.session, "lid.mapping", &json!({}), 0)
        .await
        .unwrap();
    let mut next = f.deliverer.run_due(&f.session).await.unwrap();
    let mut rounds = 1;
    while f.outbox.dead.lock().unwrap().is_empty() {
        let due = next.expect("still pending");
        f.clock
            .advance(Duration::from_millis((due - f.clock.now_ms()) as u64));
        next = f.deliverer.run_due(&f.session).await.unwrap();
        rounds += 1;
    }
    assert_eq!(rounds, 4, "four attempts in all");
    let dead = f.outbox.dead.lock().unwrap().clone();
    assert_eq!(dead.len(), 1);
    assert_eq!((dead[0].id.as_str(), dead[0].attempts), ("evt_1", 4));
    assert_eq!(dead[0].last_error, "HTTP 503");
    assert_eq!(next, None, "event 2 went right after the dead letter");
    assert_eq!(f.receiver.got.lock().unwrap().last().unwrap().0, "evt_2");
}

#[tokio::test]
async fn events_nobody_wants_are_dropped_from_the_queue_unsent() {
    let f = fixture(vec![target(&["session.status"], EXP)], &[]);
    f.outbox
        .enqueue(&f.session, "contact.update", &json!({}), 0)
        .await
        .unwrap();
    f.outbox
        .enqueue(&f.session, "session.status", &json!({}), 0)
        .await
        .unwrap();
    assert_eq!(f.deliverer.run_due(&f.session).await.unwrap(), None);
    let got = f.receiver.got.lock().unwrap().clone();
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].0, "evt_2");
}

#[tokio::test]
async fn every_post_is_logged_with_its_outcome_and_a_redacted_url() {
    let secret = WebhookTarget {
        url: "https://bob:pw@hooks.example.test/in?token=s3cret".into(),
        ..target(&["*"], EXP)
    };
    let f = fixture(vec![secret], &[false, true]);
    f.outbox
        .enqueue(&f.session, "contact.update", &json!({}), 0)
        .await
        .unwrap();
    let due = f.deliverer.run_due(&f.session).await.unwrap().unwrap();
    f.clock
        .advance(Duration::from_millis((due - f.clock.now_ms()) as u64));
    assert_eq!(f.deliverer.run_due(&f.session).await.unwrap(), None);
    let log = f.log.0.lock().unwrap().clone();
    let seen: Vec<_> = log
        .iter()
        .map(|r| (r.delivered, r.status, r.error.as_deref(), r.attempts))
        .collect();
    assert_eq!(
        seen,
        [
            (false, Some(503), Some("HTTP 503"), 1),
            (true, Some(204), None, 2)
        ]
    );
    assert!(log.iter().all(|r| r.event_id == "evt_1"
        && r.event == "contact.update"
        && r.url == "https://hooks.example.test/in?token=***"));
    assert_eq!(log[1].at_ms, due, "stamped when the attempt ended");
}
